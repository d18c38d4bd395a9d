//! `steptool rollout` and `steptool eval` on the synthetic benchmark: the expert solves every
//! task, DFSDT rescues some of the noisy expert's failures, and usage errors are clear.

use std::path::Path;
use std::process::{Command, Output, Stdio};

type TestResult = Result<(), Box<dyn std::error::Error>>;

fn steptool(args: &[&str]) -> std::io::Result<Output> {
    Command::new(env!("CARGO_BIN_EXE_steptool"))
        .args(args)
        .stdin(Stdio::null())
        .output()
}

fn rollout(
    out: &Path,
    agent: &str,
    strategy: &str,
    samples: &str,
) -> Result<(), Box<dyn std::error::Error>> {
    let o = steptool(&[
        "rollout",
        "--env",
        "synthetic",
        "--tasks",
        "30",
        "--agent",
        agent,
        "--noise",
        "0.25",
        "--strategy",
        strategy,
        "--samples",
        samples,
        "--out",
        out.to_str().ok_or("path")?,
    ])?;
    if !o.status.success() {
        return Err(format!("rollout failed: {}", String::from_utf8_lossy(&o.stderr)).into());
    }
    Ok(())
}

fn eval(path: &Path, k: &str) -> Result<serde_json::Value, Box<dyn std::error::Error>> {
    let o = steptool(&[
        "eval",
        "--trajectories",
        path.to_str().ok_or("path")?,
        "--k",
        k,
        "--json",
    ])?;
    if !o.status.success() {
        return Err(format!("eval failed: {}", String::from_utf8_lossy(&o.stderr)).into());
    }
    Ok(serde_json::from_slice(&o.stdout)?)
}

#[test]
fn expert_scores_one_and_dfsdt_beats_cot_for_the_noisy_expert() -> TestResult {
    let dir = tempfile::tempdir()?;
    let expert = dir.path().join("expert.jsonl");
    rollout(&expert, "expert", "cot", "1")?;
    assert_eq!(std::fs::read_to_string(&expert)?.lines().count(), 30);
    let report = eval(&expert, "1")?;
    assert_eq!(report["pass_rate"]["mean"], 1.0);
    assert_eq!(report["recall"], 1.0);

    let cot = dir.path().join("cot.jsonl");
    let dfsdt = dir.path().join("dfsdt.jsonl");
    rollout(&cot, "noisy", "cot", "2")?;
    rollout(&dfsdt, "noisy", "dfsdt", "2")?;
    let (cot, dfsdt) = (eval(&cot, "1,2")?, eval(&dfsdt, "1,2")?);
    let pass = |r: &serde_json::Value| r["pass_rate"]["mean"].as_f64().unwrap_or(f64::NAN);
    assert!(
        pass(&cot) < 1.0,
        "the noisy expert must fail sometimes: {cot}"
    );
    assert!(
        pass(&dfsdt) > pass(&cot),
        "DFSDT {} should beat CoT {}",
        pass(&dfsdt),
        pass(&cot)
    );
    // pass@2 >= pass@1 (unbiased estimator over 2 samples per task).
    let at = |r: &serde_json::Value, k: &str| r["pass_at_k"][k].as_f64().unwrap_or(f64::NAN);
    assert!(at(&cot, "2") >= at(&cot, "1"));
    Ok(())
}

#[test]
fn converted_answers_say_which_sample_they_keep() -> TestResult {
    let dir = tempfile::tempdir()?;
    let out = dir.path().join("r.jsonl");
    let converted = dir.path().join("c.json");
    let o = steptool(&[
        "rollout",
        "--env",
        "synthetic",
        "--tasks",
        "3",
        "--agent",
        "expert",
        "--samples",
        "2",
        "--out",
        out.to_str().ok_or("path")?,
        "--converted",
        converted.to_str().ok_or("path")?,
    ])?;
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{stderr}");
    assert!(
        stderr.contains("3 converted answers (sample 0 of each query)")
            && stderr.contains("the other 3 samples"),
        "{stderr}"
    );
    let c: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&converted)?)?;
    assert_eq!(c.as_object().map(|m| m.len()), Some(3));
    assert_eq!(
        std::fs::read_to_string(&out)?.lines().count(),
        6,
        "every sample in --out"
    );
    Ok(())
}

#[test]
fn a_query_file_without_queries_is_an_error() -> TestResult {
    let dir = tempfile::tempdir()?;
    let queries = dir.path().join("queries.json");
    std::fs::write(&queries, "[]")?;
    let out = dir.path().join("x.jsonl");
    let o = steptool(&[
        "rollout",
        "--env",
        "stabletoolbench",
        "--tools",
        dir.path().to_str().ok_or("path")?,
        "--tasks",
        queries.to_str().ok_or("path")?,
        "--agent",
        "random",
        "--out",
        out.to_str().ok_or("path")?,
    ])?;
    assert!(!o.status.success(), "rolling out nothing must fail");
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(
        stderr.contains("queries.json") && stderr.contains("no queries"),
        "{stderr}"
    );
    assert!(!out.exists(), "no output for no input");
    Ok(())
}

#[test]
fn usage_errors_are_clear() -> TestResult {
    let dir = tempfile::tempdir()?;
    let out = dir.path().join("x.jsonl");
    let out = out.to_str().ok_or("path")?;
    for (args, needle) in [
        (
            vec![
                "rollout",
                "--env",
                "synthetic",
                "--tasks",
                "file.json",
                "--agent",
                "expert",
                "--out",
                out,
            ],
            "--tasks N",
        ),
        (
            vec![
                "rollout",
                "--env",
                "stabletoolbench",
                "--tasks",
                "q.json",
                "--agent",
                "expert",
                "--out",
                out,
            ],
            "--tools",
        ),
        (
            vec![
                "rollout",
                "--env",
                "synthetic",
                "--tasks",
                "3",
                "--agent",
                "openai",
                "--out",
                out,
            ],
            "--endpoint",
        ),
    ] {
        let o = steptool(&args)?;
        assert!(!o.status.success(), "{args:?}");
        let stderr = String::from_utf8_lossy(&o.stderr);
        assert!(stderr.contains(needle), "{args:?}: {stderr}");
    }
    Ok(())
}
