//! Python's `json.dumps` / `json.loads(strict=False)` conventions that leak into the data.
//!
//! Observations are `json.dumps(response)` with the defaults (separators `", "` and `": "`,
//! `ensure_ascii=True`), and DFSDT's diversity prompt is `json.dumps(candidates, indent=2)`
//! (formats.md §0, §4.1, §5.3). serde_json writes neither byte for byte, so this module does.

use serde_json::Value;

/// `json.dumps(value)` with Python's defaults, or `json.dumps(value, indent=n)`.
pub fn dumps(value: &Value, indent: Option<usize>) -> String {
    let mut out = String::new();
    write_value(&mut out, value, indent, 0);
    out
}

fn newline(out: &mut String, indent: Option<usize>, level: usize) {
    if let Some(n) = indent {
        out.push('\n');
        out.extend(std::iter::repeat_n(' ', n * level));
    }
}

fn write_value(out: &mut String, value: &Value, indent: Option<usize>, level: usize) {
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                out.push_str(&i.to_string());
            } else if let Some(u) = n.as_u64() {
                out.push_str(&u.to_string());
            } else if let Some(f) = n.as_f64() {
                out.push_str(&float_repr(f));
            }
        }
        Value::String(s) => write_str(out, s),
        Value::Array(items) => {
            if items.is_empty() {
                out.push_str("[]");
                return;
            }
            out.push('[');
            for (k, item) in items.iter().enumerate() {
                if k > 0 {
                    out.push_str(if indent.is_some() { "," } else { ", " });
                }
                newline(out, indent, level + 1);
                write_value(out, item, indent, level + 1);
            }
            newline(out, indent, level);
            out.push(']');
        }
        Value::Object(map) => {
            if map.is_empty() {
                out.push_str("{}");
                return;
            }
            out.push('{');
            for (k, (key, item)) in map.iter().enumerate() {
                if k > 0 {
                    out.push_str(if indent.is_some() { "," } else { ", " });
                }
                newline(out, indent, level + 1);
                write_str(out, key);
                out.push_str(": ");
                write_value(out, item, indent, level + 1);
            }
            newline(out, indent, level);
            out.push('}');
        }
    }
}

/// A JSON string literal with `ensure_ascii=True`: everything outside `' '..='~'` is escaped.
fn write_str(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            ' '..='~' => out.push(c),
            _ => {
                let mut buf = [0u16; 2];
                for unit in c.encode_utf16(&mut buf) {
                    out.push_str(&format!("\\u{unit:04x}"));
                }
            }
        }
    }
    out.push('"');
}

/// Python's `repr(float)`: shortest round-trip digits, fixed notation for decimal exponents
/// in `-4..16`, otherwise `d.ddde+XX`.
pub fn float_repr(x: f64) -> String {
    if x.is_nan() {
        return "NaN".into();
    }
    if x.is_infinite() {
        return if x > 0.0 {
            "Infinity".into()
        } else {
            "-Infinity".into()
        };
    }
    // Rust's `{:e}` gives the shortest round-trip digits: "-1.2345e-7", "1e16", "0e0".
    let sci = format!("{x:e}");
    let (mantissa, exp) = match sci.split_once('e') {
        Some((m, e)) => (m, e.parse::<i32>().unwrap_or(0)),
        None => (sci.as_str(), 0),
    };
    let (sign, mantissa) = match mantissa.strip_prefix('-') {
        Some(m) => ("-", m),
        None => ("", mantissa),
    };
    let digits: String = mantissa.chars().filter(|c| *c != '.').collect();
    if (-4..16).contains(&exp) {
        let n = digits.len() as i32;
        let body = if exp >= 0 {
            let int_len = exp + 1;
            if n <= int_len {
                format!("{digits}{}.0", "0".repeat((int_len - n) as usize))
            } else {
                format!(
                    "{}.{}",
                    &digits[..int_len as usize],
                    &digits[int_len as usize..]
                )
            }
        } else {
            format!("0.{}{digits}", "0".repeat((-exp - 1) as usize))
        };
        format!("{sign}{body}")
    } else {
        let frac = if digits.len() > 1 {
            format!("{}.{}", &digits[..1], &digits[1..])
        } else {
            digits.clone()
        };
        let esign = if exp < 0 { '-' } else { '+' };
        format!("{sign}{frac}e{esign}{:02}", exp.abs())
    }
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
    fn float_repr_matches_python() {
        for (x, py) in [
            (1.0, "1.0"),
            (0.9666666666666668, "0.9666666666666668"),
            (1e16, "1e+16"),
            (1.5e16, "1.5e+16"),
            (123456789012345.6, "123456789012345.6"),
            (0.0001, "0.0001"),
            (0.00001, "1e-05"),
            (-2.5e-7, "-2.5e-07"),
            (0.0, "0.0"),
            (-74.006, "-74.006"),
            (100.0, "100.0"),
        ] {
            assert_eq!(float_repr(x), py, "{x}");
        }
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
