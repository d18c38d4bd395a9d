//! Text-level MDP vocabulary: tool calls, actions, steps and trajectories (paper §3).
//!
//! A [`Trajectory`] is one episode of the tool-use MDP as text: the query, the tools on offer,
//! and the steps `(thought, action, observation)` in order. The last step of a finished
//! trajectory is a [`Action::Finish`]. Token-level data lives in [`crate::Episode`].

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::{Error, Result};

/// The name of the terminal tool (formats.md §3.3).
pub const FINISH_TOOL: &str = "Finish";

/// One call of a tool: the function name and its arguments exactly as the model wrote them.
///
/// The raw argument string is kept verbatim (the training data and reward prompts reproduce it
/// byte for byte); the parsed JSON is available when the string is a valid JSON document.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(from = "ToolCallRepr", into = "ToolCallRepr")]
pub struct ToolCall {
    name: String,
    arguments: String,
    parsed: Option<Value>,
}

#[derive(Serialize, Deserialize)]
struct ToolCallRepr {
    name: String,
    arguments: String,
}

impl From<ToolCallRepr> for ToolCall {
    fn from(r: ToolCallRepr) -> Self {
        ToolCall::new(r.name, r.arguments)
    }
}

impl From<ToolCall> for ToolCallRepr {
    fn from(c: ToolCall) -> Self {
        ToolCallRepr {
            name: c.name,
            arguments: c.arguments,
        }
    }
}

impl ToolCall {
    /// A call of `name` with the raw argument string `arguments`.
    pub fn new(name: impl Into<String>, arguments: impl Into<String>) -> Self {
        let arguments = arguments.into();
        let parsed = serde_json::from_str(&arguments).ok();
        Self {
            name: name.into(),
            arguments,
            parsed,
        }
    }

    /// The function name as written by the model.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The raw argument string as written by the model.
    pub fn arguments(&self) -> &str {
        &self.arguments
    }

    /// The arguments parsed as JSON, when the raw string is valid JSON.
    pub fn parsed_arguments(&self) -> Option<&Value> {
        self.parsed.as_ref()
    }

    /// Whether this is a call of the [`FINISH_TOOL`].
    pub fn is_finish(&self) -> bool {
        self.name == FINISH_TOOL
    }
}

/// How a `Finish` call ends the episode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReturnType {
    /// `give_answer`: the model answers the query.
    GiveAnswer,
    /// `give_up_and_restart`: the model gives up.
    GiveUpAndRestart,
}

impl ReturnType {
    /// The wire name (`give_answer`, `give_up_and_restart`).
    pub fn as_str(self) -> &'static str {
        match self {
            ReturnType::GiveAnswer => "give_answer",
            ReturnType::GiveUpAndRestart => "give_up_and_restart",
        }
    }
}

/// A well-formed `Finish` call.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Finish {
    /// Answer or give up.
    pub return_type: ReturnType,
    /// The answer text (present for a well-formed `give_answer`).
    pub final_answer: Option<String>,
    /// The call as the model wrote it.
    pub call: ToolCall,
}

/// One action of the MDP: call a tool, or finish.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Action {
    /// A call of an ordinary tool (or a malformed `Finish`, see [`Action::from_call`]).
    Call(ToolCall),
    /// A well-formed call of the [`FINISH_TOOL`].
    Finish(Finish),
}

impl Action {
    /// Classify a tool call: a `Finish` whose arguments are a JSON object with a valid
    /// `return_type` (and, for `give_answer`, a string `final_answer`) becomes
    /// [`Action::Finish`]; everything else, including a malformed `Finish`, stays a
    /// [`Action::Call`] so that nothing the model wrote is lost. Use [`Action::finish`] to
    /// require a well-formed `Finish`.
    pub fn from_call(call: ToolCall) -> Self {
        match Self::finish(call.clone()) {
            Ok(finish) => Action::Finish(finish),
            Err(_) => Action::Call(call),
        }
    }

    /// Parse `call` as a well-formed `Finish`, saying what is wrong otherwise.
    pub fn finish(call: ToolCall) -> Result<Finish> {
        if !call.is_finish() {
            return Err(Error::MalformedAction(format!(
                "expected a call of `{FINISH_TOOL}`, found `{}`",
                call.name()
            )));
        }
        let Some(Value::Object(args)) = call.parsed_arguments() else {
            return Err(Error::MalformedAction(format!(
                "`{FINISH_TOOL}` arguments are not a JSON object: {:?}",
                call.arguments()
            )));
        };
        let return_type = match args.get("return_type").and_then(Value::as_str) {
            Some("give_answer") => ReturnType::GiveAnswer,
            Some("give_up_and_restart") => ReturnType::GiveUpAndRestart,
            Some(other) => {
                return Err(Error::MalformedAction(format!(
                    "`{FINISH_TOOL}` has return_type {other:?}, expected give_answer or give_up_and_restart"
                )))
            }
            None => {
                return Err(Error::MalformedAction(format!(
                    "`{FINISH_TOOL}` must have a string \"return_type\""
                )))
            }
        };
        let final_answer = match (return_type, args.get("final_answer")) {
            (_, Some(Value::String(s))) => Some(s.clone()),
            (ReturnType::GiveAnswer, _) => {
                return Err(Error::MalformedAction(format!(
                    "`{FINISH_TOOL}` with give_answer must have a string \"final_answer\""
                )))
            }
            (ReturnType::GiveUpAndRestart, _) => None,
        };
        Ok(Finish {
            return_type,
            final_answer,
            call,
        })
    }

    /// The tool call behind this action (for `Finish`, the `Finish` call itself).
    pub fn call(&self) -> &ToolCall {
        match self {
            Action::Call(call) => call,
            Action::Finish(finish) => &finish.call,
        }
    }

    /// Whether this action ends the episode.
    pub fn is_finish(&self) -> bool {
        matches!(self, Action::Finish(_))
    }
}

/// One step: the model's thought, its action, and the environment's observation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Step {
    /// The thought the model wrote before acting (`None` when absent, e.g. converted answers).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thought: Option<String>,
    /// What the model did.
    pub action: Action,
    /// The tool response (`None` for `Finish`, or when not yet executed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observation: Option<String>,
}

impl Step {
    /// A step calling `call`, classified with [`Action::from_call`], with an observation.
    pub fn new(call: ToolCall, observation: Option<String>) -> Self {
        Self {
            thought: None,
            action: Action::from_call(call),
            observation,
        }
    }
}

/// A tool offered to the model: its function name and, when known, its OpenAI-style schema
/// (`{"type": "function", "function": {"name", "description", "parameters"}}`, key order kept).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolSchema {
    /// The function name (`<api>_for_<tool>` for StableToolBench tools, or `Finish`).
    pub name: String,
    /// The full function dict, when the data provides it (training TSVs only name the tools).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schema: Option<Value>,
}

impl ToolSchema {
    /// A tool known by name only.
    pub fn named(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            schema: None,
        }
    }

    /// A tool from its OpenAI-style function dict; the name is read from `function.name`.
    pub fn from_openai(schema: Value) -> Result<Self> {
        let name = schema
            .pointer("/function/name")
            .and_then(Value::as_str)
            .ok_or_else(|| {
                Error::InvalidTrajectory(format!(
                    "tool schema has no string `function.name`: {schema}"
                ))
            })?
            .to_owned();
        Ok(Self {
            name,
            schema: Some(schema),
        })
    }
}

/// One trajectory of the tool-use MDP as text.
///
/// Invariants, checked by [`Trajectory::new`]: at least one step, and only the last step may be
/// a [`Action::Finish`]. A trajectory whose last step is not `Finish` is unfinished (truncated
/// by a step limit, or still running).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "TrajectoryRepr", into = "TrajectoryRepr")]
pub struct Trajectory {
    query_id: Option<String>,
    query: String,
    tools: Vec<ToolSchema>,
    steps: Vec<Step>,
}

#[derive(Serialize, Deserialize)]
struct TrajectoryRepr {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    query_id: Option<String>,
    query: String,
    tools: Vec<ToolSchema>,
    steps: Vec<Step>,
}

impl TryFrom<TrajectoryRepr> for Trajectory {
    type Error = Error;
    fn try_from(r: TrajectoryRepr) -> Result<Self> {
        Trajectory::new(r.query_id, r.query, r.tools, r.steps)
    }
}

impl From<Trajectory> for TrajectoryRepr {
    fn from(t: Trajectory) -> Self {
        TrajectoryRepr {
            query_id: t.query_id,
            query: t.query,
            tools: t.tools,
            steps: t.steps,
        }
    }
}

impl Trajectory {
    /// A validated trajectory.
    pub fn new(
        query_id: Option<String>,
        query: impl Into<String>,
        tools: Vec<ToolSchema>,
        steps: Vec<Step>,
    ) -> Result<Self> {
        let id = query_id.as_deref().unwrap_or("<no id>");
        if steps.is_empty() {
            return Err(Error::InvalidTrajectory(format!("query {id}: no steps")));
        }
        if let Some(k) = steps[..steps.len() - 1]
            .iter()
            .position(|s| s.action.is_finish())
        {
            return Err(Error::InvalidTrajectory(format!(
                "query {id}: step {k} is a Finish but {} step(s) follow it",
                steps.len() - 1 - k
            )));
        }
        Ok(Self {
            query_id,
            query: query.into(),
            tools,
            steps,
        })
    }

    /// The query id, when the data has one.
    pub fn query_id(&self) -> Option<&str> {
        self.query_id.as_deref()
    }

    /// The user's query.
    pub fn query(&self) -> &str {
        &self.query
    }

    /// The tools on offer, in the order the prompt lists them (normally ending with `Finish`).
    pub fn tools(&self) -> &[ToolSchema] {
        &self.tools
    }

    /// The steps in order.
    pub fn steps(&self) -> &[Step] {
        &self.steps
    }

    /// Number of steps.
    pub fn len(&self) -> usize {
        self.steps.len()
    }

    /// Always false: a trajectory has at least one step.
    pub fn is_empty(&self) -> bool {
        self.steps.is_empty()
    }

    /// The last step's `Finish`, when the trajectory is finished.
    pub fn finish(&self) -> Option<&Finish> {
        match &self.steps.last()?.action {
            Action::Finish(finish) => Some(finish),
            Action::Call(_) => None,
        }
    }

    /// The final answer text, when the trajectory ends with `Finish(give_answer)`.
    pub fn final_answer(&self) -> Option<&str> {
        self.finish()?.final_answer.as_deref()
    }

    /// The intermediate steps (all but the last): the ones rewarded with SuccCalling and
    /// Contribution (paper eq. 3).
    pub fn intermediate_steps(&self) -> &[Step] {
        &self.steps[..self.steps.len() - 1]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finish_classification() -> Result<()> {
        let ok = ToolCall::new(
            "Finish",
            r#"{"return_type": "give_answer", "final_answer": "42"}"#,
        );
        assert!(
            matches!(Action::from_call(ok), Action::Finish(Finish { final_answer: Some(ref a), .. }) if a == "42")
        );
        let no_answer = ToolCall::new("Finish", r#"{"return_type": "give_answer"}"#);
        assert!(matches!(
            Action::from_call(no_answer.clone()),
            Action::Call(_)
        ));
        assert!(Action::finish(no_answer).is_err());
        let give_up = ToolCall::new("Finish", r#"{"return_type": "give_up_and_restart"}"#);
        let f = Action::finish(give_up)?;
        assert_eq!(f.return_type, ReturnType::GiveUpAndRestart);
        assert!(matches!(
            Action::from_call(ToolCall::new("Finish", "{oops")),
            Action::Call(_)
        ));
        Ok(())
    }

    #[test]
    fn finish_only_last() {
        let fin = Step::new(
            ToolCall::new("Finish", r#"{"return_type": "give_up_and_restart"}"#),
            None,
        );
        let call = Step::new(ToolCall::new("f", "{}"), Some("{}".into()));
        let err = Trajectory::new(Some("7".into()), "q", vec![], vec![fin, call]);
        assert!(matches!(err, Err(Error::InvalidTrajectory(m)) if m.contains("step 0")));
        assert!(Trajectory::new(None, "q", vec![], vec![]).is_err());
    }

    #[test]
    fn serde_round_trip_validates() -> Result<()> {
        let t = Trajectory::new(
            Some("1".into()),
            "q",
            vec![ToolSchema::named("f"), ToolSchema::named(FINISH_TOOL)],
            vec![
                Step::new(ToolCall::new("f", r#"{"a": 1}"#), Some("obs".into())),
                Step::new(
                    ToolCall::new(
                        "Finish",
                        r#"{"return_type": "give_answer", "final_answer": "x"}"#,
                    ),
                    None,
                ),
            ],
        )?;
        let json = serde_json::to_string(&t).map_err(|source| Error::Json {
            location: Default::default(),
            source,
        })?;
        let back: Trajectory = serde_json::from_str(&json).map_err(|source| Error::Json {
            location: Default::default(),
            source,
        })?;
        assert_eq!(back, t);
        assert_eq!(back.final_answer(), Some("x"));
        assert_eq!(
            back.steps()[0].action.call().parsed_arguments(),
            Some(&serde_json::json!({"a": 1}))
        );
        Ok(())
    }
}
