//! The validated numbers every estimator shares, in the `f32` form the arithmetic uses.

use crate::config::{AdvantageConfig, KlEstimator};
use crate::input::EpisodeInput;

/// `f32` constants derived once from a validated [`AdvantageConfig`], rounded the way TRL rounds
/// its Python floats when it multiplies them with `float32` tensors.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Params {
    /// `γ` as `f32`.
    pub gamma: f32,
    /// `γ·λ` multiplied in `f64` (as Python does) and then rounded to `f32`.
    pub gamma_lam: f32,
    /// `-β` as `f32` (TRL computes `-kl_ctl.value * kl`).
    pub neg_kl_coef: f32,
    /// The per-token KL estimate.
    pub kl: KlEstimator,
    /// Whether the intermediate step rewards are used.
    pub intermediate_rewards: bool,
}

impl Params {
    pub(crate) fn new(config: &AdvantageConfig) -> Self {
        Self {
            gamma: config.gamma as f32,
            gamma_lam: (config.gamma * config.lam) as f32,
            neg_kl_coef: (-config.kl_coef) as f32,
            kl: config.kl_estimator,
            intermediate_rewards: config.intermediate_rewards,
        }
    }

    /// The KL estimate at position `t`.
    #[inline]
    pub(crate) fn kl_at(&self, ep: &EpisodeInput, t: usize) -> f32 {
        self.kl.estimate(ep.logprobs[t], ep.ref_logprobs[t])
    }

    /// The sum of the KL estimates over each step's positions `P_k` (in `f64`, token order).
    pub(crate) fn step_kl(&self, ep: &EpisodeInput) -> Vec<f64> {
        ep.action_spans
            .iter()
            .map(|span| {
                span.scoring_positions()
                    .map(|t| f64::from(self.kl_at(ep, t)))
                    .sum()
            })
            .collect()
    }

    /// The KL penalty of one position: `-β·kl_t` in `f32` (`+ 0.0` turns the `-0.0` of a zero
    /// KL into `0.0` and changes no other value).
    #[inline]
    pub(crate) fn penalty(&self, kl: f32) -> f32 {
        kl * self.neg_kl_coef + 0.0
    }

    /// The step rewards the estimators see: the input's, or with `r_0..r_{n-2}` replaced by 0
    /// when intermediate rewards are switched off (the "w/o step-grained reward" ablation).
    pub(crate) fn step_rewards(&self, ep: &EpisodeInput) -> Vec<f32> {
        let n = ep.step_rewards.len();
        ep.step_rewards
            .iter()
            .enumerate()
            .map(|(k, &r)| {
                if self.intermediate_rewards || k + 1 == n {
                    r
                } else {
                    0.0
                }
            })
            .collect()
    }
}

/// One episode before whitening. Every array has `L - 1` entries.
#[derive(Debug, Clone)]
pub(crate) struct RawEpisode {
    /// The per-token rewards the estimator used.
    pub rewards: Vec<f32>,
    /// Advantages before whitening.
    pub advantages_raw: Vec<f32>,
    /// Return targets of the value function.
    pub returns: Vec<f32>,
    /// Where the estimator trains.
    pub mask: Vec<bool>,
    /// The sum of the KL estimates over each step's positions (for the diagnostics).
    pub step_kl: Vec<f64>,
}

impl RawEpisode {
    /// All-zero arrays of `len` entries (`step_kl` empty: filled by the caller).
    pub(crate) fn zeros(len: usize) -> Self {
        Self {
            rewards: vec![0.0; len],
            advantages_raw: vec![0.0; len],
            returns: vec![0.0; len],
            mask: vec![false; len],
            step_kl: Vec::new(),
        }
    }
}
