//! The decoder-only transformer (LLaMA / Qwen2) with optional LoRA and value head.
//!
//! Layout and names follow transformers' `LlamaForCausalLM` / `Qwen2ForCausalLM` (4.43):
//!
//! ```text
//! model.embed_tokens.weight                 [vocab, hidden]
//! model.layers.{i}.input_layernorm.weight   [hidden]
//! model.layers.{i}.self_attn.{q,k,v,o}_proj.weight (+ .bias: q/k/v for qwen2, all with attention_bias)
//! model.layers.{i}.post_attention_layernorm.weight
//! model.layers.{i}.mlp.{gate,up,down}_proj.weight
//! model.norm.weight                         [hidden]
//! lm_head.weight                            [vocab, hidden] (absent when tied)
//! v_head.summary.weight / .bias             [1, hidden] / [1]  (TRL value head)
//! ```
//!
//! Every tensor lives in one [`tch::nn::VarStore`] under exactly its checkpoint name (paths built
//! one segment at a time), base weights frozen, LoRA and value head trainable, so an optimizer
//! built on the var store trains exactly the adapter and the value head.

use std::path::{Path, PathBuf};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tch::nn::VarStore;
use tch::{Device, Kind, Tensor};

use crate::config::{ModelConfig, RopeScaling};
use crate::lora::{LoraConfig, ADAPTER_CONFIG, ADAPTER_WEIGHTS, PEFT_PREFIX};
use crate::weights::{write_safetensors, write_text, Checkpoint, LoadReport};
use crate::{Error, Result};

/// Name of the value head weight (TRL `AutoModelForCausalLMWithValueHead`).
pub const V_HEAD_WEIGHT: &str = "v_head.summary.weight";
/// Name of the value head bias.
pub const V_HEAD_BIAS: &str = "v_head.summary.bias";

/// Where a model's tensors live and in which precision.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LoadOptions {
    /// Device of every tensor.
    pub device: Device,
    /// Dtype of the frozen base weights and of activations: `Kind::Float` on CPU,
    /// `Kind::BFloat16` on CUDA.
    pub dtype: Kind,
    /// Dtype of trainable tensors (LoRA, value head); default `Kind::Float` so the optimizer
    /// updates full-precision masters while activations run in `dtype`.
    pub trainable_dtype: Kind,
    /// Load a checkpoint that holds weights the config does not use (default `false`: an
    /// error). Such a checkpoint means `config.json` disagrees with the weights (fewer layers
    /// than were saved, tied embeddings over a saved `lm_head`), and the model would compute
    /// with part of them ignored. Derived buffers (`rotary_emb.inv_freq`) are never counted.
    pub allow_unused: bool,
}

impl LoadOptions {
    /// f32 everything on the CPU.
    pub fn cpu() -> Self {
        LoadOptions {
            device: Device::Cpu,
            dtype: Kind::Float,
            trainable_dtype: Kind::Float,
            allow_unused: false,
        }
    }
    /// bf16 base weights and activations on CUDA device `index`, f32 trainable tensors.
    pub fn cuda_bf16(index: usize) -> Self {
        LoadOptions {
            device: Device::Cuda(index),
            dtype: Kind::BFloat16,
            trainable_dtype: Kind::Float,
            allow_unused: false,
        }
    }
}

pub(crate) struct LoraWeights {
    pub(crate) a: Tensor,
    pub(crate) b: Tensor,
    pub(crate) scale: f64,
    pub(crate) dropout: f64,
}

pub(crate) struct Linear {
    pub(crate) name: String,
    pub(crate) weight: Tensor,
    pub(crate) bias: Option<Tensor>,
    pub(crate) lora: Option<LoraWeights>,
}

/// Per-call switches of the forward pass.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Mode {
    pub(crate) adapters: bool,
    pub(crate) train: bool,
}

impl Linear {
    fn forward(&self, x: &Tensor, mode: Mode) -> Result<Tensor> {
        let mut y = x.f_linear(&self.weight, self.bias.as_ref())?;
        if let (Some(l), true) = (&self.lora, mode.adapters) {
            let xin = if mode.train && l.dropout > 0.0 {
                x.f_dropout(l.dropout, true)?
            } else {
                x.shallow_clone()
            };
            let a = l.a.f_to_kind(x.kind())?;
            let b = l.b.f_to_kind(x.kind())?;
            let d = xin
                .f_linear::<&Tensor>(&a, None)?
                .f_linear::<&Tensor>(&b, None)?;
            y = y.f_add(&d.f_mul_scalar(l.scale)?)?;
        }
        Ok(y)
    }
}

pub(crate) struct Layer {
    pub(crate) input_norm: Tensor,
    pub(crate) q: Linear,
    pub(crate) k: Linear,
    pub(crate) v: Linear,
    pub(crate) o: Linear,
    pub(crate) post_norm: Tensor,
    pub(crate) gate: Linear,
    pub(crate) up: Linear,
    pub(crate) down: Linear,
}

impl Layer {
    fn linears(&self) -> [&Linear; 7] {
        [
            &self.q, &self.k, &self.v, &self.o, &self.gate, &self.up, &self.down,
        ]
    }
    fn linears_mut(&mut self) -> [&mut Linear; 7] {
        [
            &mut self.q,
            &mut self.k,
            &mut self.v,
            &mut self.o,
            &mut self.gate,
            &mut self.up,
            &mut self.down,
        ]
    }
}

/// Rotary tables for one forward call.
pub(crate) struct Rope {
    pub(crate) cos: Tensor,
    pub(crate) sin: Tensor,
}

/// Keys and values of every layer for the positions seen so far (generation).
///
/// # Shapes
/// Per layer, keys and values are `[batch, kv_heads, cached_len, head_dim]` (after RoPE).
pub struct KvCache {
    pub(crate) layers: Vec<Option<(Tensor, Tensor)>>,
}

impl KvCache {
    /// An empty cache for a model with `num_layers` layers.
    pub fn new(num_layers: usize) -> Self {
        KvCache {
            layers: (0..num_layers).map(|_| None).collect(),
        }
    }
    /// Number of cached positions.
    pub fn len(&self) -> i64 {
        match self.layers.first() {
            Some(Some((k, _))) => k.size()[2],
            _ => 0,
        }
    }
    /// Whether nothing is cached yet.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Saved inputs of every layer for activation checkpointing (see [`crate::Model::backward`]).
pub struct CheckpointTape {
    pub(crate) inputs: Vec<Tensor>,
    pub(crate) last: Tensor,
    pub(crate) rope: Rope,
    pub(crate) mask: Tensor,
    pub(crate) mode: Mode,
    pub(crate) seeds: Vec<i64>,
}

impl std::fmt::Debug for CheckpointTape {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CheckpointTape")
            .field("layers", &self.inputs.len())
            .finish()
    }
}

/// A LLaMA-family decoder with optional LoRA adapters and a value head.
pub struct Model {
    pub(crate) config: ModelConfig,
    pub(crate) vs: VarStore,
    pub(crate) opts: LoadOptions,
    pub(crate) embed: Tensor,
    pub(crate) layers: Vec<Layer>,
    pub(crate) norm: Tensor,
    pub(crate) lm_head: Tensor,
    pub(crate) value_head: Option<(Tensor, Tensor)>,
    pub(crate) inv_freq: Tensor,
    pub(crate) lora: Option<LoraConfig>,
    pub(crate) source: Option<PathBuf>,
}

impl std::fmt::Debug for Model {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Model")
            .field("config", &self.config)
            .field("opts", &self.opts)
            .field("lora", &self.lora)
            .field("value_head", &self.value_head.is_some())
            .finish()
    }
}

/// Where the base tensors come from while a model is built.
pub(crate) trait TensorSource {
    /// The tensor `name` of shape `shape`, or `Ok(None)` when absent.
    fn get(
        &mut self,
        name: &str,
        shape: &[i64],
        kind: Kind,
        device: Device,
    ) -> Result<Option<Tensor>>;
    /// Where tensors come from, for error messages.
    fn location(&self) -> String;
}

pub(crate) struct CheckpointSource<'a> {
    pub(crate) ckpt: &'a Checkpoint,
    pub(crate) used: Vec<String>,
}

impl TensorSource for CheckpointSource<'_> {
    fn get(
        &mut self,
        name: &str,
        shape: &[i64],
        kind: Kind,
        device: Device,
    ) -> Result<Option<Tensor>> {
        if !self.ckpt.contains(name) {
            return Ok(None);
        }
        let t = self.ckpt.tensor(name, shape, kind, device)?;
        self.used.push(name.to_string());
        Ok(Some(t))
    }
    fn location(&self) -> String {
        self.ckpt.location().to_string()
    }
}

/// Random normal weights (std 0.02 like transformers' init; norms at 1), for tiny test models.
pub(crate) struct RandomSource;

impl TensorSource for RandomSource {
    fn get(
        &mut self,
        name: &str,
        shape: &[i64],
        kind: Kind,
        device: Device,
    ) -> Result<Option<Tensor>> {
        let t = if name.ends_with("norm.weight") {
            Tensor::f_ones(shape, (kind, device))?
        } else if name.ends_with(".bias") {
            Tensor::f_zeros(shape, (kind, device))?
        } else {
            Tensor::f_randn(shape, (Kind::Float, device))?
                .f_mul_scalar(0.02)?
                .f_to_kind(kind)?
        };
        Ok(Some(t))
    }
    fn location(&self) -> String {
        "random init".to_string()
    }
}

fn path_segments(name: &str) -> (Vec<&str>, &str) {
    let mut parts: Vec<&str> = name.split('.').collect();
    let leaf = parts.pop().unwrap_or(name);
    (parts, leaf)
}

/// Adds `tensor` to the var store under the dotted `name`, one path segment at a time.
pub(crate) fn add_var(vs: &VarStore, name: &str, tensor: Tensor, trainable: bool) -> Tensor {
    let (segs, leaf) = path_segments(name);
    let mut p = vs.root();
    for s in segs {
        p = p.sub(s);
    }
    p.add(leaf, tensor, trainable)
}

/// A tensor of `shape` uniform in `[-bound, bound)`, drawn from a local seeded generator (not
/// libtorch's global one, which other threads may be using).
pub(crate) fn uniform(
    shape: &[i64],
    bound: f64,
    rng: &mut StdRng,
    opt: (Kind, Device),
) -> Result<Tensor> {
    let n: i64 = shape.iter().product();
    let vals: Vec<f32> = (0..n)
        .map(|_| rng.gen_range(-bound..bound) as f32)
        .collect();
    Ok(Tensor::f_from_slice(&vals)?
        .f_view(shape)?
        .f_to_kind(opt.0)?
        .f_to_device(opt.1)?)
}

pub(crate) fn inv_freq(config: &ModelConfig) -> Vec<f32> {
    let dim = config.head_dim as usize;
    let base = config.rope_theta as f32;
    let mut inv: Vec<f32> = (0..dim / 2)
        .map(|i| 1.0 / base.powf((2 * i) as f32 / dim as f32))
        .collect();
    match config.rope_scaling {
        None => {}
        Some(RopeScaling::Linear { factor }) => {
            for f in &mut inv {
                *f /= factor as f32;
            }
        }
        Some(RopeScaling::Llama3 {
            factor,
            low_freq_factor,
            high_freq_factor,
            original_max_position_embeddings,
        }) => {
            // transformers `_compute_llama3_parameters`.
            let (factor, low, high) = (
                factor as f32,
                low_freq_factor as f32,
                high_freq_factor as f32,
            );
            let old = original_max_position_embeddings as f32;
            let low_wavelen = old / low;
            let high_wavelen = old / high;
            for f in &mut inv {
                let wavelen = 2.0 * std::f32::consts::PI / *f;
                let scaled = if wavelen > low_wavelen {
                    *f / factor
                } else {
                    *f
                };
                let smooth = (old / wavelen - low) / (high - low);
                let smoothed = (1.0 - smooth) * scaled / factor + smooth * scaled;
                let medium = (high_wavelen..=low_wavelen).contains(&wavelen);
                *f = if medium { smoothed } else { scaled };
            }
        }
    }
    inv
}

fn rms_norm(x: &Tensor, weight: &Tensor, eps: f64) -> Result<Tensor> {
    let kind = x.kind();
    let xf = x.f_to_kind(Kind::Float)?;
    let var = xf
        .f_pow_tensor_scalar(2)?
        .f_mean_dim(-1, true, Kind::Float)?;
    let y = xf.f_mul(&var.f_add_scalar(eps)?.f_rsqrt()?)?;
    Ok(weight.f_mul(&y.f_to_kind(kind)?)?)
}

fn rotate_half(x: &Tensor) -> Result<Tensor> {
    let half = x.size()[3] / 2;
    let x1 = x.f_narrow(3, 0, half)?;
    let x2 = x.f_narrow(3, half, half)?;
    Ok(Tensor::f_cat(&[x2.f_neg()?, x1], 3)?)
}

fn apply_rope(x: &Tensor, rope: &Rope) -> Result<Tensor> {
    Ok(x.f_mul(&rope.cos)?
        .f_add(&rotate_half(x)?.f_mul(&rope.sin)?)?)
}

impl Layer {
    /// One decoder layer.
    ///
    /// # Shapes
    /// `h: [b, t, hidden]`, `mask: [b, 1, t, past + t]` (bool), returns `[b, t, hidden]`.
    pub(crate) fn forward(
        &self,
        h: &Tensor,
        rope: &Rope,
        mask: &Tensor,
        cfg: &ModelConfig,
        mode: Mode,
        cache: Option<&mut Option<(Tensor, Tensor)>>,
    ) -> Result<Tensor> {
        let (b, t) = (h.size()[0], h.size()[1]);
        let (nh, nkv, hd) = (cfg.num_heads, cfg.num_kv_heads, cfg.head_dim);
        let x = rms_norm(h, &self.input_norm, cfg.rms_norm_eps)?;
        let q = self
            .q
            .forward(&x, mode)?
            .f_view([b, t, nh, hd])?
            .f_transpose(1, 2)?;
        let k = self
            .k
            .forward(&x, mode)?
            .f_view([b, t, nkv, hd])?
            .f_transpose(1, 2)?;
        let v = self
            .v
            .forward(&x, mode)?
            .f_view([b, t, nkv, hd])?
            .f_transpose(1, 2)?;
        let q = apply_rope(&q, rope)?;
        let mut k = apply_rope(&k, rope)?;
        let mut v = v;
        if let Some(slot) = cache {
            if let Some((pk, pv)) = slot.as_ref() {
                k = Tensor::f_cat(&[pk, &k], 2)?;
                v = Tensor::f_cat(&[pv, &v], 2)?;
            }
            *slot = Some((k.shallow_clone(), v.shallow_clone()));
        }
        let rep = nh / nkv;
        let (k, v) = if rep > 1 {
            let l = k.size()[2];
            let expand = |x: &Tensor| -> Result<Tensor> {
                Ok(x.f_unsqueeze(2)?
                    .f_expand([b, nkv, rep, l, hd], false)?
                    .f_reshape([b, nh, l, hd])?)
            };
            (expand(&k)?, expand(&v)?)
        } else {
            (k, v)
        };
        let attn = Tensor::f_scaled_dot_product_attention(
            &q,
            &k,
            &v,
            Some(mask),
            0.0,
            false,
            None::<f64>,
            false,
        )?;
        let attn = attn.f_transpose(1, 2)?.f_reshape([b, t, nh * hd])?;
        let h = h.f_add(&self.o.forward(&attn, mode)?)?;
        let x = rms_norm(&h, &self.post_norm, cfg.rms_norm_eps)?;
        let g = self.gate.forward(&x, mode)?.f_silu()?;
        let u = self.up.forward(&x, mode)?;
        let m = self.down.forward(&g.f_mul(&u)?, mode)?;
        Ok(h.f_add(&m)?)
    }
}

impl Model {
    /// Loads `config.json` and the safetensors weights of `dir`.
    ///
    /// A value head is taken from the checkpoint when it holds `v_head.summary.*` (TRL saves it
    /// there); otherwise the model has none until [`Model::load_value_head`] or
    /// [`Model::init_value_head`].
    pub fn from_pretrained(dir: &Path, opts: LoadOptions) -> Result<(Self, LoadReport)> {
        let config = ModelConfig::from_file(&dir.join("config.json"))?;
        let ckpt = Checkpoint::open_dir(dir)?;
        let (mut model, report) = Self::from_checkpoint(config, &ckpt, opts)?;
        model.source = Some(dir.to_path_buf());
        Ok((model, report))
    }

    /// Builds the model from an open checkpoint.
    pub fn from_checkpoint(
        config: ModelConfig,
        ckpt: &Checkpoint,
        opts: LoadOptions,
    ) -> Result<(Self, LoadReport)> {
        let mut src = CheckpointSource {
            ckpt,
            used: Vec::new(),
        };
        let (mut model, missing_optional) = Self::build(config, &mut src, opts)?;
        if ckpt.contains(V_HEAD_WEIGHT) {
            let h = model.config.hidden_size;
            let w = ckpt.tensor(V_HEAD_WEIGHT, &[1, h], opts.trainable_dtype, opts.device)?;
            let b = ckpt.tensor(V_HEAD_BIAS, &[1], opts.trainable_dtype, opts.device)?;
            src.used.push(V_HEAD_WEIGHT.to_string());
            src.used.push(V_HEAD_BIAS.to_string());
            model.set_value_head(w, b);
        }
        let used: std::collections::BTreeSet<&str> = src.used.iter().map(String::as_str).collect();
        let unused: Vec<String> = ckpt
            .names()
            .filter(|n| !used.contains(n))
            .map(str::to_string)
            .collect();
        let weights: Vec<String> = unused
            .iter()
            .filter(|n| !n.ends_with("rotary_emb.inv_freq"))
            .cloned()
            .collect();
        if !weights.is_empty() && !opts.allow_unused {
            return Err(Error::UnusedTensors {
                location: ckpt.location().to_owned(),
                names: weights,
            });
        }
        Ok((
            model,
            LoadReport {
                loaded: src.used.clone(),
                unused,
                missing_optional,
            },
        ))
    }

    /// A model with random weights (normal, std 0.02, norms 1, biases 0, as transformers
    /// initialises), drawn from libtorch's global generator (`tch::manual_seed`), for tests and
    /// benches.
    pub fn random(config: ModelConfig, opts: LoadOptions) -> Result<Self> {
        Ok(Self::build(config, &mut RandomSource, opts)?.0)
    }

    pub(crate) fn build(
        config: ModelConfig,
        src: &mut dyn TensorSource,
        opts: LoadOptions,
    ) -> Result<(Self, Vec<String>)> {
        let _guard = tch::no_grad_guard();
        let vs = VarStore::new(opts.device);
        let (h, i, v) = (
            config.hidden_size,
            config.intermediate_size,
            config.vocab_size,
        );
        let qd = config.num_heads * config.head_dim;
        let kvd = config.num_kv_heads * config.head_dim;
        let location = src.location();
        let mut fetch = |name: String, shape: &[i64]| -> Result<Tensor> {
            match src.get(&name, shape, opts.dtype, opts.device)? {
                Some(t) => Ok(add_var(&vs, &name, t, false)),
                None => Err(Error::MissingTensor {
                    name,
                    location: location.clone(),
                }),
            }
        };
        let embed = fetch("model.embed_tokens.weight".into(), &[v, h])?;
        let mut layers = Vec::with_capacity(config.num_layers as usize);
        for li in 0..config.num_layers {
            let p = format!("model.layers.{li}");
            let mut lin = |sub: &str, out: i64, inp: i64, bias: bool| -> Result<Linear> {
                let name = format!("{p}.{sub}");
                let weight = fetch(format!("{name}.weight"), &[out, inp])?;
                let bias = if bias {
                    Some(fetch(format!("{name}.bias"), &[out])?)
                } else {
                    None
                };
                Ok(Linear {
                    name,
                    weight,
                    bias,
                    lora: None,
                })
            };
            let q = lin("self_attn.q_proj", qd, h, config.qkv_bias)?;
            let k = lin("self_attn.k_proj", kvd, h, config.qkv_bias)?;
            let vv = lin("self_attn.v_proj", kvd, h, config.qkv_bias)?;
            let o = lin("self_attn.o_proj", h, qd, config.o_bias)?;
            let gate = lin("mlp.gate_proj", i, h, config.mlp_bias)?;
            let up = lin("mlp.up_proj", i, h, config.mlp_bias)?;
            let down = lin("mlp.down_proj", h, i, config.mlp_bias)?;
            let input_norm = fetch(format!("{p}.input_layernorm.weight"), &[h])?;
            let post_norm = fetch(format!("{p}.post_attention_layernorm.weight"), &[h])?;
            layers.push(Layer {
                input_norm,
                q,
                k,
                v: vv,
                o,
                post_norm,
                gate,
                up,
                down,
            });
        }
        let norm = fetch("model.norm.weight".into(), &[h])?;
        let mut missing_optional = Vec::new();
        let lm_head = if config.tie_word_embeddings {
            missing_optional.push("lm_head.weight".to_string());
            embed.shallow_clone()
        } else {
            fetch("lm_head.weight".into(), &[v, h])?
        };
        let inv = inv_freq(&config);
        let inv_freq = Tensor::f_from_slice(&inv)?.f_to_device(opts.device)?;
        Ok((
            Model {
                config,
                vs,
                opts,
                embed,
                layers,
                norm,
                lm_head,
                value_head: None,
                inv_freq,
                lora: None,
                source: None,
            },
            missing_optional,
        ))
    }

    /// The validated config.
    pub fn config(&self) -> &ModelConfig {
        &self.config
    }
    /// Device and dtypes.
    pub fn options(&self) -> LoadOptions {
        self.opts
    }
    /// The var store holding every tensor under its checkpoint name; its trainable variables are
    /// the LoRA matrices and the value head.
    pub fn var_store(&self) -> &VarStore {
        &self.vs
    }
    /// The trainable tensors (LoRA A/B, value head).
    pub fn trainable_variables(&self) -> Vec<Tensor> {
        self.vs.trainable_variables()
    }
    /// The LoRA config, when adapters are attached.
    pub fn lora_config(&self) -> Option<&LoraConfig> {
        self.lora.as_ref()
    }
    /// Whether a value head is present.
    pub fn has_value_head(&self) -> bool {
        self.value_head.is_some()
    }

    fn set_value_head(&mut self, w: Tensor, b: Tensor) {
        let w = add_var(&self.vs, V_HEAD_WEIGHT, w, true);
        let b = add_var(&self.vs, V_HEAD_BIAS, b, true);
        self.value_head = Some((w, b));
    }

    /// Adds a freshly initialised value head (`nn.Linear(hidden, 1)` init: uniform in
    /// `±1/sqrt(hidden)`), drawn from a generator seeded with `seed`.
    pub fn init_value_head(&mut self, seed: u64) -> Result<()> {
        if self.value_head.is_some() {
            return Err(Error::Input("the model already has a value head".into()));
        }
        let _g = tch::no_grad_guard();
        let mut rng = StdRng::seed_from_u64(seed);
        let h = self.config.hidden_size;
        let bound = 1.0 / (h as f64).sqrt();
        let opt = (self.opts.trainable_dtype, self.opts.device);
        let w = uniform(&[1, h], bound, &mut rng, opt)?;
        let b = uniform(&[1], bound, &mut rng, opt)?;
        self.set_value_head(w, b);
        Ok(())
    }

    /// Loads the value head from a safetensors file: TRL's full names
    /// (`v_head.summary.weight/bias`) or the names of `v_head.state_dict()`
    /// (`summary.weight/bias`).
    pub fn load_value_head(&mut self, path: &Path) -> Result<()> {
        let ckpt = Checkpoint::open_files(&[path.to_path_buf()])?;
        let h = self.config.hidden_size;
        let _g = tch::no_grad_guard();
        let (wn, bn) = if !ckpt.contains(V_HEAD_WEIGHT) && ckpt.contains("summary.weight") {
            ("summary.weight", "summary.bias")
        } else {
            (V_HEAD_WEIGHT, V_HEAD_BIAS)
        };
        let (kind, dev) = (self.opts.trainable_dtype, self.opts.device);
        let w = ckpt.tensor(wn, &[1, h], kind, dev)?;
        let b = ckpt.tensor(bn, &[1], kind, dev)?;
        if let Some(extra) = ckpt.names().find(|n| *n != wn && *n != bn) {
            return Err(Error::Input(format!(
                "{}: unexpected tensor `{extra}` in a value-head file",
                path.display()
            )));
        }
        match &self.value_head {
            Some((cw, cb)) => {
                let (mut cw, mut cb) = (cw.shallow_clone(), cb.shallow_clone());
                cw.f_copy_(&w)?;
                cb.f_copy_(&b)?;
            }
            None => self.set_value_head(w, b),
        }
        Ok(())
    }

    /// Writes the value head to a safetensors file with TRL's names.
    pub fn save_value_head(&self, path: &Path) -> Result<()> {
        let (w, b) = self
            .value_head
            .as_ref()
            .ok_or_else(|| Error::Input("the model has no value head".into()))?;
        write_safetensors(
            &[
                (V_HEAD_WEIGHT.to_string(), w.shallow_clone()),
                (V_HEAD_BIAS.to_string(), b.shallow_clone()),
            ],
            path,
        )
    }

    /// Attaches fresh LoRA adapters (`A` PEFT-initialised from a generator seeded with `seed`,
    /// `B` zero) to every targeted linear layer. The base stays frozen.
    pub fn attach_lora(&mut self, cfg: LoraConfig, seed: u64) -> Result<()> {
        cfg.validate()?;
        if self.lora.is_some() {
            return Err(Error::Lora("adapters are already attached".into()));
        }
        let _g = tch::no_grad_guard();
        let mut rng = StdRng::seed_from_u64(seed);
        let opt = (self.opts.trainable_dtype, self.opts.device);
        let scale = cfg.scale();
        let vs = &self.vs;
        for layer in &mut self.layers {
            for lin in layer.linears_mut() {
                let leaf = lin.name.rsplit('.').next().unwrap_or("");
                if !cfg.targets(leaf) {
                    continue;
                }
                let (out, inp) = (lin.weight.size()[0], lin.weight.size()[1]);
                let bound = 1.0 / (inp as f64).sqrt();
                let a = uniform(&[cfg.r, inp], bound, &mut rng, opt)?;
                let b = Tensor::f_zeros([out, cfg.r], opt)?;
                let a = add_var(vs, &format!("{}.lora_A.weight", lin.name), a, true);
                let b = add_var(vs, &format!("{}.lora_B.weight", lin.name), b, true);
                lin.lora = Some(LoraWeights {
                    a,
                    b,
                    scale,
                    dropout: cfg.dropout,
                });
            }
        }
        self.lora = Some(cfg);
        Ok(())
    }

    fn lora_tensors(&self) -> Vec<(String, Tensor)> {
        let mut out = Vec::new();
        for layer in &self.layers {
            for lin in layer.linears() {
                if let Some(l) = &lin.lora {
                    out.push((
                        format!("{PEFT_PREFIX}{}.lora_A.weight", lin.name),
                        l.a.shallow_clone(),
                    ));
                    out.push((
                        format!("{PEFT_PREFIX}{}.lora_B.weight", lin.name),
                        l.b.shallow_clone(),
                    ));
                }
            }
        }
        out
    }

    /// Saves the adapters in PEFT format: `dir/adapter_config.json` and
    /// `dir/adapter_model.safetensors` (keys `base_model.model.<path>.lora_{A,B}.weight`).
    pub fn save_adapter(&self, dir: &Path) -> Result<()> {
        let cfg = self
            .lora
            .as_ref()
            .ok_or_else(|| Error::Lora("no adapters attached".into()))?;
        std::fs::create_dir_all(dir).map_err(|source| Error::Io {
            path: dir.to_path_buf(),
            source,
        })?;
        let base = self
            .source
            .as_ref()
            .map(|p| p.display().to_string())
            .unwrap_or_default();
        let json = serde_json::to_string_pretty(&cfg.to_peft_json(&base)).map_err(|source| {
            Error::Json {
                path: dir.join(ADAPTER_CONFIG),
                source,
            }
        })?;
        write_text(&dir.join(ADAPTER_CONFIG), &json)?;
        write_safetensors(&self.lora_tensors(), &dir.join(ADAPTER_WEIGHTS))
    }

    /// Loads a PEFT adapter directory. Attaches adapters with its config when none are attached;
    /// otherwise the configs must agree and the weights are copied in place (resuming training).
    /// Every adapter tensor must be present with the right shape, and the file may hold nothing
    /// else.
    pub fn load_adapter(&mut self, dir: &Path) -> Result<LoadReport> {
        let cfg_path = dir.join(ADAPTER_CONFIG);
        let cfg = LoraConfig::from_peft_file(&cfg_path)?;
        match &self.lora {
            None => self.attach_lora(cfg.clone(), 0)?,
            Some(have) if have == &cfg => {}
            Some(have) => {
                return Err(Error::Lora(format!(
                    "{} has config {cfg:?}, the attached adapters {have:?}",
                    cfg_path.display()
                )))
            }
        }
        let wpath = dir.join(ADAPTER_WEIGHTS);
        let ckpt = Checkpoint::open_files(std::slice::from_ref(&wpath))?;
        let _g = tch::no_grad_guard();
        let mut report = LoadReport::default();
        for (name, t) in self.lora_tensors() {
            // peft 0.5 and later write `lora_A.weight` (no adapter name) under `base_model.model.`.
            let src = ckpt.tensor(&name, &t.size(), t.kind(), t.device())?;
            let mut dst = t;
            dst.f_copy_(&src)?;
            report.loaded.push(name);
        }
        let loaded: std::collections::BTreeSet<&str> =
            report.loaded.iter().map(String::as_str).collect();
        report.unused = ckpt
            .names()
            .filter(|n| !loaded.contains(n))
            .map(str::to_string)
            .collect();
        if let Some(extra) = report.unused.first() {
            return Err(Error::Lora(format!(
                "{} holds tensor `{extra}` that no adapted layer of this model has",
                wpath.display()
            )));
        }
        Ok(report)
    }

    /// Folds the adapters into the base weights (`W += scale * B A`) and removes them; the model
    /// then computes the same function without LoRA.
    pub fn merge_lora(&mut self) -> Result<()> {
        if self.lora.is_none() {
            return Err(Error::Lora("no adapters attached".into()));
        }
        let _g = tch::no_grad_guard();
        for layer in &mut self.layers {
            for lin in layer.linears_mut() {
                if let Some(l) = lin.lora.take() {
                    let delta =
                        l.b.f_matmul(&l.a)?
                            .f_mul_scalar(l.scale)?
                            .f_to_kind(lin.weight.kind())?;
                    let merged = lin.weight.f_add(&delta)?;
                    lin.weight.f_copy_(&merged)?;
                }
            }
        }
        self.lora = None;
        Ok(())
    }

    /// Writes a full HF checkpoint (`config.json` + `model.safetensors`, adapters merged in
    /// when attached, in the model's dtype) that transformers and vLLM load. The model itself is
    /// left unchanged.
    pub fn export_merged(&self, dir: &Path) -> Result<()> {
        std::fs::create_dir_all(dir).map_err(|source| Error::Io {
            path: dir.to_path_buf(),
            source,
        })?;
        let _g = tch::no_grad_guard();
        let mut tensors = self.base_parameters();
        for layer in &self.layers {
            for lin in layer.linears() {
                if let Some(l) = &lin.lora {
                    let name = format!("{}.weight", lin.name);
                    let merged = lin.weight.f_add(
                        &l.b.f_matmul(&l.a)?
                            .f_mul_scalar(l.scale)?
                            .f_to_kind(lin.weight.kind())?,
                    )?;
                    if let Some(slot) = tensors.iter_mut().find(|(n, _)| *n == name) {
                        slot.1 = merged;
                    }
                }
            }
        }
        let mut raw = self.config.to_raw();
        raw.torch_dtype = Some(
            match self.opts.dtype {
                Kind::BFloat16 => "bfloat16",
                Kind::Half => "float16",
                _ => "float32",
            }
            .to_string(),
        );
        let cfg_path = dir.join("config.json");
        let json = serde_json::to_string_pretty(&raw).map_err(|source| Error::Json {
            path: cfg_path.clone(),
            source,
        })?;
        write_text(&cfg_path, &json)?;
        write_safetensors(&tensors, &dir.join(crate::weights::SINGLE_FILE))
    }

    /// The base weights under their checkpoint names (shallow handles: the model's own
    /// tensors, LoRA not merged; `lm_head.weight` only when untied).
    pub fn base_parameters(&self) -> Vec<(String, Tensor)> {
        let mut tensors: Vec<(String, Tensor)> = vec![(
            "model.embed_tokens.weight".into(),
            self.embed.shallow_clone(),
        )];
        for (li, layer) in self.layers.iter().enumerate() {
            let p = format!("model.layers.{li}");
            tensors.push((
                format!("{p}.input_layernorm.weight"),
                layer.input_norm.shallow_clone(),
            ));
            tensors.push((
                format!("{p}.post_attention_layernorm.weight"),
                layer.post_norm.shallow_clone(),
            ));
            for lin in layer.linears() {
                tensors.push((format!("{}.weight", lin.name), lin.weight.shallow_clone()));
                if let Some(b) = &lin.bias {
                    tensors.push((format!("{}.bias", lin.name), b.shallow_clone()));
                }
            }
        }
        tensors.push(("model.norm.weight".into(), self.norm.shallow_clone()));
        if !self.config.tie_word_embeddings {
            tensors.push(("lm_head.weight".into(), self.lm_head.shallow_clone()));
        }
        tensors
    }

    /// Makes the base weights trainable (full fine-tuning) or frozen again; returns them
    /// (see [`Model::base_parameters`]). Full fine-tuning needs f32 base weights.
    pub fn set_base_trainable(&self, trainable: bool) -> Result<Vec<(String, Tensor)>> {
        if trainable && self.opts.dtype != Kind::Float {
            return Err(Error::Input(
                "full fine-tuning needs f32 base weights (load with precision f32)".into(),
            ));
        }
        let params = self.base_parameters();
        for (_, t) in &params {
            let _ = t.f_set_requires_grad(trainable)?;
        }
        Ok(params)
    }

    pub(crate) fn rope(&self, position_ids: &Tensor, kind: Kind) -> Result<Rope> {
        // freqs[b, t, j] = pos[b, t] * inv_freq[j], in f32 as transformers does.
        let pos = position_ids.f_to_kind(Kind::Float)?.f_unsqueeze(-1)?;
        let freqs = pos.f_mul(&self.inv_freq.f_view([1, 1, -1])?)?;
        let emb = Tensor::f_cat(&[&freqs, &freqs], -1)?;
        Ok(Rope {
            cos: emb.f_cos()?.f_to_kind(kind)?.f_unsqueeze(1)?,
            sin: emb.f_sin()?.f_to_kind(kind)?.f_unsqueeze(1)?,
        })
    }

    /// Boolean attention mask `[b, 1, t, past + t]`: key `j` is visible to query `i` when it is
    /// not padding and not in the future; each query always sees itself, so that padding queries
    /// (whose outputs are never used) do not produce NaN.
    pub(crate) fn attention_mask(key_mask: &Tensor, t: i64) -> Result<Tensor> {
        let total = key_mask.size()[1];
        let past = total - t;
        let dev = key_mask.device();
        let kidx = Tensor::f_arange(total, (Kind::Int64, dev))?.f_view([1, total])?;
        let qidx = Tensor::f_arange(t, (Kind::Int64, dev))?
            .f_add_scalar(past)?
            .f_view([t, 1])?;
        let causal = kidx.f_le_tensor(&qidx)?; // [t, total]
        let diag = kidx.f_eq_tensor(&qidx)?;
        let keys = key_mask.f_to_kind(Kind::Bool)?.f_unsqueeze(1)?; // [b, 1, total]
        let m = causal
            .f_unsqueeze(0)?
            .f_logical_and(&keys)?
            .f_logical_or(&diag.f_unsqueeze(0)?)?;
        Ok(m.f_unsqueeze(1)?)
    }

    /// Final hidden states (after the last norm) for every position.
    ///
    /// # Shapes
    /// `input_ids`, `position_ids: [b, t]` (int64); `key_mask: [b, past + t]` (1 = real token,
    /// including the cached positions); returns `[b, t, hidden]` in the model dtype.
    pub(crate) fn hidden_states(
        &self,
        input_ids: &Tensor,
        position_ids: &Tensor,
        key_mask: &Tensor,
        mode: Mode,
        mut cache: Option<&mut KvCache>,
    ) -> Result<Tensor> {
        let t = input_ids.size()[1];
        let mut h = Tensor::f_embedding(&self.embed, input_ids, -1, false, false)?;
        let rope = self.rope(position_ids, h.kind())?;
        let mask = Self::attention_mask(key_mask, t)?;
        for (li, layer) in self.layers.iter().enumerate() {
            let slot = cache.as_deref_mut().map(|c| &mut c.layers[li]);
            h = layer.forward(&h, &rope, &mask, &self.config, mode, slot)?;
        }
        rms_norm(&h, &self.norm, self.config.rms_norm_eps)
    }

    /// Like [`Model::hidden_states`] without a cache, keeping only each layer's input for
    /// recomputation during [`Model::backward`] (activation checkpointing).
    pub(crate) fn hidden_states_checkpointed(
        &self,
        input_ids: &Tensor,
        position_ids: &Tensor,
        key_mask: &Tensor,
        mode: Mode,
    ) -> Result<(Tensor, CheckpointTape)> {
        let t = input_ids.size()[1];
        let seeds: Vec<i64> = (0..self.layers.len())
            .map(|_| rand::random::<u32>() as i64)
            .collect();
        let (inputs, last, rope, mask) = {
            let _g = tch::no_grad_guard();
            let mut h = Tensor::f_embedding(&self.embed, input_ids, -1, false, false)?;
            let rope = self.rope(position_ids, h.kind())?;
            let mask = Self::attention_mask(key_mask, t)?;
            let mut inputs = Vec::with_capacity(self.layers.len());
            for (li, layer) in self.layers.iter().enumerate() {
                inputs.push(h.shallow_clone());
                if mode.train {
                    tch::manual_seed(seeds[li]);
                }
                h = layer.forward(&h, &rope, &mask, &self.config, mode, None)?;
            }
            (inputs, h, rope, mask)
        };
        let last = last.f_detach()?.f_set_requires_grad(true)?;
        let out = rms_norm(&last, &self.norm, self.config.rms_norm_eps)?;
        Ok((
            out,
            CheckpointTape {
                inputs,
                last,
                rope,
                mask,
                mode,
                seeds,
            },
        ))
    }

    /// Backward pass through a checkpointed forward: `loss.backward()` down to the last layer's
    /// output, then each layer (last to first) is recomputed from its saved input with grad and
    /// back-propagated with the incoming gradient (`sum(out * grad)`), accumulating the LoRA
    /// gradients. Dropout masks are reproduced by re-seeding libtorch per layer.
    pub(crate) fn backward_tape(&self, loss: &Tensor, tape: &CheckpointTape) -> Result<()> {
        loss.f_backward()?;
        let mut grad = tape.last.f_grad()?;
        if !grad.defined() {
            return Ok(());
        }
        for li in (0..self.layers.len()).rev() {
            let x = tape.inputs[li].f_detach()?.f_set_requires_grad(li > 0)?;
            if tape.mode.train {
                tch::manual_seed(tape.seeds[li]);
            }
            let out = self.layers[li].forward(
                &x,
                &tape.rope,
                &tape.mask,
                &self.config,
                tape.mode,
                None,
            )?;
            if !out.requires_grad() {
                break;
            }
            out.f_mul(&grad)?.f_sum(out.kind())?.f_backward()?;
            if li > 0 {
                grad = x.f_grad()?;
            }
        }
        Ok(())
    }
}
