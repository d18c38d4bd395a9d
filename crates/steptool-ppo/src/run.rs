//! The offline training loop: batches from a fixed set of episodes, metrics, periodic atomic
//! checkpoints, resume.
//!
//! Layout under [`RunOptions::out_dir`]: `metrics.jsonl`, `checkpoints/step-<N>/` (every
//! `checkpoint_every` steps and at the end) and `checkpoints/latest` (the name of the newest
//! bundle, replaced atomically).

use std::path::{Path, PathBuf};

use steptool_mdp::Episode;
use steptool_model::PolicyModel;

use crate::data::batch_indices;
use crate::error::{Error, Result};
use crate::metrics::{read_metrics, MetricsWriter};
use crate::trainer::{PpoTrainer, StepMetrics};

/// How [`train_loop`] runs.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// Output directory (created).
    pub out_dir: PathBuf,
    /// Total PPO steps of the run (a resumed run stops at the same total).
    pub total_steps: u64,
    /// Write a checkpoint every this many steps (0: only at the end).
    pub checkpoint_every: u64,
    /// Continue from `out_dir/checkpoints/latest` if it exists.
    pub resume: bool,
    /// Show a progress bar on stderr.
    pub progress: bool,
    /// Stored in each checkpoint's `trainer_state.json` (`extra`).
    pub extra: serde_json::Value,
}

/// The directory of the newest checkpoint under `out_dir`, if any.
pub fn latest_checkpoint(out_dir: &Path) -> Result<Option<PathBuf>> {
    let latest = out_dir.join("checkpoints").join("latest");
    if !latest.exists() {
        return Ok(None);
    }
    let name = std::fs::read_to_string(&latest).map_err(|source| Error::Io {
        path: latest.clone(),
        source,
    })?;
    let dir = out_dir.join("checkpoints").join(name.trim());
    if !dir.is_dir() {
        return Err(Error::Checkpoint {
            path: latest,
            message: format!("points to missing {}", dir.display()),
        });
    }
    Ok(Some(dir))
}

fn write_atomic(path: &Path, text: &str) -> Result<()> {
    let tmp = path.with_extension(format!("tmp-{}", std::process::id()));
    std::fs::write(&tmp, text).map_err(|source| Error::Io {
        path: tmp.clone(),
        source,
    })?;
    std::fs::rename(&tmp, path).map_err(|source| Error::Io {
        path: path.to_path_buf(),
        source,
    })
}

fn checkpoint<M: PolicyModel>(trainer: &PpoTrainer<M>, opts: &RunOptions) -> Result<()> {
    let name = format!("step-{}", trainer.steps_done());
    let dir = opts.out_dir.join("checkpoints").join(&name);
    trainer.save_checkpoint(&dir, opts.extra.clone())?;
    write_atomic(&opts.out_dir.join("checkpoints").join("latest"), &name)?;
    tracing::info!(dir = %dir.display(), "checkpoint written");
    Ok(())
}

/// Trains until `total_steps` PPO steps are done; returns the metrics of the steps run now.
///
/// With `resume`, the newest checkpoint is loaded first and `metrics.jsonl` is cut back to
/// the checkpoint's step, so the file ends up with one line per step either way. Batch `s` is
/// [`batch_indices`]`(…, seed, s)`, so a resumed run trains on the same batches.
pub fn train_loop<M: PolicyModel>(
    trainer: &mut PpoTrainer<M>,
    episodes: &[Episode],
    opts: &RunOptions,
) -> Result<Vec<StepMetrics>> {
    std::fs::create_dir_all(opts.out_dir.join("checkpoints")).map_err(|source| Error::Io {
        path: opts.out_dir.clone(),
        source,
    })?;
    let metrics_path = opts.out_dir.join("metrics.jsonl");
    if opts.resume {
        if let Some(dir) = latest_checkpoint(&opts.out_dir)? {
            trainer.load_checkpoint(&dir)?;
            tracing::info!(dir = %dir.display(), step = trainer.steps_done(), "resumed");
            if metrics_path.exists() {
                let keep: Vec<String> = read_metrics(&metrics_path)?
                    .into_iter()
                    .filter(|m| m.step < trainer.steps_done())
                    .map(|m| serde_json::to_string(&m).unwrap_or_default())
                    .collect();
                let text = if keep.is_empty() {
                    String::new()
                } else {
                    keep.join("\n") + "\n"
                };
                write_atomic(&metrics_path, &text)?;
            }
        }
    } else if metrics_path.exists() {
        std::fs::remove_file(&metrics_path).map_err(|source| Error::Io {
            path: metrics_path.clone(),
            source,
        })?;
    }
    let mut writer = MetricsWriter::append(&metrics_path)?;
    let bs = trainer.config().batch_size;
    let seed = trainer.config().seed;
    let bar = if opts.progress {
        let b = indicatif::ProgressBar::new(opts.total_steps);
        b.set_style(
            indicatif::ProgressStyle::with_template(
                "{bar:30} {pos}/{len} PPO steps [{elapsed}<{eta}] {msg}",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        b.set_position(trainer.steps_done());
        Some(b)
    } else {
        None
    };
    let mut out = Vec::new();
    while trainer.steps_done() < opts.total_steps {
        let idx = batch_indices(episodes.len(), bs, seed, trainer.steps_done())?;
        let batch: Vec<Episode> = idx.iter().map(|&i| episodes[i].clone()).collect();
        let m = trainer.step(&batch)?;
        writer.write(&m)?;
        if let Some(b) = &bar {
            b.set_position(trainer.steps_done());
            b.set_message(format!(
                "loss {:.4} kl {:.4} {:.0} tok/s",
                m.total_loss, m.kl, m.tokens_per_s
            ));
        }
        out.push(m);
        let done = trainer.steps_done();
        if done == opts.total_steps
            || (opts.checkpoint_every > 0 && done % opts.checkpoint_every == 0)
        {
            checkpoint(trainer, opts)?;
        }
    }
    if let Some(b) = bar {
        b.finish();
    }
    Ok(out)
}
