//! [`RetryPolicy`]: which failures are retried and how long to wait.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// Retries of transient failures: HTTP 429, 5xx, timeouts, refused or dropped connections, and
/// (for [`crate::Client::post_json_with`]) answers the caller rejects. A 4xx other than 429 is
/// never retried.
///
/// The wait before retry `n` (1-based) is `initial_backoff_ms * multiplier^(n-1)`, capped at
/// `max_backoff_ms`, with "equal jitter" (uniform in `[d/2, d]`) when `jitter` is on; an answer
/// with a `Retry-After: <seconds>` header waits that long instead (capped at
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
    /// `max_attempts` requests with the same `wait` between them, no jitter (the reference's
    /// `TRY_TIME` loops with a fixed sleep). `Retry-After` is still honoured.
    pub fn fixed(max_attempts: u32, wait: Duration) -> Self {
        let ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX);
        Self {
            max_attempts,
            initial_backoff_ms: ms,
            multiplier: 1.0,
            max_backoff_ms: ms,
            jitter: false,
            ..Self::default()
        }
    }

    /// One request, no retry.
    pub fn none() -> Self {
        Self::fixed(1, Duration::ZERO)
    }

    /// Check the fields (at least one attempt, a finite multiplier >= 1).
    pub fn validate(&self) -> Result<()> {
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
            ms / 2.0 + unit_random() * (ms / 2.0)
        } else {
            ms
        };
        Duration::from_secs_f64(ms / 1000.0)
    }
}

/// A uniform number in `[0, 1]` for jitter: SplitMix64 over a process-wide counter seeded from
/// the clock (jitter only has to differ between workers, not be unpredictable).
fn unit_random() -> f64 {
    static STATE: AtomicU64 = AtomicU64::new(0);
    let mut seed = STATE.fetch_add(0x9e37_79b9_7f4a_7c15, Ordering::Relaxed);
    if seed == 0 {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(1);
        STATE.store(nanos | 1, Ordering::Relaxed);
        seed = nanos;
    }
    let mut z = seed.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^= z >> 31;
    (z >> 11) as f64 / (1u64 << 53) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

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
        let waits: Vec<Duration> = (0..50).map(|_| j.backoff(2, None)).collect();
        for d in &waits {
            assert!(*d >= Duration::from_millis(100) && *d <= Duration::from_millis(200));
        }
        assert!(waits.iter().any(|d| *d != waits[0]), "jitter varies");
        // fixed: 3 attempts, 250 ms each time.
        let f = RetryPolicy::fixed(3, Duration::from_millis(250));
        assert_eq!(f.backoff(1, None), f.backoff(3, None));
        assert_eq!(f.backoff(2, None), Duration::from_millis(250));
        assert!(RetryPolicy::fixed(0, Duration::ZERO).validate().is_err());
        assert!(RetryPolicy {
            multiplier: 0.5,
            ..RetryPolicy::default()
        }
        .validate()
        .is_err());
    }
}
