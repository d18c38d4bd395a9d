//! The PPO loss of one mini-batch (TRL 0.10.1 `PPOTrainer.loss`, formats.md §1.6 e).
//!
//! With `ρ = exp(logp − old_logp)` and `mean_m` the mean over the mask:
//! `pg = mean_m(max(−A·ρ, −A·clip(ρ, 1−ε, 1+ε)))`,
//! `vf = ½·mean_m(max((v−R)², (clip(v, v_old−ε_v, v_old+ε_v)−R)²))`,
//! `loss = pg + vf_coef·vf − entropy_coef·mean_m(−ρ·sg(logp))`; when `mean_m(ρ) > ratio_threshold`
//! the mini-batch contributes nothing (loss × 0, TRL's guard).

use tch::{Kind, Tensor};

use crate::error::Result;

/// The per-token tensors of one mini-batch, all `[batch, len − 1]` f32 on one device.
#[derive(Debug)]
pub struct LossInputs<'a> {
    /// Current log-probs (with grad).
    pub logprobs: &'a Tensor,
    /// Old log-probs (no grad).
    pub old_logprobs: &'a Tensor,
    /// Current values (with grad).
    pub values: &'a Tensor,
    /// Old values.
    pub old_values: &'a Tensor,
    /// (Whitened) advantages.
    pub advantages: &'a Tensor,
    /// Return targets.
    pub returns: &'a Tensor,
    /// 1.0 where trained, 0.0 elsewhere.
    pub mask: &'a Tensor,
    /// Exact entropy of each position's distribution (no grad), for the logs.
    pub entropy: &'a Tensor,
}

/// The loss hyper-parameters.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LossParams {
    /// Ratio clip `ε`.
    pub cliprange: f64,
    /// Value clip `ε_v`.
    pub cliprange_value: f64,
    /// Value loss weight.
    pub vf_coef: f64,
    /// Entropy bonus weight.
    pub entropy_coef: f64,
    /// Mean-ratio guard.
    pub ratio_threshold: f64,
}

/// The loss (a scalar with grad) and its statistics.
#[derive(Debug)]
pub struct LossOutput {
    /// `pg + vf_coef·vf − entropy_coef·H_surrogate`, or 0 when the ratio guard fired.
    pub loss: Tensor,
    /// The total as a number (before the guard).
    pub total: f64,
    /// Policy-gradient loss.
    pub pg_loss: f64,
    /// Value loss (including the ½).
    pub vf_loss: f64,
    /// Fraction of positions where the ratio clip was active.
    pub pg_clipfrac: f64,
    /// Fraction where the value clip was active.
    pub vf_clipfrac: f64,
    /// `½·mean_m((logp − old_logp)²)`.
    pub approx_kl: f64,
    /// `mean_m(old_logp − logp)`.
    pub policy_kl: f64,
    /// `mean_m(ρ)`.
    pub mean_ratio: f64,
    /// `mean_m((v − R)²)`.
    pub value_error: f64,
    /// Exact entropy, `mean_m(H)`.
    pub entropy: f64,
    /// True when the ratio guard zeroed this mini-batch.
    pub skipped: bool,
}

fn masked_mean(x: &Tensor, mask: &Tensor, n: &Tensor) -> Result<Tensor> {
    Ok(x.f_mul(mask)?.f_sum(Kind::Float)?.f_div(n)?)
}

/// Computes the loss of one mini-batch (see the module docs).
pub fn ppo_loss(i: &LossInputs<'_>, p: &LossParams) -> Result<LossOutput> {
    let m = i.mask;
    let n = m.f_sum(Kind::Float)?.f_clamp_min(1.0)?;
    let diff = i.logprobs.f_sub(i.old_logprobs)?;
    let ratio = diff.f_exp()?;
    let neg_adv = i.advantages.f_neg()?;
    let pg1 = neg_adv.f_mul(&ratio)?;
    let pg2 = neg_adv.f_mul(&ratio.f_clamp(1.0 - p.cliprange, 1.0 + p.cliprange)?)?;
    let pg_loss = masked_mean(&pg1.f_maximum(&pg2)?, m, &n)?;
    let vclip = i.values.f_clamp_tensor(
        Some(&i.old_values.f_sub_scalar(p.cliprange_value)?),
        Some(&i.old_values.f_add_scalar(p.cliprange_value)?),
    )?;
    let vf1 = i.values.f_sub(i.returns)?.f_square()?;
    let vf2 = vclip.f_sub(i.returns)?.f_square()?;
    let vf_loss = masked_mean(&vf1.f_maximum(&vf2)?, m, &n)?.f_mul_scalar(0.5)?;
    let mut loss = pg_loss.f_add(&vf_loss.f_mul_scalar(p.vf_coef)?)?;
    if p.entropy_coef != 0.0 {
        let surrogate = masked_mean(&ratio.f_mul(&i.logprobs.f_detach()?)?.f_neg()?, m, &n)?;
        loss = loss.f_sub(&surrogate.f_mul_scalar(p.entropy_coef)?)?;
    }
    let stat = |t: Tensor| -> Result<f64> { Ok(t.f_detach()?.f_double_value(&[])?) };
    let (mean_ratio, pg_clipfrac, vf_clipfrac, approx_kl, policy_kl, value_error, entropy) =
        tch::no_grad(|| -> Result<_> {
            Ok((
                stat(masked_mean(&ratio, m, &n)?)?,
                stat(masked_mean(
                    &pg2.f_gt_tensor(&pg1)?.f_to_kind(Kind::Float)?,
                    m,
                    &n,
                )?)?,
                stat(masked_mean(
                    &vf2.f_gt_tensor(&vf1)?.f_to_kind(Kind::Float)?,
                    m,
                    &n,
                )?)?,
                stat(masked_mean(&diff.f_square()?, m, &n)?.f_mul_scalar(0.5)?)?,
                stat(masked_mean(&diff.f_neg()?, m, &n)?)?,
                stat(masked_mean(&vf1, m, &n)?)?,
                stat(masked_mean(i.entropy, m, &n)?)?,
            ))
        })?;
    let total = stat(loss.shallow_clone())?;
    let skipped = mean_ratio > p.ratio_threshold;
    if skipped {
        loss = loss.f_mul_scalar(0.0)?;
    }
    Ok(LossOutput {
        loss,
        total,
        pg_loss: stat(pg_loss)?,
        vf_loss: stat(vf_loss)?,
        pg_clipfrac,
        vf_clipfrac,
        approx_kl,
        policy_kl,
        mean_ratio,
        value_error,
        entropy,
        skipped,
    })
}
