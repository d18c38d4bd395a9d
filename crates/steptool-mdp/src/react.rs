//! Parsing an assistant turn into an action (formats.md §3.6).
//!
//! Two text forms exist in the reference:
//! - the ReAct form `Thought: …\nAction: NAME\nAction Input: ARGS`, parsed by
//!   [`parse_react`] with **exactly** the semantics of the reference's `react_parser`
//!   (Python `str.find` + slicing, so it never fails and a missing marker yields the slice the
//!   reference yields), or by [`parse_react_strict`], which reports what is malformed;
//! - the OpenAI `tool_calls` JSON form (and the legacy `function_call` form), parsed by
//!   [`parse_tool_calls_message`].

use serde_json::Value;

use crate::error::{Error, Result};
use crate::trajectory::ToolCall;

/// An assistant turn as text: the thought and the tool call.
#[derive(Debug, Clone, PartialEq)]
pub struct ParsedTurn {
    /// The thought (may be empty).
    pub thought: String,
    /// The tool call (name and raw argument string).
    pub call: ToolCall,
}

/// Parse a ReAct completion with the reference's exact semantics:
///
/// ```text
/// thought      = s[s.find("Thought: ") + 9 : s.find("\nAction: ")]
/// action       = s[s.find("Action: ") + 8 : s.find("\nAction Input: ")]
/// action_input = s[s.find("Action Input: ") + 14 :]
/// ```
///
/// Indices are Python's: counted in characters, `find` gives -1 when absent, a negative end
/// counts from the end, and an empty slice results when start >= end. This never fails; use
/// [`parse_react_strict`] to know whether the text was well formed.
///
/// ```
/// let turn = steptool_mdp::parse_react("Thought: look it up\nAction: search\nAction Input: {\"q\": 1}");
/// assert_eq!((turn.thought.as_str(), turn.call.name(), turn.call.arguments()), ("look it up", "search", "{\"q\": 1}"));
/// // No "Thought: " marker: Python slices s[-1 + 9 : -1], i.e. from index 8 to len - 1.
/// assert_eq!(steptool_mdp::parse_react("Action: f\nAction Input: {}").thought, "f\nAction Input: {");
/// ```
pub fn parse_react(text: &str) -> ParsedTurn {
    let chars: Vec<char> = text.chars().collect();
    let find = |needle: &str| py_find(&chars, needle);
    let thought = py_slice(&chars, find("Thought: ") + 9, Some(find("\nAction: ")));
    let action = py_slice(&chars, find("Action: ") + 8, Some(find("\nAction Input: ")));
    let input = py_slice(&chars, find("Action Input: ") + 14, None);
    ParsedTurn {
        thought,
        call: ToolCall::new(action, input),
    }
}

/// Parse a ReAct completion, requiring the well-formed shape
/// `[Thought: T\n]Action: NAME\nAction Input: ARGS` with a non-empty name and ARGS a JSON
/// object. The error lists every problem found. On success the result equals [`parse_react`]'s
/// for texts with a thought; without a `Thought: ` line the thought is empty (where the lenient
/// parser would return a slice of the action text).
pub fn parse_react_strict(text: &str) -> Result<ParsedTurn> {
    let mut problems = Vec::new();
    let action_at = match text.find("Action: ") {
        Some(i) => Some(i),
        None => {
            problems.push("no `Action: ` line".to_owned());
            None
        }
    };
    let input_at = text.find("\nAction Input: ");
    if input_at.is_none() {
        problems.push("no `\\nAction Input: ` line".to_owned());
    }
    let thought = match (text.find("Thought: "), action_at) {
        (Some(t), Some(a)) if t < a => {
            let end = text[..a].strip_suffix('\n').map(str::len);
            match end {
                Some(end) if end >= t + 9 => text[t + 9..end].to_owned(),
                _ => {
                    problems.push("the thought is not followed by `\\nAction: `".to_owned());
                    String::new()
                }
            }
        }
        (None, Some(0)) => String::new(),
        (None, Some(_)) => {
            problems.push("text before `Action: ` without a `Thought: ` marker".to_owned());
            String::new()
        }
        _ => String::new(),
    };
    let mut call = None;
    if let (Some(a), Some(i)) = (action_at, input_at) {
        if i < a + 8 {
            problems.push("`Action Input: ` comes before the action name".to_owned());
        } else {
            let name = &text[a + 8..i];
            let args = &text[i + "\nAction Input: ".len()..];
            if name.trim().is_empty() {
                problems.push("empty action name".to_owned());
            } else if name.contains('\n') {
                problems.push(format!("action name {name:?} spans several lines"));
            }
            match serde_json::from_str::<Value>(args) {
                Ok(Value::Object(_)) => {}
                Ok(other) => {
                    problems.push(format!("action input is JSON but not an object: {other}"))
                }
                Err(e) => problems.push(format!("action input is not valid JSON ({e}): {args:?}")),
            }
            call = Some(ToolCall::new(name, args));
        }
    }
    match call {
        Some(call) if problems.is_empty() => Ok(ParsedTurn { thought, call }),
        _ => Err(Error::MalformedAction(format!(
            "{} in {text:?}",
            problems.join("; ")
        ))),
    }
}

/// Parse an OpenAI-style assistant message: `content` is the thought and the **first** entry of
/// `tool_calls` (`{"function": {"name", "arguments"}}`) the call, as the reference does; the
/// legacy `function_call` form is accepted too. A message without a call is an error.
pub fn parse_tool_calls_message(message: &Value) -> Result<ParsedTurn> {
    let thought = match message.get("content") {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(s)) => s.clone(),
        Some(other) => {
            return Err(Error::MalformedAction(format!(
                "`content` is not a string: {other}"
            )))
        }
    };
    let function = if let Some(calls) = message.get("tool_calls") {
        let first = calls.as_array().and_then(|a| a.first()).ok_or_else(|| {
            Error::MalformedAction(format!("`tool_calls` is not a non-empty list: {calls}"))
        })?;
        first.get("function").ok_or_else(|| {
            Error::MalformedAction(format!("tool call without `function`: {first}"))
        })?
    } else if let Some(call) = message.get("function_call") {
        call
    } else {
        return Err(Error::MalformedAction(format!(
            "assistant message has no `tool_calls` or `function_call`: {message}"
        )));
    };
    let field = |key: &str| -> Result<String> {
        match function.get(key) {
            Some(Value::String(s)) => Ok(s.clone()),
            // Some servers send arguments as an object rather than a JSON string.
            Some(v @ Value::Object(_)) if key == "arguments" => Ok(v.to_string()),
            other => Err(Error::MalformedAction(format!(
                "function `{key}` is not a string: {other:?}"
            ))),
        }
    };
    Ok(ParsedTurn {
        thought,
        call: ToolCall::new(field("name")?, field("arguments")?),
    })
}

/// Python's `str.find` on a char slice: the char index of the first match, or -1.
fn py_find(haystack: &[char], needle: &str) -> isize {
    let needle: Vec<char> = needle.chars().collect();
    if needle.is_empty() {
        return 0;
    }
    haystack
        .windows(needle.len())
        .position(|w| w == needle.as_slice())
        .map_or(-1, |i| i as isize)
}

/// Python's `s[start:end]` on a char slice (`end = None` means to the end).
fn py_slice(chars: &[char], start: isize, end: Option<isize>) -> String {
    let len = chars.len() as isize;
    let clamp = |i: isize| -> usize {
        let i = if i < 0 { i + len } else { i };
        i.clamp(0, len) as usize
    };
    let (s, e) = (clamp(start), end.map_or(chars.len(), clamp));
    if s >= e {
        String::new()
    } else {
        chars[s..e].iter().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reference_semantics_on_well_formed_text() {
        let t = parse_react(
            "Thought: I will search.\nAction: search_for_web\nAction Input: {\"q\": \"é\"}",
        );
        assert_eq!(t.thought, "I will search.");
        assert_eq!(t.call.name(), "search_for_web");
        assert_eq!(t.call.arguments(), "{\"q\": \"é\"}");
    }

    #[test]
    fn reference_semantics_on_malformed_text() {
        // Missing "\nAction: " -> thought ends at len-1 (Python's s[9:-1]).
        let t = parse_react("Thought: abc");
        assert_eq!(t.thought, "ab");
        // Missing "Action: " -> action starts at -1+8 = 7; missing "\nAction Input: " ends at len-1.
        assert_eq!(t.call.name(), ": ab");
        // Missing "Action Input: " -> input starts at -1+14 = 13: past the end of "Thought: abc" (12 chars).
        assert_eq!(t.call.arguments(), "");
        // Char (not byte) indices: 'é' is one char.
        let t = parse_react("ééééééééééé");
        assert_eq!(t.thought, "éé"); // s[8:-1] of 11 chars = chars 8, 9
                                     // The empty string gives empty parts.
        let t = parse_react("");
        assert_eq!(
            (t.thought.as_str(), t.call.name(), t.call.arguments()),
            ("", "", "")
        );
    }

    #[test]
    fn strict_reports_each_problem() {
        let ok = parse_react_strict("Thought: x\nAction: f\nAction Input: {\"a\": 1}");
        assert!(matches!(ok, Ok(ref t) if t.thought == "x" && t.call.name() == "f"));
        assert!(parse_react_strict("Action: f\nAction Input: {}").is_ok());
        for (text, needle) in [
            ("Thought: x\nAction Input: {}", "no `Action: `"),
            ("Thought: x\nAction: f", "no `\\nAction Input: `"),
            (
                "Thought: x\nAction: \nAction Input: {}",
                "empty action name",
            ),
            (
                "Thought: x\nAction: f\nAction Input: {oops",
                "not valid JSON",
            ),
            ("Thought: x\nAction: f\nAction Input: [1]", "not an object"),
            ("hello Action: f\nAction Input: {}", "without a `Thought: `"),
        ] {
            match parse_react_strict(text) {
                Err(Error::MalformedAction(m)) => {
                    assert!(m.contains(needle), "{m:?} should contain {needle:?}")
                }
                other => panic!("{text:?}: expected MalformedAction({needle}), got {other:?}"),
            }
        }
    }

    #[test]
    fn tool_calls_and_legacy_function_call() -> Result<()> {
        let m = serde_json::json!({"role": "assistant", "content": "think",
            "tool_calls": [{"id": 0, "type": "function", "function": {"name": "f", "arguments": "{\"x\": 1}"}},
                           {"id": 1, "type": "function", "function": {"name": "g", "arguments": "{}"}}]});
        let t = parse_tool_calls_message(&m)?;
        assert_eq!(
            (t.thought.as_str(), t.call.name(), t.call.arguments()),
            ("think", "f", "{\"x\": 1}")
        );
        let legacy = serde_json::json!({"role": "assistant", "content": null, "function_call": {"name": "Finish", "arguments": "{}"}});
        assert_eq!(parse_tool_calls_message(&legacy)?.call.name(), "Finish");
        assert!(parse_tool_calls_message(&serde_json::json!({"content": "no call"})).is_err());
        assert!(parse_tool_calls_message(&serde_json::json!({"tool_calls": []})).is_err());
        Ok(())
    }
}
