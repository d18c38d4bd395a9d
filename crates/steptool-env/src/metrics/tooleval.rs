//! ToolEval's LLM pass-rate judge over any OpenAI-compatible chat-completions endpoint
//! (`tooleval_gpt-3.5-turbo_default`, formats.md §6.2; templates and schemas in
//! `fixtures/reference/tooleval_default_{template.txt,config.yaml}`).
//!
//! `check_answer_status(query, answer = the raw Finish arguments)`; on Unsure,
//! `parse_answer_status(query, answer = json.dumps(converted answer))`. Each call sends one user
//! message (the function's template, Python `str.format`-filled) and forces the function with
//! `tools` + `tool_choice`; the status is read from the call's `answer_status` argument.
//!
//! Requests go through steptool-llm's [`Client`] (key as [`ApiKey`], `attempts` and
//! `retry_wait_secs` as a fixed-wait [`RetryPolicy`], `Retry-After` honoured, a 4xx other than
//! 429 fails at once); an answer without a usable tool call is asked again within the same
//! attempts, and the last problem, redacted, ends in the error.

use std::collections::HashMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use steptool_llm::{ApiKey, Client, ClientOptions, Endpoint, RetryPolicy, CHAT_COMPLETIONS};

use super::{AnswerJudge, AnswerStatus, JudgeInput};
use crate::error::{Error, Result};
use crate::pyjson;

/// The evaluator's prompt templates and function schemas.
#[derive(Debug, Clone, PartialEq)]
pub struct ToolEvalTemplates {
    prompts: HashMap<String, String>,
    schemas: HashMap<String, Value>,
}

impl ToolEvalTemplates {
    /// Parse `template.txt` (`<function><name>N</name><description>D</description></function>`
    /// blocks; D keeps its surrounding newlines) and `config.yaml`
    /// (`completions_kwargs.functions`).
    pub fn parse(template: &str, config_yaml: &str) -> Result<Self> {
        let mut prompts = HashMap::new();
        let mut rest = template;
        while let Some(start) = rest.find("<function>") {
            let block_end = rest[start..]
                .find("</function>")
                .map(|e| start + e)
                .ok_or_else(|| {
                    Error::data("ToolEval template", "<function> without </function>")
                })?;
            let block = &rest[start..block_end];
            let between = |open: &str, close: &str| -> Result<String> {
                let a = block.find(open).ok_or_else(|| {
                    Error::data("ToolEval template", format!("block without {open}"))
                })?;
                let b = block[a..].find(close).ok_or_else(|| {
                    Error::data("ToolEval template", format!("block without {close}"))
                })?;
                Ok(block[a + open.len()..a + b].to_owned())
            };
            prompts.insert(
                between("<name>", "</name>")?.trim().to_owned(),
                between("<description>", "</description>")?,
            );
            rest = &rest[block_end + "</function>".len()..];
        }
        let config: Value = serde_yaml::from_str(config_yaml)
            .map_err(|e| Error::data("ToolEval config", format!("invalid YAML: {e}")))?;
        let functions = config
            .pointer("/completions_kwargs/functions")
            .and_then(Value::as_array)
            .ok_or_else(|| {
                Error::data("ToolEval config", "missing completions_kwargs.functions")
            })?;
        let mut schemas = HashMap::new();
        for f in functions {
            let name = f
                .get("name")
                .and_then(Value::as_str)
                .ok_or_else(|| Error::data("ToolEval config", "function without name"))?;
            schemas.insert(name.to_owned(), f.clone());
        }
        for needed in ["check_answer_status", "parse_answer_status"] {
            if !prompts.contains_key(needed) || !schemas.contains_key(needed) {
                return Err(Error::data(
                    "ToolEval templates",
                    format!("no template or schema for `{needed}`"),
                ));
            }
        }
        Ok(Self { prompts, schemas })
    }

    /// The filled prompt of `function` (Python `str.format` with named fields).
    pub fn prompt(&self, function: &str, fields: &[(&str, &str)]) -> Result<String> {
        let template = self.prompts.get(function).ok_or_else(|| {
            Error::data("ToolEval templates", format!("no template `{function}`"))
        })?;
        py_format(template, fields)
            .map_err(|m| Error::data(format!("ToolEval template `{function}`"), m))
    }
}

fn py_format(template: &str, fields: &[(&str, &str)]) -> std::result::Result<String, String> {
    let mut out = String::with_capacity(template.len());
    let mut chars = template.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        match c {
            '{' if chars.peek().map(|p| p.1) == Some('{') => {
                chars.next();
                out.push('{');
            }
            '}' if chars.peek().map(|p| p.1) == Some('}') => {
                chars.next();
                out.push('}');
            }
            '{' => {
                let end = template[i..]
                    .find('}')
                    .ok_or_else(|| format!("unclosed `{{` at byte {i}"))?;
                let name = &template[i + 1..i + end];
                let value = fields
                    .iter()
                    .find(|(k, _)| *k == name)
                    .ok_or_else(|| format!("no value for field `{name}`"))?;
                out.push_str(value.1);
                while chars.peek().is_some_and(|p| p.0 <= i + end) {
                    chars.next();
                }
            }
            '}' => return Err(format!("single `}}` at byte {i}")),
            _ => out.push(c),
        }
    }
    Ok(out)
}

/// Endpoint settings of the LLM judge.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LlmJudgeConfig {
    /// OpenAI base URL, e.g. `https://api.openai.com/v1` (required).
    pub base_url: String,
    /// Model (the paper: `gpt-4-turbo-2024-04-09`) (required).
    pub model: String,
    /// Bearer token. Default none. Serialised as `"<redacted>"`.
    #[serde(default)]
    pub api_key: Option<ApiKey>,
    /// `max_tokens`. Default 1000.
    #[serde(default = "d_max_tokens")]
    pub max_tokens: usize,
    /// Timeout per request in seconds. Default 60.
    #[serde(default = "d_timeout")]
    pub timeout_secs: f64,
    /// Attempts per call. Default 3.
    #[serde(default = "d_attempts")]
    pub attempts: usize,
    /// Seconds between attempts. Default 4.
    #[serde(default = "d_wait")]
    pub retry_wait_secs: f64,
}

fn d_max_tokens() -> usize {
    1000
}
fn d_timeout() -> f64 {
    60.0
}
fn d_attempts() -> usize {
    3
}
fn d_wait() -> f64 {
    4.0
}

impl LlmJudgeConfig {
    /// Defaults for an endpoint and model.
    pub fn new(base_url: impl Into<String>, model: impl Into<String>) -> Self {
        Self {
            base_url: base_url.into(),
            model: model.into(),
            api_key: None,
            max_tokens: d_max_tokens(),
            timeout_secs: d_timeout(),
            attempts: d_attempts(),
            retry_wait_secs: d_wait(),
        }
    }
}

/// ToolEval's pass-rate judge.
#[derive(Debug, Clone)]
pub struct ToolEvalJudge {
    templates: ToolEvalTemplates,
    config: LlmJudgeConfig,
    client: Client,
}

impl ToolEvalJudge {
    /// A judge from templates and a validated config.
    pub fn new(templates: ToolEvalTemplates, config: LlmJudgeConfig) -> Result<Self> {
        if !(config.base_url.starts_with("http://") || config.base_url.starts_with("https://")) {
            return Err(Error::config(
                "base_url",
                format!("{:?} is not an http(s) URL", config.base_url),
            ));
        }
        if config.attempts == 0 || !(config.timeout_secs.is_finite() && config.timeout_secs > 0.0) {
            return Err(Error::config(
                "attempts/timeout_secs",
                "need at least one attempt and a positive timeout",
            ));
        }
        if !(config.retry_wait_secs.is_finite() && config.retry_wait_secs >= 0.0) {
            return Err(Error::config(
                "retry_wait_secs",
                format!("{} is not a duration", config.retry_wait_secs),
            ));
        }
        let attempts = u32::try_from(config.attempts)
            .map_err(|_| Error::config("attempts", format!("{} is too many", config.attempts)))?;
        let client = Client::single(
            Endpoint::new(config.base_url.clone(), config.api_key.clone()),
            ClientOptions {
                timeout: Duration::from_secs_f64(config.timeout_secs),
                connect_timeout: None,
                retry: RetryPolicy::fixed(
                    attempts,
                    Duration::from_secs_f64(config.retry_wait_secs),
                ),
                concurrency: None,
            },
        )?;
        Ok(Self {
            templates,
            config,
            client,
        })
    }

    /// The config.
    pub fn config(&self) -> &LlmJudgeConfig {
        &self.config
    }

    /// The HTTP client (its counters cover every request this judge and its clones sent).
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// Call `function` with the filled prompt; `parse` turns the forced call's arguments into
    /// the result (an `Err` retries).
    fn call<T>(
        &self,
        function: &str,
        fields: &[(&str, &str)],
        ctx: &str,
        parse: impl Fn(&Value) -> std::result::Result<T, String>,
    ) -> Result<T> {
        let prompt = self.templates.prompt(function, fields)?;
        let schema = self
            .templates
            .schemas
            .get(function)
            .cloned()
            .unwrap_or(Value::Null);
        let body = json!({
            "model": self.config.model,
            "messages": [{"role": "user", "content": prompt}],
            "tools": [{"type": "function", "function": schema}],
            "tool_choice": {"type": "function", "function": {"name": function}},
            "max_tokens": self.config.max_tokens,
            "temperature": 0,
        });
        self.client
            .post_json_with(CHAT_COMPLETIONS, &body, |v| {
                let args = v
                    .pointer("/choices/0/message/tool_calls/0/function/arguments")
                    .and_then(Value::as_str)
                    .ok_or("no tool call in the response")?;
                let args: Value = serde_json::from_str(args)
                    .map_err(|e| format!("tool call arguments are not JSON: {e}"))?;
                parse(&args)
            })
            .map(|reply| reply.value)
            // The client's message is redacted; it is quoted once, here.
            .map_err(|e| {
                Error::data(
                    format!("{ctx}, {function}"),
                    format!("{} attempts failed; last: {e}", e.attempts().unwrap_or(0)),
                )
            })
    }

    fn status(&self, function: &str, query: &str, answer: &str, ctx: &str) -> Result<AnswerStatus> {
        self.call(
            function,
            &[("query", query), ("answer", answer)],
            ctx,
            |args| match args.get("answer_status").and_then(Value::as_str) {
                Some("Solved") => Ok(AnswerStatus::Solved),
                Some("Unsure") => Ok(AnswerStatus::Unsure),
                Some("Unsolved") => Ok(AnswerStatus::Unsolved),
                other => Err(format!(
                    "answer_status {other:?} is not Solved/Unsure/Unsolved"
                )),
            },
        )
    }

    /// `select_better_answer(query, answer_0, answer_1)`: 0 or 1.
    pub fn select_better_answer(
        &self,
        query: &str,
        answer_0: &str,
        answer_1: &str,
        ctx: &str,
    ) -> Result<usize> {
        self.call(
            "select_better_answer",
            &[
                ("query", query),
                ("answer_0", answer_0),
                ("answer_1", answer_1),
            ],
            ctx,
            |args| match args.get("index").and_then(Value::as_f64) {
                Some(0.0) => Ok(0),
                Some(1.0) => Ok(1),
                other => Err(format!("index {other:?} is not 0 or 1")),
            },
        )
    }
}

/// ToolEval's tie-breaker for win rate (`eval_preference.py`, formats.md §6.3): both answers
/// (the converted `answer` objects without `method`, `final_answer` cut to 1000 characters) in
/// a seeded random order; identical answers → a seeded coin flip, otherwise the LLM's
/// `select_better_answer`.
#[derive(Debug)]
pub struct ToolEvalPreference<'a> {
    judge: &'a ToolEvalJudge,
    answers: HashMap<String, (String, Value, Value)>,
    seed: u64,
}

fn preference_answer(record: &crate::rollout::RolloutRecord) -> Value {
    let mut answer = crate::rollout::converted_entry(record)
        .get("answer")
        .cloned()
        .unwrap_or(Value::Null);
    if let Value::Object(map) = &mut answer {
        map.shift_remove("method");
        if let Some(Value::String(f)) = map.get_mut("final_answer") {
            *f = f.chars().take(1000).collect();
        }
    }
    answer
}

impl<'a> ToolEvalPreference<'a> {
    /// Pair sample 0 of each query present in both record sets.
    pub fn new(
        judge: &'a ToolEvalJudge,
        reference: &[crate::rollout::RolloutRecord],
        candidate: &[crate::rollout::RolloutRecord],
        seed: u64,
    ) -> Self {
        let refs: HashMap<&str, &crate::rollout::RolloutRecord> = reference
            .iter()
            .filter(|r| r.sample == 0)
            .map(|r| (r.query_id.as_str(), r))
            .collect();
        let answers = candidate
            .iter()
            .filter(|c| c.sample == 0)
            .filter_map(|c| {
                let r = refs.get(c.query_id.as_str())?;
                Some((
                    c.query_id.clone(),
                    (
                        c.context.query.clone(),
                        preference_answer(r),
                        preference_answer(c),
                    ),
                ))
            })
            .collect();
        Self {
            judge,
            answers,
            seed,
        }
    }
}

impl super::PreferenceJudge for ToolEvalPreference<'_> {
    fn prefer(&self, query_id: &str, round: usize) -> Result<super::Preference> {
        use rand::{Rng, SeedableRng};
        let (query, reference, candidate) = self.answers.get(query_id).ok_or_else(|| {
            Error::data(format!("query {query_id}"), "no pair of answers to compare")
        })?;
        let mut h: u64 = self.seed ^ 0xcbf2_9ce4_8422_2325;
        for b in query_id.bytes().chain((round as u64).to_le_bytes()) {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(h);
        let candidate_first = rng.gen_bool(0.5);
        let same = reference.get("final_answer") == candidate.get("final_answer")
            && reference.get("answer_details") == candidate.get("answer_details");
        let index = if same {
            usize::from(rng.gen_bool(0.5))
        } else {
            let (a0, a1) = if candidate_first {
                (candidate, reference)
            } else {
                (reference, candidate)
            };
            self.judge.select_better_answer(
                query,
                &pyjson::dumps(a0, None),
                &pyjson::dumps(a1, None),
                &format!("query {query_id}, round {round}"),
            )?
        };
        Ok(if (index == 0) == candidate_first {
            super::Preference::Candidate
        } else {
            super::Preference::Reference
        })
    }
}

impl AnswerJudge for ToolEvalJudge {
    fn judge(&self, input: &JudgeInput<'_>, _round: usize) -> Result<AnswerStatus> {
        let ctx = format!("query {}", input.query_id);
        let answer = input.finish_arguments.unwrap_or("");
        let first = self.status("check_answer_status", input.query, answer, &ctx)?;
        if first != AnswerStatus::Unsure {
            return Ok(first);
        }
        let converted = input
            .converted_answer
            .ok_or_else(|| Error::data(&ctx, "parse_answer_status needs the converted answer"))?;
        self.status(
            "parse_answer_status",
            input.query,
            &pyjson::dumps(converted, None),
            &ctx,
        )
    }
}
