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
use steptool_model::{LoadOptions, LoraConfig, Model, RawConfig};
use tch::{Device, Kind};

use crate::config::{PpoConfig, ReferenceConfig};
use crate::data::{load_jsonl, load_tsv, sub_trajectories};
use crate::error::{Error, Result};
use crate::run::{train_loop, RunOptions};
use crate::trainer::{PpoTrainer, StepMetrics};

/// The rows of the embedded default: 10 real StepTool ToolLLaMA rows (the reference's
/// `data_train/toolllama/step_grained_for_ppo_example.csv`).
pub const EMBEDDED_ROWS: &str = include_str!("../../../fixtures/ppo/toolllama_rows.tsv");

/// Where the weights run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Precision {
    /// f32 everywhere (CPU default).
    #[default]
    F32,
    /// bf16 base weights and activations, f32 LoRA and value head (CUDA).
    Bf16,
}

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
    /// Continue from the run's newest checkpoint.
    pub resume: bool,
    /// Intra-op CPU threads (0: libtorch's default).
    pub threads: i32,
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
            threads: 0,
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

    /// Reads a JSON spec (unknown fields rejected).
    pub fn from_json_file(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|source| Error::Io {
            path: path.to_path_buf(),
            source,
        })?;
        serde_json::from_str(&text).map_err(|source| Error::Json {
            path: path.to_path_buf(),
            source,
        })
    }
}

/// What a run did.
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
    /// Keys of a reference config that were not applied.
    pub unknown_reference_keys: Vec<String>,
}

fn parse_device(s: &str) -> Result<Device> {
    if s == "cpu" {
        return Ok(Device::Cpu);
    }
    if let Some(i) = s
        .strip_prefix("cuda:")
        .or(if s == "cuda" { Some("0") } else { None })
    {
        let i: usize = i.parse().map_err(|_| Error::Config {
            field: "device".into(),
            message: format!("{s:?}: expected cpu or cuda:N"),
        })?;
        return Ok(Device::Cuda(i));
    }
    Err(Error::Config {
        field: "device".into(),
        message: format!("{s:?}: expected cpu or cuda:N"),
    })
}

/// Trains a byte-level BPE tokenizer (vocabulary ≤ `vocab`) on `texts`, with the special
/// tokens `<unk>`=0, `<s>`=1, `</s>`=2, `<pad>`=3.
pub fn train_tokenizer(texts: &[String], vocab: usize) -> Result<tokenizers::Tokenizer> {
    use tokenizers::models::bpe::{BpeTrainerBuilder, BPE};
    use tokenizers::models::TrainerWrapper;
    use tokenizers::pre_tokenizers::byte_level::ByteLevel;
    use tokenizers::{AddedToken, Tokenizer};
    let specials: Vec<AddedToken> = ["<unk>", "<s>", "</s>", "<pad>"]
        .iter()
        .map(|t| AddedToken::from(t.to_string(), true))
        .collect();
    let mut trainer: TrainerWrapper = BpeTrainerBuilder::new()
        .vocab_size(vocab)
        .min_frequency(1)
        .show_progress(false)
        .special_tokens(specials)
        .initial_alphabet(ByteLevel::alphabet().into_iter().collect())
        .build()
        .into();
    let mut tok = Tokenizer::new(BPE::default());
    tok.with_pre_tokenizer(Some(ByteLevel::default()));
    tok.with_decoder(Some(ByteLevel::default()));
    tok.train(&mut trainer, texts.iter())
        .map_err(|e| Error::Input(format!("training the BPE tokenizer: {e}")))?;
    Ok(tok)
}

/// A LLaMA-architecture config of the given vocabulary: hidden 64, 2 layers, 4 heads
/// (2 KV heads), intermediate 128.
pub fn tiny_llama_config(vocab: i64) -> Result<steptool_model::ModelConfig> {
    use steptool_model::IntOrList;
    let raw = RawConfig {
        model_type: Some("llama".into()),
        hidden_size: Some(64),
        intermediate_size: Some(128),
        num_hidden_layers: Some(2),
        num_attention_heads: Some(4),
        num_key_value_heads: Some(2),
        vocab_size: Some(vocab),
        rms_norm_eps: Some(1e-5),
        bos_token_id: Some(IntOrList::One(1)),
        eos_token_id: Some(IntOrList::One(2)),
        pad_token_id: Some(IntOrList::One(3)),
        ..RawConfig::default()
    };
    Ok(raw.into_config()?)
}

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
    let device = parse_device(&spec.device)?;
    let opts = match spec.precision {
        Precision::F32 => LoadOptions {
            device,
            ..LoadOptions::cpu()
        },
        Precision::Bf16 => LoadOptions {
            device,
            dtype: Kind::BFloat16,
            trainable_dtype: Kind::Float,
        },
    };
    let out_dir = spec.runs_dir.join(&spec.run_name);
    std::fs::create_dir_all(&out_dir).map_err(|source| Error::Io {
        path: out_dir.clone(),
        source,
    })?;
    let io = |p: &Path| {
        let p = p.to_path_buf();
        move |source| Error::Io { path: p, source }
    };

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
            let tpath = out_dir.join("tokenizer.json");
            tok.save(&tpath, false)
                .map_err(|e| Error::Input(format!("writing {}: {e}", tpath.display())))?;
            let vocab = tok.get_vocab_size(true) as i64;
            tch::manual_seed(spec.ppo.seed as i64);
            let model = Model::random(tiny_llama_config(vocab)?, opts)?;
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
    let spec_json = serde_json::to_value(&spec).map_err(|source| Error::Json {
        path: out_dir.join("spec.json"),
        source,
    })?;
    let sp = out_dir.join("spec.json");
    std::fs::write(
        &sp,
        serde_json::to_string_pretty(&spec_json).unwrap_or_default(),
    )
    .map_err(io(&sp))?;

    let mut trainer = PpoTrainer::new(model, spec.ppo.clone())?;
    let metrics = train_loop(
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
    )?;
    let all = crate::metrics::read_metrics(&out_dir.join("metrics.jsonl"))?;
    let plot = crate::metrics::plot(&all, &out_dir.join("metrics.png"))?;
    Ok(TrainSummary {
        out_dir,
        episodes: episodes.len(),
        steps_run: metrics.len(),
        steps_done: trainer.steps_done(),
        first: metrics.first().cloned(),
        last: metrics.last().cloned(),
        plot,
        unknown_reference_keys: unknown,
    })
}
