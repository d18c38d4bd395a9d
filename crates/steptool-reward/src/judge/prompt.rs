//! The judge's prompt and function schema, rendered exactly as the reference does
//! (formats.md §2.2-2.3).
//!
//! - The template file holds `<function><name>N</name><description>D</description></function>`
//!   blocks; `D` (with its leading and trailing newlines) is the prompt of function `N`.
//! - `D` is filled like Python's `str.format(query=…, mid_steps=…, final_answer=…)`.
//! - `mid_steps` is Python's `repr` of the list of step strings `"Step k: " + repr(dict)`, with
//!   `dict = {'name': …, 'arguments': …, 'response': …}` for every intermediate step (the last
//!   tool step, normally `Finish`, is left out); each step string is therefore escaped twice.
//! - `final_answer` is the raw argument string of the final `Finish` call.

use serde_json::Value;
use steptool_mdp::pylit::{repr_str, repr_str_list};
use steptool_mdp::{Step, Trajectory};

use crate::error::{Error, Result};

/// The reference template file (`src/reward/evaluators/gpt-4-turbo-2024-04-09/template.txt`).
pub const REFERENCE_TEMPLATE_FILE: &str = include_str!("evaluate_process_reward_template.txt");

/// The reference function schema `evaluate_process_reward` (from the evaluator's `config.yaml`,
/// key order kept).
pub const REFERENCE_SCHEMA_JSON: &str = include_str!("evaluate_process_reward_schema.json");

/// The function the judge is forced to call.
pub const FUNCTION_NAME: &str = "evaluate_process_reward";

/// The prompt of function `name` in a template file of `<function>` blocks.
pub fn template_for(file_text: &str, name: &str) -> Result<String> {
    let mut rest = file_text;
    while let Some(start) = rest.find("<function>") {
        let block_start = start + "<function>".len();
        let Some(end) = rest[block_start..].find("</function>") else {
            break;
        };
        let block = &rest[block_start..block_start + end];
        rest = &rest[block_start + end + "</function>".len()..];
        let (Some(n), Some(d)) = (between(block, "name"), between(block, "description")) else {
            continue;
        };
        if n.trim() == name {
            return Ok(d.to_owned());
        }
    }
    Err(Error::config(
        "template",
        format!("no <function> block named `{name}` with a <description> in the template file"),
    ))
}

fn between<'a>(text: &'a str, tag: &str) -> Option<&'a str> {
    let open = format!("<{tag}>");
    let close = format!("</{tag}>");
    let s = text.find(&open)? + open.len();
    let e = text[s..].find(&close)? + s;
    Some(&text[s..e])
}

/// The reference prompt template `D` of `evaluate_process_reward`.
pub fn reference_template() -> Result<String> {
    template_for(REFERENCE_TEMPLATE_FILE, FUNCTION_NAME)
}

/// The reference function schema as JSON.
pub fn reference_schema() -> Result<Value> {
    serde_json::from_str(REFERENCE_SCHEMA_JSON)
        .map_err(|source| Error::json("built-in evaluate_process_reward schema", source))
}

/// Python's `template.format(**values)` for plain `{name}` fields and `{{`/`}}` escapes.
/// A field that is not in `values`, or one with a conversion or format spec, is an error.
pub fn python_format(template: &str, values: &[(&str, &str)]) -> Result<String> {
    let mut out = String::with_capacity(template.len() * 2);
    let mut chars = template.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        match c {
            '{' if chars.peek().map(|&(_, c)| c) == Some('{') => {
                chars.next();
                out.push('{');
            }
            '}' if chars.peek().map(|&(_, c)| c) == Some('}') => {
                chars.next();
                out.push('}');
            }
            '{' => {
                let rest = &template[i + 1..];
                let Some(end) = rest.find('}') else {
                    return Err(Error::config(
                        "template",
                        format!("unclosed `{{` at byte {i}"),
                    ));
                };
                let field = &rest[..end];
                let Some((_, value)) = values.iter().find(|(k, _)| *k == field) else {
                    return Err(Error::config(
                        "template",
                        format!(
                            "unknown field `{{{field}}}` at byte {i} (known: {})",
                            values
                                .iter()
                                .map(|(k, _)| *k)
                                .collect::<Vec<_>>()
                                .join(", ")
                        ),
                    ));
                };
                out.push_str(value);
                for _ in 0..field.chars().count() + 1 {
                    chars.next();
                }
            }
            '}' => {
                return Err(Error::config(
                    "template",
                    format!("single `}}` at byte {i}"),
                ))
            }
            c => out.push(c),
        }
    }
    Ok(out)
}

/// `repr` of one step's message dict: `{'name': …, 'arguments': …, 'response': …}`.
pub fn step_dict_repr(step: &Step) -> String {
    let call = step.action.call();
    format!(
        "{{'name': {}, 'arguments': {}, 'response': {}}}",
        repr_str(call.name()),
        repr_str(call.arguments()),
        repr_str(step.observation.as_deref().unwrap_or(""))
    )
}

/// The step strings of `get_steps` for the intermediate steps: `"Step k: {dict repr}"`, k from 1.
pub fn step_strings(trajectory: &Trajectory) -> Vec<String> {
    trajectory
        .intermediate_steps()
        .iter()
        .enumerate()
        .map(|(k, step)| format!("Step {}: {}", k + 1, step_dict_repr(step)))
        .collect()
}

/// `"Final step: " + repr(dict)` of the last step (the annotation file's `final_step`).
pub fn final_step_string(trajectory: &Trajectory) -> String {
    // A trajectory has at least one step.
    let last = &trajectory.steps()[trajectory.len() - 1];
    format!("Final step: {}", step_dict_repr(last))
}

/// The `mid_steps` value of the prompt: the repr of the list of step strings.
pub fn mid_steps(trajectory: &Trajectory) -> String {
    repr_str_list(&step_strings(trajectory))
}

/// The `final_answer` value of the prompt: the raw arguments of the last step when it is a
/// `Finish` call (well-formed or not), else the empty string.
pub fn final_answer_arguments(trajectory: &Trajectory) -> &str {
    let call = trajectory.steps()[trajectory.len() - 1].action.call();
    if call.is_finish() {
        call.arguments()
    } else {
        ""
    }
}

/// The complete user message for `trajectory`.
pub fn render(template: &str, trajectory: &Trajectory) -> Result<String> {
    python_format(
        template,
        &[
            ("query", trajectory.query()),
            ("mid_steps", &mid_steps(trajectory)),
            ("final_answer", final_answer_arguments(trajectory)),
        ],
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn python_format_rules() -> Result<()> {
        assert_eq!(
            python_format("a {x} {{b}} {y}", &[("x", "1"), ("y", "{z}")])?,
            "a 1 {b} {z}"
        );
        assert!(python_format("{nope}", &[("x", "1")]).is_err());
        assert!(python_format("a } b", &[]).is_err());
        assert!(python_format("a {x", &[("x", "1")]).is_err());
        Ok(())
    }

    #[test]
    fn template_parsing() -> Result<()> {
        let d = reference_template()?;
        assert!(d.starts_with("\nQuery:\n{query}\n\nIntermediate Steps:\n{mid_steps}\n"));
        assert!(d.ends_with("function to return your evaluation.\n"));
        assert!(template_for(REFERENCE_TEMPLATE_FILE, "other").is_err());
        Ok(())
    }
}
