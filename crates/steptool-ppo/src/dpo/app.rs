//! The whole DPO run behind `steptool dpo` (the ETO baseline): a start model with LoRA
//! attached, preference pairs (the policy's own exploration or the reference's pair file), the
//! shared run directory / checkpoints / metrics / plot, exact resume, and on the synthetic
//! benchmark a held-out pass-rate evaluation of the result.
//!
//! ```text
//! explore  K samples per train task at temperature T (3 and 0.7, the paper's) with the start
//!          policy -> rollouts/explore.jsonl (read back on resume: the same pairs)
//! judge    ground truth's final status per sample
//! pair     per task: every solved sample x every failed one; all-solved / all-failed tasks are
//!          ties, dropped and counted; pairs longer than max_tokens skipped and counted
//! train    epochs x ceil(pairs / batch_size) DPO steps (metrics.jsonl, metrics.png)
//! ```

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use steptool_env::rollout::{read_records, write_records, RolloutConfig, RolloutRecord, Strategy};
use steptool_env::synthetic::{Split, SyntheticBenchmark, SyntheticEnv};
use steptool_model::{LoraConfig, Precision};

use super::pairs::{encode_pair_rows, exploration_pairs, read_pair_file, PairStats};
use super::trainer::{DpoConfig, DpoEval, DpoMetrics, DpoTrainer, PreferencePair};
use crate::checkpoint::{resolve_latest, RunDir, MODEL};
use crate::common::plot::{plot_panels, Panel};
use crate::data::batch_indices;
use crate::error::{Error, Result};
use crate::metrics::{read_lines, rewind, MetricsWriter};
use crate::online::run::{evaluate_policy, EvalMetrics};
use crate::online::{policy_rollouts, GroundTruthAnnotator, OnPolicySpec, PolicySampling};
use crate::progress::Progress;
use crate::sft::app::load_policy;

/// Where the preference pairs come from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum DpoData {
    /// ETO's exploration: `samples` rollouts per synthetic train task (`env.train_tasks`) at
    /// `temperature` with the start policy, judged by the ground truth.
    Explore {
        /// Samples per task (K). The paper's: 3.
        samples: usize,
        /// Sampling temperature. The paper's: 0.7.
        temperature: f64,
    },
    /// ETO's pairing of rollouts collected elsewhere (`steptool rollout --agent policy` JSONL
    /// of the start policy on `env.train_tasks`, such as an experiment's shared collection),
    /// judged by the ground truth.
    Records {
        /// The JSONL file.
        path: PathBuf,
    },
    /// The reference's pair file (`prompt`, `chosen`, `rejected`; tab-separated, quoted).
    Pairs {
        /// The file.
        path: PathBuf,
    },
}

impl Default for DpoData {
    fn default() -> Self {
        DpoData::Explore {
            samples: 3,
            temperature: 0.7,
        }
    }
}

/// One DPO run. Every field has a default.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DpoSpec {
    /// The start model: an HF model directory such as an SFT run's
    /// `checkpoints/latest/model` (a bundle directory holding `model/` is taken too);
    /// `None`: the embedded tiny LLaMA (random, so exploration rarely finds a success).
    pub model_dir: Option<PathBuf>,
    /// Tokenizer; default `<model_dir>/tokenizer.json`.
    pub tokenizer: Option<PathBuf>,
    /// The pairs.
    pub data: DpoData,
    /// The environment, chat format, prompt style, rollout limits and sampling budgets (the
    /// same as the SFT run this starts from), and the held-out evaluation's tasks.
    pub env: OnPolicySpec,
    /// After training, greedy CoT on `env.eval_tasks` held-out synthetic tasks.
    pub eval_pass_rate: bool,
    /// LoRA settings (the adapters are the policy; the base without them the reference).
    pub lora: LoraConfig,
    /// Optimisation.
    pub dpo: DpoConfig,
    /// `cpu` or `cuda:N`.
    pub device: String,
    /// Precision.
    pub precision: Precision,
    /// Checkpoint every N steps (0: at the end only).
    pub checkpoint_every: u64,
    /// Output root.
    pub runs_dir: PathBuf,
    /// Run name.
    pub run_name: String,
    /// Continue the run.
    pub resume: bool,
    /// Start the run again over an existing one.
    pub overwrite: bool,
    /// CPU threads (0: libtorch's default).
    pub threads: i32,
    /// Progress on stderr.
    pub progress: bool,
}

impl Default for DpoSpec {
    fn default() -> Self {
        DpoSpec {
            model_dir: None,
            tokenizer: None,
            data: DpoData::default(),
            env: OnPolicySpec::default(),
            eval_pass_rate: true,
            lora: LoraConfig {
                r: 16,
                alpha: 16.0,
                ..LoraConfig::default()
            },
            dpo: DpoConfig::default(),
            device: "cpu".into(),
            precision: Precision::F32,
            checkpoint_every: 0,
            runs_dir: PathBuf::from("runs"),
            run_name: "dpo".into(),
            resume: false,
            overwrite: false,
            threads: 0,
            progress: true,
        }
    }
}

impl DpoSpec {
    /// `steptool dpo` with no spec: the environment, prompt style and budgets of the embedded
    /// SFT demo ([`crate::sft::SftSpec::embedded_default`]), so `--model-dir
    /// runs/embedded-sft/checkpoints/latest/model` continues that model; lr 5e-4 for its
    /// small adapters.
    pub fn embedded_default() -> Self {
        DpoSpec {
            env: crate::sft::SftSpec::embedded_default().env,
            dpo: DpoConfig {
                learning_rate: 5e-4,
                ..DpoConfig::default()
            },
            run_name: "embedded-dpo".into(),
            ..DpoSpec::default()
        }
    }

    /// Reads a JSON spec (unknown fields rejected).
    pub fn from_json_file(path: &Path) -> Result<Self> {
        crate::checkpoint::read_spec(path)
    }
}

/// What a DPO run did.
#[derive(Debug, Clone, Serialize)]
pub struct DpoSummary {
    /// Run directory.
    pub out_dir: PathBuf,
    /// What building the pairs counted.
    pub pairs: PairStats,
    /// Steps run now / in total.
    pub steps_run: usize,
    /// See `steps_run`.
    pub steps_done: u64,
    /// The first and last step of this invocation.
    pub first: Option<DpoMetrics>,
    /// See `first`.
    pub last: Option<DpoMetrics>,
    /// Loss, margin and accuracy over all pairs after training.
    pub final_pairs: Option<DpoEval>,
    /// Held-out pass rate at the end (synthetic).
    pub eval: Option<EvalMetrics>,
    /// The plot.
    pub plot: Option<PathBuf>,
    /// The newest checkpoint.
    pub checkpoint: Option<PathBuf>,
}

impl std::fmt::Display for DpoSummary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let p = &self.pairs;
        writeln!(
            f,
            "DPO: {} step(s) now, {} in total, on {} pairs",
            self.steps_run, self.steps_done, p.pairs
        )?;
        if p.samples > 0 {
            writeln!(
                f,
                "  exploration: {} tasks, {} samples ({} solved, {} without a turn); ties dropped: {} all solved, {} all failed",
                p.sources, p.samples, p.solved, p.no_turn, p.ties_all_solved, p.ties_all_failed
            )?;
        } else {
            writeln!(f, "  pair file: {} rows", p.sources)?;
        }
        if p.too_long > 0 {
            writeln!(f, "  skipped: {} pairs longer than max_tokens", p.too_long)?;
        }
        if let (Some(a), Some(b)) = (&self.first, &self.last) {
            writeln!(
                f,
                "  loss {:.4} -> {:.4}   reward margin {:.4} -> {:.4}   accuracy {:.3} -> {:.3}",
                a.loss, b.loss, a.reward_margin, b.reward_margin, a.accuracy, b.accuracy
            )?;
        }
        if let Some(e) = &self.final_pairs {
            writeln!(
                f,
                "  all pairs after training: loss {:.4}  margin {:.4}  accuracy {:.3}",
                e.loss, e.reward_margin, e.accuracy
            )?;
        }
        if let Some(e) = &self.eval {
            writeln!(
                f,
                "  held-out pass rate ({:?}, {} tasks): {:.3}  recall {:.3}  actions {:.2}",
                e.strategy, e.tasks, e.pass_rate, e.recall, e.mean_actions
            )?;
        }
        writeln!(f, "  run directory: {}", self.out_dir.display())?;
        if let Some(p) = &self.plot {
            writeln!(f, "  plot:          {}", p.display())?;
        }
        if let Some(c) = &self.checkpoint {
            writeln!(f, "  checkpoint:    {} (adapter/)", c.display())?;
        }
        Ok(())
    }
}

/// A start-model path as a user gives it: `checkpoints/latest` pointers resolved, and a
/// bundle directory that holds a full model (`model/config.json`) taken as that model.
pub fn start_model_dir(path: &Path) -> PathBuf {
    let dir = resolve_latest(path);
    if dir.join(MODEL).join("config.json").is_file() {
        dir.join(MODEL)
    } else {
        dir
    }
}

/// Rollouts of the start policy on the synthetic train tasks: `samples` per task at
/// `temperature` (the sampling budgets, rollout limits and seeds of `env`).
pub fn explore(
    model: &steptool_model::Model,
    renderer: &crate::online::Renderer,
    env_spec: &OnPolicySpec,
    samples: usize,
    temperature: f64,
) -> Result<(Vec<RolloutRecord>, usize, GroundTruthAnnotator)> {
    if samples == 0 {
        return Err(Error::config("data.samples", "must be at least 1"));
    }
    if !(temperature.is_finite() && temperature > 0.0) {
        // Greedy samples of one task are identical: every task would be a tie.
        return Err(Error::config("data.temperature", "must be finite and > 0"));
    }
    let bench = Arc::new(SyntheticBenchmark::new(env_spec.benchmark.clone())?);
    let train = bench.tasks(Split::Train, env_spec.train_tasks, env_spec.task_seed)?;
    let env = SyntheticEnv::new(bench.clone(), env_spec.env.clone());
    let cfg = RolloutConfig {
        samples,
        ..env_spec.rollout.clone()
    };
    let sampling = PolicySampling {
        temperature,
        ..env_spec.sampling.clone()
    };
    let (summary, _) = policy_rollouts(model, renderer, &sampling, &env, &train, &cfg, false)?;
    for f in &summary.failures {
        tracing::warn!(task = f.task_index, sample = f.sample, error = %f.error, "rollout failed: left out");
    }
    Ok((
        summary.records,
        summary.failures.len(),
        GroundTruthAnnotator::new(bench, &train),
    ))
}

/// Runs `spec` (module docs).
pub fn run_dpo(spec: DpoSpec) -> Result<DpoSummary> {
    spec.dpo.validate()?;
    if spec.threads > 0 {
        tch::set_num_threads(spec.threads);
    }
    let opts = steptool_model::load_options(&spec.device, spec.precision)?;
    let out_dir = spec.runs_dir.join(&spec.run_name);
    let run = RunDir::new(&out_dir);
    let resume_from = run.prepare(spec.resume, spec.overwrite)?;
    let start = spec.model_dir.as_deref().map(start_model_dir);
    let (renderer, model) = load_policy(
        start.as_deref(),
        spec.tokenizer.as_deref(),
        &spec.env,
        Some(&spec.lora),
        opts,
        spec.dpo.seed,
        &out_dir,
    )?;

    // Pairs.
    let (mut pairs, mut stats) = match &spec.data {
        DpoData::Explore {
            samples,
            temperature,
        } => {
            let file = out_dir.join("rollouts").join("explore.jsonl");
            let (records, failed, annotator) = if resume_from.is_some() && file.is_file() {
                let bench = Arc::new(SyntheticBenchmark::new(spec.env.benchmark.clone())?);
                let train = bench.tasks(Split::Train, spec.env.train_tasks, spec.env.task_seed)?;
                (
                    read_records(&file)?,
                    0,
                    GroundTruthAnnotator::new(bench, &train),
                )
            } else {
                // With a fresh LoRA (B = 0) the policy is the start model.
                let (records, failed, annotator) =
                    explore(&model, &renderer, &spec.env, *samples, *temperature)?;
                let dir = out_dir.join("rollouts");
                std::fs::create_dir_all(&dir).map_err(Error::io(&dir))?;
                write_records(&file, &records)?;
                (records, failed, annotator)
            };
            let (pairs, mut stats) = exploration_pairs(&records, &annotator)?;
            stats.samples += failed;
            stats.no_turn += failed;
            (pairs, stats)
        }
        DpoData::Records { path } => {
            let bench = Arc::new(SyntheticBenchmark::new(spec.env.benchmark.clone())?);
            let train = bench.tasks(Split::Train, spec.env.train_tasks, spec.env.task_seed)?;
            let annotator = GroundTruthAnnotator::new(bench, &train);
            exploration_pairs(&read_records(path)?, &annotator)?
        }
        DpoData::Pairs { path } => {
            let rows = read_pair_file(path)?;
            let bos = match spec.env.chat_format {
                steptool_mdp::ChatFormat::Qwen2 => None,
                _ => model.config().bos_token_id().map(|b| b as u32),
            };
            let eos = model.config().eos_token_ids().first().map(|&e| e as u32);
            let pairs = encode_pair_rows(path, &rows, &renderer, bos, eos)?;
            let stats = PairStats {
                sources: rows.len(),
                pairs: pairs.len(),
                ..PairStats::default()
            };
            (pairs, stats)
        }
    };
    if let Some(max) = spec.dpo.max_tokens {
        let before = pairs.len();
        pairs.retain(|p| {
            let keep = p.max_len() <= max;
            if !keep {
                tracing::warn!(
                    pair = p.id(),
                    tokens = p.max_len(),
                    max,
                    "pair longer than max_tokens: skipped"
                );
            }
            keep
        });
        stats.too_long = before - pairs.len();
        stats.pairs = pairs.len();
    }
    let per_epoch = crate::data::batches_per_epoch(pairs.len(), spec.dpo.batch_size) as u64;
    if per_epoch == 0 {
        return Err(Error::Input(format!(
            "{} preference pairs are fewer than one batch of {} ({} ties all solved, {} all failed, {} too long); \
             start from a model that solves some tasks (an SFT run's checkpoints/latest/model)",
            pairs.len(),
            spec.dpo.batch_size,
            stats.ties_all_solved,
            stats.ties_all_failed,
            stats.too_long
        )));
    }
    let total = spec.dpo.total_steps(per_epoch);
    if resume_from.is_some() {
        crate::common::run_fields::check_resumed_spec(&spec, &out_dir)?;
    }
    let spec_json = crate::app::write_spec(&spec, &out_dir)?;
    let extra = serde_json::json!({ "spec": spec_json });
    let mut trainer = DpoTrainer::new(model, spec.dpo.clone(), total)?;
    let metrics_path = run.metrics_path();
    if let Some(dir) = &resume_from {
        trainer.load_checkpoint(dir)?;
        rewind(&metrics_path, trainer.steps_done())?;
    }
    let mut writer = MetricsWriter::append(&metrics_path)?;
    let png = out_dir.join("metrics.png");
    let mut progress = Progress::new(spec.progress, total, "DPO steps");
    let mut run_metrics: Vec<DpoMetrics> = Vec::new();
    let mut streak = crate::common::guard::NonFiniteStreak::new(
        "DPO",
        crate::common::guard::MAX_NONFINITE_STEPS,
    );
    while trainer.steps_done() < total {
        let s = trainer.steps_done();
        let idx = batch_indices(pairs.len(), spec.dpo.batch_size, spec.dpo.seed, s)?;
        let batch: Vec<PreferencePair> = idx.iter().map(|&i| pairs[i].clone()).collect();
        let m = trainer.step(&batch)?;
        writer.write(&m)?;
        streak.observe(m.step, m.skipped)?;
        progress.update(
            trainer.steps_done(),
            &format!("loss {:.4} margin {:.4}", m.loss, m.reward_margin),
        );
        run_metrics.push(m);
        plot_dpo(&metrics_path, &png)?;
        let done = trainer.steps_done();
        if done == total || (spec.checkpoint_every > 0 && done % spec.checkpoint_every == 0) {
            run.commit(done, |tmp| trainer.write_bundle(tmp, extra.clone()))?;
        }
    }
    progress.finish();
    let final_pairs = Some(trainer.evaluate(&pairs)?);
    let eval = if spec.eval_pass_rate {
        let bench = Arc::new(SyntheticBenchmark::new(spec.env.benchmark.clone())?);
        let test = bench.tasks(Split::Test, spec.env.eval_tasks, spec.env.task_seed)?;
        let env = SyntheticEnv::new(bench, spec.env.env.clone());
        let (m, _) = evaluate_policy(
            trainer.model(),
            &renderer,
            &spec.env.sampling,
            &env,
            &test,
            &spec.env.rollout,
            Strategy::Cot,
            trainer.steps_done(),
        )?;
        Some(m)
    } else {
        None
    };
    let summary = DpoSummary {
        out_dir: out_dir.clone(),
        pairs: stats,
        steps_run: run_metrics.len(),
        steps_done: trainer.steps_done(),
        first: run_metrics.first().cloned(),
        last: run_metrics.last().cloned(),
        final_pairs,
        eval,
        plot: plot_dpo(&metrics_path, &png)?,
        checkpoint: run.latest()?,
    };
    let sp = out_dir.join("summary.json");
    let text = serde_json::to_string_pretty(&summary).map_err(Error::json(&sp))?;
    steptool_mdp::atomic::write_atomic(&sp, text).map_err(Error::io(&sp))?;
    Ok(summary)
}

fn plot_dpo(metrics: &Path, png: &Path) -> Result<Option<PathBuf>> {
    let lines: Vec<serde_json::Value> = read_lines(metrics)?;
    let pick = |y: &str| -> Vec<(f64, f64)> {
        lines
            .iter()
            .filter_map(|v| Some((v.get("step")?.as_f64()?, v.get(y)?.as_f64()?)))
            .collect()
    };
    let panels = vec![
        Panel::new("DPO loss").with("loss", pick("loss")),
        Panel::new("implicit rewards (beta * log-ratio)")
            .with("margin", pick("reward_margin"))
            .with("chosen", pick("chosen_reward"))
            .with("rejected", pick("rejected_reward")),
        Panel::rates("pair accuracy").with("accuracy", pick("accuracy")),
        Panel::new("learning rate").with("lr", pick("lr")),
        Panel::new("gradient norm (before clipping)").with("norm", pick("grad_norm")),
    ];
    plot_panels(&panels, 3, "DPO step", png)
}
