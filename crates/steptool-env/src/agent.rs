//! The agent interface: a conversation in, one assistant turn out.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use steptool_mdp::ToolCall;

use crate::conversation::Message;
use crate::error::Result;

/// What an agent is asked to continue.
#[derive(Debug, Clone, Copy)]
pub struct AgentRequest<'a> {
    /// The task's id (scripted agents look their ground truth up by it).
    pub task_id: &'a str,
    /// Which of K samples of this task is being rolled out (0-based).
    pub sample: usize,
    /// The conversation so far, `system` first.
    pub messages: &'a [Message],
    /// The OpenAI function dicts on offer, `Finish` last.
    pub functions: &'a [Value],
}

/// One assistant turn.
///
/// `text` is what the model generated; `thought` and `call` are its parse (the ReAct parser
/// of formats.md §3.6 never fails, so there is always a call, possibly with an empty name).
/// Token ids and log-probs are filled by agents that sample tokens themselves (the policy,
/// an inference server that reports them), so on-policy training never re-tokenises.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AgentTurn {
    /// The raw completion text.
    pub text: String,
    /// The thought (the part before `Action:`).
    pub thought: String,
    /// The tool call.
    pub call: ToolCall,
    /// The generated token ids, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_ids: Option<Vec<u32>>,
    /// The log-prob of each generated token under the behaviour policy, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logprobs: Option<Vec<f32>>,
}

impl AgentTurn {
    /// A turn from a thought and a call, with `text` rendered in the ReAct format
    /// (`Thought: ..\nAction: ..\nAction Input: ..`) and no token information.
    pub fn from_call(thought: impl Into<String>, call: ToolCall) -> Self {
        let thought = thought.into();
        Self {
            text: crate::conversation::react_text(&thought, &call),
            thought,
            call,
            token_ids: None,
            logprobs: None,
        }
    }
}

/// Something that acts: a scripted policy, an inference server, the trained policy.
///
/// `act` takes `&self` and must be callable from many threads at once (rollouts run tasks in
/// parallel); agents that sample keep their randomness a function of the request (task,
/// sample, conversation) so runs are reproducible whatever the thread schedule.
pub trait Agent: Send + Sync {
    /// Produce the next assistant turn for the conversation.
    fn act(&self, request: &AgentRequest<'_>) -> Result<AgentTurn>;
}

impl<A: Agent + ?Sized> Agent for &A {
    fn act(&self, request: &AgentRequest<'_>) -> Result<AgentTurn> {
        (**self).act(request)
    }
}

impl<A: Agent + ?Sized> Agent for Box<A> {
    fn act(&self, request: &AgentRequest<'_>) -> Result<AgentTurn> {
        (**self).act(request)
    }
}
