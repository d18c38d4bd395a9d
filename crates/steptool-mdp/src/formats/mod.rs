//! Readers and writers of the data formats of the StepTool reference and StableToolBench
//! (formats.md §1-§6), plus our own JSONL of [`crate::Trajectory`].
//!
//! | module | format | read | write |
//! |---|---|---|---|
//! | [`tsv`] | StepTool PPO training TSV (§1.1-1.3) | [`tsv::read_tsv`] (per-row errors), [`tsv::read_tsv_strict`] | [`tsv::write_tsv`] (byte-identical to pandas) |
//!
//! Every reader names the file, the line or row (or JSON key path) and the field of a problem.
//! Readers over many records ([`tsv::read_tsv`], [`jsonl::read_trajectories`]) return the good
//! records *and* one error per bad record, so callers can go on and report what was skipped;
//! their `_strict` twins stop at the first bad record.

pub mod tsv;

use std::path::Path;

use crate::error::{Error, Result};

/// Write `text` to `path`.
pub(crate) fn write_text(path: &Path, text: &str) -> Result<()> {
    std::fs::write(path, text).map_err(|source| Error::io(path, source))
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
                    location: crate::Location::default(),
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
