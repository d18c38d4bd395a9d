//! Flags every training command shares (`train`, and the sibling trainers): where the run goes,
//! resume/overwrite, device, precision, threads, progress. Each command flattens [`RunArgs`]
//! into its own flags and applies it to its spec in one place.

use std::path::PathBuf;

use steptool::model::Precision;

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

fn parse_precision(s: &str) -> Result<Precision, String> {
    s.parse().map_err(|e: steptool::model::Error| e.to_string())
}

/// The fields of a spec that [`RunArgs`] overrides; every trainer's spec implements it.
pub trait RunFields {
    /// Output root.
    fn runs_dir(&mut self) -> &mut PathBuf;
    /// Run name.
    fn run_name(&mut self) -> &mut String;
    /// Resume flag.
    fn resume(&mut self) -> &mut bool;
    /// Overwrite flag.
    fn overwrite(&mut self) -> &mut bool;
    /// Device string.
    fn device(&mut self) -> &mut String;
    /// Precision.
    fn precision(&mut self) -> &mut Precision;
    /// Threads.
    fn threads(&mut self) -> &mut i32;
    /// Progress flag.
    fn progress(&mut self) -> &mut bool;
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

/// Implements [`RunFields`] for a spec with the usual field names.
macro_rules! run_fields {
    ($t:ty) => {
        impl $crate::cli::run_args::RunFields for $t {
            fn runs_dir(&mut self) -> &mut std::path::PathBuf {
                &mut self.runs_dir
            }
            fn run_name(&mut self) -> &mut String {
                &mut self.run_name
            }
            fn resume(&mut self) -> &mut bool {
                &mut self.resume
            }
            fn overwrite(&mut self) -> &mut bool {
                &mut self.overwrite
            }
            fn device(&mut self) -> &mut String {
                &mut self.device
            }
            fn precision(&mut self) -> &mut steptool::model::Precision {
                &mut self.precision
            }
            fn threads(&mut self) -> &mut i32 {
                &mut self.threads
            }
            fn progress(&mut self) -> &mut bool {
                &mut self.progress
            }
        }
    };
}
pub(crate) use run_fields;
