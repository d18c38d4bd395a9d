//! `steptool dpo`: the ETO (DPO) baseline from a JSON [`DpoSpec`] plus flag overrides (no
//! spec: the embedded SFT demo's settings, [`DpoSpec::embedded_default`]).

use std::path::PathBuf;
use std::process::ExitCode;

use steptool_ppo::dpo::{run_dpo, DpoData, DpoSpec};
use steptool_ppo::online::PromptStyle;

use super::run_args::RunArgs;

/// Arguments of `steptool dpo`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// A JSON DpoSpec (see docs/baselines.md); flags given as well override it.
    #[arg(long)]
    config: Option<PathBuf>,
    #[command(flatten)]
    run: RunArgs,
    /// Start model: an HF model directory, e.g. `runs/embedded-sft/checkpoints/latest/model`
    /// (default: the embedded tiny LLaMA, random).
    #[arg(long)]
    model_dir: Option<PathBuf>,
    /// The reference's pair file (`prompt`, `chosen`, `rejected`) instead of exploration.
    #[arg(long, conflicts_with_all = ["samples", "temperature"])]
    pairs: Option<PathBuf>,
    /// Pair the start policy's rollouts in this JSONL (`steptool rollout --agent policy` on the
    /// synthetic train tasks) instead of exploring.
    #[arg(long, conflicts_with_all = ["pairs", "samples", "temperature"])]
    records: Option<PathBuf>,
    /// Exploration: samples per train task (K; default 3).
    #[arg(long)]
    samples: Option<usize>,
    /// Exploration: sampling temperature (default 0.7).
    #[arg(long)]
    temperature: Option<f64>,
    /// Synthetic train tasks explored.
    #[arg(long)]
    train_tasks: Option<usize>,
    /// β of the DPO loss (default 0.1).
    #[arg(long)]
    beta: Option<f64>,
    /// Passes over the pairs.
    #[arg(long)]
    epochs: Option<u64>,
    /// Peak learning rate.
    #[arg(long)]
    learning_rate: Option<f64>,
    /// Pairs per optimizer step.
    #[arg(long)]
    batch_size: Option<usize>,
    /// Pairs longer than this many tokens are skipped and counted.
    #[arg(long)]
    max_tokens: Option<usize>,
    /// System prompt style: reference (the AutoGPT prompt with str(functions)) or compact.
    #[arg(long, value_parser = ["reference", "compact"])]
    prompt_style: Option<String>,
    /// Held-out synthetic test tasks for the pass-rate evaluation.
    #[arg(long)]
    eval_tasks: Option<usize>,
}

/// Run `steptool dpo`.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let mut spec = match &args.config {
        Some(p) => DpoSpec::from_json_file(p)?,
        None => DpoSpec::embedded_default(),
    };
    if let Some(v) = &args.model_dir {
        spec.model_dir = Some(v.clone());
    }
    if let Some(p) = &args.pairs {
        spec.data = DpoData::Pairs { path: p.clone() };
    }
    if let Some(p) = &args.records {
        spec.data = DpoData::Records { path: p.clone() };
    }
    if args.samples.is_some() || args.temperature.is_some() {
        let (k, t) = match &spec.data {
            DpoData::Explore {
                samples,
                temperature,
            } => (*samples, *temperature),
            DpoData::Pairs { .. } | DpoData::Records { .. } => (3, 0.7),
        };
        spec.data = DpoData::Explore {
            samples: args.samples.unwrap_or(k),
            temperature: args.temperature.unwrap_or(t),
        };
    }
    if let Some(n) = args.train_tasks {
        spec.env.train_tasks = n;
    }
    if let Some(v) = args.beta {
        spec.dpo.beta = v;
    }
    if let Some(v) = args.epochs {
        spec.dpo.epochs = v;
    }
    if let Some(v) = args.learning_rate {
        spec.dpo.learning_rate = v;
    }
    if let Some(v) = args.batch_size {
        spec.dpo.batch_size = v;
        spec.dpo.micro_batch_size = spec.dpo.micro_batch_size.min(v);
        if v % spec.dpo.micro_batch_size != 0 {
            spec.dpo.micro_batch_size = 1;
        }
    }
    if let Some(v) = args.max_tokens {
        spec.dpo.max_tokens = Some(v);
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
    print!("{}", run_dpo(spec)?);
    Ok(ExitCode::SUCCESS)
}
