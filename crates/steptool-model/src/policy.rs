//! Batched forward passes for training: per-position log-probs of the next token, entropy and
//! values, and the [`PolicyModel`] trait the PPO trainer programs against.
//!
//! Log-probs are computed from the final hidden states in chunks of positions
//! ([`ForwardOptions::chunk_tokens`]): each chunk multiplies by the LM head, takes `logsumexp`
//! and gathers the target logit, so at most `chunk_tokens x vocab` logits exist at a time beyond
//! what autograd keeps for the backward pass (never `batch x len x vocab` log-softmax,
//! softmax and product tensors at once). Entropy is computed in the same chunk without grad.

use std::path::Path;

use tch::{Device, Kind, Tensor};

use crate::generate::{Generation, GenerationConfig, TokenDecoder};
use crate::model::{CheckpointTape, Mode, Model};
use crate::{Error, LoraConfig, ModelConfig, Result};

/// Which side padding goes on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PaddingSide {
    /// Pads before the tokens (what generation uses).
    Left,
    /// Pads after the tokens.
    Right,
}

/// A padded batch of token sequences.
///
/// # Shapes
/// `input_ids`, `attention_mask`: `[batch, len]`, int64; the mask is 1 on real tokens, 0 on
/// padding. Each row's real tokens are contiguous (left or right padding).
#[derive(Debug)]
pub struct Batch {
    input_ids: Tensor,
    attention_mask: Tensor,
}

impl Batch {
    /// Pads `seqs` with `pad_id` on `side` into one batch on `device`.
    pub fn from_sequences(
        seqs: &[Vec<i64>],
        pad_id: i64,
        side: PaddingSide,
        device: Device,
    ) -> Result<Self> {
        if seqs.is_empty() {
            return Err(Error::Input("empty batch".into()));
        }
        if let Some(i) = seqs.iter().position(Vec::is_empty) {
            return Err(Error::Input(format!("sequence {i} is empty")));
        }
        let n = seqs.iter().map(Vec::len).max().unwrap_or(0);
        let mut ids = Vec::with_capacity(seqs.len() * n);
        let mut mask = Vec::with_capacity(seqs.len() * n);
        for s in seqs {
            let pad = n - s.len();
            if side == PaddingSide::Left {
                ids.extend(std::iter::repeat_n(pad_id, pad));
                mask.extend(std::iter::repeat_n(0i64, pad));
            }
            ids.extend_from_slice(s);
            mask.extend(std::iter::repeat_n(1i64, s.len()));
            if side == PaddingSide::Right {
                ids.extend(std::iter::repeat_n(pad_id, pad));
                mask.extend(std::iter::repeat_n(0i64, pad));
            }
        }
        let shape = [seqs.len() as i64, n as i64];
        Ok(Batch {
            input_ids: Tensor::f_from_slice(&ids)?
                .f_view(shape)?
                .f_to_device(device)?,
            attention_mask: Tensor::f_from_slice(&mask)?
                .f_view(shape)?
                .f_to_device(device)?,
        })
    }

    /// Wraps existing tensors after checking shapes, dtypes and mask values.
    pub fn new(input_ids: Tensor, attention_mask: Tensor) -> Result<Self> {
        if input_ids.dim() != 2 || input_ids.size() != attention_mask.size() {
            return Err(Error::Input(format!(
                "input_ids {:?} and attention_mask {:?} must be the same [batch, len] shape",
                input_ids.size(),
                attention_mask.size()
            )));
        }
        if input_ids.kind() != Kind::Int64 {
            return Err(Error::Input(format!(
                "input_ids must be int64, got {:?}",
                input_ids.kind()
            )));
        }
        let mask = attention_mask.f_to_kind(Kind::Int64)?;
        let bad = mask
            .f_ne(0)?
            .f_logical_and(&mask.f_ne(1)?)?
            .f_any()?
            .f_int64_value(&[])?;
        if bad != 0 {
            return Err(Error::Input(
                "attention_mask holds values other than 0 and 1".into(),
            ));
        }
        let rows = mask.f_sum_dim_intlist(1, false, Kind::Int64)?;
        let empty = rows.f_eq(0)?.f_any()?.f_int64_value(&[])?;
        if empty != 0 {
            return Err(Error::Input(
                "a row of attention_mask is all padding".into(),
            ));
        }
        Ok(Batch {
            input_ids,
            attention_mask: mask,
        })
    }

    /// Token ids `[batch, len]`.
    pub fn input_ids(&self) -> &Tensor {
        &self.input_ids
    }
    /// Mask `[batch, len]`.
    pub fn attention_mask(&self) -> &Tensor {
        &self.attention_mask
    }
    /// Position ids from the mask: `cumsum(mask) - 1`, 0 on padding (transformers' rule for
    /// padded generation), so a sequence gets the same positions on either padding side.
    pub fn position_ids(&self) -> Result<Tensor> {
        Ok(self
            .attention_mask
            .f_cumsum(1, Kind::Int64)?
            .f_sub_scalar(1)?
            .f_clamp_min(0)?)
    }
}

/// Switches of a training forward pass.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ForwardOptions {
    /// Apply the LoRA adapters (false = the reference model). Default true.
    pub use_adapters: bool,
    /// Training mode: LoRA dropout active. Default false.
    pub train: bool,
    /// Recompute each decoder layer during backward instead of storing its activations.
    /// Call [`PolicyModel::backward`] with the output. Default false.
    pub checkpoint: bool,
    /// Compute the value head (needs one). Default true.
    pub values: bool,
    /// Positions per LM-head chunk. Default 512.
    pub chunk_tokens: i64,
    /// Log-probs and entropy of `softmax(logits / temperature)`: an on-policy trainer scores
    /// with the rollout's sampling temperature (verl's convention). Default 1.
    pub temperature: f64,
}

impl Default for ForwardOptions {
    fn default() -> Self {
        ForwardOptions {
            use_adapters: true,
            train: false,
            checkpoint: false,
            values: true,
            chunk_tokens: 512,
            temperature: 1.0,
        }
    }
}

/// What a training forward pass returns.
///
/// # Shapes
/// `logprobs`, `entropy`: `[batch, len - 1]` (position `t` scores token `t + 1`; f32);
/// `values`: `[batch, len]` (f32), every position; `target_mask`: `[batch, len - 1]` (1 where
/// both position `t` and `t + 1` are real tokens). Entries at padding are finite but meaningless.
#[derive(Debug)]
pub struct PolicyOutput {
    /// Log-prob of each next token, with grad when adapters are trainable.
    pub logprobs: Tensor,
    /// Entropy of each next-token distribution (no grad).
    pub entropy: Tensor,
    /// Value head outputs, when requested.
    pub values: Option<Tensor>,
    /// Which `[t]` entries are real.
    pub target_mask: Tensor,
    pub(crate) tape: Option<CheckpointTape>,
}

/// Log-prob of `targets` and entropy of the distributions given by `hidden @ lm_head^T`.
///
/// # Shapes
/// `hidden: [n, h]`, `lm_head: [vocab, h]`, `targets: [n]`; returns two `[n]` f32 tensors.
pub(crate) fn chunked_logprobs(
    hidden: &Tensor,
    lm_head: &Tensor,
    targets: &Tensor,
    chunk: i64,
    temperature: f64,
) -> Result<(Tensor, Tensor)> {
    let n = hidden.size()[0];
    let chunk = chunk.max(1);
    let mut lps = Vec::new();
    let mut ents = Vec::new();
    let mut start = 0;
    while start < n {
        let len = chunk.min(n - start);
        let h = hidden.f_narrow(0, start, len)?;
        let mut logits = h
            .f_linear::<&Tensor>(lm_head, None)?
            .f_to_kind(Kind::Float)?;
        if temperature != 1.0 {
            logits = logits.f_div_scalar(temperature)?;
        }
        let lse = logits.f_logsumexp(-1, false)?;
        let tgt = targets.f_narrow(0, start, len)?.f_unsqueeze(1)?;
        let picked = logits.f_gather(1, &tgt, false)?.f_squeeze_dim(1)?;
        lps.push(picked.f_sub(&lse)?);
        let ent = tch::no_grad(|| -> Result<Tensor> {
            let l = logits.f_detach()?;
            let p = l.f_softmax(-1, Kind::Float)?;
            let mean = p.f_mul(&l)?.f_sum_dim_intlist(-1, false, Kind::Float)?;
            Ok(lse.f_detach()?.f_sub(&mean)?)
        })?;
        ents.push(ent);
        start += len;
    }
    Ok((Tensor::f_cat(&lps, 0)?, Tensor::f_cat(&ents, 0)?))
}

impl Model {
    /// Per-position next-token log-probs, entropy and values over a padded batch.
    pub fn forward_batch(&self, batch: &Batch, opts: &ForwardOptions) -> Result<PolicyOutput> {
        let ids = batch.input_ids();
        let (b, t) = (ids.size()[0], ids.size()[1]);
        if t < 2 {
            return Err(Error::Input(format!(
                "sequences need at least 2 positions, got {t}"
            )));
        }
        let mode = Mode {
            adapters: opts.use_adapters,
            train: opts.train,
        };
        let pos = batch.position_ids()?;
        let ids = ids.f_to_device(self.opts.device)?;
        let mask = batch.attention_mask().f_to_device(self.opts.device)?;
        let pos = pos.f_to_device(self.opts.device)?;
        if opts.values && self.value_head.is_none() {
            return Err(Error::Input(
                "values requested but the model has no value head".into(),
            ));
        }
        let vmax = ids.f_max()?.f_int64_value(&[])?;
        let vmin = ids.f_min()?.f_int64_value(&[])?;
        if vmin < 0 || vmax >= self.config.vocab_size {
            return Err(Error::Input(format!(
                "token ids must be in [0, {}), got range [{vmin}, {vmax}]",
                self.config.vocab_size
            )));
        }
        let (hidden, tape) = if opts.checkpoint {
            let (h, tape) = self.hidden_states_checkpointed(&ids, &pos, &mask, mode)?;
            (h, Some(tape))
        } else {
            (self.hidden_states(&ids, &pos, &mask, mode, None)?, None)
        };
        let hs = self.config.hidden_size;
        let h_in = hidden.f_narrow(1, 0, t - 1)?.f_reshape([b * (t - 1), hs])?;
        let targets = ids.f_narrow(1, 1, t - 1)?.f_reshape([b * (t - 1)])?;
        if !(opts.temperature > 0.0 && opts.temperature.is_finite()) {
            return Err(Error::Input(format!(
                "temperature must be finite and > 0, got {}",
                opts.temperature
            )));
        }
        let (lp, ent) = chunked_logprobs(
            &h_in,
            &self.lm_head,
            &targets,
            opts.chunk_tokens,
            opts.temperature,
        )?;
        let values = if opts.values {
            let (w, bias) = self
                .value_head
                .as_ref()
                .ok_or_else(|| Error::Input("the model has no value head".into()))?;
            let v = hidden
                .f_to_kind(w.kind())?
                .f_linear(w, Some(bias))?
                .f_squeeze_dim(-1)?;
            Some(v.f_to_kind(Kind::Float)?)
        } else {
            None
        };
        let target_mask = mask
            .f_narrow(1, 0, t - 1)?
            .f_mul(&mask.f_narrow(1, 1, t - 1)?)?;
        Ok(PolicyOutput {
            logprobs: lp.f_view([b, t - 1])?,
            entropy: ent.f_view([b, t - 1])?,
            values,
            target_mask,
            tape,
        })
    }

    /// Hidden states of an inference pass (no dropout) and the attention mask, on the model's
    /// device.
    ///
    /// # Shapes
    /// Returns `([batch, len, hidden], [batch, len])`.
    fn inference_hidden(&self, batch: &Batch, use_adapters: bool) -> Result<(Tensor, Tensor)> {
        let mode = Mode {
            adapters: use_adapters,
            train: false,
        };
        let ids = batch.input_ids().f_to_device(self.opts.device)?;
        let mask = batch.attention_mask().f_to_device(self.opts.device)?;
        let pos = batch.position_ids()?.f_to_device(self.opts.device)?;
        let h = self.hidden_states(&ids, &pos, &mask, mode, None)?;
        Ok((h, mask))
    }

    /// Full-vocabulary logits at every position (for tests and the `logprobs` CLI).
    ///
    /// # Shapes
    /// Returns `[batch, len, vocab]` f32.
    pub fn logits(&self, batch: &Batch, use_adapters: bool) -> Result<Tensor> {
        let (h, _) = self.inference_hidden(batch, use_adapters)?;
        Ok(h.f_linear::<&Tensor>(&self.lm_head, None)?
            .f_to_kind(Kind::Float)?)
    }

    /// Full-vocabulary logits at the last real (unpadded) position of each sequence, without
    /// projecting the other positions onto the vocabulary.
    ///
    /// # Shapes
    /// Returns `[batch, vocab]` f32.
    pub fn final_position_logits(&self, batch: &Batch, use_adapters: bool) -> Result<Tensor> {
        let (h, mask) = self.inference_hidden(batch, use_adapters)?;
        let (b, t) = (mask.size()[0], mask.size()[1]);
        // The last position whose mask is 1, for left and right padding alike.
        let arange = Tensor::f_arange(t, (Kind::Int64, self.opts.device))?;
        let last = (mask.f_to_kind(Kind::Int64)? * arange.f_unsqueeze(0)?).f_argmax(1, false)?;
        let index = last
            .f_view([b, 1, 1])?
            .f_expand([b, 1, h.size()[2]], false)?;
        let picked = h.f_gather(1, &index, false)?.f_squeeze_dim(1)?;
        Ok(picked
            .f_linear::<&Tensor>(&self.lm_head, None)?
            .f_to_kind(Kind::Float)?)
    }

    /// Back-propagates `loss`; with a checkpointed `out`, recomputes the layers (see
    /// [`ForwardOptions::checkpoint`]).
    pub fn backward(&self, loss: &Tensor, out: &PolicyOutput) -> Result<()> {
        match &out.tape {
            Some(tape) => self.backward_tape(loss, tape),
            None => Ok(loss.f_backward()?),
        }
    }
}

/// What the PPO trainer needs from a policy: training and reference forward passes, backward,
/// trainable variables, adapter and value-head files, and generation.
pub trait PolicyModel {
    /// The model config.
    fn config(&self) -> &ModelConfig;
    /// Device of the model's tensors.
    fn device(&self) -> Device;
    /// Policy forward (adapters on) with the given options.
    fn forward(&self, batch: &Batch, opts: &ForwardOptions) -> Result<PolicyOutput>;
    /// Reference forward: adapters off, no grad, no values; the base weights shared with the
    /// policy, so no second copy of the model exists.
    fn reference_forward(&self, batch: &Batch) -> Result<PolicyOutput>;
    /// Back-propagates a loss computed from `out`.
    fn backward(&self, loss: &Tensor, out: &PolicyOutput) -> Result<()>;
    /// The trainable tensors (LoRA and value head).
    fn trainable_variables(&self) -> Vec<Tensor>;
    /// The var store (build optimizers on it).
    fn var_store(&self) -> &tch::nn::VarStore;
    /// Saves the LoRA adapter in PEFT format into `dir`.
    fn save_adapter(&self, dir: &Path) -> Result<()>;
    /// Loads a PEFT adapter from `dir`.
    fn load_adapter(&mut self, dir: &Path) -> Result<()>;
    /// Saves the value head (TRL names) to a safetensors file.
    fn save_value_head(&self, path: &Path) -> Result<()>;
    /// Loads the value head from a safetensors file.
    fn load_value_head(&mut self, path: &Path) -> Result<()>;
    /// The base weights made trainable for full fine-tuning (names and handles); models that
    /// cannot be fully fine-tuned return an error.
    fn trainable_base(&self) -> Result<Vec<(String, Tensor)>> {
        Err(Error::Input("this model cannot be fully fine-tuned".into()))
    }
    /// Writes the whole model (base weights with any LoRA merged, `config.json`) into `dir`.
    fn export_model(&self, _dir: &Path) -> Result<()> {
        Err(Error::Input("this model cannot be exported".into()))
    }
    /// The LoRA config, if adapters are attached.
    fn lora_config(&self) -> Option<&LoraConfig>;
    /// Samples continuations of `prompts` (see [`Model::generate`]).
    fn generate(
        &self,
        prompts: &[Vec<i64>],
        cfg: &GenerationConfig,
        decoder: Option<&dyn TokenDecoder>,
    ) -> Result<Vec<Generation>>;
}

impl PolicyModel for Model {
    fn config(&self) -> &ModelConfig {
        Model::config(self)
    }
    fn device(&self) -> Device {
        self.opts.device
    }
    fn forward(&self, batch: &Batch, opts: &ForwardOptions) -> Result<PolicyOutput> {
        self.forward_batch(batch, opts)
    }
    fn reference_forward(&self, batch: &Batch) -> Result<PolicyOutput> {
        let _g = tch::no_grad_guard();
        self.forward_batch(
            batch,
            &ForwardOptions {
                use_adapters: false,
                train: false,
                checkpoint: false,
                values: false,
                ..ForwardOptions::default()
            },
        )
    }
    fn backward(&self, loss: &Tensor, out: &PolicyOutput) -> Result<()> {
        Model::backward(self, loss, out)
    }
    fn trainable_variables(&self) -> Vec<Tensor> {
        Model::trainable_variables(self)
    }
    fn var_store(&self) -> &tch::nn::VarStore {
        Model::var_store(self)
    }
    fn save_adapter(&self, dir: &Path) -> Result<()> {
        Model::save_adapter(self, dir)
    }
    fn load_adapter(&mut self, dir: &Path) -> Result<()> {
        Model::load_adapter(self, dir).map(|_| ())
    }
    fn save_value_head(&self, path: &Path) -> Result<()> {
        Model::save_value_head(self, path)
    }
    fn load_value_head(&mut self, path: &Path) -> Result<()> {
        Model::load_value_head(self, path)
    }
    fn trainable_base(&self) -> Result<Vec<(String, Tensor)>> {
        self.set_base_trainable(true)
    }
    fn export_model(&self, dir: &Path) -> Result<()> {
        self.export_merged(dir)
    }
    fn lora_config(&self) -> Option<&LoraConfig> {
        Model::lora_config(self)
    }
    fn generate(
        &self,
        prompts: &[Vec<i64>],
        cfg: &GenerationConfig,
        decoder: Option<&dyn TokenDecoder>,
    ) -> Result<Vec<Generation>> {
        Model::generate(self, prompts, cfg, decoder)
    }
}
