//! The `tool_response_cache/` folder, read as the StableToolBench server reads it (formats.md §4.2).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use serde_json::{Map, Value};
use steptool_mdp::names::{change_name, standardize, standardize_category};
use steptool_mdp::pylit::PyValue;

use crate::error::{Error, Result};

/// The server's `str(tool_input)` for a parsed input: Python `str()` of what `json.loads`
/// returned (a dict's repr such as `{'lat': 40.7128, 'lon': -74.006}`; `{}` for an empty input).
pub fn cache_key(tool_input: &Value) -> String {
    PyValue::from_json(tool_input).str()
}

/// Where the server looks for an API's cache file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CachePath {
    /// `standardize_category(category)`.
    pub standard_category: String,
    /// `standardize(tool) + "_for_" + standard_category`.
    pub tool_folder: String,
    /// The API file stem.
    pub api_name: String,
}

impl CachePath {
    /// The server's `prepare_tool_name_and_url` for the client's payload fields.
    pub fn new(category: &str, tool_name: &str, api_name: &str) -> Self {
        let standard_category = standardize_category(category);
        let full = change_name(&standardize(api_name));
        let api_name = full
            .split(&format!("_for_{tool_name}"))
            .next()
            .unwrap_or("")
            .to_owned();
        let tool_folder = if tool_name.ends_with(&format!("_for_{standard_category}")) {
            tool_name.to_owned()
        } else {
            format!("{}_for_{standard_category}", standardize(tool_name))
        };
        Self {
            standard_category,
            tool_folder,
            api_name,
        }
    }

    /// The file below the cache root.
    pub fn file(&self, root: &Path) -> PathBuf {
        root.join(&self.standard_category)
            .join(&self.tool_folder)
            .join(format!("{}.json", self.api_name))
    }
}

/// The server's `check_result`: whether a response may be served (StepTool's server version).
pub fn check_result(entry: &Map<String, Value>) -> bool {
    match entry.get("error") {
        Some(Value::String(e)) if e.is_empty() => {}
        _ => return false,
    }
    let Some(response) = entry.get("response") else {
        return false;
    };
    let text = PyValue::from_json(response).str();
    let lower = text.to_lowercase();
    let any = |needles: &[&str]| needles.iter().any(|n| lower.contains(n));
    if any(&[
        "connection",
        "rate limit",
        "time out",
        "timed out",
        "does not exist",
        "internal error",
    ]) || text.contains("Service Not Found")
    {
        return false;
    }
    if any(&[
        "authoriz",
        "authenticat",
        "unauthorized",
        "blocked user",
        "unsubscribe",
        "blocked",
        "credential",
        "unauthenticated",
        "disabled for your subscription",
    ]) || text.contains("ACCESS_DENIED")
    {
        return false;
    }
    if any(&["parse", "is not defined", "invalid consumer key"]) {
        return false;
    }
    !(text.is_empty() || text.contains("status_code=50") || text.contains("status_code=429"))
}

/// Parsed cache files by path.
type FileMap = HashMap<PathBuf, Arc<Map<String, Value>>>;

/// A response cache folder, files parsed once and shared between environments.
#[derive(Debug, Clone)]
pub struct ResponseCache {
    root: PathBuf,
    files: Arc<Mutex<FileMap>>,
}

impl ResponseCache {
    /// The cache at `root`.
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self {
            root: root.into(),
            files: Arc::default(),
        }
    }

    /// All entries of the API's cache file in file order (empty when there is no file).
    pub fn items(&self, path: &CachePath) -> Result<Vec<(String, Value)>> {
        Ok(self
            .file(path)?
            .map(|m| m.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
            .unwrap_or_default())
    }

    /// The cached entry for `key`, if the API's file exists and has it. A cache file that
    /// exists but does not parse is an error naming the file.
    pub fn get(&self, path: &CachePath, key: &str) -> Result<Option<Map<String, Value>>> {
        let file = path.file(&self.root);
        let Some(map) = self.file(path)? else {
            return Ok(None);
        };
        match map.get(key) {
            None => Ok(None),
            Some(Value::Object(entry)) => Ok(Some(entry.clone())),
            Some(other) => Err(Error::data(
                format!("{}, key {key:?}", file.display()),
                format!("cache entry is not an object: {other}"),
            )),
        }
    }

    fn file(&self, path: &CachePath) -> Result<Option<Arc<Map<String, Value>>>> {
        let file = path.file(&self.root);
        let cached = self.files.lock().ok().and_then(|f| f.get(&file).cloned());
        let map = match cached {
            Some(m) => m,
            None => {
                if !file.is_file() {
                    return Ok(None);
                }
                let text = std::fs::read_to_string(&file).map_err(|e| Error::io(&file, e))?;
                let m: Map<String, Value> = serde_json::from_str(&text)
                    .map_err(|e| Error::json(file.display().to_string(), e))?;
                let m = Arc::new(m);
                if let Ok(mut f) = self.files.lock() {
                    f.insert(file.clone(), m.clone());
                }
                m
            }
        };
        Ok(Some(map))
    }
}
