//! The offline training loop: batches from a fixed set of episodes, metrics, periodic atomic
//! checkpoints, resume.
//!
//! Layout under [`RunOptions::out_dir`]: see [`crate::checkpoint`] (`metrics.jsonl`,
//! `checkpoints/step-<N>/`, `checkpoints/latest`).

use std::path::{Path, PathBuf};

use steptool_mdp::Episode;
use steptool_model::PolicyModel;

use crate::checkpoint::RunDir;
use crate::data::batch_indices;
use crate::error::Result;
use crate::metrics::{rewind, MetricsWriter};
use crate::progress::Progress;
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
    /// Continue from `out_dir/checkpoints/latest` if it exists (start fresh otherwise; the
    /// CLI's `--resume` is stricter: [`RunDir::prepare`] refuses a run with nothing to resume).
    pub resume: bool,
    /// Show progress on stderr.
    pub progress: bool,
    /// Stored in each checkpoint's `trainer_state.json` (`extra`).
    pub extra: serde_json::Value,
}

/// The directory of the newest checkpoint under `out_dir`, if any.
pub fn latest_checkpoint(out_dir: &Path) -> Result<Option<PathBuf>> {
    RunDir::new(out_dir).latest()
}

/// Trains until `total_steps` PPO steps are done; returns the metrics of the steps run now.
///
/// With `resume`, the newest checkpoint is loaded first and `metrics.jsonl` is rewound to the
/// checkpoint's step ([`rewind`]), so the file ends up with one line per step either way.
/// Batch `s` is [`batch_indices`]`(…, seed, s)`, so a resumed run trains on the same batches.
/// `on_step` is called after every step (the app refreshes the plot there).
pub fn train_loop<M: PolicyModel>(
    trainer: &mut PpoTrainer<M>,
    episodes: &[Episode],
    opts: &RunOptions,
) -> Result<Vec<StepMetrics>> {
    train_loop_with(trainer, episodes, opts, |_| Ok(()))
}

/// [`train_loop`] with a callback after every step.
pub fn train_loop_with<M: PolicyModel>(
    trainer: &mut PpoTrainer<M>,
    episodes: &[Episode],
    opts: &RunOptions,
    mut on_step: impl FnMut(&StepMetrics) -> Result<()>,
) -> Result<Vec<StepMetrics>> {
    let run = RunDir::new(&opts.out_dir);
    std::fs::create_dir_all(run.checkpoints()).map_err(crate::Error::io(&run.checkpoints()))?;
    let metrics_path = run.metrics_path();
    if opts.resume {
        if let Some(dir) = run.latest()? {
            trainer.load_checkpoint(&dir)?;
            tracing::info!(dir = %dir.display(), step = trainer.steps_done(), "resumed");
            rewind(&metrics_path, trainer.steps_done())?;
        }
    } else if metrics_path.exists() {
        std::fs::remove_file(&metrics_path).map_err(crate::Error::io(&metrics_path))?;
    }
    let mut writer = MetricsWriter::append(&metrics_path)?;
    let bs = trainer.config().batch_size;
    let seed = trainer.config().seed;
    let mut progress = Progress::new(opts.progress, opts.total_steps, "PPO steps");
    progress.update(trainer.steps_done(), "");
    let mut out = Vec::new();
    while trainer.steps_done() < opts.total_steps {
        let idx = batch_indices(episodes.len(), bs, seed, trainer.steps_done())?;
        let batch: Vec<Episode> = idx.iter().map(|&i| episodes[i].clone()).collect();
        let m = trainer.step(&batch)?;
        writer.write(&m)?;
        progress.update(
            trainer.steps_done(),
            &format!(
                "loss {:.4} kl {:.4} {:.0} tok/s",
                m.total_loss, m.kl, m.tokens_per_s
            ),
        );
        on_step(&m)?;
        out.push(m);
        let done = trainer.steps_done();
        if done == opts.total_steps
            || (opts.checkpoint_every > 0 && done % opts.checkpoint_every == 0)
        {
            run.commit(done, |tmp| trainer.write_bundle(tmp, opts.extra.clone()))?;
        }
    }
    progress.finish();
    Ok(out)
}
