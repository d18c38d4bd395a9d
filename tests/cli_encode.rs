//! `steptool encode` end to end: the binary on the TRL baseline fixture, and bad rows reported
//! with their row number while the good ones are still encoded.

use std::io::Write;
use std::process::{Command, Stdio};

type TestResult = Result<(), Box<dyn std::error::Error>>;

const FIXTURE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/trl-baseline");

fn encode(data: &str, extra: &[&str]) -> std::io::Result<std::process::Output> {
    Command::new(env!("CARGO_BIN_EXE_steptool"))
        .args([
            "encode",
            "--data",
            data,
            "--tokenizer",
            &format!("{FIXTURE}/tokenizer.json"),
        ])
        .args(extra)
        .stdin(Stdio::null())
        .output()
}

#[test]
fn encodes_every_row_of_the_fixture() -> TestResult {
    let out = encode(
        &format!("{FIXTURE}/train.tsv"),
        &["--mode", "reference-compat", "--max-context", "1024"],
    )?;
    assert!(
        out.status.success(),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let rows: Vec<serde_json::Value> = String::from_utf8(out.stdout)?
        .lines()
        .map(serde_json::from_str)
        .collect::<Result<_, _>>()?;
    assert_eq!(rows.len(), 10);
    for (i, row) in rows.iter().enumerate() {
        assert_eq!(row["row"], i);
        let ids = row["input_ids"].as_array().ok_or("input_ids")?;
        let spans = row["action_spans"].as_array().ok_or("action_spans")?;
        let rewards = row["step_rewards"].as_array().ok_or("step_rewards")?;
        assert_eq!(spans.len(), rewards.len(), "row {i}: one reward per span");
        // Reference-compat: every segment starts with <s> (id 1), including each action.
        for span in spans {
            let start = span[0].as_u64().ok_or("span start")? as usize;
            assert_eq!(ids[start], 1, "row {i}: action span starts with BOS");
        }
    }
    Ok(())
}

#[test]
fn bad_rows_are_reported_and_the_rest_encoded() -> TestResult {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("mixed.tsv");
    let mut f = std::fs::File::create(&path)?;
    // Row 0 is good; row 1 has two rewards for one step; row 2 is not a list literal.
    write!(
        f,
        "prompt\tresponse\treward\n\
         \"['User: hi\\n']\"\t\"['Action: Finish\\n']\"\t[1.0]\n\
         \"['User: hi\\n']\"\t\"['Action: Finish\\n']\"\t[1.0, 0.5]\n\
         oops\t\"['x']\"\t[1.0]\n"
    )?;
    drop(f);
    let out = encode(path.to_str().ok_or("path")?, &["--mode", "clean"])?;
    assert_eq!(out.status.code(), Some(1));
    let stdout = String::from_utf8(out.stdout)?;
    let rows: Vec<serde_json::Value> = stdout
        .lines()
        .map(serde_json::from_str)
        .collect::<Result<_, _>>()?;
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0]["row"], 0);
    let stderr = String::from_utf8(out.stderr)?;
    assert!(
        stderr.contains("row 1:") && stderr.contains("2 rewards"),
        "{stderr}"
    );
    assert!(stderr.contains("row 2:"), "{stderr}");
    assert!(stderr.contains("2 of 3 rows failed"), "{stderr}");
    Ok(())
}

#[test]
fn a_header_only_tsv_is_an_error_not_an_empty_success() -> TestResult {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("header.tsv");
    let header = std::fs::read_to_string(format!("{FIXTURE}/train.tsv"))?
        .lines()
        .next()
        .ok_or("fixture has no header")?
        .to_owned();
    std::fs::write(&path, format!("{header}\n"))?;
    let out = encode(path.to_str().ok_or("path")?, &[])?;
    assert!(!out.status.success(), "a header-only TSV must fail");
    assert!(out.stdout.is_empty());
    let err = String::from_utf8(out.stderr)?;
    assert!(
        err.contains("header.tsv") && err.contains("no data rows"),
        "{err}"
    );
    Ok(())
}

#[test]
fn a_missing_file_is_one_line_with_its_cause_once() -> TestResult {
    let out = encode("/nonexistent/rows.tsv", &[])?;
    assert!(!out.status.success());
    let err = String::from_utf8(out.stderr)?;
    assert!(err.contains("/nonexistent/rows.tsv"), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert_eq!(
        err.matches("No such file or directory").count(),
        1,
        "the cause is printed once: {err}"
    );
    Ok(())
}
