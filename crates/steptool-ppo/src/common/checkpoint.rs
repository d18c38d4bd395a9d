//! The run directory and the checkpoint bundle, shared by every trainer (PPO, SFT, DPO, the
//! on-policy loop).
//!
//! ```text
//! <runs_dir>/<run_name>/
//!   spec.json               the run's spec (what `--resume` must match)
//!   metrics.jsonl           one JSON line per optimisation step (and eval lines)
//!   metrics.png             the plot, refreshed as the run goes
//!   checkpoints/step-<N>/   a bundle: adapter/ (PEFT), value_head.safetensors, optimizer.pt,
//!                           trainer_state.json, plus whatever the trainer adds
//!   checkpoints/latest      the newest bundle's name (a text file, replaced atomically);
//!                           every command that takes a checkpoint or an adapter resolves it
//!                           ([`resolve_bundle`]), so `runs/x`, `runs/x/checkpoints/latest`
//!                           and `runs/x/checkpoints/step-6` all work
//! ```
//!
//! Every bundle is written into a temporary sibling and renamed into place
//! ([`steptool_mdp::atomic::write_dir_atomic`]); `latest` moves only after the bundle is
//! complete, so a crash leaves either the old or the new checkpoint, never half of one.

use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::error::{Error, Result};

/// File of a bundle holding the trainer's JSON state.
pub const TRAINER_STATE: &str = "trainer_state.json";
/// File of a bundle holding the optimizer's moments.
pub const OPTIMIZER: &str = "optimizer.pt";
/// File of a bundle holding the value head (TRL names).
pub const VALUE_HEAD: &str = "value_head.safetensors";
/// Directory of a bundle holding the PEFT adapter.
pub const ADAPTER: &str = "adapter";
/// Directory of a bundle holding a whole model (full fine-tuning): `config.json`,
/// `model.safetensors`, `tokenizer.json`; loadable as `--model`.
pub const MODEL: &str = "model";
/// Name of the pointer to the newest bundle.
pub const LATEST: &str = "latest";

/// One run's output directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunDir {
    root: PathBuf,
}

impl RunDir {
    /// The run directory `root` (nothing is created yet).
    pub fn new(root: impl Into<PathBuf>) -> Self {
        RunDir { root: root.into() }
    }

    /// The directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// `checkpoints/`.
    pub fn checkpoints(&self) -> PathBuf {
        self.root.join("checkpoints")
    }

    /// `metrics.jsonl`.
    pub fn metrics_path(&self) -> PathBuf {
        self.root.join("metrics.jsonl")
    }

    /// `checkpoints/step-<step>`.
    pub fn step_dir(&self, step: u64) -> PathBuf {
        self.checkpoints().join(format!("step-{step}"))
    }

    /// Whether the directory already holds a run (metrics or checkpoints).
    pub fn holds_a_run(&self) -> bool {
        self.metrics_path().exists() || self.checkpoints().exists()
    }

    /// The newest bundle, if any (`latest` holds its name; a symlink is followed too).
    pub fn latest(&self) -> Result<Option<PathBuf>> {
        let latest = self.checkpoints().join(LATEST);
        let meta = match std::fs::symlink_metadata(&latest) {
            Ok(m) => m,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(Error::io(&latest)(e)),
        };
        let dir = if meta.file_type().is_symlink() {
            let target = std::fs::read_link(&latest).map_err(Error::io(&latest))?;
            self.checkpoints().join(target)
        } else {
            let name = std::fs::read_to_string(&latest).map_err(Error::io(&latest))?;
            if name.trim().is_empty() {
                return Err(Error::Checkpoint {
                    path: latest,
                    message: "is empty (it should name the newest checkpoint)".into(),
                });
            }
            self.checkpoints().join(name.trim())
        };
        if !dir.join(TRAINER_STATE).is_file() {
            return Err(Error::Checkpoint {
                path: latest,
                message: format!(
                    "points to {}, which holds no {TRAINER_STATE}",
                    dir.display()
                ),
            });
        }
        Ok(Some(dir))
    }

    /// Makes the directory ready for a run.
    ///
    /// - `resume`: the newest bundle is returned; a directory with nothing to resume from is an
    ///   error that says what is missing (never a silent restart over the old files).
    /// - otherwise a directory that already holds a run is refused, unless `overwrite`, which
    ///   removes its metrics, plot and checkpoints first (never half-overwritten).
    pub fn prepare(&self, resume: bool, overwrite: bool) -> Result<Option<PathBuf>> {
        if resume {
            return match self.latest()? {
                Some(dir) => Ok(Some(dir)),
                None => Err(Error::Checkpoint {
                    path: self.checkpoints().join(LATEST),
                    message: "nothing to resume from: the run has no checkpoint (start it without --resume)".into(),
                }),
            };
        }
        if self.holds_a_run() {
            if !overwrite {
                return Err(Error::Checkpoint {
                    path: self.root.clone(),
                    message: "already holds a run: pass --resume to continue it, --overwrite to start it again, or choose another run name".into(),
                });
            }
            for p in [self.metrics_path(), self.root.join("metrics.png")] {
                if p.exists() {
                    std::fs::remove_file(&p).map_err(Error::io(&p))?;
                }
            }
            if self.checkpoints().exists() {
                std::fs::remove_dir_all(self.checkpoints())
                    .map_err(Error::io(&self.checkpoints()))?;
            }
        }
        std::fs::create_dir_all(self.checkpoints()).map_err(Error::io(&self.checkpoints()))?;
        Ok(None)
    }

    /// Writes the bundle of `step` atomically with `fill` (which writes into a temporary
    /// directory), then points `latest` at it. Returns the bundle's directory.
    pub fn commit(&self, step: u64, fill: impl FnOnce(&Path) -> Result<()>) -> Result<PathBuf> {
        let dir = self.step_dir(step);
        steptool_mdp::atomic::write_dir_atomic(&dir, fill, |p, e| Error::io(p)(e))?;
        let latest = self.checkpoints().join(LATEST);
        steptool_mdp::atomic::write_atomic(&latest, format!("step-{step}"))
            .map_err(Error::io(&latest))?;
        tracing::info!(dir = %dir.display(), "checkpoint written");
        Ok(dir)
    }
}

/// A checkpoint path as a user gives it, resolved to a bundle directory: a bundle
/// (`…/step-N`), `…/checkpoints/latest`, `…/checkpoints` or a run directory.
pub fn resolve_bundle(path: &Path) -> Result<PathBuf> {
    let path = &resolve_latest(path);
    if path.join(TRAINER_STATE).is_file() {
        return Ok(path.to_path_buf());
    }
    let run = if path.join("checkpoints").is_dir() {
        RunDir::new(path)
    } else if path.file_name().is_some_and(|n| n == "checkpoints") {
        RunDir::new(path.parent().unwrap_or(Path::new(".")))
    } else {
        return Err(Error::Checkpoint {
            path: path.to_path_buf(),
            message: format!("is not a checkpoint (no {TRAINER_STATE}) nor a run directory"),
        });
    };
    run.latest()?.ok_or_else(|| Error::Checkpoint {
        path: path.to_path_buf(),
        message: "the run has no checkpoint yet".into(),
    })
}

/// A path through a `checkpoints/latest` pointer, resolved: `runs/x/checkpoints/latest/model`
/// becomes `runs/x/checkpoints/step-N/model` (the pointer is a text file, so the operating
/// system cannot follow it). Other paths come back unchanged.
pub fn resolve_latest(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in path.components() {
        out.push(c);
        if out.file_name().is_some_and(|n| n == LATEST) && out.is_file() {
            if let Ok(name) = std::fs::read_to_string(&out) {
                out.pop();
                out.push(name.trim());
            }
        }
    }
    out
}

/// A LoRA adapter path as a user gives it, resolved to a PEFT adapter directory: the adapter
/// directory itself (`adapter_config.json`), or anything [`resolve_bundle`] takes (then its
/// `adapter/`).
pub fn adapter_dir(path: &Path) -> Result<PathBuf> {
    let path = &resolve_latest(path);
    if path.join("adapter_config.json").is_file() {
        return Ok(path.to_path_buf());
    }
    Ok(resolve_bundle(path)?.join(ADAPTER))
}

/// Reads a JSON run spec (any trainer's; unknown fields are rejected by the spec types).
pub fn read_spec<T: DeserializeOwned>(path: &Path) -> Result<T> {
    let text = std::fs::read_to_string(path).map_err(Error::io(path))?;
    serde_json::from_str(&text).map_err(Error::json(path))
}

/// Writes `state` as `trainer_state.json` into a bundle being filled.
pub fn write_state<T: Serialize>(dir: &Path, state: &T) -> Result<()> {
    let p = dir.join(TRAINER_STATE);
    let text = serde_json::to_string_pretty(state).map_err(Error::json(&p))?;
    std::fs::write(&p, text).map_err(Error::io(&p))
}

/// Reads a bundle's `trainer_state.json`.
pub fn read_state<T: DeserializeOwned>(dir: &Path) -> Result<T> {
    let p = dir.join(TRAINER_STATE);
    let text = std::fs::read_to_string(&p).map_err(Error::io(&p))?;
    serde_json::from_str(&text).map_err(Error::json(&p))
}

/// The JSON state of a trainer that counts optimizer steps over a fixed-length schedule (SFT,
/// DPO): what `trainer_state.json` holds besides the tensors.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StepState<C> {
    /// Format version (1).
    pub version: u32,
    /// Optimizer steps done.
    pub step: u64,
    /// Total steps of the run (the schedule's length).
    pub total_steps: u64,
    /// The trainer's config.
    pub config: C,
    /// Caller's data.
    #[serde(default)]
    pub extra: serde_json::Value,
}

impl<C: Serialize + DeserializeOwned + PartialEq> StepState<C> {
    /// Reads a bundle's state and checks it belongs to this run: the same config and schedule
    /// length (the error names the fields that differ) and a step that matches the directory.
    pub fn read_matching(dir: &Path, config: &C, total_steps: u64) -> Result<Self> {
        let state: StepState<C> = read_state(dir)?;
        if state.config != *config || state.total_steps != total_steps {
            let mut changed = changed_fields(&state.config, config);
            if state.total_steps != total_steps {
                changed.push("total_steps".into());
            }
            return Err(Error::Checkpoint {
                path: dir.join(TRAINER_STATE),
                message: format!(
                    "differs from this run in {} (resume with the same spec)",
                    changed.join(", ")
                ),
            });
        }
        check_step(dir, state.step)?;
        Ok(state)
    }
}

/// Checks that a bundle's recorded step matches its directory name (`step-N`), so a hand-edited
/// or misplaced state cannot silently shift a resumed run.
pub fn check_step(dir: &Path, step: u64) -> Result<()> {
    let name = dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    match name.strip_prefix("step-").map(str::parse::<u64>) {
        Some(Ok(n)) if n != step => Err(Error::Checkpoint {
            path: dir.join(TRAINER_STATE),
            message: format!("records step {step} but its directory is {name}"),
        }),
        _ => Ok(()),
    }
}

/// The top-level (dotted for nested objects) fields in which two configs' JSON differ, so a
/// refused resume says what changed.
pub fn changed_fields<T: Serialize>(old: &T, new: &T) -> Vec<String> {
    fn walk(prefix: &str, a: &serde_json::Value, b: &serde_json::Value, out: &mut Vec<String>) {
        match (a, b) {
            (serde_json::Value::Object(x), serde_json::Value::Object(y)) => {
                let mut keys: Vec<&String> = x.keys().chain(y.keys()).collect();
                keys.sort();
                keys.dedup();
                for k in keys {
                    let name = if prefix.is_empty() {
                        k.clone()
                    } else {
                        format!("{prefix}.{k}")
                    };
                    match (x.get(k), y.get(k)) {
                        (Some(p), Some(q)) => walk(&name, p, q, out),
                        _ => out.push(name),
                    }
                }
            }
            _ if a != b => out.push(if prefix.is_empty() {
                "(value)".into()
            } else {
                prefix.into()
            }),
            _ => {}
        }
    }
    let (a, b) = (serde_json::to_value(old), serde_json::to_value(new));
    let mut out = Vec::new();
    if let (Ok(a), Ok(b)) = (a, b) {
        walk("", &a, &b, &mut out);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latest_follows_commits_and_resolves_from_any_form() -> Result<()> {
        let d = tempfile::tempdir().map_err(Error::io(Path::new("tmp")))?;
        let run = RunDir::new(d.path().join("r"));
        assert_eq!(run.prepare(false, false)?, None);
        for step in [2u64, 4] {
            run.commit(step, |t| {
                write_state(t, &serde_json::json!({ "step": step }))
            })?;
        }
        let newest = run.step_dir(4);
        assert_eq!(run.latest()?.as_deref(), Some(newest.as_path()));
        let latest = run.checkpoints().join(LATEST);
        assert_eq!(
            std::fs::read_to_string(&latest).ok().as_deref(),
            Some("step-4")
        );
        assert_eq!(
            resolve_latest(&latest.join("adapter")),
            newest.join("adapter")
        );
        for p in [
            run.root().to_path_buf(),
            run.checkpoints(),
            latest,
            newest.clone(),
        ] {
            let r = resolve_bundle(&p)?;
            assert_eq!(
                std::fs::canonicalize(&r).ok(),
                std::fs::canonicalize(&newest).ok()
            );
        }
        // A second run under the same name is refused, then allowed with overwrite.
        let e = run.prepare(false, false).err().map(|e| e.to_string());
        assert!(e.is_some_and(|e| e.contains("--overwrite")));
        run.prepare(false, true)?;
        assert!(run.latest()?.is_none());
        // Nothing to resume from is an error, not a fresh start.
        let e = run.prepare(true, false).err().map(|e| e.to_string());
        assert!(e.is_some_and(|e| e.contains("nothing to resume from")));
        check_step(&newest, 4)?;
        let changed = changed_fields(
            &serde_json::json!({"lr": 1, "kl": {"init": 0.3, "target": 6}}),
            &serde_json::json!({"lr": 1, "kl": {"init": 0.2, "target": 6}}),
        );
        assert_eq!(changed, vec!["kl.init".to_string()]);
        assert!(check_step(&newest, 3).is_err());
        Ok(())
    }
}
