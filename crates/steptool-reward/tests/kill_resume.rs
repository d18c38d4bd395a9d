//! Kill-and-resume: a child process annotates 6 trajectories x 2 judge rounds with a round
//! cache; the parent kills it (SIGKILL) mid-run, re-runs it, and checks that the output is
//! complete and that no cached round was asked for again. A third run replays everything from
//! the cache with no request and writes the same bytes.
//!
//! `harness = false`: this binary is both the parent (run by `cargo test`) and the child (the
//! same executable started with `STEPTOOL_REWARD_CHILD=1`).

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context, Result};
use common::{args, MockServer, Reply};
use steptool_mdp::Trajectory;
use steptool_reward::reference;
use steptool_reward::{
    annotate_batch, AnnotationCache, BatchOptions, Endpoint, JudgeConfig, LlmJudgeAnnotator,
    RetryPolicy,
};

const N: usize = 6;
const ROUNDS: usize = 2;

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../fixtures")
        .join(name)
}

fn trajectories() -> Result<Vec<Trajectory>> {
    let t = reference::read_converted_predictions(fixture(
        "reference/converted_prediction_qwen2_entry_56543.json",
    ))?
    .remove(0);
    (0..N)
        .map(|i| {
            Ok(Trajectory::new(
                Some(format!("56543-{i}")),
                t.query(),
                t.tools().to_vec(),
                t.steps().to_vec(),
            )?)
        })
        .collect()
}

/// The child: annotate everything with the judge at `$URL`, cache in `$CACHE`, write `$OUT`.
fn child() -> Result<()> {
    let url = std::env::var("URL")?;
    let cache = Arc::new(AnnotationCache::open_dir(std::env::var("CACHE")?)?);
    let judge = LlmJudgeAnnotator::new(
        JudgeConfig {
            rounds: ROUNDS,
            concurrency: 1,
            retry: RetryPolicy {
                max_attempts: 2,
                initial_backoff_ms: 1,
                ..RetryPolicy::default()
            },
            ..JudgeConfig::default()
        },
        vec![Endpoint::new(url, None)],
    )?
    .with_cache(cache);
    let ts = trajectories()?;
    let report = annotate_batch(
        &judge,
        &ts,
        &BatchOptions {
            threads: 1,
            progress: false,
        },
    )?;
    let mut entries = Vec::new();
    for (t, r) in ts.iter().zip(report.results) {
        let a = r?;
        entries.push((
            t.query_id().unwrap_or_default().to_owned(),
            reference::to_entry(t, &a)?,
        ));
    }
    reference::write_annotations(std::env::var("OUT")?, &entries)?;
    Ok(())
}

fn run_child(url: &str, cache: &Path, out: &Path) -> Result<Command> {
    let mut cmd = Command::new(std::env::current_exe()?);
    cmd.env("STEPTOOL_REWARD_CHILD", "1")
        .env("URL", url)
        .env("CACHE", cache)
        .env("OUT", out);
    Ok(cmd)
}

fn answer(i: usize) -> Reply {
    // Distinct answers so that replays can be told apart: contribution i % 6.
    let c = (i % 6) as u8;
    Reply::Slow(
        Duration::from_millis(150),
        Box::new(Reply::answer(&args(&[1, 0], &[c, 5 - c], "Solved"))),
    )
}

fn parent() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let cache_dir = dir.path().join("cache");
    let out = dir.path().join("annotations.json");
    let total = N * ROUNDS;

    // Run 1: killed after the 5th request arrived (4 answered, the 5th in flight).
    let server = MockServer::start((0..total).map(answer).collect())?;
    let mut child = run_child(&server.url, &cache_dir, &out)?.spawn()?;
    let start = Instant::now();
    while server.count() < 5 {
        if start.elapsed() > Duration::from_secs(60) {
            let _ = child.kill();
            bail!("child made only {} requests in 60 s", server.count());
        }
        if let Some(status) = child.try_wait()? {
            bail!("child exited early: {status}");
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    child.kill()?;
    child.wait()?;
    ensure!(!out.exists(), "the killed child wrote its output");
    let cached = AnnotationCache::open_dir(&cache_dir)?.len();
    // 5 requests arrived, so at least 4 answers were received and (fsync'd before the next
    // request) cached; a slow parent may have let the child get one or two more.
    ensure!(
        (4..total).contains(&cached),
        "{cached} rounds cached after the kill"
    );
    drop(server);

    // Run 2: completes, asking only for what is not cached.
    let server = MockServer::start((100..100 + total).map(answer).collect())?;
    let status = run_child(&server.url, &cache_dir, &out)?.status()?;
    ensure!(status.success(), "re-run failed: {status}");
    ensure!(
        server.count() == total - cached,
        "re-run made {} requests, expected {total} - {cached} cached",
        server.count()
    );
    let entries = reference::read_entries(&out)?;
    ensure!(entries.len() == N, "{} entries", entries.len());
    for (qid, e) in &entries {
        ensure!(
            e.process_reward.len() == ROUNDS && e.is_solved.len() == ROUNDS,
            "{qid}: incomplete"
        );
    }
    let bytes = std::fs::read(&out)?;
    drop(server);

    // Run 3: everything from the cache, no request, same bytes.
    let server = MockServer::start(vec![])?;
    std::fs::remove_file(&out)?;
    let status = run_child(&server.url, &cache_dir, &out)?.status()?;
    ensure!(status.success(), "replay failed: {status}");
    ensure!(
        server.count() == 0,
        "replay made {} requests",
        server.count()
    );
    ensure!(
        std::fs::read(&out)? == bytes,
        "replay wrote different bytes"
    );
    Ok(())
}

fn main() -> ExitCode {
    let result = if std::env::var_os("STEPTOOL_REWARD_CHILD").is_some() {
        child()
    } else {
        parent().context("kill_resume")
    };
    match result {
        Ok(()) => {
            if std::env::var_os("STEPTOOL_REWARD_CHILD").is_none() {
                println!("test kill_resume ... ok");
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("{e:?}");
            ExitCode::FAILURE
        }
    }
}
