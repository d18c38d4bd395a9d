//! `steptool build-tsv`: converted predictions + step annotations -> the StepTool PPO training
//! TSV (formats.md §1.3 text, §2.5 rewards) on stdout — the converter the reference lacks.

use std::collections::HashMap;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use steptool::mdp::formats::tsv::to_tsv_string;
use steptool::mdp::ChatFormat;
use steptool::reward::{reference, RewardShaper, ShaperConfig};

/// Arguments of `steptool build-tsv`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Chat format of the training text: toolllama, qwen2 or llama3.
    #[arg(long)]
    chat_format: ChatFormat,
    /// Converted predictions (ToolEval answer format, formats.md §2.1).
    #[arg(long)]
    predictions: PathBuf,
    /// Step annotations (the reference's annotation JSON, formats.md §2.4).
    #[arg(long)]
    annotations: PathBuf,
    /// Weight of SuccCalling against Contribution (paper eq. 3).
    #[arg(long, default_value_t = ShaperConfig::default().alpha)]
    alpha: f64,
}

/// Run `steptool build-tsv`.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let shaper = RewardShaper::new(ShaperConfig {
        alpha: args.alpha,
        ..ShaperConfig::default()
    })?;
    let trajectories = reference::read_converted_predictions(&args.predictions)?;
    if trajectories.is_empty() {
        anyhow::bail!(
            "{}: no trajectories in the file: no training rows to build",
            args.predictions.display()
        );
    }
    let annotations: HashMap<String, _> = reference::read_annotations(&args.annotations)?
        .into_iter()
        .collect();
    let mut samples = Vec::new();
    let mut failures = 0;
    for trajectory in &trajectories {
        let qid = trajectory.query_id().unwrap_or("<no id>");
        let result = match annotations.get(qid) {
            Some(annotation) => {
                reference::training_sample(args.chat_format, trajectory, annotation, &shaper)
                    .map_err(anyhow::Error::from)
            }
            None => Err(anyhow::anyhow!(
                "no annotation in {}",
                args.annotations.display()
            )),
        };
        match result {
            Ok(sample) => samples.push(sample),
            Err(err) => {
                failures += 1;
                eprintln!("query {qid}: {err}");
            }
        }
    }
    std::io::stdout().write_all(to_tsv_string(&samples).as_bytes())?;
    if failures > 0 {
        eprintln!(
            "{failures} of {} queries were not written",
            trajectories.len()
        );
        return Ok(ExitCode::FAILURE);
    }
    Ok(ExitCode::SUCCESS)
}
