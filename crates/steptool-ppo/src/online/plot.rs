//! The on-policy run's picture. The first panel is the one a user looks at: the held-out pass
//! rate of the policy over training; then what the policy's own rollouts earned, and the PPO
//! health curves.

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::common::plot::{plot_panels, Panel};
use crate::error::Result;

fn series(
    lines: &[Value],
    kind: Option<&str>,
    filter: &dyn Fn(&Value) -> bool,
    y: &str,
) -> Vec<(f64, f64)> {
    lines
        .iter()
        .filter(|v| v.get("kind").and_then(Value::as_str) == kind && filter(v))
        .filter_map(|v| Some((v.get("step")?.as_f64()?, v.get(y)?.as_f64()?)))
        .collect()
}

/// Draws the metrics file of an on-policy run (train, iteration and eval lines) into a PNG.
pub fn plot_run(metrics: &Path, png: &Path) -> Result<Option<PathBuf>> {
    let lines: Vec<Value> = crate::metrics::read_lines(metrics)?;
    let all = |_: &Value| true;
    let mut pass = Panel::rates("held-out pass rate (policy, greedy)");
    let mut strategies: Vec<String> = lines
        .iter()
        .filter(|v| v.get("kind").and_then(Value::as_str) == Some("eval"))
        .filter_map(|v| v.get("strategy").and_then(Value::as_str).map(str::to_owned))
        .collect();
    strategies.sort();
    strategies.dedup();
    for s in &strategies {
        let is = |v: &Value| v.get("strategy").and_then(Value::as_str) == Some(s.as_str());
        pass = pass
            .with(
                format!("{s} pass rate"),
                series(&lines, Some("eval"), &is, "pass_rate"),
            )
            .with(
                format!("{s} recall"),
                series(&lines, Some("eval"), &is, "recall"),
            );
    }
    let panels = vec![
        pass,
        Panel::rates("policy's training rollouts")
            .with(
                "solved rate",
                series(&lines, Some("iteration"), &all, "solved_rate"),
            )
            .with(
                "mean final reward",
                series(&lines, Some("iteration"), &all, "mean_final_reward"),
            ),
        Panel::new("mean return of the rollouts (sum of step rewards)").with(
            "return",
            series(&lines, Some("iteration"), &all, "mean_return"),
        ),
        Panel::new("PPO loss")
            .with("total", series(&lines, None, &all, "total_loss"))
            .with("value", series(&lines, None, &all, "value_loss")),
        Panel::new("KL to the reference (k1, may dip below 0)")
            .with("kl", series(&lines, None, &all, "kl")),
        Panel::new("actions per task")
            .with(
                "held-out",
                series(&lines, Some("eval"), &all, "mean_actions"),
            )
            .with(
                "training rollouts",
                series(&lines, Some("iteration"), &all, "mean_actions"),
            ),
    ];
    plot_panels(&panels, 3, "PPO step", png)
}
