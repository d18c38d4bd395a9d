//! `names.rs` against Python's ToolBench functions (golden data from
//! `scripts/golden/names_golden.py`) and against the function names a real StableToolBench run
//! showed the model (raw answer file of query 608).

use std::path::PathBuf;

use serde_json::Value;
use steptool_mdp::names::{
    change_name, function_name, relevant_function_name, standardize, standardize_category,
};

type TestResult = Result<(), Box<dyn std::error::Error>>;

fn repo_file(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(rel)
}

fn load(rel: &str) -> Result<Value, Box<dyn std::error::Error>> {
    Ok(serde_json::from_str(&std::fs::read_to_string(repo_file(
        rel,
    ))?)?)
}

fn pairs(v: &Value, key: &str) -> Result<Vec<Vec<String>>, Box<dyn std::error::Error>> {
    Ok(serde_json::from_value(v[key].clone())?)
}

#[test]
fn names_match_python_golden() -> TestResult {
    let golden = load("fixtures/golden/mdp/names.json")?;
    let standardize_cases = pairs(&golden, "standardize")?;
    assert!(
        standardize_cases.len() > 60,
        "golden file has too few cases"
    );
    for case in &standardize_cases {
        assert_eq!(standardize(&case[0]), case[1], "standardize({:?})", case[0]);
    }
    for case in pairs(&golden, "change_name")? {
        assert_eq!(change_name(&case[0]), case[1], "change_name({:?})", case[0]);
    }
    for case in pairs(&golden, "standardize_category")? {
        assert_eq!(
            standardize_category(&case[0]),
            case[1],
            "standardize_category({:?})",
            case[0]
        );
    }
    for case in pairs(&golden, "function_name")? {
        assert_eq!(
            relevant_function_name(&case[0], &case[1]),
            case[2],
            "function name of {case:?}"
        );
    }
    Ok(())
}

/// Query 608 of G1_instruction: the function names derived from its `api_list` are exactly the
/// names (minus `Finish`) that the StableToolBench run listed in its raw answer file.
#[test]
fn function_names_of_query_608_match_the_raw_answer_file() -> TestResult {
    let queries = load("fixtures/reference/test_queries_G1_instruction_first10.json")?;
    let query = queries
        .as_array()
        .and_then(|qs| qs.iter().find(|q| q["query_id"] == 608))
        .ok_or("query 608 missing from the test-query fixture")?;
    let mut derived = Vec::new();
    for api in query["api_list"]
        .as_array()
        .ok_or("api_list is not a list")?
    {
        let tool = api["tool_name"]
            .as_str()
            .ok_or("tool_name is not a string")?;
        let name = api["api_name"].as_str().ok_or("api_name is not a string")?;
        derived.push(function_name(name, &standardize(tool)));
    }
    let raw = load("fixtures/reference/raw_answer_stb_chatgpt_608_CoT@1.json")?;
    let shown: Vec<String> = raw["answer_generation"]["function"]
        .as_array()
        .ok_or("function is not a list")?
        .iter()
        .filter_map(|f| f["name"].as_str().map(str::to_owned))
        .filter(|n| n != "Finish")
        .collect();
    assert_eq!(shown.len(), 10);
    assert_eq!(derived, shown);
    assert_eq!(
        derived[1],
        "get_chat_user_like_user_from_chat_for_kick_com_api_kick_api"
    );
    Ok(())
}
