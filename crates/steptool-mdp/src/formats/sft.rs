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

use crate::error::{Error, Location, Result};

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
    /// A tool observation (`"tool"` in some of the reference's RFT files).
    #[serde(alias = "tool")]
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

/// One conversation of an SFT file, trained in one pass: the longest instance of a group, the
/// instances that are prefixes of it folded in, and the assistant turns the reference trains
/// (the last turn of each folded instance).
#[derive(Debug, Clone, PartialEq)]
pub struct SftConversation {
    /// The query id (the file's key).
    pub query_id: String,
    /// Index of the instance whose turns these are.
    pub instance: usize,
    /// Its turns.
    pub turns: Vec<SftTurn>,
    /// Indices into `turns` of the trained assistant turns, ascending.
    pub targets: Vec<usize>,
}

/// What [`conversations`] folded.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FoldCounts {
    /// Instances read.
    pub instances: usize,
    /// Conversations made (instances that are no other instance's prefix).
    pub conversations: usize,
    /// Instances identical to an earlier one (trained once, as the target is the same).
    pub duplicates: usize,
}

/// The conversations of an SFT file's entries, each trained in one pass.
///
/// The reference trains every instance's last assistant turn on the instance as its context
/// (formats.md §3.5), so a trajectory of N turns is N forward passes over growing prefixes. A
/// causal model gives the same per-token loss for a turn whether or not later turns follow it,
/// so each instance that is a prefix of a longer one of the same query is folded into the
/// longest (the first of the longest, when several contain it), and its last turn is marked
/// trained there: the same targets on the same contexts, one pass per conversation. An instance
/// that is no other's prefix (another branch of the DFS, a sample whose shorter prefixes the
/// file lacks) is its own conversation with only the targets the file gives it.
///
/// Errors name the file, the query id and the instance: an instance without turns, one that
/// does not end with an assistant turn (the reference's target), one that does not start with
/// the system prompt.
pub fn conversations(
    entries: &[(String, SftEntry)],
    file: Option<&Path>,
) -> Result<(Vec<SftConversation>, FoldCounts)> {
    let mut out = Vec::new();
    let mut counts = FoldCounts::default();
    for (qid, entry) in entries {
        let at = |i: usize| Location {
            file: file.map(Path::to_path_buf),
            field: Some(format!("{qid}.instances[{i}]")),
            ..Location::default()
        };
        for (i, inst) in entry.instances.iter().enumerate() {
            let turns = &inst.conversations;
            match (turns.first(), turns.last()) {
                (None, _) => return Err(Error::format(at(i), "has no turns")),
                (Some(first), _) if first.from != SftRole::System => {
                    return Err(Error::format(
                        at(i),
                        format!("starts with a {:?} turn, not the system prompt", first.from),
                    ))
                }
                (_, Some(last)) if last.from != SftRole::Assistant => {
                    return Err(Error::format(
                        at(i),
                        format!(
                            "ends with a {:?} turn; the reference trains an instance's last turn, which must be the assistant's",
                            last.from
                        ),
                    ))
                }
                _ => {}
            }
        }
        let inst = &entry.instances;
        counts.instances += inst.len();
        // The instance each one is folded into: the first of the longest that start with it.
        let home: Vec<usize> = (0..inst.len())
            .map(|i| {
                let mine = &inst[i].conversations;
                (0..inst.len())
                    .filter(|&j| inst[j].conversations.starts_with(mine))
                    .fold(i, |best, j| {
                        if inst[j].conversations.len() > inst[best].conversations.len() {
                            j
                        } else {
                            best
                        }
                    })
            })
            .collect();
        // An instance equal to an earlier one adds nothing.
        let first_equal: Vec<usize> = (0..inst.len())
            .map(|i| {
                (0..i)
                    .find(|&j| inst[j].conversations == inst[i].conversations)
                    .unwrap_or(i)
            })
            .collect();
        for j in 0..inst.len() {
            if home[j] != j || first_equal[j] != j {
                continue;
            }
            let mut targets: Vec<usize> = (0..inst.len())
                .filter(|&i| first_equal[i] == i && home[i] == j)
                .map(|i| inst[i].conversations.len() - 1)
                .collect();
            targets.sort_unstable();
            targets.dedup();
            out.push(SftConversation {
                query_id: qid.clone(),
                instance: j,
                turns: inst[j].conversations.clone(),
                targets,
            });
        }
        counts.duplicates += (0..inst.len()).filter(|&i| first_equal[i] != i).count();
    }
    counts.conversations = out.len();
    Ok((out, counts))
}

/// Read an SFT file: `(query_id, entry)` in file order.
pub fn read_sft(path: impl AsRef<Path>) -> Result<Vec<(String, SftEntry)>> {
    super::read_keyed(path.as_ref())
}

/// Write an SFT file (`json.dump(indent=4, ensure_ascii=False)`).
pub fn write_sft(path: impl AsRef<Path>, entries: &[(String, SftEntry)]) -> Result<()> {
    super::write_keyed(path.as_ref(), entries, 4, false)
}
