//! Chat formats: how a dialogue becomes the text a model reads and writes.
//!
//! The same format renders prompts for generation and for training (DESIGN.md), in two shapes:
//! - [`ChatFormat::training_sample`]: a [`crate::Trajectory`] as the prompt/response segments of the
//!   StepTool training TSV (formats.md §1.3), byte for byte as the reference data;
//! - [`ChatFormat::render_prompt`]: a message list as the inference prompt the reference sends
//!   to vLLM's completions endpoint (formats.md §3.4), ending with the opening of the
//!   assistant turn.
//!
//! Built-in formats are the three model families of the paper; any Hugging Face
//! `chat_template` is rendered by [`HfChatTemplate`].
//!
//! | | ToolLLaMA | Qwen2 (ChatML) | Llama-3.1 |
//! |---|---|---|---|
//! | turn | `Role: content\n` (training: `Role:\ncontent\n`) | `<\|im_start\|>role\ncontent<\|im_end\|>\n` | `<\|start_header_id\|>role<\|end_header_id\|>\n\ncontent<\|eot_id\|>` |
//! | tool role | `Function` | `function` | `function` |
//! | stop | `</s>` | `<\|im_end\|>`, `<\|endoftext\|>` | `<\|eot_id\|>` |

mod builtin;
mod hf_template;
pub mod system_prompt;

pub use builtin::ChatFormat;
pub use hf_template::HfChatTemplate;

use serde::{Deserialize, Serialize};

use crate::trajectory::ToolCall;

/// Who speaks a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// The system prompt.
    System,
    /// The user's query (or a DFSDT diversity prompt).
    User,
    /// A model turn.
    Assistant,
    /// A tool response (`function` in the reference's prompts).
    #[serde(alias = "function")]
    Tool,
}

impl Role {
    /// The OpenAI role name (`system`, `user`, `assistant`, `tool`).
    pub fn as_str(self) -> &'static str {
        match self {
            Role::System => "system",
            Role::User => "user",
            Role::Assistant => "assistant",
            Role::Tool => "tool",
        }
    }
}

/// One message of a dialogue. For an assistant turn, `content` is the thought and `tool_call`
/// the action (the reference keeps only the first tool call of a turn).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Message {
    /// Who speaks.
    pub role: Role,
    /// The text (the thought, for an assistant turn with a call).
    pub content: String,
    /// The call made by an assistant turn.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_call: Option<ToolCall>,
}

impl Message {
    /// A message without a tool call.
    pub fn new(role: Role, content: impl Into<String>) -> Self {
        Self {
            role,
            content: content.into(),
            tool_call: None,
        }
    }

    /// An assistant turn: a thought and a call.
    pub fn assistant_call(thought: impl Into<String>, call: ToolCall) -> Self {
        Self {
            role: Role::Assistant,
            content: thought.into(),
            tool_call: Some(call),
        }
    }

    /// The text the model wrote for this message: for an assistant turn with a call, the
    /// reference's `react_deparser`: `Thought: T\nAction: NAME\nAction Input: ARGS`.
    pub fn model_text(&self) -> String {
        match (&self.role, &self.tool_call) {
            (Role::Assistant, Some(call)) => react_text(&self.content, call),
            _ => self.content.clone(),
        }
    }
}

/// The ReAct text of one assistant turn (formats.md §3.4, `react_deparser`).
pub fn react_text(thought: &str, call: &ToolCall) -> String {
    format!(
        "Thought: {thought}\nAction: {}\nAction Input: {}",
        call.name(),
        call.arguments()
    )
}
