//! [`DpoTrainer`]: the sigmoid DPO loss (Rafailov et al. 2023, eq. 7) on preference pairs of
//! token-level episodes, the ETO baseline of the paper's Table 3.
//!
//! ```text
//! π_c = Σ_{t ∈ action tokens of chosen}   log π(x_t | x_<t)     (adapters on, train mode)
//! ρ_c = Σ_{t ∈ action tokens of chosen}   log π_ref(x_t | x_<t) (adapters off, no grad)
//! π_r, ρ_r the same on the rejected episode
//! z    = β · ((π_c − ρ_c) − (π_r − ρ_r))                          (the reward margin)
//! loss = −(1 − ε) · log σ(z) − ε · log σ(−z)                     (ε = label_smoothing, 0)
//! ```
//!
//! averaged over the pairs of an optimizer step. The reference is the policy's own base
//! weights with the LoRA adapters off ([`PolicyModel::reference_forward`]), so no second copy
//! of the model exists. Only the response tokens (the episodes' action spans) are scored:
//! position `t` of the `L − 1` log-prob layout scores token `t + 1`
//! ([`steptool_mdp::ActionSpan::scoring_positions`]). Shares the optimizer, schedule and
//! checkpoint bundle with SFT and PPO ([`crate::common`]).

use std::path::Path;
use std::time::Instant;

use serde::{Deserialize, Serialize};
use steptool_mdp::Episode;
use steptool_model::{Batch, ForwardOptions, PaddingSide, PolicyModel};
use tch::Tensor;

use crate::adamw::AdamW;
use crate::checkpoint::{self, ADAPTER, OPTIMIZER};
use crate::error::{Error, Result};
use crate::schedule::LrSchedule;

/// DPO settings. Defaults are the reference's ETO script (lr 1e-4, β 0.1, 3 epochs, 8 pairs
/// per step as 1 × 8 accumulation) with the shared cosine schedule and 4 % warm-up.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DpoConfig {
    /// β: the strength of the implicit KL penalty. Default 0.1.
    pub beta: f64,
    /// Label smoothing ε in [0, 0.5) (conservative DPO); 0 is the plain sigmoid loss.
    pub label_smoothing: f64,
    /// Peak learning rate. Default 1e-4.
    pub learning_rate: f64,
    /// Share of the steps that warm up linearly. Default 0.04.
    pub warmup_fraction: f64,
    /// Passes over the pairs. Default 3.
    pub epochs: u64,
    /// Run exactly this many optimizer steps instead of `epochs` passes (the pairs are
    /// cycled; the LR schedule is planned for these steps), as TRL's `max_steps`. Default
    /// `None`.
    pub max_steps: Option<u64>,
    /// Pairs per optimizer step. Default 8.
    pub batch_size: usize,
    /// Pairs per forward pass (gradient accumulation over `batch_size / micro`). Default 1.
    pub micro_batch_size: usize,
    /// Global gradient-norm clip (`None`: no clipping). Default 1.
    pub max_grad_norm: Option<f64>,
    /// AdamW weight decay. Default 0.
    pub weight_decay: f64,
    /// AdamW betas.
    pub adam_betas: (f64, f64),
    /// AdamW epsilon.
    pub adam_eps: f64,
    /// Longest episode (prompt + response tokens) a pair may have (`None`: no limit). The
    /// run skips and counts longer pairs; the trainer rejects them.
    pub max_tokens: Option<usize>,
    /// Positions per LM-head chunk.
    pub chunk_tokens: i64,
    /// Seed of batch order and dropout.
    pub seed: u64,
}

impl Default for DpoConfig {
    fn default() -> Self {
        DpoConfig {
            beta: 0.1,
            label_smoothing: 0.0,
            learning_rate: 1e-4,
            warmup_fraction: 0.04,
            epochs: 3,
            max_steps: None,
            batch_size: 8,
            micro_batch_size: 1,
            max_grad_norm: Some(1.0),
            weight_decay: 0.0,
            adam_betas: (0.9, 0.999),
            adam_eps: 1e-8,
            max_tokens: None,
            chunk_tokens: 512,
            seed: 2024,
        }
    }
}

impl DpoConfig {
    /// Optimizer steps of a run with `per_epoch` batches per pass: `max_steps` when set,
    /// otherwise `epochs` passes.
    pub fn total_steps(&self, per_epoch: u64) -> u64 {
        self.max_steps.unwrap_or(per_epoch * self.epochs)
    }

    /// Checks every field.
    pub fn validate(&self) -> Result<()> {
        if self.max_steps == Some(0) {
            return Err(Error::config(
                "dpo.max_steps",
                "must be at least 1 when set",
            ));
        }
        if !(self.beta.is_finite() && self.beta > 0.0) {
            return Err(Error::config("dpo.beta", "must be finite and > 0"));
        }
        if !(0.0..0.5).contains(&self.label_smoothing) {
            return Err(Error::config("dpo.label_smoothing", "must be in [0, 0.5)"));
        }
        if !(self.learning_rate.is_finite() && self.learning_rate > 0.0) {
            return Err(Error::config("dpo.learning_rate", "must be finite and > 0"));
        }
        if !(0.0..1.0).contains(&self.warmup_fraction) {
            return Err(Error::config("dpo.warmup_fraction", "must be in [0, 1)"));
        }
        if self.epochs == 0 || self.batch_size == 0 || self.micro_batch_size == 0 {
            return Err(Error::config(
                "dpo.epochs / batch_size / micro_batch_size",
                "must be at least 1",
            ));
        }
        if self.batch_size % self.micro_batch_size != 0 {
            return Err(Error::config(
                "dpo.batch_size",
                format!(
                    "{} is not a multiple of micro_batch_size {}",
                    self.batch_size, self.micro_batch_size
                ),
            ));
        }
        if self.max_tokens == Some(0) || self.chunk_tokens <= 0 {
            return Err(Error::config(
                "dpo.max_tokens / chunk_tokens",
                "must be at least 1",
            ));
        }
        Ok(())
    }
}

/// A preference pair: two episodes of the same prompt, the chosen one preferred. Their action
/// spans are the responses that are scored.
#[derive(Debug, Clone, PartialEq)]
pub struct PreferencePair {
    id: String,
    chosen: Episode,
    rejected: Episode,
}

impl PreferencePair {
    /// A pair named `id` (the file and row or the task it came from, used in every error).
    /// Identical chosen and rejected episodes are an error: such a pair has no gradient.
    pub fn new(id: impl Into<String>, chosen: Episode, rejected: Episode) -> Result<Self> {
        let id = id.into();
        if chosen.input_ids() == rejected.input_ids()
            && chosen.action_spans() == rejected.action_spans()
        {
            return Err(Error::Input(format!(
                "pair {id}: chosen and rejected are identical"
            )));
        }
        for (side, e) in [("chosen", &chosen), ("rejected", &rejected)] {
            if e.action_spans().iter().all(|s| s.is_empty()) {
                return Err(Error::Input(format!(
                    "pair {id}: the {side} episode has no response token"
                )));
            }
        }
        Ok(PreferencePair {
            id,
            chosen,
            rejected,
        })
    }
    /// The pair's name.
    pub fn id(&self) -> &str {
        &self.id
    }
    /// The preferred episode.
    pub fn chosen(&self) -> &Episode {
        &self.chosen
    }
    /// The other episode.
    pub fn rejected(&self) -> &Episode {
        &self.rejected
    }
    /// The longer of the two episodes' token counts.
    pub fn max_len(&self) -> usize {
        self.chosen.len().max(self.rejected.len())
    }
}

/// Summed response log-probs of one pair under the policy and the reference.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PairLogps {
    /// `π_c`: policy, chosen.
    pub policy_chosen: f64,
    /// `π_r`: policy, rejected.
    pub policy_rejected: f64,
    /// `ρ_c`: reference, chosen.
    pub reference_chosen: f64,
    /// `ρ_r`: reference, rejected.
    pub reference_rejected: f64,
}

/// The DPO terms of one pair.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DpoTerms {
    /// `−(1 − ε) log σ(z) − ε log σ(−z)`.
    pub loss: f64,
    /// `z = β((π_c − ρ_c) − (π_r − ρ_r))`.
    pub margin: f64,
    /// `β(π_c − ρ_c)`: the chosen episode's implicit reward.
    pub chosen_reward: f64,
    /// `β(π_r − ρ_r)`.
    pub rejected_reward: f64,
}

/// `log σ(x)` without overflow: `min(x, 0) − ln(1 + e^{−|x|})`.
fn log_sigmoid(x: f64) -> f64 {
    x.min(0.0) - (-x.abs()).exp().ln_1p()
}

/// The DPO loss of one pair from its summed log-probs (module docs).
pub fn dpo_loss(lp: &PairLogps, beta: f64, label_smoothing: f64) -> DpoTerms {
    let chosen_reward = beta * (lp.policy_chosen - lp.reference_chosen);
    let rejected_reward = beta * (lp.policy_rejected - lp.reference_rejected);
    let z = chosen_reward - rejected_reward;
    DpoTerms {
        loss: -(1.0 - label_smoothing) * log_sigmoid(z) - label_smoothing * log_sigmoid(-z),
        margin: z,
        chosen_reward,
        rejected_reward,
    }
}

/// One DPO optimizer step: a metrics line. Reward terms are means over the step's pairs,
/// measured before the update.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DpoMetrics {
    /// Optimizer step (0-based).
    pub step: u64,
    /// Mean DPO loss.
    pub loss: f64,
    /// Mean `β((π_c − ρ_c) − (π_r − ρ_r))`.
    pub reward_margin: f64,
    /// Mean `β(π_c − ρ_c)`.
    pub chosen_reward: f64,
    /// Mean `β(π_r − ρ_r)`.
    pub rejected_reward: f64,
    /// Share of pairs with a positive margin.
    pub accuracy: f64,
    /// Pairs in the step.
    pub pairs: usize,
    /// Tokens of all episodes in the step.
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

/// Mean DPO terms of a set of pairs (no gradient, no dropout).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct DpoEval {
    /// Mean loss.
    pub loss: f64,
    /// Mean reward margin.
    pub reward_margin: f64,
    /// Mean chosen reward.
    pub chosen_reward: f64,
    /// Mean rejected reward.
    pub rejected_reward: f64,
    /// Share of pairs with a positive margin.
    pub accuracy: f64,
}

/// Checkpoint state of a DPO run.
pub type DpoState = checkpoint::StepState<DpoConfig>;

/// DPO of a LoRA policy against its own adapter-free weights.
pub struct DpoTrainer<M: PolicyModel> {
    model: M,
    config: DpoConfig,
    optimizer: AdamW,
    schedule: LrSchedule,
    total_steps: u64,
    step: u64,
}

impl<M: PolicyModel> std::fmt::Debug for DpoTrainer<M> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DpoTrainer")
            .field("step", &self.step)
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

/// Running sums of [`DpoTerms`].
#[derive(Default)]
struct Sums {
    loss: f64,
    margin: f64,
    chosen: f64,
    rejected: f64,
    correct: usize,
    n: usize,
}

impl Sums {
    fn add(&mut self, t: &DpoTerms) {
        self.loss += t.loss;
        self.margin += t.margin;
        self.chosen += t.chosen_reward;
        self.rejected += t.rejected_reward;
        self.correct += usize::from(t.margin > 0.0);
        self.n += 1;
    }
    fn mean(&self) -> DpoEval {
        let n = self.n.max(1) as f64;
        DpoEval {
            loss: self.loss / n,
            reward_margin: self.margin / n,
            chosen_reward: self.chosen / n,
            rejected_reward: self.rejected / n,
            accuracy: self.correct as f64 / n,
        }
    }
}

impl<M: PolicyModel> DpoTrainer<M> {
    /// A trainer over `model` (LoRA attached: the adapters are trained, the base is the
    /// reference) for `total_steps` optimizer steps.
    pub fn new(model: M, config: DpoConfig, total_steps: u64) -> Result<Self> {
        config.validate()?;
        if model.lora_config().is_none() {
            return Err(Error::Input(
                "DPO trains LoRA adapters against the adapter-free reference: attach them first"
                    .into(),
            ));
        }
        let params: Vec<(String, Tensor)> = model
            .var_store()
            .variables()
            .into_iter()
            .filter(|(n, t)| t.requires_grad() && !n.starts_with("v_head"))
            .collect();
        let optimizer = AdamW::new(
            params,
            config.adam_betas,
            config.adam_eps,
            config.weight_decay,
        )?;
        Ok(DpoTrainer {
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
    /// Total steps (the schedule's length).
    pub fn total_steps(&self) -> u64 {
        self.total_steps
    }
    /// The config.
    pub fn config(&self) -> &DpoConfig {
        &self.config
    }

    fn check(&self, pairs: &[PreferencePair]) -> Result<()> {
        let vocab = self.model.config().vocab_size();
        for p in pairs {
            if let Some(max) = self.config.max_tokens {
                if p.max_len() > max {
                    return Err(Error::Input(format!(
                        "pair {}: {} tokens exceed max_tokens = {max}",
                        p.id,
                        p.max_len()
                    )));
                }
            }
            for e in [&p.chosen, &p.rejected] {
                if let Some(t) = e.input_ids().iter().find(|&&t| i64::from(t) >= vocab) {
                    return Err(Error::Input(format!(
                        "pair {}: token id {t} is outside the vocabulary of {vocab}",
                        p.id
                    )));
                }
            }
        }
        Ok(())
    }

    /// Summed response log-probs of each episode of `pairs` (chosen ones first, then the
    /// rejected ones) under the policy (with grad when `train`) and the reference.
    ///
    /// # Shapes
    /// Both tensors are `[2P]` for `P` pairs.
    fn summed(
        &self,
        pairs: &[&PreferencePair],
        train: bool,
    ) -> Result<(Tensor, Tensor, steptool_model::PolicyOutput)> {
        let episodes: Vec<&Episode> = pairs
            .iter()
            .map(|p| &p.chosen)
            .chain(pairs.iter().map(|p| &p.rejected))
            .collect();
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
        let reference = self.model.reference_forward(&batch)?;
        let w = out.logprobs.size()[1] as usize;
        let mut flat = vec![0f32; episodes.len() * w];
        for (j, e) in episodes.iter().enumerate() {
            for s in e.action_spans() {
                for p in s.scoring_positions() {
                    flat[j * w + p] = 1.0;
                }
            }
        }
        let mask = Tensor::f_from_slice(&flat)?
            .f_view([episodes.len() as i64, w as i64])?
            .f_to_device(self.model.device())?;
        let dim: &[i64] = &[1];
        let policy = out
            .logprobs
            .f_mul(&mask)?
            .f_sum_dim_intlist(dim, false, tch::Kind::Float)?;
        let reference = reference
            .logprobs
            .f_mul(&mask)?
            .f_sum_dim_intlist(dim, false, tch::Kind::Float)?
            .f_detach()?;
        Ok((policy, reference, out))
    }

    /// The per-pair losses (with grad) and terms of a micro-batch.
    fn micro(
        &self,
        pairs: &[&PreferencePair],
        train: bool,
    ) -> Result<(Tensor, Vec<DpoTerms>, steptool_model::PolicyOutput)> {
        let (policy, reference, out) = self.summed(pairs, train)?;
        let n = pairs.len() as i64;
        let (pc, pr) = (policy.f_narrow(0, 0, n)?, policy.f_narrow(0, n, n)?);
        let (rc, rr) = (reference.f_narrow(0, 0, n)?, reference.f_narrow(0, n, n)?);
        let z = pc
            .f_sub(&rc)?
            .f_sub(&pr.f_sub(&rr)?)?
            .f_mul_scalar(self.config.beta)?;
        let eps = self.config.label_smoothing;
        let losses = z
            .f_log_sigmoid()?
            .f_mul_scalar(-(1.0 - eps))?
            .f_sub(&z.f_neg()?.f_log_sigmoid()?.f_mul_scalar(eps)?)?;
        let values = |t: &Tensor| -> Result<Vec<f64>> {
            Ok(Vec::<f64>::try_from(
                t.f_detach()?
                    .f_to_kind(tch::Kind::Double)?
                    .f_to_device(tch::Device::Cpu)?,
            )?)
        };
        let (pc, pr, rc, rr) = (values(&pc)?, values(&pr)?, values(&rc)?, values(&rr)?);
        let trained = values(&losses)?;
        // The reward terms from the summed log-probs; the loss is the one back-propagated.
        let terms = (0..pairs.len())
            .map(|i| DpoTerms {
                loss: trained[i],
                ..dpo_loss(
                    &PairLogps {
                        policy_chosen: pc[i],
                        policy_rejected: pr[i],
                        reference_chosen: rc[i],
                        reference_rejected: rr[i],
                    },
                    self.config.beta,
                    eps,
                )
            })
            .collect();
        Ok((losses, terms, out))
    }

    /// One optimizer step on `batch_size` pairs.
    pub fn step(&mut self, pairs: &[PreferencePair]) -> Result<DpoMetrics> {
        let t0 = Instant::now();
        if pairs.len() != self.config.batch_size {
            return Err(Error::Input(format!(
                "a DPO step takes batch_size = {} pairs, got {}",
                self.config.batch_size,
                pairs.len()
            )));
        }
        self.check(pairs)?;
        tch::manual_seed((self.config.seed ^ self.step.wrapping_mul(0x9E37_79B9_7F4A_7C15)) as i64);
        let mut order: Vec<&PreferencePair> = pairs.iter().collect();
        order.sort_by_key(|p| p.max_len());
        self.optimizer.zero_grad();
        let mut sums = Sums::default();
        let mut finite = true;
        for mb in order.chunks(self.config.micro_batch_size) {
            let (losses, terms, out) = self.micro(mb, true)?;
            terms.iter().for_each(|t| sums.add(t));
            if terms.iter().any(|t| !t.loss.is_finite()) {
                finite = false;
                continue;
            }
            let loss = losses
                .f_sum(tch::Kind::Float)?
                .f_div_scalar(pairs.len() as f64)?;
            self.model.backward(&loss, &out)?;
        }
        let norm = self.optimizer.grad_norm()?;
        let lr = self.config.learning_rate * self.schedule.factor(self.step);
        let skipped = !finite || !norm.is_finite();
        if skipped {
            tracing::warn!(
                step = self.step,
                "non-finite DPO loss or gradient: update skipped"
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
        let mean = sums.mean();
        let m = DpoMetrics {
            step: self.step,
            loss: mean.loss,
            reward_margin: mean.reward_margin,
            chosen_reward: mean.chosen_reward,
            rejected_reward: mean.rejected_reward,
            accuracy: mean.accuracy,
            pairs: pairs.len(),
            tokens: pairs
                .iter()
                .map(|p| p.chosen.len() + p.rejected.len())
                .sum(),
            lr,
            grad_norm: norm,
            skipped,
            seconds: t0.elapsed().as_secs_f64(),
        };
        self.step += 1;
        Ok(m)
    }

    /// Mean DPO terms of `pairs` under the current adapters (no gradient, no dropout).
    pub fn evaluate(&self, pairs: &[PreferencePair]) -> Result<DpoEval> {
        self.check(pairs)?;
        let _g = tch::no_grad_guard();
        let refs: Vec<&PreferencePair> = pairs.iter().collect();
        let mut sums = Sums::default();
        for mb in refs.chunks(self.config.micro_batch_size) {
            let (_, terms, _) = self.micro(mb, false)?;
            terms.iter().for_each(|t| sums.add(t));
        }
        Ok(sums.mean())
    }

    /// Writes the bundle into `dir` (being filled): the adapter, the optimizer and the state.
    pub fn write_bundle(&self, dir: &Path, extra: serde_json::Value) -> Result<()> {
        self.model.save_adapter(&dir.join(ADAPTER))?;
        self.optimizer.save(&dir.join(OPTIMIZER))?;
        checkpoint::write_state(
            dir,
            &DpoState {
                version: 1,
                step: self.step,
                total_steps: self.total_steps,
                config: self.config.clone(),
                extra,
            },
        )
    }

    /// Restores a bundle of [`DpoTrainer::write_bundle`] (same config and length required).
    pub fn load_checkpoint(&mut self, dir: &Path) -> Result<serde_json::Value> {
        let state = DpoState::read_matching(dir, &self.config, self.total_steps)?;
        self.model.load_adapter(&dir.join(ADAPTER))?;
        self.optimizer.load(&dir.join(OPTIMIZER))?;
        self.step = state.step;
        Ok(state.extra)
    }
}
