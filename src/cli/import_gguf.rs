//! `steptool import-gguf`: a llama.cpp GGUF file → a Hugging Face checkpoint directory.
//!
//! ```text
//! steptool import-gguf --gguf FILE.gguf --out DIR [--dtype f32|bf16]
//! ```
//!
//! Writes `config.json`, `generation_config.json`, `model.safetensors`, `tokenizer.json` and
//! `tokenizer_config.json` (with the chat template) into `DIR`, which must not exist; the
//! directory appears complete or not at all (see `steptool_model::gguf::import`).

use std::path::PathBuf;
use std::process::ExitCode;

use steptool::model::gguf::{import, ImportOptions, OutputDtype};

/// Arguments of `steptool import-gguf`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The GGUF file (llama architecture; F32/F16/BF16/Q8_0/Q4_0/Q4_1 tensors).
    #[arg(long)]
    gguf: PathBuf,
    /// The checkpoint directory to create (must not exist).
    #[arg(long)]
    out: PathBuf,
    /// Weight dtype written: `f32` (exact) or `bf16`.
    #[arg(long, default_value = "f32")]
    dtype: OutputDtype,
}

/// Run `steptool import-gguf`.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let report = import(&args.gguf, &args.out, &ImportOptions { dtype: args.dtype })?;
    println!("{report}");
    Ok(ExitCode::SUCCESS)
}
