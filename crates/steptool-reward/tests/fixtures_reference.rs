//! The rule annotator and the reference file formats on the real fixtures of query 56543
//! (`fixtures/reference/`): converted prediction in, annotation entry and rewards out.

use std::path::PathBuf;

use anyhow::{ensure, Context, Result};
use steptool_reward::reference;
use steptool_reward::rules::contribution_ratio;
use steptool_reward::{AnswerStatus, RewardAnnotator, RewardShaper, RuleAnnotator, StepAnnotation};

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../fixtures")
        .join(name)
}

#[test]
fn rules_on_converted_prediction_56543() -> Result<()> {
    let trajectories = reference::read_converted_predictions(fixture(
        "reference/converted_prediction_qwen2_entry_56543.json",
    ))?;
    ensure!(trajectories.len() == 1);
    let t = &trajectories[0];
    // get_album_details, rojmusic, Finish.
    assert_eq!(t.len(), 3);
    assert_eq!(t.tools().len(), 7);

    let golden: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(fixture(
        "golden/steptool-reward/rules_56543.json",
    ))?)?;
    let steps = golden["56543"]["steps"]
        .as_array()
        .context("golden steps")?;
    let annotator = RuleAnnotator::default();
    let verdicts = annotator.verdicts(t)?;
    for (k, (v, g)) in verdicts.iter().zip(steps).enumerate() {
        assert_eq!(Some(v.succ), g["succ"].as_bool(), "step {k} succ");
        assert_eq!(v.lcs_ratio, g["ratio"].as_f64(), "step {k} ratio");
        assert!(v.format.is_none(), "step {k}: {:?}", v.format);
    }
    // Step 1 (index 1): LCS 221 of 515 response characters = 0.4291 >= 0.3 -> contributes.
    let ratio = contribution_ratio(
        t.steps()[1].observation.as_deref().context("observation")?,
        t.final_answer().context("answer")?,
    );
    assert_eq!(ratio, Some(221.0 / 515.0));

    let a = annotator.annotate(t)?;
    let round = &a.rounds()[0];
    // Both responses start with {"error": "", "response": -> SuccCalling 1; the first response
    // is empty (Contribution 0), the second contributes (5 on the 0-5 scale).
    assert_eq!(round.succeed_tool_calling, vec![1.0, 1.0]);
    assert_eq!(round.contributions, vec![0.0, 5.0]);
    assert_eq!(round.status, AnswerStatus::Unsure);
    // Rewards: (5*1 + 0)/10 = 0.5, (5*1 + 5)/10 = 1.0, Unsure = 0.5.
    assert_eq!(RewardShaper::default().shape(&a), vec![0.5, 1.0, 0.5]);
    Ok(())
}

#[test]
fn annotation_entry_text_matches_reference_file() -> Result<()> {
    let t = reference::read_converted_predictions(fixture(
        "reference/converted_prediction_qwen2_entry_56543.json",
    ))?
    .remove(0);
    let path = fixture("reference/reward_annotation_qwen2_entry_56543.json");
    let entries = reference::read_entries(&path)?;
    let (qid, expected) = &entries[0];
    assert_eq!(qid, "56543");
    // Build the entry from the trajectory plus the reference scores: the Python-repr step
    // strings and the final step must match the reference file byte for byte.
    let annotation = reference::to_annotation(qid, expected)?;
    let ours = reference::to_entry(&t, &annotation)?;
    assert_eq!(ours.answer_steps, expected.answer_steps);
    assert_eq!(ours.final_step, expected.final_step);
    assert_eq!(ours.tool_names, expected.tool_names);
    assert_eq!(ours.query, expected.query);
    assert_eq!(ours.process_reward, expected.process_reward);
    assert_eq!(ours.is_solved, expected.is_solved);

    // Writing gives json.dump(indent=4, ensure_ascii=False) of the file.
    let dir = tempfile::tempdir()?;
    let out = dir.path().join("a.json");
    reference::write_annotations(&out, &[(qid.clone(), ours)])?;
    let original = std::fs::read_to_string(&path)?;
    assert_eq!(
        std::fs::read_to_string(&out)?,
        original.trim_end_matches('\n')
    );
    Ok(())
}

#[test]
fn reference_annotation_to_rewards() -> Result<()> {
    let path = fixture("reference/reward_annotation_qwen2_entry_56543.json");
    let entries = reference::read_annotations(&path)?;
    let a: &StepAnnotation = &entries[0].1;
    assert_eq!(a.rounds().len(), 3);
    let r = RewardShaper::default().shape_f64(a);
    // succ [0,0],[0,1],[0,0]; contrib [1,2],[1,3],[2,3]; Unsure, Unsolved, Unsure:
    // step 0: ((0+1) + (0+1) + (0+2))/10/3 = 0.1333…
    // step 1: ((0+2) + (5+3) + (0+3))/10/3 = 0.4333…
    // final: (0.5 + 0 + 0.5)/3 = 0.3333…
    let expected = [0.4 / 3.0, 1.3 / 3.0, 1.0 / 3.0];
    for (got, want) in r.iter().zip(expected) {
        approx::assert_abs_diff_eq!(*got, want, epsilon = 1e-12);
    }
    assert_eq!(r.len(), 3);
    Ok(())
}

#[test]
fn malformed_reference_entries_are_named() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("bad.json");
    let entry = |process: &str, solved: &str| {
        format!(
            r#"{{"9": {{"query": "q", "tool_names": ["Finish"], "answer_steps": ["Step 1: x"], "process_reward": {process}, "final_step": "f", "is_solved": {solved}}}}}"#
        )
    };
    for (process, solved, needle) in [
        (
            r#"{"0": {"succeed_tool_calling": [1], "contributions": [3]}}"#,
            r#"{"1": "AnswerStatus.Solved"}"#,
            "differ",
        ),
        (
            r#"{"0": {"succeed_tool_calling": [1, 1], "contributions": [3, 3]}}"#,
            r#"{"0": "AnswerStatus.Solved"}"#,
            "1 intermediate",
        ),
        (
            r#"{"0": {"succeed_tool_calling": [1], "contributions": [3]}}"#,
            r#"{"0": "Solved?"}"#,
            "found \"Solved?\"",
        ),
        (
            r#"{"0": {"succeed_tool_calling": [1], "contributions": [9]}}"#,
            r#"{"0": "AnswerStatus.Solved"}"#,
            "from 0 to 5",
        ),
    ] {
        std::fs::write(&path, entry(process, solved))?;
        let err = reference::read_annotations(&path)
            .err()
            .context("accepted")?;
        let text = err.to_string();
        // The file and the query id are named (`"9"` from our check, `9` from the reader).
        ensure!(
            text.contains(needle)
                && text.contains("bad.json")
                && (text.contains("\"9\"") || text.contains("`9`")),
            "{text}"
        );
    }
    Ok(())
}

#[test]
fn training_row_of_56543_matches_the_reference_tsv() -> Result<()> {
    use steptool_mdp::pylit::{repr_float_list, repr_str_list};
    use steptool_mdp::ChatFormat;

    let t = reference::read_converted_predictions(fixture(
        "reference/converted_prediction_qwen2_entry_56543.json",
    ))?
    .remove(0);
    let path = fixture("reference/reward_annotation_qwen2_entry_56543.json");
    let annotation = reference::read_annotations(&path)?.remove(0).1;
    let sample =
        reference::training_sample(ChatFormat::Qwen2, &t, &annotation, &RewardShaper::default())?;

    let rows = steptool_mdp::formats::tsv::read_tsv_strict(fixture(
        "reference/steptool_ppo_qwen2_5rows.csv",
    ))?;
    // Prompt and response cells: byte for byte.
    assert_eq!(
        repr_str_list(&sample.prompts),
        repr_str_list(&rows[4].prompts)
    );
    assert_eq!(
        repr_str_list(&sample.responses),
        repr_str_list(&rows[4].responses)
    );
    assert_eq!(sample.prompts, rows[4].prompts);
    assert_eq!(sample.responses, rows[4].responses);
    // The CSV's rewards come from another annotation run ([0.433…, 0.666…, 0.0]); ours follow
    // the formula on this annotation: [0.4/3, 1.3/3, 1.0/3] (see reference_annotation_to_rewards).
    assert_eq!(
        repr_float_list(&sample.rewards),
        "[0.13333333333333333, 0.43333333333333335, 0.3333333333333333]"
    );
    Ok(())
}

#[test]
fn training_row_written_as_tsv_matches_the_reference_bytes() -> Result<()> {
    use steptool_mdp::formats::tsv::{read_tsv_strict, tsv_line};
    use steptool_mdp::ChatFormat;

    // With the CSV row's own rewards, the whole row written as pandas does (tab, QUOTE_MINIMAL)
    // equals line 6 of the file (header + 5 rows) byte for byte.
    let t = reference::read_converted_predictions(fixture(
        "reference/converted_prediction_qwen2_entry_56543.json",
    ))?
    .remove(0);
    let path = fixture("reference/steptool_ppo_qwen2_5rows.csv");
    let raw = std::fs::read_to_string(&path)?;
    let line = raw.lines().nth(5).context("line 6")?;
    let rows = read_tsv_strict(&path)?;
    let sample = ChatFormat::Qwen2.training_sample(&t, &rows[4].rewards)?;
    assert_eq!(tsv_line(&sample), line);
    Ok(())
}
