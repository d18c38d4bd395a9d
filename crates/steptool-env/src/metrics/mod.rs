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

/// ToolEval's answer status (`AnswerStatus`), shared with the reward annotators.
pub use steptool_mdp::AnswerStatus;
