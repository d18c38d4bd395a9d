//! Readers and writers of the data formats of the StepTool reference and StableToolBench
//! (formats.md §1-§6), plus our own JSONL of [`crate::Trajectory`].
//!
//! | module | format | read | write |
//! |---|---|---|---|
//! | [`tsv`] | StepTool PPO training TSV (§1.1-1.3) | [`tsv::read_tsv`] (per-row errors), [`tsv::read_tsv_strict`] | [`tsv::write_tsv`] (byte-identical to pandas) |
//! | [`converted`] | ToolEval converted answers (§2.1, §6.1) | [`converted::read_converted`] | [`converted::write_converted`] |
//! | [`annotation`] | GPT step-reward annotations (§2.4) | [`annotation::read_annotations`] | [`annotation::write_annotations`] |
//! | [`raw_answer`] | raw CoT / DFS answer files (§5.4) | [`raw_answer::read_raw_answer`], [`raw_answer::read_answer_dir`] | — |
//! | [`sft`] | SFT conversation files (§3.5) | [`sft::read_sft`] | [`sft::write_sft`] |
//! | [`queries`] | StableToolBench test queries and id files (§4.4) | [`queries::read_test_queries`], [`queries::read_query_ids`] | function dicts (§3.3): [`queries::ApiEntry::to_function`], [`queries::TestQuery::functions`] |
//! | [`jsonl`] | our JSONL of trajectories | [`jsonl::read_trajectories`] | [`jsonl::write_trajectories`] |
//!
//! Every reader names the file, the line or row (or JSON key path) and the field of a problem.
//! Readers over many records ([`tsv::read_tsv`], [`jsonl::read_trajectories`]) return the good
//! records *and* one error per bad record, so callers can go on and report what was skipped;
//! their `_strict` twins stop at the first bad record.

pub mod annotation;
pub mod converted;
pub mod jsonl;
pub mod queries;
pub mod raw_answer;
pub mod sft;
pub mod tsv;

use std::path::Path;

use serde::de::DeserializeOwned;

use crate::error::{Error, Location, Result};

/// Read a whole file as UTF-8 text.
pub(crate) fn read_text(path: &Path) -> Result<String> {
    std::fs::read_to_string(path).map_err(|source| Error::io(path, source))
}

/// Parse JSON text from `path` into `T`; the error names the file and serde's line/column.
pub(crate) fn from_json_text<T: DeserializeOwned>(text: &str, path: &Path) -> Result<T> {
    serde_json::from_str(text).map_err(|source| Error::Json {
        location: Location::file(path),
        source,
    })
}

/// Read and parse a JSON file.
pub(crate) fn read_json<T: DeserializeOwned>(path: &Path) -> Result<T> {
    from_json_text(&read_text(path)?, path)
}

/// Read a JSON object file `{key: entry, ...}` into `(key, T)` pairs in file order; an entry that
/// does not fit `T` is an error naming the file and the key.
pub(crate) fn read_keyed<T: DeserializeOwned>(path: &Path) -> Result<Vec<(String, T)>> {
    let map: serde_json::Map<String, serde_json::Value> = read_json(path)?;
    keyed_from_map(map, Some(path))
}

/// The entries of a JSON object as `(key, T)` pairs (see [`read_keyed`]).
pub(crate) fn keyed_from_map<T: DeserializeOwned>(
    map: serde_json::Map<String, serde_json::Value>,
    path: Option<&Path>,
) -> Result<Vec<(String, T)>> {
    map.into_iter()
        .map(|(key, value)| {
            let entry = serde_json::from_value(value).map_err(|source| Error::Json {
                location: Location {
                    file: path.map(Path::to_path_buf),
                    field: Some(key.clone()),
                    ..Location::default()
                },
                source,
            })?;
            Ok((key, entry))
        })
        .collect()
}

/// Write `(key, entry)` pairs as one JSON object the way Python's `json.dump` does.
pub(crate) fn write_keyed<T: serde::Serialize>(
    path: &Path,
    entries: &[(String, T)],
    indent: usize,
    ensure_ascii: bool,
) -> Result<()> {
    let mut map = serde_json::Map::new();
    for (key, entry) in entries {
        let value = serde_json::to_value(entry).map_err(|source| Error::Json {
            location: Location::file(path).with_field(key.clone()),
            source,
        })?;
        map.insert(key.clone(), value);
    }
    let text = python_json_dumps(&serde_json::Value::Object(map), Some(indent), ensure_ascii);
    write_text(path, &text)
}

/// Write `text` to `path`.
pub(crate) fn write_text(path: &Path, text: &str) -> Result<()> {
    // Atomic (temporary sibling + rename): a killed `annotate` keeps the previous file whole.
    crate::atomic::write_atomic(path, text).map_err(|source| Error::io(path, source))
}

/// `json.dumps(value, indent=indent, ensure_ascii=ensure_ascii)` as Python writes it (key order
/// kept, `", "`/`": "` separators only without indent; with indent, `","` at line ends).
pub fn python_json_dumps(
    value: &serde_json::Value,
    indent: Option<usize>,
    ensure_ascii: bool,
) -> String {
    let mut out = String::new();
    dumps_into(value, indent, ensure_ascii, 0, &mut out);
    out
}

fn dumps_into(
    value: &serde_json::Value,
    indent: Option<usize>,
    ensure_ascii: bool,
    level: usize,
    out: &mut String,
) {
    use serde_json::Value;
    let newline = |out: &mut String, level: usize| {
        if let Some(n) = indent {
            out.push('\n');
            out.push_str(&" ".repeat(n * level));
        }
    };
    let item_sep = if indent.is_some() { "," } else { ", " };
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(true) => out.push_str("true"),
        Value::Bool(false) => out.push_str("false"),
        Value::Number(n) => {
            if n.is_f64() {
                let f = n.as_f64().unwrap_or(f64::NAN);
                // Python's json writes float.__repr__ (NaN/Infinity cannot occur in a Value).
                out.push_str(&crate::pylit::repr_float(f));
            } else {
                out.push_str(&n.to_string());
            }
        }
        Value::String(s) => json_string(s, ensure_ascii, out),
        Value::Array(items) => {
            if items.is_empty() {
                out.push_str("[]");
                return;
            }
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(item_sep);
                }
                newline(out, level + 1);
                dumps_into(item, indent, ensure_ascii, level + 1, out);
            }
            newline(out, level);
            out.push(']');
        }
        Value::Object(map) => {
            if map.is_empty() {
                out.push_str("{}");
                return;
            }
            out.push('{');
            for (i, (k, v)) in map.iter().enumerate() {
                if i > 0 {
                    out.push_str(item_sep);
                }
                newline(out, level + 1);
                json_string(k, ensure_ascii, out);
                out.push_str(": ");
                dumps_into(v, indent, ensure_ascii, level + 1, out);
            }
            newline(out, level);
            out.push('}');
        }
    }
}

/// A JSON string literal as Python's `json` module writes it.
fn json_string(s: &str, ensure_ascii: bool, out: &mut String) {
    use std::fmt::Write as _;
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\x08' => out.push_str("\\b"),
            '\x0c' => out.push_str("\\f"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            // ensure_ascii escapes everything outside ' '..='~' (so DEL too).
            c if ensure_ascii && (c as u32) > 0x7e => {
                let mut buf = [0u16; 2];
                for unit in c.encode_utf16(&mut buf) {
                    let _ = write!(out, "\\u{unit:04x}");
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dumps_like_python() -> Result<()> {
        let v: serde_json::Value =
            serde_json::from_str(r#"{"a": [1, 2.0, "é\n"], "b": {}, "c": [], "d": null}"#)
                .map_err(|source| Error::Json {
                    location: Location::default(),
                    source,
                })?;
        // json.dumps(v) and json.dumps(v, indent=2, ensure_ascii=False), written by hand:
        assert_eq!(
            python_json_dumps(&v, None, true),
            r#"{"a": [1, 2.0, "\u00e9\n"], "b": {}, "c": [], "d": null}"#
        );
        assert_eq!(
            python_json_dumps(&v, Some(2), false),
            "{\n  \"a\": [\n    1,\n    2.0,\n    \"é\\n\"\n  ],\n  \"b\": {},\n  \"c\": [],\n  \"d\": null\n}"
        );
        Ok(())
    }
}

/// Serde adapter: a JSON object as `Vec<(String, T)>`, keeping the file's key order (Python
/// dicts keep insertion order; round keys of annotations arrive in completion order).
pub(crate) mod ordered_map {
    use std::fmt;
    use std::marker::PhantomData;

    use serde::de::{MapAccess, Visitor};
    use serde::ser::SerializeMap;
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub(crate) fn serialize<S: Serializer, T: Serialize>(
        entries: &[(String, T)],
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(entries.len()))?;
        for (key, value) in entries {
            map.serialize_entry(key, value)?;
        }
        map.end()
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
        deserializer: D,
    ) -> Result<Vec<(String, T)>, D::Error> {
        struct Entries<T>(PhantomData<T>);
        impl<'de, T: Deserialize<'de>> Visitor<'de> for Entries<T> {
            type Value = Vec<(String, T)>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<Self::Value, A::Error> {
                let mut out = Vec::with_capacity(access.size_hint().unwrap_or(0));
                while let Some(entry) = access.next_entry::<String, T>()? {
                    out.push(entry);
                }
                Ok(out)
            }
        }
        deserializer.deserialize_map(Entries(PhantomData))
    }
}
