//! [`Client`]: POST JSON to an OpenAI-compatible endpoint pool with retries, timeouts, a
//! concurrency limit and counters.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use serde_json::Value;

use crate::endpoint::Endpoint;
use crate::error::{Error, Result};
use crate::redact::Redactor;
use crate::retry::RetryPolicy;

/// How many characters of a response body an error quotes.
const EXCERPT_CHARS: usize = 300;

/// Settings of a [`Client`], checked by [`Client::new`].
#[derive(Debug, Clone, PartialEq)]
pub struct ClientOptions {
    /// Whole-request timeout, connect to last byte (default 60 s).
    pub timeout: Duration,
    /// Connect timeout (default none: only `timeout` bounds the connect).
    pub connect_timeout: Option<Duration>,
    /// Retries of transient failures (default [`RetryPolicy::default`]).
    pub retry: RetryPolicy,
    /// Most requests in flight at once over every clone of the client and every thread
    /// (default none: unlimited).
    pub concurrency: Option<usize>,
}

impl Default for ClientOptions {
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(60),
            connect_timeout: None,
            retry: RetryPolicy::default(),
            concurrency: None,
        }
    }
}

/// Requests sent and retries among them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RequestCounts {
    /// Requests sent (first attempts and retries).
    pub requests: u64,
    /// Requests that were retries of an earlier failed one.
    pub retries: u64,
}

/// An accepted answer and what it cost.
#[derive(Debug, Clone, PartialEq)]
pub struct Reply<T> {
    /// The answer.
    pub value: T,
    /// Requests sent for it, the accepted one included.
    pub requests: u32,
    /// Retries among them (`requests - 1`).
    pub retries: u32,
}

/// A counting semaphore: at most `permits` holders at once.
struct Semaphore {
    free: Mutex<usize>,
    cond: Condvar,
}

struct Permit<'a>(&'a Semaphore);

impl Semaphore {
    fn new(permits: usize) -> Self {
        Self {
            free: Mutex::new(permits),
            cond: Condvar::new(),
        }
    }

    fn acquire(&self) -> Permit<'_> {
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

struct Inner {
    http: ureq::Agent,
    endpoints: Vec<Endpoint>,
    next: AtomicUsize,
    options: ClientOptions,
    limit: Option<Semaphore>,
    requests: AtomicU64,
    retries: AtomicU64,
    redactor: Redactor,
}

/// An OpenAI-compatible HTTP client (see the crate docs).
///
/// Clones share the endpoint rotation, the concurrency limit and the counters. `Debug` shows
/// the endpoints with their keys redacted.
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("endpoints", &self.inner.endpoints)
            .field("options", &self.inner.options)
            .field("counts", &self.counts())
            .finish_non_exhaustive()
    }
}

/// Why one attempt failed.
enum Failure {
    /// An error status; retried when 429 or 5xx.
    Status {
        status: u16,
        retry_after: Option<Duration>,
        body: String,
    },
    /// No (complete) answer.
    Transport(String),
    /// A 2xx answer the caller does not accept.
    Invalid(String),
}

impl Failure {
    fn message(&self) -> String {
        match self {
            Self::Status { status, body, .. } => format!("HTTP {status}: {body}"),
            Self::Transport(m) | Self::Invalid(m) => m.clone(),
        }
    }

    fn into_error(self, url: String, attempts: u32) -> Error {
        match self {
            Self::Status { status, body, .. } => Error::Status {
                url,
                status,
                attempts,
                body,
            },
            Self::Transport(message) => Error::Transport {
                url,
                attempts,
                message,
            },
            Self::Invalid(message) => Error::Invalid {
                url,
                attempts,
                message,
            },
        }
    }
}

impl Client {
    /// A client over `endpoints` (used round-robin, each retry on the next one).
    pub fn new(endpoints: Vec<Endpoint>, options: ClientOptions) -> Result<Self> {
        if endpoints.is_empty() {
            return Err(Error::config(
                "endpoints",
                "at least one endpoint is needed",
            ));
        }
        for e in &endpoints {
            if !(e.base_url.starts_with("http://") || e.base_url.starts_with("https://")) {
                return Err(Error::config(
                    "base_url",
                    format!("{:?} is not an http(s) URL", e.base_url),
                ));
            }
        }
        if options.timeout.is_zero() || options.connect_timeout.is_some_and(|d| d.is_zero()) {
            return Err(Error::config("timeout", "must be longer than zero"));
        }
        if options.concurrency == Some(0) {
            return Err(Error::config("concurrency", "must be at least 1"));
        }
        options.retry.validate()?;
        let mut http = ureq::AgentBuilder::new().timeout(options.timeout);
        if let Some(connect) = options.connect_timeout {
            http = http.timeout_connect(connect);
        }
        let redactor = Redactor::new(endpoints.iter().filter_map(|e| e.api_key.as_ref()));
        Ok(Self {
            inner: Arc::new(Inner {
                http: http.build(),
                next: AtomicUsize::new(0),
                limit: options.concurrency.map(Semaphore::new),
                options,
                endpoints,
                requests: AtomicU64::new(0),
                retries: AtomicU64::new(0),
                redactor,
            }),
        })
    }

    /// A client of one endpoint.
    pub fn single(endpoint: Endpoint, options: ClientOptions) -> Result<Self> {
        Self::new(vec![endpoint], options)
    }

    /// The endpoints, in round-robin order.
    pub fn endpoints(&self) -> &[Endpoint] {
        &self.inner.endpoints
    }

    /// The settings.
    pub fn options(&self) -> &ClientOptions {
        &self.inner.options
    }

    /// Requests and retries sent so far by this client and its clones.
    pub fn counts(&self) -> RequestCounts {
        RequestCounts {
            requests: self.inner.requests.load(Ordering::Relaxed),
            retries: self.inner.retries.load(Ordering::Relaxed),
        }
    }

    /// The redactor that knows this client's keys: every text derived from a response that a
    /// caller puts in an error or a log goes through it.
    pub fn redactor(&self) -> &Redactor {
        &self.inner.redactor
    }

    /// POST `body` to `path` (e.g. [`crate::CHAT_COMPLETIONS`]) and return the first 2xx body
    /// as text.
    pub fn post_text(&self, path: &str, body: &Value) -> Result<Reply<String>> {
        self.send(path, body, Ok)
    }

    /// POST `body` to `path` and return the first 2xx body that is JSON.
    pub fn post_json(&self, path: &str, body: &Value) -> Result<Value> {
        Ok(self.post_json_with(path, body, |v| Ok(v.clone()))?.value)
    }

    /// POST `body` to `path` until a 2xx JSON answer passes `accept`. A body that is not JSON
    /// or that `accept` rejects counts as a failed attempt: it is retried within the same
    /// [`RetryPolicy::max_attempts`], and the last reason (redacted) ends in
    /// [`Error::Invalid`].
    pub fn post_json_with<T>(
        &self,
        path: &str,
        body: &Value,
        mut accept: impl FnMut(&Value) -> std::result::Result<T, String>,
    ) -> Result<Reply<T>> {
        let redactor = self.inner.redactor.clone();
        self.send(path, body, |text| {
            let value: Value = serde_json::from_str(&text).map_err(|e| {
                format!(
                    "response body is not JSON ({e}): {}",
                    redactor.excerpt(&text, EXCERPT_CHARS)
                )
            })?;
            accept(&value)
        })
    }

    fn send<T>(
        &self,
        path: &str,
        body: &Value,
        mut accept: impl FnMut(String) -> std::result::Result<T, String>,
    ) -> Result<Reply<T>> {
        let inner = &*self.inner;
        let retry = &inner.options.retry;
        let mut attempt = 0u32;
        loop {
            let endpoint = &inner.endpoints
                [inner.next.fetch_add(1, Ordering::Relaxed) % inner.endpoints.len()];
            let url = endpoint.url_for(path);
            attempt += 1;
            let outcome = {
                let _permit = inner.limit.as_ref().map(Semaphore::acquire);
                inner.requests.fetch_add(1, Ordering::Relaxed);
                if attempt > 1 {
                    inner.retries.fetch_add(1, Ordering::Relaxed);
                }
                let mut request = inner.http.post(&url);
                if let Some(key) = &endpoint.api_key {
                    request = request.set("Authorization", &key.header_value());
                }
                match request.send_json(body) {
                    Ok(resp) => resp
                        .into_string()
                        .map_err(|e| Failure::Transport(format!("reading the response body: {e}"))),
                    Err(ureq::Error::Status(status, resp)) => {
                        let retry_after = resp
                            .header("Retry-After")
                            .and_then(|v| v.trim().parse::<f64>().ok())
                            .filter(|s| s.is_finite() && *s >= 0.0)
                            .map(Duration::from_secs_f64);
                        let text = resp.into_string().unwrap_or_default();
                        Err(Failure::Status {
                            status,
                            retry_after,
                            body: inner.redactor.excerpt(&text, EXCERPT_CHARS),
                        })
                    }
                    Err(ureq::Error::Transport(t)) => {
                        Err(Failure::Transport(inner.redactor.redact(&t.to_string())))
                    }
                }
            };
            let failure = match outcome {
                Ok(text) => match accept(text) {
                    Ok(value) => {
                        return Ok(Reply {
                            value,
                            requests: attempt,
                            retries: attempt - 1,
                        })
                    }
                    Err(message) => Failure::Invalid(inner.redactor.redact(&message)),
                },
                Err(f) => f,
            };
            let retry_after = match &failure {
                Failure::Status { status, .. } if !(*status == 429 || *status >= 500) => {
                    // A 4xx other than 429 will not get better by asking again.
                    return Err(failure.into_error(url, attempt));
                }
                Failure::Status { retry_after, .. } => *retry_after,
                _ => None,
            };
            if attempt >= retry.max_attempts {
                return Err(failure.into_error(url, attempt));
            }
            let wait = retry.backoff(attempt, retry_after);
            tracing::warn!(
                endpoint = %url,
                attempt,
                wait_ms = wait.as_millis() as u64,
                "request failed ({}); retrying",
                failure.message()
            );
            std::thread::sleep(wait);
        }
    }
}
