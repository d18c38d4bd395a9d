//! `steptool train`: StepTool PPO from a JSON [`TrainSpec`] plus flag overrides (no spec and no
//! model: the embedded CPU demo that `make run` runs). The flags are applied to the spec here,
//! in one place; the library does the rest.

use std::path::PathBuf;
use std::process::ExitCode;

use steptool::mdp::EncodeMode;
use steptool_ppo::app::{run_training, TrainSpec};
use steptool_ppo::PpoConfig;

use super::run_args::RunArgs;

/// Arguments of `steptool train`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// A JSON TrainSpec (model_dir, data, ppo, lora, encoder, steps, …; see docs/ppo.md and
    /// examples/specs/). Flags given as well override it. Without it and without --model-dir,
    /// the embedded CPU demo runs.
    #[arg(long)]
    config: Option<PathBuf>,
    #[command(flatten)]
    run: RunArgs,
    #[command(flatten)]
    train: TrainArgs,
}

/// The PPO-specific overrides.
#[derive(Debug, clap::Args)]
struct TrainArgs {
    /// HF model directory (config.json, *.safetensors, tokenizer.json).
    #[arg(long)]
    model_dir: Option<PathBuf>,
    /// StepTool TSV (.tsv/.csv) or episodes JSONL (.jsonl).
    #[arg(long)]
    data: Option<PathBuf>,
    /// Tokenizer (default <model-dir>/tokenizer.json).
    #[arg(long)]
    tokenizer: Option<PathBuf>,
    /// A PpoConfig JSON file (replaces the spec's `ppo`).
    #[arg(long)]
    ppo_config: Option<PathBuf>,
    /// The reference's config/<model>/StepTool_ppo.json (ppo_kwargs, peft_kwargs).
    #[arg(long)]
    reference_config: Option<PathBuf>,
    /// Value head to start from (safetensors, TRL names); default: freshly initialised.
    #[arg(long)]
    value_head: Option<PathBuf>,
    /// Shorthand for --precision bf16.
    #[arg(long)]
    bf16: bool,
    /// LoRA rank.
    #[arg(long)]
    lora_r: Option<i64>,
    /// LoRA alpha.
    #[arg(long)]
    lora_alpha: Option<f64>,
    /// clean or reference-compat.
    #[arg(long)]
    encode_mode: Option<EncodeMode>,
    /// Context tokens kept.
    #[arg(long)]
    max_context: Option<usize>,
    /// Response tokens kept.
    #[arg(long)]
    max_response: Option<usize>,
    /// Learning rate.
    #[arg(long)]
    learning_rate: Option<f64>,
    /// Total PPO steps.
    #[arg(long)]
    steps: Option<u64>,
    /// Passes over the data (when --steps is not given).
    #[arg(long)]
    epochs: Option<u64>,
    /// Checkpoint interval in PPO steps.
    #[arg(long)]
    checkpoint_every: Option<u64>,
    /// Train on the policy's own rollouts in this environment (no spec and no model: the
    /// embedded on-policy demo on the synthetic benchmark).
    #[arg(long, value_enum)]
    env: Option<EnvArg>,
    /// On-policy schedule: `offline` (the paper: collect once) or `online`.
    #[arg(long, value_enum)]
    schedule: Option<ScheduleArg>,
    /// On-policy iterations.
    #[arg(long)]
    iterations: Option<u64>,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum EnvArg {
    /// The synthetic benchmark with ground-truth rewards.
    Synthetic,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum ScheduleArg {
    /// Collect once with the starting policy, then PPO over that data (the paper).
    Offline,
    /// Collect, annotate and train every iteration.
    Online,
}

impl TrainArgs {
    fn apply(&self, spec: &mut TrainSpec) -> anyhow::Result<()> {
        if let Some(v) = &self.model_dir {
            spec.model_dir = Some(v.clone());
        }
        if let Some(v) = &self.data {
            spec.data = Some(v.clone());
        }
        if let Some(v) = &self.tokenizer {
            spec.tokenizer = Some(v.clone());
        }
        if let Some(p) = &self.ppo_config {
            spec.ppo = PpoConfig::from_json_file(p)?;
        }
        if let Some(v) = &self.reference_config {
            spec.reference_config = Some(v.clone());
        }
        if let Some(v) = &self.value_head {
            spec.value_head = Some(v.clone());
        }
        if self.bf16 {
            spec.precision = steptool::model::Precision::Bf16;
        }
        if let Some(v) = self.lora_r {
            spec.lora.r = v;
        }
        if let Some(v) = self.lora_alpha {
            spec.lora.alpha = v;
        }
        if let Some(v) = self.encode_mode {
            spec.encoder.mode = v;
        }
        if let Some(v) = self.max_context {
            spec.encoder.max_context = v;
        }
        if let Some(v) = self.max_response {
            spec.encoder.max_response = v;
        }
        if let Some(v) = self.learning_rate {
            spec.ppo.learning_rate = v;
        }
        if self.steps.is_some() {
            spec.steps = self.steps;
        }
        if let Some(v) = self.epochs {
            spec.epochs = v;
            if self.steps.is_none() {
                spec.steps = None;
            }
        }
        if let Some(v) = self.checkpoint_every {
            spec.checkpoint_every = v;
        }
        if self.env.is_some() && spec.on_policy.is_none() {
            let demo = TrainSpec::embedded_on_policy();
            spec.on_policy = demo.on_policy;
            spec.ppo.old_logprobs = demo.ppo.old_logprobs;
            spec.ppo.temperature = demo.ppo.temperature;
        }
        if let Some(op) = &mut spec.on_policy {
            if let Some(s) = self.schedule {
                op.schedule = match s {
                    ScheduleArg::Offline => steptool_ppo::online::Schedule::Offline,
                    ScheduleArg::Online => steptool_ppo::online::Schedule::Online,
                };
                spec.ppo.old_logprobs = op.recommended_old_logprobs();
            }
            if let Some(n) = self.iterations {
                op.iterations = n;
            }
        } else if self.schedule.is_some() || self.iterations.is_some() {
            anyhow::bail!(
                "--schedule and --iterations need an environment (--env or a spec with on_policy)"
            );
        }
        Ok(())
    }
}

/// The spec a command line describes: the file, or the embedded demo (no file, no model), or
/// the defaults for a model directory; then the flags.
fn spec(args: &Args) -> anyhow::Result<TrainSpec> {
    let mut spec = match (&args.config, &args.train.model_dir, args.train.env) {
        (Some(p), _, _) => TrainSpec::from_json_file(p)?,
        (None, None, Some(_)) => TrainSpec::embedded_on_policy(),
        (None, None, None) => TrainSpec::embedded_default(),
        (None, Some(_), _) => TrainSpec::default(),
    };
    args.train.apply(&mut spec)?;
    args.run.apply(&mut spec)?;
    Ok(spec)
}

/// Run `steptool train`.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let summary = run_training(spec(&args)?)?;
    print!("{summary}");
    Ok(ExitCode::SUCCESS)
}
