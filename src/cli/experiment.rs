//! `steptool experiment`: the paper's study at small scale (every method from one SFT start,
//! several seeds, one report) from a preset or a JSON [`ExperimentSpec`].

use std::path::PathBuf;
use std::process::ExitCode;

use steptool_ppo::experiment::{run_experiment, ExperimentSpec};

/// Arguments of `steptool experiment`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// A preset: `quick` (one seed, a tiny model, minutes: a smoke test of the whole study) or
    /// `full` (3 seeds, about an hour on 2 CPU cores; docs/results.md).
    #[arg(long, value_parser = ["quick", "full"], conflicts_with = "config")]
    preset: Option<String>,
    /// A JSON ExperimentSpec (missing fields from `full`; see docs/experiment.md).
    #[arg(long)]
    config: Option<PathBuf>,
    /// Output directory (results.json, results.md, PNGs, every run).
    #[arg(long)]
    out: PathBuf,
    /// Start from this HF checkpoint instead of the tiny LLaMA: LoRA SFT with the pretrained
    /// recipe, chat format from its tokenizer, the adapter merged for every method (see
    /// docs/experiment.md; for a GPU).
    #[arg(long)]
    model: Option<PathBuf>,
    /// Seeds, comma-separated (default: the preset's).
    #[arg(long, value_delimiter = ',')]
    seeds: Option<Vec<u64>>,
    /// Continue a study in `--out`: finished methods are kept, unfinished runs resume.
    #[arg(long, conflicts_with = "overwrite")]
    resume: bool,
    /// Remove an existing study in `--out` first.
    #[arg(long)]
    overwrite: bool,
    /// `cpu` or `cuda:N`.
    #[arg(long)]
    device: Option<String>,
    /// `f32`, or `bf16` (CUDA only).
    #[arg(long, value_parser = super::run_args::parse_precision)]
    precision: Option<steptool::model::Precision>,
    /// CPU threads (0: libtorch's default).
    #[arg(long)]
    threads: Option<i32>,
    /// No progress lines on stderr.
    #[arg(long)]
    no_progress: bool,
}

/// Run `steptool experiment`.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let mut spec = match (&args.config, &args.preset) {
        (Some(p), _) => ExperimentSpec::from_json_file(p)?,
        (None, Some(name)) => ExperimentSpec::preset(name)?,
        (None, None) => anyhow::bail!("give --preset quick|full or --config FILE"),
    };
    if let Some(m) = &args.model {
        spec.use_pretrained_start(m)?;
    }
    if let Some(s) = &args.seeds {
        spec.seeds = s.clone();
    }
    if let Some(d) = &args.device {
        spec.device = d.clone();
    }
    if let Some(p) = args.precision {
        spec.precision = p;
    }
    if let Some(t) = args.threads {
        spec.threads = t;
    }
    if args.no_progress {
        spec.progress = false;
    }
    print!(
        "{}",
        run_experiment(spec, &args.out, args.resume, args.overwrite)?
    );
    Ok(ExitCode::SUCCESS)
}
