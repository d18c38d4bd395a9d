//! Every estimator against an independent NumPy implementation (closed-form GAE in float64):
//! `scripts/golden/advantage_golden.py` -> `fixtures/golden/advantage/estimators.json`.

use std::path::PathBuf;

use anyhow::{anyhow, Context, Result};
use serde::Deserialize;
use steptool_advantage::{AdvantageConfig, AdvantageEstimator, EpisodeInput};

#[derive(Deserialize)]
struct Golden {
    episodes: Vec<EpisodeInput>,
    cases: Vec<Case>,
}

#[derive(Deserialize)]
struct Case {
    config: AdvantageConfig,
    episodes: Vec<Expected>,
    whiten_mean: Option<f64>,
    whiten_var: Option<f64>,
}

#[derive(Deserialize)]
struct Expected {
    rewards: Vec<f64>,
    advantages_raw: Vec<f64>,
    advantages: Vec<f64>,
    returns: Vec<f64>,
    mask: Vec<u8>,
}

fn check(what: &str, ours: &[f32], numpy: &[f64]) -> Result<()> {
    if ours.len() != numpy.len() {
        return Err(anyhow!("{what}: {} entries vs {}", ours.len(), numpy.len()));
    }
    for (t, (&a, &b)) in ours.iter().zip(numpy).enumerate() {
        // f32 recursion vs f64 closed form: a few f32 ulps of the largest partial sum
        if (f64::from(a) - b).abs() > 2e-5 * (1.0 + b.abs()) {
            return Err(anyhow!("{what}[{t}]: {a} vs NumPy {b}"));
        }
    }
    Ok(())
}

#[test]
fn every_estimator_matches_numpy() -> Result<()> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../fixtures/golden/advantage/estimators.json");
    let text = std::fs::read_to_string(&path).with_context(|| path.display().to_string())?;
    let golden: Golden = serde_json::from_str(&text)?;
    assert_eq!(golden.cases.len(), 10);
    let mut seen = std::collections::BTreeSet::new();
    for (i, case) in golden.cases.iter().enumerate() {
        let name = format!("case {i} ({})", case.config.estimator.name());
        seen.insert(case.config.estimator.name());
        let out = AdvantageEstimator::new(case.config)?.compute(&golden.episodes)?;
        match (out.whitening, case.whiten_mean, case.whiten_var) {
            (Some(w), Some(m), Some(v)) => {
                assert!((w.mean - m).abs() < 1e-6, "{name}: mean {} vs {m}", w.mean);
                assert!(
                    (w.var - v).abs() < 1e-6 * (1.0 + v),
                    "{name}: var {} vs {v}",
                    w.var
                );
            }
            (None, None, None) => {}
            other => return Err(anyhow!("{name}: whitening {other:?}")),
        }
        for (j, (ours, numpy)) in out.episodes.iter().zip(&case.episodes).enumerate() {
            let what = |field: &str| format!("{name} episode {j} {field}");
            check(&what("rewards"), &ours.rewards, &numpy.rewards)?;
            check(
                &what("advantages_raw"),
                &ours.advantages_raw,
                &numpy.advantages_raw,
            )?;
            check(&what("advantages"), &ours.advantages, &numpy.advantages)?;
            check(&what("returns"), &ours.returns, &numpy.returns)?;
            let mask: Vec<u8> = ours.mask.iter().map(|&m| u8::from(m)).collect();
            assert_eq!(mask, numpy.mask, "{}", what("mask"));
        }
    }
    assert_eq!(seen.len(), 4, "all four estimators covered");
    Ok(())
}
