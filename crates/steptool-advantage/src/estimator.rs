//! [`AdvantageEstimator`]: a validated configuration that turns a batch of [`EpisodeInput`]s
//! into per-token rewards, advantages and returns.

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::config::{AdvantageConfig, Estimator};
use crate::diagnostics::{step_stats, StepIndexStats};
use crate::error::Result;
use crate::input::EpisodeInput;
use crate::params::{Params, RawEpisode};
use crate::whiten::WhitenStats;
use crate::{reference_compat, step_gae, token_gae};

/// The results for one episode. Every array has `L - 1` entries (entry `t` belongs to the
/// prediction of token `t + 1`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EpisodeAdvantages {
    /// The per-token rewards the estimator used: the KL penalty on the positions it reads, plus
    /// the step reward at the last position of its action (for `StepGae` their sum over `P_k`
    /// is `R_k`; for `ReferenceCompat` the penalty is on every position, before masking).
    pub rewards: Vec<f32>,
    /// Advantages before whitening.
    pub advantages_raw: Vec<f32>,
    /// Advantages after batch-wide whitening (equal to `advantages_raw` when whitening is off).
    pub advantages: Vec<f32>,
    /// Return targets of the value function (`advantages_raw + value`).
    pub returns: Vec<f32>,
    /// Where the estimator trains (the PPO loss averages over these positions).
    pub mask: Vec<bool>,
}

impl EpisodeAdvantages {
    /// Every output finite: the inputs are (validated), so a non-finite output is an f32
    /// overflow, reported instead of reaching the loss as NaN.
    fn check_finite(&self, episode: usize) -> Result<()> {
        for (field, v) in [
            ("rewards", &self.rewards),
            ("advantages_raw", &self.advantages_raw),
            ("advantages", &self.advantages),
            ("returns", &self.returns),
        ] {
            if let Some((position, &value)) = v.iter().enumerate().find(|(_, x)| !x.is_finite()) {
                return Err(crate::error::Error::Overflow {
                    episode,
                    field,
                    position,
                    value,
                });
            }
        }
        Ok(())
    }
}

/// The results for a batch, episodes in input order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BatchAdvantages {
    /// One result per input episode.
    pub episodes: Vec<EpisodeAdvantages>,
    /// The statistics whitening used; `None` when whitening is off.
    pub whitening: Option<WhitenStats>,
    /// Per-step-index means for the logs.
    pub step_stats: Vec<StepIndexStats>,
}

/// A validated [`AdvantageConfig`], ready to compute batches.
///
/// ```
/// use steptool_advantage::{AdvantageConfig, AdvantageEstimator, Estimator};
/// # fn main() -> steptool_advantage::Result<()> {
/// let config = AdvantageConfig { estimator: Estimator::TokenGae, ..AdvantageConfig::default() };
/// let estimator = AdvantageEstimator::new(config)?.with_kl_coef(0.05)?;
/// assert_eq!(estimator.config().kl_coef, 0.05);
/// assert!(AdvantageEstimator::new(AdvantageConfig { gamma: 1.5, ..config }).is_err());
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct AdvantageEstimator {
    config: AdvantageConfig,
    params: Params,
}

impl AdvantageEstimator {
    /// Validate `config` (see [`AdvantageConfig::validate`]).
    pub fn new(config: AdvantageConfig) -> Result<Self> {
        config.validate()?;
        Ok(Self {
            params: Params::new(&config),
            config,
        })
    }

    /// The same estimator with another KL coefficient (the adaptive controller's current `β`).
    pub fn with_kl_coef(self, kl_coef: f64) -> Result<Self> {
        Self::new(AdvantageConfig {
            kl_coef,
            ..self.config
        })
    }

    /// The configuration.
    pub fn config(&self) -> &AdvantageConfig {
        &self.config
    }

    /// Validate every episode (errors name the episode and field), then compute rewards,
    /// advantages and returns for each, whiten batch-wide and collect the per-step-index
    /// statistics. Episodes are computed in parallel; the result does not depend on the order
    /// of the episodes.
    pub fn compute(&self, episodes: &[EpisodeInput]) -> Result<BatchAdvantages> {
        // in parallel, reporting the first bad episode (deterministically the lowest index)
        if let Some(Err(e)) = episodes
            .par_iter()
            .enumerate()
            .map(|(i, ep)| ep.validate(i))
            .find_first(|r| r.is_err())
        {
            return Err(e);
        }
        let raws: Vec<RawEpisode> = episodes.par_iter().map(|ep| self.raw(ep)).collect();
        let whitening = if self.config.whiten {
            Some(WhitenStats::of_batch(
                raws.iter()
                    .map(|r| (r.advantages_raw.as_slice(), r.mask.as_slice())),
            )?)
        } else {
            None
        };
        let everywhere = matches!(self.config.estimator, Estimator::ReferenceCompat { .. });
        let (outputs, step_kls): (Vec<EpisodeAdvantages>, Vec<Vec<f64>>) = raws
            .into_par_iter()
            .map(|raw| {
                let advantages = match &whitening {
                    None => raw.advantages_raw.clone(),
                    Some(stats) => whiten_episode(stats, &raw, everywhere),
                };
                let out = EpisodeAdvantages {
                    rewards: raw.rewards,
                    advantages_raw: raw.advantages_raw,
                    advantages,
                    returns: raw.returns,
                    mask: raw.mask,
                };
                (out, raw.step_kl)
            })
            .unzip();
        for (i, out) in outputs.iter().enumerate() {
            out.check_finite(i)?;
        }
        let step_stats = step_stats(episodes, &outputs, &step_kls);
        Ok(BatchAdvantages {
            episodes: outputs,
            whitening,
            step_stats,
        })
    }

    fn raw(&self, ep: &EpisodeInput) -> RawEpisode {
        let p = &self.params;
        let mut raw = match self.config.estimator {
            Estimator::StepGae => step_gae::compute(p, ep),
            Estimator::TokenGae => token_gae::compute(p, ep, 0),
            Estimator::FinalReward => token_gae::compute(p, ep, ep.num_steps() - 1),
            Estimator::ReferenceCompat { weighting } => reference_compat::compute(p, ep, weighting),
        };
        raw.step_kl = p.step_kl(ep);
        raw
    }
}

/// Whitened advantages: on the masked positions, or on every position for `ReferenceCompat`
/// (TRL whitens the whole tensor); positions left out stay exactly 0.
fn whiten_episode(stats: &WhitenStats, raw: &RawEpisode, everywhere: bool) -> Vec<f32> {
    raw.advantages_raw
        .iter()
        .zip(&raw.mask)
        .map(
            |(&a, &m)| {
                if m || everywhere {
                    stats.apply(a)
                } else {
                    0.0
                }
            },
        )
        .collect()
}
