//! The inference system prompt reproduces the SFT fixture's system message byte for byte
//! (`fixtures/reference/sft_qwen2_gpt4_dfs_entry_10012.json`, formats.md §3.1 and §3.5).

use serde_json::Value;
use steptool_mdp::chat::system_prompt::{
    process_system_message, system_message, task_description, user_message,
};
use steptool_mdp::pylit::{self, PyValue};
use steptool_mdp::{Error, Location, Result};

/// Python `json.loads`-style value of a parsed literal (for feeding the prompt builder).
fn to_json(v: &PyValue) -> Value {
    match v {
        PyValue::None => Value::Null,
        PyValue::Bool(b) => Value::Bool(*b),
        PyValue::Int(i) => Value::from(*i),
        PyValue::Float(f) => Value::from(*f),
        PyValue::Str(s) | PyValue::BigInt(s) => Value::String(s.clone()),
        PyValue::List(items) | PyValue::Tuple(items) => {
            Value::Array(items.iter().map(to_json).collect())
        }
        PyValue::Dict(pairs) => Value::Object(
            pairs
                .iter()
                .map(|(k, v)| (k.as_str().unwrap_or_default().to_owned(), to_json(v)))
                .collect(),
        ),
    }
}

#[test]
fn sft_system_prompt_round_trips() -> Result<()> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../fixtures/reference/sft_qwen2_gpt4_dfs_entry_10012.json"
    );
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    let data: Value = serde_json::from_str(&text).map_err(|source| Error::Json {
        location: Location::file(path),
        source,
    })?;
    let entry = data
        .as_object()
        .and_then(|o| o.values().next())
        .ok_or_else(|| Error::format(Location::file(path), "empty"))?;
    let conversation = &entry["instances"][0]["conversations"];
    let system = conversation[0]["value"].as_str().unwrap_or_default();
    let user = conversation[1]["value"].as_str().unwrap_or_default();

    // Recover the inputs from the text: the tool lines of the task description and the
    // function list literal.
    let (head, functions_literal) = system
        .split_once("\nSpecifically, you have access to the following APIs: ")
        .ok_or_else(|| Error::format(Location::file(path), "no function list"))?;
    let tools_block = head
        .split_once("You have access of the following tools:\n")
        .map(|x| x.1)
        .unwrap_or_default();
    let mut tools = Vec::new();
    for (k, line) in tools_block.lines().enumerate() {
        let rest = line
            .strip_prefix(&format!("{}.", k + 1))
            .unwrap_or_default();
        let (name, desc) = rest.split_once(": ").unwrap_or_default();
        tools.push((name.to_owned(), desc.to_owned()));
    }
    assert_eq!(tools.len(), 3);
    let functions = match pylit::parse(functions_literal)? {
        PyValue::List(items) => items.iter().map(to_json).collect::<Vec<_>>(),
        other => panic!("expected a list, got {}", other.type_name()),
    };
    assert!(functions.len() > 3);

    let rebuilt = process_system_message(&system_message(&task_description(&tools)), &functions);
    assert_eq!(rebuilt, system);
    // The query sits between the fixed user-turn markers.
    let query = user
        .strip_prefix('\n')
        .and_then(|u| u.strip_suffix("\nBegin!\n"))
        .unwrap_or_default();
    assert_eq!(user_message(query), user);
    Ok(())
}
