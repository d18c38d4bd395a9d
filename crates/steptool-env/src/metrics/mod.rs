//! The paper's metrics (formats.md §6): pass rate with the ToolEval protocol, recall of
//! relevant tools, unbiased pass@k, and win rate.

mod pass_at_k;
mod pass_rate;
mod recall;
mod report;
mod tooleval;
mod win_rate;

pub use pass_at_k::{pass_at_k, pass_at_k_mean};
pub use pass_rate::{
    judge_round, pass_rate, AnswerJudge, ExactJudge, JudgeInput, PassRate, QueryRuns,
    ANSWER_STATUS_VALUES,
};
pub use recall::{recall, RecallConfig, RecallInput, RecallReport, UnfinishedPolicy};
pub use report::{compare, evaluate, judge_record, EvalOptions, EvalReport};
pub use tooleval::{LlmJudgeConfig, ToolEvalJudge, ToolEvalPreference, ToolEvalTemplates};
pub use win_rate::{
    win_rate, Preference, PreferenceJudge, QueryComparison, RulesOnly, WinRate, WinRateOutcome,
};

use serde::{Deserialize, Serialize};

/// ToolEval's answer status (`AnswerStatus`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum AnswerStatus {
    /// Solved: counts 1.
    Solved,
    /// Unsure: counts 0.5.
    Unsure,
    /// Unsolved: counts 0.
    Unsolved,
}

impl AnswerStatus {
    /// ToolEval's score `v(status)`: 1, 0.5, 0.
    pub fn value(self) -> f64 {
        match self {
            AnswerStatus::Solved => 1.0,
            AnswerStatus::Unsure => 0.5,
            AnswerStatus::Unsolved => 0.0,
        }
    }

    /// The string the reference writes (`AnswerStatus.Solved`).
    pub fn reference_name(self) -> &'static str {
        match self {
            AnswerStatus::Solved => "AnswerStatus.Solved",
            AnswerStatus::Unsure => "AnswerStatus.Unsure",
            AnswerStatus::Unsolved => "AnswerStatus.Unsolved",
        }
    }
}
