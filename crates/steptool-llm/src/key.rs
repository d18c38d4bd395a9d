//! [`ApiKey`]: a secret that is only ever written into an `Authorization` header.

use std::path::Path;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::error::{Error, Result};

/// What [`ApiKey`] prints and serialises instead of the key.
pub const REDACTED: &str = "<redacted>";

/// An API key (bearer token).
///
/// - `Debug` prints `ApiKey(<redacted>)`; there is no `Display` and no accessor: the key
///   leaves this crate only inside the `Authorization` header the [`crate::Client`] sends.
/// - `Serialize` writes the string `"<redacted>"`, so any config holding a key can be written
///   to a file or a log without the key (chosen over `skip_serializing` because it holds for
///   every struct that embeds a key, whether or not its author remembered an attribute).
///   `Deserialize` reads a key from a string and rejects `"<redacted>"`, so a config written
///   by us and read back fails loudly instead of sending the placeholder as a key.
/// - Construction trims surrounding whitespace and rejects an empty key and any key with a
///   byte that is not visible ASCII (`!`..=`~`): a CR/LF (header injection), a control
///   character, a space, a non-ASCII byte. The error says which byte position is wrong, never
///   what the key is.
#[derive(Clone, PartialEq, Eq)]
pub struct ApiKey(String);

impl std::fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ApiKey(<redacted>)")
    }
}

impl ApiKey {
    /// A key from its text (surrounding whitespace removed).
    pub fn new(key: impl Into<String>) -> Result<Self> {
        Self::checked(key.into(), || "the given text".to_owned())
    }

    /// The key in environment variable `var`; errors name the variable, not the value.
    pub fn from_env(var: &str) -> Result<Self> {
        let origin = || format!("environment variable `{var}`");
        match std::env::var(var) {
            Ok(value) => Self::checked(value, origin),
            Err(std::env::VarError::NotPresent) => Err(Error::api_key(origin(), "it is not set")),
            // The error's own message would quote the value.
            Err(std::env::VarError::NotUnicode(_)) => {
                Err(Error::api_key(origin(), "it is not valid Unicode"))
            }
        }
    }

    /// The key in a file holding just the key (surrounding whitespace ignored).
    pub fn from_file(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|source| Error::Io {
            path: path.to_owned(),
            source,
        })?;
        Self::checked(text, || format!("file {}", path.display()))
    }

    pub(crate) fn checked(text: String, origin: impl FnOnce() -> String) -> Result<Self> {
        let key = text.trim();
        if key.is_empty() {
            return Err(Error::api_key(origin(), "the key is empty"));
        }
        if let Some(at) = key.bytes().position(|b| !b.is_ascii_graphic()) {
            return Err(Error::api_key(
                origin(),
                format!(
                    "byte {at} of the key is not visible ASCII (a line break, control character, \
                     space or non-ASCII byte cannot go in an HTTP header)"
                ),
            ));
        }
        Ok(Self(key.to_owned()))
    }

    /// The `Authorization` header value.
    pub(crate) fn header_value(&self) -> String {
        format!("Bearer {}", self.0)
    }

    /// The key text, for the redactor only.
    pub(crate) fn secret(&self) -> &str {
        &self.0
    }
}

impl Serialize for ApiKey {
    fn serialize<S: Serializer>(&self, serializer: S) -> std::result::Result<S::Ok, S::Error> {
        serializer.serialize_str(REDACTED)
    }
}

impl<'de> Deserialize<'de> for ApiKey {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> std::result::Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        if text.trim() == REDACTED {
            return Err(serde::de::Error::custom(
                "API key: \"<redacted>\" is the placeholder a written config holds, not a key",
            ));
        }
        Self::checked(text, || "a config value".to_owned()).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_redacted_and_checked() -> anyhow::Result<()> {
        let key = ApiKey::new(" sk-secret-123\n")?;
        assert_eq!(key, ApiKey::new("sk-secret-123")?);
        assert_eq!(format!("{key:?}"), "ApiKey(<redacted>)");
        assert_eq!(serde_json::to_string(&key)?, "\"<redacted>\"");
        assert!(ApiKey::new("  ").is_err());
        for bad in ["sk-a\r\nX-Injected: 1", "sk a", "sk-\u{e9}", "sk-\u{7f}"] {
            let err = ApiKey::new(bad).err().map(|e| format!("{e} {e:?}"));
            let text = err.unwrap_or_default();
            assert!(text.contains("not visible ASCII"), "{text}");
            assert!(
                !text.contains("sk-") && !text.contains("Injected"),
                "{text}"
            );
        }
        Ok(())
    }

    #[test]
    fn keys_deserialise_but_not_the_placeholder() -> anyhow::Result<()> {
        let key: ApiKey = serde_json::from_str("\"sk-from-config\"")?;
        assert_eq!(key, ApiKey::new("sk-from-config")?);
        let placeholder = serde_json::from_str::<ApiKey>("\"<redacted>\"").err();
        assert!(format!("{placeholder:?}").contains("placeholder"));
        let bad = serde_json::from_str::<ApiKey>("\"sk-bad\\r\\nkey\"").err();
        let text = format!("{bad:?}");
        assert!(
            text.contains("not visible ASCII") && !text.contains("sk-bad"),
            "{text}"
        );
        Ok(())
    }

    #[test]
    fn keys_from_env_and_file() -> anyhow::Result<()> {
        std::env::set_var("STEPTOOL_LLM_TEST_KEY_9F2", " sk-env \n");
        assert_eq!(
            ApiKey::from_env("STEPTOOL_LLM_TEST_KEY_9F2")?,
            ApiKey::new("sk-env")?
        );
        let missing = ApiKey::from_env("STEPTOOL_LLM_TEST_KEY_MISSING_9F2").err();
        assert!(format!("{missing:?}").contains("STEPTOOL_LLM_TEST_KEY_MISSING_9F2"));
        std::env::set_var("STEPTOOL_LLM_TEST_KEY_CRLF_9F2", "sk-env-x\r\ny");
        let crlf = ApiKey::from_env("STEPTOOL_LLM_TEST_KEY_CRLF_9F2").err();
        let text = format!("{crlf:?}");
        assert!(text.contains("STEPTOOL_LLM_TEST_KEY_CRLF_9F2") && !text.contains("sk-env-x"));
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("key");
        std::fs::write(&path, "sk-file\n")?;
        assert_eq!(ApiKey::from_file(&path)?, ApiKey::new("sk-file")?);
        std::fs::write(&path, "\n")?;
        assert!(ApiKey::from_file(&path).is_err());
        Ok(())
    }
}
