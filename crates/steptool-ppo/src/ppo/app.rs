//! The whole offline training run behind `examples/train_toolllama.rs` and `steptool train`:
//! a [`TrainSpec`] (JSON, or built from command-line flags) → model, tokenizer, episodes,
//! trainer, [`crate::run::train_loop`], summary and plot under `<runs_dir>/<run_name>/`.
//!
//! With no `model_dir` the **embedded default** runs: a tiny LLaMA-architecture model with
//! random weights, a byte-level BPE tokenizer trained in code on the shipped rows
//! (`fixtures/ppo/toolllama_rows.tsv`, compiled into the binary), and a few PPO steps on the
//! CPU.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use steptool_mdp::formats::tsv::read_tsv_str;
use steptool_mdp::{EncodeMode, Encoder, EncoderConfig, Episode};
use steptool_model::{LoraConfig, Model};

use crate::checkpoint::RunDir;
use crate::config::{PpoConfig, ReferenceConfig};
use crate::data::{load_jsonl, load_tsv, sub_trajectories};
use crate::error::{Error, Result};
use crate::online::run::{run_on_policy, OnPolicyRun};
use crate::online::{EvalMetrics, OnPolicySpec};
use crate::run::{train_loop_with, RunOptions};
use crate::trainer::{PpoTrainer, StepMetrics};

pub use crate::embedded::{tiny_llama_config, train_tokenizer, EMBEDDED_ROWS};

pub use steptool_model::Precision;

/// One training run. Every field has a default (the embedded default run).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TrainSpec {
    /// HF model directory (`config.json`, safetensors, `tokenizer.json`). `None`: the embedded
    /// tiny model and in-code tokenizer.
    pub model_dir: Option<PathBuf>,
    /// Training data: a StepTool TSV (`.tsv`/`.csv`) or episodes JSONL (`.jsonl`). `None`: the
    /// embedded rows (needs `model_dir = None` or a tokenizer that can encode them).
    pub data: Option<PathBuf>,
    /// Tokenizer file; default `<model_dir>/tokenizer.json`.
    pub tokenizer: Option<PathBuf>,
    /// `cpu` or `cuda:N`. Default `cpu`.
    pub device: String,
    /// Precision. Default f32.
    pub precision: Precision,
    /// LoRA settings. Default r 16, alpha 16, q_proj/v_proj, dropout 0 (the ToolLLaMA config).
    pub lora: LoraConfig,
    /// A reference `StepTool_ppo.json`: its `ppo_kwargs` and `peft_kwargs` replace `ppo` and
    /// `lora` (unknown keys are printed).
    pub reference_config: Option<PathBuf>,
    /// PPO settings.
    pub ppo: PpoConfig,
    /// Encoding of TSV rows. Default clean, context 4096, response 1024 (the ToolLLaMA script).
    pub encoder: EncoderConfig,
    /// Value head file (TRL names) to start from; default: freshly initialised.
    pub value_head: Option<PathBuf>,
    /// PPO steps in total; default: `epochs` passes over the data.
    pub steps: Option<u64>,
    /// Passes over the data when `steps` is not given. Default 1.
    pub epochs: u64,
    /// Checkpoint every N steps (0: only at the end). Default 100 (the reference's interval).
    pub checkpoint_every: u64,
    /// Output root. Default `runs`.
    pub runs_dir: PathBuf,
    /// Run name (directory under `runs_dir`). Default `steptool-ppo`.
    pub run_name: String,
    /// Continue from the run's newest checkpoint (an error when it has none).
    pub resume: bool,
    /// Start again over an existing run of the same name (its metrics and checkpoints are
    /// removed first). Without it, and without `resume`, an existing run is refused.
    pub overwrite: bool,
    /// Intra-op CPU threads (0: libtorch's default).
    pub threads: i32,
    /// Train on the policy's own rollouts in a tool environment instead of `data`
    /// ([`crate::online`]); `None`: offline PPO on `data`.
    pub on_policy: Option<OnPolicySpec>,
    /// Progress bar on stderr. Default true.
    pub progress: bool,
}

impl Default for TrainSpec {
    fn default() -> Self {
        TrainSpec {
            model_dir: None,
            data: None,
            tokenizer: None,
            device: "cpu".into(),
            precision: Precision::F32,
            lora: LoraConfig {
                r: 16,
                alpha: 16.0,
                ..LoraConfig::default()
            },
            reference_config: None,
            ppo: PpoConfig::default(),
            encoder: EncoderConfig {
                max_response: 1024,
                ..EncoderConfig::default()
            },
            value_head: None,
            steps: None,
            epochs: 1,
            checkpoint_every: 100,
            runs_dir: PathBuf::from("runs"),
            run_name: "steptool-ppo".into(),
            resume: false,
            overwrite: false,
            threads: 0,
            on_policy: None,
            progress: true,
        }
    }
}

impl TrainSpec {
    /// The embedded default: tiny model, in-code tokenizer, shipped rows, 6 PPO steps on CPU
    /// with a learning rate of 1e-3 so that the curves move in a few steps.
    pub fn embedded_default() -> Self {
        TrainSpec {
            encoder: EncoderConfig {
                mode: EncodeMode::Clean,
                max_context: 384,
                max_response: 128,
            },
            ppo: PpoConfig {
                learning_rate: 1e-3,
                ..PpoConfig::default()
            },
            steps: Some(6),
            checkpoint_every: 3,
            run_name: "embedded-default".into(),
            ..TrainSpec::default()
        }
    }

    /// The embedded default with an environment: the policy (a tiny LLaMA, a BPE tokenizer
    /// trained in code on the synthetic benchmark's texts) acts on synthetic train tasks, is
    /// rewarded by ground truth and trained online; held-out test tasks are evaluated every
    /// iteration. Small enough for the CPU (a few minutes).
    pub fn embedded_on_policy() -> Self {
        let on_policy = OnPolicySpec {
            train_tasks: 8,
            eval_tasks: 8,
            samples_per_task: 2,
            iterations: 2,
            sampling: crate::online::PolicySampling {
                max_new_tokens: 48,
                max_total_tokens: 4096,
                ..Default::default()
            },
            ..OnPolicySpec::default()
        };
        TrainSpec {
            ppo: PpoConfig {
                learning_rate: 1e-3,
                batch_size: 8,
                mini_batch_size: 2,
                gradient_accumulation_steps: 2,
                old_logprobs: on_policy.recommended_old_logprobs(),
                temperature: on_policy.sampling.score_temperature(),
                ..PpoConfig::default()
            },
            run_name: "embedded-on-policy".into(),
            on_policy: Some(on_policy),
            ..TrainSpec::default()
        }
    }

    /// Reads a JSON spec (unknown fields rejected).
    pub fn from_json_file(path: &Path) -> Result<Self> {
        crate::checkpoint::read_spec(path)
    }
}

/// What a run did; prints itself as the few lines a user reads after a run.
#[derive(Debug, Clone, Serialize)]
pub struct TrainSummary {
    /// Output directory.
    pub out_dir: PathBuf,
    /// Episodes trained on.
    pub episodes: usize,
    /// Steps run in this invocation.
    pub steps_run: usize,
    /// Total steps done.
    pub steps_done: u64,
    /// First and last step's metrics of this invocation.
    pub first: Option<StepMetrics>,
    /// See `first`.
    pub last: Option<StepMetrics>,
    /// The plot, when written.
    pub plot: Option<PathBuf>,
    /// The newest checkpoint bundle.
    pub checkpoint: Option<PathBuf>,
    /// Keys of a reference config that were not applied.
    pub unknown_reference_keys: Vec<String>,
    /// Held-out evaluations of an on-policy run (this invocation), in order.
    pub evals: Vec<EvalMetrics>,
}

impl std::fmt::Display for TrainSummary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "trained {} PPO step(s) on {} episodes ({} done in total)",
            self.steps_run, self.episodes, self.steps_done
        )?;
        if let (Some(a), Some(b)) = (&self.first, &self.last) {
            writeln!(
                f,
                "  step {:>4}: loss {:.4}  kl {:.4}  value error {:.4}  {:.0} tok/s",
                a.step, a.total_loss, a.kl, a.value_error, a.tokens_per_s
            )?;
            if b.step != a.step {
                writeln!(
                    f,
                    "  step {:>4}: loss {:.4}  kl {:.4}  value error {:.4}  {:.0} tok/s",
                    b.step, b.total_loss, b.kl, b.value_error, b.tokens_per_s
                )?;
            }
        }
        if let (Some(a), Some(b)) = (self.evals.first(), self.evals.last()) {
            writeln!(
                f,
                "  held-out pass rate ({:?}, {} tasks): {:.3} at step {} -> {:.3} at step {}",
                b.strategy, b.tasks, a.pass_rate, a.step, b.pass_rate, b.step
            )?;
        }
        writeln!(f, "  run directory: {}", self.out_dir.display())?;
        writeln!(
            f,
            "  metrics:       {}",
            self.out_dir.join("metrics.jsonl").display()
        )?;
        if let Some(p) = &self.plot {
            writeln!(f, "  plot:          {}", p.display())?;
        }
        if let Some(c) = &self.checkpoint {
            writeln!(
                f,
                "  checkpoint:    {} (adapter/, value_head.safetensors)",
                c.display()
            )?;
        }
        if !self.unknown_reference_keys.is_empty() {
            writeln!(
                f,
                "  reference config keys not applied: {}",
                self.unknown_reference_keys.join(", ")
            )?;
        }
        Ok(())
    }
}

/// The directory a run saves its base model into when the base is not a directory on disk
/// already (the embedded default), so that its adapter can be loaded again:
/// `steptool generate --model <run>/base --adapter <run>/checkpoints/latest`.
pub const BASE_DIR: &str = "base";

/// Runs `spec` (see the module docs).
pub fn run_training(mut spec: TrainSpec) -> Result<TrainSummary> {
    let mut unknown = Vec::new();
    if let Some(path) = &spec.reference_config {
        let r = ReferenceConfig::from_file(path)?;
        for s in &r.ignored {
            tracing::info!("reference config: ignored {s}");
        }
        for s in &r.unknown {
            tracing::warn!("reference config: unknown key {s} (not applied)");
        }
        spec.ppo = r.ppo;
        spec.lora = r.lora;
        unknown = r.unknown;
    }
    spec.ppo.validate()?;
    if spec.threads > 0 {
        tch::set_num_threads(spec.threads);
    }
    let opts = steptool_model::load_options(&spec.device, spec.precision)?;
    let out_dir = spec.runs_dir.join(&spec.run_name);
    let run = RunDir::new(&out_dir);
    let resume_from = run.prepare(spec.resume, spec.overwrite)?;
    if let Some(on_policy) = spec.on_policy.clone() {
        return run_training_on_policy(spec, on_policy, opts, run, resume_from, unknown);
    }

    // Tokenizer and model.
    let (tokenizer, mut model) = match &spec.model_dir {
        Some(dir) => {
            let tpath = spec
                .tokenizer
                .clone()
                .unwrap_or_else(|| dir.join("tokenizer.json"));
            let tok = tokenizers::Tokenizer::from_file(&tpath)
                .map_err(|e| Error::Input(format!("loading tokenizer {}: {e}", tpath.display())))?;
            let (model, report) = Model::from_pretrained(dir, opts)?;
            if !report.unused.is_empty() {
                tracing::warn!(unused = ?report.unused, "checkpoint tensors not used by the model");
            }
            (tok, model)
        }
        None => {
            let read = read_tsv_str(EMBEDDED_ROWS)?;
            let texts: Vec<String> = read.samples.iter().map(|r| r.sample.dialogue()).collect();
            let tok = train_tokenizer(&texts, 1000)?;
            let vocab = tok.get_vocab_size(true) as i64;
            tch::manual_seed(spec.ppo.seed as i64);
            let model = Model::random(tiny_llama_config(vocab)?, opts)?;
            save_base(&model, &tok, &out_dir)?;
            (tok, model)
        }
    };
    model.attach_lora(spec.lora.clone(), spec.ppo.seed)?;
    match &spec.value_head {
        // Either TRL name set (`v_head.summary.*` or `summary.*`) loads.
        Some(p) => model.load_value_head(p)?,
        None => model.init_value_head(spec.ppo.seed)?,
    }

    // Episodes.
    let encoder = Encoder::new(tokenizer, spec.encoder.clone())?;
    let mut episodes: Vec<Episode> = match &spec.data {
        None => {
            let read = read_tsv_str(EMBEDDED_ROWS)?;
            read.samples
                .iter()
                .map(|r| encoder.encode(&r.sample).map(|e| e.episode))
                .collect::<std::result::Result<_, _>>()?
        }
        Some(p) if p.extension().is_some_and(|e| e == "jsonl") => load_jsonl(p)?,
        Some(p) => load_tsv(p, &encoder)?,
    };
    if spec.ppo.sub_trajectories {
        episodes = sub_trajectories(&episodes)?;
    }
    let per_epoch = crate::data::batches_per_epoch(episodes.len(), spec.ppo.batch_size) as u64;
    if per_epoch == 0 {
        return Err(Error::Input(format!(
            "{} episodes are fewer than one batch of {}",
            episodes.len(),
            spec.ppo.batch_size
        )));
    }
    let total = spec.steps.unwrap_or(spec.epochs.max(1) * per_epoch);
    if resume_from.is_some() {
        crate::common::run_fields::check_resumed_spec(&spec, &out_dir)?;
    }
    let spec_json = write_spec(&spec, &out_dir)?;

    let mut trainer = PpoTrainer::new(model, spec.ppo.clone())?;
    let metrics_path = run.metrics_path();
    let png = out_dir.join("metrics.png");
    let metrics = train_loop_with(
        &mut trainer,
        &episodes,
        &RunOptions {
            out_dir: out_dir.clone(),
            total_steps: total,
            checkpoint_every: spec.checkpoint_every,
            resume: spec.resume,
            progress: spec.progress,
            extra: serde_json::json!({ "spec": spec_json }),
        },
        // The picture is refreshed as the run goes, not only at the end.
        |_| refresh_plot(&metrics_path, &png).map(|_| ()),
    )?;
    let plot = refresh_plot(&metrics_path, &png)?;
    Ok(TrainSummary {
        out_dir,
        episodes: episodes.len(),
        steps_run: metrics.len(),
        steps_done: trainer.steps_done(),
        first: metrics.first().cloned(),
        last: metrics.last().cloned(),
        plot,
        checkpoint: run.latest()?,
        unknown_reference_keys: unknown,
        evals: Vec::new(),
    })
}

/// [`run_training`] with an environment: the policy's own rollouts ([`crate::online`]).
fn run_training_on_policy(
    spec: TrainSpec,
    on_policy: OnPolicySpec,
    opts: steptool_model::LoadOptions,
    run: RunDir,
    resume_from: Option<PathBuf>,
    unknown: Vec<String>,
) -> Result<TrainSummary> {
    on_policy.validate(&spec.ppo)?;
    let out_dir = run.root().to_path_buf();
    let (renderer, mut model) = crate::sft::app::load_policy(
        spec.model_dir.as_deref(),
        spec.tokenizer.as_deref(),
        &on_policy,
        Some(&spec.lora),
        opts,
        spec.ppo.seed,
        &out_dir,
    )?;
    match &spec.value_head {
        Some(p) => model.load_value_head(p)?,
        None => model.init_value_head(spec.ppo.seed)?,
    }
    if resume_from.is_some() {
        crate::common::run_fields::check_resumed_spec(&spec, &out_dir)?;
    }
    let spec_json = write_spec(&spec, &out_dir)?;
    let mut trainer = PpoTrainer::new(model, spec.ppo.clone())?;
    let metrics_path = run.metrics_path();
    let png = out_dir.join("metrics.png");
    let outcome = run_on_policy(
        &mut trainer,
        &renderer,
        OnPolicyRun {
            spec: &on_policy,
            run: &run,
            resume_from,
            progress: spec.progress,
            extra: serde_json::json!({ "spec": spec_json }),
        },
        || crate::online::plot::plot_run(&metrics_path, &png).map(|_| ()),
    )?;
    let plot = crate::online::plot::plot_run(&metrics_path, &png)?;
    let train: Vec<StepMetrics> = crate::metrics::read_lines::<serde_json::Value>(&metrics_path)?
        .into_iter()
        .filter(|v| v.get("kind").is_none())
        .map(serde_json::from_value)
        .collect::<std::result::Result<_, _>>()
        .map_err(Error::json(&metrics_path))?;
    let episodes = outcome.iterations.iter().map(|i| i.episodes).sum();
    let recent = &train[train.len().saturating_sub(outcome.steps_run)..];
    Ok(TrainSummary {
        out_dir,
        episodes,
        steps_run: outcome.steps_run,
        steps_done: trainer.steps_done(),
        first: recent.first().cloned(),
        last: recent.last().cloned(),
        plot,
        checkpoint: run.latest()?,
        unknown_reference_keys: unknown,
        evals: outcome.evals,
    })
}

fn refresh_plot(metrics: &Path, png: &Path) -> Result<Option<PathBuf>> {
    let all = crate::metrics::read_metrics(metrics)?;
    crate::ppo::plot::plot(&all, png)
}

/// Saves a base model created in code (and its tokenizer) under `<out_dir>/base`, so the run's
/// adapters can be loaded again; the tokenizer is also written at `<out_dir>/tokenizer.json`.
pub fn save_base(model: &Model, tok: &tokenizers::Tokenizer, out_dir: &Path) -> Result<()> {
    let base = out_dir.join(BASE_DIR);
    std::fs::create_dir_all(&base).map_err(Error::io(&base))?;
    model.export_merged(&base)?;
    for p in [base.join("tokenizer.json"), out_dir.join("tokenizer.json")] {
        tok.save(&p, false)
            .map_err(|e| Error::Input(format!("writing {}: {e}", p.display())))?;
    }
    Ok(())
}

/// Writes `spec.json` into the run directory; returns the spec as JSON.
pub fn write_spec<T: Serialize>(spec: &T, out_dir: &Path) -> Result<serde_json::Value> {
    let sp = out_dir.join("spec.json");
    let spec_json = serde_json::to_value(spec).map_err(Error::json(&sp))?;
    let text = serde_json::to_string_pretty(&spec_json).map_err(Error::json(&sp))?;
    steptool_mdp::atomic::write_atomic(&sp, text).map_err(Error::io(&sp))?;
    Ok(spec_json)
}
