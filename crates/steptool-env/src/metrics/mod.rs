//! The paper's metrics (formats.md §6): pass rate with the ToolEval protocol, recall of
//! relevant tools, unbiased pass@k, and win rate; the paper's Table 3 from StableToolBench
//! pass-rate result files (`paper_report`, `pass_rate_files`, `report_plot`) and its four
//! error types (`error_types`).

mod error_types;
mod paper_report;
mod pass_at_k;
mod pass_rate;
mod pass_rate_files;
mod recall;
mod report;
mod report_plot;
mod tooleval;
mod win_rate;

pub use error_types::{
    record_errors, required_from_functions, step_error, step_errors, ErrorCount, ErrorInput,
    ErrorSummary, ErrorType, StepView,
};
pub use paper_report::{
    paper_report, read_query_dir, read_results_dir, subset_only_report, Group, GroupReport,
    MethodReport, MethodResults, PaperReport, ReportSpec, SubsetReport, WinRateReport,
};
pub use pass_at_k::{pass_at_k, pass_at_k_mean};
pub use pass_rate::{
    judge_round, pass_rate, AnswerJudge, ExactJudge, JudgeInput, PassRate, QueryRuns,
    ANSWER_STATUS_VALUES,
};
pub use pass_rate_files::{
    judge_converted, parse_answer_steps, read_pass_rate_file, relevant_names, write_pass_rate_file,
    QueryFile, ResultEntry, SubsetResults, Warning,
};
pub use recall::{recall, RecallConfig, RecallInput, RecallReport, UnfinishedPolicy};
pub use report::{compare, evaluate, judge_record, EvalOptions, EvalReport};
pub use report_plot::plot_pass_rates;
pub use tooleval::{LlmJudgeConfig, ToolEvalJudge, ToolEvalPreference, ToolEvalTemplates};
pub use win_rate::{
    win_rate, Preference, PreferenceJudge, QueryComparison, RulesOnly, WinRate, WinRateOutcome,
};

/// ToolEval's answer status (`AnswerStatus`), shared with the reward annotators.
pub use steptool_mdp::AnswerStatus;
