//! An [`Agent`] over any OpenAI-compatible completions endpoint (vLLM, SGLang), rendering prompts
//! with the chat formats of steptool-mdp as the reference's open-model wrappers do
//! (`LLM/qwen2_sft_model.py`, `llama3_sft_model.py`, `tool_llama_vllm.py`, formats.md §3.4).
//!
//! ```text
//!   messages ──(system: process_system_message + str(functions))──▶ ChatFormat::render_prompt
//!            ──POST {base_url}/completions {prompt, temperature 0, max_tokens 1024, stop,
//!                   truncate_prompt_tokens 7100, [logprobs 1, return_tokens_as_token_ids]}──▶
//!   choices[0].text ──parse_react (never fails)──▶ AgentTurn { thought, call, token ids, log-probs }
//! ```
//!
//! Requests go through steptool-llm's [`Client`]: the key is an [`ApiKey`] (never printed or
//! serialised), `attempts` and `retry_wait_secs` become a fixed-wait [`RetryPolicy`] (a
//! `Retry-After` header is honoured), and a 4xx other than 429 fails at once. An answer
//! without `choices[0].text` (or without the requested token information) is asked again
//! within the same attempts.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use steptool_llm::{Client, ClientOptions, Endpoint, RetryPolicy, COMPLETIONS};
use steptool_mdp::chat::system_prompt::process_system_message;
use steptool_mdp::{parse_react, ChatFormat};

/// The API key type of every config of this crate (steptool-llm's): `Debug` and `Serialize`
/// print `<redacted>`.
pub use steptool_llm::ApiKey;

use crate::agent::{Agent, AgentRequest, AgentTurn};
use crate::conversation::Role;
use crate::error::{Error, Result};

/// Settings of [`OpenAiAgent`]; defaults are the reference's inference settings (formats.md §7.4).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OpenAiAgentConfig {
    /// The server's OpenAI base URL, e.g. `http://localhost:8000/v1` (required).
    pub base_url: String,
    /// The served model name (required).
    pub model: String,
    /// How messages become a prompt (required): `toolllama`, `qwen2` or `llama3`.
    pub chat_format: ChatFormat,
    /// Bearer token, if the server wants one. Default none. Serialised as `"<redacted>"`.
    #[serde(default)]
    pub api_key: Option<ApiKey>,
    /// Sampling temperature. Default 0.
    #[serde(default)]
    pub temperature: f64,
    /// Completion length limit. Default 1024.
    #[serde(default = "d_max_tokens")]
    pub max_tokens: usize,
    /// vLLM's `truncate_prompt_tokens` (keep the last N prompt tokens). Default 7100.
    #[serde(default = "d_truncate")]
    pub truncate_prompt_tokens: Option<usize>,
    /// Request timeout in seconds. Default 300.
    #[serde(default = "d_timeout")]
    pub timeout_secs: f64,
    /// Attempts per turn before giving up (the reference's `TRY_TIME`). Default 6.
    #[serde(default = "d_attempts")]
    pub attempts: usize,
    /// Seconds between attempts. Default 15 (as the reference).
    #[serde(default = "d_wait")]
    pub retry_wait_secs: f64,
    /// Ask for per-token log-probs (`logprobs: 1`) and token ids (vLLM's
    /// `return_tokens_as_token_ids`) so on-policy training never re-tokenises. Default false.
    #[serde(default)]
    pub token_info: bool,
    /// Render DFSDT diversity prompts that were marked `valid: false` (the open-model wrappers
    /// do, formats.md §3.4 quirk). Default true.
    #[serde(default = "d_true")]
    pub render_invalid_messages: bool,
    /// Base seed of per-request sampling seeds (hash of seed, task, sample, turn). Default none
    /// (the server's own randomness).
    #[serde(default)]
    pub seed: Option<u64>,
}

fn d_max_tokens() -> usize {
    1024
}
fn d_truncate() -> Option<usize> {
    Some(7100)
}
fn d_timeout() -> f64 {
    300.0
}
fn d_attempts() -> usize {
    6
}
fn d_wait() -> f64 {
    15.0
}
fn d_true() -> bool {
    true
}

impl OpenAiAgentConfig {
    /// A config with the reference's defaults.
    pub fn new(
        base_url: impl Into<String>,
        model: impl Into<String>,
        chat_format: ChatFormat,
    ) -> Self {
        Self {
            base_url: base_url.into(),
            model: model.into(),
            chat_format,
            api_key: None,
            temperature: 0.0,
            max_tokens: d_max_tokens(),
            truncate_prompt_tokens: d_truncate(),
            timeout_secs: d_timeout(),
            attempts: d_attempts(),
            retry_wait_secs: d_wait(),
            token_info: false,
            render_invalid_messages: true,
            seed: None,
        }
    }

    /// Check every field once.
    pub fn validate(&self) -> Result<()> {
        if !(self.base_url.starts_with("http://") || self.base_url.starts_with("https://")) {
            return Err(Error::config(
                "base_url",
                format!("{:?} is not an http(s) URL", self.base_url),
            ));
        }
        if !(self.temperature.is_finite() && self.temperature >= 0.0) {
            return Err(Error::config(
                "temperature",
                format!("{} must be >= 0", self.temperature),
            ));
        }
        if self.max_tokens == 0 || self.attempts == 0 {
            return Err(Error::config("max_tokens/attempts", "must be at least 1"));
        }
        if !(self.timeout_secs.is_finite() && self.timeout_secs > 0.0) {
            return Err(Error::config(
                "timeout_secs",
                format!("{} is not a positive duration", self.timeout_secs),
            ));
        }
        if !(self.retry_wait_secs.is_finite() && self.retry_wait_secs >= 0.0) {
            return Err(Error::config(
                "retry_wait_secs",
                format!("{} is not a duration", self.retry_wait_secs),
            ));
        }
        Ok(())
    }

    /// The client this config describes (validated first).
    pub fn client(&self) -> Result<Client> {
        self.validate()?;
        let attempts = u32::try_from(self.attempts)
            .map_err(|_| Error::config("attempts", format!("{} is too many", self.attempts)))?;
        Ok(Client::single(
            Endpoint::new(self.base_url.clone(), self.api_key.clone()),
            ClientOptions {
                timeout: Duration::from_secs_f64(self.timeout_secs),
                connect_timeout: None,
                retry: RetryPolicy::fixed(attempts, Duration::from_secs_f64(self.retry_wait_secs)),
                concurrency: None,
            },
        )?)
    }
}

/// An agent served by an OpenAI-compatible completions endpoint.
#[derive(Debug, Clone)]
pub struct OpenAiAgent {
    config: OpenAiAgentConfig,
    client: Client,
}

impl OpenAiAgent {
    /// An agent from a validated config.
    pub fn new(config: OpenAiAgentConfig) -> Result<Self> {
        let client = config.client()?;
        Ok(Self { config, client })
    }

    /// The config.
    pub fn config(&self) -> &OpenAiAgentConfig {
        &self.config
    }

    /// The HTTP client (its counters cover every request this agent and its clones sent).
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// The prompt the reference's open-model wrapper sends for this request.
    pub fn render(&self, request: &AgentRequest<'_>) -> String {
        let inner: Vec<Value> = request
            .functions
            .iter()
            .map(|f| f.get("function").cloned().unwrap_or_else(|| f.clone()))
            .collect();
        let messages: Vec<steptool_mdp::Message> = request
            .messages
            .iter()
            .filter(|m| m.valid || self.config.render_invalid_messages)
            .map(|m| match (m.role, &m.tool_call) {
                (Role::System, _) => steptool_mdp::Message::new(
                    steptool_mdp::Role::System,
                    if inner.is_empty() {
                        m.content.clone()
                    } else {
                        process_system_message(&m.content, &inner)
                    },
                ),
                (Role::User, _) => {
                    steptool_mdp::Message::new(steptool_mdp::Role::User, m.content.clone())
                }
                (Role::Assistant, Some(call)) => {
                    steptool_mdp::Message::assistant_call(m.content.clone(), call.clone())
                }
                (Role::Assistant, None) => {
                    steptool_mdp::Message::new(steptool_mdp::Role::Assistant, m.content.clone())
                }
                (Role::Tool, _) => {
                    steptool_mdp::Message::new(steptool_mdp::Role::Tool, m.content.clone())
                }
            })
            .collect();
        self.config.chat_format.render_prompt(&messages)
    }

    fn body(&self, request: &AgentRequest<'_>, prompt: String) -> Value {
        let c = &self.config;
        let mut body = json!({
            "model": c.model,
            "prompt": prompt,
            "temperature": c.temperature,
            "max_tokens": c.max_tokens,
            "stop": c.chat_format.stop_strings(),
            "echo": false,
        });
        if let Some(n) = c.truncate_prompt_tokens {
            body["truncate_prompt_tokens"] = json!(n);
        }
        if c.token_info {
            body["logprobs"] = json!(1);
            body["return_tokens_as_token_ids"] = json!(true);
        }
        if let Some(seed) = c.seed {
            let mut h: u64 = seed ^ 0xcbf2_9ce4_8422_2325;
            let turn = request.messages.len() as u64;
            for b in request
                .task_id
                .bytes()
                .chain((request.sample as u64).to_le_bytes())
                .chain(turn.to_le_bytes())
            {
                h ^= u64::from(b);
                h = h.wrapping_mul(0x0000_0100_0000_01b3);
            }
            body["seed"] = json!(h >> 1);
        }
        body
    }
}

fn parse_choice(v: &Value, token_info: bool) -> std::result::Result<AgentTurn, String> {
    let choice = v
        .pointer("/choices/0")
        .ok_or("no choices[0] in the response")?;
    let text = choice
        .get("text")
        .and_then(Value::as_str)
        .ok_or("no choices[0].text in the response")?;
    let parsed = parse_react(text);
    let mut turn = AgentTurn::from_call(parsed.thought, parsed.call);
    turn.text = text.to_owned();
    if token_info {
        let lp = choice
            .get("logprobs")
            .ok_or("logprobs were requested but are missing")?;
        let logprobs = lp
            .get("token_logprobs")
            .and_then(Value::as_array)
            .ok_or("logprobs.token_logprobs is missing")?
            .iter()
            .map(|x| {
                x.as_f64()
                    .map(|f| f as f32)
                    .ok_or_else(|| format!("token log-prob {x} is not a number"))
            })
            .collect::<std::result::Result<Vec<f32>, String>>()?;
        let ids = lp
            .get("tokens")
            .and_then(Value::as_array)
            .ok_or("logprobs.tokens is missing")?
            .iter()
            .map(|t| {
                t.as_str()
                    .and_then(|s| s.strip_prefix("token_id:"))
                    .and_then(|s| s.parse::<u32>().ok())
                    .ok_or_else(|| format!("token {t} is not `token_id:N` (is the server vLLM with return_tokens_as_token_ids?)"))
            })
            .collect::<std::result::Result<Vec<u32>, String>>()?;
        if ids.len() != logprobs.len() {
            return Err(format!(
                "{} tokens but {} log-probs",
                ids.len(),
                logprobs.len()
            ));
        }
        turn.token_ids = Some(ids);
        turn.logprobs = Some(logprobs);
    }
    Ok(turn)
}

impl Agent for OpenAiAgent {
    fn act(&self, request: &AgentRequest<'_>) -> Result<AgentTurn> {
        let body = self.body(request, self.render(request));
        let token_info = self.config.token_info;
        match self
            .client
            .post_json_with(COMPLETIONS, &body, |v| parse_choice(v, token_info))
        {
            Ok(reply) => Ok(reply.value),
            // The client's message is redacted; it is quoted once, here.
            Err(e) => {
                tracing::warn!(task = request.task_id, error = %e, "completion failed");
                Err(Error::Agent {
                    task: request.task_id.to_owned(),
                    message: format!("{} attempts failed; last: {e}", e.attempts().unwrap_or(0)),
                })
            }
        }
    }
}
