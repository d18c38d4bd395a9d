//! ToolEval converted answers and GPT reward annotations over the real entry of query 56543
//! (the same trajectory in both files, and row 4 of the Qwen2 training TSV).

use std::path::PathBuf;

use steptool_mdp::formats::annotation;
use steptool_mdp::formats::converted::{self, NodeMessage, NodeRole};
use steptool_mdp::formats::tsv;
use steptool_mdp::AnswerStatus;
use steptool_mdp::{pylit, Action, Error, Result};

fn repo_file(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(rel)
}

const CONVERTED: &str = "fixtures/reference/converted_prediction_qwen2_entry_56543.json";
const ANNOTATION: &str = "fixtures/reference/reward_annotation_qwen2_entry_56543.json";

fn read_bytes(path: &PathBuf) -> Result<Vec<u8>> {
    std::fs::read(path).map_err(|e| Error::io(path, e))
}

#[test]
fn converted_entry_reads_walks_and_writes_back() -> Result<()> {
    let path = repo_file(CONVERTED);
    let entries = converted::read_converted(&path)?;
    assert_eq!(entries.len(), 1);
    let (qid, entry) = &entries[0];
    assert_eq!(qid, "56543");
    assert_eq!(entry.answer.method, "DFS_woFilter_w2");
    // total_steps counts system + user + 3 tool nodes = 5.
    assert_eq!(entry.answer.total_steps, 5);
    let roles: Vec<NodeRole> = entry.nodes()?.iter().map(|n| n.role).collect();
    assert_eq!(
        roles,
        vec![
            NodeRole::System,
            NodeRole::User,
            NodeRole::Tool,
            NodeRole::Tool,
            NodeRole::Tool
        ]
    );
    assert!(matches!(&entry.nodes()?[0].message, NodeMessage::Text(t) if t.is_empty()));

    let t = entry.to_trajectory(Some(qid))?;
    assert_eq!(t.query_id(), Some("56543"));
    assert_eq!(t.len(), 3);
    let names: Vec<&str> = t.steps().iter().map(|s| s.action.call().name()).collect();
    assert_eq!(
        names,
        vec![
            "get_album_details_for_bandamp_downloader_api",
            "rojmusic_for_rojmusic",
            "Finish"
        ]
    );
    assert_eq!(
        t.steps()[1].action.call().arguments(),
        r#"{"rojmusic":"station"}"#
    );
    assert!(t.steps()[1].observation.as_deref().is_some_and(
        |o| o.starts_with(r#"{"error": "", "response": "The input parameter 'rojmusic'"#)
    ));
    assert!(matches!(t.steps()[2].action, Action::Finish(_)) && t.steps()[2].observation.is_none());
    assert!(t
        .final_answer()
        .is_some_and(|a| a.starts_with("I've attempted to fetch the details")));
    // Finish's raw argument string is answer.final_answer.
    assert_eq!(
        t.steps()[2].action.call().arguments(),
        entry.answer.final_answer
    );
    assert_eq!(t.tools().len(), entry.available_tools.len());
    assert_eq!(t.tools().last().map(|s| s.name.as_str()), Some("Finish"));

    // json.dump(indent=2) byte for byte.
    let dir = tempfile::tempdir().map_err(|e| Error::io("tempdir", e))?;
    let out = dir.path().join("converted.json");
    converted::write_converted(&out, &entries)?;
    assert!(
        read_bytes(&out)? == read_bytes(&path)?,
        "converted file does not round-trip"
    );
    let all = converted::read_converted_trajectories(&path)?;
    assert_eq!(all, vec![t]);
    Ok(())
}

#[test]
fn annotation_entry_matches_spec_and_the_converted_steps() -> Result<()> {
    let path = repo_file(ANNOTATION);
    let entries = annotation::read_annotations(&path)?;
    assert_eq!(entries.len(), 1);
    let (qid, ann) = &entries[0];
    assert_eq!(qid, "56543");
    ann.check_lengths()?;
    // formats.md §2.4: 2 mid steps, rounds succ=[0,0],[0,1],[0,0], contrib=[1,2],[1,3],[2,3],
    // statuses Unsure/Unsolved/Unsure (rounds listed in file order).
    assert_eq!(ann.num_mid_steps(), 2);
    let by_round = |r: &str| {
        ann.process_reward
            .iter()
            .find(|(k, _)| k == r)
            .map(|(_, v)| v.as_f64())
    };
    assert_eq!(by_round("0"), Some((vec![0.0, 0.0], vec![1.0, 2.0])));
    assert_eq!(by_round("1"), Some((vec![0.0, 1.0], vec![1.0, 3.0])));
    assert_eq!(by_round("2"), Some((vec![0.0, 0.0], vec![2.0, 3.0])));
    let status = |r: &str| ann.is_solved.iter().find(|(k, _)| k == r).map(|(_, v)| v.0);
    assert_eq!(status("0"), Some(AnswerStatus::Unsure));
    assert_eq!(status("1"), Some(AnswerStatus::Unsolved));
    assert_eq!(status("2"), Some(AnswerStatus::Unsure));

    // The annotation's step strings are get_steps() of the converted entry (§2.2): all but the
    // last tool step, and the last as "Final step: …".
    let conv = converted::read_converted(repo_file(CONVERTED))?;
    let entry = &conv[0].1;
    let steps = entry.step_strings()?;
    assert_eq!(steps.len(), 3);
    assert_eq!(ann.answer_steps, steps[..2].to_vec());
    assert_eq!(Some(ann.final_step.clone()), entry.final_step_string()?);
    assert_eq!(ann.tool_names, entry.tool_names()?);
    assert_eq!(ann.query, entry.query);

    // json.dump(indent=4, ensure_ascii=False) byte for byte, numbers keep their spelling.
    let dir = tempfile::tempdir().map_err(|e| Error::io("tempdir", e))?;
    let out = dir.path().join("annotation.json");
    annotation::write_annotations(&out, &entries)?;
    assert!(
        read_bytes(&out)? == read_bytes(&path)?,
        "annotation file does not round-trip"
    );
    Ok(())
}

/// Row 4 of the Qwen2 TSV is query 56543: its text holds the converted entry's tool names
/// (`str(list)`), and each step's name, arguments and observation (formats.md §1.3, provenance).
#[test]
fn qwen2_tsv_row_4_is_built_from_the_converted_entry() -> Result<()> {
    let conv = converted::read_converted(repo_file(CONVERTED))?;
    let t = conv[0].1.to_trajectory(Some(&conv[0].0))?;
    let samples =
        tsv::read_tsv_strict(repo_file("fixtures/reference/steptool_ppo_qwen2_5rows.csv"))?;
    let row = &samples[4];
    assert_eq!(row.num_steps(), t.len());
    let tools = pylit::repr_str_list(&conv[0].1.tool_names()?);
    assert!(row.prompts[0].contains(&format!(
        "Specifically, you have access to the following APIs: {tools}<|im_end|>"
    )));
    assert!(row.prompts[0].contains(t.query()));
    for (i, step) in t.steps().iter().enumerate() {
        let call = step.action.call();
        assert_eq!(
            row.responses[i],
            format!(
                "Thought: \nAction: {}\nAction Input: {}<|im_end|>\n",
                call.name(),
                call.arguments()
            )
        );
        if let Some(obs) = &step.observation {
            assert_eq!(
                row.prompts[i + 1],
                format!("<|im_start|>function\n{obs}<|im_end|>\n<|im_start|>assistant\n")
            );
        }
    }
    Ok(())
}

#[test]
fn malformed_entries_name_the_query() -> Result<()> {
    let dir = tempfile::tempdir().map_err(|e| Error::io("tempdir", e))?;
    let path = dir.path().join("bad.json");
    std::fs::write(&path, r#"{"1": {"query": "q", "available_tools": [], "answer": {"method": "CoT@1", "total_steps": 2, "final_answer": ""}}}"#)
        .map_err(|e| Error::io(&path, e))?;
    let err = converted::read_converted(&path)
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(
        err.contains("bad.json") && err.contains("field `1`") && err.contains("answer_details"),
        "{err}"
    );
    // A branching graph is reported, not cut.
    std::fs::write(&path, r#"{"2": {"query": "q", "available_tools": [], "answer": {"method": "CoT@1", "total_steps": 2, "final_answer": "",
        "answer_details": [{"role": "system", "message": "", "next": [{"role": "user", "message": "", "next": []}, {"role": "user", "message": "", "next": []}]}]}}}"#)
        .map_err(|e| Error::io(&path, e))?;
    let entries = converted::read_converted(&path)?;
    let err = entries[0]
        .1
        .to_trajectory(Some("2"))
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(
        err.contains("field `2`") && err.contains("has 2 children"),
        "{err}"
    );
    Ok(())
}
