//! StableToolBench test queries and test-id files (formats.md §4.4):
//! `solvable_queries/test_instruction/<set>.json` and `solvable_queries/test_query_ids/<set>.json`.
//!
//! A query file is a JSON list of [`TestQuery`]; an id file is `{"<query_id>": 0, …}` and
//! evaluation iterates its keys ([`read_query_ids`]). [`TestQuery::relevant_function_names`] gives
//! the set Recall is measured against (`change_name(standardize(api)) + "_for_" +
//! standardize(tool)`, [`crate::names`]). Real files vary: a parameter's `default` can be a
//! string, int, float or bool, `template_response` is absent, a dict or a JSON string; unknown
//! fields are kept in `extra` rather than rejected, because these files come from a crawl.

use std::path::Path;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::error::{Error, Location, Result};
use crate::names;

/// One test query.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TestQuery {
    /// The user query.
    pub query: String,
    /// The query id (an int in the files; the id files use its decimal text).
    pub query_id: u64,
    /// The APIs offered to the model.
    pub api_list: Vec<ApiEntry>,
    /// `[tool_name, api_name]` pairs of the APIs that solve the query (original names).
    #[serde(rename = "relevant APIs")]
    pub relevant_apis: Vec<(String, String)>,
    /// Any other field, kept as it is.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// One API of a query's `api_list`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ApiEntry {
    /// RapidAPI category (folder under `tools/`, see [`names::standardize_category`]).
    pub category_name: String,
    /// Original tool name.
    pub tool_name: String,
    /// Original API name.
    pub api_name: String,
    /// API description.
    pub api_description: String,
    /// Required parameters.
    #[serde(default)]
    pub required_parameters: Vec<ApiParameter>,
    /// Optional parameters.
    #[serde(default)]
    pub optional_parameters: Vec<ApiParameter>,
    /// HTTP method.
    #[serde(default)]
    pub method: Option<String>,
    /// Example response: a dict, a JSON string, or absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub template_response: Option<Value>,
    /// Any other field, kept as it is.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// One parameter of an API.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ApiParameter {
    /// Parameter name.
    pub name: String,
    /// `STRING`, `NUMBER`, `BOOLEAN`, `ENUM`, `DATE (YYYY-MM-DD)`, `string`, `OBJECT`, ….
    #[serde(rename = "type")]
    pub kind: String,
    /// Description.
    #[serde(default)]
    pub description: String,
    /// Default value: usually a string, sometimes an int, float or bool.
    #[serde(default)]
    pub default: Value,
    /// Any other field, kept as it is.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl ApiEntry {
    /// The tool's standard name (`standardize(tool_name)`, the file stem under `tools/`).
    pub fn standard_tool_name(&self) -> String {
        names::standardize(&self.tool_name)
    }

    /// The function name without the 64-character cut ([`names::function_name`]).
    pub fn function_name(&self) -> String {
        names::function_name(&self.api_name, &self.standard_tool_name())
    }

    /// The function name the model is shown ([`names::openai_function_name`]).
    pub fn openai_function_name(&self) -> String {
        names::openai_function_name(&self.api_name, &self.standard_tool_name())
    }
}

/// Which variant of `rapidapi.py::api_json_to_openai_json` (formats.md §3.3) to reproduce.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FunctionStyle {
    /// StableToolBench / ToolBench (`toolbench/inference/Downstream_tasks/rapidapi.py`): a bare
    /// function dict, `required`/`optional` start empty (the legacy raw answer files).
    StableToolBench,
    /// The StepTool fork: `{"type": "function", "function": {...}}`, and `required`/`optional`
    /// start with an empty string `""` (the template's initial value, a quirk kept).
    StepTool,
}

/// Maximum length (characters) of a function or parameter description.
pub const DESCRIPTION_MAX_CHARS: usize = 256;

/// The `Finish` function dict both styles append last (bare; [`FunctionStyle::StepTool`] wraps it).
pub fn finish_function() -> Value {
    serde_json::json!({
        "name": "Finish",
        "description": "If you believe that you have obtained a result that can answer the task, please call this function to provide the final answer. Alternatively, if you recognize that you are unable to proceed with the task in the current state, call this function to restart. Remember: you must ALWAYS call this function at the end of your attempt, and the only part that will be shown to the user is the final answer, so it should contain sufficient information.",
        "parameters": {
            "type": "object",
            "properties": {
                "return_type": {"type": "string", "enum": ["give_answer", "give_up_and_restart"]},
                "final_answer": {
                    "type": "string",
                    "description": "The final answer you want to give the user. You should have this field if \"return_type\"==\"give_answer\""
                }
            },
            "required": ["return_type"]
        }
    })
}

/// Python's `str.isspace` (Rust's `char::is_whitespace` misses U+001C..U+001F).
fn py_space(c: char) -> bool {
    c.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&c)
}

/// The first `n` characters (Python `s[:n]`).
fn first_chars(s: &str, n: usize) -> String {
    s.chars().take(n).collect()
}

/// Python's `len(str(value)) != 0`: only an empty string is empty.
fn non_empty_default(value: &Value) -> bool {
    !matches!(value, Value::String(s) if s.is_empty())
}

impl ApiEntry {
    /// The function dict `api_json_to_openai_json(api, standard_tool_name)` builds (§3.3):
    /// name = [`names::openai_function_name`]; description = `This is the subfunction for tool
    /// "<tool>", you can use this tool.` plus `The description of this function is: "<desc>"`
    /// when the API description is not blank (`desc` = stripped description with the API name
    /// replaced by the function name, cut to 256 characters); parameters typed `integer` for
    /// `NUMBER`, `boolean` for `BOOLEAN`, `string` otherwise, descriptions cut to 256
    /// characters, `example_value` unless the default is `""`; parameter names through
    /// `change_name(standardize(..))`. Quirk kept: parameters are only listed when the API has at
    /// least one required parameter (the optional loop is nested in that `if`).
    pub fn to_function(&self, standard_tool_name: &str, style: FunctionStyle) -> Value {
        let name = names::openai_function_name(&self.api_name, standard_tool_name);
        let mut description = format!(
            "This is the subfunction for tool \"{standard_tool_name}\", you can use this tool."
        );
        let stripped = self.api_description.trim_matches(py_space);
        if !stripped.is_empty() {
            let replaced = if self.api_name.is_empty() {
                // Python's replace("", x) inserts x between every character; never seen in data.
                let mut out = name.clone();
                for c in stripped.chars() {
                    out.push(c);
                    out.push_str(&name);
                }
                out
            } else {
                stripped.replace(&self.api_name, &name)
            };
            description.push_str(&format!(
                "The description of this function is: \"{}\"",
                first_chars(&replaced, DESCRIPTION_MAX_CHARS)
            ));
        }
        let initial = match style {
            FunctionStyle::StableToolBench => vec![],
            FunctionStyle::StepTool => vec![Value::String(String::new())],
        };
        let mut properties = Map::new();
        let mut required = initial.clone();
        let mut optional = initial;
        if !self.required_parameters.is_empty() {
            for (params, list) in [
                (&self.required_parameters, &mut required),
                (&self.optional_parameters, &mut optional),
            ] {
                for param in params {
                    let pname = names::change_name(&names::standardize(&param.name));
                    let kind = match param.kind.as_str() {
                        "NUMBER" => "integer",
                        "BOOLEAN" => "boolean",
                        _ => "string",
                    };
                    let mut prop = Map::new();
                    prop.insert("type".into(), Value::String(kind.into()));
                    prop.insert(
                        "description".into(),
                        Value::String(first_chars(&param.description, DESCRIPTION_MAX_CHARS)),
                    );
                    if non_empty_default(&param.default) {
                        prop.insert("example_value".into(), param.default.clone());
                    }
                    // A repeated name overwrites the property but is listed twice, as in Python.
                    properties.insert(pname.clone(), Value::Object(prop));
                    list.push(Value::String(pname));
                }
            }
        }
        let function = serde_json::json!({
            "name": name,
            "description": description,
            "parameters": {
                "type": "object",
                "properties": properties,
                "required": required,
                "optional": optional,
            }
        });
        match style {
            FunctionStyle::StableToolBench => function,
            FunctionStyle::StepTool => {
                serde_json::json!({"type": "function", "function": function})
            }
        }
    }
}

impl TestQuery {
    /// The function list the model is offered for this query: one dict per API (tool names
    /// standardised) and `Finish` last, in `style`.
    pub fn functions(&self, style: FunctionStyle) -> Vec<Value> {
        let mut out: Vec<Value> = self
            .api_list
            .iter()
            .map(|api| api.to_function(&api.standard_tool_name(), style))
            .collect();
        out.push(match style {
            FunctionStyle::StableToolBench => finish_function(),
            FunctionStyle::StepTool => {
                serde_json::json!({"type": "function", "function": finish_function()})
            }
        });
        out
    }

    /// The function names of `relevant APIs` (the Recall reference set, §6.4).
    pub fn relevant_function_names(&self) -> Vec<String> {
        self.relevant_apis
            .iter()
            .map(|(tool, api)| names::relevant_function_name(tool, api))
            .collect()
    }

    /// The function names of `api_list`, in order.
    pub fn function_names(&self) -> Vec<String> {
        self.api_list.iter().map(ApiEntry::function_name).collect()
    }
}

/// Read a test-query file. A query that does not fit is an error naming the file and its index.
pub fn read_test_queries(path: impl AsRef<Path>) -> Result<Vec<TestQuery>> {
    let path = path.as_ref();
    let items: Vec<Value> = super::read_json(path)?;
    items
        .into_iter()
        .enumerate()
        .map(|(i, item)| {
            serde_json::from_value(item).map_err(|source| Error::Json {
                location: Location::file(path).with_row(i),
                source,
            })
        })
        .collect()
}

/// Read a test-id file: its keys, in file order.
pub fn read_query_ids(path: impl AsRef<Path>) -> Result<Vec<String>> {
    let path = path.as_ref();
    let map: Map<String, Value> = super::read_json(path)?;
    Ok(map.into_iter().map(|(k, _)| k).collect())
}
