//! `steptool eval`: pass rate, recall of relevant tools and pass@k of rollout records.
//!
//! ```text
//! steptool eval --trajectories t.jsonl [--judge rules|llm] [--k 1,2,4,8] [--rounds R] [--json]
//! ```
//!
//! `rules` judges exactly against the ground-truth answer the records carry (synthetic tasks);
//! `llm` asks an OpenAI-compatible model with ToolEval's prompts (the reference's pass-rate
//! protocol: `check_answer_status`, then `parse_answer_status` when unsure).

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use steptool::env::metrics::{
    evaluate, AnswerJudge, EvalOptions, ExactJudge, LlmJudgeConfig, ToolEvalJudge,
    ToolEvalTemplates,
};
use steptool::env::rollout::read_records;

/// ToolEval's default evaluator prompt and function schemas (StableToolBench
/// `tooleval_gpt-3.5-turbo_default`).
const TOOLEVAL_TEMPLATE: &str =
    include_str!("../../fixtures/reference/tooleval_default_template.txt");
const TOOLEVAL_CONFIG: &str = include_str!("../../fixtures/reference/tooleval_default_config.yaml");

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum JudgeKind {
    /// Exact comparison with the ground-truth answer (synthetic tasks).
    Rules,
    /// ToolEval's LLM judge over an OpenAI-compatible endpoint.
    Llm,
}

/// Arguments of `steptool eval`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Rollout records (JSONL, as written by `steptool rollout`).
    #[arg(long)]
    trajectories: PathBuf,
    /// How answers are judged.
    #[arg(long, value_enum, default_value = "rules")]
    judge: JudgeKind,
    /// The k of pass@k (comma-separated; each at most the samples per task).
    #[arg(long, value_delimiter = ',', default_values_t = [1usize])]
    k: Vec<usize>,
    /// Judging rounds per answer [default: 1 for rules, 3 for llm].
    #[arg(long)]
    rounds: Option<usize>,
    /// LLM judge: OpenAI-compatible base URL.
    #[arg(long)]
    endpoint: Option<String>,
    /// LLM judge: model name.
    #[arg(long, default_value = "gpt-4-turbo-2024-04-09")]
    model: String,
    /// LLM judge: environment variable holding the API key.
    #[arg(long)]
    api_key_env: Option<String>,
    /// Print the report as JSON instead of a Markdown table.
    #[arg(long)]
    json: bool,
}

/// Run `steptool eval`.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let records = read_records(&args.trajectories)?;
    let judge: Box<dyn AnswerJudge> = match args.judge {
        JudgeKind::Rules => Box::new(ExactJudge),
        JudgeKind::Llm => {
            let endpoint = args
                .endpoint
                .clone()
                .context("--judge llm needs --endpoint URL")?;
            let mut config = LlmJudgeConfig::new(endpoint, args.model.clone());
            if let Some(var) = &args.api_key_env {
                config.api_key = Some(
                    std::env::var(var)
                        .with_context(|| format!("reading the API key from ${var}"))?,
                );
            }
            Box::new(ToolEvalJudge::new(
                ToolEvalTemplates::parse(TOOLEVAL_TEMPLATE, TOOLEVAL_CONFIG)?,
                config,
            )?)
        }
    };
    let rounds = args.rounds.unwrap_or(match args.judge {
        JudgeKind::Rules => 1,
        JudgeKind::Llm => 3,
    });
    let options = EvalOptions {
        rounds,
        ks: args.k.clone(),
        ..EvalOptions::default()
    };
    let report = evaluate(&records, judge.as_ref(), &options)?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", report.to_markdown());
    }
    Ok(ExitCode::SUCCESS)
}
