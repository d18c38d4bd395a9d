//! The configuration of an advantage computation: which estimator, the discounts, the KL
//! penalty and whitening. Deserialised with serde (unknown fields rejected) and validated once by
//! [`crate::AdvantageEstimator::new`].

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// Which advantage estimator turns step rewards into per-token advantages.
///
/// See the crate docs for the equations and for when to choose which. In JSON/TOML the unit
/// variants are strings (`"step_gae"`) and [`Estimator::ReferenceCompat`] is
/// `{"reference_compat": {"weighting": "plain"}}` (`weighting` defaults to `reference`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Estimator {
    /// The paper (eq. 5-7, the default): GAE over *steps*. Step `k`'s reward is `r_k` plus the
    /// KL penalties of its tokens; its advantage is broadcast over all tokens of the action.
    #[default]
    StepGae,
    /// Token-level GAE over the action positions only, in order; observation and prompt tokens
    /// are skipped (they cost no discount); `r_k` is added at the last position of action `k`.
    TokenGae,
    /// The "PPO (final reward)" baseline: only the final action is trained, with the final reward
    /// at its last position and token-level GAE over its positions.
    FinalReward,
    /// The released StepTool code (`step_ppotrainer.py` on trl 0.10.1), position by position:
    /// KL penalty everywhere, step scores at segment ends matched from the end, GAE through every
    /// position with rewards and values multiplied by the action mask.
    ReferenceCompat {
        /// How step scores are weighted (default: as the released code, `(n-1-k)`).
        #[serde(default)]
        weighting: RewardWeighting,
    },
}

impl Estimator {
    /// Every estimator, `ReferenceCompat` with both weightings: for tests, sweeps and ablation
    /// tables.
    pub const ALL: [Estimator; 5] = [
        Estimator::StepGae,
        Estimator::TokenGae,
        Estimator::FinalReward,
        Estimator::ReferenceCompat {
            weighting: RewardWeighting::Reference,
        },
        Estimator::ReferenceCompat {
            weighting: RewardWeighting::Plain,
        },
    ];

    /// The name used on the command line (`step-gae`, `token-gae`, `final-reward`,
    /// `reference-compat`).
    pub fn name(&self) -> &'static str {
        match self {
            Estimator::StepGae => "step-gae",
            Estimator::TokenGae => "token-gae",
            Estimator::FinalReward => "final-reward",
            Estimator::ReferenceCompat { .. } => "reference-compat",
        }
    }
}

/// How [`Estimator::ReferenceCompat`] weights the step scores it places on the tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RewardWeighting {
    /// The released code: score `k` of `n` is multiplied by `n-1-k` (so the final IsSolved
    /// score always counts 0). This is the default because it is what the released code does.
    #[default]
    Reference,
    /// Every score is added once (what the paper describes; the TRL baseline's `plain`).
    Plain,
}

/// The per-token KL estimate that becomes the penalty `-kl_coef * kl_t` (TRL's `kl_penalty`).
///
/// With `d = logp - ref_logp`: `kl` = `d`, `abs` = `|d|`, `mse` = `d²/2`, and `k3` =
/// `exp(-d) - 1 + d` (Schulman's low-variance, always non-negative estimator, as OpenRLHF's `k3`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum KlEstimator {
    /// `logp - ref_logp` (default; TRL's and the released code's `kl_penalty="kl"`).
    #[default]
    Kl,
    /// `|logp - ref_logp|`.
    Abs,
    /// `0.5 * (logp - ref_logp)^2`.
    Mse,
    /// `exp(ref_logp - logp) - 1 - (ref_logp - logp)`, computed with `exp_m1` for accuracy.
    K3,
}

impl KlEstimator {
    /// The per-token estimate for one position, in `f32` with TRL's order of operations.
    #[inline]
    pub fn estimate(self, logprob: f32, ref_logprob: f32) -> f32 {
        let d = logprob - ref_logprob;
        match self {
            KlEstimator::Kl => d,
            KlEstimator::Abs => d.abs(),
            KlEstimator::Mse => 0.5 * (d * d),
            KlEstimator::K3 => {
                let r = -d;
                r.exp_m1() - r
            }
        }
    }
}

/// Everything that decides how advantages are computed. Every field has a default; unknown
/// fields are rejected; [`crate::AdvantageEstimator::new`] validates the values.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AdvantageConfig {
    /// The estimator. Default: [`Estimator::StepGae`] (the paper).
    pub estimator: Estimator,
    /// Discount `γ` in `[0, 1]`, per step for `StepGae`, per trained token otherwise.
    /// Default: 0.99 (the released config).
    pub gamma: f64,
    /// GAE `λ` in `[0, 1]`. Default: 0.95 (trl's default, used by the released code).
    pub lam: f64,
    /// KL coefficient `β >= 0` of the per-token penalty `-β·kl_t` (the trainer passes the current
    /// value of its adaptive controller). Default: 0.3 (the released `init_kl_coef`).
    pub kl_coef: f64,
    /// The per-token KL estimate. Default: [`KlEstimator::Kl`].
    pub kl_estimator: KlEstimator,
    /// Whiten the advantages over the whole batch (masked mean and unbiased variance, `+1e-8`,
    /// TRL's `masked_whiten`). Default: true.
    pub whiten: bool,
    /// Use the intermediate step rewards `r_0..r_{n-2}`. `false` is the paper's ablation
    /// "w/o step-grained reward": they are replaced by 0 before any estimator runs, the final
    /// reward `r_{n-1}` and the KL penalty stay. Default: true.
    pub intermediate_rewards: bool,
}

impl Default for AdvantageConfig {
    fn default() -> Self {
        Self {
            estimator: Estimator::StepGae,
            gamma: 0.99,
            lam: 0.95,
            kl_coef: 0.3,
            kl_estimator: KlEstimator::Kl,
            whiten: true,
            intermediate_rewards: true,
        }
    }
}

impl AdvantageConfig {
    /// Check every value; called by [`crate::AdvantageEstimator::new`].
    pub fn validate(&self) -> Result<()> {
        let unit = |field: &'static str, v: f64| {
            if v.is_finite() && (0.0..=1.0).contains(&v) {
                Ok(())
            } else {
                Err(Error::Config {
                    field,
                    message: format!("{v} is outside [0, 1]"),
                })
            }
        };
        unit("gamma", self.gamma)?;
        unit("lam", self.lam)?;
        if !(self.kl_coef.is_finite() && self.kl_coef >= 0.0) {
            return Err(Error::Config {
                field: "kl_coef",
                message: format!("{} is not a finite number >= 0", self.kl_coef),
            });
        }
        Ok(())
    }
}
