//! The eight fields every trainer's spec has (where the run goes, resume/overwrite, device,
//! precision, threads, progress), behind one trait, so that the CLI's flags and the study's
//! sub-runs set them in one place instead of spelling them out per trainer.

use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;
use serde::Serialize;
use steptool_model::Precision;

use crate::error::{Error, Result};

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

    /// The eight fields, by value.
    fn run_settings(&mut self) -> RunSettings {
        RunSettings {
            runs_dir: self.runs_dir().clone(),
            run_name: self.run_name().clone(),
            resume: *self.resume(),
            overwrite: *self.overwrite(),
            device: self.device().clone(),
            precision: *self.precision(),
            threads: *self.threads(),
            progress: *self.progress(),
        }
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

/// On a resume: the spec the run was started with (`<out_dir>/spec.json`) must be `spec`, up to
/// the run fields, `stop_after`, PPO's `steps` and the on-policy loop's `iterations` (where the
/// run goes, how far this invocation takes it: a PPO run may be extended; SFT and DPO check
/// their step total themselves). A
/// changed data path, model, tokenizer or trainer setting would otherwise continue the run on
/// something else without a word; the error names every changed field.
pub fn check_resumed_spec<T>(spec: &T, out_dir: &Path) -> Result<()>
where
    T: RunFields + Clone + Serialize + DeserializeOwned,
{
    let path = out_dir.join("spec.json");
    if !path.is_file() {
        return Ok(());
    }
    let mut old: T = crate::checkpoint::read_spec(&path)?;
    let mut new = spec.clone();
    old.set_run(new.run_settings());
    let strip = |v: &T| -> Result<serde_json::Value> {
        let mut v = serde_json::to_value(v).map_err(Error::json(&path))?;
        if let Some(o) = v.as_object_mut() {
            o.remove("stop_after");
            o.remove("steps");
            if let Some(p) = o.get_mut("on_policy").and_then(|p| p.as_object_mut()) {
                p.remove("iterations");
            }
        }
        Ok(v)
    };
    let changed = crate::checkpoint::changed_fields(&strip(&old)?, &strip(&new)?);
    if changed.is_empty() {
        return Ok(());
    }
    Err(Error::Input(format!(
        "{}: the run was started with a different spec ({}); resume it with the same settings, or pass --overwrite to start again",
        path.display(),
        changed.join(", ")
    )))
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

    #[test]
    fn a_resume_with_another_spec_names_the_changed_fields() -> Result<()> {
        let d = tempfile::tempdir().map_err(Error::io(Path::new("tmp")))?;
        let spec = SftSpec {
            stop_after: Some(2),
            ..SftSpec::embedded_default()
        };
        crate::app::write_spec(&spec, d.path())?;
        // The same spec, resumed by another invocation (flags, progress, stop_after): fine.
        let mut again = spec.clone();
        again.resume = true;
        again.progress = false;
        again.threads = 1;
        again.stop_after = None;
        check_resumed_spec(&again, d.path())?;
        // Other data: refused, with the field named.
        again.data = crate::sft::SftData::Records {
            path: "other.jsonl".into(),
        };
        again.sft.learning_rate = 0.5;
        let e = check_resumed_spec(&again, d.path())
            .expect_err("changed data")
            .to_string();
        assert!(e.contains("data") && e.contains("sft.learning_rate"), "{e}");
        Ok(())
    }
}
