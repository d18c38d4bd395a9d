//! Hand-computed examples for every estimator; the arithmetic is in the comments.

use anyhow::Result;
use approx::assert_abs_diff_eq;
use steptool_advantage::{
    AdvantageConfig, AdvantageEstimator, EpisodeInput, Estimator, KlEstimator, RewardWeighting,
};
use steptool_mdp::ActionSpan;

/// 9 tokens `p a a o o a a a a`... precisely: action 0 is tokens [2,4), action 1 tokens [6,9).
/// Positions (8 entries, entry t scores token t+1): P_0 = {1,2}, P_1 = {5,6,7}; 0 is the
/// prompt, 3 and 4 the tool response.
/// β = 0.5; kl = logp - ref = 0 except kl_2 = +0.2 (penalty -0.1) and kl_6 = -0.2 (penalty +0.1).
/// V = [0.0, 0.2, 0.3, 0.1, 0.4, 0.5, 0.6, 0.7]; r = [0.5, 1.0]; γ = 0.9, λ = 0.5 (γλ = 0.45).
fn episode() -> EpisodeInput {
    let mut logprobs = vec![-1.0f32; 8];
    logprobs[2] = -0.8;
    logprobs[6] = -1.2;
    EpisodeInput {
        num_tokens: 9,
        action_spans: vec![ActionSpan::new(2, 4), ActionSpan::new(6, 9)],
        step_rewards: vec![0.5, 1.0],
        logprobs,
        ref_logprobs: vec![-1.0; 8],
        values: vec![0.0, 0.2, 0.3, 0.1, 0.4, 0.5, 0.6, 0.7],
        bootstrap_value: None,
    }
}

fn config(estimator: Estimator) -> AdvantageConfig {
    AdvantageConfig {
        estimator,
        gamma: 0.9,
        lam: 0.5,
        kl_coef: 0.5,
        whiten: false,
        ..AdvantageConfig::default()
    }
}

fn run(config: AdvantageConfig, ep: EpisodeInput) -> Result<steptool_advantage::EpisodeAdvantages> {
    let mut out = AdvantageEstimator::new(config)?.compute(&[ep])?;
    Ok(out.episodes.remove(0))
}

fn close(actual: &[f32], expected: &[f64]) {
    assert_eq!(actual.len(), expected.len());
    for (t, (&a, &e)) in actual.iter().zip(expected).enumerate() {
        assert!(
            (f64::from(a) - e).abs() < 1e-6,
            "position {t}: {a} != {e} (all: {actual:?})"
        );
    }
}

fn mask_of(positions: &[usize]) -> Vec<bool> {
    (0..8).map(|t| positions.contains(&t)).collect()
}

#[test]
fn step_gae_by_hand() -> Result<()> {
    let out = run(config(Estimator::StepGae), episode())?;
    // R_0 = 0.5 + (0 - 0.1) = 0.4;  R_1 = 1.0 + (0 + 0.1 + 0) = 1.1
    // V(s_0) = V[1] = 0.2, V(s_1) = V[5] = 0.5, V(s_2) = 0 (terminated)
    // δ_1 = 1.1 + 0 - 0.5 = 0.6                      A_1 = 0.6
    // δ_0 = 0.4 + 0.9·0.5 - 0.2 = 0.65               A_0 = 0.65 + 0.45·0.6 = 0.92
    close(
        &out.advantages_raw,
        &[0.0, 0.92, 0.92, 0.0, 0.0, 0.6, 0.6, 0.6],
    );
    // returns: A_0 + 0.2 = 1.12 on P_0, A_1 + 0.5 = 1.1 on P_1
    close(&out.returns, &[0.0, 1.12, 1.12, 0.0, 0.0, 1.1, 1.1, 1.1]);
    // per-token view: penalties on P_k, r_k added at the last position of P_k
    close(&out.rewards, &[0.0, 0.0, 0.4, 0.0, 0.0, 0.0, 0.1, 1.0]);
    assert_eq!(out.mask, mask_of(&[1, 2, 5, 6, 7]));
    assert_eq!(out.advantages, out.advantages_raw); // whitening off

    // Truncated, bootstrap 0.8: δ_1 = 1.1 + 0.9·0.8 - 0.5 = 1.32 = A_1; A_0 = 0.65 + 0.45·1.32 = 1.244
    let truncated = EpisodeInput {
        bootstrap_value: Some(0.8),
        ..episode()
    };
    let out = run(config(Estimator::StepGae), truncated)?;
    close(
        &out.advantages_raw,
        &[0.0, 1.244, 1.244, 0.0, 0.0, 1.32, 1.32, 1.32],
    );

    // Ablation "w/o step-grained reward": r_0 -> 0, so R_0 = -0.1;
    // δ_0 = -0.1 + 0.45 - 0.2 = 0.15, A_0 = 0.15 + 0.45·0.6 = 0.42; A_1 unchanged (0.6)
    let ablation = AdvantageConfig {
        intermediate_rewards: false,
        ..config(Estimator::StepGae)
    };
    let out = run(ablation, episode())?;
    close(
        &out.advantages_raw,
        &[0.0, 0.42, 0.42, 0.0, 0.0, 0.6, 0.6, 0.6],
    );
    close(&out.rewards, &[0.0, 0.0, -0.1, 0.0, 0.0, 0.0, 0.1, 1.0]);
    Ok(())
}

#[test]
fn token_gae_by_hand() -> Result<()> {
    let out = run(config(Estimator::TokenGae), episode())?;
    // sequence 1,2,5,6,7; rewards 0, 0.4 (0.5-0.1), 0, 0.1, 1.0; values 0.2,0.3,0.5,0.6,0.7
    // t=7: δ = 1.0 + 0 - 0.7 = 0.3                        A = 0.3
    // t=6: δ = 0.1 + 0.9·0.7 - 0.6 = 0.13                 A = 0.13 + 0.45·0.3 = 0.265
    // t=5: δ = 0 + 0.9·0.6 - 0.5 = 0.04                   A = 0.04 + 0.45·0.265 = 0.15925
    // t=2: δ = 0.4 + 0.9·0.5 - 0.3 = 0.55 (next is V_5)   A = 0.55 + 0.45·0.15925 = 0.6216625
    // t=1: δ = 0 + 0.9·0.3 - 0.2 = 0.07                   A = 0.07 + 0.45·0.6216625 = 0.349748125
    let adv = [0.0, 0.349748125, 0.6216625, 0.0, 0.0, 0.15925, 0.265, 0.3];
    close(&out.advantages_raw, &adv);
    // returns = A + V on the mask
    close(
        &out.returns,
        &[0.0, 0.549748125, 0.9216625, 0.0, 0.0, 0.65925, 0.865, 1.0],
    );
    close(&out.rewards, &[0.0, 0.0, 0.4, 0.0, 0.0, 0.0, 0.1, 1.0]);
    assert_eq!(out.mask, mask_of(&[1, 2, 5, 6, 7]));
    Ok(())
}

#[test]
fn final_reward_by_hand() -> Result<()> {
    let out = run(config(Estimator::FinalReward), episode())?;
    // only P_1 = 5,6,7, reward r_1 = 1.0 at 7: the same chain as TokenGae's last three positions
    // A_7 = 0.3, A_6 = 0.265, A_5 = 0.15925; step 0 is not trained at all
    close(
        &out.advantages_raw,
        &[0.0, 0.0, 0.0, 0.0, 0.0, 0.15925, 0.265, 0.3],
    );
    close(
        &out.returns,
        &[0.0, 0.0, 0.0, 0.0, 0.0, 0.65925, 0.865, 1.0],
    );
    close(&out.rewards, &[0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.1, 1.0]);
    assert_eq!(out.mask, mask_of(&[5, 6, 7]));
    Ok(())
}

#[test]
fn reference_compat_by_hand() -> Result<()> {
    let plain = Estimator::ReferenceCompat {
        weighting: RewardWeighting::Plain,
    };
    let out = run(config(plain), episode())?;
    // rewards = -β·kl everywhere (-0.1 at 2, +0.1 at 6); segment ends 2 and 7 get 0.5 and 1.0
    close(&out.rewards, &[0.0, 0.0, 0.4, 0.0, 0.0, 0.0, 0.1, 1.0]);
    // V' = V·m = [0, 0.2, 0.3, 0, 0, 0.5, 0.6, 0.7]; GAE through every position:
    // t=7: 0.3;  t=6: 0.265;  t=5: 0.15925 (as TokenGae)
    // t=4: δ = 0 + 0.9·0.5 - 0 = 0.45          A = 0.45 + 0.45·0.15925 = 0.5216625
    // t=3: δ = 0 + 0.9·0 - 0 = 0               A = 0.45·0.5216625 = 0.234748125
    // t=2: δ = 0.4 + 0.9·0 - 0.3 = 0.1          A = 0.1 + 0.45·0.234748125 = 0.20563665625
    // t=1: δ = 0 + 0.9·0.3 - 0.2 = 0.07         A = 0.07 + 0.45·0.20563665625 = 0.1625364953125
    // t=0: δ = 0 + 0.9·0.2 - 0 = 0.18           A = 0.18 + 0.45·0.1625364953125 = 0.253141422890625
    let adv = [
        0.253141422890625,
        0.1625364953125,
        0.20563665625,
        0.234748125,
        0.5216625,
        0.15925,
        0.265,
        0.3,
    ];
    close(&out.advantages_raw, &adv);
    // returns = A + V' (non-zero outside the mask, as in TRL)
    let v_masked = [0.0, 0.2, 0.3, 0.0, 0.0, 0.5, 0.6, 0.7];
    let ret: Vec<f64> = adv.iter().zip(v_masked).map(|(a, v)| a + v).collect();
    close(&out.returns, &ret);
    assert_eq!(out.mask, mask_of(&[1, 2, 5, 6, 7]));

    // Reference weighting: from the end, weights 0 (final) and 1: reward[7] = 1.0·0 = 0
    let out = run(
        config(Estimator::ReferenceCompat {
            weighting: RewardWeighting::Reference,
        }),
        episode(),
    )?;
    close(&out.rewards, &[0.0, 0.0, 0.4, 0.0, 0.0, 0.0, 0.1, 0.0]);
    // t=7: δ = 0 - 0.7 = -0.7                    A = -0.7
    // t=6: δ = 0.13                              A = 0.13 + 0.45·(-0.7) = -0.185
    // t=5: δ = 0.04                              A = 0.04 + 0.45·(-0.185) = -0.04325
    // t=4: δ = 0.45                              A = 0.45 + 0.45·(-0.04325) = 0.4305375
    // t=3: δ = 0                                 A = 0.45·0.4305375 = 0.193741875
    // t=2: δ = 0.1                               A = 0.1 + 0.45·0.193741875 = 0.18718384375
    // t=1: δ = 0.07                              A = 0.07 + 0.45·0.18718384375 = 0.1542327296875
    // t=0: δ = 0.18                              A = 0.18 + 0.45·0.1542327296875 = 0.249404728359375
    close(
        &out.advantages_raw,
        &[
            0.249404728359375,
            0.1542327296875,
            0.18718384375,
            0.193741875,
            0.4305375,
            -0.04325,
            -0.185,
            -0.7,
        ],
    );
    Ok(())
}

/// The worked example of formats.md §1.6 c: γ = 0.99, λ = 0.95, V ≡ 0, no KL, three steps with
/// scores [0.8, 0.5, 1.0] and the released weighting `(n-1-k)`.
#[test]
fn reference_compat_matches_the_formats_worked_example() -> Result<()> {
    // mask 0 0 0 1 1 1 0 0 0 1 1 0 0 1 1 1 (16 positions, so 17 tokens):
    // positions 3..6 are tokens [4,7), 9..11 tokens [10,12), 13..16 tokens [14,17)
    let ep = EpisodeInput {
        num_tokens: 17,
        action_spans: vec![
            ActionSpan::new(4, 7),
            ActionSpan::new(10, 12),
            ActionSpan::new(14, 17),
        ],
        step_rewards: vec![0.8, 0.5, 1.0],
        logprobs: vec![-2.0; 16],
        ref_logprobs: vec![-2.0; 16],
        values: vec![0.0; 16],
        bootstrap_value: None,
    };
    let config = AdvantageConfig {
        estimator: Estimator::ReferenceCompat {
            weighting: RewardWeighting::Reference,
        },
        whiten: false,
        ..AdvantageConfig::default()
    };
    let out = run(config, ep)?;
    // reward 0 0 0 0 0 1.6 0 0 0 0 0.5 0 0 0 0 0   (0.8×2, 0.5×1, 1.0×0)
    let mut reward = [0.0; 16];
    reward[5] = 1.6;
    reward[10] = 0.5;
    close(&out.rewards, &reward);
    // adv 1.45 1.54 1.64 1.74 1.85 1.97 .39 .42 .44 .47 .50 0 0 0 0 0 (two decimals in the spec)
    // e.g. A_10 = 0.5, A_6 = 0.5·0.9405^4 = 0.3912, A_5 = 1.6 + 0.9405·0.3912 = 1.9679
    let spec = [
        1.45, 1.54, 1.64, 1.74, 1.85, 1.97, 0.39, 0.42, 0.44, 0.47, 0.50, 0.0, 0.0, 0.0, 0.0, 0.0,
    ];
    for (t, (&a, e)) in out.advantages_raw.iter().zip(spec).enumerate() {
        assert!(
            (f64::from(a) - e).abs() <= 0.005 + 1e-6,
            "position {t}: {a} vs {e}"
        );
    }
    assert_abs_diff_eq!(
        out.advantages_raw[5],
        1.6 + 0.9405 * 0.5 * 0.9405f32.powi(4),
        epsilon = 1e-5
    );
    Ok(())
}

#[test]
fn whitening_by_hand() -> Result<()> {
    let config = AdvantageConfig {
        whiten: true,
        ..config(Estimator::StepGae)
    };
    let batch = AdvantageEstimator::new(config)?.compute(&[episode()])?;
    // masked raw advantages 0.92, 0.92, 0.6, 0.6, 0.6: mean = 3.64 / 5 = 0.728
    // squared deviations 0.192² ·2 + 0.128² ·3 = 0.073728 + 0.049152 = 0.12288; /(5-1) = 0.03072
    let stats = batch.whitening.ok_or_else(|| anyhow::anyhow!("no stats"))?;
    assert_abs_diff_eq!(stats.mean, 0.728, epsilon = 1e-7);
    assert_abs_diff_eq!(stats.var, 0.03072, epsilon = 1e-7);
    assert_eq!(stats.count, 5);
    // 0.192 / sqrt(0.03072 + 1e-8) = 1.0954451 (= sqrt(1.2));  -0.128 / 0.1752712 = -0.7302967
    let a = &batch.episodes[0].advantages;
    close(
        a,
        &[
            0.0, 1.0954451, 1.0954451, 0.0, 0.0, -0.7302967, -0.7302967, -0.7302967,
        ],
    );
    // positions outside the mask stay exactly 0
    assert!([0, 3, 4].iter().all(|&t| a[t] == 0.0));
    Ok(())
}

#[test]
fn kl_estimators_by_hand() -> Result<()> {
    // d = logp - ref = 0.2:  kl 0.2, abs 0.2, mse 0.5·0.04 = 0.02, k3 e^-0.2 - 1 + 0.2 = 0.0187307531
    // d = -0.2: kl -0.2, abs 0.2, mse 0.02, k3 e^0.2 - 1 - 0.2 = 0.0214027582
    let cases = [
        (KlEstimator::Kl, 0.2, -0.2),
        (KlEstimator::Abs, 0.2, 0.2),
        (KlEstimator::Mse, 0.02, 0.02),
        (KlEstimator::K3, 0.018_730_75, 0.021_402_76),
    ];
    for (est, plus, minus) in cases {
        assert_abs_diff_eq!(est.estimate(-0.8, -1.0), plus, epsilon = 1e-6);
        assert_abs_diff_eq!(est.estimate(-1.2, -1.0), minus, epsilon = 1e-6);
    }
    // Through StepGae with k3: penalties -0.5·0.0187307 at position 2 and -0.5·0.0214028 at 6.
    // R_1 = 1.0 - 0.0107014 = 0.9892986; A_1 = 0.9892986 - 0.5 = 0.4892986
    // R_0 = 0.5 - 0.0093654 = 0.4906346; A_0 = 0.4906346 + 0.45 - 0.2 + 0.45·0.4892986 = 0.9608190
    let config = AdvantageConfig {
        kl_estimator: KlEstimator::K3,
        ..config(Estimator::StepGae)
    };
    let out = run(config, episode())?;
    assert_abs_diff_eq!(out.advantages_raw[5], 0.489_298_6, epsilon = 1e-6);
    assert_abs_diff_eq!(out.advantages_raw[1], 0.960_819, epsilon = 1e-6);
    Ok(())
}

/// The released code finds segments in the mask, so adjacent spans merge into one segment and
/// the scores left over (paired from the end) are dropped; StepGae keeps both steps.
#[test]
fn reference_compat_merges_adjacent_spans_like_the_released_code() -> Result<()> {
    // tokens [1,2) and [2,4) are both actions: positions 0 and 1,2 form one run of the mask
    let ep = EpisodeInput {
        num_tokens: 4,
        action_spans: vec![ActionSpan::new(1, 2), ActionSpan::new(2, 4)],
        step_rewards: vec![0.3, 1.0],
        logprobs: vec![-1.0; 3],
        ref_logprobs: vec![-1.0; 3],
        values: vec![0.0; 3],
        bootstrap_value: None,
    };
    let plain = Estimator::ReferenceCompat {
        weighting: RewardWeighting::Plain,
    };
    // one segment, ending at 2: it gets the last score (1.0); 0.3 has no segment left
    let out = run(config(plain), ep.clone())?;
    close(&out.rewards, &[0.0, 0.0, 1.0]);
    // StepGae: both steps; R_0 = 0.3, A_1 = 1.0, A_0 = 0.3 + 0.45·1.0 = 0.75
    let out = run(config(Estimator::StepGae), ep)?;
    close(&out.rewards, &[0.3, 0.0, 1.0]);
    close(&out.advantages_raw, &[0.75, 1.0, 1.0]);
    Ok(())
}

/// A token-level `steptool_mdp::Episode` converts with its spans and rewards.
#[test]
fn from_an_mdp_episode() -> Result<()> {
    let e = steptool_mdp::Episode::new(
        vec![1; 9],
        vec![ActionSpan::new(2, 4), ActionSpan::new(6, 9)],
        vec![0.5, 1.0],
    )?;
    let base = episode();
    let input = EpisodeInput::from_episode(
        &e,
        base.logprobs.clone(),
        base.ref_logprobs.clone(),
        base.values.clone(),
    );
    assert_eq!(input, base);
    assert_eq!(input.action_mask(), e.action_mask());
    Ok(())
}
