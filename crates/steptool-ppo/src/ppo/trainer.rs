//! [`PpoTrainer`]: one PPO step on a batch of token-level episodes, checkpoints, resume.

use std::path::Path;
use std::time::Instant;

use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use steptool_advantage::{AdvantageEstimator, EpisodeInput, StepIndexStats};
use steptool_mdp::Episode;
use steptool_model::{Batch, ForwardOptions, PolicyModel};
use tch::{Device, Tensor};

use crate::adamw::AdamW;
use crate::checkpoint::{self, ADAPTER, OPTIMIZER, TRAINER_STATE, VALUE_HEAD};
use crate::config::{OldLogprobs, PpoConfig};
use crate::error::{Error, Result};
use crate::kl::KlController;
use crate::loss::{ppo_loss, LossInputs, LossParams};

/// What one PPO step did: one JSON line of `metrics.jsonl`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepMetrics {
    /// PPO step index (0-based; the step that produced these numbers).
    pub step: u64,
    /// Mean policy-gradient loss over the mini-batches.
    pub policy_loss: f64,
    /// Mean value loss.
    pub value_loss: f64,
    /// Mean total loss.
    pub total_loss: f64,
    /// Mean exact entropy on the trained positions.
    pub entropy: f64,
    /// Batch mean of `Σ_t kl_t` over the trained positions (before the update; what the
    /// controller reads).
    pub kl: f64,
    /// KL coefficient used for this step's rewards.
    pub kl_coef: f64,
    /// KL coefficient after the controller's update.
    pub kl_coef_next: f64,
    /// Mean fraction of clipped ratios.
    pub clipfrac: f64,
    /// Mean fraction of clipped values.
    pub vf_clipfrac: f64,
    /// Mean `½(logp − old)²`.
    pub approx_kl: f64,
    /// Mean `old − logp`.
    pub policy_kl: f64,
    /// Mean ratio (1 on the first epoch with recomputed old log-probs).
    pub mean_ratio: f64,
    /// Mean ratio over the first epoch's mini-batches.
    pub first_epoch_ratio: f64,
    /// Mean `(v − R)²`.
    pub value_error: f64,
    /// Mean and std of the whitened advantages on the trained positions.
    pub advantage_mean: f64,
    /// See `advantage_mean`.
    pub advantage_std: f64,
    /// Mean and std of the returns on the trained positions.
    pub return_mean: f64,
    /// See `return_mean`.
    pub return_std: f64,
    /// Mean final-step reward of the batch.
    pub mean_score: f64,
    /// Per-step-index breakdown from the estimator.
    pub step_stats: Vec<StepIndexStats>,
    /// Mini-batches zeroed by the ratio guard.
    pub ratio_guard_skips: usize,
    /// Optimizer steps skipped for a NaN/inf loss or gradient.
    pub nonfinite_skips: usize,
    /// Optimizer steps taken.
    pub optimizer_steps: usize,
    /// Global gradient norm of the last optimizer step (before clipping).
    pub grad_norm: f64,
    /// Learning rate used.
    pub lr: f64,
    /// Real tokens in the batch.
    pub tokens: usize,
    /// Tokens computed including padding, over all forward passes of the step.
    pub padded_tokens: usize,
    /// Wall seconds of the step.
    pub seconds: f64,
    /// Seconds of the no-grad policy and reference forwards and the advantage computation.
    pub rollout_seconds: f64,
    /// Seconds of the PPO epochs (forward, backward, optimizer).
    pub optimize_seconds: f64,
    /// `tokens / seconds`.
    pub tokens_per_s: f64,
    /// Peak resident memory of the process so far, MiB (Linux; 0 elsewhere).
    pub peak_rss_mb: f64,
}

impl StepMetrics {
    /// The numbers that must agree between an uninterrupted and a resumed run (everything but
    /// timings and memory).
    pub fn deterministic_part(&self) -> StepMetrics {
        StepMetrics {
            seconds: 0.0,
            rollout_seconds: 0.0,
            optimize_seconds: 0.0,
            tokens_per_s: 0.0,
            peak_rss_mb: 0.0,
            ..self.clone()
        }
    }
}

/// Peak resident set size of this process in MiB (`VmHWM`), 0 when unknown.
pub fn peak_rss_mb() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines().find(|l| l.starts_with("VmHWM:")).and_then(|l| {
                l.split_whitespace()
                    .nth(1)
                    .and_then(|k| k.parse::<f64>().ok())
            })
        })
        .map_or(0.0, |kb| kb / 1024.0)
}

/// Everything but the tensors that a checkpoint restores.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainerState {
    /// Format version (1).
    pub version: u32,
    /// PPO steps done.
    pub step: u64,
    /// The KL controller.
    pub kl: KlController,
    /// Consecutive non-finite steps.
    pub nonfinite_streak: usize,
    /// The config the run uses. Every random draw of step `s` comes from generators seeded
    /// with `(config.seed, s)`, so `seed` and `step` are the whole RNG state.
    pub config: PpoConfig,
    /// Caller's data (e.g. the data source and run name).
    #[serde(default)]
    pub extra: serde_json::Value,
}

/// Per-episode numbers fixed before the PPO epochs.
struct Prepared {
    ids: Vec<i64>,
    old_logprobs: Vec<f32>,
    old_values: Vec<f32>,
    advantages: Vec<f32>,
    returns: Vec<f32>,
    mask: Vec<f32>,
}

/// The StepTool PPO trainer over a [`PolicyModel`] with LoRA adapters and a value head.
///
/// See the crate docs for what one [`PpoTrainer::step`] does.
pub struct PpoTrainer<M: PolicyModel> {
    model: M,
    config: PpoConfig,
    optimizer: AdamW,
    kl: KlController,
    step: u64,
    nonfinite_streak: usize,
}

impl<M: PolicyModel> std::fmt::Debug for PpoTrainer<M> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PpoTrainer")
            .field("step", &self.step)
            .field("kl", &self.kl)
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl<M: PolicyModel> PpoTrainer<M> {
    /// A trainer over `model`, which must have LoRA adapters and a value head.
    pub fn new(model: M, config: PpoConfig) -> Result<Self> {
        config.validate()?;
        if model.lora_config().is_none() {
            return Err(Error::Input(
                "the model has no LoRA adapters: attach them before training (only LoRA and the value head are trained)".into(),
            ));
        }
        let params: Vec<(String, Tensor)> = model
            .var_store()
            .variables()
            .into_iter()
            .filter(|(_, t)| t.requires_grad())
            .collect();
        if !params.iter().any(|(n, _)| n.starts_with("v_head")) {
            return Err(Error::Input(
                "the model has no value head: call init_value_head or load_value_head first".into(),
            ));
        }
        let optimizer = AdamW::new(
            params,
            config.adam_betas,
            config.adam_eps,
            config.weight_decay,
        )?;
        Ok(PpoTrainer {
            model,
            kl: KlController::new(config.kl_control),
            config,
            optimizer,
            step: 0,
            nonfinite_streak: 0,
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
    /// The config.
    pub fn config(&self) -> &PpoConfig {
        &self.config
    }
    /// PPO steps done.
    pub fn steps_done(&self) -> u64 {
        self.step
    }
    /// The current KL coefficient.
    pub fn kl_coef(&self) -> f64 {
        self.kl.value
    }
    /// Names of the trained tensors (LoRA and value head), sorted.
    pub fn trained_names(&self) -> Vec<String> {
        self.optimizer
            .params()
            .iter()
            .map(|(n, _)| n.clone())
            .collect()
    }

    fn device(&self) -> Device {
        self.model.device()
    }

    fn check_episodes(&self, episodes: &[Episode]) -> Result<()> {
        if episodes.len() != self.config.batch_size {
            return Err(Error::Input(format!(
                "a PPO step takes batch_size = {} episodes, got {}",
                self.config.batch_size,
                episodes.len()
            )));
        }
        let vocab = self.model.config().vocab_size();
        for (i, ep) in episodes.iter().enumerate() {
            if ep.len() < 2 {
                return Err(Error::Input(format!(
                    "episode {i}: {} tokens, need at least 2",
                    ep.len()
                )));
            }
            if let Some(max) = self.config.max_tokens {
                if ep.len() > max {
                    return Err(Error::Input(format!(
                        "episode {i}: {} tokens exceed max_tokens = {max} (truncate with the encoder's max_context/max_response)",
                        ep.len()
                    )));
                }
            }
            if let Some(t) = ep.input_ids().iter().find(|&&t| i64::from(t) >= vocab) {
                return Err(Error::Input(format!(
                    "episode {i}: token id {t} is outside the model's vocabulary of {vocab}"
                )));
            }
            if self.config.old_logprobs == OldLogprobs::Behaviour
                && ep.behaviour_logprobs().is_none()
            {
                return Err(Error::Input(format!(
                    "episode {i} has no behaviour log-probs but old_logprobs = \"behaviour\""
                )));
            }
        }
        Ok(())
    }

    fn batch(&self, seqs: &[&[i64]]) -> Result<Batch> {
        let owned: Vec<Vec<i64>> = seqs.iter().map(|s| s.to_vec()).collect();
        let pad = self.model.config().pad_token_id().unwrap_or(0);
        Ok(Batch::from_sequences(
            &owned,
            pad,
            self.config.padding_side.into(),
            self.device(),
        )?)
    }

    /// Offset of a sequence of length `len` inside a padded row of width `width`.
    fn offset(&self, width: usize, len: usize) -> usize {
        match self.config.padding_side {
            crate::config::Side::Right => 0,
            crate::config::Side::Left => width - len,
        }
    }

    /// Per-episode rows of a `[b, w]` tensor (w = T − 1), each of length `L_j − 1`.
    fn rows(&self, t: &Tensor, lens: &[usize]) -> Result<Vec<Vec<f32>>> {
        let w = t.size()[1] as usize;
        let flat: Vec<f32> =
            Vec::<f32>::try_from(t.f_to_device(Device::Cpu)?.f_contiguous()?.f_view([-1])?)?;
        Ok(lens
            .iter()
            .enumerate()
            .map(|(j, &l)| {
                let off = self.offset(w + 1, l);
                flat[j * w + off..j * w + off + l - 1].to_vec()
            })
            .collect())
    }

    /// A `[b, w]` tensor from per-episode rows (padding 0).
    fn padded(&self, rows: &[&[f32]], lens: &[usize], w: usize) -> Result<Tensor> {
        let mut flat = vec![0f32; rows.len() * w];
        for (j, (r, &l)) in rows.iter().zip(lens).enumerate() {
            let off = self.offset(w + 1, l);
            flat[j * w + off..j * w + off + r.len()].copy_from_slice(r);
        }
        Ok(Tensor::f_from_slice(&flat)?
            .f_view([rows.len() as i64, w as i64])?
            .f_to_device(self.device())?)
    }

    fn step_rng(&self) -> ChaCha8Rng {
        let mut rng = ChaCha8Rng::seed_from_u64(self.config.seed);
        rng.set_stream(self.step);
        rng
    }

    /// One PPO step on `batch_size` episodes: old log-probs and values, reference log-probs
    /// (adapters off), advantages, `ppo_epochs` passes of shuffled mini-batches with gradient
    /// accumulation, and the KL controller's update.
    pub fn step(&mut self, episodes: &[Episode]) -> Result<StepMetrics> {
        let t0 = Instant::now();
        self.check_episodes(episodes)?;
        let cfg = self.config.clone();
        tch::manual_seed((cfg.seed ^ self.step.wrapping_mul(0x9E37_79B9_7F4A_7C15)) as i64);
        let mut rng = self.step_rng();
        let ids: Vec<Vec<i64>> = episodes
            .iter()
            .map(|e| e.input_ids().iter().map(|&t| i64::from(t)).collect())
            .collect();
        let lens: Vec<usize> = ids.iter().map(Vec::len).collect();
        let mut padded_tokens = 0usize;

        // 1. Old log-probs and values, reference log-probs: no grad, length-sorted chunks.
        let n = episodes.len();
        let mut order: Vec<usize> = (0..n).collect();
        order.sort_by_key(|&i| (lens[i], i));
        let mut old_lp = vec![Vec::new(); n];
        let mut old_v = vec![Vec::new(); n];
        let mut ref_lp = vec![Vec::new(); n];
        {
            let _g = tch::no_grad_guard();
            for chunk in order.chunks(cfg.mini_batch_size) {
                let seqs: Vec<&[i64]> = chunk.iter().map(|&i| ids[i].as_slice()).collect();
                let cl: Vec<usize> = chunk.iter().map(|&i| lens[i]).collect();
                let batch = self.batch(&seqs)?;
                padded_tokens += 2 * chunk.len() * cl.iter().max().copied().unwrap_or(0);
                let out = self.model.forward(
                    &batch,
                    &ForwardOptions {
                        train: false,
                        values: true,
                        chunk_tokens: cfg.chunk_tokens,
                        temperature: cfg.temperature,
                        ..ForwardOptions::default()
                    },
                )?;
                let reference = if cfg.temperature == 1.0 {
                    self.model.reference_forward(&batch)?
                } else {
                    self.model.forward(
                        &batch,
                        &ForwardOptions {
                            use_adapters: false,
                            values: false,
                            chunk_tokens: cfg.chunk_tokens,
                            temperature: cfg.temperature,
                            ..ForwardOptions::default()
                        },
                    )?
                };
                let values = out
                    .values
                    .as_ref()
                    .ok_or_else(|| Error::Input("the model returned no values".into()))?;
                let t = values.size()[1];
                let lp_rows = self.rows(&out.logprobs, &cl)?;
                let v_rows = self.rows(&values.f_narrow(1, 0, t - 1)?, &cl)?;
                let r_rows = self.rows(&reference.logprobs, &cl)?;
                for (k, &i) in chunk.iter().enumerate() {
                    old_lp[i] = lp_rows[k].clone();
                    old_v[i] = v_rows[k].clone();
                    ref_lp[i] = r_rows[k].clone();
                }
            }
        }
        if cfg.old_logprobs == OldLogprobs::Behaviour {
            for (i, ep) in episodes.iter().enumerate() {
                if let Some(b) = ep.behaviour_logprobs() {
                    old_lp[i] = b.to_vec();
                }
            }
        }

        // 2. Rewards, advantages, returns.
        let kl_coef = self.kl.value;
        let estimator = AdvantageEstimator::new(cfg.advantage_config(kl_coef))?;
        let inputs: Vec<EpisodeInput> = episodes
            .iter()
            .enumerate()
            .map(|(i, e)| {
                EpisodeInput::from_episode(
                    e,
                    old_lp[i].clone(),
                    ref_lp[i].clone(),
                    old_v[i].clone(),
                )
            })
            .collect();
        let adv = estimator.compute(&inputs)?;
        let mut kl_sum = 0.0f64;
        let (mut am, mut a2, mut rm, mut r2, mut cnt) = (0.0f64, 0.0f64, 0.0f64, 0.0f64, 0.0f64);
        let mut prepared = Vec::with_capacity(n);
        for (i, ea) in adv.episodes.into_iter().enumerate() {
            let mask: Vec<f32> = ea.mask.iter().map(|&m| if m { 1.0 } else { 0.0 }).collect();
            for t in 0..mask.len() {
                if ea.mask[t] {
                    kl_sum += f64::from(cfg.kl_penalty.estimate(old_lp[i][t], ref_lp[i][t]));
                    let (a, r) = (f64::from(ea.advantages[t]), f64::from(ea.returns[t]));
                    am += a;
                    a2 += a * a;
                    rm += r;
                    r2 += r * r;
                    cnt += 1.0;
                }
            }
            prepared.push(Prepared {
                ids: ids[i].clone(),
                old_logprobs: std::mem::take(&mut old_lp[i]),
                old_values: std::mem::take(&mut old_v[i]),
                advantages: ea.advantages,
                returns: ea.returns,
                mask,
            });
        }
        let mean_kl = kl_sum / n as f64;
        let cnt1 = cnt.max(1.0);
        let (advantage_mean, return_mean) = (am / cnt1, rm / cnt1);
        let advantage_std = (a2 / cnt1 - advantage_mean * advantage_mean)
            .max(0.0)
            .sqrt();
        let return_std = (r2 / cnt1 - return_mean * return_mean).max(0.0).sqrt();

        // 3. PPO epochs.
        let rollout_seconds = t0.elapsed().as_secs_f64();
        let params = LossParams {
            cliprange: cfg.cliprange,
            cliprange_value: cfg.cliprange_value,
            vf_coef: cfg.vf_coef,
            entropy_coef: cfg.entropy_coef,
            ratio_threshold: cfg.ratio_threshold,
        };
        let lr = cfg.learning_rate * cfg.lr_schedule.factor(self.step);
        let backward = cfg.mini_batch_size * cfg.gradient_accumulation_steps;
        let accum = cfg.gradient_accumulation_steps as f64;
        let mut sums = [0f64; 10];
        let mut n_mb = 0usize;
        let (mut first_ratio, mut first_n) = (0.0f64, 0usize);
        let (mut guard_skips, mut nonfinite_skips, mut opt_steps) = (0usize, 0usize, 0usize);
        let mut grad_norm = 0.0;
        let mut nonfinite_detail = String::new();
        for epoch in 0..cfg.ppo_epochs {
            let mut perm: Vec<usize> = (0..n).collect();
            perm.shuffle(&mut rng);
            for group in perm.chunks(backward) {
                let mut group = group.to_vec();
                if cfg.length_bucketing {
                    group.sort_by_key(|&i| (lens[i], i));
                }
                self.optimizer.zero_grad();
                let mut finite = true;
                for mb in group.chunks(cfg.mini_batch_size) {
                    let seqs: Vec<&[i64]> =
                        mb.iter().map(|&i| prepared[i].ids.as_slice()).collect();
                    let ml: Vec<usize> = mb.iter().map(|&i| lens[i]).collect();
                    let tmax = ml.iter().max().copied().unwrap_or(0);
                    padded_tokens += mb.len() * tmax;
                    let batch = self.batch(&seqs)?;
                    let out = self.model.forward(
                        &batch,
                        &ForwardOptions {
                            train: true,
                            checkpoint: cfg.gradient_checkpointing,
                            values: true,
                            chunk_tokens: cfg.chunk_tokens,
                            temperature: cfg.temperature,
                            ..ForwardOptions::default()
                        },
                    )?;
                    let values = out
                        .values
                        .as_ref()
                        .ok_or_else(|| Error::Input("the model returned no values".into()))?
                        .f_narrow(1, 0, tmax as i64 - 1)?;
                    let w = tmax - 1;
                    let field = |f: fn(&Prepared) -> &[f32]| -> Result<Tensor> {
                        let rows: Vec<&[f32]> = mb.iter().map(|&i| f(&prepared[i])).collect();
                        self.padded(&rows, &ml, w)
                    };
                    let old_logprobs = field(|p| &p.old_logprobs)?;
                    let old_values = field(|p| &p.old_values)?;
                    let advantages = field(|p| &p.advantages)?;
                    let returns = field(|p| &p.returns)?;
                    let mask = field(|p| &p.mask)?;
                    let o = ppo_loss(
                        &LossInputs {
                            logprobs: &out.logprobs,
                            old_logprobs: &old_logprobs,
                            values: &values,
                            old_values: &old_values,
                            advantages: &advantages,
                            returns: &returns,
                            mask: &mask,
                            entropy: &out.entropy,
                        },
                        &params,
                    )?;
                    if !o.total.is_finite() {
                        finite = false;
                        nonfinite_detail = format!("loss {} in epoch {epoch}", o.total);
                        continue;
                    }
                    guard_skips += usize::from(o.skipped);
                    if epoch == 0 {
                        first_ratio += o.mean_ratio;
                        first_n += 1;
                    }
                    for (s, v) in sums.iter_mut().zip([
                        o.pg_loss,
                        o.vf_loss,
                        o.total,
                        o.entropy,
                        o.pg_clipfrac,
                        o.vf_clipfrac,
                        o.approx_kl,
                        o.policy_kl,
                        o.mean_ratio,
                        o.value_error,
                    ]) {
                        *s += v;
                    }
                    n_mb += 1;
                    self.model.backward(&o.loss.f_div_scalar(accum)?, &out)?;
                }
                let norm = self.optimizer.grad_norm()?;
                if !finite || !norm.is_finite() {
                    if finite {
                        nonfinite_detail = format!("gradient norm {norm} in epoch {epoch}");
                    }
                    tracing::warn!(step = self.step, epoch, detail = %nonfinite_detail, "non-finite loss or gradient: update skipped");
                    self.optimizer.zero_grad();
                    nonfinite_skips += 1;
                    continue;
                }
                grad_norm = norm;
                if let Some(max) = cfg.max_grad_norm {
                    let coef = max / (norm + 1e-6);
                    if coef < 1.0 {
                        self.optimizer.scale_grads(coef)?;
                    }
                }
                self.optimizer.step(lr)?;
                self.optimizer.zero_grad();
                opt_steps += 1;
            }
        }
        if nonfinite_skips > 0 {
            self.nonfinite_streak += 1;
            if self.nonfinite_streak >= cfg.max_nonfinite_steps {
                return Err(Error::NonFinite {
                    trainer: "PPO",
                    step: self.step,
                    count: self.nonfinite_streak,
                    detail: nonfinite_detail,
                });
            }
        } else {
            self.nonfinite_streak = 0;
        }

        // 4. KL controller.
        self.kl.update(mean_kl, n);
        let d = n_mb.max(1) as f64;
        let tokens: usize = lens.iter().sum();
        let seconds = t0.elapsed().as_secs_f64();
        let m = StepMetrics {
            step: self.step,
            policy_loss: sums[0] / d,
            value_loss: sums[1] / d,
            total_loss: sums[2] / d,
            entropy: sums[3] / d,
            kl: mean_kl,
            kl_coef,
            kl_coef_next: self.kl.value,
            clipfrac: sums[4] / d,
            vf_clipfrac: sums[5] / d,
            approx_kl: sums[6] / d,
            policy_kl: sums[7] / d,
            mean_ratio: sums[8] / d,
            first_epoch_ratio: first_ratio / first_n.max(1) as f64,
            value_error: sums[9] / d,
            advantage_mean,
            advantage_std,
            return_mean,
            return_std,
            mean_score: episodes
                .iter()
                .map(|e| e.step_rewards().last().copied().map_or(0.0, f64::from))
                .sum::<f64>()
                / n as f64,
            step_stats: adv.step_stats,
            ratio_guard_skips: guard_skips,
            nonfinite_skips,
            optimizer_steps: opt_steps,
            grad_norm,
            lr,
            tokens,
            padded_tokens,
            seconds,
            rollout_seconds,
            optimize_seconds: seconds - rollout_seconds,
            tokens_per_s: tokens as f64 / seconds.max(1e-9),
            peak_rss_mb: peak_rss_mb(),
        };
        self.step += 1;
        Ok(m)
    }

    /// The state written into checkpoints.
    pub fn state(&self, extra: serde_json::Value) -> TrainerState {
        TrainerState {
            version: 1,
            step: self.step,
            kl: self.kl,
            nonfinite_streak: self.nonfinite_streak,
            config: self.config.clone(),
            extra,
        }
    }

    /// Writes this trainer's part of a checkpoint bundle into `dir` (a directory being
    /// filled; [`crate::checkpoint::RunDir::commit`] makes the bundle atomic): `adapter/` (PEFT
    /// `adapter_config.json` + `adapter_model.safetensors`), `value_head.safetensors` (TRL
    /// names), `optimizer.pt` (AdamW moments and step), `trainer_state.json`
    /// ([`TrainerState`]: step, KL controller, config, `extra`).
    pub fn write_bundle(&self, dir: &Path, extra: serde_json::Value) -> Result<()> {
        self.model.save_adapter(&dir.join(ADAPTER))?;
        self.model.save_value_head(&dir.join(VALUE_HEAD))?;
        self.optimizer.save(&dir.join(OPTIMIZER))?;
        checkpoint::write_state(dir, &self.state(extra))
    }

    /// Writes a checkpoint bundle into `dir` atomically: everything goes into a temporary
    /// sibling directory first, which is then renamed to `dir` (an existing `dir` is replaced).
    /// Contents: see [`PpoTrainer::write_bundle`].
    pub fn save_checkpoint(&self, dir: &Path, extra: serde_json::Value) -> Result<()> {
        steptool_mdp::atomic::write_dir_atomic(
            dir,
            |tmp| self.write_bundle(tmp, extra),
            |p, e| Error::io(p)(e),
        )
    }

    /// Restores a bundle written by [`PpoTrainer::save_checkpoint`]: adapter and value head
    /// weights (copied in place), optimizer moments, step, KL controller. The checkpoint's
    /// config must equal this trainer's (the error names the fields that differ). Returns the
    /// checkpoint's `extra`.
    pub fn load_checkpoint(&mut self, dir: &Path) -> Result<serde_json::Value> {
        let sp = dir.join(TRAINER_STATE);
        let state: TrainerState = checkpoint::read_state(dir)?;
        if state.version != 1 {
            return Err(Error::Checkpoint {
                path: sp,
                message: format!("unknown version {}", state.version),
            });
        }
        if state.config != self.config {
            return Err(Error::Checkpoint {
                path: sp,
                message: format!(
                    "its config differs from this run's config in {} (resume with the same config)",
                    checkpoint::changed_fields(&state.config, &self.config).join(", ")
                ),
            });
        }
        checkpoint::check_step(dir, state.step)?;
        self.model.load_adapter(&dir.join(ADAPTER))?;
        self.model.load_value_head(&dir.join(VALUE_HEAD))?;
        self.optimizer.load(&dir.join(OPTIMIZER))?;
        self.step = state.step;
        self.kl = state.kl;
        self.nonfinite_streak = state.nonfinite_streak;
        Ok(state.extra)
    }
}
