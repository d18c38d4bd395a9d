//! [`SftTrainer`]: token-level cross-entropy on the assistant turns of token-level episodes.
//!
//! `loss = −Σ_{t ∈ action tokens} log p(x_t | x_<t) / #action tokens` over an optimizer batch:
//! system, user and tool-response tokens are context only (no loss, no gradient). Every
//! assistant turn of a conversation is trained in one pass over the whole conversation. The
//! reference's SFT scripts instead split a conversation into per-step prefixes and train the
//! last turn of each; with a causal model the per-token terms are the same, so the summed loss
//! is identical and one pass costs a fraction of the compute (the per-prefix mean weighs turns
//! differently, which is the only difference).

use std::path::Path;
use std::time::Instant;

use serde::{Deserialize, Serialize};
use steptool_mdp::Episode;
use steptool_model::{Batch, ForwardOptions, PaddingSide, PolicyModel};
use tch::Tensor;

use crate::adamw::AdamW;
use crate::checkpoint::{self, ADAPTER, MODEL, OPTIMIZER};
use crate::error::{Error, Result};
use crate::schedule::LrSchedule;

/// SFT settings. Defaults are the paper's (lr 5e-5, 4 % warm-up, cosine, 3 epochs); the
/// reference's Qwen2 / Llama-3.1 scripts use lr 2e-5 and 5 epochs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SftConfig {
    /// Peak learning rate.
    pub learning_rate: f64,
    /// Share of the steps that warm up linearly.
    pub warmup_fraction: f64,
    /// Passes over the data.
    pub epochs: u64,
    /// Run exactly this many optimizer steps instead of `epochs` passes (the data is cycled,
    /// each pass a new permutation; the LR schedule is planned for these steps), as TRL's
    /// `max_steps`. Used to give several methods the same number of updates. Default `None`.
    pub max_steps: Option<u64>,
    /// Conversations per optimizer step.
    pub batch_size: usize,
    /// Conversations per forward pass (gradient accumulation over `batch_size / micro`).
    pub micro_batch_size: usize,
    /// Global gradient-norm clip (`None`: no clipping). Default 1.
    pub max_grad_norm: Option<f64>,
    /// AdamW weight decay. Default 0.
    pub weight_decay: f64,
    /// AdamW betas.
    pub adam_betas: (f64, f64),
    /// AdamW epsilon.
    pub adam_eps: f64,
    /// Conversations longer than this are an error naming the entry (`None`: no limit).
    pub max_tokens: Option<usize>,
    /// Positions per LM-head chunk.
    pub chunk_tokens: i64,
    /// Seed of batch order and dropout.
    pub seed: u64,
    /// Train every base weight (full fine-tuning, f32) instead of LoRA adapters. A model
    /// trained from scratch (the embedded tiny LLaMA) needs it: LoRA cannot move its frozen
    /// random embeddings and norms. Default false.
    pub full_finetune: bool,
    /// Weight of the next-token loss on the other tokens of a conversation (system prompt,
    /// user turn, tool responses) beside the assistant turns. 0 (default) is the paper's and
    /// the reference's assistant-only SFT. A model trained from scratch (the embedded tiny
    /// LLaMA) learns to read its context, that is to copy names and ids from the query and
    /// the observations, far sooner when it also models that context (as a pretrained model
    /// already has); TRL's `SFTTrainer` trains on every token unless told otherwise. The
    /// reported and held-out losses stay per assistant token.
    pub context_loss_weight: f64,
}

impl Default for SftConfig {
    fn default() -> Self {
        SftConfig {
            learning_rate: 5e-5,
            warmup_fraction: 0.04,
            epochs: 3,
            max_steps: None,
            batch_size: 8,
            micro_batch_size: 2,
            max_grad_norm: Some(1.0),
            weight_decay: 0.0,
            adam_betas: (0.9, 0.999),
            adam_eps: 1e-8,
            max_tokens: None,
            chunk_tokens: 512,
            seed: 2024,
            full_finetune: false,
            context_loss_weight: 0.0,
        }
    }
}

impl SftConfig {
    /// Optimizer steps of a run with `per_epoch` batches per pass: `max_steps` when set,
    /// otherwise `epochs` passes.
    pub fn total_steps(&self, per_epoch: u64) -> u64 {
        self.max_steps.unwrap_or(per_epoch * self.epochs)
    }

    /// Checks every field.
    pub fn validate(&self) -> Result<()> {
        if self.max_steps == Some(0) {
            return Err(Error::config(
                "sft.max_steps",
                "must be at least 1 when set",
            ));
        }
        if !(self.context_loss_weight.is_finite() && self.context_loss_weight >= 0.0) {
            return Err(Error::config(
                "sft.context_loss_weight",
                "must be finite and >= 0",
            ));
        }
        if !(self.learning_rate.is_finite() && self.learning_rate > 0.0) {
            return Err(Error::config("sft.learning_rate", "must be finite and > 0"));
        }
        if !(0.0..1.0).contains(&self.warmup_fraction) {
            return Err(Error::config("sft.warmup_fraction", "must be in [0, 1)"));
        }
        if self.epochs == 0 || self.batch_size == 0 || self.micro_batch_size == 0 {
            return Err(Error::config(
                "sft.epochs / batch_size / micro_batch_size",
                "must be at least 1",
            ));
        }
        if self.batch_size % self.micro_batch_size != 0 {
            return Err(Error::config(
                "sft.batch_size",
                format!(
                    "{} is not a multiple of micro_batch_size {}",
                    self.batch_size, self.micro_batch_size
                ),
            ));
        }
        Ok(())
    }
}

/// One SFT optimizer step: a metrics line.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SftMetrics {
    /// Optimizer step (0-based).
    pub step: u64,
    /// Mean cross-entropy per assistant token.
    pub loss: f64,
    /// Assistant (trained) tokens in the batch.
    pub trained_tokens: usize,
    /// All tokens in the batch.
    pub tokens: usize,
    /// Learning rate used.
    pub lr: f64,
    /// Gradient norm before clipping.
    pub grad_norm: f64,
    /// Whether the update was skipped for a non-finite loss or gradient.
    pub skipped: bool,
    /// Wall seconds.
    pub seconds: f64,
}

/// Checkpoint state of an SFT run.
pub type SftState = checkpoint::StepState<SftConfig>;

/// SFT of a LoRA policy (the adapters are the trained tensors; a value head, if any, is left
/// alone).
pub struct SftTrainer<M: PolicyModel> {
    model: M,
    config: SftConfig,
    optimizer: AdamW,
    schedule: LrSchedule,
    total_steps: u64,
    step: u64,
}

impl<M: PolicyModel> std::fmt::Debug for SftTrainer<M> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SftTrainer")
            .field("step", &self.step)
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

/// Per-position loss weights of one episode in the `L − 1` layout: 1 where the next token is an
/// assistant token.
fn target_mask(e: &Episode, context_weight: f32) -> Vec<f32> {
    let mut m = vec![context_weight; e.len().saturating_sub(1)];
    for s in e.action_spans() {
        for p in s.scoring_positions() {
            m[p] = 1.0;
        }
    }
    m
}

impl<M: PolicyModel> SftTrainer<M> {
    /// A trainer over `model` (LoRA attached) for `total_steps` optimizer steps (the cosine
    /// schedule's length).
    pub fn new(model: M, config: SftConfig, total_steps: u64) -> Result<Self> {
        config.validate()?;
        let params: Vec<(String, Tensor)> = if config.full_finetune {
            model.trainable_base()?
        } else {
            if model.lora_config().is_none() {
                return Err(Error::Input(
                    "SFT trains LoRA adapters: attach them first (or set full_finetune)".into(),
                ));
            }
            model
                .var_store()
                .variables()
                .into_iter()
                .filter(|(n, t)| t.requires_grad() && !n.starts_with("v_head"))
                .collect()
        };
        let optimizer = AdamW::new(
            params,
            config.adam_betas,
            config.adam_eps,
            config.weight_decay,
        )?;
        Ok(SftTrainer {
            model,
            schedule: LrSchedule::cosine_with_warmup(total_steps, config.warmup_fraction),
            config,
            optimizer,
            total_steps,
            step: 0,
        })
    }

    /// The model.
    pub fn model(&self) -> &M {
        &self.model
    }
    /// Gives the model back.
    pub fn into_model(self) -> M {
        self.model
    }
    /// Steps done.
    pub fn steps_done(&self) -> u64 {
        self.step
    }
    /// The config.
    pub fn config(&self) -> &SftConfig {
        &self.config
    }

    fn check(&self, episodes: &[Episode]) -> Result<()> {
        let vocab = self.model.config().vocab_size();
        for (i, e) in episodes.iter().enumerate() {
            if let Some(max) = self.config.max_tokens {
                if e.len() > max {
                    return Err(Error::Input(format!(
                        "SFT entry {i}: {} tokens exceed max_tokens = {max}",
                        e.len()
                    )));
                }
            }
            if let Some(t) = e.input_ids().iter().find(|&&t| i64::from(t) >= vocab) {
                return Err(Error::Input(format!(
                    "SFT entry {i}: token id {t} is outside the vocabulary of {vocab}"
                )));
            }
        }
        Ok(())
    }

    /// Summed negative log-likelihood of `episodes` (one forward), the assistant tokens at
    /// weight 1 and the others at `context_weight`, the assistant tokens' own sum, and the
    /// output for backward.
    fn nll(
        &self,
        episodes: &[&Episode],
        train: bool,
        context_weight: f32,
    ) -> Result<(Tensor, f64, steptool_model::PolicyOutput)> {
        let ids: Vec<Vec<i64>> = episodes
            .iter()
            .map(|e| e.input_ids().iter().map(|&t| i64::from(t)).collect())
            .collect();
        let pad = self.model.config().pad_token_id().unwrap_or(0);
        let batch = Batch::from_sequences(&ids, pad, PaddingSide::Right, self.model.device())?;
        let out = self.model.forward(
            &batch,
            &ForwardOptions {
                train,
                values: false,
                chunk_tokens: self.config.chunk_tokens,
                ..ForwardOptions::default()
            },
        )?;
        let w = out.logprobs.size()[1] as usize;
        let mask = |weight: f32| -> Result<Tensor> {
            let mut flat = vec![0f32; episodes.len() * w];
            for (j, e) in episodes.iter().enumerate() {
                let m = target_mask(e, weight);
                flat[j * w..j * w + m.len()].copy_from_slice(&m);
            }
            Ok(Tensor::f_from_slice(&flat)?
                .f_view([episodes.len() as i64, w as i64])?
                .f_to_device(self.model.device())?)
        };
        let weighted = out
            .logprobs
            .f_mul(&mask(context_weight)?)?
            .f_sum(tch::Kind::Float)?
            .f_neg()?;
        let assistant = if context_weight == 0.0 {
            weighted.f_double_value(&[])?
        } else {
            let _g = tch::no_grad_guard();
            -out.logprobs
                .f_mul(&mask(0.0)?)?
                .f_sum(tch::Kind::Float)?
                .f_double_value(&[])?
        };
        Ok((weighted, assistant, out))
    }

    /// One optimizer step on `batch_size` episodes.
    pub fn step(&mut self, episodes: &[Episode]) -> Result<SftMetrics> {
        let t0 = Instant::now();
        if episodes.len() != self.config.batch_size {
            return Err(Error::Input(format!(
                "an SFT step takes batch_size = {} conversations, got {}",
                self.config.batch_size,
                episodes.len()
            )));
        }
        self.check(episodes)?;
        tch::manual_seed((self.config.seed ^ self.step.wrapping_mul(0x9E37_79B9_7F4A_7C15)) as i64);
        let trained: usize = episodes
            .iter()
            .map(|e| e.action_spans().iter().map(|s| s.len()).sum::<usize>())
            .sum();
        if trained == 0 {
            return Err(Error::Input("the SFT batch has no assistant token".into()));
        }
        let mut order: Vec<&Episode> = episodes.iter().collect();
        order.sort_by_key(|e| e.len());
        self.optimizer.zero_grad();
        let w = self.config.context_loss_weight;
        // The normaliser counts context tokens at their weight.
        let context: usize = episodes
            .iter()
            .map(|e| e.len().saturating_sub(1))
            .sum::<usize>()
            - trained;
        let denom = trained as f64 + w * context as f64;
        let mut total = 0.0;
        let mut finite = true;
        for mb in order.chunks(self.config.micro_batch_size) {
            let (nll, assistant, out) = self.nll(mb, true, w as f32)?;
            if !(assistant.is_finite() && nll.f_double_value(&[])?.is_finite()) {
                finite = false;
                continue;
            }
            // The reported loss is per assistant token, with or without context loss.
            total += assistant;
            self.model.backward(&nll.f_div_scalar(denom)?, &out)?;
        }
        let norm = self.optimizer.grad_norm()?;
        let lr = self.config.learning_rate * self.schedule.factor(self.step);
        let skipped = !finite || !norm.is_finite();
        if skipped {
            tracing::warn!(
                step = self.step,
                "non-finite SFT loss or gradient: update skipped"
            );
        } else {
            if let Some(max) = self.config.max_grad_norm {
                let coef = max / (norm + 1e-6);
                if coef < 1.0 {
                    self.optimizer.scale_grads(coef)?;
                }
            }
            self.optimizer.step(lr)?;
        }
        self.optimizer.zero_grad();
        let m = SftMetrics {
            step: self.step,
            loss: total / trained as f64,
            trained_tokens: trained,
            tokens: episodes.iter().map(Episode::len).sum(),
            lr,
            grad_norm: norm,
            skipped,
            seconds: t0.elapsed().as_secs_f64(),
        };
        self.step += 1;
        Ok(m)
    }

    /// The loss of [`SftTrainer::step`] on `episodes` and its gradient (copies, by parameter
    /// name), without updating anything.
    pub fn loss_and_gradient(
        &mut self,
        episodes: &[Episode],
    ) -> Result<(f64, Vec<(String, Tensor)>)> {
        self.check(episodes)?;
        let trained: usize = episodes
            .iter()
            .map(|e| e.action_spans().iter().map(|s| s.len()).sum::<usize>())
            .sum();
        self.optimizer.zero_grad();
        let refs: Vec<&Episode> = episodes.iter().collect();
        let mut total = 0.0;
        for mb in refs.chunks(self.config.micro_batch_size) {
            let (nll, v, out) = self.nll(mb, false, 0.0)?;
            total += v;
            self.model
                .backward(&nll.f_div_scalar(trained.max(1) as f64)?, &out)?;
        }
        let grads = self
            .optimizer
            .params()
            .iter()
            .map(|(n, p)| (n.clone(), p.grad().copy()))
            .collect();
        self.optimizer.zero_grad();
        Ok((total / trained.max(1) as f64, grads))
    }

    /// Mean cross-entropy per assistant token of `episodes` (no gradient, no dropout).
    pub fn eval_loss(&self, episodes: &[Episode]) -> Result<f64> {
        let _g = tch::no_grad_guard();
        let (mut sum, mut n) = (0.0, 0usize);
        let refs: Vec<&Episode> = episodes.iter().collect();
        for mb in refs.chunks(self.config.micro_batch_size) {
            sum += self.nll(mb, false, 0.0)?.1;
            n += mb
                .iter()
                .map(|e| e.action_spans().iter().map(|s| s.len()).sum::<usize>())
                .sum::<usize>();
        }
        Ok(sum / n.max(1) as f64)
    }

    /// Writes the bundle into `dir` (being filled): the adapter (LoRA) or the whole model
    /// under `model/` (full fine-tuning), the optimizer and the state.
    pub fn write_bundle(&self, dir: &Path, extra: serde_json::Value) -> Result<()> {
        if self.config.full_finetune {
            self.model.export_model(&dir.join(MODEL))?;
        } else {
            self.model.save_adapter(&dir.join(ADAPTER))?;
        }
        self.optimizer.save(&dir.join(OPTIMIZER))?;
        checkpoint::write_state(
            dir,
            &SftState {
                version: 1,
                step: self.step,
                total_steps: self.total_steps,
                config: self.config.clone(),
                extra,
            },
        )
    }

    /// Restores a bundle of [`SftTrainer::write_bundle`] (same config and length required).
    /// With full fine-tuning the weights are not copied: build the model from the bundle's
    /// `model/` directory first ([`crate::sft::app::run_sft`] does).
    pub fn load_checkpoint(&mut self, dir: &Path) -> Result<serde_json::Value> {
        let state = SftState::read_matching(dir, &self.config, self.total_steps)?;
        if !self.config.full_finetune {
            self.model.load_adapter(&dir.join(ADAPTER))?;
        }
        self.optimizer.load(&dir.join(OPTIMIZER))?;
        self.step = state.step;
        Ok(state.extra)
    }
}
