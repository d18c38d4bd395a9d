//! `steptool annotate`: converted predictions -> step reward annotations (the reference's
//! annotation JSON, formats.md §2.4), with the rules, an LLM judge, both (hybrid), or, for
//! synthetic rollouts, the benchmark's ground truth.
//!
//! Every answer is cached (append-only JSONL, fsync'd per answer) in `--cache`, by default
//! `<out>.cache/`: a run that is killed and started again with the same arguments finishes the
//! job without repeating answered requests.

use anyhow::Context;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use steptool::reward::{
    annotate_batch, reference, AnnotationCache, ApiKey, BatchOptions, CachedAnnotator, Endpoint,
    HybridAnnotator, JudgeConfig, LlmJudgeAnnotator, RetryPolicy, RewardAnnotator, RuleAnnotator,
};

/// Which annotator scores the steps.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum AnnotatorKind {
    /// The reference notebook's rules plus format rules; no network.
    Rules,
    /// An LLM judge over an OpenAI-compatible chat-completions endpoint (the paper's prompt).
    Judge,
    /// Rules decide malformed calls, the judge scores the rest (the paper's method).
    Hybrid,
    /// The synthetic benchmark's ground truth (default config): trajectories of `steptool
    /// rollout --env synthetic`, found by their query ids (`train-<seed>-<k>`,
    /// `test-<seed>-<k>`). Exact: solved answers are `Solved`, wrong ones `Unsolved`.
    GroundTruth,
}

/// Arguments of `steptool annotate`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Converted predictions (ToolEval answer format, formats.md §2.1).
    #[arg(long)]
    predictions: PathBuf,
    /// The annotator.
    #[arg(long, value_enum, default_value = "rules")]
    annotator: AnnotatorKind,
    /// Base URL of the OpenAI-compatible endpoint (judge, hybrid), e.g. http://localhost:8000/v1.
    #[arg(long)]
    endpoint: Option<String>,
    /// Judge model name.
    #[arg(long, default_value_t = JudgeConfig::default().model)]
    model: String,
    /// Environment variable holding the API key (never printed or written anywhere).
    #[arg(long, conflicts_with = "api_key_file")]
    api_key_env: Option<String>,
    /// File holding just the API key (never printed or written anywhere).
    #[arg(long)]
    api_key_file: Option<PathBuf>,
    /// Whole-request timeout of the judge, in seconds.
    #[arg(long, default_value_t = JudgeConfig::default().timeout_secs)]
    timeout: f64,
    /// Retries of a failed judge request (429, 5xx, timeout, connection error) after the
    /// first, with exponential backoff; `Retry-After` is honoured.
    #[arg(long, default_value_t = RetryPolicy::default().max_attempts - 1)]
    retries: u32,
    /// Judge rounds per trajectory (K).
    #[arg(long, default_value_t = JudgeConfig::default().rounds)]
    rounds: usize,
    /// Judge requests in flight at most.
    #[arg(long, default_value_t = JudgeConfig::default().concurrency)]
    concurrency: usize,
    /// Cache directory [default: <out>.cache].
    #[arg(long)]
    cache: Option<PathBuf>,
    /// Output: the annotation JSON.
    #[arg(long)]
    out: PathBuf,
}

/// Run `steptool annotate`.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let trajectories = reference::read_converted_predictions(&args.predictions)?;
    if trajectories.is_empty() {
        anyhow::bail!(
            "{}: no trajectories in the file: nothing to annotate",
            args.predictions.display()
        );
    }
    let cache_dir = args.cache.clone().unwrap_or_else(|| {
        let mut dir = args.out.clone().into_os_string();
        dir.push(".cache");
        PathBuf::from(dir)
    });
    let cache = Arc::new(AnnotationCache::open_dir(&cache_dir)?);
    let annotator: Box<dyn RewardAnnotator> = match args.annotator {
        AnnotatorKind::Rules => Box::new(CachedAnnotator::new(RuleAnnotator::default(), cache)),
        AnnotatorKind::Judge => Box::new(judge(&args)?.with_cache(cache)),
        AnnotatorKind::Hybrid => Box::new(HybridAnnotator::new(judge(&args)?.with_cache(cache))),
        AnnotatorKind::GroundTruth => Box::new(ground_truth(&trajectories)?),
    };
    let report = annotate_batch(annotator.as_ref(), &trajectories, &BatchOptions::default())?;
    let mut entries = Vec::new();
    let mut failures = 0;
    for (trajectory, result) in trajectories.iter().zip(report.results) {
        let qid = trajectory.query_id().unwrap_or("<no id>").to_owned();
        match result.and_then(|a| reference::to_entry(trajectory, &a)) {
            Ok(entry) => entries.push((qid, entry)),
            Err(err) => {
                failures += 1;
                eprintln!("query {qid}: {err}");
            }
        }
    }
    reference::write_annotations(&args.out, &entries)?;
    eprintln!("{}", report.summary);
    eprintln!(
        "wrote {} annotations to {} (cache: {})",
        entries.len(),
        args.out.display(),
        cache_dir.display()
    );
    if failures > 0 {
        eprintln!(
            "{failures} of {} trajectories failed; run again to retry them",
            trajectories.len()
        );
        return Ok(ExitCode::FAILURE);
    }
    Ok(ExitCode::SUCCESS)
}

fn judge(args: &Args) -> anyhow::Result<LlmJudgeAnnotator> {
    let url = args
        .endpoint
        .clone()
        .ok_or_else(|| anyhow::anyhow!("--annotator judge and hybrid need --endpoint URL"))?;
    let key = match (&args.api_key_env, &args.api_key_file) {
        (Some(var), _) => Some(ApiKey::from_env(var)?),
        (None, Some(path)) => Some(ApiKey::from_file(path)?),
        (None, None) => None,
    };
    let config = JudgeConfig {
        model: args.model.clone(),
        rounds: args.rounds,
        concurrency: args.concurrency,
        timeout_secs: args.timeout,
        retry: RetryPolicy {
            max_attempts: args.retries.saturating_add(1),
            ..RetryPolicy::default()
        },
        ..JudgeConfig::default()
    };
    Ok(LlmJudgeAnnotator::new(
        config,
        vec![Endpoint::new(url, key)],
    )?)
}

/// The ground-truth annotator for synthetic trajectories: their tasks regenerated from the
/// query ids that `steptool rollout --env synthetic` writes (`<split>-<seed>-<k>`, the k-th task
/// of that split and seed in the default benchmark). A trajectory whose id is not such an id, or
/// whose query is not that task's (a rollout with another benchmark config), is an error: a
/// reward from the wrong task would be silently wrong.
fn ground_truth(
    trajectories: &[steptool::mdp::Trajectory],
) -> anyhow::Result<steptool_ppo::online::GroundTruthAnnotator> {
    use steptool::env::synthetic::{parse_task_id, Split, SyntheticBenchmark, SyntheticConfig};
    let bench = Arc::new(SyntheticBenchmark::new(SyntheticConfig::default())?);
    // The tasks each (split, seed) must be drawn to: up to its highest index.
    let mut wanted: std::collections::HashMap<(Split, u64), usize> = Default::default();
    let mut ids = Vec::with_capacity(trajectories.len());
    for t in trajectories {
        let id = t
            .query_id()
            .context("a trajectory without a query id: ground truth needs the synthetic task id")?;
        let (split, seed, k) = parse_task_id(id).with_context(|| {
            format!(
                "query {id}: not a synthetic task id (`train-<seed>-<k>` or `test-<seed>-<k>`, as `steptool rollout --env synthetic` writes)"
            )
        })?;
        let n = wanted.entry((split, seed)).or_insert(0);
        *n = (*n).max(k + 1);
        ids.push((t, id));
    }
    let mut tasks = Vec::new();
    for ((split, seed), n) in wanted {
        tasks.extend(bench.tasks(split, n, seed)?);
    }
    let queries: std::collections::HashMap<&str, &str> = tasks
        .iter()
        .map(|t| (t.id.as_str(), t.query.as_str()))
        .collect();
    for (t, id) in ids {
        if queries.get(id) != Some(&t.query()) {
            anyhow::bail!(
                "query {id}: the trajectory's query is not that synthetic task's (was it rolled out with another benchmark config?)"
            );
        }
    }
    Ok(steptool_ppo::online::GroundTruthAnnotator::new(
        bench, &tasks,
    ))
}
