//! The PPO run's picture: the curves a user reads to see whether training is healthy.

use std::path::{Path, PathBuf};

use crate::common::plot::{plot_panels, Panel};
use crate::error::Result;
use crate::trainer::StepMetrics;

/// Draws loss, KL, KL coefficient, value error, clip fractions and the batch's reward against
/// the PPO step into a PNG (see [`plot_panels`]).
pub fn plot(metrics: &[StepMetrics], path: &Path) -> Result<Option<PathBuf>> {
    let series = |f: fn(&StepMetrics) -> f64| -> Vec<(f64, f64)> {
        metrics.iter().map(|m| (m.step as f64, f(m))).collect()
    };
    let panels = vec![
        Panel::new("loss")
            .with("total", series(|m| m.total_loss))
            .with("policy", series(|m| m.policy_loss))
            .with("value", series(|m| m.value_loss)),
        // The k1 estimator `logp - ref` can be negative on a batch; its expectation is not.
        Panel::new("KL to the reference (k1, may dip below 0)").with("kl", series(|m| m.kl)),
        Panel::new("KL coefficient").with("beta", series(|m| m.kl_coef)),
        Panel::new("value error").with("(v-R)^2", series(|m| m.value_error)),
        Panel::new("clip fraction")
            .with("policy", series(|m| m.clipfrac))
            .with("value", series(|m| m.vf_clipfrac)),
        Panel::new("batch final reward (data, not policy)").with("mean", series(|m| m.mean_score)),
    ];
    plot_panels(&panels, 3, "PPO step", path)
}
