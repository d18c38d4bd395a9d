//! GPT step-reward annotation files (formats.md §2.4):
//! `data/reward_annotation/<model>/<set>[_<task_num>].json`, written by
//! `src/reward/annotation_with_gpt.py` with `json.dump(indent=4, ensure_ascii=False)`.
//!
//! ```text
//! { "<query_id>": { "query", "tool_names": [...], "answer_steps": ["Step 1: {...}", ...],
//!     "process_reward": { "0": {"succeed_tool_calling": [0, 1], "contributions": [1, 2]}, "1": …},
//!     "final_step": "Final step: {'name': 'Finish', …}",
//!     "is_solved": { "0": "AnswerStatus.Solved" | "AnswerStatus.Unsure" | "AnswerStatus.Unsolved", … } } }
//! ```
//!
//! This module only reads and writes; turning the rounds into step rewards is
//! `steptool-reward`'s job. Round keys stay strings in file order (completion order, e.g.
//! `"1", "0", "2"`); numbers keep their JSON spelling (`0` stays an int, `0.5` a float) so
//! [`write_annotations`] reproduces a file byte for byte. The judge's arrays are not checked
//! against the number of steps here (the reference never checks them either, §2.3); see
//! [`AnnotationEntry::check_lengths`].

use std::path::Path;

use serde::{Deserialize, Serialize};
use serde_json::Number;

use crate::error::{Error, Location, Result};
use crate::status::AnswerStatus;

/// One query's annotation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AnnotationEntry {
    /// The user query.
    pub query: String,
    /// Function names offered to the model, `Finish` included.
    pub tool_names: Vec<String>,
    /// `mid_steps`: `"Step k: {repr of the tool message}"` for every tool step but the last.
    pub answer_steps: Vec<String>,
    /// Judge round (string key) -> per-step scores.
    #[serde(with = "super::ordered_map")]
    pub process_reward: Vec<(String, ProcessReward)>,
    /// `"Final step: {repr of the last tool message}"`.
    pub final_step: String,
    /// Judge round (string key) -> final answer status.
    #[serde(with = "super::ordered_map")]
    pub is_solved: Vec<(String, ReferenceStatus)>,
}

/// One judge round's per-intermediate-step scores.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProcessReward {
    /// SuccCalling per intermediate step (0/1 as the judge wrote it).
    pub succeed_tool_calling: Vec<Number>,
    /// Contribution to the final answer per intermediate step (0-5 as the judge wrote it).
    pub contributions: Vec<Number>,
}

/// An [`AnswerStatus`] spelled as the reference file spells it: `"AnswerStatus.Solved"`
/// (Python's `str()` of its enum).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ReferenceStatus(pub AnswerStatus);

impl Serialize for ReferenceStatus {
    fn serialize<S: serde::Serializer>(
        &self,
        serializer: S,
    ) -> std::result::Result<S::Ok, S::Error> {
        serializer.serialize_str(self.0.reference_str())
    }
}

impl<'de> Deserialize<'de> for ReferenceStatus {
    fn deserialize<D: serde::Deserializer<'de>>(
        deserializer: D,
    ) -> std::result::Result<Self, D::Error> {
        let s = String::deserialize(deserializer)?;
        s.strip_prefix("AnswerStatus.")
            .and_then(AnswerStatus::parse)
            .map(ReferenceStatus)
            .ok_or_else(|| {
                serde::de::Error::custom(format!(
                    "expected \"AnswerStatus.Solved\", \"AnswerStatus.Unsure\" or \"AnswerStatus.Unsolved\", found {s:?}"
                ))
            })
    }
}

impl ProcessReward {
    /// The scores as `f64` (`(succeed_tool_calling, contributions)`).
    pub fn as_f64(&self) -> (Vec<f64>, Vec<f64>) {
        let f = |v: &[Number]| v.iter().map(|n| n.as_f64().unwrap_or(f64::NAN)).collect();
        (f(&self.succeed_tool_calling), f(&self.contributions))
    }
}

impl AnnotationEntry {
    /// Number of intermediate steps the judge saw (`answer_steps.len()`).
    pub fn num_mid_steps(&self) -> usize {
        self.answer_steps.len()
    }

    /// Check that every round scored every intermediate step and that the two maps name the same
    /// rounds, saying which round and array is off. (The reference does not check this.)
    pub fn check_lengths(&self) -> Result<()> {
        let n = self.num_mid_steps();
        for (round, reward) in &self.process_reward {
            for (name, len) in [
                ("succeed_tool_calling", reward.succeed_tool_calling.len()),
                ("contributions", reward.contributions.len()),
            ] {
                if len != n {
                    return Err(Error::format(
                        Location::default().with_field(format!("process_reward.{round}.{name}")),
                        format!("{len} scores for {n} intermediate steps"),
                    ));
                }
            }
        }
        let mut a: Vec<&str> = self
            .process_reward
            .iter()
            .map(|(k, _)| k.as_str())
            .collect();
        let mut b: Vec<&str> = self.is_solved.iter().map(|(k, _)| k.as_str()).collect();
        a.sort_unstable();
        b.sort_unstable();
        if a != b {
            return Err(Error::format(
                Location::default().with_field("is_solved"),
                format!("rounds {b:?} differ from the process_reward rounds {a:?}"),
            ));
        }
        Ok(())
    }
}

/// Read an annotation file: `(query_id, entry)` in file order.
pub fn read_annotations(path: impl AsRef<Path>) -> Result<Vec<(String, AnnotationEntry)>> {
    super::read_keyed(path.as_ref())
}

/// Write an annotation file as the reference does (`json.dump(indent=4, ensure_ascii=False)`).
pub fn write_annotations(
    path: impl AsRef<Path>,
    entries: &[(String, AnnotationEntry)],
) -> Result<()> {
    super::write_keyed(path.as_ref(), entries, 4, false)
}
