//! # steptool-llm — the one OpenAI-compatible HTTP client of StepTool
//!
//! ```text
//!   ApiKey (redacted) ─┐
//!   base URL ──────────┴▶ Endpoint ─┐  (one, or a pool file: [{"api_key", "api_base"}, ...])
//!                                   ▼
//!   ClientOptions ───────────────▶ Client ──POST <base>/<path> JSON──▶ server
//!   (timeouts, RetryPolicy,         │  round-robin over endpoints, each retry on the next;
//!    concurrency limit)             │  429/5xx/timeouts/dropped connections retried with
//!                                   │  exponential backoff, `Retry-After` honoured;
//!                                   │  a counting semaphore shared by every clone;
//!                                   │  request/retry counters of what was sent
//!                                   ▼
//!          Reply { value, requests, retries }  or  Error (every response text redacted)
//! ```
//!
//! Every OpenAI-compatible call of the workspace goes through [`Client`]: the reward judge
//! (steptool-reward), the completions agent, ToolEval's judges and the tool-response simulator
//! (steptool-env). They used to carry four HTTP loops and keys as plain `String`s in configs
//! that derive `Debug` and `Serialize`; now there is one retry policy and one key type.
//!
//! ```
//! use steptool_llm::{ApiKey, Client, ClientOptions, Endpoint, RetryPolicy};
//! # fn main() -> steptool_llm::Result<()> {
//! let key = ApiKey::new("sk-very-secret")?; // or ApiKey::from_env("OPENAI_API_KEY")?
//! assert_eq!(format!("{key:?}"), "ApiKey(<redacted>)");
//!
//! let endpoint = Endpoint::new("http://localhost:8000/v1", Some(key));
//! // Configs holding a key can be logged and written: the key is never in them.
//! let written = serde_json::to_string(&endpoint).unwrap_or_default();
//! assert_eq!(written, r#"{"base_url":"http://localhost:8000/v1","api_key":"<redacted>"}"#);
//!
//! let client = Client::single(endpoint, ClientOptions {
//!     retry: RetryPolicy { max_attempts: 3, ..RetryPolicy::default() },
//!     concurrency: Some(4),
//!     ..ClientOptions::default()
//! })?;
//! assert!(!format!("{client:?}").contains("sk-very-secret"));
//!
//! // A server that echoes the request headers: what reaches an error message.
//! let echoed = "POST /v1/chat/completions\r\nAuthorization: Bearer sk-very-secret\r\n";
//! assert_eq!(
//!     client.redactor().redact(echoed),
//!     "POST /v1/chat/completions\r\nAuthorization: <redacted>\r\n"
//! );
//! // A request would be `client.post_json(steptool_llm::CHAT_COMPLETIONS, &body)?`.
//!
//! // A key that would inject a header is rejected, without quoting it.
//! let err = ApiKey::new("sk-x\r\nX-Evil: 1").err().map(|e| e.to_string()).unwrap_or_default();
//! assert!(err.contains("not visible ASCII") && !err.contains("sk-x"));
//! # Ok(()) }
//! ```
//!
//! Why it is built this way:
//! - **A key cannot leak by accident.** [`ApiKey`] has no `Display` and no accessor; `Debug`
//!   and `Serialize` print `<redacted>`; a key with a byte that cannot go in a header is
//!   rejected when built. The client writes it only into the `Authorization` header.
//! - **One redaction point.** Servers echo requests (debugging proxies, error pages, a model
//!   repeating its input). Every response text that reaches an [`Error`] or a log line goes
//!   through [`Redactor`], which removes the keys and any `Authorization`/`Bearer` text; the
//!   crates using the client send their own messages about answers through
//!   [`Client::redactor`] too.
//! - **Transient failures are the client's job, invalid answers the caller's.**
//!   [`Client::post_text`] retries only HTTP-level failures; [`Client::post_json_with`] lets a
//!   caller reject an answer and have it asked again within the same attempt budget (the
//!   reference's `TRY_TIME` loops).
//! - **No async runtime.** Callers are rayon workers; a blocking client (ureq) with a counting
//!   semaphore bounds the requests in flight without one.

mod client;
mod endpoint;
mod error;
mod key;
mod redact;
mod retry;
#[cfg(feature = "testing")]
pub mod testing;

pub use client::{Client, ClientOptions, Reply, RequestCounts};
pub use endpoint::{Endpoint, CHAT_COMPLETIONS, COMPLETIONS};
pub use error::{Error, Result};
pub use key::{ApiKey, REDACTED};
pub use redact::Redactor;
pub use retry::RetryPolicy;
