//! The eight fields every trainer's spec has (where the run goes, resume/overwrite, device,
//! precision, threads, progress), behind one trait, so that the CLI's flags and the study's
//! sub-runs set them in one place instead of spelling them out per trainer.

use std::path::PathBuf;

use steptool_model::Precision;

use crate::app::TrainSpec;
use crate::dpo::DpoSpec;
use crate::rft::RftSpec;
use crate::sft::SftSpec;

/// The run fields of a spec, by value: what [`RunFields::set_run`] writes.
#[derive(Debug, Clone, PartialEq)]
pub struct RunSettings {
    /// Output root.
    pub runs_dir: PathBuf,
    /// Run name: the directory under the output root.
    pub run_name: String,
    /// Continue from the newest checkpoint.
    pub resume: bool,
    /// Start again, removing an existing run of the same name.
    pub overwrite: bool,
    /// `cpu`, `cuda` or `cuda:N`.
    pub device: String,
    /// Model precision.
    pub precision: Precision,
    /// Intra-op CPU threads (0: libtorch's default).
    pub threads: i32,
    /// Progress output on stderr.
    pub progress: bool,
}

/// The run fields of a trainer's spec, by reference. Every trainer's spec implements it.
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

    /// Sets all eight fields.
    fn set_run(&mut self, s: RunSettings) {
        *self.runs_dir() = s.runs_dir;
        *self.run_name() = s.run_name;
        *self.resume() = s.resume;
        *self.overwrite() = s.overwrite;
        *self.device() = s.device;
        *self.precision() = s.precision;
        *self.threads() = s.threads;
        *self.progress() = s.progress;
    }

    /// `self` with all eight fields set (for building a sub-run's spec in one expression).
    fn with_run(mut self, s: RunSettings) -> Self
    where
        Self: Sized,
    {
        self.set_run(s);
        self
    }
}

macro_rules! run_fields {
    ($t:ty $(, $via:ident)?) => {
        impl RunFields for $t {
            fn runs_dir(&mut self) -> &mut PathBuf {
                &mut self$(.$via)?.runs_dir
            }
            fn run_name(&mut self) -> &mut String {
                &mut self$(.$via)?.run_name
            }
            fn resume(&mut self) -> &mut bool {
                &mut self$(.$via)?.resume
            }
            fn overwrite(&mut self) -> &mut bool {
                &mut self$(.$via)?.overwrite
            }
            fn device(&mut self) -> &mut String {
                &mut self$(.$via)?.device
            }
            fn precision(&mut self) -> &mut Precision {
                &mut self$(.$via)?.precision
            }
            fn threads(&mut self) -> &mut i32 {
                &mut self$(.$via)?.threads
            }
            fn progress(&mut self) -> &mut bool {
                &mut self$(.$via)?.progress
            }
        }
    };
}

run_fields!(TrainSpec);
run_fields!(SftSpec);
run_fields!(DpoSpec);
// An RFT run is an SFT run on more data: its run fields are its SFT run's.
run_fields!(RftSpec, sft);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_run_writes_every_field_and_rft_writes_its_sft_run() {
        let s = RunSettings {
            runs_dir: "out".into(),
            run_name: "m".into(),
            resume: true,
            overwrite: false,
            device: "cuda:1".into(),
            precision: Precision::Bf16,
            threads: 3,
            progress: false,
        };
        let rft = RftSpec::embedded_default().with_run(s.clone());
        let sft = &rft.sft;
        assert_eq!(
            (
                &sft.runs_dir,
                &sft.run_name,
                sft.resume,
                sft.overwrite,
                &sft.device,
                sft.precision,
                sft.threads,
                sft.progress
            ),
            (
                &s.runs_dir,
                &s.run_name,
                true,
                false,
                &s.device,
                Precision::Bf16,
                3,
                false
            )
        );
        let train = TrainSpec::default().with_run(s.clone());
        assert_eq!((train.run_name.as_str(), train.threads), ("m", 3));
    }
}
