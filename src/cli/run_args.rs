//! Flags every training command shares (`train`, and the sibling trainers): where the run goes,
//! resume/overwrite, device, precision, threads, progress. Each command flattens [`RunArgs`]
//! into its own flags and applies it to its spec in one place.

use std::path::PathBuf;

use steptool::model::Precision;
use steptool_ppo::common::run_fields::RunFields;

/// Output, resume and device flags of a training run.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct RunArgs {
    /// Output root (default: the spec's, `runs`).
    #[arg(long)]
    pub runs_dir: Option<PathBuf>,
    /// Run name: the directory under the output root.
    #[arg(long)]
    pub run_name: Option<String>,
    /// Continue the run from its newest checkpoint (an error when it has none).
    #[arg(long, conflicts_with = "overwrite")]
    pub resume: bool,
    /// Start the run again, removing an existing run of the same name.
    #[arg(long)]
    pub overwrite: bool,
    /// `cpu`, `cuda` or `cuda:N` (checked before anything loads).
    #[arg(long)]
    pub device: Option<String>,
    /// `f32`, or `bf16` (CUDA only).
    #[arg(long, value_parser = parse_precision)]
    pub precision: Option<Precision>,
    /// Intra-op CPU threads (0: libtorch's default).
    #[arg(long)]
    pub threads: Option<i32>,
    /// No progress output on stderr.
    #[arg(long)]
    pub no_progress: bool,
}

pub(crate) fn parse_precision(s: &str) -> Result<Precision, String> {
    s.parse().map_err(|e: steptool::model::Error| e.to_string())
}

impl RunArgs {
    /// Applies the flags that were given to `spec`, and validates device and precision up
    /// front so a bad value is one line, not a libtorch trace.
    pub fn apply(&self, spec: &mut impl RunFields) -> anyhow::Result<()> {
        if let Some(v) = &self.runs_dir {
            *spec.runs_dir() = v.clone();
        }
        if let Some(v) = &self.run_name {
            *spec.run_name() = v.clone();
        }
        if self.resume {
            *spec.resume() = true;
        }
        if self.overwrite {
            *spec.overwrite() = true;
        }
        if let Some(v) = &self.device {
            *spec.device() = v.clone();
        }
        if let Some(v) = self.precision {
            *spec.precision() = v;
        }
        if let Some(v) = self.threads {
            *spec.threads() = v;
        }
        if self.no_progress {
            *spec.progress() = false;
        }
        let precision = *spec.precision();
        steptool::model::load_options(spec.device(), precision)?;
        Ok(())
    }
}
