//! Advantage computation over a batch of one million tokens (1000 episodes × 1000 tokens, four
//! steps each, 60 % action tokens), for every estimator, whitening on.
//!
//! `cargo bench -p steptool-advantage`

use criterion::{criterion_main, Criterion, Throughput};
use steptool_advantage::{
    AdvantageConfig, AdvantageEstimator, EpisodeInput, Estimator, RewardWeighting,
};
use steptool_mdp::ActionSpan;

const EPISODES: usize = 1000;
const TOKENS: usize = 1000;

/// Deterministic numbers in [-1, 1) (xorshift), so every run benchmarks the same batch.
struct Numbers(u64);

impl Numbers {
    fn next(&mut self) -> f32 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 >> 40) as f32 / (1u64 << 23) as f32 - 1.0
    }

    fn vec(&mut self, n: usize, scale: f32, offset: f32) -> Vec<f32> {
        (0..n).map(|_| self.next() * scale + offset).collect()
    }
}

fn batch() -> Vec<EpisodeInput> {
    let mut rng = Numbers(0x5eed_cafe_f00d_u64);
    (0..EPISODES)
        .map(|_| EpisodeInput {
            num_tokens: TOKENS,
            // prompt 100, then 4 × (action 150, tool response 100): 600 action tokens
            action_spans: (0..4)
                .map(|k| ActionSpan::new(100 + 250 * k, 250 + 250 * k))
                .collect(),
            step_rewards: rng.vec(4, 0.5, 0.5),
            logprobs: rng.vec(TOKENS - 1, 0.5, -2.0),
            ref_logprobs: rng.vec(TOKENS - 1, 0.5, -2.0),
            values: rng.vec(TOKENS - 1, 1.0, 0.0),
            bootstrap_value: None,
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let episodes = batch();
    let mut group = c.benchmark_group("advantages_1m_tokens");
    group.throughput(Throughput::Elements((EPISODES * TOKENS) as u64));
    group.sample_size(20);
    let estimators = [
        Estimator::StepGae,
        Estimator::TokenGae,
        Estimator::FinalReward,
        Estimator::ReferenceCompat {
            weighting: RewardWeighting::Reference,
        },
    ];
    for estimator in estimators {
        let config = AdvantageConfig {
            estimator,
            ..AdvantageConfig::default()
        };
        let Ok(est) = AdvantageEstimator::new(config) else {
            panic!("the default config is valid");
        };
        group.bench_function(estimator.name(), |b| {
            b.iter(|| est.compute(std::hint::black_box(&episodes)))
        });
    }
    // the cost of whitening and diagnostics: the default estimator without whitening
    let Ok(est) = AdvantageEstimator::new(AdvantageConfig {
        whiten: false,
        ..AdvantageConfig::default()
    }) else {
        panic!("the config is valid");
    };
    group.bench_function("step-gae-no-whiten", |b| {
        b.iter(|| est.compute(std::hint::black_box(&episodes)))
    });
    group.finish();
}

mod group {
    // criterion_group! generates an undocumented pub fn.
    #![allow(missing_docs)]
    criterion::criterion_group!(benches, super::bench);
}
criterion_main!(group::benches);
