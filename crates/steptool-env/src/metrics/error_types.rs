//! The paper's four error types (Table 6: tool selection, hallucinated tool, arguments, parse),
//! computed from the steps of an answer by fixed rules.
//!
//! The paper names the types but gives no procedure, and the reference has no code for them.
//! The rules below need no LLM, so the same numbers come out of ToolEval answer steps
//! (pass-rate result files, converted answers) and of our own [`RolloutRecord`]s (whose
//! status codes say more). Each step gets **at most one** type, checked in this order:
//!
//! 1. **parse** — the model's call cannot be read:
//!    - a tool call whose arguments are neither blank nor a JSON object
//!      (`json.loads(arguments, strict=False)`, the environment's parser), or whose
//!      observation is the environment's `{"error": "Tool input parse error..."}`;
//!    - a `Finish` whose arguments (or the arguments + `"}`, as the reference retries) do not
//!      parse to an object with `return_type` `give_answer` (and a `final_answer`) or
//!      `give_up_and_restart`; the reference's substring heuristics, which rescue some of
//!      these, are deliberately not applied: the model still wrote unreadable arguments;
//!    - in a rollout, a step with status code 2 (malformed `Finish`).
//! 2. **hallucinated tool** — a tool call whose name resolves to no offered function:
//!    neither an offered name nor a suffix of one (the environment resolves names with the
//!    reference's `endswith`, so `weather_for_x` reaches `get_weather_for_x`), or, in a
//!    rollout, status code 1 (the reference's `invalid_hallucination_function_name`).
//! 3. **tool selection** — a call of an offered function (after resolution) that is not one
//!    of the query's relevant functions. Only counted when the relevant set is known and not
//!    empty (`relevant APIs` of a StableToolBench query file; ground truth of a rollout).
//! 4. **arguments** — a call of an offered (and, when known, relevant) function where a
//!    required parameter of its schema is missing from the parsed arguments, or where the
//!    observation is a JSON object whose `error` is a non-empty string other than an
//!    environment failure (timeouts, `API not working error...`, `Unauthorized error...`,
//!    `Unsubscribed error...`, rate limits, `Message error...`, `request invalid, data
//!    error...`, `Failed to generate fake response`; in a rollout, status codes 5-12): the
//!    tool rejected the call.
//!
//! A query *has* a type when at least one of its steps has it. [`ErrorSummary`] counts, per
//! type, the steps and the queries that have it, and the share of queries (over all queries,
//! solved or not).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::env::StatusCode;
use crate::pyjson::loads_nonstrict;
use crate::rollout::RolloutRecord;
use steptool_mdp::FINISH_TOOL;

/// One of the paper's four error types.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorType {
    /// A call of an offered function that is not relevant to the query.
    ToolSelection,
    /// A call of a function that is not offered.
    HallucinatedTool,
    /// A call of an offered function with a missing required parameter, or rejected by the tool.
    Arguments,
    /// Arguments that do not parse.
    Parse,
}

impl ErrorType {
    /// All four, in the paper's order.
    pub const ALL: [ErrorType; 4] = [
        ErrorType::ToolSelection,
        ErrorType::HallucinatedTool,
        ErrorType::Arguments,
        ErrorType::Parse,
    ];

    /// The column name used in reports.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorType::ToolSelection => "tool_selection",
            ErrorType::HallucinatedTool => "hallucinated_tool",
            ErrorType::Arguments => "arguments",
            ErrorType::Parse => "parse",
        }
    }
}

/// One step of an answer as the rules see it.
#[derive(Debug, Clone, PartialEq)]
pub struct StepView {
    /// The function name as the model wrote it.
    pub name: String,
    /// The raw argument string.
    pub arguments: String,
    /// The observation (`None` or `""` for `Finish`).
    pub observation: Option<String>,
    /// The environment's status code, when known (our rollouts).
    pub code: Option<StatusCode>,
}

/// One answer with what the rules need to know about its query.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ErrorInput {
    /// The steps, `Finish` included.
    pub steps: Vec<StepView>,
    /// The function names offered (`Finish` may be included; it is ignored).
    pub offered: Vec<String>,
    /// The relevant function names; `None` when unknown (then no tool-selection errors).
    pub relevant: Option<Vec<String>>,
    /// Required parameter names per offered function name, where the schema is known.
    pub required: BTreeMap<String, Vec<String>>,
}

impl ErrorInput {
    /// The input for one of our rollout records: its output chain, status codes, offered
    /// functions (with their `required` parameters) and ground-truth relevant functions.
    pub fn from_record(record: &RolloutRecord) -> Self {
        let steps = record
            .trajectory
            .iter()
            .flat_map(|t| t.steps())
            .enumerate()
            .map(|(i, s)| StepView {
                name: s.action.call().name().to_owned(),
                arguments: s.action.call().arguments().to_owned(),
                observation: s.observation.clone(),
                code: record.codes.get(i).copied(),
            })
            .collect();
        let relevant = &record.context.relevant_functions;
        ErrorInput {
            steps,
            offered: record.context.function_names(),
            relevant: (!relevant.is_empty()).then(|| relevant.clone()),
            required: required_from_functions(&record.context.functions),
        }
    }
}

/// `name -> required parameter names` of OpenAI function dicts (bare or wrapped in
/// `{"type": "function", "function": …}`); the StepTool fork's leading `""` is skipped.
pub fn required_from_functions(functions: &[Value]) -> BTreeMap<String, Vec<String>> {
    functions
        .iter()
        .filter_map(|f| {
            let f = f.get("function").unwrap_or(f);
            let name = f.get("name")?.as_str()?.to_owned();
            let required = f
                .pointer("/parameters/required")
                .and_then(Value::as_array)
                .map(|r| {
                    r.iter()
                        .filter_map(Value::as_str)
                        .filter(|s| !s.is_empty())
                        .map(str::to_owned)
                        .collect()
                })
                .unwrap_or_default();
            Some((name, required))
        })
        .collect()
}

/// Error messages of the environment (not the tool's verdict on the arguments).
const ENVIRONMENT_FAILURES: [&str; 10] = [
    "Timeout error",
    "Connection error",
    "API not working error",
    "Unauthorized error",
    "Unsubscribed error",
    "Too many requests error",
    "Rate limit per minute error",
    "Message error",
    "request invalid, data error",
    "Failed to generate fake response",
];

/// The `error` string of an observation that is a JSON object.
fn observation_error(observation: Option<&str>) -> Option<String> {
    match loads_nonstrict(observation?)? {
        Value::Object(map) => match map.get("error") {
            Some(Value::String(s)) if !s.is_empty() => Some(s.clone()),
            _ => None,
        },
        _ => None,
    }
}

fn finish_parses(arguments: &str) -> bool {
    let parsed =
        loads_nonstrict(arguments).or_else(|| loads_nonstrict(&format!("{arguments}\"}}")));
    let Some(Value::Object(map)) = parsed else {
        return false;
    };
    match map.get("return_type").and_then(Value::as_str) {
        Some("give_up_and_restart") => true,
        Some("give_answer") => map.contains_key("final_answer"),
        _ => false,
    }
}

/// The type of one step under the module's rules, `None` for a step without error.
pub fn step_error(step: &StepView, input: &ErrorInput) -> Option<ErrorType> {
    if step.code == Some(StatusCode::BadInput) {
        return Some(ErrorType::Parse);
    }
    if step.name == FINISH_TOOL {
        return (!finish_parses(&step.arguments)).then_some(ErrorType::Parse);
    }
    let args = if step.arguments.trim().is_empty() {
        Some(Value::Object(Default::default()))
    } else {
        loads_nonstrict(&step.arguments)
    };
    let error = observation_error(step.observation.as_deref());
    let Some(Value::Object(args)) = args else {
        return Some(ErrorType::Parse);
    };
    if error
        .as_deref()
        .is_some_and(|e| e.starts_with("Tool input parse error"))
    {
        return Some(ErrorType::Parse);
    }
    let offered = input.offered.iter().filter(|n| *n != FINISH_TOOL);
    let resolved = input
        .offered
        .iter()
        .find(|n| **n == step.name)
        .or_else(|| offered.clone().find(|n| n.ends_with(&step.name)));
    let resolved = match resolved {
        Some(r) if step.code != Some(StatusCode::HallucinatedName) => r,
        _ => return Some(ErrorType::HallucinatedTool),
    };
    if let Some(relevant) = input.relevant.as_ref().filter(|r| !r.is_empty()) {
        if !relevant.contains(resolved) {
            return Some(ErrorType::ToolSelection);
        }
    }
    if let Some(required) = input.required.get(resolved) {
        if required.iter().any(|p| !args.contains_key(p)) {
            return Some(ErrorType::Arguments);
        }
    }
    let environment_failure = step.code.is_some_and(|c| (c as u8) >= 5);
    if !environment_failure {
        if let Some(e) = error {
            if !ENVIRONMENT_FAILURES.iter().any(|f| e.starts_with(f)) {
                return Some(ErrorType::Arguments);
            }
        }
    }
    None
}

/// The type of every step of an answer.
pub fn step_errors(input: &ErrorInput) -> Vec<Option<ErrorType>> {
    input.steps.iter().map(|s| step_error(s, input)).collect()
}

/// The error types of one of our rollout records (what the replication study calls).
pub fn record_errors(record: &RolloutRecord) -> Vec<Option<ErrorType>> {
    step_errors(&ErrorInput::from_record(record))
}

/// Counts of one error type over a set of answers.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct ErrorCount {
    /// Answers with at least one step of this type.
    pub queries: usize,
    /// Steps of this type.
    pub steps: usize,
    /// `queries / total queries`, in [0, 1].
    pub share: f64,
}

/// The four error types over a set of answers.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ErrorSummary {
    /// Answers counted.
    pub queries: usize,
    /// Steps counted (`Finish` included).
    pub steps: usize,
    /// Whether tool selection could be judged (relevant functions known for every answer).
    pub tool_selection_known: bool,
    /// Per type.
    pub types: BTreeMap<ErrorType, ErrorCount>,
}

impl ErrorSummary {
    /// Summarise the per-step types of several answers; `tool_selection_known` says whether
    /// their relevant functions were known.
    pub fn from_steps(per_answer: &[Vec<Option<ErrorType>>], tool_selection_known: bool) -> Self {
        let mut types: BTreeMap<ErrorType, ErrorCount> = ErrorType::ALL
            .iter()
            .map(|t| (*t, ErrorCount::default()))
            .collect();
        let mut steps = 0;
        for answer in per_answer {
            steps += answer.len();
            for t in ErrorType::ALL {
                let n = answer.iter().filter(|s| **s == Some(t)).count();
                let c = types.entry(t).or_default();
                c.steps += n;
                c.queries += usize::from(n > 0);
            }
        }
        let queries = per_answer.len();
        for c in types.values_mut() {
            c.share = if queries == 0 {
                0.0
            } else {
                c.queries as f64 / queries as f64
            };
        }
        ErrorSummary {
            queries,
            steps,
            tool_selection_known,
            types,
        }
    }

    /// The sum of several summaries (shares recomputed over all their queries).
    pub fn merged<'a>(parts: impl IntoIterator<Item = &'a ErrorSummary>) -> Self {
        let mut out = ErrorSummary {
            tool_selection_known: true,
            ..ErrorSummary::default()
        };
        let mut any = false;
        for p in parts {
            any = true;
            out.queries += p.queries;
            out.steps += p.steps;
            out.tool_selection_known &= p.tool_selection_known;
            for (t, c) in &p.types {
                let o = out.types.entry(*t).or_default();
                o.queries += c.queries;
                o.steps += c.steps;
            }
        }
        out.tool_selection_known &= any;
        for c in out.types.values_mut() {
            c.share = if out.queries == 0 {
                0.0
            } else {
                c.queries as f64 / out.queries as f64
            };
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn step(name: &str, arguments: &str, observation: &str) -> StepView {
        StepView {
            name: name.into(),
            arguments: arguments.into(),
            observation: Some(observation.into()),
            code: None,
        }
    }

    fn input(steps: Vec<StepView>) -> ErrorInput {
        ErrorInput {
            steps,
            offered: vec!["get_a_for_t".into(), "get_b_for_t".into(), "Finish".into()],
            relevant: Some(vec!["get_a_for_t".into()]),
            required: [("get_a_for_t".to_owned(), vec!["id".to_owned()])].into(),
        }
    }

    #[test]
    fn each_rule_fires_in_order() {
        let ok = r#"{"error": "", "response": "fine"}"#;
        let rejected = r#"{"error": "id must be a number", "response": ""}"#;
        let server = r#"{"error": "Rate limit per minute error...", "response": ""}"#;
        let i = input(vec![
            step("get_a_for_t", r#"{"id": "1"}"#, ok),
            step("get_a_for_t", "{id: 1", ok),
            step("nope", r#"{"id": "1"}"#, ok),
            step("b_for_t", "", ok), // resolves to get_b_for_t by suffix: not relevant
            step("get_a_for_t", "{}", ok),
            step("get_a_for_t", r#"{"id": "x"}"#, rejected),
            step("get_a_for_t", r#"{"id": "x"}"#, server),
            step("Finish", r#"{"return_type": "give_answer"}"#, ""),
            step(
                "Finish",
                r#"{"return_type": "give_answer", "final_answer": "x"#,
                "",
            ),
        ]);
        use ErrorType::*;
        assert_eq!(
            step_errors(&i),
            vec![
                None,
                Some(Parse),
                Some(HallucinatedTool),
                Some(ToolSelection),
                Some(Arguments),
                Some(Arguments),
                None,
                Some(Parse),
                None, // the reference's `+ '"}'` retry reads it
            ]
        );
        let s = ErrorSummary::from_steps(&[step_errors(&i), vec![None]], true);
        assert_eq!(s.queries, 2);
        assert_eq!(s.steps, 10);
        assert_eq!(s.types[&Parse].steps, 2);
        assert_eq!(s.types[&Parse].queries, 1);
        assert_eq!(s.types[&Arguments].share, 0.5);
    }

    #[test]
    fn status_codes_override_the_text() {
        let mut i = input(vec![step("get_a_for_t", r#"{"id": "1"}"#, "{}")]);
        i.steps[0].code = Some(StatusCode::HallucinatedName);
        assert_eq!(step_errors(&i), vec![Some(ErrorType::HallucinatedTool)]);
        i.steps[0].code = Some(StatusCode::Timeout);
        i.steps[0].observation = Some(r#"{"error": "boom", "response": ""}"#.into());
        assert_eq!(step_errors(&i), vec![None]);
    }
}
