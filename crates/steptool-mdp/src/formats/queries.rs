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

impl TestQuery {
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
