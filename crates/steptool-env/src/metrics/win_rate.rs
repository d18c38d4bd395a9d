//! Win rate with ToolEval's preference protocol (`eval_preference.py`, formats.md §6.3).
//!
//! For each round i and query: if both sides have a round-i status, the higher `v(status)` gets
//! +1; a query missing on one side gives the other side +1; on a tie the [`PreferenceJudge`]
//! decides (ToolEval asks an LLM `select_better_answer`; [`RulesOnly`] gives nobody the point).
//! After all rounds: candidate count > reference count → win, < → lose, = → tie.
//! `win_rate = #win / #queries` (ties are not split).

use serde::{Deserialize, Serialize};

use super::AnswerStatus;
use crate::error::{Error, Result};

/// Who a tie-break prefers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Preference {
    /// The reference model's answer.
    Reference,
    /// The candidate's answer.
    Candidate,
    /// Neither.
    Tie,
}

/// Breaks a tie between two answers to a query (the LLM step of ToolEval).
pub trait PreferenceJudge: Sync {
    /// The preferred answer for `query_id` in round `round`.
    fn prefer(&self, query_id: &str, round: usize) -> Result<Preference>;
}

/// No tie-breaker: ties stay ties.
#[derive(Debug, Clone, Copy, Default)]
pub struct RulesOnly;

impl PreferenceJudge for RulesOnly {
    fn prefer(&self, _query_id: &str, _round: usize) -> Result<Preference> {
        Ok(Preference::Tie)
    }
}

/// Both sides' statuses of one query; `None` when that side has no answer for the query.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QueryComparison {
    /// The query id.
    pub query_id: String,
    /// The reference model's statuses per round.
    pub reference: Option<Vec<AnswerStatus>>,
    /// The candidate's statuses per round.
    pub candidate: Option<Vec<AnswerStatus>>,
}

/// The per-query outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WinRateOutcome {
    /// Candidate won more rounds.
    Win,
    /// Reference won more rounds.
    Lose,
    /// Equal.
    Tie,
}

/// Win rate of a candidate against a reference.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WinRate {
    /// `#win / #queries`.
    pub win_rate: f64,
    /// Per query: (id, reference points, candidate points, outcome).
    pub per_query: Vec<(String, usize, usize, WinRateOutcome)>,
}

/// Win rate over `rounds` evaluation rounds.
pub fn win_rate(
    comparisons: &[QueryComparison],
    rounds: usize,
    tie_breaker: &dyn PreferenceJudge,
) -> Result<WinRate> {
    if comparisons.is_empty() || rounds == 0 {
        return Err(Error::data(
            "win rate",
            "need at least one query and one round",
        ));
    }
    let mut per_query = Vec::new();
    let mut wins = 0usize;
    for q in comparisons {
        for side in [&q.reference, &q.candidate].into_iter().flatten() {
            if side.len() < rounds {
                return Err(Error::data(
                    format!("win rate, query {}", q.query_id),
                    format!("{} statuses for {rounds} rounds", side.len()),
                ));
            }
        }
        let (mut r_pts, mut c_pts) = (0usize, 0usize);
        for round in 0..rounds {
            let pref = match (&q.reference, &q.candidate) {
                (Some(r), Some(c)) => {
                    let (rv, cv) = (r[round].value(), c[round].value());
                    if cv > rv {
                        Preference::Candidate
                    } else if rv > cv {
                        Preference::Reference
                    } else {
                        tie_breaker.prefer(&q.query_id, round)?
                    }
                }
                (None, Some(_)) => Preference::Candidate,
                (Some(_), None) => Preference::Reference,
                (None, None) => {
                    return Err(Error::data(
                        format!("win rate, query {}", q.query_id),
                        "neither side has an answer",
                    ))
                }
            };
            match pref {
                Preference::Candidate => c_pts += 1,
                Preference::Reference => r_pts += 1,
                Preference::Tie => {}
            }
        }
        let outcome = match c_pts.cmp(&r_pts) {
            std::cmp::Ordering::Greater => WinRateOutcome::Win,
            std::cmp::Ordering::Less => WinRateOutcome::Lose,
            std::cmp::Ordering::Equal => WinRateOutcome::Tie,
        };
        if outcome == WinRateOutcome::Win {
            wins += 1;
        }
        per_query.push((q.query_id.clone(), r_pts, c_pts, outcome));
    }
    Ok(WinRate {
        win_rate: wins as f64 / comparisons.len() as f64,
        per_query,
    })
}
