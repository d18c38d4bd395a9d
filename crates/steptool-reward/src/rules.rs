//! [`RuleAnnotator`]: the reference notebook's scoring rules (formats.md §2.7) plus format
//! rules, with no model and no network.
//!
//! Per intermediate step, in this order:
//! 1. **Format** ([`check_format`]): the called tool must be among the trajectory's available
//!    tools (a hallucinated tool scores 0 on both components), and its arguments must be a JSON
//!    object holding every parameter the tool's schema lists as `required` (the reference
//!    schemas' empty-string placeholders are ignored). A violation gives SuccCalling 0 and
//!    Contribution 0.
//! 2. **SuccCalling** ([`succ_calling`]): the notebook's rule on the tool response (error field,
//!    `status: 400`, error words in a string response).
//! 3. **Contribution** ([`contribution_ratio`]): the character LCS of the tool response's
//!    `response` field and the final answer, divided by the response's length; at least the
//!    threshold (0.3) counts as contributing. The notebook's 0/1 is mapped to the judge's 0-5
//!    scale: 1 becomes [`RuleConfig::relevant_contribution`] (default 5).
//!
//! The notebook has no IsSolved rule. Ours follows the deterministic part of ToolEval's pass rate
//! (formats.md §6.2 steps 1-2): no well-formed `Finish`, giving up, an empty final answer or one
//! containing `give_up_and_restart` is `Unsolved`; any other answer gets
//! [`RuleConfig::answered_status`] (default `Unsure`: rules cannot check an answer's content).

use serde::{Deserialize, Serialize};
use serde_json::Value;
use steptool_mdp::pylit::PyValue;
use steptool_mdp::{ReturnType, Step, ToolSchema, Trajectory};

use crate::annotation::{
    AnswerStatus, Provenance, RewardAnnotator, RoundScores, StepAnnotation, MAX_CONTRIBUTION,
};
use crate::error::{trajectory_label, Error, Result};
use crate::lcs::lcs_len_chars;

/// The prefix every tool response of the StableToolBench environment starts with when the
/// call did not fail (`json.dumps({"error": "", "response": …})`).
pub const OK_RESPONSE_PREFIX: &str = r#"{"error": "", "response": "#;

/// Settings of the [`RuleAnnotator`]. Every field has a default; unknown fields are rejected.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RuleConfig {
    /// Minimum LCS ratio for a step to count as contributing (default 0.3, the notebook's).
    pub lcs_threshold: f64,
    /// Contribution (0-5 scale) given to a contributing step (default 5).
    pub relevant_contribution: f32,
    /// Apply the format rules (tool exists, arguments valid) (default `true`).
    pub check_format: bool,
    /// Status of a well-formed, non-empty final answer (default `Unsure`).
    pub answered_status: AnswerStatus,
}

impl Default for RuleConfig {
    fn default() -> Self {
        Self {
            lcs_threshold: 0.3,
            relevant_contribution: MAX_CONTRIBUTION,
            check_format: true,
            answered_status: AnswerStatus::Unsure,
        }
    }
}

/// Why a tool call is malformed.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum FormatViolation {
    /// The tool is not among the available tools (a hallucinated tool).
    UnknownTool(String),
    /// The argument string is not JSON.
    ArgumentsNotJson,
    /// The arguments are JSON but not an object.
    ArgumentsNotObject,
    /// A parameter the schema requires is missing.
    MissingRequired(String),
}

impl std::fmt::Display for FormatViolation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FormatViolation::UnknownTool(name) => {
                write!(f, "tool `{name}` is not among the available tools")
            }
            FormatViolation::ArgumentsNotJson => f.write_str("arguments are not valid JSON"),
            FormatViolation::ArgumentsNotObject => f.write_str("arguments are not a JSON object"),
            FormatViolation::MissingRequired(p) => {
                write!(f, "required parameter `{p}` is missing")
            }
        }
    }
}

/// Check one step's call against the available tools: the tool exists, the arguments are a
/// JSON object with every required parameter. `None` when well-formed.
pub fn check_format(step: &Step, tools: &[ToolSchema]) -> Option<FormatViolation> {
    let call = step.action.call();
    let Some(tool) = tools.iter().find(|t| t.name == call.name()) else {
        return Some(FormatViolation::UnknownTool(call.name().to_owned()));
    };
    let args = match call.parsed_arguments() {
        None => return Some(FormatViolation::ArgumentsNotJson),
        Some(Value::Object(args)) => args,
        Some(_) => return Some(FormatViolation::ArgumentsNotObject),
    };
    let required = tool
        .schema
        .as_ref()
        .and_then(|s| s.pointer("/function/parameters/required"))
        .and_then(Value::as_array);
    for name in required.into_iter().flatten().filter_map(Value::as_str) {
        if !name.is_empty() && !args.contains_key(name) {
            return Some(FormatViolation::MissingRequired(name.to_owned()));
        }
    }
    None
}

/// The notebook's SuccCalling on a tool response string (formats.md §2.7).
///
/// ```
/// use steptool_reward::rules::succ_calling;
/// assert!(succ_calling(r#"{"error": "", "response": "sunny"}"#));
/// assert!(!succ_calling(r#"{"error": "Rate limit", "response": ""}"#));
/// assert!(!succ_calling(r#"{"error":"","response":{"status":400}}"#));
/// assert!(!succ_calling(r#"{"error":"","response":"Please provide a key"}"#));
/// ```
pub fn succ_calling(content: &str) -> bool {
    if content.starts_with(OK_RESPONSE_PREFIX) {
        return true;
    }
    let parsed = serde_json::from_str::<Value>(content).ok().or_else(|| {
        if content.starts_with(r#"{"error": ""#) {
            serde_json::from_str::<Value>(&format!("{content}\"}}")).ok()
        } else {
            None
        }
    });
    // A response that is not a JSON object is not a successful call.
    let Some(Value::Object(obj)) = parsed else {
        return false;
    };
    match obj.get("error") {
        None => {}
        Some(Value::String(s)) if s.is_empty() => {}
        Some(_) => return false,
    }
    match obj.get("response") {
        Some(Value::Object(r)) => r.get("status").and_then(Value::as_f64) != Some(400.0),
        Some(Value::String(s)) => {
            !(s.contains("wrong")
                || s.contains("error")
                || s.contains("is empty")
                || s.starts_with("Please"))
        }
        _ => true,
    }
}

/// The text the Contribution rule compares with the final answer: Python's
/// `str(json.loads(content)["response"])`, or, when the content is not JSON (e.g. truncated
/// at 1 024 characters), the content without its first 26 characters (the length of
/// [`OK_RESPONSE_PREFIX`]), as the notebook does.
pub fn response_text(content: &str) -> String {
    match serde_json::from_str::<Value>(content) {
        Ok(Value::Object(obj)) => obj.get("response").map(python_str).unwrap_or_default(),
        Ok(other) => python_str(&other),
        Err(_) => content
            .chars()
            .skip(OK_RESPONSE_PREFIX.chars().count())
            .collect(),
    }
}

/// Python's `str(value)` of a decoded JSON value (a string stays raw; anything else is its repr).
fn python_str(value: &Value) -> String {
    PyValue::from_json(value).str()
}

/// The Contribution rule's ratio: `LCS(resp, final_answer) / len(resp)` in characters, `None`
/// when the response text is empty (the notebook scores that 0).
pub fn contribution_ratio(content: &str, final_answer: &str) -> Option<f64> {
    let resp: Vec<char> = response_text(content).chars().collect();
    if resp.is_empty() {
        return None;
    }
    let answer: Vec<char> = final_answer.chars().collect();
    Some(lcs_len_chars(&resp, &answer) as f64 / resp.len() as f64)
}

/// What the rules found for one intermediate step.
#[derive(Debug, Clone, PartialEq)]
pub struct StepVerdict {
    /// The format violation, if any (then both scores are 0).
    pub format: Option<FormatViolation>,
    /// SuccCalling from the response (`false` on a format violation).
    pub succ: bool,
    /// The LCS ratio, when computed (no format violation, a final answer, a non-empty response).
    pub lcs_ratio: Option<f64>,
    /// The Contribution score on the 0-5 scale.
    pub contribution: f32,
}

/// The rule-based annotator (one deterministic round). See the module docs for the rules.
///
/// ```
/// use steptool_reward::{AnswerStatus, RewardAnnotator, RuleAnnotator};
/// use steptool_mdp::{Step, ToolCall, ToolSchema, Trajectory};
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let t = Trajectory::new(Some("7".into()), "Weather in Paris?",
///     vec![ToolSchema::named("weather"), ToolSchema::named("Finish")],
///     vec![
///         Step::new(ToolCall::new("weather", r#"{"city": "Paris"}"#), Some(r#"{"error": "", "response": "sunny"}"#.into())),
///         Step::new(ToolCall::new("made_up", "{}"), Some(r#"{"error": "No such function"}"#.into())),
///         Step::new(ToolCall::new("Finish", r#"{"return_type": "give_answer", "final_answer": "It is sunny."}"#), None),
///     ])?;
/// let a = RuleAnnotator::default().annotate(&t)?;
/// let round = &a.rounds()[0];
/// assert_eq!(round.succeed_tool_calling, vec![1.0, 0.0]);
/// assert_eq!(round.contributions, vec![5.0, 0.0]); // "sunny" is a subsequence of the answer
/// assert_eq!(round.status, AnswerStatus::Unsure);
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Default)]
pub struct RuleAnnotator {
    config: RuleConfig,
}

impl RuleAnnotator {
    /// A rule annotator from a checked config (threshold in `[0, 1]`, contribution in `0..=5`).
    pub fn new(config: RuleConfig) -> Result<Self> {
        if !(0.0..=1.0).contains(&config.lcs_threshold) {
            return Err(Error::config(
                "lcs_threshold",
                format!("{} is not in [0, 1]", config.lcs_threshold),
            ));
        }
        if !(0.0..=MAX_CONTRIBUTION).contains(&config.relevant_contribution) {
            return Err(Error::config(
                "relevant_contribution",
                format!(
                    "{} is not in [0, {MAX_CONTRIBUTION}]",
                    config.relevant_contribution
                ),
            ));
        }
        Ok(Self { config })
    }

    /// The config.
    pub fn config(&self) -> &RuleConfig {
        &self.config
    }

    /// The rules' verdict on every intermediate step.
    pub fn verdicts(&self, trajectory: &Trajectory) -> Result<Vec<StepVerdict>> {
        let answer = trajectory.final_answer();
        trajectory
            .intermediate_steps()
            .iter()
            .enumerate()
            .map(|(k, step)| {
                let format = if self.config.check_format {
                    check_format(step, trajectory.tools())
                } else {
                    None
                };
                if format.is_some() {
                    return Ok(StepVerdict {
                        format,
                        succ: false,
                        lcs_ratio: None,
                        contribution: 0.0,
                    });
                }
                let Some(content) = step.observation.as_deref() else {
                    return Err(Error::Unscorable {
                        trajectory: trajectory_label(trajectory),
                        step: k,
                        message: "intermediate step has no observation (tool response); the rules need it".into(),
                    });
                };
                let lcs_ratio = match answer {
                    Some(answer) => contribution_ratio(content, answer),
                    None => None,
                };
                let contributes = lcs_ratio.is_some_and(|r| r >= self.config.lcs_threshold);
                Ok(StepVerdict {
                    format: None,
                    succ: succ_calling(content),
                    lcs_ratio,
                    contribution: if contributes {
                        self.config.relevant_contribution
                    } else {
                        0.0
                    },
                })
            })
            .collect()
    }

    /// The deterministic IsSolved status (see the module docs).
    pub fn final_status(&self, trajectory: &Trajectory) -> AnswerStatus {
        rule_final_status(trajectory).unwrap_or(self.config.answered_status)
    }
}

/// The part of IsSolved rules can decide: `Some(Unsolved)` for no well-formed `Finish`, a give
/// up, or an empty / give-up final answer; `None` when an answer needs judging.
pub fn rule_final_status(trajectory: &Trajectory) -> Option<AnswerStatus> {
    let Some(finish) = trajectory.finish() else {
        return Some(AnswerStatus::Unsolved);
    };
    if finish.return_type == ReturnType::GiveUpAndRestart {
        return Some(AnswerStatus::Unsolved);
    }
    match finish.final_answer.as_deref() {
        None => Some(AnswerStatus::Unsolved),
        Some(a) if a.trim().is_empty() || a.contains("give_up_and_restart") => {
            Some(AnswerStatus::Unsolved)
        }
        Some(_) => None,
    }
}

impl RewardAnnotator for RuleAnnotator {
    fn name(&self) -> &str {
        "rules"
    }

    fn fingerprint(&self) -> String {
        format!(
            "rules v1 threshold={} relevant={} format={} answered={}",
            self.config.lcs_threshold,
            self.config.relevant_contribution,
            self.config.check_format,
            self.config.answered_status
        )
    }

    fn annotate(&self, trajectory: &Trajectory) -> Result<StepAnnotation> {
        let verdicts = self.verdicts(trajectory)?;
        let round = RoundScores {
            succeed_tool_calling: verdicts
                .iter()
                .map(|v| if v.succ { 1.0 } else { 0.0 })
                .collect(),
            contributions: verdicts.iter().map(|v| v.contribution).collect(),
            status: self.final_status(trajectory),
        };
        StepAnnotation::for_trajectory(trajectory, vec![round], Provenance::of(self))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn succ_calling_cases() {
        // Error field set.
        assert!(!succ_calling(
            r#"{"error": "Timeout error...", "response": ""}"#
        ));
        // Truncated error JSON is repaired with `"}` and still says error.
        assert!(!succ_calling(r#"{"error": "Message error..."#));
        // Non-prefix formatting: response dict with status 400 fails, 200 succeeds.
        assert!(!succ_calling(r#"{"error":"","response":{"status":400}}"#));
        assert!(succ_calling(r#"{"error":"","response":{"status":200}}"#));
        // String responses: error words.
        assert!(!succ_calling(
            r#"{"error":"","response":"something went wrong"}"#
        ));
        assert!(!succ_calling(r#"{"error":"","response":"list is empty"}"#));
        assert!(succ_calling(r#"{"error":"","response":"Paris"}"#));
        // Lists, numbers, booleans succeed.
        assert!(succ_calling(r#"{"error":"","response":[1,2]}"#));
        assert!(succ_calling(r#"{"error":"","response":false}"#));
        // The canonical prefix short-circuits even for an error-looking response.
        assert!(succ_calling(r#"{"error": "", "response": "error"}"#));
        // Not JSON at all.
        assert!(!succ_calling("Internal Server Error"));
    }

    #[test]
    fn response_text_and_ratio() {
        assert_eq!(response_text(r#"{"error": "", "response": "abc"}"#), "abc");
        // A dict response is Python's str(dict): its repr.
        assert_eq!(
            response_text(r#"{"error": "", "response": {"a": [1, true, null], "b": "x"}}"#),
            "{'a': [1, True, None], 'b': 'x'}"
        );
        // Truncated observation: drop the 26-char prefix.
        assert_eq!(
            response_text(r#"{"error": "", "response": "abcdef..."#),
            "\"abcdef..."
        );
        // "abcd" vs answer "xaxbx": LCS "ab" = 2 -> 2/4.
        assert_eq!(
            contribution_ratio(r#"{"error":"","response":"abcd"}"#, "xaxbx"),
            Some(0.5)
        );
        assert_eq!(
            contribution_ratio(r#"{"error":"","response":""}"#, "x"),
            None
        );
    }
}
