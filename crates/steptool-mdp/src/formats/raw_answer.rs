//! Raw inference answer files (formats.md §5.4): `<output_dir>/<set>/<query_id>_<method>.json`,
//! one per query, written by StableToolBench's runners for CoT (`trys` of node chains) and DFSDT
//! (`tree`), with the OpenAI-style message lists in `answer_generation.train_messages`.
//!
//! Both message variants are read: open-model files use `tool_calls` on the assistant message
//! and `role: "tool"` replies matched by `tool_call_id`; legacy ChatGPT files use
//! `function_call` and `role: "function"` replies that directly follow the call.
//!
//! [`RawAnswer`] keeps everything (unknown fields included, in `extra` maps);
//! [`messages_to_trajectory`] turns a message list (normally `train_messages.last()`, the whole
//! trajectory) into a [`Trajectory`] the way `convert_to_answer_format.py::process_valid_data`
//! walks it (§6.1), except that the thought written next to a tool call is kept as the step's
//! thought instead of being dropped; [`chain_to_trajectory`] does the same for a CoT node chain
//! (the path the converter takes for invalid answers).

use std::path::Path;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::error::{Error, Location, Result};
use crate::{Step, ToolCall, ToolSchema, Trajectory};

/// A raw answer file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RawAnswer {
    /// Whether the run counted as solved.
    pub win: bool,
    /// CoT: number of tries.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub try_count: Option<u64>,
    /// CoT: the tries, each a chain of nodes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trys: Option<Vec<CotTry>>,
    /// DFSDT: the search tree.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tree: Option<DfsTree>,
    /// Candidate node chains.
    #[serde(default)]
    pub compare_candidates: Vec<Vec<TreeNode>>,
    /// The runner's `start()` arguments.
    #[serde(default)]
    pub forward_args: Value,
    /// The answer and the message lists.
    pub answer_generation: AnswerGeneration,
    /// Any other field.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// One CoT try.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CotTry {
    /// The nodes of the try in order.
    pub chain: Vec<TreeNode>,
    /// Whether this try won.
    pub win: bool,
    /// Any other field.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// The DFSDT tree.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DfsTree {
    /// Node count.
    pub size: u64,
    /// Longest path.
    pub max_length: u64,
    /// The root.
    pub tree: TreeNode,
    /// Any other field.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// A search-tree node (`node_json`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TreeNode {
    /// Always false in the files.
    pub is_terminal: bool,
    /// Pruned by the search.
    pub pruned: bool,
    /// A Finish node.
    pub finished: bool,
    /// Depth in the tree.
    pub depth: u64,
    /// `Thought`, `Action`, `Action Input` (absent or null for the root).
    #[serde(default)]
    pub node_type: Option<String>,
    /// Thought text, function name, or raw argument string.
    pub description: String,
    /// Elo score.
    #[serde(rename = "Elo", default)]
    pub elo: Option<f64>,
    /// Tool response (Action Input nodes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observation: Option<String>,
    /// Tool status code (Action Input nodes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observation_code: Option<i64>,
    /// Children count.
    #[serde(default)]
    pub child_count: u64,
    /// Expansion count.
    #[serde(default)]
    pub expand_num: u64,
    /// `{}` on Action Input nodes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub io_state: Option<Value>,
    /// Children (DFS trees).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub children: Option<Vec<TreeNode>>,
    /// Any other field.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// `answer_generation` of a raw answer file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AnswerGeneration {
    /// Whether a usable answer was produced.
    pub valid_data: bool,
    /// The Finish argument string (or empty).
    #[serde(default)]
    pub final_answer: String,
    /// `give_answer` / `give_up`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finish_type: Option<String>,
    /// Function dicts offered to the model, `Finish` included.
    #[serde(default)]
    pub function: Vec<Value>,
    /// Model calls made.
    #[serde(default)]
    pub query_count: u64,
    /// Tokens used.
    #[serde(default)]
    pub total_tokens: u64,
    /// One message list per Action Input node on the path to the answer; the last one is the
    /// whole trajectory.
    #[serde(default)]
    pub train_messages: Vec<Vec<ChatMessage>>,
    /// Unused by the runners (`[]`).
    #[serde(default)]
    pub chain: Vec<Value>,
    /// The user query.
    pub query: String,
    /// Any other field.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// An OpenAI-style chat message, in either variant.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChatMessage {
    /// `system`, `user`, `assistant`, `tool` or `function`.
    pub role: String,
    /// Text (may be absent or null on assistant messages with a call).
    #[serde(default)]
    pub content: Option<String>,
    /// Open-model variant: the calls of an assistant message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_calls: Option<Vec<MessageToolCall>>,
    /// Legacy variant: the call of an assistant message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub function_call: Option<FunctionCall>,
    /// Function name of a `tool` / `function` reply.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The call a `tool` reply answers (int `0` in open-model files, or a string).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_call_id: Option<Value>,
    /// Any other field (`valid`, …).
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// One entry of `tool_calls`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MessageToolCall {
    /// Call id (int or string).
    #[serde(default)]
    pub id: Value,
    /// `function`.
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// The call.
    pub function: FunctionCall,
}

/// `{name, arguments}` of a call.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FunctionCall {
    /// Function name.
    pub name: String,
    /// Raw argument string.
    pub arguments: String,
}

impl TreeNode {
    /// Every root-to-leaf path below and including this node, children in file order (the
    /// chains a DFSDT tree holds; the reference converter picks one of them at random for an
    /// invalid answer, §6.1 — choose one and pass it, minus the root, to
    /// [`chain_to_trajectory`]).
    pub fn paths(&self) -> Vec<Vec<&TreeNode>> {
        let children = self.children.as_deref().unwrap_or_default();
        if children.is_empty() {
            return vec![vec![self]];
        }
        children
            .iter()
            .flat_map(|child| child.paths())
            .map(|mut path| {
                path.insert(0, self);
                path
            })
            .collect()
    }
}

/// Read a raw answer file.
pub fn read_raw_answer(path: impl AsRef<Path>) -> Result<RawAnswer> {
    super::read_json(path.as_ref())
}

/// What [`read_answer_dir`] read: good files and one error per bad file.
#[derive(Debug)]
pub struct AnswerDirRead {
    /// `(query_id, path, answer)` for every file that parsed, in file-name order.
    pub answers: Vec<(String, std::path::PathBuf, RawAnswer)>,
    /// `(path, error)` for every file that did not.
    pub errors: Vec<(std::path::PathBuf, Error)>,
}

/// Read every answer file of `dir` whose name contains `method` (as
/// `convert_to_answer_format.py` selects them, §6.1), with `query_id = name.split('_')[0]`.
/// Files are taken in name order (the reference uses `os.listdir` order). A file that does not
/// parse is reported in `errors`, the others are still read; only an unreadable directory fails
/// the whole call.
pub fn read_answer_dir(dir: impl AsRef<Path>, method: &str) -> Result<AnswerDirRead> {
    let dir = dir.as_ref();
    let mut names = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(|source| Error::io(dir, source))? {
        let entry = entry.map_err(|source| Error::io(dir, source))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.contains(method) {
            names.push(name);
        }
    }
    names.sort();
    let mut read = AnswerDirRead {
        answers: Vec::new(),
        errors: Vec::new(),
    };
    for name in names {
        let path = dir.join(&name);
        let qid = name.split('_').next().unwrap_or_default().to_owned();
        match read_raw_answer(&path) {
            Ok(answer) => read.answers.push((qid, path, answer)),
            Err(error) => read.errors.push((path, error)),
        }
    }
    Ok(read)
}

impl RawAnswer {
    /// `answer_generation.train_messages.last()` as a [`Trajectory`] (see
    /// [`messages_to_trajectory`]); `query_id` is typically the file name's prefix.
    pub fn to_trajectory(&self, query_id: Option<&str>) -> Result<Trajectory> {
        let generation = &self.answer_generation;
        let messages = generation.train_messages.last().ok_or_else(|| {
            Error::format(
                Location::default().with_field("answer_generation.train_messages"),
                "no message list (an invalid answer: use `chain_to_trajectory` on a try)",
            )
        })?;
        messages_to_trajectory(query_id, &generation.query, &generation.function, messages)
    }
}

fn tools_from(functions: &[Value]) -> Result<Vec<ToolSchema>> {
    functions
        .iter()
        .enumerate()
        .map(|(i, f)| {
            // Raw answer files hold bare function dicts ({name, description, parameters});
            // wrap them the OpenAI way so every ToolSchema has the same shape.
            let schema = if f.get("function").is_some() {
                f.clone()
            } else {
                serde_json::json!({"type": "function", "function": f})
            };
            ToolSchema::from_openai(schema)
                .map_err(|e| e.at(Location::default().with_field(format!("function[{i}]"))))
        })
        .collect()
}

/// Append `text` to a pending thought.
fn add_thought(pending: &mut Option<String>, text: &str) {
    if text.is_empty() {
        return;
    }
    match pending {
        Some(t) => {
            t.push('\n');
            t.push_str(text);
        }
        None => *pending = Some(text.to_owned()),
    }
}

/// A message list as a [`Trajectory`] (§6.1 `process_valid_data`): system, user and reply
/// messages are skipped as messages; every call of an assistant message becomes a step whose
/// observation is the reply (`tool` message with the same `tool_call_id` later in the list, or
/// for `function_call` the directly following `function` message); a `Finish` call has no
/// observation and ends that message's calls; an assistant message without a call contributes
/// its text as the thought of the next step, as does the content of a message with calls. A
/// call whose reply is missing gets no observation. An assistant text after the last call is an
/// error (it has no action to attach to).
pub fn messages_to_trajectory(
    query_id: Option<&str>,
    query: &str,
    functions: &[Value],
    messages: &[ChatMessage],
) -> Result<Trajectory> {
    let tools = tools_from(functions)?;
    let mut steps = Vec::new();
    let mut pending: Option<String> = None;
    for (i, message) in messages.iter().enumerate() {
        if message.role != "assistant" {
            continue;
        }
        add_thought(&mut pending, message.content.as_deref().unwrap_or(""));
        if let Some(calls) = &message.tool_calls {
            for call in calls {
                let tool_call =
                    ToolCall::new(call.function.name.clone(), call.function.arguments.clone());
                if tool_call.is_finish() {
                    let mut step = Step::new(tool_call, None);
                    step.thought = pending.take();
                    steps.push(step);
                    break;
                }
                let observation = messages[i + 1..]
                    .iter()
                    .find(|m| m.role == "tool" && m.tool_call_id == Some(call.id.clone()))
                    .map(|m| m.content.clone().unwrap_or_default());
                let mut step = Step::new(tool_call, observation);
                step.thought = pending.take();
                steps.push(step);
            }
        } else if let Some(call) = &message.function_call {
            let tool_call = ToolCall::new(call.name.clone(), call.arguments.clone());
            let observation = if tool_call.is_finish() {
                None
            } else {
                messages
                    .get(i + 1)
                    .filter(|m| m.role == "function" || m.role == "tool")
                    .map(|m| m.content.clone().unwrap_or_default())
            };
            let mut step = Step::new(tool_call, observation);
            step.thought = pending.take();
            steps.push(step);
        }
    }
    let location = || Location::default().with_field(query_id.unwrap_or("<answer>").to_owned());
    if let Some(text) = pending {
        return Err(Error::format(
            location(),
            format!("assistant text after the last call has no action to attach to: {text:?}"),
        ));
    }
    Trajectory::new(query_id.map(str::to_owned), query, tools, steps).map_err(|e| e.at(location()))
}

/// A CoT node chain as a [`Trajectory`] (§6.1, invalid CoT answers): an `Action` node followed
/// by an `Action Input` node is a step (name = the Action's description, arguments = the Action
/// Input's description, observation = its observation, none for `Finish`); a `Thought` node is
/// the thought of the next step. An `Action` without its `Action Input`, or a node type not in
/// these three, is an error.
pub fn chain_to_trajectory(
    query_id: Option<&str>,
    query: &str,
    functions: &[Value],
    chain: &[TreeNode],
) -> Result<Trajectory> {
    let refs: Vec<&TreeNode> = chain.iter().collect();
    path_to_trajectory(query_id, query, functions, &refs)
}

/// [`chain_to_trajectory`] over borrowed nodes, e.g. a path of [`TreeNode::paths`]; a root node
/// (no `node_type`) at the start is skipped.
pub fn path_to_trajectory(
    query_id: Option<&str>,
    query: &str,
    functions: &[Value],
    path: &[&TreeNode],
) -> Result<Trajectory> {
    let chain = match path.first() {
        Some(root) if root.node_type.is_none() => &path[1..],
        _ => path,
    };
    let tools = tools_from(functions)?;
    let location = |k: usize| Location::default().with_field(format!("chain[{k}]"));
    let mut steps = Vec::new();
    let mut pending: Option<String> = None;
    let mut k = 0;
    while k < chain.len() {
        let node = chain[k];
        match node.node_type.as_deref() {
            Some("Thought") => add_thought(&mut pending, &node.description),
            Some("Action") => {
                let input = chain
                    .get(k + 1)
                    .filter(|n| n.node_type.as_deref() == Some("Action Input"))
                    .ok_or_else(|| {
                        Error::format(
                            location(k),
                            "an Action node must be followed by its Action Input node",
                        )
                    })?;
                let call = ToolCall::new(node.description.clone(), input.description.clone());
                let observation = if call.is_finish() {
                    None
                } else {
                    input.observation.clone()
                };
                let mut step = Step::new(call, observation);
                step.thought = pending.take();
                steps.push(step);
                k += 1;
            }
            other => {
                return Err(Error::format(
                    location(k),
                    format!("unexpected node type {other:?}"),
                ))
            }
        }
        k += 1;
    }
    if let Some(text) = pending {
        return Err(Error::format(
            location(chain.len().saturating_sub(1)),
            format!("a Thought after the last action has no action to attach to: {text:?}"),
        ));
    }
    Trajectory::new(query_id.map(str::to_owned), query, tools, steps)
}
