//! `steptool annotate`: converted predictions -> step reward annotations (the reference's
//! annotation JSON, formats.md §2.4), with the rules, an LLM judge, or both (hybrid).
//!
//! Every answer is cached (append-only JSONL, fsync'd per answer) in `--cache`, by default
//! `<out>.cache/`: a run that is killed and started again with the same arguments finishes the
//! job without repeating answered requests.

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
