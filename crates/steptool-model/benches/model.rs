//! Criterion benches: forward+backward on the tiny golden fixture (LoRA r=4 + value head), and
//! generation tokens/s with and without the KV cache.
//!
//! `scripts/with-torch cargo bench -p steptool-model`

#![allow(missing_docs)] // criterion_group! generates undocumented functions

use std::path::PathBuf;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use steptool_model::{
    testing, Batch, ForwardOptions, GenerationConfig, LoadOptions, LoraConfig, Model, PaddingSide,
    PolicyModel,
};

fn fixture() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/golden/model/llama3_gqa")
}

fn forward_backward(c: &mut Criterion) -> steptool_model::Result<()> {
    tch::set_num_threads(2);
    let (mut model, _) = Model::from_pretrained(&fixture(), LoadOptions::cpu())?;
    model.attach_lora(
        LoraConfig {
            r: 4,
            alpha: 8.0,
            ..LoraConfig::default()
        },
        0,
    )?;
    model.init_value_head(0)?;
    let seqs: Vec<Vec<i64>> = (0..4)
        .map(|b| (0..128).map(|t| (t * 7 + b) % 64).collect())
        .collect();
    let batch = Batch::from_sequences(&seqs, 0, PaddingSide::Right, tch::Device::Cpu)?;
    let mut g = c.benchmark_group("forward_backward_tiny");
    g.throughput(Throughput::Elements(4 * 128));
    for checkpoint in [false, true] {
        g.bench_function(if checkpoint { "checkpointed" } else { "plain" }, |bch| {
            bch.iter(|| -> steptool_model::Result<()> {
                let opts = ForwardOptions {
                    train: true,
                    checkpoint,
                    ..ForwardOptions::default()
                };
                let out = model.forward(&batch, &opts)?;
                let values = out.values.as_ref().map(|v| v.mean(tch::Kind::Float));
                let loss = -out.logprobs.mean(tch::Kind::Float)
                    + values.unwrap_or_else(|| tch::Tensor::from(0f32));
                model.backward(&loss, &out)?;
                for v in model.trainable_variables() {
                    let mut grad = v.grad();
                    if grad.defined() {
                        let _ = grad.zero_();
                    }
                }
                Ok(())
            })
        });
    }
    g.finish();
    Ok(())
}

fn generation(c: &mut Criterion) -> steptool_model::Result<()> {
    tch::set_num_threads(2);
    let config = testing::llama_sized(256, 688, 4, 4, 2, 2394)?;
    let model = Model::random(config, LoadOptions::cpu())?;
    let prompts: Vec<Vec<i64>> = (0..4)
        .map(|b| (0..64).map(|t| (t * 13 + b) % 2394).collect())
        .collect();
    let new_tokens = 32;
    let mut g = c.benchmark_group("generate_4x32_new_tokens");
    g.sample_size(10);
    g.throughput(Throughput::Elements(4 * new_tokens as u64));
    for use_cache in [true, false] {
        let cfg = GenerationConfig {
            max_new_tokens: new_tokens,
            ignore_eos: true,
            use_cache,
            ..Default::default()
        };
        g.bench_function(if use_cache { "kv_cache" } else { "no_cache" }, |bch| {
            bch.iter(|| model.generate(&prompts, &cfg, None))
        });
    }
    g.finish();
    Ok(())
}

fn benches(c: &mut Criterion) {
    if let Err(e) = forward_backward(c) {
        eprintln!("forward_backward bench failed: {e}");
    }
    if let Err(e) = generation(c) {
        eprintln!("generation bench failed: {e}");
    }
}

criterion_group!(model_benches, benches);
criterion_main!(model_benches);
