//! [`LlmJudgeAnnotator`]: the paper's LLM judge over any OpenAI-compatible chat-completions
//! endpoint (formats.md §2.3).
//!
//! One request per round: a single user message (the reference prompt with the query, the
//! intermediate steps as Python repr and the raw `Finish` arguments), the
//! `evaluate_process_reward` function as the only tool, `tool_choice` forcing it, temperature 0,
//! `max_tokens` 1000. K rounds (default 3) per trajectory, as the reference's
//! `--evaluate_times 3`.
//!
//! What the reference does not do and this does:
//! - every answer is validated: both arrays have one entry per intermediate step, SuccCalling is
//!   0 or 1, Contribution is in 0..=5, the status is one of the three; an invalid answer
//!   (including a body that is not JSON, or no tool call) is asked again, up to
//!   [`JudgeConfig::max_invalid_answers`] times, then it is an [`Error::JudgeAnswer`] naming the
//!   trajectory and round;
//! - transient failures (429 with or without `Retry-After`, 5xx, timeouts, refused or dropped
//!   connections) are retried with exponential backoff and jitter ([`RetryPolicy`]), each retry
//!   on the next endpoint of the pool;
//! - a concurrency limit bounds the requests in flight over all threads;
//! - the HTTP part is steptool-llm's [`steptool_llm::Client`]: keys are [`ApiKey`]s (never
//!   printed or serialised), and every message quoting an answer (a body that is not JSON,
//!   arguments that are not JSON, an out-of-range value) goes through the client's
//!   [`steptool_llm::Redactor`], so a server that echoes the request headers cannot put the key
//!   into an error or a log line;
//! - with [`LlmJudgeAnnotator::with_cache`], each round is stored (fsync'd) as soon as it is
//!   answered, together with the raw answer, so a killed run loses nothing.

pub mod prompt;

use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use steptool_mdp::Trajectory;

pub use steptool_llm::{ApiKey, Endpoint, RetryPolicy};
use steptool_llm::{Client, ClientOptions, Redactor, CHAT_COMPLETIONS};

use crate::annotation::{
    AnswerStatus, Provenance, RewardAnnotator, RoundScores, StepAnnotation, Usage,
};
use crate::cache::AnnotationCache;
use crate::error::{trajectory_label, Error, Result};
use crate::hash::{sha256_hex, sha256_parts, trajectory_hash};

/// Settings of the judge. Every field has a default; unknown fields are rejected.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct JudgeConfig {
    /// Model name sent with every request (default `gpt-4-turbo-2024-04-09`, the paper's).
    pub model: String,
    /// Independent rounds per trajectory, K (default 3).
    pub rounds: usize,
    /// Sampling temperature (default 0).
    pub temperature: f64,
    /// `max_tokens` of every request (default 1000).
    pub max_tokens: u32,
    /// Whole-request timeout in seconds (default 60; the reference used 10, too short for a
    /// busy hosted model).
    pub timeout_secs: f64,
    /// Connect timeout in seconds (default 10).
    pub connect_timeout_secs: f64,
    /// Most requests in flight at once, over all threads (default 4).
    pub concurrency: usize,
    /// Answers per round that may fail validation before giving up (default 3).
    pub max_invalid_answers: u32,
    /// Retries of transient failures.
    pub retry: RetryPolicy,
    /// A custom prompt template (Python `str.format` fields `{query}`, `{mid_steps}`,
    /// `{final_answer}`); `None` (default) is the reference template.
    pub template: Option<String>,
}

impl Default for JudgeConfig {
    fn default() -> Self {
        Self {
            model: "gpt-4-turbo-2024-04-09".into(),
            rounds: 3,
            temperature: 0.0,
            max_tokens: 1000,
            timeout_secs: 60.0,
            connect_timeout_secs: 10.0,
            concurrency: 4,
            max_invalid_answers: 3,
            retry: RetryPolicy::default(),
            template: None,
        }
    }
}

/// One cached judge round: the validated scores and the raw answer they came from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JudgeRound {
    /// The trajectory's query id.
    pub query_id: Option<String>,
    /// 0-based round.
    pub round: usize,
    /// The validated scores.
    pub scores: RoundScores,
    /// The function-call arguments exactly as the judge wrote them.
    pub raw_arguments: String,
    /// Prompt tokens of the accepted answer (when reported).
    pub prompt_tokens: u64,
    /// Completion tokens of the accepted answer (when reported).
    pub completion_tokens: u64,
}

/// The LLM judge (see the module docs).
#[derive(Debug)]
pub struct LlmJudgeAnnotator {
    config: JudgeConfig,
    template: String,
    schema: Value,
    prompt_hash: String,
    client: Client,
    cache: Option<Arc<AnnotationCache>>,
}

impl LlmJudgeAnnotator {
    /// A judge over `endpoints` (used round-robin) with a checked config.
    pub fn new(config: JudgeConfig, endpoints: Vec<Endpoint>) -> Result<Self> {
        if config.rounds == 0 {
            return Err(Error::config("rounds", "must be at least 1"));
        }
        if config.max_invalid_answers == 0 {
            return Err(Error::config("max_invalid_answers", "must be at least 1"));
        }
        if config.model.trim().is_empty() {
            return Err(Error::config("model", "is empty"));
        }
        if !(config.temperature.is_finite() && config.temperature >= 0.0) {
            return Err(Error::config(
                "temperature",
                format!("{} must be finite and >= 0", config.temperature),
            ));
        }
        let secs = |field: &str, s: f64| -> Result<Duration> {
            if s.is_finite() && s > 0.0 {
                Ok(Duration::from_secs_f64(s))
            } else {
                Err(Error::config(
                    field,
                    format!("{s} must be a number of seconds > 0"),
                ))
            }
        };
        let options = ClientOptions {
            timeout: secs("timeout_secs", config.timeout_secs)?,
            connect_timeout: Some(secs("connect_timeout_secs", config.connect_timeout_secs)?),
            retry: config.retry.clone(),
            concurrency: Some(config.concurrency),
        };
        if config.concurrency == 0 {
            return Err(Error::config("concurrency", "must be at least 1"));
        }
        if endpoints.is_empty() {
            return Err(Error::config(
                "endpoints",
                "at least one endpoint is needed",
            ));
        }
        let template = match &config.template {
            Some(t) => t.clone(),
            None => prompt::reference_template()?,
        };
        // Catch unknown fields now rather than at the first trajectory.
        prompt::python_format(
            &template,
            &[("query", ""), ("mid_steps", ""), ("final_answer", "")],
        )?;
        let schema = prompt::reference_schema()?;
        let prompt_hash = sha256_parts(&[template.as_bytes(), schema.to_string().as_bytes()]);
        let client = Client::new(endpoints, options)?;
        Ok(Self {
            config,
            template,
            schema,
            prompt_hash,
            client,
            cache: None,
        })
    }

    /// Store every answered round in `cache` and answer from it when possible.
    pub fn with_cache(mut self, cache: Arc<AnnotationCache>) -> Self {
        self.cache = Some(cache);
        self
    }

    /// The config.
    pub fn config(&self) -> &JudgeConfig {
        &self.config
    }

    /// The endpoints, in round-robin order.
    pub fn endpoints(&self) -> &[Endpoint] {
        self.client.endpoints()
    }

    /// The HTTP client (its counters cover every request this judge sent).
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// The request body for `trajectory` (what is sent for every round).
    pub fn request_body(&self, trajectory: &Trajectory) -> Result<Value> {
        let content = prompt::render(&self.template, trajectory)?;
        Ok(json!({
            "model": self.config.model,
            "messages": [{"role": "user", "content": content}],
            "tools": [{"type": "function", "function": self.schema}],
            "tool_choice": {"type": "function", "function": {"name": prompt::FUNCTION_NAME}},
            "max_tokens": self.config.max_tokens,
            "temperature": self.config.temperature,
        }))
    }

    /// What determines one round's answer (the round count excluded, so raising K reuses the
    /// rounds already answered).
    fn round_fingerprint(&self) -> String {
        format!(
            "judge v1 model={} temperature={} max_tokens={} prompt={}",
            self.config.model, self.config.temperature, self.config.max_tokens, self.prompt_hash
        )
    }

    fn round_key(&self, trajectory_hash: &str, round: usize) -> String {
        sha256_parts(&[
            b"steptool-reward judge round v1",
            trajectory_hash.as_bytes(),
            sha256_hex(self.round_fingerprint().as_bytes()).as_bytes(),
            round.to_string().as_bytes(),
        ])
    }

    /// Ask for one round until a valid answer arrives (or the limits are reached).
    fn ask_round(
        &self,
        trajectory: &Trajectory,
        body: &Value,
        round: usize,
        usage: &mut Usage,
    ) -> Result<JudgeRound> {
        let label = trajectory_label(trajectory);
        let n_mid = trajectory.intermediate_steps().len();
        let mut invalid = 0u32;
        loop {
            let reply = self
                .client
                .post_text(CHAT_COMPLETIONS, body)
                .map_err(|e| Error::Http {
                    trajectory: label.clone(),
                    attempts: e.attempts().unwrap_or(0),
                    llm: Box::new(e),
                })?;
            usage.requests += u64::from(reply.requests);
            usage.retries += u64::from(reply.retries);
            let redactor = self.client.redactor();
            match parse_answer(&reply.value, n_mid, redactor) {
                Ok(answer) => {
                    usage.prompt_tokens += answer.prompt_tokens;
                    usage.completion_tokens += answer.completion_tokens;
                    return Ok(JudgeRound {
                        query_id: trajectory.query_id().map(str::to_owned),
                        round,
                        scores: answer.scores,
                        raw_arguments: answer.raw_arguments,
                        prompt_tokens: answer.prompt_tokens,
                        completion_tokens: answer.completion_tokens,
                    });
                }
                Err(mut problem) => {
                    // Values quoted from the answer may echo the request: one redaction point.
                    problem.message = redactor.redact(&problem.message);
                    usage.prompt_tokens += problem.prompt_tokens;
                    usage.completion_tokens += problem.completion_tokens;
                    invalid += 1;
                    usage.invalid_answers += 1;
                    if invalid >= self.config.max_invalid_answers {
                        return Err(Error::JudgeAnswer {
                            trajectory: label,
                            round,
                            attempts: invalid,
                            message: problem.message,
                        });
                    }
                    tracing::warn!(
                        trajectory = %label,
                        round,
                        "invalid judge answer ({}); asking again",
                        problem.message
                    );
                }
            }
        }
    }
}

impl RewardAnnotator for LlmJudgeAnnotator {
    fn name(&self) -> &str {
        "llm_judge"
    }

    fn fingerprint(&self) -> String {
        format!("{} rounds={}", self.round_fingerprint(), self.config.rounds)
    }

    fn annotate(&self, trajectory: &Trajectory) -> Result<StepAnnotation> {
        let body = self.request_body(trajectory)?;
        let hash = trajectory_hash(trajectory)?;
        let mut usage = Usage::default();
        let mut rounds = Vec::with_capacity(self.config.rounds);
        for round in 0..self.config.rounds {
            let key = self.round_key(&hash, round);
            if let Some(cache) = &self.cache {
                if let Some(hit) = cache.get_as::<JudgeRound>(&key)? {
                    usage.cache_hits += 1;
                    rounds.push(hit.scores);
                    continue;
                }
            }
            let answer = self.ask_round(trajectory, &body, round, &mut usage)?;
            if let Some(cache) = &self.cache {
                cache.put(&key, &answer)?;
            }
            rounds.push(answer.scores);
        }
        let provenance = Provenance {
            model: Some(self.config.model.clone()),
            prompt_hash: Some(self.prompt_hash.clone()),
            ..Provenance::of(self)
        };
        Ok(StepAnnotation::for_trajectory(trajectory, rounds, provenance)?.with_usage(usage))
    }
}

struct Answer {
    scores: RoundScores,
    raw_arguments: String,
    prompt_tokens: u64,
    completion_tokens: u64,
}

struct Problem {
    message: String,
    prompt_tokens: u64,
    completion_tokens: u64,
}

/// Parse and validate a chat-completions response body against `n_mid` intermediate steps.
/// Excerpts of the body are redacted by `redactor` before they are cut.
fn parse_answer(
    body: &str,
    n_mid: usize,
    redactor: &Redactor,
) -> std::result::Result<Answer, Problem> {
    let excerpt = |text: &str| redactor.excerpt(text, 200);
    let problem = |message: String, (p, c): (u64, u64)| Problem {
        message,
        prompt_tokens: p,
        completion_tokens: c,
    };
    let value: Value = serde_json::from_str(body).map_err(|e| {
        problem(
            format!("response body is not JSON ({e}): {}", excerpt(body)),
            (0, 0),
        )
    })?;
    let tokens = (
        value
            .pointer("/usage/prompt_tokens")
            .and_then(Value::as_u64)
            .unwrap_or(0),
        value
            .pointer("/usage/completion_tokens")
            .and_then(Value::as_u64)
            .unwrap_or(0),
    );
    let message = value.pointer("/choices/0/message").ok_or_else(|| {
        problem(
            format!("no `choices[0].message` in the response: {}", excerpt(body)),
            tokens,
        )
    })?;
    let function = message
        .pointer("/tool_calls/0/function")
        .or_else(|| message.get("function_call"))
        .ok_or_else(|| {
            problem(
                "the judge did not call a function (no `tool_calls[0].function`)".into(),
                tokens,
            )
        })?;
    if let Some(name) = function.get("name").and_then(Value::as_str) {
        if name != prompt::FUNCTION_NAME {
            return Err(problem(
                format!(
                    "the judge called `{name}`, expected `{}`",
                    prompt::FUNCTION_NAME
                ),
                tokens,
            ));
        }
    }
    let (raw_arguments, args) = match function.get("arguments") {
        Some(Value::String(s)) => {
            let parsed: Value = serde_json::from_str(s).map_err(|e| {
                problem(
                    format!("function arguments are not JSON ({e}): {}", excerpt(s)),
                    tokens,
                )
            })?;
            (s.clone(), parsed)
        }
        Some(obj @ Value::Object(_)) => (obj.to_string(), obj.clone()),
        _ => {
            return Err(problem(
                "the function call has no `arguments`".into(),
                tokens,
            ))
        }
    };
    let numbers = |field: &str| -> std::result::Result<Vec<f32>, Problem> {
        let list = args
            .get(field)
            .and_then(Value::as_array)
            .ok_or_else(|| problem(format!("`{field}` is missing or not an array"), tokens))?;
        list.iter()
            .enumerate()
            .map(|(k, v)| {
                v.as_f64()
                    .map(|x| x as f32)
                    .ok_or_else(|| problem(format!("`{field}`[{k}] is {v}, not a number"), tokens))
            })
            .collect()
    };
    let succeed_tool_calling = numbers("succeed_tool_calling")?;
    let contributions = numbers("contribution_to_final_answer")?;
    let status_text = args
        .get("final_answer_status")
        .and_then(Value::as_str)
        .ok_or_else(|| {
            problem(
                "`final_answer_status` is missing or not a string".into(),
                tokens,
            )
        })?;
    let status = AnswerStatus::parse(status_text).ok_or_else(|| {
        problem(
            format!(
                "`final_answer_status` is {status_text:?}, expected Solved, Unsure or Unsolved"
            ),
            tokens,
        )
    })?;
    let scores = RoundScores {
        succeed_tool_calling,
        contributions,
        status,
    };
    scores.check(n_mid).map_err(|m| problem(m, tokens))?;
    Ok(Answer {
        scores,
        raw_arguments,
        prompt_tokens: tokens.0,
        completion_tokens: tokens.1,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(args: &str) -> String {
        json!({"choices": [{"message": {"tool_calls": [{"type": "function", "function": {"name": "evaluate_process_reward", "arguments": args}}]}}], "usage": {"prompt_tokens": 10, "completion_tokens": 3}}).to_string()
    }

    #[test]
    fn answer_validation() {
        let ok = parse_answer(
            &body(
                r#"{"succeed_tool_calling": [1, 0], "contribution_to_final_answer": [4, 2.5], "final_answer_status": "Solved"}"#,
            ),
            2,
            &Redactor::default(),
        );
        let ok = ok.map_err(|p| p.message);
        assert!(
            matches!(&ok, Ok(a) if a.scores.contributions == vec![4.0, 2.5] && a.prompt_tokens == 10)
        );
        for (args, n, needle) in [
            (
                r#"{"succeed_tool_calling": [1], "contribution_to_final_answer": [4, 2], "final_answer_status": "Solved"}"#,
                2,
                "1 value(s)",
            ),
            (
                r#"{"succeed_tool_calling": [1, 2], "contribution_to_final_answer": [4, 2], "final_answer_status": "Solved"}"#,
                2,
                "expected 0 or 1",
            ),
            (
                r#"{"succeed_tool_calling": [1, 0], "contribution_to_final_answer": [4, 6], "final_answer_status": "Solved"}"#,
                2,
                "from 0 to 5",
            ),
            (
                r#"{"succeed_tool_calling": [1, 0], "contribution_to_final_answer": [4, 1], "final_answer_status": "Maybe"}"#,
                2,
                "\"Maybe\"",
            ),
            (
                r#"{"succeed_tool_calling": [1, "x"], "contribution_to_final_answer": [4, 1], "final_answer_status": "Solved"}"#,
                2,
                "not a number",
            ),
            (
                r#"{"succeed_tool_calling": [1, 0], "final_answer_status": "Solved"}"#,
                2,
                "contribution_to_final_answer",
            ),
            (r#"{"succeed_tool_calling": [1, 0"#, 2, "not JSON"),
        ] {
            match parse_answer(&body(args), n, &Redactor::default()) {
                Ok(_) => panic!("accepted {args}"),
                Err(p) => assert!(p.message.contains(needle), "{args}: {}", p.message),
            }
        }
        let none = Redactor::default();
        assert!(parse_answer("<html>", 0, &none).is_err());
        assert!(
            parse_answer(r#"{"choices": [{"message": {"content": "hi"}}]}"#, 0, &none).is_err()
        );
    }
}
