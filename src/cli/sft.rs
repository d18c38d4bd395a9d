//! `steptool sft`: supervised fine-tuning from a JSON [`SftSpec`] plus flag overrides (no spec
//! and no model: the embedded demo, a small LLaMA fully fine-tuned from scratch on the
//! synthetic expert's demonstrations, [`SftSpec::embedded_default`]).

use std::path::PathBuf;
use std::process::ExitCode;

use steptool_ppo::online::PromptStyle;
use steptool_ppo::sft::{run_sft, SftData, SftSpec};

use super::run_args::RunArgs;

/// Arguments of `steptool sft`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// A JSON SftSpec (see docs/baselines.md); flags given as well override it.
    #[arg(long)]
    config: Option<PathBuf>,
    #[command(flatten)]
    run: RunArgs,
    /// HF model directory (default: the embedded tiny LLaMA).
    #[arg(long)]
    model_dir: Option<PathBuf>,
    /// Rollout records JSONL to learn from (solved ones are kept).
    #[arg(long, conflicts_with_all = ["synthetic_tasks", "reference"])]
    records: Option<PathBuf>,
    /// The reference's SFT/RFT conversation file (`gpt4_dfs_G123_for_sft_example.json`): the
    /// per-step instances folded into whole conversations, the reference's targets trained.
    #[arg(long, conflicts_with = "synthetic_tasks")]
    reference: Option<PathBuf>,
    /// Chat format the conversations are rendered in: toolllama, qwen2 or llama3.
    #[arg(long)]
    chat_format: Option<steptool::mdp::ChatFormat>,
    /// Learn from the synthetic expert's demonstrations of this many train tasks.
    #[arg(long)]
    synthetic_tasks: Option<usize>,
    /// Passes over the data.
    #[arg(long)]
    epochs: Option<u64>,
    /// Peak learning rate.
    #[arg(long)]
    learning_rate: Option<f64>,
    /// Conversations per optimizer step.
    #[arg(long)]
    batch_size: Option<usize>,
    /// System prompt style: reference (the AutoGPT prompt with str(functions)) or compact.
    #[arg(long, value_parser = ["reference", "compact"])]
    prompt_style: Option<String>,
    /// Held-out synthetic test tasks for the pass-rate evaluation.
    #[arg(long)]
    eval_tasks: Option<usize>,
}

/// Run `steptool sft`.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let mut spec = match (&args.config, &args.model_dir) {
        (Some(p), _) => SftSpec::from_json_file(p)?,
        (None, None) => SftSpec::embedded_default(),
        (None, Some(_)) => SftSpec::default(),
    };
    if let Some(v) = &args.model_dir {
        spec.model_dir = Some(v.clone());
    }
    if let Some(p) = &args.records {
        spec.data = SftData::Records { path: p.clone() };
    }
    if let Some(p) = &args.reference {
        spec.data = SftData::Reference { path: p.clone() };
    }
    if let Some(v) = args.chat_format {
        spec.env.chat_format = v;
    }
    if let Some(n) = args.synthetic_tasks {
        spec.data = SftData::Synthetic { tasks: n };
    }
    if let Some(v) = args.epochs {
        spec.sft.epochs = v;
    }
    if let Some(v) = args.learning_rate {
        spec.sft.learning_rate = v;
    }
    if let Some(v) = args.batch_size {
        spec.sft.batch_size = v;
        spec.sft.micro_batch_size = spec.sft.micro_batch_size.min(v);
        if v % spec.sft.micro_batch_size != 0 {
            spec.sft.micro_batch_size = 1;
        }
    }
    if let Some(s) = &args.prompt_style {
        spec.env.prompt_style = if s == "compact" {
            PromptStyle::Compact
        } else {
            PromptStyle::Reference
        };
    }
    if let Some(n) = args.eval_tasks {
        spec.env.eval_tasks = n;
    }
    args.run.apply(&mut spec)?;
    print!("{}", run_sft(spec)?);
    Ok(ExitCode::SUCCESS)
}
