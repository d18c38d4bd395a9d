//! [`RewardShaper`]: annotation components to one reward per step (paper eq. 3).
//!
//! For an intermediate step `t` and round `k`:
//! `r_t^k = (alpha * SuccCalling_t^k + Contribution_t^k) / normaliser`;
//! for the final step: `r_T^k = value(status^k)` (Solved 1, Unsure 0.5, Unsolved 0 by default).
//! Rounds are then aggregated (mean by default): `r_t = (1/K) sum_k r_t^k`.
//!
//! The defaults reproduce the reference training data (formats.md §2.5, inferred from every
//! value of the three example CSVs): alpha = 5 on the raw 0-5 Contribution scale, normaliser 10
//! (= alpha * 1 + 5, the largest possible score), mean over K = 3 rounds.
//! Setting [`ShaperConfig::step_rewards`] to `false` gives the "w/o step-grained reward"
//! ablation: intermediate rewards are 0, only the final reward remains.

use serde::{Deserialize, Serialize};

use crate::annotation::{AnswerStatus, RoundScores, StepAnnotation, MAX_CONTRIBUTION};
use crate::error::{Error, Result};

/// How rounds (K independent judge answers) are combined.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RoundAggregation {
    /// Arithmetic mean of the per-round rewards (the reference, default).
    #[default]
    Mean,
    /// Median of the per-round rewards (mean of the two middle ones for even K): robust to one
    /// outlying judge answer.
    Median,
}

/// Constants of eq. 3. Every field has a default; unknown fields are rejected.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ShaperConfig {
    /// Weight of SuccCalling against Contribution (default 5: the reference data).
    pub alpha: f64,
    /// Divisor of `alpha * succ + contribution`; `None` (default) means the largest possible
    /// score `alpha * 1 + 5`, which is 10 with the default alpha, so rewards lie in `[0, 1]`.
    pub normaliser: Option<f64>,
    /// Final reward for `Solved` (default 1).
    pub solved: f64,
    /// Final reward for `Unsure` (default 0.5).
    pub unsure: f64,
    /// Final reward for `Unsolved` (default 0).
    pub unsolved: f64,
    /// `false` sets every intermediate reward to 0: the "w/o step-grained reward" ablation
    /// (default `true`).
    pub step_rewards: bool,
    /// How rounds are combined (default mean).
    pub aggregation: RoundAggregation,
}

impl Default for ShaperConfig {
    fn default() -> Self {
        Self {
            alpha: 5.0,
            normaliser: None,
            solved: 1.0,
            unsure: 0.5,
            unsolved: 0.0,
            step_rewards: true,
            aggregation: RoundAggregation::Mean,
        }
    }
}

/// Turns a [`StepAnnotation`] into one reward per step. Built once from a validated
/// [`ShaperConfig`].
///
/// ```
/// use steptool_reward::{AnswerStatus, Provenance, RewardShaper, RoundScores, ShaperConfig, StepAnnotation};
///
/// # fn main() -> steptool_reward::Result<()> {
/// let round = |succ: [f32; 2], contrib: [f32; 2], status| RoundScores {
///     succeed_tool_calling: succ.to_vec(), contributions: contrib.to_vec(), status,
/// };
/// let provenance = Provenance { annotator: "doc".into(), model: None, prompt_hash: None, config_hash: String::new() };
/// let annotation = StepAnnotation::new(Some("1".into()), 3, vec![
///     round([1.0, 0.0], [4.0, 0.0], AnswerStatus::Solved),
///     round([1.0, 1.0], [2.0, 1.0], AnswerStatus::Unsure),
/// ], provenance)?;
/// // step 0: ((5+4)/10 + (5+2)/10)/2 = 0.8; step 1: (0/10 + 6/10)/2 = 0.3; final (1 + 0.5)/2 = 0.75
/// let r = RewardShaper::default().shape(&annotation);
/// assert!((r[0] - 0.8).abs() < 1e-6 && (r[1] - 0.3).abs() < 1e-6 && (r[2] - 0.75).abs() < 1e-6);
///
/// let ablation = RewardShaper::new(ShaperConfig { step_rewards: false, ..ShaperConfig::default() })?;
/// assert_eq!(ablation.shape(&annotation), vec![0.0, 0.0, 0.75]);
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct RewardShaper {
    config: ShaperConfig,
    normaliser: f64,
}

impl Default for RewardShaper {
    fn default() -> Self {
        Self {
            config: ShaperConfig::default(),
            normaliser: 5.0 + f64::from(MAX_CONTRIBUTION),
        }
    }
}

impl RewardShaper {
    /// A shaper from a checked config: every constant finite, alpha >= 0, normaliser > 0.
    pub fn new(config: ShaperConfig) -> Result<Self> {
        for (field, v) in [
            ("alpha", config.alpha),
            ("solved", config.solved),
            ("unsure", config.unsure),
            ("unsolved", config.unsolved),
        ] {
            if !v.is_finite() {
                return Err(Error::config(field, format!("{v} is not finite")));
            }
        }
        if config.alpha < 0.0 {
            return Err(Error::config(
                "alpha",
                format!("{} is negative", config.alpha),
            ));
        }
        let normaliser = config
            .normaliser
            .unwrap_or(config.alpha + f64::from(MAX_CONTRIBUTION));
        if !(normaliser.is_finite() && normaliser > 0.0) {
            return Err(Error::config(
                "normaliser",
                format!("{normaliser} must be a finite number > 0"),
            ));
        }
        Ok(Self { config, normaliser })
    }

    /// The config this shaper was built from.
    pub fn config(&self) -> &ShaperConfig {
        &self.config
    }

    /// The divisor actually used (the config's, or `alpha + 5`).
    pub fn normaliser(&self) -> f64 {
        self.normaliser
    }

    /// The reward of one intermediate step in one round: `(alpha*succ + contrib)/normaliser`,
    /// or 0 when step rewards are switched off.
    pub fn intermediate(&self, succ: f32, contribution: f32) -> f64 {
        if !self.config.step_rewards {
            return 0.0;
        }
        (self.config.alpha * f64::from(succ) + f64::from(contribution)) / self.normaliser
    }

    /// The reward of a final status.
    pub fn final_value(&self, status: AnswerStatus) -> f64 {
        match status {
            AnswerStatus::Solved => self.config.solved,
            AnswerStatus::Unsure => self.config.unsure,
            AnswerStatus::Unsolved => self.config.unsolved,
        }
    }

    /// One reward per step, in `f64` (as Python computes them; the TSV writes these): for every
    /// step, the per-round rewards are summed in round order and divided by K (mean), or their
    /// median is taken. The result has exactly [`StepAnnotation::num_steps`] entries.
    pub fn shape_f64(&self, annotation: &StepAnnotation) -> Vec<f64> {
        let rounds = annotation.rounds();
        let n_mid = annotation.num_intermediate();
        let mut out = Vec::with_capacity(annotation.num_steps());
        let per_round = |f: &dyn Fn(&RoundScores) -> f64| -> f64 {
            let values: Vec<f64> = rounds.iter().map(f).collect();
            self.aggregate(values)
        };
        for t in 0..n_mid {
            out.push(per_round(&|r: &RoundScores| {
                self.intermediate(r.succeed_tool_calling[t], r.contributions[t])
            }));
        }
        out.push(per_round(&|r: &RoundScores| self.final_value(r.status)));
        out
    }

    /// One reward per step as `f32` (what the trainer consumes); see [`RewardShaper::shape_f64`].
    pub fn shape(&self, annotation: &StepAnnotation) -> Vec<f32> {
        self.shape_f64(annotation)
            .into_iter()
            .map(|r| r as f32)
            .collect()
    }

    fn aggregate(&self, mut values: Vec<f64>) -> f64 {
        // StepAnnotation guarantees at least one round.
        let k = values.len() as f64;
        match self.config.aggregation {
            RoundAggregation::Mean => values.iter().sum::<f64>() / k,
            RoundAggregation::Median => {
                values.sort_by(f64::total_cmp);
                let mid = values.len() / 2;
                if values.len() % 2 == 1 {
                    values[mid]
                } else {
                    (values[mid - 1] + values[mid]) / 2.0
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::annotation::Provenance;

    fn prov() -> Provenance {
        Provenance {
            annotator: "test".into(),
            model: None,
            prompt_hash: None,
            config_hash: String::new(),
        }
    }

    /// The three rounds of the reference annotation of query 56543 (formats.md §2.4).
    fn annotation_56543() -> Result<StepAnnotation> {
        let r = |s: [f32; 2], c: [f32; 2], st| RoundScores {
            succeed_tool_calling: s.to_vec(),
            contributions: c.to_vec(),
            status: st,
        };
        StepAnnotation::new(
            Some("56543".into()),
            3,
            vec![
                r([0.0, 0.0], [1.0, 2.0], AnswerStatus::Unsure),
                r([0.0, 1.0], [1.0, 3.0], AnswerStatus::Unsolved),
                r([0.0, 0.0], [2.0, 3.0], AnswerStatus::Unsure),
            ],
            prov(),
        )
    }

    #[test]
    fn defaults_reproduce_reference_formula() -> Result<()> {
        let r = RewardShaper::default().shape_f64(&annotation_56543()?);
        // step 0: ((0+1) + (0+1) + (0+2)) / 10 / 3 = 0.4/3 = 0.1333…
        // step 1: ((0+2) + (5+3) + (0+3)) / 10 / 3 = 1.3/3 = 0.4333…
        // final: (0.5 + 0 + 0.5) / 3 = 0.3333…
        approx::assert_abs_diff_eq!(r[0], 0.4 / 3.0, epsilon = 1e-12);
        approx::assert_abs_diff_eq!(r[1], 1.3 / 3.0, epsilon = 1e-12);
        approx::assert_abs_diff_eq!(r[2], 1.0 / 3.0, epsilon = 1e-12);
        assert_eq!(r.len(), 3);
        assert_eq!(
            RewardShaper::new(ShaperConfig::default())?.normaliser(),
            10.0
        );
        Ok(())
    }

    #[test]
    fn every_constant_is_used() -> Result<()> {
        let a = annotation_56543()?;
        let shaper = RewardShaper::new(ShaperConfig {
            alpha: 1.0,
            normaliser: Some(2.0),
            solved: 10.0,
            unsure: 4.0,
            unsolved: -1.0,
            step_rewards: true,
            aggregation: RoundAggregation::Median,
        })?;
        let r = shaper.shape_f64(&a);
        // step 0 per round: (1*0+1)/2, (0+1)/2, (0+2)/2 = 0.5, 0.5, 1.0 -> median 0.5
        // step 1: (0+2)/2, (1+3)/2, (0+3)/2 = 1.0, 2.0, 1.5 -> median 1.5
        // final: 4, -1, 4 -> median 4
        assert_eq!(r, vec![0.5, 1.5, 4.0]);
        // alpha 2 without a normaliser divides by 2 + 5 = 7.
        let auto = RewardShaper::new(ShaperConfig {
            alpha: 2.0,
            ..ShaperConfig::default()
        })?;
        approx::assert_abs_diff_eq!(auto.intermediate(1.0, 5.0), 1.0, epsilon = 1e-12);
        approx::assert_abs_diff_eq!(auto.intermediate(1.0, 0.0), 2.0 / 7.0, epsilon = 1e-12);
        Ok(())
    }

    #[test]
    fn ablation_zeroes_intermediate_keeps_final() -> Result<()> {
        let shaper = RewardShaper::new(ShaperConfig {
            step_rewards: false,
            ..ShaperConfig::default()
        })?;
        let r = shaper.shape(&annotation_56543()?);
        assert_eq!(r.len(), 3);
        assert_eq!(&r[..2], &[0.0, 0.0]);
        approx::assert_abs_diff_eq!(r[2], 1.0 / 3.0, epsilon = 1e-6);
        Ok(())
    }

    #[test]
    fn config_is_validated_and_strict() {
        for bad in [
            ShaperConfig {
                alpha: f64::NAN,
                ..ShaperConfig::default()
            },
            ShaperConfig {
                alpha: -1.0,
                ..ShaperConfig::default()
            },
            ShaperConfig {
                normaliser: Some(0.0),
                ..ShaperConfig::default()
            },
        ] {
            assert!(matches!(RewardShaper::new(bad), Err(Error::Config { .. })));
        }
        let unknown: std::result::Result<ShaperConfig, _> =
            serde_json::from_str(r#"{"alpha": 5, "beta": 1}"#);
        assert!(unknown.is_err());
        let partial: std::result::Result<ShaperConfig, _> =
            serde_json::from_str(r#"{"step_rewards": false}"#);
        assert!(matches!(partial, Ok(c) if c.alpha == 5.0 && !c.step_rewards));
    }

    fn status_strategy() -> impl proptest::strategy::Strategy<Value = AnswerStatus> {
        proptest::prop_oneof![
            proptest::strategy::Just(AnswerStatus::Solved),
            proptest::strategy::Just(AnswerStatus::Unsure),
            proptest::strategy::Just(AnswerStatus::Unsolved),
        ]
    }

    proptest::proptest! {
        /// Default shaping: one reward per step, all in [0, 1]; the mean lies between the
        /// smallest and largest per-round reward.
        #[test]
        fn default_rewards_are_bounded_and_complete(
            n_mid in 0usize..6,
            k in 1usize..5,
            seed in proptest::collection::vec((0u8..2, 0u8..6, status_strategy()), 30),
        ) {
            let rounds: Vec<RoundScores> = (0..k).map(|r| RoundScores {
                succeed_tool_calling: (0..n_mid).map(|t| f32::from(seed[(r * 6 + t) % 30].0)).collect(),
                contributions: (0..n_mid).map(|t| f32::from(seed[(r * 6 + t) % 30].1)).collect(),
                status: seed[r].2,
            }).collect();
            let a = StepAnnotation::new(None, n_mid + 1, rounds.clone(), prov())?;
            let shaper = RewardShaper::default();
            let r = shaper.shape_f64(&a);
            proptest::prop_assert_eq!(r.len(), n_mid + 1);
            for (t, &v) in r.iter().enumerate() {
                proptest::prop_assert!((0.0..=1.0).contains(&v));
                let per_round: Vec<f64> = rounds.iter().map(|x| if t < n_mid {
                    shaper.intermediate(x.succeed_tool_calling[t], x.contributions[t])
                } else {
                    shaper.final_value(x.status)
                }).collect();
                let lo = per_round.iter().cloned().fold(f64::INFINITY, f64::min);
                let hi = per_round.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
                proptest::prop_assert!(v >= lo - 1e-12 && v <= hi + 1e-12);
            }
        }
    }

    #[test]
    fn single_step_trajectory_has_only_final_reward() -> Result<()> {
        let a = StepAnnotation::new(
            None,
            1,
            vec![RoundScores {
                succeed_tool_calling: vec![],
                contributions: vec![],
                status: AnswerStatus::Solved,
            }],
            prov(),
        )?;
        assert_eq!(RewardShaper::default().shape(&a), vec![1.0]);
        Ok(())
    }
}
