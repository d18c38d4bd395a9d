//! `ReferenceCompat` reproduces TRL 0.10.1's own rewards, GAE and whitening as recorded by the
//! TRL baseline (`fixtures/trl-baseline/trl_first_sample*.json`, made by `bench_trl.py`): sample 0
//! of PPO steps 0 (KL 0) and 1 (KL non-zero), with the `plain` and the `reference` weighting.

use std::path::PathBuf;

use anyhow::{anyhow, Context, Result};
use serde_json::Value;
use steptool_advantage::{
    AdvantageConfig, AdvantageEstimator, EpisodeInput, Estimator, RewardWeighting, WhitenStats,
};
use steptool_mdp::ActionSpan;

fn fixture(name: &str) -> Result<Value> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../fixtures/trl-baseline")
        .join(name);
    let text = std::fs::read_to_string(&path).with_context(|| path.display().to_string())?;
    Ok(serde_json::from_str(&text)?)
}

fn floats(step: &Value, key: &str) -> Result<Vec<f32>> {
    step[key]
        .as_array()
        .ok_or_else(|| anyhow!("{key} is not an array"))?
        .iter()
        .map(|v| {
            v.as_f64()
                .map(|x| x as f32)
                .ok_or_else(|| anyhow!("{key}: {v} is not a number"))
        })
        .collect()
}

fn ints(step: &Value, key: &str) -> Result<Vec<u64>> {
    step[key]
        .as_array()
        .ok_or_else(|| anyhow!("{key} is not an array"))?
        .iter()
        .map(|v| {
            v.as_u64()
                .ok_or_else(|| anyhow!("{key}: {v} is not an integer"))
        })
        .collect()
}

/// Action spans = the runs of 1 in the frag mask (one per step in these samples).
fn spans_of(frag: &[u64]) -> Vec<ActionSpan> {
    let mut spans = Vec::new();
    let mut t = 0;
    while t < frag.len() {
        if frag[t] == 1 {
            let start = t;
            while t < frag.len() && frag[t] == 1 {
                t += 1;
            }
            spans.push(ActionSpan::new(start, t));
        } else {
            t += 1;
        }
    }
    spans
}

fn max_diff(a: &[f32], b: &[f32]) -> f32 {
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

fn check(file: &str, weighting: RewardWeighting) -> Result<()> {
    let anchor = fixture(file)?;
    let expected_weighting = match weighting {
        RewardWeighting::Plain => "plain",
        RewardWeighting::Reference => "reference",
    };
    assert_eq!(anchor["settings"]["reward_weighting"], expected_weighting);
    let steps = anchor["steps"]
        .as_array()
        .ok_or_else(|| anyhow!("no steps"))?;
    assert_eq!(steps.len(), 2);
    for step in steps {
        let frag = ints(step, "frag_mask")?;
        let spans = spans_of(&frag);
        let scores = floats(step, "step_scores")?;
        assert_eq!(
            spans.len(),
            scores.len(),
            "one segment per step in the anchor"
        );
        let episode = EpisodeInput {
            num_tokens: frag.len(),
            action_spans: spans,
            step_rewards: scores,
            logprobs: floats(step, "logprobs")?,
            ref_logprobs: floats(step, "ref_logprobs")?,
            values: floats(step, "values_raw")?,
            bootstrap_value: None,
        };
        let config = AdvantageConfig {
            estimator: Estimator::ReferenceCompat { weighting },
            gamma: anchor["settings"]["gamma"]
                .as_f64()
                .ok_or_else(|| anyhow!("gamma"))?,
            lam: anchor["settings"]["lam"]
                .as_f64()
                .ok_or_else(|| anyhow!("lam"))?,
            kl_coef: step["kl_coef"].as_f64().ok_or_else(|| anyhow!("kl_coef"))?,
            whiten: false, // the batch's other 7 samples are not in the file: use its statistics
            ..AdvantageConfig::default()
        };
        let out = AdvantageEstimator::new(config)?.compute(&[episode])?;
        let ep = &out.episodes[0];
        let ppo_step = &step["ppo_step"];

        let mask: Vec<u64> = ep.mask.iter().map(|&m| u64::from(m)).collect();
        assert_eq!(mask, ints(step, "masks")?, "{file} step {ppo_step}: mask");
        for (name, ours, tol) in [
            ("rewards", &ep.rewards, 1e-5),
            ("advantages_raw", &ep.advantages_raw, 1e-5),
            ("returns", &ep.returns, 1e-5),
        ] {
            let theirs = floats(step, name)?;
            let d = max_diff(ours, &theirs);
            assert_eq!(ours.len(), theirs.len());
            eprintln!("{file} step {ppo_step}: {name} max |diff| {d:e}");
            assert!(d <= tol, "{file} step {ppo_step}: {name} differs by {d}");
        }
        // the step scores land where TRL put them
        let positions = ints(step, "reward_positions")?;
        let ends: Vec<u64> = out.episodes[0]
            .mask
            .iter()
            .enumerate()
            .filter(|&(t, &m)| m && ep.mask.get(t + 1) != Some(&true))
            .map(|(t, _)| t as u64)
            .collect();
        assert_eq!(ends, positions);

        // whitening with the file's batch-wide statistics
        let stats = WhitenStats::new(
            step["whiten_mean"]
                .as_f64()
                .ok_or_else(|| anyhow!("whiten_mean"))?,
            step["whiten_var"]
                .as_f64()
                .ok_or_else(|| anyhow!("whiten_var"))?,
            step["batch_mask_count"]
                .as_u64()
                .ok_or_else(|| anyhow!("count"))? as usize,
        );
        let whitened: Vec<f32> = ep.advantages_raw.iter().map(|&a| stats.apply(a)).collect();
        let d = max_diff(&whitened, &floats(step, "advantages")?);
        eprintln!("{file} step {ppo_step}: advantages max |diff| {d:e}");
        assert!(
            d <= 1e-4,
            "{file} step {ppo_step}: whitened advantages differ by {d}"
        );
    }
    Ok(())
}

#[test]
fn reference_compat_reproduces_trl_plain_weighting() -> Result<()> {
    check("trl_first_sample.json", RewardWeighting::Plain)
}

#[test]
fn reference_compat_reproduces_trl_reference_weighting() -> Result<()> {
    check(
        "trl_first_sample_reference_weighting.json",
        RewardWeighting::Reference,
    )
}

/// The anchors have non-zero KL in step 1; check that it is really exercised (a test that
/// passes with β·kl ≡ 0 would not prove the penalty's placement and sign).
#[test]
fn anchor_step_one_has_a_kl_penalty() -> Result<()> {
    let anchor = fixture("trl_first_sample.json")?;
    let kls = floats(&anchor["steps"][1], "kls")?;
    let nonzero = kls.iter().filter(|k| k.abs() > 1e-4).count();
    assert!(nonzero > 100, "only {nonzero} positions with KL");
    Ok(())
}
