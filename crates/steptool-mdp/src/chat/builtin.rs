//! The chat formats of the paper's three model families (formats.md §1.3, §3.4).

use serde::{Deserialize, Serialize};

use super::{Message, Role};
use crate::error::{Error, Result};
use crate::pylit;
use crate::sample::StepSample;
use crate::trajectory::{Step, ToolCall, ToolSchema, Trajectory};

/// The opening of the training system prompt: the reference's training data names the tools only
/// (formats.md §1.4), unlike the full AutoGPT prompt used at inference.
const TRAINING_SYSTEM_PREFIX: &str = "Specifically, you have access to the following APIs: ";

/// A built-in chat format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ChatFormat {
    /// ToolLLaMA-2-7b-v2 (`System:`/`User:`/`Function:`/`Assistant:` headers).
    #[serde(rename = "toolllama")]
    ToolLlama,
    /// Qwen2 ChatML (`<|im_start|>role\n…<|im_end|>\n`).
    Qwen2,
    /// Llama-3.1 headers (`<|start_header_id|>role<|end_header_id|>\n\n…<|eot_id|>`).
    #[serde(rename = "llama3")]
    Llama31,
}

impl std::str::FromStr for ChatFormat {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s.to_ascii_lowercase().as_str() {
            "toolllama" | "tool-llama" | "toolllama2" => Ok(Self::ToolLlama),
            "qwen2" | "qwen" | "chatml" => Ok(Self::Qwen2),
            "llama3" | "llama3-1" | "llama3.1" | "llama-3.1" => Ok(Self::Llama31),
            other => Err(Error::format(
                Default::default(),
                format!("unknown chat format {other:?}: expected toolllama, qwen2 or llama3"),
            )),
        }
    }
}

impl ChatFormat {
    /// Render a trajectory as the reference's training segments (formats.md §1.3), with one
    /// reward per step.
    ///
    /// `prompt[0]` holds the abbreviated system prompt naming the tools
    /// (`str([names])`), the query and the opening of the first assistant turn; `prompt[i]`
    /// holds the observation of step `i - 1`; `response[i]` is action `i` with the model's
    /// end-of-turn marker. Thoughts are rendered as the reference data has them: absent for
    /// ToolLLaMA, `Thought: {thought}` (normally empty) for Qwen2 and Llama-3.1.
    ///
    /// Errors when the reward count differs from the step count, or an intermediate step has
    /// no observation (a tool response is needed to render the next prompt).
    pub fn training_sample(self, trajectory: &Trajectory, rewards: &[f64]) -> Result<StepSample> {
        let steps = trajectory.steps();
        let id = trajectory.query_id().unwrap_or("<no id>");
        if rewards.len() != steps.len() {
            return Err(Error::InvalidTrajectory(format!(
                "query {id}: {} rewards for {} steps (one reward per step)",
                rewards.len(),
                steps.len()
            )));
        }
        let names: Vec<&str> = trajectory.tools().iter().map(|t| t.name.as_str()).collect();
        let system = format!("{TRAINING_SYSTEM_PREFIX}{}", pylit::repr_str_list(&names));
        let query = trajectory.query();
        let mut prompts = Vec::with_capacity(steps.len());
        let mut responses = Vec::with_capacity(steps.len());
        for (k, step) in steps.iter().enumerate() {
            let prompt = if k == 0 {
                match self {
                    Self::ToolLlama => format!("System:\n{system}\nUser:\n{query}\nBegin!\n\nAssistant:\n"),
                    Self::Qwen2 => format!(
                        "<|im_start|>system\n{system}<|im_end|>\n<|im_start|>user\n\n{query}\nBegin!\n<|im_end|>\n<|im_start|>assistant\n"
                    ),
                    Self::Llama31 => format!(
                        "<|start_header_id|>system<|end_header_id|>\n\n{system}<|eot_id|><|start_header_id|>user<|end_header_id|>\n\n{query}\nBegin!\n<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n"
                    ),
                }
            } else {
                let obs = steps[k - 1].observation.as_deref().ok_or_else(|| {
                    Error::InvalidTrajectory(format!(
                        "query {id}: step {} has no observation, needed for the prompt of step {k}",
                        k - 1
                    ))
                })?;
                match self {
                    Self::ToolLlama => format!("Function:\n{obs}\nAssistant:\n"),
                    Self::Qwen2 => format!("<|im_start|>function\n{obs}<|im_end|>\n<|im_start|>assistant\n"),
                    Self::Llama31 => format!(
                        "<|start_header_id|>function<|end_header_id|>\n\n{obs}<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n"
                    ),
                }
            };
            let call = step.action.call();
            let thought = step.thought.as_deref().unwrap_or("");
            let (name, args) = (call.name(), call.arguments());
            let response = match self {
                Self::ToolLlama => format!("Action: {name}\nAction Input: {args}\n"),
                Self::Qwen2 => {
                    format!("Thought: {thought}\nAction: {name}\nAction Input: {args}<|im_end|>\n")
                }
                Self::Llama31 => {
                    format!("Thought: {thought}\nAction: {name}\nAction Input: {args}<|eot_id|>")
                }
            };
            prompts.push(prompt);
            responses.push(response);
        }
        StepSample::new(prompts, responses, rewards.to_vec())
    }

    /// The inverse of [`ChatFormat::training_sample`]: recover the trajectory (query, tool
    /// names, thoughts, calls and observations) from a sample in this format, e.g. to
    /// re-annotate the rewards of a StepTool TSV. Errors name the step and segment that does
    /// not have this format's shape.
    pub fn trajectory_from_sample(self, sample: &StepSample) -> Result<Trajectory> {
        sample.validate()?;
        let n = sample.num_steps();
        let bad = |what: String| {
            Error::InvalidTrajectory(format!("not a {} training sample: {what}", self.name()))
        };
        let (system_open, system_close, user_open, user_close) = match self {
            Self::ToolLlama => ("System:\n", "\nUser:\n", "", "\nBegin!\n\nAssistant:\n"),
            Self::Qwen2 => (
                "<|im_start|>system\n",
                "<|im_end|>\n<|im_start|>user\n",
                "\n",
                "\nBegin!\n<|im_end|>\n<|im_start|>assistant\n",
            ),
            Self::Llama31 => (
                "<|start_header_id|>system<|end_header_id|>\n\n",
                "<|eot_id|><|start_header_id|>user<|end_header_id|>\n\n",
                "",
                "\nBegin!\n<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n",
            ),
        };
        let first = &sample.prompts[0];
        let rest = first
            .strip_prefix(system_open)
            .and_then(|r| r.strip_prefix(TRAINING_SYSTEM_PREFIX))
            .ok_or_else(|| {
                bad(format!(
                    "prompt 0 does not start with {:?}",
                    format!("{system_open}{TRAINING_SYSTEM_PREFIX}")
                ))
            })?;
        let (tools_literal, rest) = rest
            .split_once(system_close)
            .ok_or_else(|| bad(format!("prompt 0 has no {system_close:?}")))?;
        let tools = pylit::parse_str_list(tools_literal)?;
        let query = rest
            .strip_prefix(user_open)
            .and_then(|r| r.strip_suffix(user_close))
            .ok_or_else(|| bad(format!("prompt 0 does not end with {user_close:?}")))?;
        let (obs_open, obs_close) = match self {
            Self::ToolLlama => ("Function:\n", "\nAssistant:\n"),
            Self::Qwen2 => (
                "<|im_start|>function\n",
                "<|im_end|>\n<|im_start|>assistant\n",
            ),
            Self::Llama31 => (
                "<|start_header_id|>function<|end_header_id|>\n\n",
                "<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n",
            ),
        };
        let end_marker = match self {
            Self::ToolLlama => "\n",
            Self::Qwen2 => "<|im_end|>\n",
            Self::Llama31 => "<|eot_id|>",
        };
        let mut steps = Vec::with_capacity(n);
        for k in 0..n {
            let observation = match sample.prompts.get(k + 1) {
                Some(p) => Some(
                    p.strip_prefix(obs_open)
                        .and_then(|r| r.strip_suffix(obs_close))
                        .ok_or_else(|| bad(format!("prompt {} is not an observation turn", k + 1)))?
                        .to_owned(),
                ),
                None => None,
            };
            let text = sample.responses[k]
                .strip_suffix(end_marker)
                .ok_or_else(|| bad(format!("response {k} does not end with {end_marker:?}")))?;
            let (thought, text) = match (self, text.strip_prefix("Thought: ")) {
                (Self::ToolLlama, _) => (None, text),
                (_, Some(t)) => {
                    let (thought, rest) = t
                        .split_once("\nAction: ")
                        .ok_or_else(|| bad(format!("response {k} has no action")))?;
                    (Some(thought.to_owned()), rest)
                }
                (_, None) => {
                    return Err(bad(format!(
                        "response {k} does not start with \"Thought: \""
                    )))
                }
            };
            let text = text.strip_prefix("Action: ").unwrap_or(text);
            let (name, args) = text
                .split_once("\nAction Input: ")
                .ok_or_else(|| bad(format!("response {k} has no \"\\nAction Input: \"")))?;
            let mut step = Step::new(ToolCall::new(name, args), observation);
            step.thought = thought;
            steps.push(step);
        }
        Trajectory::new(
            None,
            query,
            tools.into_iter().map(ToolSchema::named).collect(),
            steps,
        )
    }

    /// Render messages as the reference's inference prompt (formats.md §3.4), ending with the
    /// opening of the next assistant turn. Assistant turns with a call are rendered with
    /// [`Message::model_text`]; tool messages take the `function` role.
    pub fn render_prompt(self, messages: &[Message]) -> String {
        let mut out: String = messages.iter().map(|m| self.render_message(m)).collect();
        out.push_str(self.generation_prompt());
        out
    }

    /// One message of [`ChatFormat::render_prompt`], with its role header and end-of-turn
    /// marker: the unit a rollout tokenises between generated turns.
    pub fn render_message(self, m: &Message) -> String {
        let text = m.model_text();
        match self {
            Self::ToolLlama => {
                let role = match m.role {
                    Role::System => "System",
                    Role::User => "User",
                    Role::Assistant => "Assistant",
                    Role::Tool => "Function",
                };
                format!("{role}: {text}\n")
            }
            Self::Qwen2 => format!("<|im_start|>{}\n{text}<|im_end|>\n", reference_role(m.role)),
            Self::Llama31 => format!(
                "<|start_header_id|>{}<|end_header_id|>\n\n{text}<|eot_id|>",
                reference_role(m.role)
            ),
        }
    }

    /// What closes a generated assistant turn before the next message: the separator after
    /// the end-of-turn marker when the model emitted it (`ended`), the marker and the separator
    /// when generation stopped otherwise (a stop string, the length limit).
    pub fn close_generated_turn(self, ended: bool) -> &'static str {
        match (self, ended) {
            (Self::ToolLlama, true) | (Self::Qwen2, true) => "\n",
            (Self::Llama31, true) => "",
            (Self::ToolLlama, false) => "</s>\n",
            (Self::Qwen2, false) => "<|im_end|>\n",
            (Self::Llama31, false) => "<|eot_id|>",
        }
    }

    /// The opening of an assistant turn, appended after the last message.
    pub fn generation_prompt(self) -> &'static str {
        match self {
            Self::ToolLlama => "Assistant:\n",
            Self::Qwen2 => "<|im_start|>assistant\n",
            Self::Llama31 => "<|start_header_id|>assistant<|end_header_id|>\n\n",
        }
    }

    /// Strings that end an assistant turn at generation time (the reference's vLLM `stop`).
    pub fn stop_strings(self) -> &'static [&'static str] {
        match self {
            Self::ToolLlama => &["</s>"],
            Self::Qwen2 => &["<|im_end|>", "<|endoftext|>"],
            Self::Llama31 => &["<|eot_id|>"],
        }
    }

    /// The name used in configs and on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Self::ToolLlama => "toolllama",
            Self::Qwen2 => "qwen2",
            Self::Llama31 => "llama3",
        }
    }
}

/// The role name in ChatML and Llama-3 prompts: `tool` messages are `function` turns.
fn reference_role(role: Role) -> &'static str {
    match role {
        Role::Tool => "function",
        other => other.as_str(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dialogue() -> Vec<Message> {
        vec![
            Message::new(Role::System, "SYS"),
            Message::new(Role::User, "\nQ\nBegin!\n"),
            Message::assistant_call("think", ToolCall::new("f", "{\"a\": 1}")),
            Message::new(Role::Tool, "{\"error\": \"\", \"response\": \"ok\"}"),
        ]
    }

    #[test]
    fn inference_prompts_match_the_reference_wrappers() {
        // formats.md §3.4, `tool-llama-single-round`: "Role: content\n" per message.
        assert_eq!(
            ChatFormat::ToolLlama.render_prompt(&dialogue()),
            "System: SYS\nUser: \nQ\nBegin!\n\nAssistant: Thought: think\nAction: f\nAction Input: {\"a\": 1}\n\
             Function: {\"error\": \"\", \"response\": \"ok\"}\nAssistant:\n"
        );
        assert_eq!(
            ChatFormat::Qwen2.render_prompt(&dialogue()),
            "<|im_start|>system\nSYS<|im_end|>\n<|im_start|>user\n\nQ\nBegin!\n<|im_end|>\n\
             <|im_start|>assistant\nThought: think\nAction: f\nAction Input: {\"a\": 1}<|im_end|>\n\
             <|im_start|>function\n{\"error\": \"\", \"response\": \"ok\"}<|im_end|>\n<|im_start|>assistant\n"
        );
        assert_eq!(
            ChatFormat::Llama31.render_prompt(&dialogue()),
            "<|start_header_id|>system<|end_header_id|>\n\nSYS<|eot_id|>\
             <|start_header_id|>user<|end_header_id|>\n\n\nQ\nBegin!\n<|eot_id|>\
             <|start_header_id|>assistant<|end_header_id|>\n\nThought: think\nAction: f\nAction Input: {\"a\": 1}<|eot_id|>\
             <|start_header_id|>function<|end_header_id|>\n\n{\"error\": \"\", \"response\": \"ok\"}<|eot_id|>\
             <|start_header_id|>assistant<|end_header_id|>\n\n"
        );
    }

    #[test]
    fn every_format_parses_back_what_it_renders() -> Result<()> {
        let steps = vec![
            Step::new(
                ToolCall::new("f_for_t", "{\"a\": \"x\\ny\"}"),
                Some("{\"error\": \"\", \"response\": \"it's\"}".into()),
            ),
            Step::new(
                ToolCall::new(
                    "Finish",
                    "{\"return_type\": \"give_answer\", \"final_answer\": \"done\"}",
                ),
                None,
            ),
        ];
        let tools = vec![ToolSchema::named("f_for_t"), ToolSchema::named("Finish")];
        let t = Trajectory::new(None, "What's up?\nTell me.", tools, steps)?;
        for f in [
            ChatFormat::ToolLlama,
            ChatFormat::Qwen2,
            ChatFormat::Llama31,
        ] {
            let sample = f.training_sample(&t, &[0.5, 1.0])?;
            let back = f.trajectory_from_sample(&sample)?;
            assert_eq!(back.query(), t.query(), "{f:?}");
            assert_eq!(back.tools(), t.tools(), "{f:?}");
            for (a, b) in back.steps().iter().zip(t.steps()) {
                assert_eq!(
                    (&a.action, &a.observation),
                    (&b.action, &b.observation),
                    "{f:?}"
                );
            }
            assert_eq!(f.training_sample(&back, &[0.5, 1.0])?, sample, "{f:?}");
        }
        Ok(())
    }

    #[test]
    fn names_parse() -> Result<()> {
        for f in [
            ChatFormat::ToolLlama,
            ChatFormat::Qwen2,
            ChatFormat::Llama31,
        ] {
            assert_eq!(f.name().parse::<ChatFormat>()?, f);
        }
        assert!("gpt".parse::<ChatFormat>().is_err());
        Ok(())
    }
}
