//! ToolEval "converted answers" (formats.md §2.1, written by `convert_to_answer_format.py`,
//! §6.1): `data/model_predictions_converted/<model>/<set>.json`, the input of reward annotation
//! and of pass-rate evaluation.
//!
//! ```text
//! { "<query_id>": { "query", "available_tools": [function dicts…, Finish],
//!     "answer": { "method", "total_steps", "final_answer",
//!                 "answer_details": [ {role: system, next: [ {role: user, next: [ {role: tool,
//!                      message: {name, arguments, response}, next: [ … ]} ]} ]} ] } } }
//! ```
//!
//! [`read_converted`] gives the raw entries ([`ConvertedEntry`], every field kept, so
//! [`write_converted`] writes the file back byte for byte as Python's `json.dump(indent=2)`);
//! [`ConvertedEntry::to_trajectory`] walks `answer_details` into a [`Trajectory`], and
//! [`ConvertedEntry::step_strings`] reproduces `tooleval/utils.py::get_steps` (§2.2), the step
//! strings the reward annotation stores.
//!
//! Quirks kept: thoughts attached to tool calls were dropped by the conversion, so steps have no
//! thought unless an `assistant` node (an assistant message without a call) precedes them; the
//! Finish node's `response` is `""`. Walking requires the linearised shape (at most one `next`
//! per node); a node with several children is reported, not silently cut to the first.

use std::path::Path;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::{Error, Location, Result};
use crate::pylit::PyValue;
use crate::{Step, ToolCall, ToolSchema, Trajectory};

/// One query's entry of a converted-answer file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConvertedEntry {
    /// The user query.
    pub query: String,
    /// The OpenAI-style function dicts offered to the model, `Finish` last.
    pub available_tools: Vec<Value>,
    /// The model's answer.
    pub answer: ConvertedAnswer,
}

/// The `answer` of a [`ConvertedEntry`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConvertedAnswer {
    /// `DFS_woFilter_w2`, `CoT@1`, ….
    pub method: String,
    /// Node count of the linearised graph (system + user + steps).
    pub total_steps: u64,
    /// The raw `Finish` argument string (or empty).
    pub final_answer: String,
    /// A list with one root node (`system`).
    pub answer_details: Vec<AnswerNode>,
}

/// Role of an [`AnswerNode`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NodeRole {
    /// The system prompt (message `""`).
    System,
    /// The user query (message `""`).
    User,
    /// A tool call with its response.
    Tool,
    /// An assistant message without a tool call.
    Assistant,
}

/// One node of `answer_details`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AnswerNode {
    /// Who produced the node.
    pub role: NodeRole,
    /// A [`ToolMessage`] for tool nodes, text otherwise.
    pub message: NodeMessage,
    /// The following node (0 or 1 after linearisation).
    pub next: Vec<AnswerNode>,
}

/// The `message` of an [`AnswerNode`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum NodeMessage {
    /// A tool call (`role: tool`).
    Tool(ToolMessage),
    /// Text (`""` for system/user, the content for assistant nodes).
    Text(String),
}

/// `{name, arguments, response}` of a tool node.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ToolMessage {
    /// Function name.
    pub name: String,
    /// Raw argument string as the model wrote it.
    pub arguments: String,
    /// Observation (`""` for `Finish`).
    pub response: String,
}

impl ToolMessage {
    /// Python's `repr` of the message dict, `{'name': …, 'arguments': …, 'response': …}`.
    pub fn repr(&self) -> String {
        PyValue::Dict(vec![
            (PyValue::Str("name".into()), PyValue::Str(self.name.clone())),
            (
                PyValue::Str("arguments".into()),
                PyValue::Str(self.arguments.clone()),
            ),
            (
                PyValue::Str("response".into()),
                PyValue::Str(self.response.clone()),
            ),
        ])
        .repr()
    }
}

impl ConvertedEntry {
    /// The nodes of `answer_details[0]` following `next`, root first. Errors when the list does
    /// not hold exactly one root or a node has more than one child.
    pub fn nodes(&self) -> Result<Vec<&AnswerNode>> {
        let roots = &self.answer.answer_details;
        if roots.len() != 1 {
            return Err(Error::format(
                Location::default().with_field("answer.answer_details"),
                format!("expected one root node, found {}", roots.len()),
            ));
        }
        let mut nodes = Vec::new();
        let mut node = &roots[0];
        loop {
            nodes.push(node);
            match node.next.as_slice() {
                [] => return Ok(nodes),
                [child] => node = child,
                children => {
                    return Err(Error::format(
                        Location::default().with_field("answer.answer_details"),
                        format!(
                            "node {} ({:?}) has {} children; a converted answer is a chain (0 or 1 `next`)",
                            nodes.len() - 1,
                            node.role,
                            children.len()
                        ),
                    ))
                }
            }
        }
    }

    /// The tool messages in order (`get_steps` walks the same nodes).
    pub fn tool_messages(&self) -> Result<Vec<&ToolMessage>> {
        Ok(self
            .nodes()?
            .into_iter()
            .filter_map(|n| match (&n.role, &n.message) {
                (NodeRole::Tool, NodeMessage::Tool(m)) => Some(m),
                _ => None,
            })
            .collect())
    }

    /// `tooleval/utils.py::get_steps` (§2.2): `"Step {k}: {repr(message)}"` for every tool node,
    /// k from 1. The reward annotation stores all but the last as `answer_steps` and the last as
    /// `"Final step: " + repr(message)` ([`ConvertedEntry::final_step_string`]).
    pub fn step_strings(&self) -> Result<Vec<String>> {
        Ok(self
            .tool_messages()?
            .iter()
            .enumerate()
            .map(|(k, m)| format!("Step {}: {}", k + 1, m.repr()))
            .collect())
    }

    /// `"Final step: " + repr(last tool message)`, if there is a tool node.
    pub fn final_step_string(&self) -> Result<Option<String>> {
        Ok(self
            .tool_messages()?
            .last()
            .map(|m| format!("Final step: {}", m.repr())))
    }

    /// The function names of `available_tools` (`function.name`), `Finish` included.
    pub fn tool_names(&self) -> Result<Vec<String>> {
        self.tools()
            .map(|tools| tools.into_iter().map(|t| t.name).collect())
    }

    fn tools(&self) -> Result<Vec<ToolSchema>> {
        self.available_tools
            .iter()
            .enumerate()
            .map(|(i, t)| {
                ToolSchema::from_openai(t.clone()).map_err(|e| {
                    e.at(Location::default().with_field(format!("available_tools[{i}]")))
                })
            })
            .collect()
    }

    /// The entry as a [`Trajectory`]: one step per tool node (`name`, `arguments`, and the
    /// `response` as observation, none for `Finish`); the text of an `assistant` node becomes
    /// the thought of the following step. An assistant node after the last tool node has no
    /// action to attach to and is an error.
    pub fn to_trajectory(&self, query_id: Option<&str>) -> Result<Trajectory> {
        let location = || Location::default().with_field(query_id.unwrap_or("<entry>").to_owned());
        let tools = self.tools().map_err(|e| e.at(location()))?;
        let mut steps = Vec::new();
        let mut pending_thought: Option<String> = None;
        for (i, node) in self
            .nodes()
            .map_err(|e| e.at(location()))?
            .into_iter()
            .enumerate()
        {
            match (&node.role, &node.message) {
                (NodeRole::System | NodeRole::User, _) => {}
                (NodeRole::Tool, NodeMessage::Tool(m)) => {
                    let call = ToolCall::new(m.name.clone(), m.arguments.clone());
                    let observation = if call.is_finish() {
                        None
                    } else {
                        Some(m.response.clone())
                    };
                    let mut step = Step::new(call, observation);
                    step.thought = pending_thought.take();
                    steps.push(step);
                }
                (NodeRole::Assistant, NodeMessage::Text(text)) => match &mut pending_thought {
                    Some(t) => {
                        t.push('\n');
                        t.push_str(text);
                    }
                    None => pending_thought = Some(text.clone()),
                },
                (role, message) => {
                    return Err(Error::format(
                        location(),
                        format!("node {i}: role {role:?} with an unexpected message {message:?}"),
                    ))
                }
            }
        }
        if let Some(text) = pending_thought {
            return Err(Error::format(
                location(),
                format!("an assistant message after the last tool call has no action to attach to: {text:?}"),
            ));
        }
        Trajectory::new(
            query_id.map(str::to_owned),
            self.query.clone(),
            tools,
            steps,
        )
        .map_err(|e| e.at(location()))
    }
}

/// Read a converted-answer file: `(query_id, entry)` in file order.
pub fn read_converted(path: impl AsRef<Path>) -> Result<Vec<(String, ConvertedEntry)>> {
    super::read_keyed(path.as_ref())
}

/// Read a converted-answer file and convert every entry to a [`Trajectory`]; the error names
/// the file and the query id.
pub fn read_converted_trajectories(path: impl AsRef<Path>) -> Result<Vec<Trajectory>> {
    let path = path.as_ref();
    read_converted(path)?
        .iter()
        .map(|(qid, entry)| {
            entry
                .to_trajectory(Some(qid))
                .map_err(|e| e.at(Location::file(path)))
        })
        .collect()
}

/// Write a converted-answer file as `convert_to_answer_format.py` does
/// (`json.dump(indent=2)`, ASCII-escaped).
pub fn write_converted(path: impl AsRef<Path>, entries: &[(String, ConvertedEntry)]) -> Result<()> {
    super::write_keyed(path.as_ref(), entries, 2, true)
}
