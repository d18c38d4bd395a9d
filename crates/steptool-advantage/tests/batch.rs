//! One batch through every estimator; malformed input and configs; the JSON layer.

use anyhow::{anyhow, Result};
use steptool_advantage::{
    run_json, AdvantageConfig, AdvantageEstimator, AdvantagesRequest, EpisodeInput, Error,
    Estimator, RewardWeighting,
};
use steptool_mdp::ActionSpan;

/// Three episodes: 2 steps with an observation between them, 3 steps (one adjacent pair of
/// spans), and a truncated single step.
fn batch() -> Vec<EpisodeInput> {
    let ramp = |n: usize, a: f32, b: f32| (0..n).map(|i| a + b * i as f32).collect::<Vec<f32>>();
    vec![
        EpisodeInput {
            num_tokens: 9,
            action_spans: vec![ActionSpan::new(2, 4), ActionSpan::new(6, 9)],
            step_rewards: vec![0.5, 1.0],
            logprobs: ramp(8, -1.0, 0.05),
            ref_logprobs: ramp(8, -1.1, 0.07),
            values: ramp(8, 0.0, 0.1),
            bootstrap_value: None,
        },
        EpisodeInput {
            num_tokens: 14,
            action_spans: vec![
                ActionSpan::new(3, 5),
                ActionSpan::new(7, 9),
                ActionSpan::new(9, 14),
            ],
            step_rewards: vec![0.2, -0.3, 0.0],
            logprobs: ramp(13, -2.0, 0.1),
            ref_logprobs: ramp(13, -1.8, 0.05),
            values: ramp(13, 0.5, -0.05),
            bootstrap_value: None,
        },
        EpisodeInput {
            num_tokens: 6,
            action_spans: vec![ActionSpan::new(2, 6)],
            step_rewards: vec![0.7],
            logprobs: ramp(5, -0.5, 0.0),
            ref_logprobs: ramp(5, -0.6, 0.0),
            values: ramp(5, 0.3, 0.1),
            bootstrap_value: Some(0.25),
        },
    ]
}

/// One body over every estimator: shapes, masks, the return/advantage/value identity, the
/// whitening contract and the diagnostics.
#[test]
fn every_estimator_on_the_same_batch() -> Result<()> {
    let episodes = batch();
    for estimator in Estimator::ALL {
        let config = AdvantageConfig {
            estimator,
            ..AdvantageConfig::default()
        };
        let name = estimator.name();
        let out = AdvantageEstimator::new(config)?.compute(&episodes)?;
        assert_eq!(out.episodes.len(), episodes.len());
        let stats = out
            .whitening
            .ok_or_else(|| anyhow!("{name}: whitening is on"))?;
        let (mut n, mut sum, mut sq) = (0usize, 0.0f64, 0.0f64);
        for (inp, ep) in episodes.iter().zip(&out.episodes) {
            let len = inp.num_tokens - 1;
            for v in [&ep.rewards, &ep.advantages_raw, &ep.advantages, &ep.returns] {
                assert_eq!(v.len(), len, "{name}");
                assert!(v.iter().all(|x| x.is_finite()), "{name}");
            }
            // the mask: every action's positions, or only the last action's for FinalReward
            let spans: &[ActionSpan] = match estimator {
                Estimator::FinalReward => &inp.action_spans[inp.num_steps() - 1..],
                _ => &inp.action_spans,
            };
            let mut mask = vec![false; len];
            for s in spans {
                mask[s.scoring_positions()].fill(true);
            }
            assert_eq!(ep.mask, mask, "{name}");
            // returns - raw advantages = the value the estimator baselines with
            for (k, span) in inp.action_spans.iter().enumerate() {
                for t in span.scoring_positions().filter(|&t| ep.mask[t]) {
                    let baseline = match estimator {
                        Estimator::StepGae => inp.values[span.start - 1], // V(s_k)
                        _ => inp.values[t],
                    };
                    let d = ep.returns[t] - ep.advantages_raw[t] - baseline;
                    assert!(d.abs() < 1e-6, "{name} step {k} position {t}: {d}");
                }
            }
            for t in (0..len).filter(|&t| ep.mask[t]) {
                n += 1;
                sum += f64::from(ep.advantages[t]);
                sq += f64::from(ep.advantages[t]).powi(2);
            }
        }
        // whitened: masked mean 0, masked unbiased variance var / (var + 1e-8) ≈ 1
        assert_eq!(n, stats.count, "{name}");
        let mean = sum / n as f64;
        let var = (sq - n as f64 * mean * mean) / (n - 1) as f64;
        assert!(mean.abs() < 1e-5, "{name}: whitened mean {mean}");
        assert!((var - 1.0).abs() < 1e-4, "{name}: whitened variance {var}");
        // diagnostics: one entry per step index; step 2 exists only in episode 1
        assert_eq!(out.step_stats.len(), 3, "{name}");
        let counts: Vec<usize> = out.step_stats.iter().map(|s| s.episodes).collect();
        assert_eq!(counts, vec![3, 2, 1], "{name}");
        // step 0 tokens: 2 + 2 + 4;  mean step reward (0.5 + 0.2 + 0.7) / 3
        assert_eq!(out.step_stats[0].tokens, 8);
        assert!((out.step_stats[0].mean_step_reward - 1.4 / 3.0).abs() < 1e-6);
        // step 2 is episode 1's last action, positions 8..13: mean of its returns
        let ret2: f64 = out.episodes[1].returns[8..13]
            .iter()
            .map(|&x| f64::from(x))
            .sum::<f64>()
            / 5.0;
        assert!(
            (out.step_stats[2].mean_return - ret2).abs() < 1e-6,
            "{name}"
        );
        // ...and of its KL (kl = logp - ref): logp_t = -2 + 0.1t, ref_t = -1.8 + 0.05t, so
        // kl_t = -0.2 + 0.05t; t = 8..13 gives 0.2, 0.25, 0.3, 0.35, 0.4: mean 0.3
        assert!((out.step_stats[2].mean_kl - 0.3).abs() < 1e-6, "{name}");
    }
    Ok(())
}

/// Where two estimators must agree, they do.
#[test]
fn estimators_agree_where_they_should() -> Result<()> {
    let run = |estimator, episodes: &[EpisodeInput], intermediate| {
        AdvantageEstimator::new(AdvantageConfig {
            estimator,
            intermediate_rewards: intermediate,
            whiten: false,
            ..AdvantageConfig::default()
        })?
        .compute(episodes)
    };
    // One step: TokenGae and FinalReward are the same computation.
    let single = &batch()[2..];
    assert_eq!(
        run(Estimator::TokenGae, single, true)?.episodes,
        run(Estimator::FinalReward, single, true)?.episodes
    );
    // FinalReward never reads intermediate rewards: the ablation switch changes nothing.
    let all = batch();
    assert_eq!(
        run(Estimator::FinalReward, &all, true)?.episodes,
        run(Estimator::FinalReward, &all, false)?.episodes
    );
    // ...but it does change StepGae on multi-step episodes, and only before the last step.
    let on = run(Estimator::StepGae, &all, true)?;
    let off = run(Estimator::StepGae, &all, false)?;
    assert_ne!(
        on.episodes[0].advantages_raw[1],
        off.episodes[0].advantages_raw[1]
    );
    assert_eq!(
        on.episodes[0].advantages_raw[7],
        off.episodes[0].advantages_raw[7]
    );
    // One-token actions: a step is a token, so StepGae equals TokenGae (up to f32 rounding of
    // the order of additions).
    let one_token = EpisodeInput {
        num_tokens: 6,
        action_spans: vec![
            ActionSpan::new(1, 2),
            ActionSpan::new(3, 4),
            ActionSpan::new(5, 6),
        ],
        step_rewards: vec![0.1, 0.2, 0.9],
        logprobs: vec![-1.0, -0.5, -0.7, -0.2, -0.3],
        ref_logprobs: vec![-1.1, -0.4, -0.9, -0.2, -0.6],
        values: vec![0.3, 0.1, 0.4, 0.2, 0.6],
        bootstrap_value: None,
    };
    let s = run(Estimator::StepGae, std::slice::from_ref(&one_token), true)?;
    let t = run(Estimator::TokenGae, std::slice::from_ref(&one_token), true)?;
    for (a, b) in s.episodes[0]
        .advantages_raw
        .iter()
        .zip(&t.episodes[0].advantages_raw)
    {
        assert!((a - b).abs() < 1e-6, "{a} vs {b}");
    }
    Ok(())
}

fn expect_input_error(mutate: impl Fn(&mut EpisodeInput), needles: &[&str]) -> Result<()> {
    let mut episodes = batch();
    mutate(&mut episodes[1]);
    let est = AdvantageEstimator::new(AdvantageConfig::default())?;
    match est.compute(&episodes) {
        Ok(_) => Err(anyhow!("expected an error mentioning {needles:?}")),
        Err(e) => {
            let msg = e.to_string();
            for needle in needles {
                assert!(msg.contains(needle), "`{msg}` should mention `{needle}`");
            }
            Ok(())
        }
    }
}

#[test]
fn malformed_episodes_name_the_episode_and_field() -> Result<()> {
    let e = "episode 1";
    expect_input_error(
        |ep| ep.action_spans[2] = ActionSpan::new(9, 15),
        &[e, "action_spans", "past the sequence"],
    )?;
    expect_input_error(
        |ep| ep.action_spans[1] = ActionSpan::new(4, 9),
        &[e, "action_spans", "overlaps"],
    )?;
    expect_input_error(
        |ep| ep.action_spans[0] = ActionSpan::new(0, 2),
        &[e, "action_spans", "token 0"],
    )?;
    expect_input_error(
        |ep| ep.action_spans[1] = ActionSpan::new(7, 7),
        &[e, "action_spans", "empty"],
    )?;
    expect_input_error(
        |ep| {
            ep.action_spans.clear();
            ep.step_rewards.clear();
        },
        &[e, "action_spans", "at least one step"],
    )?;
    expect_input_error(
        |ep| ep.step_rewards.pop().map(drop).unwrap_or(()),
        &[e, "step_rewards", "2 rewards for 3"],
    )?;
    expect_input_error(
        |ep| ep.step_rewards[1] = f32::NAN,
        &[e, "step_rewards", "step 1", "NaN"],
    )?;
    expect_input_error(
        |ep| ep.logprobs.push(0.0),
        &[e, "`logprobs`", "14 entries", "13"],
    )?;
    expect_input_error(
        |ep| ep.ref_logprobs[4] = f32::NAN,
        &[e, "ref_logprobs", "position 4", "not finite"],
    )?;
    expect_input_error(
        |ep| ep.values[12] = f32::INFINITY,
        &[e, "values", "position 12", "inf"],
    )?;
    expect_input_error(
        |ep| ep.bootstrap_value = Some(f32::NAN),
        &[e, "bootstrap_value"],
    )?;
    expect_input_error(|ep| ep.num_tokens = 1, &[e, "num_tokens"])?;
    // with several bad episodes, the first one is reported
    let mut episodes = batch();
    episodes[2].values.clear();
    episodes[1].logprobs.clear();
    let est = AdvantageEstimator::new(AdvantageConfig::default())?;
    let err = est
        .compute(&episodes)
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(err.starts_with("episode 1, field `logprobs`"), "{err}");
    // the mask of an invalid episode is still computed, without a panic
    let mut bad = batch().remove(0);
    bad.action_spans.push(ActionSpan::new(8, 20));
    let mask = bad.action_mask();
    assert_eq!(mask.len(), 8);
    assert!(mask[7] && mask[1] && !mask[0]);
    Ok(())
}

#[test]
fn bad_configs_and_too_small_batches_are_errors() -> Result<()> {
    for (config, field) in [
        (
            AdvantageConfig {
                gamma: 1.5,
                ..AdvantageConfig::default()
            },
            "gamma",
        ),
        (
            AdvantageConfig {
                lam: -0.1,
                ..AdvantageConfig::default()
            },
            "lam",
        ),
        (
            AdvantageConfig {
                kl_coef: f64::NAN,
                ..AdvantageConfig::default()
            },
            "kl_coef",
        ),
        (
            AdvantageConfig {
                kl_coef: -1.0,
                ..AdvantageConfig::default()
            },
            "kl_coef",
        ),
    ] {
        match AdvantageEstimator::new(config) {
            Err(Error::Config { field: f, .. }) => assert_eq!(f, field),
            other => return Err(anyhow!("{field}: expected a config error, got {other:?}")),
        }
    }
    // whitening one trained position: the unbiased variance is undefined
    let one = EpisodeInput {
        num_tokens: 3,
        action_spans: vec![ActionSpan::new(2, 3)],
        step_rewards: vec![1.0],
        logprobs: vec![0.0; 2],
        ref_logprobs: vec![0.0; 2],
        values: vec![0.0; 2],
        bootstrap_value: None,
    };
    let est = AdvantageEstimator::new(AdvantageConfig::default())?;
    assert!(matches!(
        est.compute(std::slice::from_ref(&one)),
        Err(Error::Whitening { count: 1 })
    ));
    assert!(matches!(
        est.compute(&[]),
        Err(Error::Whitening { count: 0 })
    ));
    // without whitening both are fine
    let est = AdvantageEstimator::new(AdvantageConfig {
        whiten: false,
        ..AdvantageConfig::default()
    })?;
    assert_eq!(
        est.compute(&[one])?.episodes[0].advantages_raw,
        vec![0.0, 1.0]
    );
    assert!(est.compute(&[])?.episodes.is_empty());
    Ok(())
}

#[test]
fn config_serde_has_documented_defaults_and_rejects_unknown_fields() -> Result<()> {
    let c: AdvantageConfig = serde_json::from_str("{}")?;
    assert_eq!(c, AdvantageConfig::default());
    assert_eq!(
        (c.gamma, c.lam, c.kl_coef, c.whiten),
        (0.99, 0.95, 0.3, true)
    );
    assert_eq!(c.estimator, Estimator::StepGae);
    let c: AdvantageConfig = serde_json::from_str(
        r#"{"estimator": {"reference_compat": {}}, "kl_estimator": "k3", "intermediate_rewards": false}"#,
    )?;
    assert_eq!(
        c.estimator,
        Estimator::ReferenceCompat {
            weighting: RewardWeighting::Reference
        }
    );
    let c: AdvantageConfig =
        serde_json::from_str(r#"{"estimator": {"reference_compat": {"weighting": "plain"}}}"#)?;
    assert_eq!(
        c.estimator,
        Estimator::ReferenceCompat {
            weighting: RewardWeighting::Plain
        }
    );
    let err = serde_json::from_str::<AdvantageConfig>(r#"{"gama": 0.9}"#)
        .err()
        .ok_or_else(|| anyhow!("unknown field accepted"))?;
    assert!(err.to_string().contains("gama"), "{err}");
    Ok(())
}

const REQUEST: &str = r#"{"episodes": [
  {"num_tokens": 5, "action_spans": [[1, 2], [3, 5]], "step_rewards": [0.0, 1.0],
   "logprobs": [-1, -1, -1, -1], "ref_logprobs": [-1, -1, -1, -1], "values": [0, 0, 0, 0]}]}"#;

#[test]
fn json_round_trip() -> Result<()> {
    let est = AdvantageEstimator::new(AdvantageConfig {
        whiten: false,
        ..AdvantageConfig::default()
    })?;
    let out = run_json(&est, REQUEST.as_bytes(), false)?;
    // StepGae: A_1 = 1 on positions 2,3; A_0 = γλ·1 = 0.9405 on position 0
    assert_eq!(out.episodes[0].mask, vec![1, 0, 1, 1]);
    assert_eq!(out.episodes[0].advantages, vec![0.9405, 0.0, 1.0, 1.0]);
    assert_eq!(out.whiten_mean, None);
    let text = serde_json::to_string(&out)?;
    assert!(
        text.starts_with(r#"{"episodes":[{"rewards":[0.0,0.0,0.0,1.0],"advantages_raw":[0.9405,"#),
        "{text}"
    );
    assert!(
        text.ends_with(r#""whiten_mean":null,"whiten_var":null}"#),
        "{text}"
    );
    let with_diag = serde_json::to_value(run_json(&est, REQUEST.as_bytes(), true)?)?;
    assert_eq!(with_diag["step_diagnostics"][1]["tokens"], 2);
    Ok(())
}

#[test]
fn json_errors_name_the_episode_and_field() -> Result<()> {
    let cases = [
        (
            REQUEST.replace(r#""values": [0, 0, 0, 0]"#, r#""values": [0, "x", 0, 0]"#),
            "episode 0, field `values`: invalid JSON",
        ),
        (
            REQUEST.replace(r#", "values": [0, 0, 0, 0]"#, ""),
            "episode 0: missing field `values`",
        ),
        (
            REQUEST.replace(r#""values""#, r#""value""#),
            "episode 0: unknown field `value`",
        ),
        (
            REQUEST.replace(r#"[[1, 2], [3, 5]]"#, r#"[[1, 2, 3]]"#),
            "episode 0, field `action_spans`",
        ),
        (
            REQUEST.replace(r#""episodes""#, r#""episode""#),
            "input: unknown field `episode`",
        ),
        (
            REQUEST.replace(r#"[[1, 2], [3, 5]]"#, r#"[[1, 3], [2, 5]]"#),
            "episode 0, field `action_spans`: invalid episode: step 1",
        ),
        (
            REQUEST.replace(
                r#""logprobs": [-1, -1, -1, -1]"#,
                r#""logprobs": [-1, -1, -1]"#,
            ),
            "episode 0, field `logprobs`: 3 entries, expected num_tokens - 1 = 4",
        ),
        (
            REQUEST.replace(
                r#""step_rewards": [0.0, 1.0]"#,
                r#""step_rewards": [0.0, 1e39]"#,
            ),
            "episode 0, field `step_rewards`",
        ),
        ("[1, 2]".to_owned(), "input: expected an object"),
        ("{\"episodes\": [".to_owned(), "input: invalid JSON"),
    ];
    let est = AdvantageEstimator::new(AdvantageConfig::default())?;
    for (input, needle) in cases {
        match run_json(&est, input.as_bytes(), false) {
            Ok(_) => return Err(anyhow!("accepted: {input}")),
            Err(e) => assert!(
                e.to_string().contains(needle),
                "`{e}` should contain `{needle}`"
            ),
        }
    }
    // the request type deserialises directly too
    let req: AdvantagesRequest = serde_json::from_str(REQUEST)?;
    assert_eq!(req.episodes[0].action_spans[1], ActionSpan::new(3, 5));
    Ok(())
}

/// Finite step rewards whose sum overflows f32 are an error naming the episode, the array and
/// the position, not NaN/inf advantages.
#[test]
fn an_f32_overflow_is_an_error_naming_episode_and_position() -> Result<()> {
    let mut episodes = batch();
    episodes[1].step_rewards = vec![3.0e38, 3.0e38, 3.0e38];
    for estimator in [Estimator::StepGae, Estimator::TokenGae] {
        let config = AdvantageConfig {
            estimator,
            gamma: 1.0,
            lam: 1.0,
            whiten: false,
            ..AdvantageConfig::default()
        };
        match AdvantageEstimator::new(config)?.compute(&episodes) {
            Err(e @ Error::Overflow { episode: 1, .. }) => {
                let text = e.to_string();
                assert!(
                    text.contains("episode 1") && text.contains("overflow"),
                    "{text}"
                );
            }
            other => {
                return Err(anyhow!(
                    "{}: expected an overflow error, got {other:?}",
                    estimator.name()
                ))
            }
        }
    }
    Ok(())
}
