//! Training segments byte for byte (formats.md §1.3):
//! - the Qwen2 segments rendered from the converted prediction of query 56543 are row 5 of
//!   `steptool_ppo_qwen2_5rows.csv` (data row index 4);
//! - every row of the ToolLLaMA and Qwen2 fixtures survives parse -> render unchanged.

use steptool_mdp::formats::{converted, tsv};
use steptool_mdp::{ChatFormat, Result};

fn repo_file(rel: &str) -> String {
    format!("{}/../../{rel}", env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn qwen2_row_5_is_rendered_from_the_converted_prediction() -> Result<()> {
    let entries = converted::read_converted(repo_file(
        "fixtures/reference/converted_prediction_qwen2_entry_56543.json",
    ))?;
    let (qid, entry) = &entries[0];
    assert_eq!(qid, "56543");
    let trajectory = entry.to_trajectory(Some(qid))?;
    let rows = tsv::read_tsv_strict(repo_file("fixtures/reference/steptool_ppo_qwen2_5rows.csv"))?;
    let row = &rows[4];
    let rendered = ChatFormat::Qwen2.training_sample(&trajectory, &row.rewards)?;
    for k in 0..row.num_steps() {
        assert_eq!(rendered.prompts[k], row.prompts[k], "prompt {k}");
        assert_eq!(rendered.responses[k], row.responses[k], "response {k}");
    }
    assert_eq!(&rendered, row);
    Ok(())
}

#[test]
fn fixture_rows_round_trip_through_trajectories() -> Result<()> {
    for (file, format) in [
        (
            "fixtures/reference/steptool_ppo_toolllama_5rows.csv",
            ChatFormat::ToolLlama,
        ),
        ("fixtures/trl-baseline/train.tsv", ChatFormat::ToolLlama),
        (
            "fixtures/reference/steptool_ppo_qwen2_5rows.csv",
            ChatFormat::Qwen2,
        ),
    ] {
        let rows = tsv::read_tsv_strict(repo_file(file))?;
        assert!(rows.len() >= 5, "{file}");
        for (i, row) in rows.iter().enumerate() {
            let trajectory = format.trajectory_from_sample(row)?;
            assert_eq!(trajectory.len(), row.num_steps(), "{file} row {i}");
            assert!(
                trajectory
                    .steps()
                    .last()
                    .is_some_and(|s| s.action.is_finish()),
                "{file} row {i}: ends with Finish"
            );
            assert_eq!(
                &format.training_sample(&trajectory, &row.rewards)?,
                row,
                "{file} row {i}"
            );
        }
    }
    Ok(())
}

#[test]
fn a_sample_in_another_format_is_rejected_with_the_segment_named() -> Result<()> {
    let rows = tsv::read_tsv_strict(repo_file("fixtures/reference/steptool_ppo_qwen2_5rows.csv"))?;
    let err = ChatFormat::ToolLlama
        .trajectory_from_sample(&rows[0])
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(
        err.contains("not a toolllama training sample") && err.contains("prompt 0"),
        "{err}"
    );
    let err = ChatFormat::Llama31
        .trajectory_from_sample(&rows[0])
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(err.contains("llama3"), "{err}");
    Ok(())
}
