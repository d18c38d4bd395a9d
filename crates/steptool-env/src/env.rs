//! The environment interface and the parts of the reference environment every implementation
//! shares: status codes, `Finish` handling, and the system prompt (formats.md §3.1, §4.1).
//!
//! ```text
//!   reset(task) ──▶ Context { system, user, functions }      (the initial state s_1)
//!   step(call)  ──▶ Transition { observation, code, status }  (s_{t+1}; Continue/Terminated/Truncated)
//! ```

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use steptool_mdp::{ToolCall, FINISH_TOOL};

use crate::conversation::Message;
use crate::error::Result;
use crate::pyjson;

/// The reference's status code of one step (`rapidapi_wrapper._step`, formats.md §4.1).
///
/// The reference's own comments swap the meanings of 7 and 8; the code maps the server's
/// `"Unauthorized error..."` to 7 and `"Unsubscribed error..."` to 8, and so do we.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(into = "u8", try_from = "u8")]
#[repr(u8)]
pub enum StatusCode {
    /// 0: a normal response (including responses whose `error` field is set by the tool).
    Normal = 0,
    /// 1: no function with that name (`invalid_hallucination_function_name`).
    HallucinatedName = 1,
    /// 2: malformed input (only produced by `Finish` handling).
    BadInput = 2,
    /// 3: `Finish` with `give_answer`: the episode ends with an answer.
    FinalAnswer = 3,
    /// 4: `Finish` with `give_up_and_restart`: the chain is pruned.
    GiveUp = 4,
    /// 5: the tool server timed out.
    Timeout = 5,
    /// 6: `"API not working error..."` (404).
    NotWorking = 6,
    /// 7: `"Unauthorized error..."`.
    Unauthorized = 7,
    /// 8: `"Unsubscribed error..."`.
    Unsubscribed = 8,
    /// 9: `"Too many requests error..."`.
    TooManyRequests = 9,
    /// 10: `"Rate limit per minute error..."`.
    RateLimit = 10,
    /// 11: `"Message error..."`.
    MessageError = 11,
    /// 12: the request to the tool server failed (HTTP status not 200, body not JSON).
    SendError = 12,
}

impl From<StatusCode> for u8 {
    fn from(c: StatusCode) -> u8 {
        c as u8
    }
}

impl TryFrom<u8> for StatusCode {
    type Error = String;
    fn try_from(v: u8) -> std::result::Result<Self, String> {
        use StatusCode::*;
        Ok(match v {
            0 => Normal,
            1 => HallucinatedName,
            2 => BadInput,
            3 => FinalAnswer,
            4 => GiveUp,
            5 => Timeout,
            6 => NotWorking,
            7 => Unauthorized,
            8 => Unsubscribed,
            9 => TooManyRequests,
            10 => RateLimit,
            11 => MessageError,
            12 => SendError,
            _ => {
                return Err(format!(
                    "status code {v} is not one of the reference's 0..=12"
                ))
            }
        })
    }
}

impl StatusCode {
    /// The code for a tool server response's `error` field (formats.md §4.1).
    pub fn from_error_field(error: &str) -> Self {
        match error {
            "API not working error..." => StatusCode::NotWorking,
            "Unauthorized error..." => StatusCode::Unauthorized,
            "Unsubscribed error..." => StatusCode::Unsubscribed,
            "Too many requests error..." => StatusCode::TooManyRequests,
            "Rate limit per minute error..." => StatusCode::RateLimit,
            "Message error..." => StatusCode::MessageError,
            _ => StatusCode::Normal,
        }
    }
}

/// Whether the episode goes on after a step.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StepStatus {
    /// The episode continues.
    Continue,
    /// The episode ended by the agent's own `Finish` (answer, status 3, or give-up, status 4).
    Terminated,
    /// The environment's step budget ran out before a `Finish`.
    Truncated,
}

/// What one step returns.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Transition {
    /// The observation shown to the agent (already truncated).
    pub observation: String,
    /// The reference status code.
    pub code: StatusCode,
    /// Continue, terminated or truncated.
    pub status: StepStatus,
}

impl Transition {
    /// A transition whose status follows from the code: 3 and 4 terminate, all else continues.
    pub fn from_code(observation: String, code: StatusCode) -> Self {
        let status = match code {
            StatusCode::FinalAnswer | StatusCode::GiveUp => StepStatus::Terminated,
            _ => StepStatus::Continue,
        };
        Self {
            observation,
            code,
            status,
        }
    }
}

/// The initial state of an episode: what the agent sees, and ground truth it must not see.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Context {
    /// The task's id.
    pub query_id: String,
    /// The user's query.
    pub query: String,
    /// The system prompt, stages 1-2 of formats.md §3.1 (the chat format adds stage 3).
    pub system: String,
    /// The user prompt `"\n{query}\nBegin!\n"` (formats.md §3.2).
    pub user: String,
    /// The OpenAI function dicts on offer, `Finish` last.
    pub functions: Vec<Value>,
    /// Ground truth for the metrics (never shown to agents): relevant function names.
    #[serde(default)]
    pub relevant_functions: Vec<String>,
    /// Ground truth for exact judging, when the task has one (synthetic tasks).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reference_answer: Option<String>,
}

impl Context {
    /// The opening messages `[system, user]`.
    pub fn messages(&self) -> Vec<Message> {
        vec![Message::system(&self.system), Message::user(&self.user)]
    }

    /// The function names on offer, in order.
    pub fn function_names(&self) -> Vec<String> {
        self.functions
            .iter()
            .filter_map(|f| f.pointer("/function/name").and_then(Value::as_str))
            .map(str::to_owned)
            .collect()
    }
}

/// A tool-use environment: one task at a time.
///
/// `Clone` is the reference's `io_state` deep copy: DFSDT snapshots the environment at every
/// node and continues each child from its own copy.
pub trait Environment: Clone + Send {
    /// What [`Environment::reset`] takes.
    type Task: Send + Sync;

    /// Start an episode on `task`; returns the initial context.
    fn reset(&mut self, task: &Self::Task) -> Result<Context>;

    /// Execute one action. Infrastructure problems the reference turns into observations
    /// (timeouts, HTTP errors) are observations here too; `Err` is reserved for problems the
    /// run cannot continue from (an unreadable cache file, no task).
    fn step(&mut self, call: &ToolCall) -> Result<Transition>;

    /// Whether a `Finish` with `give_answer` was accepted (the reference's `check_success`).
    fn succeeded(&self) -> bool;
}

/// The outcome of the reference's `Finish` handling.
#[derive(Debug, Clone, PartialEq)]
pub struct FinishOutcome {
    /// The observation string (the reference's literal strings, not all valid JSON).
    pub observation: String,
    /// 2 (malformed), 3 (answer) or 4 (give up).
    pub code: StatusCode,
    /// The final answer, for code 3 (a string as written, or the JSON text of a non-string).
    pub final_answer: Option<String>,
}

/// Handle a `Finish` call exactly as `rapidapi_wrapper._step` (StepTool's copy, formats.md §4.1):
///
/// 1. `json.loads(input, strict=False)`, else `json.loads(input + '"}', strict=False)`;
/// 2. else substring heuristics: `"return_type":` / `'return_type':` with `give_answer` or
///    `give_up_and_restart` (with or without a space after the colon), otherwise `"invalid"`;
///    the final answer is the rest of the string after `"final_answer": "` (or `"final_answer":"`,
///    `'final_answer': `, `'final_answer':`);
/// 3. no `return_type` → `{error:"must have "return_type""}`, 2; `give_up_and_restart` →
///    `{"response":"chose to give up and restart"}`, 4; `give_answer` without `final_answer` →
///    `{error:"must have "final_answer""}`, 2; `give_answer` → `{"response":"successfully giving
///    the final answer."}`, 3; anything else → `{error:""return_type" is not a valid choice"}`, 2.
///
/// Where Python would crash (arguments that parse to a non-object, e.g. a list), the arguments
/// count as having no `return_type`.
pub fn reference_finish(action_input: &str) -> FinishOutcome {
    let parsed = pyjson::loads_nonstrict(action_input)
        .or_else(|| pyjson::loads_nonstrict(&format!("{action_input}\"}}")));
    let data: Map<String, Value> = match parsed {
        Some(Value::Object(map)) => map,
        Some(_) => Map::new(),
        None => heuristic_finish(action_input),
    };
    let outcome = |observation: &str, code, final_answer| FinishOutcome {
        observation: observation.to_owned(),
        code,
        final_answer,
    };
    match data.get("return_type") {
        None => outcome(
            "{error:\"must have \"return_type\"\"}",
            StatusCode::BadInput,
            None,
        ),
        Some(Value::String(s)) if s == "give_up_and_restart" => outcome(
            "{\"response\":\"chose to give up and restart\"}",
            StatusCode::GiveUp,
            None,
        ),
        Some(Value::String(s)) if s == "give_answer" => match data.get("final_answer") {
            None => outcome(
                "{error:\"must have \"final_answer\"\"}",
                StatusCode::BadInput,
                None,
            ),
            Some(answer) => outcome(
                "{\"response\":\"successfully giving the final answer.\"}",
                StatusCode::FinalAnswer,
                Some(match answer {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                }),
            ),
        },
        Some(_) => outcome(
            "{error:\"\"return_type\" is not a valid choice\"}",
            StatusCode::BadInput,
            None,
        ),
    }
}

fn heuristic_finish(s: &str) -> Map<String, Value> {
    let mut data = Map::new();
    let kind = |q: char| {
        let answer = format!("{q}return_type{q}: {q}give_answer{q}");
        let answer_tight = format!("{q}return_type{q}:{q}give_answer{q}");
        let up = format!("{q}return_type{q}: {q}give_up_and_restart{q}");
        let up_tight = format!("{q}return_type{q}:{q}give_up_and_restart{q}");
        if s.contains(&answer) || s.contains(&answer_tight) {
            "give_answer"
        } else if s.contains(&up) || s.contains(&up_tight) {
            "give_up_and_restart"
        } else {
            "invalid"
        }
    };
    if s.contains("\"return_type\":") {
        data.insert("return_type".into(), Value::String(kind('"').into()));
    } else if s.contains("'return_type':") {
        data.insert("return_type".into(), Value::String(kind('\'').into()));
    }
    for marker in [
        "\"final_answer\": \"",
        "\"final_answer\":\"",
        "'final_answer': ",
        "'final_answer':",
    ] {
        if let Some(pos) = s.find(marker) {
            data.insert(
                "final_answer".into(),
                Value::String(s[pos + marker.len()..].to_owned()),
            );
            break;
        }
    }
    data
}

/// Stage 1 of the system prompt (`FORMAT_INSTRUCTIONS_SYSTEM_FUNCTION`, formats.md §3.1),
/// with `{task_description}` still in it.
pub use steptool_mdp::chat::system_prompt::FORMAT_INSTRUCTIONS_SYSTEM_FUNCTION as SYSTEM_PROMPT_TEMPLATE;

/// The head of the environment's task description (formats.md §3.1 stage 2).
pub use steptool_mdp::chat::system_prompt::TASK_DESCRIPTION_PREFIX as TASK_DESCRIPTION_HEAD;

pub(crate) fn py_isspace(c: char) -> bool {
    c.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&c)
}

/// The environment's task description: the head, then `"{k}.{standard_tool_name}: {desc}\n"`
/// per *distinct* tool, deduplicated as the reference's `unduplicated_reflection` dict (first
/// position, last description), `desc` = the first 512 characters with `\n` removed, then
/// stripped, `"None"` when empty.
pub fn task_description(tools: &[(String, String)]) -> String {
    let mut order: Vec<&str> = Vec::new();
    let mut descs: std::collections::HashMap<&str, &str> = Default::default();
    for (name, desc) in tools {
        if descs.insert(name, desc).is_none() {
            order.push(name);
        }
    }
    let unique: Vec<(&str, &str)> = order
        .iter()
        .map(|n| (*n, descs.get(n).copied().unwrap_or("")))
        .collect();
    steptool_mdp::chat::system_prompt::task_description(&unique)
}

/// The system prompt (stages 1-2 of formats.md §3.1) for a task description.
pub fn system_prompt(task_description: &str) -> String {
    steptool_mdp::chat::system_prompt::system_message(task_description)
}

/// The user prompt `"\n{query}\nBegin!\n"` (formats.md §3.2).
pub fn user_prompt(query: &str) -> String {
    steptool_mdp::chat::system_prompt::user_message(query)
}

/// The observation for a name that matches no function (status 1):
/// `json.dumps({"error": f"No such function name: {name}", "response": ""})`.
pub fn no_such_function(name: &str) -> String {
    crate::tool::ToolOutput::err(format!("No such function name: {name}")).to_observation()
}

/// Whether a call is a call of the `Finish` tool (exact name, as the reference compares).
pub fn is_finish_call(call: &ToolCall) -> bool {
    call.name() == FINISH_TOOL
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finish_cases() {
        let f = reference_finish(r#"{"return_type": "give_answer", "final_answer": "42"}"#);
        assert_eq!(
            (f.code, f.final_answer.as_deref()),
            (StatusCode::FinalAnswer, Some("42"))
        );
        assert_eq!(
            f.observation,
            r#"{"response":"successfully giving the final answer."}"#
        );
        let f = reference_finish(r#"{"return_type": "give_up_and_restart"}"#);
        assert_eq!(
            (f.code, f.observation.as_str()),
            (
                StatusCode::GiveUp,
                r#"{"response":"chose to give up and restart"}"#
            )
        );
        let f = reference_finish(r#"{"final_answer": "x"}"#);
        assert_eq!(
            (f.code, f.observation.as_str()),
            (StatusCode::BadInput, r#"{error:"must have "return_type""}"#)
        );
        let f = reference_finish(r#"{"return_type": "give_answer"}"#);
        assert_eq!(
            (f.code, f.observation.as_str()),
            (
                StatusCode::BadInput,
                r#"{error:"must have "final_answer""}"#
            )
        );
        let f = reference_finish(r#"{"return_type": "maybe"}"#);
        assert_eq!(
            (f.code, f.observation.as_str()),
            (
                StatusCode::BadInput,
                r#"{error:""return_type" is not a valid choice"}"#
            )
        );
        // truncated JSON repaired by appending '"}'
        let f = reference_finish(r#"{"return_type": "give_answer", "final_answer": "cut"#);
        assert_eq!(
            (f.code, f.final_answer.as_deref()),
            (StatusCode::FinalAnswer, Some("cut"))
        );
        // raw newline inside a string: strict=False accepts it
        let f = reference_finish("{\"return_type\": \"give_answer\", \"final_answer\": \"a\nb\"}");
        assert_eq!(f.final_answer.as_deref(), Some("a\nb"));
        // heuristics: single quotes, the rest of the string is the answer
        let f = reference_finish("{'return_type': 'give_answer', 'final_answer': 'It is 5'}");
        assert_eq!(
            (f.code, f.final_answer.as_deref()),
            (StatusCode::FinalAnswer, Some("'It is 5'}"))
        );
        let f = reference_finish("{\"return_type\":\"give_up_and_restart\" oops");
        assert_eq!(f.code, StatusCode::GiveUp);
        let f = reference_finish("{\"return_type\": \"other\" oops");
        assert_eq!(f.code, StatusCode::BadInput);
        // a list is not an object
        assert_eq!(reference_finish("[1]").code, StatusCode::BadInput);
        assert_eq!(reference_finish("").code, StatusCode::BadInput);
    }

    #[test]
    fn task_description_dedupes_like_a_python_dict() {
        let d = task_description(&[
            ("a".into(), "first\n".into()),
            ("b".into(), "  ".into()),
            ("a".into(), "second\r".into()),
        ]);
        assert!(
            d.ends_with("You have access of the following tools:\n1.a: second\n2.b: None\n"),
            "{d}"
        );
    }

    #[test]
    fn status_codes_round_trip() -> std::result::Result<(), String> {
        for v in 0u8..=12 {
            assert_eq!(u8::from(StatusCode::try_from(v)?), v);
        }
        assert!(StatusCode::try_from(13).is_err());
        assert_eq!(
            StatusCode::from_error_field("Unauthorized error..."),
            StatusCode::Unauthorized
        );
        assert_eq!(StatusCode::from_error_field("anything"), StatusCode::Normal);
        Ok(())
    }
}
