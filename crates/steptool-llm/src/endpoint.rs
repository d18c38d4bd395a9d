//! [`Endpoint`]: a base URL and its key, and the reference's endpoint pool file.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::key::ApiKey;

/// The chat-completions path under an OpenAI base URL.
pub const CHAT_COMPLETIONS: &str = "chat/completions";
/// The (legacy) completions path under an OpenAI base URL (vLLM, SGLang).
pub const COMPLETIONS: &str = "completions";

/// One OpenAI-compatible endpoint: a base URL (`https://api.openai.com/v1`,
/// `http://localhost:8000/v1` for vLLM) and its key (none for a local server without auth).
///
/// `Serialize` writes the key as `"<redacted>"` ([`ApiKey`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Endpoint {
    /// The base URL.
    pub base_url: String,
    /// The key, if the server wants one.
    #[serde(default)]
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

    /// The URL of `path` (e.g. [`CHAT_COMPLETIONS`]) under the base URL; a base URL that
    /// already ends with `/<path>` is used as is.
    pub fn url_for(&self, path: &str) -> String {
        let base = self.base_url.trim_end_matches('/');
        let path = path.trim_start_matches('/');
        if path.is_empty() || base.ends_with(&format!("/{path}")) {
            base.to_owned()
        } else {
            format!("{base}/{path}")
        }
    }

    /// The chat-completions URL.
    pub fn url(&self) -> String {
        self.url_for(CHAT_COMPLETIONS)
    }

    /// The reference's key pool file (`API_POOL_FILE`, formats.md §2.3): a JSON list of
    /// `{"api_key": "...", "api_base": "..."}`; entries without `api_base` use `default_base`.
    pub fn pool_from_file(path: impl AsRef<Path>, default_base: &str) -> Result<Vec<Endpoint>> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|source| Error::Io {
            path: path.to_owned(),
            source,
        })?;
        // serde's message may quote the input (a key): keep only the position.
        let entries: Vec<PoolEntry> = serde_json::from_str(&text).map_err(|e| Error::PoolFile {
            path: path.to_owned(),
            line: e.line(),
            column: e.column(),
        })?;
        if entries.is_empty() {
            return Err(Error::api_key(
                format!("pool file {}", path.display()),
                "the pool is empty",
            ));
        }
        entries
            .into_iter()
            .enumerate()
            .map(|(i, e)| {
                let key = ApiKey::checked(e.api_key, || {
                    format!("pool file {}, entry {i}", path.display())
                })?;
                Ok(Endpoint::new(
                    e.api_base.unwrap_or_else(|| default_base.to_owned()),
                    Some(key),
                ))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
        assert_eq!(
            Endpoint::new("http://h/v1", None).url_for(COMPLETIONS),
            "http://h/v1/completions"
        );
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
        for bad in [
            r#"[{"api_key": "sk-do-not-print", "oops": 1}]"#,
            r#"[{"api_key": ["sk-do-not-print"]}]"#,
            r#"[{"api_key": "sk-do-not-print\r\nX: y"}]"#,
            r#"[{"api_key": "  "}]"#,
            "[]",
        ] {
            std::fs::write(&path, bad)?;
            let err = Endpoint::pool_from_file(&path, "x").err();
            let text = format!("{err:?}");
            assert!(err.is_some() && !text.contains("sk-do-not-print"), "{text}");
        }
        Ok(())
    }
}
