//! Python's `json.dumps` / `json.loads(strict=False)` conventions that leak into the data.
//!
//! Observations are `json.dumps(response)` with the defaults (separators `", "` and `": "`,
//! `ensure_ascii=True`), and DFSDT's diversity prompt is `json.dumps(candidates, indent=2)`
//! (formats.md §0, §4.1, §5.3). serde_json writes neither byte for byte, so this module does.

use serde_json::Value;

/// `json.dumps(value)` with Python's defaults (`ensure_ascii=True`), or
/// `json.dumps(value, indent=n)`: steptool-mdp's writer, re-checked by this module's tests.
pub fn dumps(value: &Value, indent: Option<usize>) -> String {
    steptool_mdp::formats::python_json_dumps(value, indent, true)
}

/// `json.loads(text, strict=False)`: like JSON, but raw control characters are allowed
/// inside strings. Returns `None` where Python would raise.
pub fn loads_nonstrict(text: &str) -> Option<Value> {
    if let Ok(v) = serde_json::from_str(text) {
        return Some(v);
    }
    // Escape raw control characters that sit inside string literals, then retry.
    let mut fixed = String::with_capacity(text.len() + 8);
    let mut in_string = false;
    let mut escaped = false;
    let mut changed = false;
    for c in text.chars() {
        if in_string {
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_string = false;
            } else if (c as u32) < 0x20 {
                fixed.push_str(&format!("\\u{:04x}", c as u32));
                changed = true;
                continue;
            }
        } else if c == '"' {
            in_string = true;
        }
        fixed.push(c);
    }
    if !changed {
        return None;
    }
    serde_json::from_str(&fixed).ok()
}

/// Truncate to `max` characters (Python `str` slicing counts code points) and append `"..."`
/// when longer, as the reference's `step` does with `max_observation_length`.
pub fn truncate_observation(observation: String, max: usize) -> String {
    match observation.char_indices().nth(max) {
        Some((byte, _)) => {
            let mut s = observation[..byte].to_owned();
            s.push_str("...");
            s
        }
        None => observation,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn dumps_matches_python_defaults() {
        // python3 -c 'import json; print(json.dumps({"error": "", "response": {"a": [1, 2.5, None, True], "é": "x\ty"}}))'
        let v = json!({"error": "", "response": {"a": [1, 2.5, null, true], "é": "x\ty"}});
        assert_eq!(
            dumps(&v, None),
            r#"{"error": "", "response": {"a": [1, 2.5, null, true], "\u00e9": "x\ty"}}"#
        );
        // json.dumps([{"a": 0.0, "b": []}], indent=2)
        let v = json!([{"a": 0.0, "b": []}]);
        assert_eq!(
            dumps(&v, Some(2)),
            "[\n  {\n    \"a\": 0.0,\n    \"b\": []\n  }\n]"
        );
        // astral plane -> surrogate pair; DEL is escaped too
        assert_eq!(
            dumps(&json!("\u{1F600}\u{7f}"), None),
            r#""\ud83d\ude00\u007f""#
        );
    }

    #[test]
    fn nonstrict_loads_and_truncation() {
        let v = loads_nonstrict("{\"a\": \"line\nbreak\"}");
        assert_eq!(v, Some(json!({"a": "line\nbreak"})));
        assert_eq!(loads_nonstrict("{oops"), None);
        // 5 chars kept, then "..." (counts chars, not bytes: "é" is one)
        assert_eq!(truncate_observation("ééééééé".into(), 5), "ééééé...");
        assert_eq!(truncate_observation("abc".into(), 3), "abc");
    }
}
