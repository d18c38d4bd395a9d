//! The cross-crate benches a user runs first (`make bench`):
//! - `ppo_step/trl_fixture`: one StepTool PPO step on the TRL baseline's workload (the fixture's
//!   model, tokenizer and rows; batch 8, mini-batch 2, 4 epochs, context 256 to keep it short);
//! - `rollout_round/policy`: one batched policy rollout of 4 synthetic tasks (CoT, 2 actions,
//!   16 new tokens per turn) with the embedded tiny model, batch 4 vs batch 1;
//! - `generate/tiny`: 32 greedy tokens for 4 prompts with the KV cache.
//!
//! `scripts/with-torch cargo bench --bench steptool` (per-crate micro-benches stay in their
//! crates' `benches/`).

#![allow(missing_docs)] // criterion_group! generates undocumented functions

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion};
use steptool::env::rollout::RolloutConfig;
use steptool::env::synthetic::{
    Split, SyntheticBenchmark, SyntheticConfig, SyntheticEnv, SyntheticEnvConfig,
};
use steptool::mdp::{ChatFormat, EncodeMode, Encoder, EncoderConfig};
use steptool::model::{GenerationConfig, LoadOptions, LoraConfig, Model};
use steptool::ppo::online::{policy_rollouts, OnPolicySpec, PolicySampling, PromptStyle, Renderer};
use steptool::ppo::{data::load_tsv, PpoConfig, PpoTrainer};

type Res = Result<(), Box<dyn std::error::Error>>;

fn fixture() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures/trl-baseline")
}

fn ppo_step(c: &mut Criterion) -> Res {
    tch::set_num_threads(2);
    let encoder = Encoder::from_file(
        fixture().join("tokenizer.json"),
        EncoderConfig {
            mode: EncodeMode::ReferenceCompat,
            max_context: 256,
            max_response: 256,
        },
    )?;
    let episodes = load_tsv(&fixture().join("train.tsv"), &encoder)?;
    let (mut model, _) = Model::from_pretrained(&fixture(), LoadOptions::cpu())?;
    model.attach_lora(
        LoraConfig {
            r: 16,
            alpha: 16.0,
            ..LoraConfig::default()
        },
        0,
    )?;
    model.load_value_head(&fixture().join("value_head.safetensors"))?;
    let mut trainer = PpoTrainer::new(
        model,
        PpoConfig {
            batch_size: 8,
            mini_batch_size: 2,
            gradient_accumulation_steps: 4,
            ..PpoConfig::default()
        },
    )?;
    let batch: Vec<_> = (0..8)
        .map(|i| episodes[i % episodes.len()].clone())
        .collect();
    let mut g = c.benchmark_group("ppo_step");
    g.sample_size(10).measurement_time(Duration::from_secs(20));
    g.bench_function("trl_fixture", |b| {
        b.iter(|| {
            trainer
                .step(&batch)
                .map(|m| m.total_loss)
                .unwrap_or(f64::NAN)
        })
    });
    g.finish();
    Ok(())
}

fn tiny_policy() -> Result<(Model, Renderer), Box<dyn std::error::Error>> {
    let spec = OnPolicySpec {
        train_tasks: 4,
        eval_tasks: 4,
        prompt_style: PromptStyle::Compact,
        ..OnPolicySpec::default()
    };
    let tok = steptool::ppo::embedded::train_tokenizer(
        &steptool::ppo::online::run::synthetic_texts(&spec)?,
        600,
    )?;
    tch::manual_seed(1);
    let vocab = tok.get_vocab_size(true) as i64;
    let model = Model::random(
        steptool::ppo::embedded::tiny_llama_config(vocab)?,
        LoadOptions::cpu(),
    )?;
    let bos = model.config().bos_token_id().map(|b| b as u32);
    Ok((
        model,
        Renderer::new(ChatFormat::ToolLlama, tok, bos).with_style(PromptStyle::Compact),
    ))
}

fn rollout_round(c: &mut Criterion) -> Res {
    let (model, renderer) = tiny_policy()?;
    let bench = Arc::new(SyntheticBenchmark::new(SyntheticConfig::default())?);
    let tasks = bench.tasks(Split::Train, 4, 0)?;
    let env = SyntheticEnv::new(bench, SyntheticEnvConfig::default());
    let cfg = RolloutConfig {
        max_actions: 2,
        ..RolloutConfig::default()
    };
    let mut g = c.benchmark_group("rollout_round");
    g.sample_size(10);
    for batch in [1usize, 4] {
        let sampling = PolicySampling {
            max_new_tokens: 16,
            batch,
            ..PolicySampling::default()
        };
        g.bench_function(format!("policy_batch_{batch}"), |b| {
            b.iter(|| {
                policy_rollouts(&model, &renderer, &sampling, &env, &tasks, &cfg, false)
                    .map(|(s, _)| s.records.len())
                    .unwrap_or(0)
            })
        });
    }
    g.finish();
    Ok(())
}

fn generate(c: &mut Criterion) -> Res {
    let (model, _) = tiny_policy()?;
    let prompts: Vec<Vec<i64>> = (0..4)
        .map(|b| (1..64).map(|t| (t * 5 + b) % 500 + 4).collect())
        .collect();
    let cfg = GenerationConfig {
        max_new_tokens: 32,
        ignore_eos: true,
        ..GenerationConfig::default()
    };
    c.bench_function("generate/tiny_4x32", |b| {
        b.iter(|| {
            model
                .generate(&prompts, &cfg, None)
                .map(|g| g.len())
                .unwrap_or(0)
        })
    });
    Ok(())
}

fn all(c: &mut Criterion) {
    for (name, f) in [
        ("ppo_step", ppo_step as fn(&mut Criterion) -> Res),
        ("rollout_round", rollout_round),
        ("generate", generate),
    ] {
        if let Err(e) = f(c) {
            eprintln!("bench {name}: {e}");
            std::process::exit(1);
        }
    }
}

criterion_group!(benches, all);
criterion_main!(benches);
