//! SFT conversation files (§3.5), StableToolBench test queries and id files (§4.4).

use std::path::PathBuf;

use serde_json::Value;
use steptool_mdp::formats::sft::SftRole;
use steptool_mdp::formats::{queries, sft};
use steptool_mdp::{Error, Result};

fn repo_file(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(rel)
}

#[test]
fn sft_entry_reads_and_writes_back() -> Result<()> {
    let path = repo_file("fixtures/reference/sft_qwen2_gpt4_dfs_entry_10012.json");
    let entries = sft::read_sft(&path)?;
    assert_eq!(entries.len(), 1);
    let (qid, entry) = &entries[0];
    assert_eq!(
        (qid.as_str(), entry.cnt, entry.instances.len()),
        ("10012", 2, 2)
    );
    // Instance N has N messages after the system prompt: Step 2 = user + assistant,
    // Step 4 = user + assistant + function + assistant.
    for inst in &entry.instances {
        let (n, query) = inst
            .step_and_query()
            .ok_or_else(|| Error::InvalidTrajectory(inst.id.clone()))?;
        assert_eq!(inst.conversations.len(), n + 1);
        assert_eq!(inst.conversations[0].from, SftRole::System);
        assert_eq!(inst.conversations[1].value, format!("\n{query}\nBegin!\n"));
        let target = inst
            .target()
            .ok_or_else(|| Error::InvalidTrajectory("no target".into()))?;
        assert!(std::ptr::eq(target, &inst.conversations[n]));
        assert!(target.value.starts_with("\nThought: "));
    }
    assert!(entry.instances[0].conversations[0]
        .value
        .starts_with("You are AutoGPT"));
    let dir = tempfile::tempdir().map_err(|e| Error::io("tempdir", e))?;
    let out = dir.path().join("sft.json");
    sft::write_sft(&out, &entries)?;
    let same = std::fs::read(&out).map_err(|e| Error::io(&out, e))?
        == std::fs::read(&path).map_err(|e| Error::io(&path, e))?;
    assert!(same, "SFT file does not round-trip");
    Ok(())
}

#[test]
fn test_queries_and_ids() -> Result<()> {
    let qs = queries::read_test_queries(repo_file(
        "fixtures/reference/test_queries_G1_instruction_first10.json",
    ))?;
    let ids = queries::read_query_ids(repo_file(
        "fixtures/reference/test_query_ids_G1_instruction_first10.json",
    ))?;
    assert_eq!(qs.len(), 10);
    let qids: Vec<String> = qs.iter().map(|q| q.query_id.to_string()).collect();
    assert_eq!(ids, qids);
    assert_eq!(ids[0], "588");
    for q in &qs {
        let offered = q.function_names();
        for relevant in q.relevant_function_names() {
            assert!(
                offered.contains(&relevant),
                "query {}: {relevant} not offered",
                q.query_id
            );
        }
        assert!(q.extra.is_empty());
    }
    // Query 2144: `Driver's quotes by ID` -> driver_s_quotes_by_id_for_f1_drivers_quotes.
    let q2144 = qs
        .iter()
        .find(|q| q.query_id == 2144)
        .ok_or_else(|| Error::InvalidTrajectory("2144".into()))?;
    assert_eq!(
        q2144.relevant_function_names()[0],
        "driver_s_quotes_by_id_for_f1_drivers_quotes"
    );
    // `default` keeps its JSON type (an int for some NUMBER parameters); template_response is a
    // dict, a string or absent.
    let params = qs
        .iter()
        .flat_map(|q| &q.api_list)
        .flat_map(|a| a.required_parameters.iter().chain(&a.optional_parameters));
    assert!(params
        .clone()
        .any(|p| p.kind == "NUMBER" && p.default.is_i64()));
    assert!(params.clone().any(|p| p.kind == "ENUM"));
    let responses: Vec<Option<&Value>> = qs
        .iter()
        .flat_map(|q| &q.api_list)
        .map(|a| a.template_response.as_ref())
        .collect();
    assert!(responses.iter().any(|r| r.is_some_and(Value::is_object)));
    assert!(responses.iter().any(|r| r.is_some_and(Value::is_string)));
    assert!(responses
        .iter()
        .any(|r| r.is_none() || r.is_some_and(Value::is_null)));
    Ok(())
}

#[test]
fn a_bad_query_names_its_index() -> Result<()> {
    let dir = tempfile::tempdir().map_err(|e| Error::io("tempdir", e))?;
    let path = dir.path().join("q.json");
    std::fs::write(&path, r#"[{"query": "a", "query_id": 1, "api_list": [], "relevant APIs": []}, {"query": "b", "api_list": [], "relevant APIs": []}]"#)
        .map_err(|e| Error::io(&path, e))?;
    let err = queries::read_test_queries(&path)
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(
        err.contains("q.json") && err.contains("row 1") && err.contains("query_id"),
        "{err}"
    );
    Ok(())
}

/// §3.3, StableToolBench style: the function list built from query 608's `api_list` is exactly
/// (key order included) the `function` list of the raw answer file that run wrote.
#[test]
fn functions_of_query_608_match_the_raw_answer_file() -> Result<()> {
    use steptool_mdp::formats::{python_json_dumps, queries::FunctionStyle, raw_answer};
    let qs = queries::read_test_queries(repo_file(
        "fixtures/reference/test_queries_G1_instruction_first10.json",
    ))?;
    let q = qs
        .iter()
        .find(|q| q.query_id == 608)
        .ok_or_else(|| Error::InvalidTrajectory("608".into()))?;
    let ours = Value::Array(q.functions(FunctionStyle::StableToolBench));
    let raw = raw_answer::read_raw_answer(repo_file(
        "fixtures/reference/raw_answer_stb_chatgpt_608_CoT@1.json",
    ))?;
    let theirs = Value::Array(raw.answer_generation.function.clone());
    assert_eq!(
        python_json_dumps(&ours, Some(2), true),
        python_json_dumps(&theirs, Some(2), true)
    );
    Ok(())
}

/// §3.3, StepTool style: the `""` first entry of `required`/`optional`, the wrapper, and the
/// Finish dict, checked against the converted prediction's `available_tools`.
#[test]
fn steptool_style_functions_match_the_converted_entry() -> Result<()> {
    use steptool_mdp::formats::{
        converted,
        queries::{ApiEntry, FunctionStyle},
    };
    let conv = converted::read_converted(repo_file(
        "fixtures/reference/converted_prediction_qwen2_entry_56543.json",
    ))?;
    let tools = &conv[0].1.available_tools;
    // The API behind tools[1], as its function dict describes it (api name not in the
    // description, so the description is kept verbatim; one required STRING parameter).
    let api: ApiEntry = serde_json::from_value(serde_json::json!({
        "category_name": "Music", "tool_name": "Bandamp Downloader API", "api_name": "Get Album Details",
        "api_description": tools[1]["function"]["description"].as_str().and_then(|d| d.split("The description of this function is: \"").nth(1)).map(|d| d.trim_end_matches('"')).unwrap_or_default(),
        "required_parameters": [{"name": "url", "type": "STRING", "description": "", "default": "https://hammeredhulls.bandcamp.com/album/s-t"}],
        "optional_parameters": [], "method": "GET"
    })).map_err(|source| Error::Json { location: Default::default(), source })?;
    assert_eq!(
        api.to_function(&api.standard_tool_name(), FunctionStyle::StepTool),
        tools[1]
    );
    let finish = serde_json::json!({"type": "function", "function": queries::finish_function()});
    assert_eq!(tools.last(), Some(&finish));
    // Only optional parameters: no properties at all (the quirk), in both styles.
    let only_optional: ApiEntry = serde_json::from_value(serde_json::json!({
        "category_name": "c", "tool_name": "T", "api_name": "A", "api_description": "  ",
        "required_parameters": [], "optional_parameters": [{"name": "id", "type": "NUMBER", "description": "", "default": 0}]
    })).map_err(|source| Error::Json { location: Default::default(), source })?;
    let f = only_optional.to_function("t", FunctionStyle::StepTool);
    assert_eq!(
        f["function"]["parameters"],
        serde_json::json!({"type": "object", "properties": {}, "required": [""], "optional": [""]})
    );
    assert_eq!(
        f["function"]["description"],
        "This is the subfunction for tool \"t\", you can use this tool."
    );
    Ok(())
}

/// The reference trains each instance's last turn on its prefix; folded, a trajectory is one
/// conversation with every target marked (SFT file: Step 2 is a prefix of Step 4).
#[test]
fn sft_instances_fold_into_whole_conversations() -> Result<()> {
    let path = repo_file("fixtures/reference/sft_qwen2_gpt4_dfs_entry_10012.json");
    let entries = sft::read_sft(&path)?;
    let (convs, counts) = sft::conversations(&entries, Some(&path))?;
    assert_eq!(
        (counts.instances, counts.conversations, counts.duplicates),
        (2, 1, 0)
    );
    let c = &convs[0];
    assert_eq!(
        (c.query_id.as_str(), c.instance, c.targets.clone()),
        ("10012", 1, vec![2, 4])
    );
    assert_eq!(c.turns, entries[0].1.instances[1].conversations);
    Ok(())
}

/// The RFT file's Step 5 has another system prompt: no other instance is its prefix, so it is
/// a conversation of its own with only its last turn trained; its `"tool"` turns read as
/// function turns.
#[test]
fn rft_instances_fold_and_keep_a_branch_of_their_own() -> Result<()> {
    let path = repo_file("fixtures/reference/rft_data_entry_87720.json");
    let entries = sft::read_sft(&path)?;
    let (convs, counts) = sft::conversations(&entries, Some(&path))?;
    assert_eq!((counts.instances, counts.conversations), (3, 2));
    let got: Vec<(usize, Vec<usize>)> = convs
        .iter()
        .map(|c| (c.instance, c.targets.clone()))
        .collect();
    assert_eq!(got, vec![(1, vec![2, 4]), (2, vec![4])]);
    assert_eq!(convs[0].turns[3].from, SftRole::Function);
    Ok(())
}

#[test]
fn sft_fold_counts_duplicates_and_names_bad_instances() -> Result<()> {
    let path = repo_file("fixtures/reference/sft_qwen2_gpt4_dfs_entry_10012.json");
    let mut entries = sft::read_sft(&path)?;
    let dup = entries[0].1.instances[0].clone();
    entries[0].1.instances.push(dup);
    let (convs, counts) = sft::conversations(&entries, Some(&path))?;
    assert_eq!(
        (counts.instances, counts.conversations, counts.duplicates),
        (3, 1, 1)
    );
    assert_eq!(convs[0].targets, vec![2, 4]);

    // An instance that ends with a tool observation has no target.
    entries[0].1.instances[1].conversations.truncate(4);
    let err = sft::conversations(&entries, Some(&path))
        .err()
        .ok_or_else(|| Error::InvalidTrajectory("accepted".into()))?
        .to_string();
    assert!(
        err.contains("sft_qwen2_gpt4_dfs_entry_10012.json")
            && err.contains("10012.instances[1]")
            && err.contains("Function"),
        "{err}"
    );
    entries[0].1.instances[1].conversations.clear();
    let err = sft::conversations(&entries, None)
        .err()
        .ok_or_else(|| Error::InvalidTrajectory("accepted".into()))?
        .to_string();
    assert!(
        err.contains("10012.instances[1]") && err.contains("no turns"),
        "{err}"
    );
    Ok(())
}
