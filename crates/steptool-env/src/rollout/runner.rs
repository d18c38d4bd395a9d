//! Many tasks in parallel (rayon), with a progress bar (indicatif).

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use rayon::prelude::*;

use super::{rollout, RolloutConfig, RolloutRecord};
use crate::agent::Agent;
use crate::env::Environment;
use crate::error::{Error, Result};

/// A task whose rollout failed (the agent or the environment returned an error).
#[derive(Debug)]
pub struct RolloutFailure {
    /// Index of the task in the input.
    pub task_index: usize,
    /// The sample.
    pub sample: usize,
    /// What went wrong.
    pub error: Error,
}

/// Everything a batch of rollouts produced.
#[derive(Debug, Default)]
pub struct RolloutSummary {
    /// Successful rollouts, ordered by (task index, sample).
    pub records: Vec<RolloutRecord>,
    /// Failed rollouts, in the same order.
    pub failures: Vec<RolloutFailure>,
}

/// Roll out every task `config.samples` times in parallel on copies of `env`. Results are
/// ordered by (task, sample) whatever the schedule; a failing task does not stop the others and
/// is reported in [`RolloutSummary::failures`]. `progress` draws a bar on stderr.
pub fn run_many<E, A>(
    env: &E,
    tasks: &[E::Task],
    agent: &A,
    config: &RolloutConfig,
    progress: bool,
) -> Result<RolloutSummary>
where
    E: Environment + Sync,
    A: Agent + ?Sized,
{
    config.validate()?;
    let jobs: Vec<(usize, usize)> = (0..tasks.len())
        .flat_map(|t| (0..config.samples).map(move |s| (t, s)))
        .collect();
    let bar = ProgressBar::new(jobs.len() as u64);
    if progress {
        bar.set_style(
            ProgressStyle::with_template(
                "{spinner} {msg} [{bar:40}] {pos}/{len} rollouts ({eta} left)",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        bar.set_message(config.method());
    } else {
        bar.set_draw_target(ProgressDrawTarget::hidden());
    }
    let results: Vec<(usize, usize, Result<RolloutRecord>)> = jobs
        .par_iter()
        .map(|&(t, s)| {
            let r = rollout(env, &tasks[t], agent, config, s);
            bar.inc(1);
            (t, s, r)
        })
        .collect();
    bar.finish_and_clear();
    let mut summary = RolloutSummary::default();
    for (task_index, sample, r) in results {
        match r {
            Ok(record) => summary.records.push(record),
            Err(error) => summary.failures.push(RolloutFailure {
                task_index,
                sample,
                error,
            }),
        }
    }
    Ok(summary)
}
