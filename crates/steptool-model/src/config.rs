//! Hugging Face `config.json` -> validated runtime [`ModelConfig`].
//!
//! Two layers, as candle's `LlamaConfig::into_config`: [`RawConfig`] mirrors the JSON file
//! (every field optional, integer-or-list fields kept as they come), and [`ModelConfig`] is what
//! the model runs with: every size checked, every default filled in from the transformers source
//! of the model type (`LlamaConfig`, `Qwen2Config` in transformers 4.43), every setting this crate
//! does not implement rejected with an error that names the field.
//!
//! Supported: `model_type` `llama` (LLaMA-2, ToolLLaMA-2 with `rope_scaling {type: linear}`,
//! Llama-3.x with `rope_scaling {rope_type: llama3}`) and `qwen2` (q/k/v bias). Grouped-query
//! attention through `num_key_value_heads`, explicit `head_dim`, `tie_word_embeddings`,
//! `torch_dtype`.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::{Error, Result};

/// The model families this crate implements.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ModelType {
    /// LLaMA-2 / Llama-3.x (`LlamaForCausalLM`).
    Llama,
    /// Qwen2 (`Qwen2ForCausalLM`): like LLaMA with a bias on the q, k and v projections.
    Qwen2,
}

/// A JSON field that is either one integer or a list of integers (`eos_token_id`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum IntOrList {
    /// A single id.
    One(i64),
    /// Several ids.
    Many(Vec<i64>),
}

impl IntOrList {
    /// All ids, in file order.
    pub fn to_vec(&self) -> Vec<i64> {
        match self {
            IntOrList::One(x) => vec![*x],
            IntOrList::Many(v) => v.clone(),
        }
    }
}

/// `config.json` exactly as Hugging Face writes it (transformers 4.x), all fields optional.
///
/// Fields this crate reads are named; everything else lands in [`RawConfig::other`] and is
/// checked by [`RawConfig::into_config`] against a list of fields known to have no effect on the
/// forward pass (tokenizer ids, `architectures`, `transformers_version`, ...). An unknown field is
/// an error: it may change the model in a way this crate would silently get wrong.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct RawConfig {
    /// `llama` or `qwen2`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model_type: Option<String>,
    /// Model width.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hidden_size: Option<i64>,
    /// MLP width.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub intermediate_size: Option<i64>,
    /// Number of decoder layers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub num_hidden_layers: Option<i64>,
    /// Number of query heads.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub num_attention_heads: Option<i64>,
    /// Number of key/value heads (GQA); default: `num_attention_heads`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub num_key_value_heads: Option<i64>,
    /// Per-head width; default `hidden_size / num_attention_heads`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub head_dim: Option<i64>,
    /// Vocabulary size.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vocab_size: Option<i64>,
    /// RMSNorm epsilon (llama default 1e-6, qwen2 default 1e-6).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rms_norm_eps: Option<f64>,
    /// RoPE base (default 10000).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rope_theta: Option<f64>,
    /// RoPE scaling: `null`, `{type|rope_type: linear, factor}` or `{rope_type: llama3, ...}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rope_scaling: Option<Value>,
    /// Bias on q/k/v/o (llama); qwen2 always has q/k/v bias.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attention_bias: Option<bool>,
    /// Bias on the MLP projections (llama).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mlp_bias: Option<bool>,
    /// Share the LM head with the token embedding (llama default false, qwen2 default false).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tie_word_embeddings: Option<bool>,
    /// Checkpoint dtype (`float32`, `float16`, `bfloat16`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub torch_dtype: Option<String>,
    /// Activation; only `silu` is supported.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hidden_act: Option<String>,
    /// Attention dropout; only 0 is supported.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attention_dropout: Option<f64>,
    /// Positions the model was trained for (informational).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_position_embeddings: Option<i64>,
    /// Tensor-parallel pretraining split (llama); any value gives the same function.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pretraining_tp: Option<i64>,
    /// Qwen2 sliding window attention; only `false` is supported.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub use_sliding_window: Option<bool>,
    /// Beginning-of-sequence id(s).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bos_token_id: Option<IntOrList>,
    /// End-of-sequence id(s) (Llama-3.1 lists several).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub eos_token_id: Option<IntOrList>,
    /// Padding id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pad_token_id: Option<IntOrList>,
    /// Every other field, checked against [`IGNORED_FIELDS`].
    #[serde(flatten)]
    pub other: BTreeMap<String, Value>,
}

/// Fields of HF configs that do not change the forward pass, accepted and ignored.
pub const IGNORED_FIELDS: &[&str] = &[
    "_name_or_path",
    "architectures",
    "transformers_version",
    "initializer_range",
    "use_cache",
    "sliding_window",
    "max_window_layers",
    "auto_map",
    "model_name_or_path",
    "output_attentions",
    "output_hidden_states",
    "return_dict",
    "torchscript",
    "is_encoder_decoder",
    "is_decoder",
    "add_cross_attention",
    "tie_encoder_decoder",
    "bad_words_ids",
    "decoder_start_token_id",
    "num_return_sequences",
    "chunk_size_feed_forward",
    "id2label",
    "label2id",
    "problem_type",
    "tokenizer_class",
    "prefix",
    "sep_token_id",
    "task_specific_params",
    "finetuning_task",
    "unk_token_id",
];

/// RoPE frequency scaling.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum RopeScaling {
    /// Positions divided by `factor` (ToolLLaMA-2-7b-v2: factor 2).
    Linear {
        /// Divisor of positions (> 0).
        factor: f64,
    },
    /// Llama-3.1 frequency-dependent scaling (transformers `_compute_llama3_parameters`).
    Llama3 {
        /// Scale of low frequencies.
        factor: f64,
        /// Wavelength threshold divisor for low frequencies.
        low_freq_factor: f64,
        /// Wavelength threshold divisor for high frequencies.
        high_freq_factor: f64,
        /// Context the base model was trained for.
        original_max_position_embeddings: i64,
    },
}

/// Storage dtype of a checkpoint (`torch_dtype`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CheckpointDtype {
    /// `float32`.
    Float32,
    /// `float16`.
    Float16,
    /// `bfloat16`.
    Bfloat16,
}

impl CheckpointDtype {
    /// The libtorch kind.
    pub fn kind(self) -> tch::Kind {
        match self {
            CheckpointDtype::Float32 => tch::Kind::Float,
            CheckpointDtype::Float16 => tch::Kind::Half,
            CheckpointDtype::Bfloat16 => tch::Kind::BFloat16,
        }
    }
}

/// Validated runtime configuration of a decoder-only model.
///
/// Private fields: built only by [`RawConfig::into_config`] (or the tiny configs of
/// `test-utils`), so every size is positive and the heads divide evenly.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ModelConfig {
    pub(crate) model_type: ModelType,
    pub(crate) hidden_size: i64,
    pub(crate) intermediate_size: i64,
    pub(crate) num_layers: i64,
    pub(crate) num_heads: i64,
    pub(crate) num_kv_heads: i64,
    pub(crate) head_dim: i64,
    pub(crate) vocab_size: i64,
    pub(crate) rms_norm_eps: f64,
    pub(crate) rope_theta: f64,
    pub(crate) rope_scaling: Option<RopeScaling>,
    pub(crate) qkv_bias: bool,
    pub(crate) o_bias: bool,
    pub(crate) mlp_bias: bool,
    pub(crate) tie_word_embeddings: bool,
    pub(crate) torch_dtype: Option<CheckpointDtype>,
    pub(crate) max_position_embeddings: Option<i64>,
    pub(crate) bos_token_id: Option<i64>,
    pub(crate) eos_token_ids: Vec<i64>,
    pub(crate) pad_token_id: Option<i64>,
}

impl ModelConfig {
    /// Model family.
    pub fn model_type(&self) -> ModelType {
        self.model_type
    }
    /// Width of the residual stream.
    pub fn hidden_size(&self) -> i64 {
        self.hidden_size
    }
    /// Width of the MLP.
    pub fn intermediate_size(&self) -> i64 {
        self.intermediate_size
    }
    /// Number of decoder layers.
    pub fn num_layers(&self) -> i64 {
        self.num_layers
    }
    /// Number of query heads.
    pub fn num_heads(&self) -> i64 {
        self.num_heads
    }
    /// Number of key/value heads (divides `num_heads`).
    pub fn num_kv_heads(&self) -> i64 {
        self.num_kv_heads
    }
    /// Width of one head.
    pub fn head_dim(&self) -> i64 {
        self.head_dim
    }
    /// Vocabulary size.
    pub fn vocab_size(&self) -> i64 {
        self.vocab_size
    }
    /// RMSNorm epsilon.
    pub fn rms_norm_eps(&self) -> f64 {
        self.rms_norm_eps
    }
    /// RoPE base.
    pub fn rope_theta(&self) -> f64 {
        self.rope_theta
    }
    /// RoPE scaling, if any.
    pub fn rope_scaling(&self) -> Option<RopeScaling> {
        self.rope_scaling
    }
    /// Whether q, k and v projections have a bias.
    pub fn qkv_bias(&self) -> bool {
        self.qkv_bias
    }
    /// Whether the output projection has a bias.
    pub fn o_bias(&self) -> bool {
        self.o_bias
    }
    /// Whether the MLP projections have a bias.
    pub fn mlp_bias(&self) -> bool {
        self.mlp_bias
    }
    /// Whether the LM head is the token embedding.
    pub fn tie_word_embeddings(&self) -> bool {
        self.tie_word_embeddings
    }
    /// Dtype the checkpoint was saved in, if the config says.
    pub fn torch_dtype(&self) -> Option<CheckpointDtype> {
        self.torch_dtype
    }
    /// Context length the model was trained for, if the config says.
    pub fn max_position_embeddings(&self) -> Option<i64> {
        self.max_position_embeddings
    }
    /// Beginning-of-sequence id.
    pub fn bos_token_id(&self) -> Option<i64> {
        self.bos_token_id
    }
    /// End-of-sequence ids (generation stops on any of them).
    pub fn eos_token_ids(&self) -> &[i64] {
        &self.eos_token_ids
    }
    /// Padding id.
    pub fn pad_token_id(&self) -> Option<i64> {
        self.pad_token_id
    }

    /// Reads and validates `config.json`.
    pub fn from_file(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|source| Error::Io {
            path: path.to_path_buf(),
            source,
        })?;
        let raw: RawConfig = serde_json::from_str(&text).map_err(|source| Error::Json {
            path: path.to_path_buf(),
            source,
        })?;
        raw.into_config().map_err(|e| match e {
            Error::Config { field, message, .. } => Error::Config {
                file: Some(path.to_path_buf()),
                field,
                message,
            },
            other => other,
        })
    }

    /// The raw HF form of this config (what [`crate::Model::export_merged`] writes).
    pub fn to_raw(&self) -> RawConfig {
        let rope_scaling = self.rope_scaling.map(|r| match r {
            RopeScaling::Linear { factor } => {
                serde_json::json!({"type": "linear", "rope_type": "linear", "factor": factor})
            }
            RopeScaling::Llama3 {
                factor,
                low_freq_factor,
                high_freq_factor,
                original_max_position_embeddings,
            } => serde_json::json!({
                "rope_type": "llama3",
                "factor": factor,
                "low_freq_factor": low_freq_factor,
                "high_freq_factor": high_freq_factor,
                "original_max_position_embeddings": original_max_position_embeddings,
            }),
        });
        let (mt, arch) = match self.model_type {
            ModelType::Llama => ("llama", "LlamaForCausalLM"),
            ModelType::Qwen2 => ("qwen2", "Qwen2ForCausalLM"),
        };
        let mut other = BTreeMap::new();
        other.insert("architectures".to_string(), serde_json::json!([arch]));
        RawConfig {
            model_type: Some(mt.to_string()),
            hidden_size: Some(self.hidden_size),
            intermediate_size: Some(self.intermediate_size),
            num_hidden_layers: Some(self.num_layers),
            num_attention_heads: Some(self.num_heads),
            num_key_value_heads: Some(self.num_kv_heads),
            head_dim: Some(self.head_dim),
            vocab_size: Some(self.vocab_size),
            rms_norm_eps: Some(self.rms_norm_eps),
            rope_theta: Some(self.rope_theta),
            rope_scaling,
            attention_bias: match self.model_type {
                ModelType::Llama => Some(self.qkv_bias),
                ModelType::Qwen2 => None,
            },
            mlp_bias: match self.model_type {
                ModelType::Llama => Some(self.mlp_bias),
                ModelType::Qwen2 => None,
            },
            tie_word_embeddings: Some(self.tie_word_embeddings),
            torch_dtype: self.torch_dtype.map(|d| {
                match d {
                    CheckpointDtype::Float32 => "float32",
                    CheckpointDtype::Float16 => "float16",
                    CheckpointDtype::Bfloat16 => "bfloat16",
                }
                .to_string()
            }),
            hidden_act: Some("silu".to_string()),
            attention_dropout: Some(0.0),
            max_position_embeddings: self.max_position_embeddings,
            pretraining_tp: None,
            use_sliding_window: match self.model_type {
                ModelType::Llama => None,
                ModelType::Qwen2 => Some(false),
            },
            bos_token_id: self.bos_token_id.map(IntOrList::One),
            eos_token_id: match self.eos_token_ids.as_slice() {
                [] => None,
                [one] => Some(IntOrList::One(*one)),
                many => Some(IntOrList::Many(many.to_vec())),
            },
            pad_token_id: self.pad_token_id.map(IntOrList::One),
            other,
        }
    }
}

fn cfg_err(field: &str, message: impl Into<String>) -> Error {
    Error::Config {
        file: None,
        field: field.to_string(),
        message: message.into(),
    }
}

fn required(field: &str, v: Option<i64>) -> Result<i64> {
    match v {
        Some(x) if x > 0 => Ok(x),
        Some(x) => Err(cfg_err(field, format!("must be positive, got {x}"))),
        None => Err(cfg_err(field, "missing")),
    }
}

fn single_id(field: &str, v: &Option<IntOrList>) -> Result<Option<i64>> {
    match v {
        None => Ok(None),
        Some(IntOrList::One(x)) => Ok(Some(*x)),
        Some(IntOrList::Many(list)) if list.len() == 1 => Ok(Some(list[0])),
        Some(IntOrList::Many(list)) if list.is_empty() => Ok(None),
        Some(IntOrList::Many(list)) => Err(cfg_err(
            field,
            format!("expected one id, got the list {list:?}"),
        )),
    }
}

fn parse_rope_scaling(v: &Value) -> Result<Option<RopeScaling>> {
    const F: &str = "rope_scaling";
    let obj = match v {
        Value::Null => return Ok(None),
        Value::Object(o) => o,
        other => {
            return Err(cfg_err(
                F,
                format!("expected an object or null, got {other}"),
            ))
        }
    };
    let kind = obj
        .get("rope_type")
        .or_else(|| obj.get("type"))
        .and_then(Value::as_str)
        .ok_or_else(|| cfg_err(F, "has neither `rope_type` nor `type`"))?;
    let num = |name: &str| -> Result<f64> {
        obj.get(name)
            .and_then(Value::as_f64)
            .ok_or_else(|| cfg_err(&format!("{F}.{name}"), "missing or not a number"))
    };
    let known: &[&str] = match kind {
        "linear" => &["type", "rope_type", "factor"],
        "llama3" => &[
            "type",
            "rope_type",
            "factor",
            "low_freq_factor",
            "high_freq_factor",
            "original_max_position_embeddings",
        ],
        other => {
            return Err(cfg_err(
                F,
                format!("rope scaling type `{other}` is not supported (supported: linear, llama3)"),
            ))
        }
    };
    if let Some(extra) = obj.keys().find(|k| !known.contains(&k.as_str())) {
        return Err(cfg_err(
            &format!("{F}.{extra}"),
            format!("unknown field for rope type `{kind}`"),
        ));
    }
    if let (Some(a), Some(b)) = (obj.get("type"), obj.get("rope_type")) {
        if a != b {
            return Err(cfg_err(
                F,
                format!("`type` {a} and `rope_type` {b} disagree"),
            ));
        }
    }
    let factor = num("factor")?;
    if !(factor.is_finite() && factor > 0.0) {
        return Err(cfg_err(
            &format!("{F}.factor"),
            format!("must be positive, got {factor}"),
        ));
    }
    Ok(Some(match kind {
        "linear" => RopeScaling::Linear { factor },
        _ => {
            let low = num("low_freq_factor")?;
            let high = num("high_freq_factor")?;
            let orig = num("original_max_position_embeddings")?;
            if !(low > 0.0 && high > low) {
                return Err(cfg_err(
                    F,
                    format!("need 0 < low_freq_factor < high_freq_factor, got {low} and {high}"),
                ));
            }
            if !(orig >= 1.0 && orig.fract() == 0.0) {
                return Err(cfg_err(
                    &format!("{F}.original_max_position_embeddings"),
                    format!("must be a positive integer, got {orig}"),
                ));
            }
            RopeScaling::Llama3 {
                factor,
                low_freq_factor: low,
                high_freq_factor: high,
                original_max_position_embeddings: orig as i64,
            }
        }
    }))
}

impl RawConfig {
    /// Validates the raw config and fills in the defaults of its model type.
    ///
    /// Errors ([`Error::Config`], naming the field): a missing or non-positive size, heads that
    /// do not divide, an unknown `model_type`, an activation other than `silu`, non-zero attention
    /// dropout, Qwen2 sliding-window attention, a rope scaling type other than `linear`/`llama3`,
    /// an unknown `torch_dtype`, or a field not in [`IGNORED_FIELDS`].
    pub fn into_config(self) -> Result<ModelConfig> {
        let model_type = match self.model_type.as_deref() {
            Some("llama") => ModelType::Llama,
            Some("qwen2") => ModelType::Qwen2,
            Some(other) => {
                return Err(cfg_err(
                    "model_type",
                    format!("`{other}` is not supported (supported: llama, qwen2)"),
                ))
            }
            None => return Err(cfg_err("model_type", "missing")),
        };
        if let Some(field) = self
            .other
            .keys()
            .find(|k| !IGNORED_FIELDS.contains(&k.as_str()))
        {
            return Err(cfg_err(
                field,
                "unknown config field (it may change the model; not supported)",
            ));
        }
        let hidden_size = required("hidden_size", self.hidden_size)?;
        let intermediate_size = required("intermediate_size", self.intermediate_size)?;
        let num_layers = required("num_hidden_layers", self.num_hidden_layers)?;
        let num_heads = required("num_attention_heads", self.num_attention_heads)?;
        let num_kv_heads = required(
            "num_key_value_heads",
            Some(self.num_key_value_heads.unwrap_or(num_heads)),
        )?;
        if num_heads % num_kv_heads != 0 {
            return Err(cfg_err(
                "num_key_value_heads",
                format!("{num_kv_heads} does not divide num_attention_heads {num_heads}"),
            ));
        }
        let head_dim = match self.head_dim {
            Some(d) => required("head_dim", Some(d))?,
            None => {
                if hidden_size % num_heads != 0 {
                    return Err(cfg_err(
                        "hidden_size",
                        format!(
                            "{hidden_size} is not divisible by num_attention_heads {num_heads}"
                        ),
                    ));
                }
                hidden_size / num_heads
            }
        };
        if head_dim % 2 != 0 {
            return Err(cfg_err(
                "head_dim",
                format!("must be even for RoPE, got {head_dim}"),
            ));
        }
        let vocab_size = required("vocab_size", self.vocab_size)?;
        let rms_norm_eps = self.rms_norm_eps.unwrap_or(1e-6);
        if !(rms_norm_eps.is_finite() && rms_norm_eps > 0.0) {
            return Err(cfg_err(
                "rms_norm_eps",
                format!("must be positive, got {rms_norm_eps}"),
            ));
        }
        let rope_theta = self.rope_theta.unwrap_or(10000.0);
        if !(rope_theta.is_finite() && rope_theta > 0.0) {
            return Err(cfg_err(
                "rope_theta",
                format!("must be positive, got {rope_theta}"),
            ));
        }
        let rope_scaling = match &self.rope_scaling {
            None => None,
            Some(v) => parse_rope_scaling(v)?,
        };
        match self.hidden_act.as_deref() {
            None | Some("silu") => {}
            Some(other) => {
                return Err(cfg_err(
                    "hidden_act",
                    format!("`{other}` is not supported (only silu)"),
                ))
            }
        }
        if let Some(p) = self.attention_dropout {
            if p != 0.0 {
                return Err(cfg_err(
                    "attention_dropout",
                    format!("only 0 is supported, got {p}"),
                ));
            }
        }
        if self.use_sliding_window == Some(true) {
            return Err(cfg_err(
                "use_sliding_window",
                "sliding-window attention is not supported",
            ));
        }
        if let Some(tp) = self.pretraining_tp {
            if tp < 1 {
                return Err(cfg_err("pretraining_tp", format!("must be >= 1, got {tp}")));
            }
        }
        let (qkv_bias, o_bias, mlp_bias) = match model_type {
            ModelType::Llama => {
                let ab = self.attention_bias.unwrap_or(false);
                (ab, ab, self.mlp_bias.unwrap_or(false))
            }
            ModelType::Qwen2 => {
                if let Some(true) = self.attention_bias {
                    return Err(cfg_err("attention_bias", "qwen2 has no o_proj bias"));
                }
                if let Some(true) = self.mlp_bias {
                    return Err(cfg_err("mlp_bias", "qwen2 has no MLP bias"));
                }
                (true, false, false)
            }
        };
        let torch_dtype = match self.torch_dtype.as_deref() {
            None => None,
            Some("float32") => Some(CheckpointDtype::Float32),
            Some("float16") => Some(CheckpointDtype::Float16),
            Some("bfloat16") => Some(CheckpointDtype::Bfloat16),
            Some(other) => {
                return Err(cfg_err(
                    "torch_dtype",
                    format!("`{other}` is not supported (float32, float16, bfloat16)"),
                ))
            }
        };
        Ok(ModelConfig {
            model_type,
            hidden_size,
            intermediate_size,
            num_layers,
            num_heads,
            num_kv_heads,
            head_dim,
            vocab_size,
            rms_norm_eps,
            rope_theta,
            rope_scaling,
            qkv_bias,
            o_bias,
            mlp_bias,
            tie_word_embeddings: self.tie_word_embeddings.unwrap_or(false),
            torch_dtype,
            max_position_embeddings: self.max_position_embeddings,
            bos_token_id: single_id("bos_token_id", &self.bos_token_id)?,
            eos_token_ids: self
                .eos_token_id
                .as_ref()
                .map(IntOrList::to_vec)
                .unwrap_or_default(),
            pad_token_id: single_id("pad_token_id", &self.pad_token_id)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    type TestResult = std::result::Result<(), Box<dyn std::error::Error>>;

    fn parse(json: &str) -> Result<ModelConfig> {
        let raw: RawConfig = serde_json::from_str(json).map_err(|source| Error::Json {
            path: "inline".into(),
            source,
        })?;
        raw.into_config()
    }

    const LLAMA: &str = r#"{"model_type":"llama","hidden_size":64,"intermediate_size":128,
        "num_hidden_layers":2,"num_attention_heads":4,"num_key_value_heads":2,"vocab_size":100,
        "rms_norm_eps":1e-5,"rope_scaling":{"factor":2.0,"type":"linear"},
        "eos_token_id":[2,7],"bos_token_id":1,"architectures":["LlamaForCausalLM"],
        "torch_dtype":"bfloat16"}"#;

    #[test]
    fn llama_defaults_and_fields() -> TestResult {
        let c = parse(LLAMA)?;
        assert_eq!(c.model_type(), ModelType::Llama);
        assert_eq!(c.head_dim(), 16); // 64 / 4
        assert_eq!(c.num_kv_heads(), 2);
        assert_eq!(c.rope_theta(), 10000.0);
        assert_eq!(c.rope_scaling(), Some(RopeScaling::Linear { factor: 2.0 }));
        assert_eq!(c.eos_token_ids(), &[2, 7]);
        assert_eq!(c.torch_dtype(), Some(CheckpointDtype::Bfloat16));
        assert!(!c.qkv_bias() && !c.tie_word_embeddings());
        // Round trip through the raw form gives the same runtime config.
        let back = c.to_raw().into_config()?;
        assert_eq!(back, c);
        Ok(())
    }

    #[test]
    fn qwen2_has_qkv_bias_and_llama3_rope_parses() -> TestResult {
        let c = parse(
            r#"{"model_type":"qwen2","hidden_size":32,"intermediate_size":64,"num_hidden_layers":1,
            "num_attention_heads":4,"num_key_value_heads":1,"vocab_size":50,"use_sliding_window":false,
            "sliding_window":4096,"max_window_layers":28,"tie_word_embeddings":true}"#,
        )?;
        assert!(c.qkv_bias() && !c.o_bias() && c.tie_word_embeddings());
        let l3 = parse(&LLAMA.replace(
            r#"{"factor":2.0,"type":"linear"}"#,
            r#"{"factor":8.0,"low_freq_factor":1.0,"high_freq_factor":4.0,
                "original_max_position_embeddings":8192,"rope_type":"llama3"}"#,
        ))?;
        assert_eq!(
            l3.rope_scaling(),
            Some(RopeScaling::Llama3 {
                factor: 8.0,
                low_freq_factor: 1.0,
                high_freq_factor: 4.0,
                original_max_position_embeddings: 8192
            })
        );
        Ok(())
    }

    #[test]
    fn unsupported_settings_are_errors_naming_the_field() -> TestResult {
        let cases = [
            (
                LLAMA.replace(r#""type":"linear""#, r#""type":"yarn""#),
                "rope_scaling",
            ),
            (
                LLAMA.replace(r#""num_key_value_heads":2"#, r#""num_key_value_heads":3"#),
                "num_key_value_heads",
            ),
            (
                LLAMA.replace(r#""model_type":"llama""#, r#""model_type":"mistral""#),
                "model_type",
            ),
            (
                LLAMA.replace(
                    r#""bos_token_id":1"#,
                    r#""bos_token_id":1,"quantization_config":{}"#,
                ),
                "quantization_config",
            ),
            (
                LLAMA.replace(
                    r#""bos_token_id":1"#,
                    r#""bos_token_id":1,"hidden_act":"gelu""#,
                ),
                "hidden_act",
            ),
            (LLAMA.replace(r#""hidden_size":64,"#, ""), "hidden_size"),
            (
                LLAMA.replace(r#""torch_dtype":"bfloat16""#, r#""torch_dtype":"int8""#),
                "torch_dtype",
            ),
        ];
        for (json, field) in cases {
            match parse(&json) {
                Err(Error::Config { field: f, .. }) => assert_eq!(f, field, "{json}"),
                other => {
                    return Err(format!("expected a config error on {field}, got {other:?}").into())
                }
            }
        }
        Ok(())
    }
}
