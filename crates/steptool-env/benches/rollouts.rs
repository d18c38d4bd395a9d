//! Throughput of the environment side: synthetic rollouts (CoT and DFSDT with the noisy expert)
//! and StableToolBench cache keys.

// `criterion_group!` generates an undocumented public function.
#![allow(missing_docs)]

use std::sync::Arc;

use criterion::{criterion_group, criterion_main, Criterion};
use serde_json::json;
use steptool_env::rollout::{run_many, RolloutConfig, Strategy};
use steptool_env::stb::cache_key;
use steptool_env::synthetic::{
    NoisyExpertAgent, Split, SyntheticBenchmark, SyntheticConfig, SyntheticEnv, SyntheticEnvConfig,
};

fn rollouts(c: &mut Criterion) {
    let bench = match SyntheticBenchmark::new(SyntheticConfig::default()) {
        Ok(b) => Arc::new(b),
        Err(e) => panic!("benchmark setup: {e}"),
    };
    let tasks = match bench.tasks(Split::Test, 200, 1) {
        Ok(t) => t,
        Err(e) => panic!("tasks: {e}"),
    };
    let agent = match NoisyExpertAgent::new(&tasks, 0.25, 1) {
        Ok(a) => a,
        Err(e) => panic!("agent: {e}"),
    };
    let env = SyntheticEnv::new(bench, SyntheticEnvConfig::default());
    let mut group = c.benchmark_group("synthetic_200_tasks");
    group.sample_size(10);
    for strategy in [Strategy::Cot, Strategy::Dfsdt] {
        let config = RolloutConfig {
            strategy,
            max_actions: 5,
            ..RolloutConfig::default()
        };
        group.bench_function(format!("{strategy:?}"), |b| {
            b.iter(|| run_many(&env, &tasks, &agent, &config, false).map(|s| s.records.len()))
        });
    }
    group.finish();
    let input = json!({"lat": 40.7128, "lon": -74.006, "q": "New York's \"best\" pizza", "n": 10});
    c.bench_function("stb_cache_key", |b| b.iter(|| cache_key(&input)));
}

criterion_group!(benches, rollouts);
criterion_main!(benches);
