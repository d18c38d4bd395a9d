//! Pass rate with the ToolEval protocol (`eval_pass_rate.py`, formats.md §6.2).
//!
//! Per query and evaluation round r:
//! 1. no `Finish` call in the answer → Unsolved (no judge call);
//! 2. the `Finish` arguments are empty or contain `give_up_and_restart` → Unsolved;
//! 3. otherwise the [`AnswerJudge`] decides Solved / Unsure / Unsolved (ToolEval's LLM calls
//!    `check_answer_status` then, on Unsure, `parse_answer_status`; synthetic tasks are judged
//!    exactly by [`ExactJudge`]).
//!
//! Round score `s_r = Σ_q v(status_{q,r}) / N` with `v(Solved)=1, v(Unsure)=0.5,
//! v(Unsolved)=0`; pass rate = mean over rounds, std = population std over rounds.

use serde::{Deserialize, Serialize};

use super::AnswerStatus;
use crate::env::reference_finish;
use crate::error::{Error, Result};
use crate::synthetic::exact_judge;

/// The three statuses with their ToolEval values, for reports.
pub const ANSWER_STATUS_VALUES: [(AnswerStatus, f64); 3] = [
    (AnswerStatus::Solved, 1.0),
    (AnswerStatus::Unsure, 0.5),
    (AnswerStatus::Unsolved, 0.0),
];

/// What a judge sees of one answer.
#[derive(Debug, Clone, Copy)]
pub struct JudgeInput<'a> {
    /// The query id.
    pub query_id: &'a str,
    /// The query.
    pub query: &'a str,
    /// The raw `Finish` arguments string (ToolEval's `final_answer`), `None` without a `Finish`.
    pub finish_arguments: Option<&'a str>,
    /// The ground-truth answer, for tasks that have one.
    pub reference_answer: Option<&'a str>,
    /// The converted answer's `answer` object (method, total_steps, final_answer,
    /// answer_details), which ToolEval's `parse_answer_status` reads; `None` when unavailable.
    pub converted_answer: Option<&'a serde_json::Value>,
}

/// Decides the status of a finished answer (step 3 of the protocol).
pub trait AnswerJudge: Sync {
    /// The status of `input` in evaluation round `round`.
    fn judge(&self, input: &JudgeInput<'_>, round: usize) -> Result<AnswerStatus>;
}

/// Exact judging against the ground truth ([`exact_judge`] on the parsed final answer).
#[derive(Debug, Clone, Copy, Default)]
pub struct ExactJudge;

impl AnswerJudge for ExactJudge {
    fn judge(&self, input: &JudgeInput<'_>, _round: usize) -> Result<AnswerStatus> {
        let reference = input.reference_answer.ok_or_else(|| {
            Error::data(
                format!("query {}", input.query_id),
                "exact judging needs a reference answer",
            )
        })?;
        let raw = input.finish_arguments.unwrap_or("");
        let answer = reference_finish(raw)
            .final_answer
            .unwrap_or_else(|| raw.to_owned());
        Ok(exact_judge(reference, &answer))
    }
}

/// One evaluation round for one answer: steps 1-3 of the protocol.
pub fn judge_round(
    input: &JudgeInput<'_>,
    judge: &dyn AnswerJudge,
    round: usize,
) -> Result<AnswerStatus> {
    match input.finish_arguments {
        None => Ok(AnswerStatus::Unsolved),
        Some(raw) if raw.is_empty() || raw.contains("give_up_and_restart") => {
            Ok(AnswerStatus::Unsolved)
        }
        Some(_) => judge.judge(input, round),
    }
}

/// The statuses of one query over K rounds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QueryRuns {
    /// The query id.
    pub query_id: String,
    /// One status per round.
    pub statuses: Vec<AnswerStatus>,
}

/// Pass rate over K rounds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PassRate {
    /// Mean of the round scores, in [0, 1] (the reference prints ×100).
    pub mean: f64,
    /// Population standard deviation of the round scores.
    pub std: f64,
    /// The round scores `s_r`.
    pub per_round: Vec<f64>,
    /// Number of queries N.
    pub queries: usize,
}

/// Pass rate of queries that were all judged the same number of rounds.
pub fn pass_rate(runs: &[QueryRuns]) -> Result<PassRate> {
    let first = runs
        .first()
        .ok_or_else(|| Error::data("pass rate", "no queries"))?;
    let k = first.statuses.len();
    if k == 0 {
        return Err(Error::data(
            format!("pass rate, query {}", first.query_id),
            "no evaluation rounds",
        ));
    }
    if let Some(bad) = runs.iter().find(|r| r.statuses.len() != k) {
        return Err(Error::data(
            format!("pass rate, query {}", bad.query_id),
            format!(
                "{} rounds, but query {} has {k}",
                bad.statuses.len(),
                first.query_id
            ),
        ));
    }
    let n = runs.len() as f64;
    let per_round: Vec<f64> = (0..k)
        .map(|r| runs.iter().map(|q| q.statuses[r].value()).sum::<f64>() / n)
        .collect();
    let mean = per_round.iter().sum::<f64>() / k as f64;
    let std = (per_round.iter().map(|s| (s - mean).powi(2)).sum::<f64>() / k as f64).sqrt();
    Ok(PassRate {
        mean,
        std,
        per_round,
        queries: runs.len(),
    })
}
