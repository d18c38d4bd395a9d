//! `steptool train`: offline StepTool PPO from a JSON [`TrainSpec`] (the same code path as
//! `examples/train_toolllama.rs`).

use std::path::PathBuf;
use std::process::ExitCode;

use steptool_ppo::app::{run_training, TrainSpec};

/// Arguments of `steptool train`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// A JSON TrainSpec (model_dir, data, ppo, lora, encoder, steps, …; see docs/ppo.md).
    /// Without it, the embedded CPU demo runs.
    #[arg(long)]
    config: Option<PathBuf>,
    /// Continue from the run's newest checkpoint.
    #[arg(long)]
    resume: bool,
}

/// Run `steptool train`.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let mut spec = match &args.config {
        Some(p) => TrainSpec::from_json_file(p)?,
        None => TrainSpec::embedded_default(),
    };
    if args.resume {
        spec.resume = true;
    }
    let s = run_training(spec)?;
    println!("{}", serde_json::to_string_pretty(&s)?);
    Ok(ExitCode::SUCCESS)
}
