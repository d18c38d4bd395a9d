//! `steptool encode`: StepTool TSV -> token-level episodes as JSON lines.

use std::process::ExitCode;

/// Arguments of `steptool encode`.
#[derive(Debug, clap::Args)]
pub struct Args {}

/// Run `steptool encode`.
pub fn run(_args: Args) -> anyhow::Result<ExitCode> {
    anyhow::bail!("encode is being built")
}
