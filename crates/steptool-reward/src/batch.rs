//! Batch annotation on rayon, with a progress bar and a summary.
//!
//! Trajectories are annotated in parallel on a dedicated rayon pool; results come back in input
//! order, one `Result` per trajectory, so one bad trajectory never hides the others. For the LLM
//! judge, the number of requests in flight is bounded by [`crate::JudgeConfig::concurrency`]
//! whatever the number of threads.

use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use steptool_mdp::Trajectory;

use crate::annotation::{RewardAnnotator, StepAnnotation, Usage};
use crate::error::{Error, Result};

/// How to run a batch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BatchOptions {
    /// Worker threads (default 0: rayon's default, one per core). For a judge, threads beyond
    /// the judge's concurrency limit just wait.
    pub threads: usize,
    /// Draw a progress bar on stderr (default `true`; hidden when stderr is not a terminal).
    pub progress: bool,
}

impl Default for BatchOptions {
    fn default() -> Self {
        Self {
            threads: 0,
            progress: true,
        }
    }
}

/// Totals of a batch.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct BatchSummary {
    /// Trajectories in the batch.
    pub trajectories: usize,
    /// Trajectories annotated.
    pub annotated: usize,
    /// Trajectories that failed (their errors are in [`BatchReport::results`]).
    pub failed: usize,
    /// Rounds in the annotations (answered or replayed).
    pub rounds: usize,
    /// Requests, retries, invalid answers, cache hits and tokens, summed.
    pub usage: Usage,
    /// Wall-clock time.
    pub elapsed: Duration,
}

impl std::fmt::Display for BatchSummary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} trajectories: {} annotated, {} failed; {} rounds ({} from cache); {} requests, {} retries, {} invalid answers; tokens {} prompt + {} completion; {:.1}s",
            self.trajectories,
            self.annotated,
            self.failed,
            self.rounds,
            self.usage.cache_hits,
            self.usage.requests,
            self.usage.retries,
            self.usage.invalid_answers,
            self.usage.prompt_tokens,
            self.usage.completion_tokens,
            self.elapsed.as_secs_f64()
        )
    }
}

/// The outcome of [`annotate_batch`].
#[derive(Debug)]
pub struct BatchReport {
    /// One result per input trajectory, in input order.
    pub results: Vec<Result<StepAnnotation>>,
    /// Totals.
    pub summary: BatchSummary,
}

/// Annotate `trajectories` in parallel (see the module docs). Fails only when the thread pool
/// cannot be built; per-trajectory errors are in the report.
pub fn annotate_batch<A: RewardAnnotator + ?Sized>(
    annotator: &A,
    trajectories: &[Trajectory],
    options: &BatchOptions,
) -> Result<BatchReport> {
    let start = Instant::now();
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(options.threads)
        .build()
        .map_err(|e| Error::config("threads", format!("cannot start the thread pool: {e}")))?;
    let bar = if options.progress {
        ProgressBar::new(trajectories.len() as u64)
    } else {
        ProgressBar::hidden()
    };
    if let Ok(style) = ProgressStyle::with_template(
        "{spinner} annotating [{bar:40}] {pos}/{len} ({per_sec}, eta {eta}) {msg}",
    ) {
        bar.set_style(style.progress_chars("=> "));
    }
    bar.set_message(annotator.name().to_owned());
    let results: Vec<Result<StepAnnotation>> = pool.install(|| {
        trajectories
            .par_iter()
            .map(|t| {
                let r = annotator.annotate(t);
                if let Err(e) = &r {
                    bar.suspend(|| tracing::error!("{e}"));
                }
                bar.inc(1);
                r
            })
            .collect()
    });
    bar.finish_and_clear();
    let mut summary = BatchSummary {
        trajectories: trajectories.len(),
        ..BatchSummary::default()
    };
    for r in &results {
        match r {
            Ok(a) => {
                summary.annotated += 1;
                summary.rounds += a.rounds().len();
                summary.usage.add(a.usage());
            }
            Err(_) => summary.failed += 1,
        }
    }
    summary.elapsed = start.elapsed();
    tracing::info!("{summary}");
    Ok(BatchReport { results, summary })
}
