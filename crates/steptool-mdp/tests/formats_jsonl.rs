//! Our JSONL of trajectories: round trip of real trajectories, per-line errors.

use std::path::PathBuf;

use steptool_mdp::formats::{converted, jsonl, raw_answer};
use steptool_mdp::{Error, Result};

fn repo_file(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(rel)
}

#[test]
fn trajectories_round_trip_and_bad_lines_are_reported() -> Result<()> {
    let mut ts = converted::read_converted_trajectories(repo_file(
        "fixtures/reference/converted_prediction_qwen2_entry_56543.json",
    ))?;
    ts.push(
        raw_answer::read_raw_answer(repo_file(
            "fixtures/reference/raw_answer_stb_chatgpt_608_CoT@1.json",
        ))?
        .to_trajectory(Some("608"))?,
    );
    let dir = tempfile::tempdir().map_err(|e| Error::io("tempdir", e))?;
    let path = dir.path().join("t.jsonl");
    jsonl::write_trajectories(&path, &ts)?;
    assert_eq!(jsonl::read_trajectories_strict(&path)?, ts);

    // Line 2 broken JSON, line 3 blank, line 4 a Finish followed by another step.
    let text = jsonl::to_jsonl_string(&ts)?;
    let first = text.lines().next().unwrap_or_default().to_owned();
    // The first trajectory with its Finish step copied to the front.
    let mut value: serde_json::Value =
        serde_json::from_str(&first).map_err(|source| Error::Json {
            location: Default::default(),
            source,
        })?;
    let steps = value["steps"]
        .as_array_mut()
        .ok_or_else(|| Error::InvalidTrajectory("no steps".into()))?;
    let finish = steps.last().cloned().unwrap_or_default();
    steps.insert(0, finish);
    let finish_first = value.to_string();
    let bad = format!("{first}\n{{\"query\": \n\n{finish_first}\n{first}\n");
    std::fs::write(&path, &bad).map_err(|e| Error::io(&path, e))?;
    let read = jsonl::read_trajectories(&path)?;
    assert_eq!(
        read.trajectories
            .iter()
            .map(|(l, _)| *l)
            .collect::<Vec<_>>(),
        vec![1, 5]
    );
    assert_eq!(
        read.errors.iter().map(|(l, _)| *l).collect::<Vec<_>>(),
        vec![2, 4]
    );
    let msg = read.errors[1].1.to_string();
    assert!(
        msg.contains("t.jsonl, line 4") && msg.contains("Finish"),
        "{msg}"
    );
    assert!(jsonl::read_trajectories_strict(&path).is_err());
    Ok(())
}
