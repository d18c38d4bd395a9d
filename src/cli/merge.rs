//! `steptool merge`: a LoRA adapter folded into its base, written as a plain HF model directory
//! (PEFT's `merge_and_unload()` + `save_pretrained`).
//!
//! ```text
//! steptool merge --model BASE_DIR --adapter RUN|BUNDLE|PEFT_DIR --out DIR [--overwrite]
//! ```

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::bail;
use steptool::model::Precision;
use steptool_ppo::common::merge::merge_adapter;

use super::run_args::parse_precision;

/// Arguments of `steptool merge`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The base model directory the adapter was trained on.
    #[arg(long)]
    model: PathBuf,
    /// The adapter: a run directory, `checkpoints/latest`, a bundle, or a PEFT directory.
    #[arg(long)]
    adapter: PathBuf,
    /// Tokenizer to put next to the weights (default `<model>/tokenizer.json`).
    #[arg(long)]
    tokenizer: Option<PathBuf>,
    /// The merged model directory to write.
    #[arg(long)]
    out: PathBuf,
    /// Replace an existing `--out` (only once the new one is complete).
    #[arg(long)]
    overwrite: bool,
    /// Weight dtype of the merge and the written file: `f32`, or `bf16` (CUDA only).
    #[arg(long, value_parser = parse_precision, default_value = "f32")]
    precision: Precision,
    /// `cpu`, `cuda` or `cuda:N`.
    #[arg(long, default_value = "cpu")]
    device: String,
}

/// Run `steptool merge`.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    if args.out.exists() && !args.overwrite {
        bail!(
            "{} exists; pass --overwrite to replace it",
            args.out.display()
        );
    }
    let opts = steptool::model::load_options(&args.device, args.precision)?;
    let report = merge_adapter(
        &args.model,
        &args.adapter,
        args.tokenizer.as_deref(),
        &args.out,
        opts,
    )?;
    println!("{report}");
    Ok(ExitCode::SUCCESS)
}
