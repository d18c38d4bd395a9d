//! SFT conversation files (formats.md §3.5): `data_train/<model>/gpt4_dfs_G123_for_sft_example.json`.
//!
//! ```text
//! { "<qid>": { "cnt": int, "instances": [ { "id": "Step N: <query>",
//!     "conversations": [ {"from": "system"|"user"|"assistant"|"function", "value": str}, … ] } ] } }
//! ```
//!
//! One instance per assistant turn of a GPT-4 DFS trajectory; only the **last** assistant message
//! of an instance is a training target ([`SftInstance::target`]). Rendering the conversations in
//! a chat format is the job of [`crate::chat`]. [`write_sft`] writes the file as the fixture is
//! laid out (`json.dump(indent=4, ensure_ascii=False)`), byte for byte.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::Result;

/// One query's SFT entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SftEntry {
    /// Number of instances as the reference counted them.
    pub cnt: u64,
    /// One instance per assistant turn.
    pub instances: Vec<SftInstance>,
}

/// One training instance: a conversation prefix ending with the target assistant turn.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SftInstance {
    /// `"Step N: <query>"`, N = number of messages after the system prompt.
    pub id: String,
    /// The messages.
    pub conversations: Vec<SftTurn>,
}

/// Speaker of an [`SftTurn`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SftRole {
    /// The full AutoGPT system prompt with the function JSON (§3.1).
    System,
    /// `\nQ\nBegin!\n`.
    User,
    /// `\nThought: …\nAction: …\nAction Input: …`.
    Assistant,
    /// A tool observation.
    Function,
}

/// One message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SftTurn {
    /// Speaker.
    pub from: SftRole,
    /// Text.
    pub value: String,
}

impl SftInstance {
    /// The training target: the last assistant message, if any.
    pub fn target(&self) -> Option<&SftTurn> {
        self.conversations
            .iter()
            .rev()
            .find(|t| t.from == SftRole::Assistant)
    }

    /// `N` and the query from `id` (`"Step N: <query>"`), when it has that shape.
    pub fn step_and_query(&self) -> Option<(usize, &str)> {
        let rest = self.id.strip_prefix("Step ")?;
        let (n, query) = rest.split_once(": ")?;
        Some((n.parse().ok()?, query))
    }
}

/// Read an SFT file: `(query_id, entry)` in file order.
pub fn read_sft(path: impl AsRef<Path>) -> Result<Vec<(String, SftEntry)>> {
    super::read_keyed(path.as_ref())
}

/// Write an SFT file (`json.dump(indent=4, ensure_ascii=False)`).
pub fn write_sft(path: impl AsRef<Path>, entries: &[(String, SftEntry)]) -> Result<()> {
    super::write_keyed(path.as_ref(), entries, 4, false)
}
