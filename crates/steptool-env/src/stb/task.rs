//! StableToolBench test queries (`solvable_queries/test_instruction/<set>.json`, formats.md §4.4):
//! only the fields the environment needs.

use std::path::Path;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use steptool_mdp::names::{function_name, standardize};

use crate::error::{Error, Result};

/// One entry of a query's `api_list`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiRef {
    /// `category_name` (the tools sub-folder).
    pub category_name: String,
    /// `tool_name` (original, unstandardised).
    pub tool_name: String,
    /// `api_name` (original).
    pub api_name: String,
}

/// A test query.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StbTask {
    /// `query_id` as a string (the files hold integers).
    pub query_id: String,
    /// The query.
    pub query: String,
    /// The APIs offered.
    pub api_list: Vec<ApiRef>,
    /// `relevant APIs` as `[tool_name, api_name]` pairs (original names).
    pub relevant_apis: Vec<(String, String)>,
}

fn field<'a>(v: &'a Value, key: &str, ctx: &str) -> Result<&'a str> {
    v.get(key)
        .and_then(Value::as_str)
        .ok_or_else(|| Error::data(ctx, format!("missing string field `{key}`")))
}

impl StbTask {
    /// Read one query object; `ctx` names it in errors.
    pub fn from_json(v: &Value, ctx: &str) -> Result<Self> {
        let query_id = match v.get("query_id") {
            Some(Value::Number(n)) => n.to_string(),
            Some(Value::String(s)) => s.clone(),
            _ => return Err(Error::data(ctx, "missing `query_id` (integer or string)")),
        };
        let ctx = format!("{ctx} (query {query_id})");
        let query = field(v, "query", &ctx)?.to_owned();
        let apis = v
            .get("api_list")
            .and_then(Value::as_array)
            .ok_or_else(|| Error::data(&ctx, "missing array `api_list`"))?;
        let api_list = apis
            .iter()
            .enumerate()
            .map(|(k, a)| {
                let c = format!("{ctx}, api_list[{k}]");
                Ok(ApiRef {
                    category_name: field(a, "category_name", &c)?.to_owned(),
                    tool_name: field(a, "tool_name", &c)?.to_owned(),
                    api_name: field(a, "api_name", &c)?.to_owned(),
                })
            })
            .collect::<Result<_>>()?;
        let relevant_apis = match v.get("relevant APIs") {
            None => Vec::new(),
            Some(Value::Array(pairs)) => pairs
                .iter()
                .enumerate()
                .map(|(k, p)| match p.as_array().map(Vec::as_slice) {
                    Some([Value::String(t), Value::String(a)]) => Ok((t.clone(), a.clone())),
                    _ => Err(Error::data(
                        format!("{ctx}, relevant APIs[{k}]"),
                        format!("expected [tool_name, api_name], found {p}"),
                    )),
                })
                .collect::<Result<_>>()?,
            Some(other) => {
                return Err(Error::data(
                    &ctx,
                    format!("`relevant APIs` is not an array: {other}"),
                ))
            }
        };
        Ok(Self {
            query_id,
            query,
            api_list,
            relevant_apis,
        })
    }

    /// Relevant function names: `change_name(standardize(api)) + "_for_" + standardize(tool)`.
    pub fn relevant_functions(&self) -> Vec<String> {
        self.relevant_apis
            .iter()
            .map(|(t, a)| function_name(a, &standardize(t)))
            .collect()
    }
}

/// Read a test-query file (a JSON list of queries).
pub fn read_test_queries(path: &Path) -> Result<Vec<StbTask>> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    let v: Value =
        serde_json::from_str(&text).map_err(|e| Error::json(path.display().to_string(), e))?;
    let items = v.as_array().ok_or_else(|| {
        Error::data(
            path.display().to_string(),
            "expected a JSON list of queries",
        )
    })?;
    items
        .iter()
        .enumerate()
        .map(|(k, q)| StbTask::from_json(q, &format!("{}, element {k}", path.display())))
        .collect()
}
