//! # steptool-mdp — the data layer of StepTool
//!
//! ```text
//!   reference files ──readers──▶ Trajectory ──chat format──▶ StepSample ──Encoder──▶ Episode
//!   (TSV, ToolEval answers,      (text-level MDP:            (prompt/response    (token ids, one
//!    raw answer trees, SFT,       query, tools, steps)        segments, rewards)  action span and
//!    test queries, JSONL)                                                         reward per step)
//! ```
//!
//! Multi-step tool use is an MDP (StepTool paper §3): the state is the dialogue so far, an action
//! is one assistant turn (a tool call, or the final `Finish`), the observation is the tool's
//! response. This crate holds that vocabulary ([`ToolCall`], [`Action`], [`Step`],
//! [`Trajectory`]), the token-level [`Episode`] the trainer consumes, readers and writers for
//! every data format of the StepTool reference, the chat formats of the three model families, and
//! the [`Encoder`] that turns text into episodes. No libtorch here.
//!
//! ```
//! use steptool_mdp::{Action, Episode, ActionSpan, Step, ToolCall, Trajectory, ToolSchema};
//!
//! # fn main() -> steptool_mdp::Result<()> {
//! let steps = vec![
//!     Step::new(ToolCall::new("weather_for_meteo", r#"{"city": "Paris"}"#), Some(r#"{"error": "", "response": "sunny"}"#.into())),
//!     Step::new(ToolCall::new("Finish", r#"{"return_type": "give_answer", "final_answer": "It is sunny."}"#), None),
//! ];
//! let tools = vec![ToolSchema::named("weather_for_meteo"), ToolSchema::named("Finish")];
//! let trajectory = Trajectory::new(Some("1".into()), "Weather in Paris?", tools, steps)?;
//! assert_eq!(trajectory.final_answer(), Some("It is sunny."));
//!
//! // Token level: 10 tokens, step 0's action is tokens 3..5, the final answer tokens 7..10.
//! let episode = Episode::new(vec![1; 10], vec![ActionSpan::new(3, 5), ActionSpan::new(7, 10)], vec![0.6, 1.0])?;
//! assert_eq!(episode.action_mask().iter().filter(|&&m| m).count(), 5);
//! # Ok(()) }
//! ```

pub mod atomic;
pub mod chat;
mod encoder;
mod episode;
mod error;
pub mod formats;
pub mod names;
pub mod pylit;
mod react;
mod sample;
mod status;
mod trace;
mod trajectory;

pub use chat::{ChatFormat, HfChatTemplate, Message, Role};
pub use encoder::{EncodeMode, Encoded, Encoder, EncoderConfig};
pub use episode::{validate_spans, ActionSpan, Episode};
pub use error::{Error, Location, Result};
pub use react::{parse_react, parse_react_strict, parse_tool_calls_message, ParsedTurn};
pub use sample::StepSample;
pub use status::AnswerStatus;
pub use trace::TokenTrace;
pub use trajectory::{
    Action, Finish, ReturnType, Step, ToolCall, ToolSchema, Trajectory, FINISH_TOOL,
};
