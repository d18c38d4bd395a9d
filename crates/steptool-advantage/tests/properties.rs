//! Invariants of the estimators, property-tested over random episodes.

use proptest::prelude::*;
use proptest::test_runner::TestCaseError;
use steptool_advantage::{
    AdvantageConfig, AdvantageEstimator, BatchAdvantages, EpisodeInput, Estimator, KlEstimator,
    RewardWeighting,
};
use steptool_mdp::ActionSpan;

/// A random episode: a prompt of 1-4 tokens, then per step an action of 1-6 tokens followed by
/// 0-5 observation tokens; random log-probs, values and rewards; terminated or truncated.
fn episode() -> impl Strategy<Value = EpisodeInput> {
    (
        1usize..5,
        prop::collection::vec((1usize..7, 0usize..6), 1..6),
        any::<bool>(),
        -1.0f32..1.0,
    )
        .prop_flat_map(|(prompt, steps, truncated, bootstrap)| {
            let mut spans = Vec::new();
            let mut t = prompt;
            for &(action, gap) in &steps {
                spans.push(ActionSpan::new(t, t + action));
                t += action + gap;
            }
            let len = t;
            let n = steps.len();
            (
                Just(spans),
                prop::collection::vec(-1.0f32..1.0, n),
                prop::collection::vec(-3.0f32..0.0, len - 1),
                prop::collection::vec(-3.0f32..0.0, len - 1),
                prop::collection::vec(-1.0f32..1.0, len - 1),
            )
                .prop_map(move |(spans, r, lp, rlp, v)| EpisodeInput {
                    num_tokens: len,
                    action_spans: spans,
                    step_rewards: r,
                    logprobs: lp,
                    ref_logprobs: rlp,
                    values: v,
                    bootstrap_value: truncated.then_some(bootstrap),
                })
        })
}

fn kl_estimator() -> impl Strategy<Value = KlEstimator> {
    prop_oneof![
        Just(KlEstimator::Kl),
        Just(KlEstimator::Abs),
        Just(KlEstimator::Mse),
        Just(KlEstimator::K3)
    ]
}

fn compute(
    config: AdvantageConfig,
    episodes: &[EpisodeInput],
) -> Result<BatchAdvantages, TestCaseError> {
    let est = AdvantageEstimator::new(config).map_err(|e| TestCaseError::fail(e.to_string()))?;
    est.compute(episodes)
        .map_err(|e| TestCaseError::fail(e.to_string()))
}

fn config(
    estimator: Estimator,
    gamma: f64,
    lam: f64,
    kl: KlEstimator,
    whiten: bool,
) -> AdvantageConfig {
    AdvantageConfig {
        estimator,
        gamma,
        lam,
        kl_coef: 0.2,
        kl_estimator: kl,
        whiten,
        intermediate_rewards: true,
    }
}

/// Number of positions `estimator` trains in `episodes`.
fn trained(estimator: Estimator, episodes: &[EpisodeInput]) -> usize {
    episodes
        .iter()
        .map(|e| match estimator {
            Estimator::FinalReward => e.action_spans.last().map_or(0, |s| s.len()),
            _ => e.action_spans.iter().map(|s| s.len()).sum(),
        })
        .sum()
}

/// Per-token penalty `-β·kl_t`, computed independently in f64.
fn penalty(ep: &EpisodeInput, kl: KlEstimator, t: usize) -> f64 {
    -0.2 * f64::from(kl.estimate(ep.logprobs[t], ep.ref_logprobs[t]))
}

fn close(a: f32, b: f64, what: &str) -> Result<(), TestCaseError> {
    let tol = 1e-4 * (1.0 + b.abs());
    prop_assert!(
        (f64::from(a) - b).abs() <= tol,
        "{what}: {a} vs expected {b}"
    );
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    /// λ = 1: StepGae's advantage is the discounted step return minus V(s_k) (eq. 5), TokenGae's
    /// the discounted token return (along action positions) minus the value.
    #[test]
    fn lambda_one_is_discounted_return_minus_value(
        ep in episode(), gamma in 0.0f64..1.0, kl in kl_estimator()
    ) {
        let n = ep.num_steps();
        let boot = f64::from(ep.bootstrap_value.unwrap_or(0.0));
        // StepGae: R_k = r_k + Σ_{P_k} pen; G_k = Σ_{i≥k} γ^{i-k} R_i + γ^{n-k}·boot
        let out = compute(config(Estimator::StepGae, gamma, 1.0, kl, false), std::slice::from_ref(&ep))?;
        let step_r: Vec<f64> = (0..n).map(|k| {
            f64::from(ep.step_rewards[k])
                + ep.action_spans[k].scoring_positions().map(|t| penalty(&ep, kl, t)).sum::<f64>()
        }).collect();
        for k in 0..n {
            let g: f64 = (k..n).map(|i| gamma.powi((i - k) as i32) * step_r[i]).sum::<f64>()
                + gamma.powi((n - k) as i32) * boot;
            let pos = ep.action_spans[k].scoring_positions();
            let expected = g - f64::from(ep.values[pos.start]);
            for t in pos {
                close(out.episodes[0].advantages_raw[t], expected, &format!("step-gae step {k} position {t}"))?;
            }
        }
        // TokenGae: along the action positions j with r_j = pen_j (+ r_k at the last of P_k)
        let out = compute(config(Estimator::TokenGae, gamma, 1.0, kl, false), std::slice::from_ref(&ep))?;
        let mut seq = Vec::new();
        for (k, span) in ep.action_spans.iter().enumerate() {
            let pos = span.scoring_positions();
            for t in pos.clone() {
                let extra = if t + 1 == pos.end { f64::from(ep.step_rewards[k]) } else { 0.0 };
                seq.push((t, penalty(&ep, kl, t) + extra));
            }
        }
        for (j, &(t, _)) in seq.iter().enumerate() {
            let m = seq.len();
            let g: f64 = (j..m).map(|i| gamma.powi((i - j) as i32) * seq[i].1).sum::<f64>()
                + gamma.powi((m - j) as i32) * boot;
            close(out.episodes[0].advantages_raw[t], g - f64::from(ep.values[t]), &format!("token-gae position {t}"))?;
        }
    }

    /// γ = 0: the advantage is the one-step TD error r - V (per step for StepGae, per token for
    /// TokenGae and FinalReward).
    #[test]
    fn gamma_zero_is_the_one_step_td_error(ep in episode(), lam in 0.0f64..=1.0, kl in kl_estimator()) {
        let out = compute(config(Estimator::StepGae, 0.0, lam, kl, false), std::slice::from_ref(&ep))?;
        for (k, span) in ep.action_spans.iter().enumerate() {
            let pos = span.scoring_positions();
            let r = f64::from(ep.step_rewards[k]) + pos.clone().map(|t| penalty(&ep, kl, t)).sum::<f64>();
            let expected = r - f64::from(ep.values[pos.start]);
            for t in pos {
                close(out.episodes[0].advantages_raw[t], expected, &format!("step {k}"))?;
            }
        }
        for estimator in [Estimator::TokenGae, Estimator::FinalReward] {
            let out = compute(config(estimator, 0.0, lam, kl, false), std::slice::from_ref(&ep))?;
            let e = &out.episodes[0];
            for t in (0..e.mask.len()).filter(|&t| e.mask[t]) {
                // δ_t = r_t - V_t exactly (γ·V_{t+1} = 0 and γλ·A_{t+1} = 0)
                prop_assert_eq!(e.advantages_raw[t], e.rewards[t] - ep.values[t]);
            }
        }
    }

    /// Outside the mask, StepGae, TokenGae and FinalReward put exactly 0 in every output
    /// (ReferenceCompat does not: its GAE runs through every position, as TRL's).
    #[test]
    fn positions_outside_the_mask_get_exactly_zero(
        episodes in prop::collection::vec(episode(), 1..4), gamma in 0.0f64..=1.0,
        lam in 0.0f64..=1.0, kl in kl_estimator(), whiten in any::<bool>()
    ) {
        for estimator in &Estimator::ALL[..3] {
            if whiten && trained(*estimator, &episodes) < 2 {
                continue; // whitening needs two positions (tested in tests/batch.rs)
            }
            let out = compute(config(*estimator, gamma, lam, kl, whiten), &episodes)?;
            for e in &out.episodes {
                for t in (0..e.mask.len()).filter(|&t| !e.mask[t]) {
                    for (name, v) in [("rewards", &e.rewards), ("advantages_raw", &e.advantages_raw),
                                      ("advantages", &e.advantages), ("returns", &e.returns)] {
                        prop_assert!(v[t] == 0.0, "{} {}[{}] = {}", estimator.name(), name, t, v[t]);
                    }
                }
            }
        }
    }

    /// Inserting tool-response tokens between actions changes nothing for StepGae, TokenGae and
    /// FinalReward: every action position gets bit-for-bit the same numbers.
    #[test]
    fn inserted_observation_tokens_change_nothing(
        ep in episode(), inserts in prop::collection::vec(0usize..50, 5), gamma in 0.0f64..=1.0,
        lam in 0.0f64..=1.0, kl in kl_estimator(), fill in -2.0f32..2.0
    ) {
        let longer = insert_observations(&ep, &inserts, fill);
        for estimator in &Estimator::ALL[..3] {
            let whiten = trained(*estimator, std::slice::from_ref(&ep)) >= 2;
            let c = config(*estimator, gamma, lam, kl, whiten);
            let a = compute(c, std::slice::from_ref(&ep))?;
            let b = compute(c, std::slice::from_ref(&longer))?;
            prop_assert_eq!(a.whitening, b.whitening);
            let (ea, eb) = (&a.episodes[0], &b.episodes[0]);
            for (sa, sb) in ep.action_spans.iter().zip(&longer.action_spans) {
                for (ta, tb) in sa.scoring_positions().zip(sb.scoring_positions()) {
                    prop_assert_eq!(ea.advantages[ta], eb.advantages[tb]);
                    prop_assert_eq!(ea.advantages_raw[ta], eb.advantages_raw[tb]);
                    prop_assert_eq!(ea.returns[ta], eb.returns[tb]);
                    prop_assert_eq!(ea.rewards[ta], eb.rewards[tb]);
                }
            }
            prop_assert_eq!(ea.mask.iter().filter(|&&m| m).count(), eb.mask.iter().filter(|&&m| m).count());
        }
    }

    /// The results do not depend on the order of the episodes in the batch, bit for bit,
    /// whitening statistics and per-step diagnostics included.
    #[test]
    fn results_do_not_depend_on_batch_order(
        (episodes, order) in prop::collection::vec(episode(), 2..7)
            .prop_flat_map(|eps| { let n = eps.len(); (Just(eps), Just((0..n).collect::<Vec<_>>()).prop_shuffle()) }),
        gamma in 0.0f64..=1.0, lam in 0.0f64..=1.0, kl in kl_estimator()
    ) {
        let shuffled: Vec<EpisodeInput> = order.iter().map(|&i| episodes[i].clone()).collect();
        for estimator in Estimator::ALL {
            let c = config(estimator, gamma, lam, kl, true);
            let a = compute(c, &episodes)?;
            let b = compute(c, &shuffled)?;
            prop_assert_eq!(a.whitening, b.whitening);
            prop_assert_eq!(&a.step_stats, &b.step_stats);
            for (j, &i) in order.iter().enumerate() {
                prop_assert_eq!(&a.episodes[i], &b.episodes[j]);
            }
        }
    }
}

/// `ep` with `inserts[k]` extra observation tokens right after action `k` (for every action but
/// the last), their log-probs and values all `fill`.
fn insert_observations(ep: &EpisodeInput, inserts: &[usize], fill: f32) -> EpisodeInput {
    let n = ep.num_steps();
    let mut out = ep.clone();
    let mut shift = 0;
    let mut spans = Vec::new();
    // insert from the back so earlier indices stay valid
    let mut arrays = [
        ep.logprobs.clone(),
        ep.ref_logprobs.clone(),
        ep.values.clone(),
    ];
    for k in (0..n.saturating_sub(1)).rev() {
        let at = ep.action_spans[k].end - 1; // the position scoring the first token after action k
        for a in &mut arrays {
            a.splice(
                at..at,
                std::iter::repeat_n(fill, inserts[k % inserts.len()]),
            );
        }
    }
    for (k, span) in ep.action_spans.iter().enumerate() {
        spans.push(ActionSpan::new(span.start + shift, span.end + shift));
        if k + 1 < n {
            shift += inserts[k % inserts.len()];
        }
    }
    let [lp, rlp, v] = arrays;
    out.num_tokens = ep.num_tokens + shift;
    out.action_spans = spans;
    out.logprobs = lp;
    out.ref_logprobs = rlp;
    out.values = v;
    out
}

/// Two one-/two-token actions separated by one observation token; V ≡ 0, no KL, rewards [0, 1].
fn two_actions() -> EpisodeInput {
    EpisodeInput {
        num_tokens: 5,
        action_spans: vec![ActionSpan::new(1, 2), ActionSpan::new(3, 5)],
        step_rewards: vec![0.0, 1.0],
        logprobs: vec![-1.0; 4],
        ref_logprobs: vec![-1.0; 4],
        values: vec![0.0; 4],
        bootstrap_value: None,
    }
}

/// ReferenceCompat is *not* invariant: 10 more tokens of tool response between two actions
/// discount the earlier action's credit from the later one by (γλ)^10 more. StepGae is.
#[test]
fn reference_compat_changes_with_inserted_observation_tokens() -> anyhow::Result<()> {
    let longer = insert_observations(&two_actions(), &[10], -1.0);
    assert_eq!(longer.num_tokens, 15);
    assert_eq!(longer.action_spans[1], ActionSpan::new(13, 15));
    let batch = [two_actions(), longer];
    let compat = AdvantageConfig {
        estimator: Estimator::ReferenceCompat {
            weighting: RewardWeighting::Plain,
        },
        whiten: false,
        ..AdvantageConfig::default()
    };
    let out = AdvantageEstimator::new(compat)?.compute(&batch)?;
    // action 0 is position 0; the reward 1 sits at the last position of action 1 (3, then 13):
    // short: A_0 = (γλ)^3 = 0.9405^3 = 0.8319;  long: A_0 = 0.9405^13 = 0.4501
    let (short, long) = (
        out.episodes[0].advantages_raw[0],
        out.episodes[1].advantages_raw[0],
    );
    assert!((short - 0.9405f32.powi(3)).abs() < 1e-5, "{short}");
    assert!((long - 0.9405f32.powi(13)).abs() < 1e-5, "{long}");

    // StepGae: A_1 = 1, A_0 = 0 + γ·0 - 0 + γλ·A_1 = 0.9405 for both
    let step = AdvantageConfig {
        estimator: Estimator::StepGae,
        ..compat
    };
    let out = AdvantageEstimator::new(step)?.compute(&batch)?;
    assert!((out.episodes[0].advantages_raw[0] - 0.9405).abs() < 1e-6);
    assert_eq!(
        out.episodes[0].advantages_raw[0],
        out.episodes[1].advantages_raw[0]
    );
    Ok(())
}
