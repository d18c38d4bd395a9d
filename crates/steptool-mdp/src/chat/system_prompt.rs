//! The inference prompts of the reference (formats.md §3.1-3.2): the AutoGPT-style system
//! prompt with the task description and the function list, and the user turn.
//!
//! The system prompt is built in three stages, exactly as the reference:
//! 1. [`FORMAT_INSTRUCTIONS_SYSTEM_FUNCTION`] with `{task_description}` filled in
//!    ([`system_message`]);
//! 2. the task description lists each tool as `k.name: description` ([`task_description`]);
//! 3. for the open models, [`process_system_message`] adds the output-format instruction and the
//!    Python `repr` of the function list.

use serde_json::Value;

use crate::pylit::PyValue;

/// The reference's system prompt template (`Prompts/ReAct_prompts.py`), typos included.
pub const FORMAT_INSTRUCTIONS_SYSTEM_FUNCTION: &str = "You are AutoGPT, you can use many tools(functions) to do the following task.\n\
First I will give you the task description, and your task start.\n\
At each step, you need to give your thought to analyze the status now and what to do next, with a function call to actually excute your step.\n\
After the call, you will get the call result, and you are now in a new state.\n\
Then you will analyze your status now, then decide what to do next...\n\
After many (Thought-call) pairs, you finally perform the task, then you can give your finial answer.\n\
Remember: \n\
1.the state change is irreversible, you can't go back to one of the former state, if you want to restart the task, say \"I give up and restart\".\n\
2.All the thought is short, at most in 5 sentence.\n\
3.You can do more then one trys, so if your plan is to continusly try some conditions, you can do one of the conditions per try.\n\
Let's Begin!\n\
Task description: {task_description}";

/// The fixed opening of the task description (StableToolBench's `rapidapi_wrapper`).
pub const TASK_DESCRIPTION_PREFIX: &str = "You should use functions to help handle the real time user querys. Remember:\n\
1.ALWAYS call \"Finish\" function at the end of the task. And the final answer should contain enough information to show to the user,If you can't handle the task, or you find that function calls always fail(the function is not valid now), use function Finish->give_up_and_restart.\n\
2.Do not use origin tool names, use only subfunctions' names.\n\
You have access of the following tools:\n";

const FORMAT_ANCHOR: &str = "with a function call to actually excute your step.";
const FORMAT_INSTRUCTION: &str =
    " Your output should follow this format:\nThought:\nAction\nAction Input:\n";
const FUNCTIONS_PREFIX: &str = "\nSpecifically, you have access to the following APIs: ";

/// The task description for tools given as `(standard_tool_name, tool_description)` in
/// insertion order: each line is `k.name: desc` with `desc` the first 512 characters of the
/// description, newlines removed, then stripped (Python `str.strip`), or `None` when empty.
pub fn task_description<S: AsRef<str>, D: AsRef<str>>(tools: &[(S, D)]) -> String {
    let mut out = TASK_DESCRIPTION_PREFIX.to_owned();
    for (k, (name, description)) in tools.iter().enumerate() {
        let head: String = description
            .as_ref()
            .chars()
            .take(512)
            .filter(|&c| c != '\n')
            .collect();
        let stripped = py_strip(&head);
        let desc = if stripped.is_empty() {
            "None"
        } else {
            stripped
        };
        out.push_str(&format!("{}.{}: {desc}\n", k + 1, name.as_ref()));
    }
    out
}

/// Stage 1: the system prompt template with the task description filled in.
pub fn system_message(task_description: &str) -> String {
    FORMAT_INSTRUCTIONS_SYSTEM_FUNCTION.replace("{task_description}", task_description)
}

/// Stage 3 (open models and SFT data): add the output-format instruction after the sentence on
/// function calls, and append `"\nSpecifically, you have access to the following APIs: "` +
/// `str(functions)` (the Python `repr` of the function dicts, key order kept).
pub fn process_system_message(system: &str, functions: &[Value]) -> String {
    let mut out = system.replace(
        FORMAT_ANCHOR,
        &format!("{FORMAT_ANCHOR}{FORMAT_INSTRUCTION}"),
    );
    out.push_str(FUNCTIONS_PREFIX);
    out.push_str(&PyValue::List(functions.iter().map(PyValue::from_json).collect()).repr());
    out
}

/// The user turn: `"\n{query}\nBegin!\n"` (formats.md §3.2).
pub fn user_message(query: &str) -> String {
    format!("\n{query}\nBegin!\n")
}

/// Python's `str.strip()` without arguments: Python's whitespace also covers the ASCII
/// separators U+001C..U+001F, which Rust's `char::is_whitespace` does not.
fn py_strip(s: &str) -> &str {
    s.trim_matches(|c: char| c.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&c))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn task_description_lines() {
        let long = "x".repeat(600);
        let d = task_description(&[("a", " first\nline \r"), ("b", ""), ("c", long.as_str())]);
        let lines: Vec<&str> = d
            .strip_prefix(TASK_DESCRIPTION_PREFIX)
            .unwrap_or_default()
            .lines()
            .collect();
        // "\r" is not removed, only stripped at the ends; newlines vanish before stripping.
        assert_eq!(lines[0], "1.a: firstline");
        assert_eq!(lines[1], "2.b: None");
        assert_eq!(lines[2].len(), "3.c: ".len() + 512);
        assert_eq!(py_strip("\u{1f} a \u{a0}"), "a");
    }
}
