//! `steptool rft`: the RFT baseline from a JSON [`RftSpec`] plus flag overrides (no spec: the
//! embedded SFT demo's settings, [`RftSpec::embedded_default`]).

use std::path::PathBuf;
use std::process::ExitCode;

use steptool_ppo::online::PromptStyle;
use steptool_ppo::rft::{run_rft, RftSpec};
use steptool_ppo::sft::SftData;

use super::run_args::RunArgs;

/// Arguments of `steptool rft`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// A JSON RftSpec (see docs/baselines.md); flags given as well override it.
    #[arg(long)]
    config: Option<PathBuf>,
    #[command(flatten)]
    run: RunArgs,
    /// Start model (sampled from, then fine-tuned): an HF model directory, e.g.
    /// `runs/embedded-sft/checkpoints/latest/model` (default: the embedded tiny LLaMA).
    #[arg(long)]
    model_dir: Option<PathBuf>,
    /// Samples per train task (K; default 3).
    #[arg(long)]
    samples: Option<usize>,
    /// Sampling temperature (default 0.7).
    #[arg(long)]
    temperature: Option<f64>,
    /// Synthetic train tasks sampled.
    #[arg(long)]
    train_tasks: Option<usize>,
    /// Expert data: rollout records JSONL (solved ones are kept).
    #[arg(long, conflicts_with = "expert_tasks")]
    records: Option<PathBuf>,
    /// Expert data: the synthetic expert's demonstrations of this many train tasks.
    #[arg(long)]
    expert_tasks: Option<usize>,
    /// Passes over the union.
    #[arg(long)]
    epochs: Option<u64>,
    /// Peak learning rate.
    #[arg(long)]
    learning_rate: Option<f64>,
    /// System prompt style: reference (the AutoGPT prompt with str(functions)) or compact.
    #[arg(long, value_parser = ["reference", "compact"])]
    prompt_style: Option<String>,
    /// Held-out synthetic test tasks for the pass-rate evaluation.
    #[arg(long)]
    eval_tasks: Option<usize>,
}

/// Run `steptool rft`.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let mut spec = match &args.config {
        Some(p) => RftSpec::from_json_file(p)?,
        None => RftSpec::embedded_default(),
    };
    if let Some(v) = &args.model_dir {
        spec.sft.model_dir = Some(v.clone());
    }
    if let Some(v) = args.samples {
        spec.samples = v;
    }
    if let Some(v) = args.temperature {
        spec.temperature = v;
    }
    if let Some(n) = args.train_tasks {
        spec.sft.env.train_tasks = n;
    }
    if let Some(p) = &args.records {
        spec.sft.data = SftData::Records { path: p.clone() };
    }
    if let Some(n) = args.expert_tasks {
        spec.sft.data = SftData::Synthetic { tasks: n };
    }
    if let Some(v) = args.epochs {
        spec.sft.sft.epochs = v;
    }
    if let Some(v) = args.learning_rate {
        spec.sft.sft.learning_rate = v;
    }
    if let Some(s) = &args.prompt_style {
        spec.sft.env.prompt_style = if s == "compact" {
            PromptStyle::Compact
        } else {
            PromptStyle::Reference
        };
    }
    if let Some(n) = args.eval_tasks {
        spec.sft.env.eval_tasks = n;
    }
    args.run.apply(&mut spec)?;
    print!("{}", run_rft(spec)?);
    Ok(ExitCode::SUCCESS)
}
