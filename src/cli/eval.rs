//! `steptool eval`: pass rate, recall of relevant tools and pass@k of rollout records; pass
//! rate, recall, mean length and error types of ToolEval files.
//!
//! ```text
//! steptool eval --trajectories t.jsonl [--judge rules|llm] [--k 1,2,4,8] [--rounds R] [--json]
//! steptool eval --results <subset>.json [--queries <subset>.json] [--evaluate-times K] [--json]
//! steptool eval --converted <subset>.json --judge llm --endpoint URL [--queries <subset>.json]
//!     [--rounds 3] [--save-results results/<method>/<subset>.json] [--json]
//! ```
//!
//! `rules` judges exactly against the ground-truth answer the records carry (synthetic tasks);
//! `llm` asks an OpenAI-compatible model with ToolEval's prompts (the reference's pass-rate
//! protocol: `check_answer_status`, then `parse_answer_status` when unsure).
//!
//! `--results` reads a StableToolBench pass-rate result file (`eval_pass_rate.py` output): the
//! judge labels are in the file, no LLM is called. `--converted` judges ToolEval converted
//! answers (`convert_answers.py` output) as `eval_pass_rate.py` does and, with
//! `--save-results`, writes the result file `steptool report` reads. `--queries` is the
//! subset's StableToolBench test query file (`relevant APIs`, for recall and tool-selection
//! errors). See `docs/eval.md`.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use steptool::env::metrics::{
    evaluate, judge_converted, read_pass_rate_file, subset_only_report, write_pass_rate_file,
    AnswerJudge, EvalOptions, ExactJudge, LlmJudgeConfig, QueryFile, ReportSpec, ToolEvalJudge,
    ToolEvalTemplates,
};
use steptool::env::rollout::read_records;
use steptool::mdp::formats::converted::read_converted;
use steptool::reward::ApiKey;

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
    trajectories: Option<PathBuf>,
    /// A StableToolBench pass-rate result file `<subset>.json` (labels in the file, no judge).
    #[arg(long)]
    results: Option<PathBuf>,
    /// ToolEval converted answers `<subset>.json`, judged with `--judge llm`.
    #[arg(long)]
    converted: Option<PathBuf>,
    /// The subset's StableToolBench test query file (`relevant APIs`), for --results/--converted.
    #[arg(long)]
    queries: Option<PathBuf>,
    /// --converted: write the judged labels as a pass-rate result file (`eval_pass_rate.py`'s
    /// format, what `steptool report` reads).
    #[arg(long)]
    save_results: Option<PathBuf>,
    /// --results: judge runs per query [default: as many as the file has].
    #[arg(long)]
    evaluate_times: Option<usize>,
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
    let inputs = [&args.trajectories, &args.results, &args.converted];
    if inputs.iter().filter(|i| i.is_some()).count() != 1 {
        anyhow::bail!("give exactly one of --trajectories, --results, --converted");
    }
    if args.trajectories.is_some() && (args.queries.is_some() || args.save_results.is_some()) {
        anyhow::bail!("--queries and --save-results go with --results or --converted");
    }
    if let Some(path) = &args.results {
        let results = read_pass_rate_file(path)?;
        return print_subset(&args, results);
    }
    if let Some(path) = &args.converted {
        if matches!(args.judge, JudgeKind::Rules) {
            anyhow::bail!(
                "--converted needs --judge llm (ToolEval's judge): converted answers carry no ground truth for --judge rules"
            );
        }
        let entries = read_converted(path)?;
        let judge = make_judge(&args)?;
        let results = judge_converted(path, &entries, judge.as_ref(), args.rounds.unwrap_or(3))?;
        if let Some(out) = &args.save_results {
            write_pass_rate_file(out, &results)?;
            eprintln!("wrote {}", out.display());
        }
        return print_subset(&args, results);
    }
    let Some(trajectories) = &args.trajectories else {
        anyhow::bail!("give exactly one of --trajectories, --results, --converted");
    };
    let records = read_records(trajectories)?;
    let judge = make_judge(&args)?;
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

/// The judge `--judge` asks for.
fn make_judge(args: &Args) -> anyhow::Result<Box<dyn AnswerJudge>> {
    Ok(match args.judge {
        JudgeKind::Rules => Box::new(ExactJudge),
        JudgeKind::Llm => {
            let endpoint = args
                .endpoint
                .clone()
                .context("--judge llm needs --endpoint URL")?;
            let mut config = LlmJudgeConfig::new(endpoint, args.model.clone());
            config.api_key = args
                .api_key_env
                .as_deref()
                .map(ApiKey::from_env)
                .transpose()?;
            Box::new(ToolEvalJudge::new(
                ToolEvalTemplates::parse(TOOLEVAL_TEMPLATE, TOOLEVAL_CONFIG)?,
                config,
            )?)
        }
    })
}

/// Print the numbers of one pass-rate result file (warnings to stderr).
fn print_subset(
    args: &Args,
    results: steptool::env::metrics::SubsetResults,
) -> anyhow::Result<ExitCode> {
    let queries = args.queries.as_ref().map(QueryFile::read).transpose()?;
    let spec = ReportSpec {
        evaluate_times: args.evaluate_times,
        ..ReportSpec::default()
    };
    let report = subset_only_report(results, queries, &spec)?;
    for w in &report.warnings {
        eprintln!("warning: {w}");
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{report}");
    }
    Ok(ExitCode::SUCCESS)
}
