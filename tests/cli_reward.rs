//! `steptool annotate` and `steptool build-tsv` end to end on the reference fixtures.

use std::process::{Command, Output, Stdio};

type TestResult = Result<(), Box<dyn std::error::Error>>;

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/reference");

fn steptool(args: &[&str]) -> std::io::Result<Output> {
    Command::new(env!("CARGO_BIN_EXE_steptool"))
        .args(args)
        .stdin(Stdio::null())
        .output()
}

fn predictions() -> String {
    format!("{FIXTURES}/converted_prediction_qwen2_entry_56543.json")
}

#[test]
fn build_tsv_reproduces_row_5_of_the_qwen2_fixture() -> TestResult {
    let out = steptool(&[
        "build-tsv",
        "--chat-format",
        "qwen2",
        "--predictions",
        &predictions(),
        "--annotations",
        &format!("{FIXTURES}/reward_annotation_qwen2_entry_56543.json"),
    ])?;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let ours = String::from_utf8(out.stdout)?;
    let fixture = std::fs::read_to_string(format!("{FIXTURES}/steptool_ppo_qwen2_5rows.csv"))?;
    let (header, row) = ours.split_once('\n').ok_or("no header")?;
    assert_eq!(header, "prompt\tresponse\treward");
    let cells: Vec<&str> = row.trim_end_matches('\n').split('\t').collect();
    let expected: Vec<&str> = fixture.lines().nth(5).ok_or("row 5")?.split('\t').collect();
    // Prompt and response cells byte for byte; the rewards come from this annotation file,
    // not the run the fixture TSV was built from (formats.md §2.5):
    // step 0: mean over rounds of (5*succ + contrib)/10 = ((0+1) + (0+1) + (0+2))/10/3 = 0.4/3
    // step 1: ((0+2) + (5+3) + (0+3))/10/3 = 1.3/3; final: Unsure, Unsolved, Unsure = (0.5+0+0.5)/3
    assert_eq!(cells[0], expected[0]);
    assert_eq!(cells[1], expected[1]);
    assert_eq!(
        cells[2],
        format!(
            "[{:?}, {:?}, {:?}]",
            0.4f64 / 3.0,
            1.3f64 / 3.0,
            1.0f64 / 3.0
        )
    );
    Ok(())
}

#[test]
fn annotate_with_rules_writes_the_reference_format_and_resumes_from_its_cache() -> TestResult {
    let dir = tempfile::tempdir()?;
    let out_path = dir.path().join("annotations.json");
    let out = out_path.to_str().ok_or("path")?;
    let first = steptool(&[
        "annotate",
        "--predictions",
        &predictions(),
        "--annotator",
        "rules",
        "--out",
        out,
    ])?;
    assert!(
        first.status.success(),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    let written: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&out_path)?)?;
    let entry = &written["56543"];
    assert_eq!(entry["answer_steps"].as_array().map(Vec::len), Some(2));
    assert_eq!(
        entry["process_reward"]["0"]["succeed_tool_calling"]
            .as_array()
            .map(Vec::len),
        Some(2)
    );
    assert!(entry["is_solved"]["0"]
        .as_str()
        .is_some_and(|s| s.starts_with("AnswerStatus.")));
    // The cache sits beside the output; a second run answers from it and writes the same bytes.
    assert!(dir.path().join("annotations.json.cache").is_dir());
    let before = std::fs::read(&out_path)?;
    let second = steptool(&[
        "annotate",
        "--predictions",
        &predictions(),
        "--annotator",
        "rules",
        "--out",
        out,
    ])?;
    assert!(second.status.success());
    assert_eq!(std::fs::read(&out_path)?, before);
    // A judge without an endpoint is a usage error, not a silent fallback.
    let judge = steptool(&[
        "annotate",
        "--predictions",
        &predictions(),
        "--annotator",
        "judge",
        "--out",
        out,
    ])?;
    assert!(!judge.status.success());
    assert!(String::from_utf8_lossy(&judge.stderr).contains("--endpoint"));
    Ok(())
}

#[test]
fn empty_predictions_are_an_error_for_annotate_and_build_tsv() -> TestResult {
    let dir = tempfile::tempdir()?;
    let empty = dir.path().join("empty.json");
    std::fs::write(&empty, "{}")?;
    let empty = empty.to_str().ok_or("path")?;
    let out_path = dir.path().join("annotations.json");
    let annotate = steptool(&[
        "annotate",
        "--predictions",
        empty,
        "--annotator",
        "rules",
        "--out",
        out_path.to_str().ok_or("path")?,
    ])?;
    assert!(!annotate.status.success(), "annotating nothing must fail");
    let err = String::from_utf8(annotate.stderr)?;
    assert!(
        err.contains("empty.json") && err.contains("no trajectories"),
        "{err}"
    );
    assert!(!out_path.exists(), "no annotation file for no input");
    let build = steptool(&[
        "build-tsv",
        "--predictions",
        empty,
        "--annotations",
        &format!("{FIXTURES}/reward_annotation_qwen2_entry_56543.json"),
    ])?;
    assert!(!build.status.success(), "building from nothing must fail");
    assert!(build.stdout.is_empty(), "no header-only TSV");
    Ok(())
}

#[test]
fn ground_truth_annotation_of_synthetic_rollouts_separates_solved_from_unsolved() -> TestResult {
    let dir = tempfile::tempdir()?;
    let records = dir.path().join("r.jsonl");
    let converted = dir.path().join("c.json");
    let roll = steptool(&[
        "rollout",
        "--env",
        "synthetic",
        "--tasks",
        "12",
        "--agent",
        "noisy",
        "--noise",
        "0.3",
        "--out",
        records.to_str().ok_or("path")?,
        "--converted",
        converted.to_str().ok_or("path")?,
    ])?;
    assert!(
        roll.status.success(),
        "{}",
        String::from_utf8_lossy(&roll.stderr)
    );
    let out_path = dir.path().join("gt.json");
    let annotate = steptool(&[
        "annotate",
        "--predictions",
        converted.to_str().ok_or("path")?,
        "--annotator",
        "ground-truth",
        "--out",
        out_path.to_str().ok_or("path")?,
    ])?;
    assert!(
        annotate.status.success(),
        "{}",
        String::from_utf8_lossy(&annotate.stderr)
    );
    let written: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&out_path)?)?;
    let entries = written.as_object().ok_or("an object")?;
    assert_eq!(entries.len(), 12);
    let statuses: Vec<&str> = entries
        .values()
        .filter_map(|e| e["is_solved"]["0"].as_str())
        .collect();
    assert_eq!(statuses.len(), 12);
    // The noisy expert solves some tasks and fails others: the exact judge tells them apart
    // (the rules would say `Unsure` for every one).
    assert!(statuses.contains(&"AnswerStatus.Solved"), "{statuses:?}");
    assert!(statuses.contains(&"AnswerStatus.Unsolved"), "{statuses:?}");
    // An id that is not a synthetic task's is an error, not a made-up reward.
    let fixture = steptool(&[
        "annotate",
        "--predictions",
        &predictions(),
        "--annotator",
        "ground-truth",
        "--out",
        dir.path().join("x.json").to_str().ok_or("path")?,
    ])?;
    assert!(!fixture.status.success());
    assert!(String::from_utf8_lossy(&fixture.stderr).contains("not a synthetic task id"));
    Ok(())
}
