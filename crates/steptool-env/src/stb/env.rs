//! The StableToolBench environment: the client `rapidapi_wrapper` with the server's cache
//! lookup done locally and misses forwarded (formats.md §4.1, §4.2).

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use steptool_mdp::ToolCall;

use super::cache::{cache_key, check_result, CachePath, ResponseCache};
use super::simulator::{simulate, simulator_user_prompt, SimulatorConfig};
use super::tools::{StbFunction, ToolsFolder};
use crate::env::{
    is_finish_call, no_such_function, reference_finish, system_prompt, task_description,
    user_prompt, Context, Environment, StatusCode, StepStatus, Transition,
};
use crate::error::{Error, Result};
use crate::pyjson::{self, truncate_observation};
use crate::tool::{finish_function, NameMatch};
use steptool_mdp::formats::queries::TestQuery;

/// Settings of the StableToolBench environment. Unknown fields are rejected.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StbConfig {
    /// StableToolBench's `tools/` folder (required).
    pub tools_dir: PathBuf,
    /// Its `tool_response_cache/` folder. Default none (every call is a miss).
    #[serde(default)]
    pub cache_dir: Option<PathBuf>,
    /// A running StableToolBench server's `/virtual` URL for cache misses. Default none: a miss
    /// gets the observation the reference produces when its server can neither find nor fetch
    /// the response (HTTP 500): `{"error": "request invalid, data error. status_code=500",
    /// "response": ""}`, status 12.
    #[serde(default)]
    pub server_url: Option<String>,
    /// The `toolbench_key` sent to the server. Default `""`. Never serialised and redacted in
    /// `Debug`: it reaches neither a written config nor a log line.
    #[serde(default, skip_serializing)]
    pub toolbench_key: ToolbenchKey,
    /// HTTP timeout in seconds. Default 120 (the reference waits forever on `/virtual` URLs;
    /// a timeout becomes the reference's status-5 observation).
    #[serde(default = "default_timeout")]
    pub timeout_secs: f64,
    /// Observation length limit in characters. Default 1024.
    #[serde(default = "default_max_obs")]
    pub max_observation_length: usize,
    /// How called names are matched. Default the reference's suffix match.
    #[serde(default)]
    pub name_match: NameMatch,
    /// Serve only cache entries that pass the server's `check_result` (StepTool's server).
    /// Default true; false serves any non-fake hit (upstream StableToolBench).
    #[serde(default = "yes")]
    pub check_cache_result: bool,
    /// Steps after which a non-finishing step is `Truncated`. Default none.
    #[serde(default)]
    pub max_steps: Option<usize>,
    /// Simulate cache misses with an LLM, as the server's fallback (used when no `server_url`
    /// is set). Default none.
    #[serde(default)]
    pub simulator: Option<SimulatorConfig>,
}

/// The key StableToolBench's server passes on to RapidAPI (`toolbench_key` in the request body
/// and header). `Debug` shows only whether it is set.
#[derive(Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct ToolbenchKey(String);

impl ToolbenchKey {
    /// A key from its text.
    pub fn new(key: impl Into<String>) -> Self {
        Self(key.into())
    }

    /// The text, for the one request field and header that carry it.
    fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for ToolbenchKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.0.is_empty() {
            f.write_str("ToolbenchKey(unset)")
        } else {
            f.write_str("ToolbenchKey(<redacted>)")
        }
    }
}

fn default_timeout() -> f64 {
    120.0
}
fn default_max_obs() -> usize {
    1024
}
fn yes() -> bool {
    true
}

impl StbConfig {
    /// A config with defaults for everything but the tools folder.
    pub fn new(tools_dir: impl Into<PathBuf>) -> Self {
        Self {
            tools_dir: tools_dir.into(),
            cache_dir: None,
            server_url: None,
            toolbench_key: ToolbenchKey::default(),
            timeout_secs: default_timeout(),
            max_observation_length: default_max_obs(),
            name_match: NameMatch::Suffix,
            check_cache_result: true,
            max_steps: None,
            simulator: None,
        }
    }

    /// Check every field once.
    pub fn validate(&self) -> Result<()> {
        if !self.tools_dir.is_dir() {
            return Err(Error::config(
                "tools_dir",
                format!("{} is not a folder", self.tools_dir.display()),
            ));
        }
        if let Some(c) = &self.cache_dir {
            if !c.is_dir() {
                return Err(Error::config(
                    "cache_dir",
                    format!("{} is not a folder", c.display()),
                ));
            }
        }
        if !(self.timeout_secs.is_finite() && self.timeout_secs > 0.0) {
            return Err(Error::config(
                "timeout_secs",
                format!("{} is not a positive number of seconds", self.timeout_secs),
            ));
        }
        if let Some(url) = &self.server_url {
            if !(url.starts_with("http://") || url.starts_with("https://")) {
                return Err(Error::config(
                    "server_url",
                    format!("{url:?} is not an http(s) URL"),
                ));
            }
        }
        Ok(())
    }
}

/// One episode on StableToolBench data.
#[derive(Debug, Clone)]
pub struct StbEnv {
    config: StbConfig,
    tools: ToolsFolder,
    cache: Option<ResponseCache>,
    http: ureq::Agent,
    simulator: Option<steptool_llm::Client>,
    functions: Vec<StbFunction>,
    skipped: Vec<String>,
    steps: usize,
    success: bool,
    ready: bool,
}

impl StbEnv {
    /// An environment from a validated config.
    pub fn new(config: StbConfig) -> Result<Self> {
        config.validate()?;
        let http = ureq::AgentBuilder::new()
            .timeout(Duration::from_secs_f64(config.timeout_secs))
            .build();
        let simulator = config
            .simulator
            .as_ref()
            .map(SimulatorConfig::client)
            .transpose()?;
        Ok(Self {
            tools: ToolsFolder::new(&config.tools_dir),
            cache: config.cache_dir.as_ref().map(ResponseCache::new),
            http,
            simulator,
            config,
            functions: Vec::new(),
            skipped: Vec::new(),
            steps: 0,
            success: false,
            ready: false,
        })
    }

    /// `api_list` entries of the current task that the tools folder does not have (the
    /// reference prints and drops them).
    pub fn skipped_apis(&self) -> &[String] {
        &self.skipped
    }

    fn resolve(&self, name: &str) -> Option<&StbFunction> {
        match self.config.name_match {
            NameMatch::Exact => self.functions.iter().find(|f| f.name == name),
            NameMatch::Suffix => self.functions.iter().find(|f| f.name.ends_with(name)),
        }
    }

    /// The server's answer for a call, as a JSON value (`{"error", "response"}` normally), or a
    /// ready observation with its status for transport failures.
    fn answer(
        &self,
        f: &StbFunction,
        arguments: &str,
    ) -> Result<std::result::Result<Value, (String, StatusCode)>> {
        let path = CachePath::new(&f.category, &f.standard_tool_name, &f.pure_api_name);
        if path.api_name == "chat_with_user" {
            return Ok(Ok(json!({"error": "", "response": "Chat with user."})));
        }
        let parsed: Option<Value> = match serde_json::from_str::<Value>(arguments) {
            Ok(v) => Some(v),
            Err(_) if arguments.is_empty() => Some(Value::Object(Map::new())),
            Err(_) => None,
        };
        let Some(input) = parsed else {
            return Ok(Ok(
                json!({"error": "Tool input parse error...\n", "response": ""}),
            ));
        };
        if let Some(cache) = &self.cache {
            if let Some(mut entry) = cache.get(&path, &cache_key(&input))? {
                let fake = entry
                    .shift_remove("is_fake")
                    .and_then(|v| v.as_bool())
                    .unwrap_or(false);
                if !fake && (!self.config.check_cache_result || check_result(&entry)) {
                    return Ok(Ok(Value::Object(entry)));
                }
            }
        }
        let http_500 = || {
            Ok(Err((
                pyjson::dumps(
                    &json!({"error": "request invalid, data error. status_code=500", "response": ""}),
                    None,
                ),
                StatusCode::SendError,
            )))
        };
        let Some(url) = &self.config.server_url else {
            let (Some(sim), Some(client)) = (&self.config.simulator, &self.simulator) else {
                return http_500();
            };
            let doc = self
                .tools
                .api_doc(&f.category, &f.standard_tool_name, &path.api_name)?;
            let items = match &self.cache {
                Some(cache) => cache.items(&path)?,
                None => Vec::new(),
            };
            return match simulate(client, sim, &simulator_user_prompt(&doc, &items, &input)) {
                Ok(v) => Ok(Ok(v)),
                Err(e) => {
                    tracing::warn!(error = %e, "simulator failed");
                    http_500()
                }
            };
        };
        let payload = json!({
            "category": f.category,
            "tool_name": f.standard_tool_name,
            "api_name": f.pure_api_name,
            "tool_input": arguments,
            "strip": "truncate",
            "toolbench_key": self.config.toolbench_key.expose(),
        });
        let obs = |error: &str, code| {
            Ok(Err((
                pyjson::dumps(&json!({"error": error, "response": ""}), None),
                code,
            )))
        };
        match self
            .http
            .post(url)
            .set("toolbench_key", self.config.toolbench_key.expose())
            .send_json(payload)
        {
            Ok(resp) if resp.status() == 200 => match resp.into_json::<Value>() {
                Ok(v) => Ok(Ok(v)),
                Err(_) => obs("request invalid, data error", StatusCode::SendError),
            },
            Ok(resp) | Err(ureq::Error::Status(_, resp)) => obs(
                &format!("request invalid, data error. status_code={}", resp.status()),
                StatusCode::SendError,
            ),
            Err(ureq::Error::Transport(t)) => {
                let timed_out = std::error::Error::source(&t)
                    .and_then(|s| s.downcast_ref::<std::io::Error>())
                    .is_some_and(|e| {
                        matches!(
                            e.kind(),
                            std::io::ErrorKind::TimedOut | std::io::ErrorKind::WouldBlock
                        )
                    });
                if timed_out {
                    obs("Timeout error...", StatusCode::Timeout)
                } else {
                    // The reference lets a refused connection crash the run; here it is an
                    // observation with the timeout status, as later StableToolBench forks do.
                    tracing::warn!(url = %url, error = %t, "tool server request failed");
                    obs("Connection error...", StatusCode::Timeout)
                }
            }
        }
    }
}

impl Environment for StbEnv {
    type Task = TestQuery;

    fn reset(&mut self, task: &TestQuery) -> Result<Context> {
        let query_id = task.query_id.to_string();
        let mut functions = Vec::new();
        let mut skipped = Vec::new();
        for api in &task.api_list {
            match self
                .tools
                .function(&api.category_name, &api.tool_name, &api.api_name)
            {
                Ok(Some(f)) => functions.push(f),
                Ok(None) => {
                    tracing::warn!(query = %query_id, tool = %api.tool_name, api = %api.api_name, "API missing from the tools folder, dropped");
                    skipped.push(format!("{} / {}", api.tool_name, api.api_name));
                }
                Err(e) => {
                    return Err(Error::Task {
                        task: query_id.clone(),
                        source: Box::new(e),
                    })
                }
            }
        }
        let descriptions: Vec<(String, String)> = functions
            .iter()
            .map(|f| (f.standard_tool_name.clone(), f.tool_description.clone()))
            .collect();
        let mut schemas: Vec<Value> = functions.iter().map(|f| f.schema.clone()).collect();
        schemas.push(finish_function());
        self.functions = functions;
        self.skipped = skipped;
        self.steps = 0;
        self.success = false;
        self.ready = true;
        Ok(Context {
            query_id,
            query: task.query.clone(),
            system: system_prompt(&task_description(&descriptions)),
            user: user_prompt(&task.query),
            functions: schemas,
            relevant_functions: task.relevant_function_names(),
            reference_answer: None,
        })
    }

    fn step(&mut self, call: &ToolCall) -> Result<Transition> {
        if !self.ready {
            return Err(Error::data(
                "StableToolBench environment",
                "step() before reset()",
            ));
        }
        self.steps += 1;
        let (observation, code) = if is_finish_call(call) {
            let f = reference_finish(call.arguments());
            if f.code == StatusCode::FinalAnswer {
                self.success = true;
            }
            (f.observation, f.code)
        } else {
            match self.resolve(call.name()) {
                None => (no_such_function(call.name()), StatusCode::HallucinatedName),
                Some(f) => match self.answer(f, call.arguments())? {
                    Ok(response) => {
                        let error = response.get("error").and_then(Value::as_str).unwrap_or("");
                        (
                            pyjson::dumps(&response, None),
                            StatusCode::from_error_field(error),
                        )
                    }
                    Err(ready) => ready,
                },
            }
        };
        let mut t = Transition::from_code(
            truncate_observation(observation, self.config.max_observation_length),
            code,
        );
        if t.status == StepStatus::Continue
            && self.config.max_steps.is_some_and(|m| self.steps >= m)
        {
            t.status = StepStatus::Truncated;
        }
        Ok(t)
    }

    fn succeeded(&self) -> bool {
        self.success
    }
}

#[cfg(test)]
mod key_tests {
    use super::*;

    #[test]
    fn the_toolbench_key_reaches_neither_debug_nor_a_written_config() {
        let mut cfg = StbConfig::new("tools");
        cfg.toolbench_key = ToolbenchKey::new("sk-secret-123");
        let debug = format!("{cfg:?}");
        let json = serde_json::to_string(&cfg).unwrap_or_default();
        assert!(
            !debug.contains("sk-secret") && debug.contains("<redacted>"),
            "{debug}"
        );
        assert!(
            !json.contains("sk-secret")
                && !json.contains("toolbench_key")
                && json.contains("tools"),
            "{json}"
        );
        // Read from a config file, and used where the server needs it.
        let read: StbConfig = serde_json::from_str(r#"{"tools_dir": "t", "toolbench_key": "k-1"}"#)
            .unwrap_or_else(|_| StbConfig::new("x"));
        assert_eq!(read.toolbench_key.expose(), "k-1");
    }
}
