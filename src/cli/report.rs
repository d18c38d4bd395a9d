//! `steptool report`: the paper's Table 3 from StableToolBench pass-rate result files.
//!
//! ```text
//! steptool report --results DIR [DIR ...] [--queries DIR] [--groups NAME=SUBSET,SUBSET ...]
//!     [--evaluate-times K] [--win-rate REFERENCE:CANDIDATE ...] [--json] [--plot FILE.png]
//! ```
//!
//! Each `DIR` is one method's folder of `<subset>.json` files (`eval_pass_rate.py` output, as
//! the StepTool repository's `data_eval/pass_rate_results/<method>/`); its name is the method's
//! name. `--queries` is a folder of `solvable_queries/test_instruction/<subset>.json` files
//! (for recall and tool-selection errors). Warnings (missing subsets, missing judge runs, ...)
//! go to stderr and into the report; see `docs/eval.md`.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use steptool::env::metrics::{
    paper_report, plot_pass_rates, read_query_dir, read_results_dir, Group, ReportSpec,
};

/// Arguments of `steptool report`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// One folder of `<subset>.json` pass-rate result files per method (the folder name is
    /// the method's name).
    #[arg(long, num_args = 1.., required = true)]
    results: Vec<PathBuf>,
    /// Folder of StableToolBench test query files `<subset>.json` (with `relevant APIs`).
    #[arg(long)]
    queries: Option<PathBuf>,
    /// Column groups `NAME=SUBSET,SUBSET` [default: I1=G1_instruction,G1_category,G1_tool
    /// I2=G2_instruction,G2_category I3=G3_instruction].
    #[arg(long, num_args = 1..)]
    groups: Vec<String>,
    /// Judge runs per query [default: as many as each file has].
    #[arg(long)]
    evaluate_times: Option<usize>,
    /// Win rate of CANDIDATE against REFERENCE (method names), ToolEval's rules.
    #[arg(long = "win-rate", value_name = "REFERENCE:CANDIDATE")]
    win_rate: Vec<String>,
    /// Print the report as JSON instead of Markdown.
    #[arg(long)]
    json: bool,
    /// Also draw the pass rates as a grouped bar chart (PNG).
    #[arg(long)]
    plot: Option<PathBuf>,
}

impl Args {
    fn spec(&self) -> anyhow::Result<ReportSpec> {
        let mut spec = ReportSpec {
            evaluate_times: self.evaluate_times,
            ..ReportSpec::default()
        };
        if !self.groups.is_empty() {
            spec.groups = self
                .groups
                .iter()
                .map(|g| Group::parse(g))
                .collect::<Result<_, _>>()?;
        }
        for w in &self.win_rate {
            let (r, c) = w
                .split_once(':')
                .with_context(|| format!("--win-rate {w:?}: expected REFERENCE:CANDIDATE"))?;
            spec.win_rates.push((r.to_owned(), c.to_owned()));
        }
        Ok(spec)
    }
}

/// Run `steptool report`.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let spec = args.spec()?;
    let methods = args
        .results
        .iter()
        .map(read_results_dir)
        .collect::<Result<Vec<_>, _>>()?;
    let queries = args.queries.as_ref().map(read_query_dir).transpose()?;
    let report = paper_report(&methods, queries.as_ref(), &spec)?;
    for w in &report.warnings {
        eprintln!("warning: {w}");
    }
    if let Some(png) = &args.plot {
        plot_pass_rates(&report, png)?;
        eprintln!("wrote {}", png.display());
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{report}");
    }
    Ok(ExitCode::SUCCESS)
}
