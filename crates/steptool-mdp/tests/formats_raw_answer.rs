//! Raw answer files (formats.md §5.4): the legacy `function_call` fixture, and the open-model
//! `tool_calls` variant and a DFS tree written inline.

use std::path::PathBuf;

use steptool_mdp::formats::raw_answer::{self, RawAnswer};
use steptool_mdp::{Action, Error, Result};

fn repo_file(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(rel)
}

#[test]
fn legacy_cot_answer_reads_and_converts() -> Result<()> {
    let answer = raw_answer::read_raw_answer(repo_file(
        "fixtures/reference/raw_answer_stb_chatgpt_608_CoT@1.json",
    ))?;
    assert!(answer.win);
    assert_eq!(answer.try_count, Some(1));
    let gen = &answer.answer_generation;
    assert!(gen.valid_data);
    assert_eq!((gen.query_count, gen.total_tokens), (4, 6663));
    // One message list per Action Input node: 3, 5, 7, 8 messages.
    let lens: Vec<usize> = gen.train_messages.iter().map(Vec::len).collect();
    assert_eq!(lens, vec![3, 5, 7, 8]);

    let t = answer.to_trajectory(Some("608"))?;
    let names: Vec<&str> = t.steps().iter().map(|s| s.action.call().name()).collect();
    assert_eq!(
        names,
        vec![
            "get_channel_clips_for_kick_com_api_kick_api",
            "get_channel_details_for_kick_com_api_kick_api",
            "Finish"
        ]
    );
    assert!(t.steps()[0].observation.as_deref().is_some_and(
        |o| o.starts_with(r#"{"error": "", "response": "The 'Get Channel Clips' API"#)
    ));
    // The assistant message without a call (message 6) is the thought of the Finish step.
    assert!(t.steps()[2]
        .thought
        .as_deref()
        .is_some_and(|th| th.starts_with("The channel clips for 'gmhikaru'")));
    assert!(matches!(t.steps()[2].action, Action::Finish(_)));
    assert_eq!(t.steps()[2].action.call().arguments(), gen.final_answer);
    assert_eq!(t.tools().len(), 11);

    // The CoT chain gives the same steps (§6.1 path for invalid answers).
    let trys = answer
        .trys
        .as_ref()
        .ok_or_else(|| Error::InvalidTrajectory("no trys".into()))?;
    let from_chain =
        raw_answer::chain_to_trajectory(Some("608"), &gen.query, &gen.function, &trys[0].chain)?;
    assert_eq!(from_chain, t);
    Ok(())
}

const OPEN_MODEL: &str = r#"{
  "win": false,
  "tree": {"size": 3, "max_length": 2, "tree": {"is_terminal": false, "pruned": false, "finished": false, "depth": 0,
     "node_type": null, "description": "", "Elo": 1000.0, "child_count": 1, "expand_num": 0,
     "children": [{"is_terminal": false, "pruned": false, "finished": false, "depth": 1, "node_type": "Action",
        "description": "f_for_t", "Elo": 1000.0, "child_count": 1, "expand_num": 0, "children": []}]}},
  "compare_candidates": [],
  "forward_args": {},
  "answer_generation": {"valid_data": true, "final_answer": "", "finish_type": "give_up", "function": [
       {"name": "f_for_t", "description": "d", "parameters": {}}, {"name": "Finish", "description": "", "parameters": {}}],
     "query_count": 2, "total_tokens": 10, "chain": [], "query": "q?",
     "train_messages": [[
       {"role": "system", "content": "sys"}, {"role": "user", "content": "q?"},
       {"role": "assistant", "content": "try f", "tool_calls": [{"id": 0, "type": "function", "function": {"name": "f_for_t", "arguments": "{\"a\": 1}"}}]},
       {"role": "user", "content": "diversity hint", "valid": false},
       {"role": "tool", "name": "f_for_t", "content": "{\"error\": \"\", \"response\": \"ok\"}", "tool_call_id": 0},
       {"role": "assistant", "content": "give up", "tool_calls": [{"id": 0, "type": "function", "function": {"name": "Finish", "arguments": "{\"return_type\": \"give_up_and_restart\"}"}}]}
     ]]}
}"#;

#[test]
fn open_model_tool_calls_variant_converts() -> Result<()> {
    let answer: RawAnswer = serde_json::from_str(OPEN_MODEL).map_err(|source| Error::Json {
        location: Default::default(),
        source,
    })?;
    let tree = answer
        .tree
        .as_ref()
        .ok_or_else(|| Error::InvalidTrajectory("no tree".into()))?;
    assert_eq!(tree.tree.children.as_ref().map(Vec::len), Some(1));
    assert_eq!(
        answer.answer_generation.train_messages[0][3]
            .extra
            .get("valid"),
        Some(&serde_json::Value::Bool(false))
    );
    let t = answer.to_trajectory(Some("9"))?;
    assert_eq!(t.len(), 2);
    assert_eq!(t.steps()[0].thought.as_deref(), Some("try f"));
    assert_eq!(
        t.steps()[0].observation.as_deref(),
        Some(r#"{"error": "", "response": "ok"}"#)
    );
    assert_eq!(t.steps()[1].thought.as_deref(), Some("give up"));
    assert!(matches!(&t.steps()[1].action, Action::Finish(f) if f.final_answer.is_none()));
    assert_eq!(t.tools()[0].name, "f_for_t");
    Ok(())
}

#[test]
fn trailing_assistant_text_is_reported() -> Result<()> {
    let text = OPEN_MODEL.replace(
        r#"{"role": "assistant", "content": "give up", "tool_calls": [{"id": 0, "type": "function", "function": {"name": "Finish", "arguments": "{\"return_type\": \"give_up_and_restart\"}"}}]}"#,
        r#"{"role": "assistant", "content": "I stop here."}"#,
    );
    let answer: RawAnswer = serde_json::from_str(&text).map_err(|source| Error::Json {
        location: Default::default(),
        source,
    })?;
    let err = answer
        .to_trajectory(Some("9"))
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(
        err.contains("field `9`") && err.contains("I stop here."),
        "{err}"
    );
    Ok(())
}

fn node(
    kind: &str,
    description: &str,
    observation: Option<&str>,
    children: Vec<serde_json::Value>,
) -> serde_json::Value {
    let mut n = serde_json::json!({"is_terminal": false, "pruned": false, "finished": false, "depth": 0,
        "node_type": kind, "description": description, "Elo": 1000.0, "child_count": children.len(),
        "expand_num": 0, "children": children});
    if let Some(o) = observation {
        n["observation"] = serde_json::Value::String(o.to_owned());
        n["observation_code"] = serde_json::json!(0);
    }
    n
}

/// A DFSDT tree with two branches after the first call: every root-to-leaf path converts.
#[test]
fn dfs_tree_paths_convert() -> Result<()> {
    let answer_leaf = node(
        "Action",
        "Finish",
        None,
        vec![node(
            "Action Input",
            r#"{"return_type": "give_answer", "final_answer": "42"}"#,
            Some(""),
            vec![],
        )],
    );
    let give_up_leaf = node(
        "Thought",
        "nothing works",
        None,
        vec![node(
            "Action",
            "Finish",
            None,
            vec![node(
                "Action Input",
                r#"{"return_type": "give_up_and_restart"}"#,
                Some(""),
                vec![],
            )],
        )],
    );
    let mut root = node(
        "Action",
        "",
        None,
        vec![node(
            "Action",
            "f_for_t",
            None,
            vec![node(
                "Action Input",
                "{}",
                Some("{\"response\": 1}"),
                vec![answer_leaf, give_up_leaf],
            )],
        )],
    );
    root["node_type"] = serde_json::Value::Null;
    let root: raw_answer::TreeNode =
        serde_json::from_value(root).map_err(|source| Error::Json {
            location: Default::default(),
            source,
        })?;
    let functions = vec![
        serde_json::json!({"name": "f_for_t"}),
        serde_json::json!({"name": "Finish"}),
    ];
    let paths = root.paths();
    // root, f, input, Finish, input = 5 nodes; root, f, input, Thought, Finish, input = 6 nodes.
    assert_eq!(paths.iter().map(Vec::len).collect::<Vec<_>>(), vec![5, 6]);
    let answered = raw_answer::path_to_trajectory(Some("1"), "q", &functions, &paths[0])?;
    assert_eq!(answered.final_answer(), Some("42"));
    assert_eq!(
        answered.steps()[0].observation.as_deref(),
        Some("{\"response\": 1}")
    );
    let gave_up = raw_answer::path_to_trajectory(Some("1"), "q", &functions, &paths[1])?;
    assert_eq!(gave_up.len(), 2);
    assert_eq!(gave_up.steps()[1].thought.as_deref(), Some("nothing works"));
    assert!(gave_up.final_answer().is_none() && gave_up.finish().is_some());
    // A path cut after an Action lacks its Action Input.
    let cut = &paths[0][..4];
    let err = raw_answer::path_to_trajectory(Some("1"), "q", &functions, cut)
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(
        err.contains("chain[2]") && err.contains("Action Input"),
        "{err}"
    );
    Ok(())
}

#[test]
fn answer_dirs_are_read_file_by_file() -> Result<()> {
    let dir = tempfile::tempdir().map_err(|e| Error::io("tempdir", e))?;
    let src = repo_file("fixtures/reference/raw_answer_stb_chatgpt_608_CoT@1.json");
    let copy = |name: &str| -> Result<()> {
        let to = dir.path().join(name);
        std::fs::copy(&src, &to)
            .map(|_| ())
            .map_err(|e| Error::io(&to, e))
    };
    copy("608_CoT@1.json")?;
    copy("1073_CoT@1.json")?;
    copy("608_DFS_woFilter_w2.json")?; // other method: not selected
    let broken = dir.path().join("99_CoT@1.json");
    std::fs::write(&broken, "{\"win\": tru").map_err(|e| Error::io(&broken, e))?;
    let read = raw_answer::read_answer_dir(dir.path(), "CoT@1")?;
    let qids: Vec<&str> = read.answers.iter().map(|(q, _, _)| q.as_str()).collect();
    assert_eq!(qids, vec!["1073", "608"]);
    assert_eq!(read.errors.len(), 1);
    assert!(
        read.errors[0].1.to_string().contains("99_CoT@1.json"),
        "{}",
        read.errors[0].1
    );
    Ok(())
}
