//! Recall of relevant tools (formats.md §6.4).
//!
//! The reference reports "Recall" but has no code for it. Definition used here: per query,
//! `R` = the set of relevant function names (`change_name(standardize(api)) + "_for_" +
//! standardize(tool)` of the query's `relevant APIs`), `C` = the set of function names the
//! trajectory called (excluding `Finish`); `recall_q = |R ∩ C| / |R|`, averaged over queries.
//! The three unknowns of the reference are configurable ([`RecallConfig`]).

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// What to do with queries whose trajectory has no `give_answer` Finish.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UnfinishedPolicy {
    /// Compute recall from the calls made anyway (default).
    #[default]
    Include,
    /// Count the query as recall 0.
    Zero,
    /// Leave the query out (reported in [`RecallReport::excluded`]).
    Exclude,
}

/// The configurable unknowns of §6.4.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RecallConfig {
    /// Unfinished trajectories. Default [`UnfinishedPolicy::Include`].
    pub unfinished: UnfinishedPolicy,
    /// Keep relevant functions that were not offered (APIs missing from the tools folder) in
    /// `R`. Default true (they cannot be recalled, which lowers recall).
    pub keep_unavailable_relevant: bool,
    /// Count calls of names that were not offered (hallucinated, renamed
    /// `invalid_hallucination_function_name` by the reference). Default false.
    pub count_unavailable_calls: bool,
}

impl Default for RecallConfig {
    fn default() -> Self {
        Self {
            unfinished: UnfinishedPolicy::Include,
            keep_unavailable_relevant: true,
            count_unavailable_calls: false,
        }
    }
}

/// One query's data for recall.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecallInput {
    /// The query id.
    pub query_id: String,
    /// Relevant function names.
    pub relevant: Vec<String>,
    /// Function names offered to the model.
    pub available: Vec<String>,
    /// Function names called, in order, `Finish` excluded.
    pub called: Vec<String>,
    /// Whether the trajectory ended with a `give_answer` Finish.
    pub finished: bool,
}

/// Recall over queries.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecallReport {
    /// Mean recall over the counted queries.
    pub mean: f64,
    /// Per counted query: (id, recall).
    pub per_query: Vec<(String, f64)>,
    /// Queries left out, with the reason.
    pub excluded: Vec<(String, String)>,
}

/// Recall of relevant tools.
pub fn recall(inputs: &[RecallInput], config: &RecallConfig) -> Result<RecallReport> {
    let mut per_query = Vec::new();
    let mut excluded = Vec::new();
    for q in inputs {
        let available: BTreeSet<&str> = q.available.iter().map(String::as_str).collect();
        let relevant: BTreeSet<&str> = q
            .relevant
            .iter()
            .map(String::as_str)
            .filter(|r| config.keep_unavailable_relevant || available.contains(r))
            .collect();
        if relevant.is_empty() {
            excluded.push((q.query_id.clone(), "no relevant function".to_owned()));
            continue;
        }
        if !q.finished {
            match config.unfinished {
                UnfinishedPolicy::Exclude => {
                    excluded.push((q.query_id.clone(), "no final answer".to_owned()));
                    continue;
                }
                UnfinishedPolicy::Zero => {
                    per_query.push((q.query_id.clone(), 0.0));
                    continue;
                }
                UnfinishedPolicy::Include => {}
            }
        }
        let called: BTreeSet<&str> = q
            .called
            .iter()
            .map(String::as_str)
            .filter(|c| config.count_unavailable_calls || available.contains(c))
            .collect();
        let hit = relevant.intersection(&called).count();
        per_query.push((q.query_id.clone(), hit as f64 / relevant.len() as f64));
    }
    if per_query.is_empty() {
        return Err(Error::data(
            "recall",
            format!("no query counted ({} excluded)", excluded.len()),
        ));
    }
    let mean = per_query.iter().map(|(_, r)| r).sum::<f64>() / per_query.len() as f64;
    Ok(RecallReport {
        mean,
        per_query,
        excluded,
    })
}
