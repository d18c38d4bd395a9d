//! Tools, their OpenAI-style schemas, and the registry an environment dispatches calls with.
//!
//! A [`Tool`] is one callable function (one RapidAPI endpoint in StableToolBench terms), named
//! `<api>_for_<tool>` and described by an OpenAI function dict (formats.md §3.3). The
//! [`ToolRegistry`] keeps tools in prompt order, resolves the name a model wrote (exactly, or by
//! the reference's suffix match), and lists the function dicts with the `Finish` tool last.

use std::collections::HashMap;
use std::sync::Arc;

use serde_json::{json, Value};
use steptool_mdp::FINISH_TOOL;

use crate::error::{Error, Result};
use crate::pyjson;

/// The `Finish` tool's description, verbatim from the reference (formats.md §3.3).
pub const FINISH_DESCRIPTION: &str = "If you believe that you have obtained a result that can answer the task, please call this function to provide the final answer. Alternatively, if you recognize that you are unable to proceed with the task in the current state, call this function to restart. Remember: you must ALWAYS call this function at the end of your attempt, and the only part that will be shown to the user is the final answer, so it should contain sufficient information.";

/// The `Finish` function dict exactly as the reference appends it to every tool list
/// (formats.md §3.3), key order kept.
pub fn finish_function() -> Value {
    json!({"type": "function", "function": {
        "name": FINISH_TOOL,
        "description": FINISH_DESCRIPTION,
        "parameters": {"type": "object", "properties": {
            "return_type": {"type": "string", "enum": ["give_answer", "give_up_and_restart"]},
            "final_answer": {"type": "string", "description": "The final answer you want to give the user. You should have this field if \"return_type\"==\"give_answer\""}
        }, "required": ["return_type"]}
    }})
}

/// What a tool returns: the `{"error": ..., "response": ...}` object of StableToolBench.
#[derive(Debug, Clone, PartialEq)]
pub struct ToolOutput {
    /// Empty on success, otherwise what went wrong.
    pub error: String,
    /// The payload (any JSON).
    pub response: Value,
}

impl ToolOutput {
    /// A successful response.
    pub fn ok(response: Value) -> Self {
        Self {
            error: String::new(),
            response,
        }
    }

    /// A failed call with an empty response, as the reference writes them.
    pub fn err(error: impl Into<String>) -> Self {
        Self {
            error: error.into(),
            response: Value::String(String::new()),
        }
    }

    /// Whether the error field is empty.
    pub fn is_ok(&self) -> bool {
        self.error.is_empty()
    }

    /// The observation string: Python `json.dumps({"error": .., "response": ..})`.
    pub fn to_observation(&self) -> String {
        pyjson::dumps(
            &json!({"error": self.error, "response": self.response}),
            None,
        )
    }
}

/// One callable function.
///
/// Implementations must be deterministic for a given argument string when used with the
/// DFSDT rollout (it replays nothing, but clones environments and expects equal answers).
pub trait Tool: Send + Sync {
    /// The OpenAI-style function dict `{"type": "function", "function": {"name", "description", "parameters"}}`.
    fn schema(&self) -> &Value;

    /// Call the function with the raw argument string the model wrote.
    fn call(&self, arguments: &str) -> ToolOutput;

    /// The function name (read from the schema).
    fn name(&self) -> &str {
        self.schema()
            .pointer("/function/name")
            .and_then(Value::as_str)
            .unwrap_or("")
    }
}

impl std::fmt::Debug for dyn Tool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Tool({})", self.name())
    }
}

/// How a called name is matched against the registry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NameMatch {
    /// The first tool (in prompt order) whose name ends with the called name, as the reference
    /// client does (`function["name"].endswith(action_name)`, formats.md §4.1) — so
    /// `weather_for_x` matches `get_weather_for_x`, and an empty name matches the first tool.
    #[default]
    Suffix,
    /// Only the exact name.
    Exact,
}

/// Tools in prompt order, addressable by function name.
#[derive(Clone, Default)]
pub struct ToolRegistry {
    tools: Vec<Arc<dyn Tool>>,
    index: HashMap<String, usize>,
}

impl std::fmt::Debug for ToolRegistry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(self.tools.iter().map(|t| t.name()))
            .finish()
    }
}

impl ToolRegistry {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    /// Add a tool at the end. Rejects an empty name, the reserved `Finish` name and
    /// duplicates (the reference dedupes silently; here it is a data error).
    pub fn register(&mut self, tool: Arc<dyn Tool>) -> Result<()> {
        let name = tool.name().to_owned();
        if name.is_empty() {
            return Err(Error::data(
                "tool registry",
                format!(
                    "tool schema has no string `function.name`: {}",
                    tool.schema()
                ),
            ));
        }
        if name == FINISH_TOOL {
            return Err(Error::data(
                "tool registry",
                "`Finish` is reserved: the registry appends it itself",
            ));
        }
        if self.index.contains_key(&name) {
            return Err(Error::data(
                "tool registry",
                format!("duplicate function name `{name}`"),
            ));
        }
        self.index.insert(name, self.tools.len());
        self.tools.push(tool);
        Ok(())
    }

    /// Number of tools (without `Finish`).
    pub fn len(&self) -> usize {
        self.tools.len()
    }

    /// Whether there is no tool.
    pub fn is_empty(&self) -> bool {
        self.tools.is_empty()
    }

    /// The tools in prompt order.
    pub fn tools(&self) -> &[Arc<dyn Tool>] {
        &self.tools
    }

    /// The tool with exactly this name.
    pub fn get(&self, name: &str) -> Option<&Arc<dyn Tool>> {
        self.index.get(name).map(|&k| &self.tools[k])
    }

    /// Resolve a called name. `Finish` is never resolved here (environments handle it first).
    pub fn resolve(&self, name: &str, how: NameMatch) -> Option<&Arc<dyn Tool>> {
        match how {
            NameMatch::Exact => self.get(name),
            NameMatch::Suffix => self
                .get(name)
                .or_else(|| self.tools.iter().find(|t| t.name().ends_with(name))),
        }
    }

    /// The function dicts in prompt order with the `Finish` function last (formats.md §3.3).
    pub fn functions(&self) -> Vec<Value> {
        let mut out: Vec<Value> = self.tools.iter().map(|t| t.schema().clone()).collect();
        out.push(finish_function());
        out
    }

    /// The function names in prompt order with `Finish` last.
    pub fn names(&self) -> Vec<String> {
        let mut out: Vec<String> = self.tools.iter().map(|t| t.name().to_owned()).collect();
        out.push(FINISH_TOOL.to_owned());
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Echo(Value);
    impl Tool for Echo {
        fn schema(&self) -> &Value {
            &self.0
        }
        fn call(&self, arguments: &str) -> ToolOutput {
            ToolOutput::ok(Value::String(arguments.into()))
        }
    }

    fn echo(name: &str) -> Arc<dyn Tool> {
        Arc::new(Echo(
            json!({"type": "function", "function": {"name": name}}),
        ))
    }

    #[test]
    fn suffix_matching_follows_reference() -> Result<()> {
        let mut r = ToolRegistry::new();
        r.register(echo("get_weather_for_meteo"))?;
        r.register(echo("weather_for_meteo"))?;
        // exact name wins over an earlier suffix match
        assert_eq!(
            r.resolve("weather_for_meteo", NameMatch::Suffix)
                .map(|t| t.name()),
            Some("weather_for_meteo")
        );
        // suffix: first in prompt order
        assert_eq!(
            r.resolve("for_meteo", NameMatch::Suffix).map(|t| t.name()),
            Some("get_weather_for_meteo")
        );
        assert_eq!(
            r.resolve("", NameMatch::Suffix).map(|t| t.name()),
            Some("get_weather_for_meteo")
        );
        assert!(r.resolve("for_meteo", NameMatch::Exact).is_none());
        assert!(r.register(echo("weather_for_meteo")).is_err());
        assert!(r.register(echo("Finish")).is_err());
        let f = r.functions();
        assert_eq!(f.len(), 3);
        assert_eq!(f[2]["function"]["name"], "Finish");
        assert_eq!(
            r.names(),
            vec!["get_weather_for_meteo", "weather_for_meteo", "Finish"]
        );
        Ok(())
    }

    #[test]
    fn observation_is_python_json() {
        let o = ToolOutput::ok(json!({"temp": 21.0}));
        assert_eq!(
            o.to_observation(),
            r#"{"error": "", "response": {"temp": 21.0}}"#
        );
        assert_eq!(
            ToolOutput::err("bad").to_observation(),
            r#"{"error": "bad", "response": ""}"#
        );
    }
}
