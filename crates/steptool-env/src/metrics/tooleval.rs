//! ToolEval's LLM pass-rate judge over any OpenAI-compatible chat-completions endpoint
//! (`tooleval_gpt-3.5-turbo_default`, formats.md §6.2; templates and schemas in
//! `fixtures/reference/tooleval_default_{template.txt,config.yaml}`).
//!
//! `check_answer_status(query, answer = the raw Finish arguments)`; on Unsure,
//! `parse_answer_status(query, answer = json.dumps(converted answer))`. Each call sends one user
//! message (the function's template, Python `str.format`-filled) and forces the function with
//! `tools` + `tool_choice`; the status is read from the call's `answer_status` argument.

use std::collections::HashMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

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
    /// Bearer token. Default none.
    #[serde(default)]
    pub api_key: Option<String>,
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
    http: ureq::Agent,
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
        let http = ureq::AgentBuilder::new()
            .timeout(Duration::from_secs_f64(config.timeout_secs))
            .build();
        Ok(Self {
            templates,
            config,
            http,
        })
    }

    /// Call `function` with the filled prompt and return its `answer_status`.
    fn status(&self, function: &str, query: &str, answer: &str, ctx: &str) -> Result<AnswerStatus> {
        let prompt = self
            .templates
            .prompt(function, &[("query", query), ("answer", answer)])?;
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
        let url = format!(
            "{}/chat/completions",
            self.config.base_url.trim_end_matches('/')
        );
        let mut last = String::new();
        for k in 0..self.config.attempts {
            if k > 0 {
                std::thread::sleep(Duration::from_secs_f64(self.config.retry_wait_secs));
            }
            let mut req = self.http.post(&url);
            if let Some(key) = &self.config.api_key {
                req = req.set("Authorization", &format!("Bearer {key}"));
            }
            let parsed = match req.send_json(body.clone()) {
                Ok(resp) => resp
                    .into_json::<Value>()
                    .map_err(|e| format!("response is not JSON: {e}")),
                Err(e) => Err(e.to_string()),
            }
            .and_then(|v| {
                let args = v
                    .pointer("/choices/0/message/tool_calls/0/function/arguments")
                    .and_then(Value::as_str)
                    .ok_or("no tool call in the response")?;
                let args: Value = serde_json::from_str(args)
                    .map_err(|e| format!("tool call arguments are not JSON: {e}"))?;
                match args.get("answer_status").and_then(Value::as_str) {
                    Some("Solved") => Ok(AnswerStatus::Solved),
                    Some("Unsure") => Ok(AnswerStatus::Unsure),
                    Some("Unsolved") => Ok(AnswerStatus::Unsolved),
                    other => Err(format!(
                        "answer_status {other:?} is not Solved/Unsure/Unsolved"
                    )),
                }
            });
            match parsed {
                Ok(s) => return Ok(s),
                Err(e) => last = e,
            }
        }
        Err(Error::data(
            format!("{ctx}, {function}"),
            format!("{} attempts failed; last: {last}", self.config.attempts),
        ))
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
