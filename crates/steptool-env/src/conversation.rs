//! OpenAI-style conversations: what environments start and agents read.
//!
//! The reference algorithms keep the dialogue as an OpenAI message list (formats.md §5.1):
//! `system`, `user`, then per step an `assistant` message with one tool call and a `tool`
//! message with the observation. DFSDT adds `user` "diversity" messages marked
//! `valid: false` (§5.3), which the open-model wrappers still render (a quirk an [`crate::Agent`]
//! may reproduce or not).

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use steptool_mdp::ToolCall;

/// Who wrote a message: the same roles as the chat formats of `steptool-mdp` render.
pub use steptool_mdp::Role;

/// One message of a conversation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Message {
    /// Who wrote it.
    pub role: Role,
    /// The text: system prompt, query, the assistant's thought, or the observation.
    pub content: String,
    /// The assistant's tool call (the reference keeps only the first one per turn).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_call: Option<ToolCall>,
    /// For `tool` messages: the function that produced the observation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// `false` for DFSDT diversity prompts after they were used (formats.md §5.3).
    #[serde(default = "yes", skip_serializing_if = "is_true")]
    pub valid: bool,
}

fn yes() -> bool {
    true
}

fn is_true(b: &bool) -> bool {
    *b
}

impl Message {
    /// A system message.
    pub fn system(content: impl Into<String>) -> Self {
        Self::plain(Role::System, content)
    }

    /// A user message.
    pub fn user(content: impl Into<String>) -> Self {
        Self::plain(Role::User, content)
    }

    /// An assistant message with a thought and one tool call.
    pub fn assistant(thought: impl Into<String>, call: ToolCall) -> Self {
        Self {
            role: Role::Assistant,
            content: thought.into(),
            tool_call: Some(call),
            name: None,
            valid: true,
        }
    }

    /// A tool message: the observation of function `name`.
    pub fn tool(name: impl Into<String>, observation: impl Into<String>) -> Self {
        Self {
            role: Role::Tool,
            content: observation.into(),
            tool_call: None,
            name: Some(name.into()),
            valid: true,
        }
    }

    fn plain(role: Role, content: impl Into<String>) -> Self {
        Self {
            role,
            content: content.into(),
            tool_call: None,
            name: None,
            valid: true,
        }
    }

    /// The message in the reference's open-model message format (formats.md §5.4):
    /// `{"role":"assistant","content":thought,"tool_calls":[{"id":0,"type":"function","function":{"name","arguments"}}]}`,
    /// `{"role":"tool","name","content","tool_call_id":0}`, diversity prompts with `"valid": false`.
    pub fn to_openai(&self) -> Value {
        let mut m = json!({"role": self.role.as_str(), "content": self.content});
        if let Some(call) = &self.tool_call {
            m["tool_calls"] = json!([{"id": 0, "type": "function",
                "function": {"name": call.name(), "arguments": call.arguments()}}]);
        }
        if self.role == Role::Tool {
            m["name"] = json!(self.name.clone().unwrap_or_default());
            m["tool_call_id"] = json!(0);
        }
        if !self.valid {
            m["valid"] = json!(false);
        }
        m
    }
}

/// The ReAct text of one assistant turn (formats.md §3.4, `react_deparser`).
pub use steptool_mdp::chat::react_text;

/// The messages an open-model prompt renders (formats.md §5.4), as chat-format messages: the
/// system prompt gets the output-format instruction and `str(functions)` appended
/// (`process_system_message`) when `functions` is not empty; DFSDT diversity prompts marked
/// invalid are dropped unless `render_invalid` (the reference's wrappers render them).
/// The OpenAI agent and the policy agent render prompts through this one function.
pub fn chat_messages(
    messages: &[Message],
    functions: &[Value],
    render_invalid: bool,
) -> Vec<steptool_mdp::Message> {
    let inner: Vec<Value> = functions
        .iter()
        .map(|f| f.get("function").cloned().unwrap_or_else(|| f.clone()))
        .collect();
    messages
        .iter()
        .filter(|m| m.valid || render_invalid)
        .map(|m| chat_message(m, &inner))
        .collect()
}

/// One message of [`chat_messages`] (`inner`: the function dicts without their wrapper).
pub fn chat_message(m: &Message, inner: &[Value]) -> steptool_mdp::Message {
    use steptool_mdp::chat::system_prompt::process_system_message;
    match (m.role, &m.tool_call) {
        (Role::System, _) if !inner.is_empty() => {
            steptool_mdp::Message::new(Role::System, process_system_message(&m.content, inner))
        }
        (Role::Assistant, Some(call)) => {
            steptool_mdp::Message::assistant_call(m.content.clone(), call.clone())
        }
        (role, _) => steptool_mdp::Message::new(role, m.content.clone()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn openai_shapes() {
        let a = Message::assistant("t", ToolCall::new("f", "{}"));
        assert_eq!(
            a.to_openai(),
            json!({"role":"assistant","content":"t","tool_calls":[{"id":0,"type":"function","function":{"name":"f","arguments":"{}"}}]})
        );
        let t = Message::tool("f", "obs");
        assert_eq!(
            t.to_openai(),
            json!({"role":"tool","content":"obs","name":"f","tool_call_id":0})
        );
        assert_eq!(
            react_text("t", &ToolCall::new("f", "{}")),
            "Thought: t\nAction: f\nAction Input: {}"
        );
    }
}
