//! Metrics output shared by every trainer: one JSON line per optimisation step (or eval),
//! flushed as it is written, read back and rewound on resume.

use std::io::Write;
use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::error::{Error, Result};

/// Appends JSON lines to a metrics file (flushed after each line).
#[derive(Debug)]
pub struct MetricsWriter {
    path: PathBuf,
    file: std::fs::File,
}

impl MetricsWriter {
    /// Opens `path` for appending (a resumed run continues the same file).
    pub fn append(path: &Path) -> Result<Self> {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(Error::io(path))?;
        Ok(MetricsWriter {
            path: path.to_path_buf(),
            file,
        })
    }

    /// Writes one line and logs it through `tracing` (target `steptool_ppo::metrics`).
    pub fn write<T: Serialize>(&mut self, m: &T) -> Result<()> {
        let line = serde_json::to_string(m).map_err(Error::json(&self.path))?;
        tracing::info!(target: "steptool_ppo::metrics", "{line}");
        writeln!(self.file, "{line}")
            .and_then(|_| self.file.flush())
            .map_err(Error::io(&self.path))
    }
}

/// Reads a metrics JSONL file back, one `T` per non-empty line; a bad line is an error naming
/// its line number.
pub fn read_lines<T: DeserializeOwned>(path: &Path) -> Result<Vec<T>> {
    let text = std::fs::read_to_string(path).map_err(Error::io(path))?;
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| {
            serde_json::from_str(l).map_err(|source| Error::Json {
                path: PathBuf::from(format!("{}:{}", path.display(), i + 1)),
                source,
            })
        })
        .collect()
}

/// Reads a PPO run's metrics back (one [`crate::StepMetrics`] per line).
pub fn read_metrics(path: &Path) -> Result<Vec<crate::StepMetrics>> {
    read_lines(path)
}

/// Rewinds a metrics file for a resume at step `done`: keeps the lines whose `step` is below
/// `done`, atomically. A torn last line (a crash mid-write) is cut with a warning; a torn line
/// anywhere else, or kept steps that are not exactly `0..done` of each kind, are errors (the file
/// and the run disagree, and continuing would leave a silent gap).
pub fn rewind(path: &Path, done: u64) -> Result<()> {
    if !path.exists() {
        if done > 0 {
            tracing::warn!(path = %path.display(), "metrics file missing: the resumed run's file starts at step {done}");
        }
        return Ok(());
    }
    let text = std::fs::read_to_string(path).map_err(Error::io(path))?;
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    let mut keep = Vec::new();
    let mut next: std::collections::BTreeMap<String, u64> = Default::default();
    for (i, l) in lines.iter().enumerate() {
        let v: serde_json::Value = match serde_json::from_str(l) {
            Ok(v) => v,
            Err(_) if i + 1 == lines.len() && !text.ends_with('\n') => {
                tracing::warn!(path = %path.display(), line = i + 1, "cutting a torn last line");
                break;
            }
            Err(source) => {
                return Err(Error::Json {
                    path: PathBuf::from(format!("{}:{}", path.display(), i + 1)),
                    source,
                })
            }
        };
        let step = v.get("step").and_then(serde_json::Value::as_u64);
        let kind = v
            .get("kind")
            .and_then(serde_json::Value::as_str)
            .unwrap_or("train")
            .to_owned();
        match step {
            Some(s) if s < done => {
                if kind == "train" {
                    let want = next.entry(kind).or_insert(0);
                    if s != *want {
                        return Err(Error::Checkpoint {
                            path: path.to_path_buf(),
                            message: format!(
                                "line {}: step {s} where step {want} was expected (a gap in the metrics); the file does not match the checkpoint",
                                i + 1
                            ),
                        });
                    }
                    *want += 1;
                }
                keep.push(*l);
            }
            Some(_) => {}
            None => {
                return Err(Error::Checkpoint {
                    path: path.to_path_buf(),
                    message: format!("line {}: no `step` field", i + 1),
                })
            }
        }
    }
    let have = next.get("train").copied().unwrap_or(0);
    if have < done {
        return Err(Error::Checkpoint {
            path: path.to_path_buf(),
            message: format!(
                "the metrics end at step {have} but the checkpoint is at step {done} (lines are missing at the end); the file does not match the checkpoint"
            ),
        });
    }
    let text = if keep.is_empty() {
        String::new()
    } else {
        keep.join("\n") + "\n"
    };
    steptool_mdp::atomic::write_atomic(path, text).map_err(Error::io(path))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rewind_keeps_earlier_steps_cuts_a_torn_tail_and_refuses_gaps() -> Result<()> {
        let d = tempfile::tempdir().map_err(Error::io(Path::new("tmp")))?;
        let p = d.path().join("m.jsonl");
        std::fs::write(
            &p,
            "{\"step\":0}\n{\"step\":1}\n{\"kind\":\"eval\",\"step\":1}\n{\"step\":2}\n{\"st",
        )
        .map_err(Error::io(&p))?;
        rewind(&p, 2)?;
        let kept: Vec<serde_json::Value> = read_lines(&p)?;
        assert_eq!(kept.len(), 3);
        std::fs::write(&p, "{\"step\":0}\n{\"step\":2}\n").map_err(Error::io(&p))?;
        let e = rewind(&p, 3).err().map(|e| e.to_string());
        assert!(e.is_some_and(|e| e.contains("gap")));
        // A file that stops before the checkpoint's step is refused too, not resumed with a gap.
        std::fs::write(&p, "{\"step\":0}\n{\"step\":1}\n").map_err(Error::io(&p))?;
        let e = rewind(&p, 4).err().map(|e| e.to_string());
        assert!(
            e.is_some_and(|e| e.contains("end at step 2")),
            "a short file"
        );
        Ok(())
    }
}
