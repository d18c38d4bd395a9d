//! One call from rollout records to the paper's numbers, as JSON (serde) or Markdown.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{
    judge_round, pass_at_k_mean, pass_rate, recall, win_rate, AnswerJudge, AnswerStatus,
    JudgeInput, PassRate, PreferenceJudge, QueryComparison, QueryRuns, RecallConfig, RecallInput,
    WinRate,
};
use crate::error::{Error, Result};
use crate::rollout::RolloutRecord;

/// What [`evaluate`] computes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EvalOptions {
    /// Judging rounds per answer (ToolEval's `--evaluate_times`). Default 1 (3 with an LLM judge).
    pub rounds: usize,
    /// The k of pass@k; each must not exceed the samples per query. Default `[1]`.
    pub ks: Vec<usize>,
    /// Recall settings.
    pub recall: RecallConfig,
}

impl Default for EvalOptions {
    fn default() -> Self {
        Self {
            rounds: 1,
            ks: vec![1],
            recall: RecallConfig::default(),
        }
    }
}

/// The evaluation of a set of rollouts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EvalReport {
    /// Queries evaluated.
    pub queries: usize,
    /// Samples per query.
    pub samples: usize,
    /// Pass rate of each query's sample 0 over the judging rounds (ToolEval).
    pub pass_rate: PassRate,
    /// Mean recall of relevant tools over sample 0 of each query.
    pub recall: f64,
    /// Queries left out of recall, with the reason.
    pub recall_excluded: Vec<(String, String)>,
    /// `k -> pass@k` (a sample counts as correct when its round-0 status is Solved).
    pub pass_at_k: BTreeMap<usize, f64>,
}

impl EvalReport {
    /// A Markdown table of the numbers (rates ×100, as the paper reports them).
    pub fn to_markdown(&self) -> String {
        let mut s = String::from("| metric | value |\n|---|---|\n");
        s.push_str(&format!(
            "| pass rate | {:.1} ± {:.1} |\n",
            100.0 * self.pass_rate.mean,
            100.0 * self.pass_rate.std
        ));
        s.push_str(&format!("| recall | {:.1} |\n", 100.0 * self.recall));
        for (k, v) in &self.pass_at_k {
            s.push_str(&format!("| pass@{k} | {:.1} |\n", 100.0 * v));
        }
        s.push_str(&format!(
            "| queries × samples | {} × {} |\n",
            self.queries, self.samples
        ));
        s
    }
}

/// Evaluate records (any number of samples per query, the same for every query).
pub fn evaluate(
    records: &[RolloutRecord],
    judge: &dyn AnswerJudge,
    options: &EvalOptions,
) -> Result<EvalReport> {
    if options.rounds == 0 {
        return Err(Error::config("rounds", "must be at least 1"));
    }
    let mut by_query: BTreeMap<&str, Vec<&RolloutRecord>> = BTreeMap::new();
    for r in records {
        by_query.entry(&r.query_id).or_default().push(r);
    }
    let samples = by_query
        .values()
        .map(Vec::len)
        .next()
        .ok_or_else(|| Error::data("evaluate", "no records"))?;
    if let Some((q, v)) = by_query.iter().find(|(_, v)| v.len() != samples) {
        return Err(Error::data(
            format!("evaluate, query {q}"),
            format!("{} samples, others have {samples}", v.len()),
        ));
    }
    let mut runs = Vec::new();
    let mut recall_inputs = Vec::new();
    let mut counts = Vec::new();
    for (q, mut recs) in by_query {
        recs.sort_by_key(|r| r.sample);
        let mut correct = 0;
        for (k, r) in recs.iter().enumerate() {
            let converted = crate::rollout::converted_entry(r);
            let input = JudgeInput {
                converted_answer: converted.get("answer"),
                query_id: q,
                query: &r.context.query,
                finish_arguments: r.answered().then_some(r.final_answer.as_str()),
                reference_answer: r.context.reference_answer.as_deref(),
            };
            let rounds = if k == 0 { options.rounds } else { 1 };
            let statuses = (0..rounds)
                .map(|i| judge_round(&input, judge, i))
                .collect::<Result<Vec<_>>>()?;
            if statuses[0] == AnswerStatus::Solved {
                correct += 1;
            }
            if k == 0 {
                runs.push(QueryRuns {
                    query_id: q.to_owned(),
                    statuses,
                });
                recall_inputs.push(RecallInput {
                    query_id: q.to_owned(),
                    relevant: r.context.relevant_functions.clone(),
                    available: r.context.function_names(),
                    called: r.called_functions(),
                    finished: r.answered(),
                });
            }
        }
        counts.push((samples, correct));
    }
    let mut pass_at_k = BTreeMap::new();
    for &k in &options.ks {
        pass_at_k.insert(k, pass_at_k_mean(&counts, k)?);
    }
    let rec = recall(&recall_inputs, &options.recall)?;
    Ok(EvalReport {
        queries: runs.len(),
        samples,
        pass_rate: pass_rate(&runs)?,
        recall: rec.mean,
        recall_excluded: rec.excluded,
        pass_at_k,
    })
}

/// The statuses of one record over `rounds` judging rounds (the ToolEval protocol).
pub fn judge_record(
    record: &RolloutRecord,
    judge: &dyn AnswerJudge,
    rounds: usize,
) -> Result<Vec<AnswerStatus>> {
    let converted = crate::rollout::converted_entry(record);
    let input = JudgeInput {
        query_id: &record.query_id,
        query: &record.context.query,
        finish_arguments: record.answered().then_some(record.final_answer.as_str()),
        reference_answer: record.context.reference_answer.as_deref(),
        converted_answer: converted.get("answer"),
    };
    (0..rounds).map(|i| judge_round(&input, judge, i)).collect()
}

/// Win rate of `candidate` records against `reference` records (sample 0 of each query), both
/// judged by `judge` for `rounds` rounds, over the union of their query ids (a query missing on
/// one side gives the other side every round, as ToolEval).
pub fn compare(
    reference: &[RolloutRecord],
    candidate: &[RolloutRecord],
    judge: &dyn AnswerJudge,
    rounds: usize,
    tie_breaker: &dyn PreferenceJudge,
) -> Result<WinRate> {
    let statuses = |records: &[RolloutRecord]| -> Result<BTreeMap<String, Vec<AnswerStatus>>> {
        records
            .iter()
            .filter(|r| r.sample == 0)
            .map(|r| Ok((r.query_id.clone(), judge_record(r, judge, rounds)?)))
            .collect()
    };
    let mut r = statuses(reference)?;
    let mut c = statuses(candidate)?;
    let ids: std::collections::BTreeSet<String> = r.keys().chain(c.keys()).cloned().collect();
    let comparisons: Vec<QueryComparison> = ids
        .into_iter()
        .map(|id| QueryComparison {
            reference: r.remove(&id),
            candidate: c.remove(&id),
            query_id: id,
        })
        .collect();
    win_rate(&comparisons, rounds, tie_breaker)
}
