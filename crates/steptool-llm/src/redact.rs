//! [`Redactor`]: the one place where text that may hold a secret is cleaned.
//!
//! Every error message, log line and summary of this crate that may contain response text
//! goes through [`Redactor::redact`] (or [`Redactor::excerpt`]), and so does every such text
//! of the crates using the [`crate::Client`] (`Client::redactor`). It removes
//! 1. the known keys themselves (raw and JSON-escaped), wherever they appear;
//! 2. the value of `Authorization`, `Proxy-Authorization`, `X-Api-Key` and `Api-Key` headers,
//!    in any case and in the forms servers echo them: `Authorization: Bearer sk-..`, JSON
//!    `"authorization": "Bearer sk-.."`, escaped inside a JSON string;
//! 3. any `Bearer <token>`.
//!
//! Each removed span becomes `<redacted>`. Text is redacted *before* it is cut to an excerpt,
//! so a cut never leaves the first half of a key behind.

use std::sync::Arc;

use crate::key::{ApiKey, REDACTED};

/// Header names whose values are secrets (lower case).
const SECRET_HEADERS: [&str; 3] = ["authorization", "x-api-key", "api-key"];

/// Removes secrets from text that came from a server (see the module docs).
#[derive(Clone, Default)]
pub struct Redactor {
    /// The texts to remove, longest first.
    secrets: Arc<[String]>,
}

impl std::fmt::Debug for Redactor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Redactor")
            .field("secrets", &self.secrets.len())
            .finish()
    }
}

impl Redactor {
    /// A redactor for `keys` (header and `Bearer` redaction work without any key too).
    pub fn new<'a>(keys: impl IntoIterator<Item = &'a ApiKey>) -> Self {
        let mut secrets: Vec<String> = Vec::new();
        for key in keys {
            let raw = key.secret().to_owned();
            // As it appears inside a JSON string, and inside a JSON string in a JSON string.
            let once = json_escaped(&raw);
            let twice = json_escaped(&once);
            for s in [raw, once, twice] {
                if !secrets.contains(&s) {
                    secrets.push(s);
                }
            }
        }
        secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
        Self {
            secrets: secrets.into(),
        }
    }

    /// `text` without header values, bearer tokens and known keys.
    pub fn redact(&self, text: &str) -> String {
        // Known keys first: a key may hold a character that ends a header token (a quote).
        let mut out = text.to_owned();
        for secret in self.secrets.iter() {
            if out.contains(secret.as_str()) {
                out = out.replace(secret.as_str(), REDACTED);
            }
        }
        out = redact_bearer(&redact_headers(&out));
        let twice = format!("{REDACTED}{REDACTED}");
        while out.contains(&twice) {
            out = out.replace(&twice, REDACTED);
        }
        out
    }

    /// The first `max_chars` characters of the redacted `text` (`…` when cut).
    pub fn excerpt(&self, text: &str, max_chars: usize) -> String {
        let clean = self.redact(text);
        let mut s: String = clean.chars().take(max_chars).collect();
        if clean.chars().nth(max_chars).is_some() {
            s.push('…');
        }
        s
    }
}

fn json_escaped(s: &str) -> String {
    let quoted = serde_json::Value::String(s.to_owned()).to_string();
    quoted[1..quoted.len() - 1].to_owned()
}

/// Where a token (a header value, a bearer token) ends: whitespace, quotes, a backslash (an
/// escape inside a JSON string), separators, or `<` (an earlier `<redacted>`).
fn ends_token(b: u8) -> bool {
    b.is_ascii_whitespace() || b"\"'\\,;}])<>".contains(&b)
}

fn skip(bytes: &[u8], mut i: usize, set: &[u8]) -> usize {
    while i < bytes.len() && set.contains(&bytes[i]) {
        i += 1;
    }
    i
}

fn token_end(bytes: &[u8], mut i: usize) -> usize {
    while i < bytes.len() && !ends_token(bytes[i]) {
        i += 1;
    }
    i
}

/// Replace the values of secret headers: `name` `"'\` `:` or `=` `"'\` (scheme word) token.
fn redact_headers(text: &str) -> String {
    // ASCII lower-casing keeps every byte offset.
    let lower = text.to_ascii_lowercase();
    let bytes = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut copied = 0;
    let mut i = 0;
    while i < bytes.len() {
        let Some(name) = SECRET_HEADERS
            .iter()
            .find(|n| lower.as_bytes()[i..].starts_with(n.as_bytes()))
        else {
            i += 1;
            continue;
        };
        let mut j = skip(bytes, i + name.len(), b" \t\"'\\");
        if j >= bytes.len() || !(bytes[j] == b':' || bytes[j] == b'=') {
            i += name.len();
            continue;
        }
        j = skip(bytes, j + 1, b" \t\"'\\");
        let value = j;
        // An auth scheme (`Bearer`, `Basic`, `Token`) and the credentials after it.
        let word = j + bytes[j..]
            .iter()
            .take_while(|b| b.is_ascii_alphabetic())
            .count();
        if word > j && word < bytes.len() && (bytes[word] == b' ' || bytes[word] == b'\t') {
            j = skip(bytes, word, b" \t");
        }
        let end = token_end(bytes, j);
        if end > value {
            out.push_str(&text[copied..value]);
            out.push_str(REDACTED);
            copied = end;
        }
        i = end.max(i + name.len());
    }
    out.push_str(&text[copied..]);
    out
}

/// Replace `Bearer <token>` (any case, as a word).
fn redact_bearer(text: &str) -> String {
    const WORD: &[u8] = b"bearer";
    let lower = text.to_ascii_lowercase();
    let lb = lower.as_bytes();
    let bytes = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut copied = 0;
    let mut i = 0;
    while i + WORD.len() <= bytes.len() {
        let starts_word = i == 0 || !bytes[i - 1].is_ascii_alphanumeric();
        if !(starts_word && lb[i..].starts_with(WORD)) {
            i += 1;
            continue;
        }
        let after = i + WORD.len();
        if after < bytes.len() && bytes[after].is_ascii_alphanumeric() {
            i = after;
            continue;
        }
        let end = token_end(bytes, skip(bytes, after, b" \t"));
        out.push_str(&text[copied..i]);
        out.push_str(REDACTED);
        copied = end;
        i = end;
    }
    out.push_str(&text[copied..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_bearer_tokens_and_keys_are_removed() -> crate::Result<()> {
        let key = ApiKey::new("sk-live-\"quoted\\key")?;
        let r = Redactor::new([&key]);
        let raw = "POST /v1 HTTP/1.1\r\nauthorization: Bearer sk-live-\"quoted\\key\r\nHost: x\r\n";
        let json_once = serde_json::json!({"headers": raw}).to_string();
        let json_twice = serde_json::json!({"arguments": json_once}).to_string();
        for text in [
            raw.to_owned(),
            json_once,
            json_twice,
            "{\"Authorization\": \"Bearer abc\"}".to_owned(),
            "x-api-key=abc; next".to_owned(),
            "token BEARER abc and a bare bearer".to_owned(),
            "the key sk-live-\"quoted\\key, again".to_owned(),
        ] {
            let clean = r.redact(&text);
            let lower = clean.to_ascii_lowercase();
            assert!(
                !lower.contains("bearer") && !clean.contains("abc") && !clean.contains("quoted"),
                "{text:?} -> {clean:?}"
            );
            assert!(clean.contains(REDACTED), "{clean}");
        }
        // Text around the secrets is kept.
        assert_eq!(
            r.redact("Host: x\r\nAuthorization: Bearer t0k\r\nAccept: */*"),
            "Host: x\r\nAuthorization: <redacted>\r\nAccept: */*"
        );
        assert_eq!(r.redact("authorization failed"), "authorization failed");
        assert_eq!(r.redact("unbearerable"), "unbearerable");
        // Redacted before cutting: no half key survives.
        let k = ApiKey::new("sk-abcdefghijklmnop")?;
        let cut = Redactor::new([&k]).excerpt("xxxxxxxx sk-abcdefghijklmnop", 14);
        assert!(!cut.contains("sk-abc"), "{cut}");
        assert!(cut.ends_with('…'));
        Ok(())
    }
}
