//! The StableToolBench server's simulation of a missing response with an LLM
//! (`fake_response_function_chat`, formats.md §4.2 step 7), over any OpenAI-compatible
//! chat-completions endpoint, through steptool-llm's [`Client`] (key as [`ApiKey`], one
//! request per try as the server, which does not retry HTTP failures).

use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use steptool_llm::{ApiKey, Client, ClientOptions, Endpoint, RetryPolicy, CHAT_COMPLETIONS};
use steptool_mdp::pylit::PyValue;

use crate::error::{Error, Result};

/// The server's system prompt, verbatim (its `\\n` escapes make blank lines).
pub const SIMULATOR_SYSTEM_PROMPT: &str = "\nImagine you are an API Server operating within a specialized tool, which contains a collection of distinct APIs. Your role is to deeply understand the function of each API based on their descriptions in the API documentation. As you receive specific inputs for individual API calls within this tool, analyze these inputs to determine their intended purpose. Your task is to craft a JSON formatted response that aligns with the expected output of the API, guided by the provided examples.\n\nYour responses must adhere to a specific JSON structure, which is as follows:\n\n{\n    \"error\": \"\",\n    \"response\": \"<Your_Response>\"\n}\n\nThe error field should remain empty, indicating no errors in processing. The response field should contain the content you formulate based on the API's functionality and the input provided. Ensure that your responses are meaningful, directly addressing the API's intended functionality. If the provided examples are mostly error messages or lack substantial content, use your judgment to create relevant and accurate responses. The key is to maintain the JSON format's integrity while ensuring that your response is an accurate reflection of the API's intended output within the tool.\n\nPlease note that your answer should not contain anything other than a json format object, which should be parsable directly to json.\nNote that:\n- your response should be around 100 to 200 words, containing rich information given the api input parameters. Keep Your answer short and simple.\n- your response must be effective and have practical content.\n- if the api response example if null or ineffective, ignore the example and give your independent response.\n    ";

/// Settings of the simulator endpoint (the server's `api_base`, `model`, `temperature`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SimulatorConfig {
    /// OpenAI base URL, e.g. `http://localhost:8000/v1` (required).
    pub base_url: String,
    /// Model (the server's default: `gpt-4-turbo-preview`) (required).
    pub model: String,
    /// Bearer token. Default none. Serialised as `"<redacted>"`.
    #[serde(default)]
    pub api_key: Option<ApiKey>,
    /// Temperature. Default 0.
    #[serde(default)]
    pub temperature: f64,
    /// Timeout per request in seconds. Default 120.
    #[serde(default = "d_timeout")]
    pub timeout_secs: f64,
}

fn d_timeout() -> f64 {
    120.0
}

impl SimulatorConfig {
    /// Defaults for an endpoint and model.
    pub fn new(base_url: impl Into<String>, model: impl Into<String>) -> Self {
        Self {
            base_url: base_url.into(),
            model: model.into(),
            api_key: None,
            temperature: 0.0,
            timeout_secs: d_timeout(),
        }
    }

    /// The client this config describes: one request per try, `timeout_secs` each.
    pub fn client(&self) -> Result<Client> {
        if !(self.timeout_secs.is_finite() && self.timeout_secs > 0.0) {
            return Err(Error::config(
                "simulator.timeout_secs",
                format!("{} is not a positive number of seconds", self.timeout_secs),
            ));
        }
        Ok(Client::single(
            Endpoint::new(self.base_url.clone(), self.api_key.clone()),
            ClientOptions {
                timeout: Duration::from_secs_f64(self.timeout_secs),
                connect_timeout: None,
                retry: RetryPolicy::none(),
                concurrency: None,
            },
        )?)
    }
}

/// The user message: `"API Documentation:" + str(api_doc) + "\nAPI Examples:" +
/// str(examples)[:2048] + "\nAPI Input:" + str(tool_input) + "\n"`, where `examples` are the
/// first ≤ 5 `(key, entry)` pairs of the API's cache file, fewer while their `str` exceeds 2048
/// characters.
pub fn simulator_user_prompt(
    api_doc: &Value,
    cache_items: &[(String, Value)],
    tool_input: &Value,
) -> String {
    let as_tuples = |n: usize| -> String {
        PyValue::List(
            cache_items
                .iter()
                .take(n)
                .map(|(k, v)| PyValue::Tuple(vec![PyValue::Str(k.clone()), PyValue::from_json(v)]))
                .collect(),
        )
        .repr()
    };
    let mut n = 5;
    let mut examples = as_tuples(n);
    while examples.chars().count() > 2048 && n > 1 {
        n -= 1;
        examples = as_tuples(n);
    }
    let examples: String = examples.chars().take(2048).collect();
    format!(
        "API Documentation:{}\nAPI Examples:{examples}\nAPI Input:{}\n",
        PyValue::from_json(api_doc).repr(),
        PyValue::from_json(tool_input).str()
    )
}

/// Ask the simulator through `client` (from [`SimulatorConfig::client`]); up to 3 tries for a
/// JSON answer (```` ```json ```` fences removed), else the server's
/// `{"error": "Failed to generate fake response", "response": ""}`. A transport or HTTP
/// failure is an error (the server would answer HTTP 500).
pub fn simulate(client: &Client, config: &SimulatorConfig, user_prompt: &str) -> Result<Value> {
    let body = json!({
        "model": config.model,
        "messages": [{"role": "system", "content": SIMULATOR_SYSTEM_PROMPT}, {"role": "user", "content": user_prompt}],
        "max_tokens": 1024,
        "temperature": config.temperature,
        "response_format": {"type": "json_object"},
    });
    for _ in 0..3 {
        let resp = client.post_json(CHAT_COMPLETIONS, &body)?;
        let mut text = resp
            .pointer("/choices/0/message/content")
            .and_then(Value::as_str)
            .ok_or_else(|| {
                Error::data(
                    format!("simulator {}", config.base_url),
                    "no choices[0].message.content in the simulator's response",
                )
            })?
            .to_owned();
        if text.contains("```json") {
            text = text
                .replace("```json", "")
                .replace("```", "")
                .trim()
                .to_owned();
        }
        if let Ok(v) = serde_json::from_str::<Value>(&text) {
            return Ok(v);
        }
    }
    Ok(json!({"error": "Failed to generate fake response", "response": ""}))
}
