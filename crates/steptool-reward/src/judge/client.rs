//! HTTP transport of the judge: endpoint/key pool (round-robin), retries with exponential
//! backoff and jitter, a concurrency limit, and API keys that never reach a log.

use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Condvar, Mutex};
use std::time::Duration;

use rand::Rng;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::annotation::Usage;
use crate::error::{Error, Result};

/// An API key. It is only ever written into the `Authorization` header: `Debug` prints
/// `ApiKey(<redacted>)`, there is no `Display` and no `Serialize`.
#[derive(Clone, PartialEq, Eq)]
pub struct ApiKey(String);

impl std::fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ApiKey(<redacted>)")
    }
}

impl ApiKey {
    /// A key from its text (surrounding whitespace removed). Empty is an error.
    pub fn new(key: impl Into<String>) -> Result<Self> {
        let key = key.into().trim().to_owned();
        if key.is_empty() {
            return Err(Error::ApiKey("the key is empty".into()));
        }
        Ok(Self(key))
    }

    /// The key in environment variable `var`; the error names the variable, not the value.
    pub fn from_env(var: &str) -> Result<Self> {
        let value = std::env::var(var)
            .map_err(|e| Error::ApiKey(format!("environment variable `{var}`: {e}")))?;
        Self::new(value)
            .map_err(|_| Error::ApiKey(format!("environment variable `{var}` is empty")))
    }

    /// The key in a file holding just the key (surrounding whitespace ignored).
    pub fn from_file(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        Self::new(text)
            .map_err(|_| Error::ApiKey(format!("{}: the key file is empty", path.display())))
    }

    fn header_value(&self) -> String {
        format!("Bearer {}", self.0)
    }
}

/// One OpenAI-compatible endpoint: a base URL (`https://api.openai.com/v1`,
/// `http://localhost:8000/v1` for vLLM) and its key (none for a local server without auth).
/// Requests go to `<base_url>/chat/completions` (a base URL that already ends with
/// `/chat/completions` is used as is).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// The base URL.
    pub base_url: String,
    /// The key, if the server wants one.
    pub api_key: Option<ApiKey>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PoolEntry {
    api_key: String,
    #[serde(default)]
    api_base: Option<String>,
}

impl Endpoint {
    /// An endpoint with an optional key.
    pub fn new(base_url: impl Into<String>, api_key: Option<ApiKey>) -> Self {
        Self {
            base_url: base_url.into(),
            api_key,
        }
    }

    /// The chat-completions URL.
    pub fn url(&self) -> String {
        let base = self.base_url.trim_end_matches('/');
        if base.ends_with("/chat/completions") {
            base.to_owned()
        } else {
            format!("{base}/chat/completions")
        }
    }

    /// The reference's key pool file (`API_POOL_FILE`, formats.md §2.3): a JSON list of
    /// `{"api_key": "...", "api_base": "..."}`; entries without `api_base` use `default_base`.
    pub fn pool_from_file(path: impl AsRef<Path>, default_base: &str) -> Result<Vec<Endpoint>> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        // The parse error of serde_json may quote input; for a key file, say only where it is.
        let entries: Vec<PoolEntry> = serde_json::from_str(&text).map_err(|e| {
            Error::ApiKey(format!(
                "{}: not a JSON list of {{\"api_key\", \"api_base\"}} objects (line {}, column {})",
                path.display(),
                e.line(),
                e.column()
            ))
        })?;
        if entries.is_empty() {
            return Err(Error::ApiKey(format!(
                "{}: the key pool is empty",
                path.display()
            )));
        }
        entries
            .into_iter()
            .enumerate()
            .map(|(i, e)| {
                let key = ApiKey::new(e.api_key).map_err(|_| {
                    Error::ApiKey(format!(
                        "{}: entry {i} has an empty api_key",
                        path.display()
                    ))
                })?;
                Ok(Endpoint::new(
                    e.api_base.unwrap_or_else(|| default_base.to_owned()),
                    Some(key),
                ))
            })
            .collect()
    }
}

/// Retries of transient failures (HTTP 429, 5xx, timeouts, connection errors).
///
/// The wait before retry `n` (1-based) is `initial_backoff_ms * multiplier^(n-1)`, capped at
/// `max_backoff_ms`, with "equal jitter" (uniform in `[d/2, d]`) when `jitter` is on; a 429 or
/// 503 with a `Retry-After: <seconds>` header waits that long instead (capped at
/// `max_retry_after_ms`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RetryPolicy {
    /// Requests per answer, the first included (default 6).
    pub max_attempts: u32,
    /// First backoff in milliseconds (default 1000).
    pub initial_backoff_ms: u64,
    /// Backoff growth factor (default 2).
    pub multiplier: f64,
    /// Largest backoff in milliseconds (default 60 000).
    pub max_backoff_ms: u64,
    /// Randomise waits so that many workers do not retry in lockstep (default `true`).
    pub jitter: bool,
    /// Largest `Retry-After` honoured, in milliseconds (default 120 000).
    pub max_retry_after_ms: u64,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 6,
            initial_backoff_ms: 1000,
            multiplier: 2.0,
            max_backoff_ms: 60_000,
            jitter: true,
            max_retry_after_ms: 120_000,
        }
    }
}

impl RetryPolicy {
    pub(crate) fn validate(&self) -> Result<()> {
        if self.max_attempts == 0 {
            return Err(Error::config("retry.max_attempts", "must be at least 1"));
        }
        if !(self.multiplier.is_finite() && self.multiplier >= 1.0) {
            return Err(Error::config(
                "retry.multiplier",
                format!("{} must be a finite number >= 1", self.multiplier),
            ));
        }
        Ok(())
    }

    /// The wait before retry number `retry` (1-based), given the server's `Retry-After`.
    pub fn backoff(&self, retry: u32, retry_after: Option<Duration>) -> Duration {
        if let Some(after) = retry_after {
            return after.min(Duration::from_millis(self.max_retry_after_ms));
        }
        let exp = self.multiplier.powi(retry.saturating_sub(1).min(63) as i32);
        let ms = (self.initial_backoff_ms as f64 * exp).min(self.max_backoff_ms as f64);
        let ms = if self.jitter && ms > 0.0 {
            rand::thread_rng().gen_range(ms / 2.0..=ms)
        } else {
            ms
        };
        Duration::from_secs_f64(ms / 1000.0)
    }
}

/// A counting semaphore: at most `permits` requests in flight across all threads.
pub(crate) struct Semaphore {
    free: Mutex<usize>,
    cond: Condvar,
}

pub(crate) struct Permit<'a>(&'a Semaphore);

impl Semaphore {
    pub(crate) fn new(permits: usize) -> Self {
        Self {
            free: Mutex::new(permits),
            cond: Condvar::new(),
        }
    }

    pub(crate) fn acquire(&self) -> Permit<'_> {
        let mut free = self
            .free
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        while *free == 0 {
            free = self
                .cond
                .wait(free)
                .unwrap_or_else(std::sync::PoisonError::into_inner);
        }
        *free -= 1;
        Permit(self)
    }
}

impl Drop for Permit<'_> {
    fn drop(&mut self) {
        let mut free = self
            .0
            .free
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        *free += 1;
        self.0.cond.notify_one();
    }
}

/// Timeouts of one request.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Timeouts {
    pub connect: Duration,
    pub request: Duration,
}

/// Sends chat-completion requests over the pool with retries. Returns the response body text
/// of the first 2xx answer.
pub(crate) struct Transport {
    agent: ureq::Agent,
    endpoints: Vec<Endpoint>,
    next: AtomicUsize,
    retry: RetryPolicy,
    limit: Semaphore,
}

impl std::fmt::Debug for Transport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Transport")
            .field("endpoints", &self.endpoints)
            .field("retry", &self.retry)
            .finish_non_exhaustive()
    }
}

/// Why one request failed.
enum Failure {
    Ureq(Box<ureq::Error>),
    Body(std::io::Error),
}

/// The first 300 characters of a body, for error messages.
fn excerpt(body: &str) -> String {
    let mut s: String = body.chars().take(300).collect();
    if body.chars().nth(300).is_some() {
        s.push('…');
    }
    s
}

impl Transport {
    pub(crate) fn new(
        endpoints: Vec<Endpoint>,
        retry: RetryPolicy,
        timeouts: Timeouts,
        concurrency: usize,
    ) -> Result<Self> {
        if endpoints.is_empty() {
            return Err(Error::config(
                "endpoints",
                "at least one endpoint is needed",
            ));
        }
        if concurrency == 0 {
            return Err(Error::config("concurrency", "must be at least 1"));
        }
        retry.validate()?;
        let agent = ureq::AgentBuilder::new()
            .timeout_connect(timeouts.connect)
            .timeout(timeouts.request)
            .build();
        Ok(Self {
            agent,
            endpoints,
            next: AtomicUsize::new(0),
            retry,
            limit: Semaphore::new(concurrency),
        })
    }

    pub(crate) fn endpoints(&self) -> &[Endpoint] {
        &self.endpoints
    }

    /// POST `body`; transient failures are retried on the next endpoint of the pool.
    pub(crate) fn post(&self, body: &Value, label: &str, usage: &mut Usage) -> Result<String> {
        let mut attempt = 0u32;
        loop {
            let endpoint =
                &self.endpoints[self.next.fetch_add(1, Ordering::Relaxed) % self.endpoints.len()];
            let url = endpoint.url();
            attempt += 1;
            usage.requests += 1;
            let result = {
                let _permit = self.limit.acquire();
                let mut request = self.agent.post(&url);
                if let Some(key) = &endpoint.api_key {
                    request = request.set("Authorization", &key.header_value());
                }
                match request.send_json(body) {
                    Ok(resp) => resp.into_string().map_err(Failure::Body),
                    Err(e) => Err(Failure::Ureq(Box::new(e))),
                }
            };
            let (message, retry_after, transport) = match result {
                Ok(text) => return Ok(text),
                // The body broke off (timeout or dropped connection while reading it).
                Err(Failure::Body(e)) => (format!("reading the response body: {e}"), None, None),
                Err(Failure::Ureq(e)) => match *e {
                    ureq::Error::Status(code, resp) => {
                        let retry_after = resp
                            .header("Retry-After")
                            .and_then(|v| v.trim().parse::<f64>().ok())
                            .filter(|s| s.is_finite() && *s >= 0.0)
                            .map(Duration::from_secs_f64);
                        let mut body = resp.into_string().unwrap_or_default();
                        if let Some(key) = &endpoint.api_key {
                            // Some servers echo the key they rejected.
                            body = body.replace(&key.0, "<redacted>");
                        }
                        let message = format!("HTTP {code}: {}", excerpt(&body));
                        if !(code == 429 || code >= 500) {
                            // 4xx other than 429 will not get better by asking again.
                            return Err(Error::Http {
                                trajectory: label.to_owned(),
                                attempts: attempt,
                                endpoint: url,
                                message,
                                source: None,
                            });
                        }
                        (message, retry_after, None)
                    }
                    ureq::Error::Transport(t) => (t.to_string(), None, Some(Box::new(t))),
                },
            };
            if attempt >= self.retry.max_attempts {
                return Err(Error::Http {
                    trajectory: label.to_owned(),
                    attempts: attempt,
                    endpoint: url,
                    message,
                    source: transport,
                });
            }
            let wait = self.retry.backoff(attempt, retry_after);
            tracing::warn!(
                trajectory = label,
                endpoint = %url,
                attempt,
                wait_ms = wait.as_millis() as u64,
                "judge request failed ({message}); retrying"
            );
            usage.retries += 1;
            std::thread::sleep(wait);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_redacted() -> Result<()> {
        let key = ApiKey::new("sk-secret-123")?;
        let endpoint = Endpoint::new("http://x/v1", Some(key));
        let shown = format!("{endpoint:?}");
        assert!(!shown.contains("secret"), "{shown}");
        assert!(shown.contains("<redacted>"));
        assert!(ApiKey::new("  ").is_err());
        Ok(())
    }

    #[test]
    fn keys_from_env_and_file() -> anyhow::Result<()> {
        std::env::set_var("STEPTOOL_REWARD_TEST_KEY_9F2", " sk-env \n");
        assert_eq!(
            ApiKey::from_env("STEPTOOL_REWARD_TEST_KEY_9F2")?,
            ApiKey::new("sk-env")?
        );
        let missing = ApiKey::from_env("STEPTOOL_REWARD_TEST_KEY_MISSING_9F2").err();
        assert!(format!("{missing:?}").contains("STEPTOOL_REWARD_TEST_KEY_MISSING_9F2"));
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("key");
        std::fs::write(&path, "sk-file\n")?;
        assert_eq!(ApiKey::from_file(&path)?, ApiKey::new("sk-file")?);
        std::fs::write(&path, "\n")?;
        assert!(ApiKey::from_file(&path).is_err());
        Ok(())
    }

    #[test]
    fn urls() {
        assert_eq!(
            Endpoint::new("http://h:8000/v1/", None).url(),
            "http://h:8000/v1/chat/completions"
        );
        assert_eq!(
            Endpoint::new("http://h/v1/chat/completions", None).url(),
            "http://h/v1/chat/completions"
        );
    }

    #[test]
    fn backoff_grows_caps_and_jitters() {
        let p = RetryPolicy {
            jitter: false,
            initial_backoff_ms: 100,
            max_backoff_ms: 350,
            ..RetryPolicy::default()
        };
        // 100 * 2^0, 100 * 2^1, 100 * 2^2 = 400 capped to 350.
        assert_eq!(p.backoff(1, None), Duration::from_millis(100));
        assert_eq!(p.backoff(2, None), Duration::from_millis(200));
        assert_eq!(p.backoff(3, None), Duration::from_millis(350));
        assert_eq!(
            p.backoff(1, Some(Duration::from_secs(500))),
            Duration::from_millis(120_000)
        );
        let j = RetryPolicy { jitter: true, ..p };
        for _ in 0..50 {
            let d = j.backoff(2, None);
            assert!(d >= Duration::from_millis(100) && d <= Duration::from_millis(200));
        }
    }

    #[test]
    fn pool_file_format() -> anyhow::Result<()> {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("pool.json");
        std::fs::write(
            &path,
            r#"[{"api_key": "k1", "api_base": "http://a/v1"}, {"api_key": "k2"}]"#,
        )?;
        let pool = Endpoint::pool_from_file(&path, "http://default/v1")?;
        assert_eq!(pool.len(), 2);
        assert_eq!(pool[0].base_url, "http://a/v1");
        assert_eq!(pool[1].base_url, "http://default/v1");
        assert_eq!(pool[1].api_key, Some(ApiKey::new("k2")?));
        std::fs::write(&path, r#"[{"api_key": "sk-do-not-print", "oops": 1}]"#)?;
        let err = Endpoint::pool_from_file(&path, "x").err();
        let text = format!("{err:?}");
        assert!(!text.contains("sk-do-not-print"), "{text}");
        Ok(())
    }
}
