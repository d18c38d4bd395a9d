//! CUDA runs of the same code paths (feature `cuda-tests`; needs a GPU):
//! `scripts/with-torch cargo test -p steptool-model --features cuda-tests --test cuda -- --nocapture`
#![cfg(feature = "cuda-tests")]

mod common;

use std::time::Instant;

use common::*;
use steptool_model::{
    testing, Batch, ForwardOptions, GenerationConfig, LoadOptions, LoraConfig, Model, PaddingSide,
    PolicyModel,
};
use tch::{Device, Kind};

fn cuda_f32() -> LoadOptions {
    LoadOptions {
        device: Device::Cuda(0),
        dtype: Kind::Float,
        trainable_dtype: Kind::Float,
        allow_unused: false,
    }
}

#[test]
fn golden_logprobs_on_cuda_f32_and_bf16() -> TestResult {
    let exp = expected("llama3_gqa")?;
    for (opts, tol) in [(cuda_f32(), 1e-4), (LoadOptions::cuda_bf16(0), 0.1)] {
        let (mut m, _) = Model::from_pretrained(&fixture("llama3_gqa"), opts)?;
        m.load_value_head(&fixture("llama3_gqa").join("value_head.safetensors"))?;
        let b = Batch::from_sequences(&exp.seqs, 0, PaddingSide::Right, Device::Cuda(0))?;
        let out = m.forward(&b, &ForwardOptions::default())?;
        let lp = rows(&out.logprobs)?;
        for (i, s) in exp.seqs.iter().enumerate() {
            assert_close(
                &format!("{opts:?} seq {i}"),
                &lp[i][..s.len() - 1],
                &exp.right.logprobs[i],
                tol,
            )?;
        }
    }
    Ok(())
}

/// A Llama-2-7B-shaped model (random bf16 weights), LoRA r=16 on q/k/v/o, forward+backward at
/// 4096 tokens with activation checkpointing, then generation; prints the timings.
#[test]
fn llama2_7b_shape_forward_backward_4096_and_generation() -> TestResult {
    let cfg = testing::llama_sized(4096, 11008, 32, 32, 32, 32000)?;
    let mut m = Model::random(cfg, LoadOptions::cuda_bf16(0))?;
    let targets = ["q_proj", "k_proj", "v_proj", "o_proj"]
        .map(String::from)
        .to_vec();
    m.attach_lora(
        LoraConfig {
            r: 16,
            alpha: 32.0,
            target_modules: targets,
            ..LoraConfig::default()
        },
        0,
    )?;
    m.init_value_head(0)?;
    let seq: Vec<i64> = (0..4096).map(|t| (t * 31 + 7) % 32000).collect();
    let b = Batch::from_sequences(&[seq], 0, PaddingSide::Right, Device::Cuda(0))?;
    for checkpoint in [true, false] {
        let t0 = Instant::now();
        let out = m.forward(
            &b,
            &ForwardOptions {
                train: true,
                checkpoint,
                ..ForwardOptions::default()
            },
        )?;
        let values = out.values.as_ref().ok_or("values")?;
        let loss = -out.logprobs.mean(Kind::Float) + values.pow_tensor_scalar(2).mean(Kind::Float);
        m.backward(&loss, &out)?;
        tch::Cuda::synchronize(0);
        eprintln!(
            "7B shape, 4096 tokens, checkpoint={checkpoint}: forward+backward {:.2} s",
            t0.elapsed().as_secs_f64()
        );
        assert!(loss.double_value(&[]).is_finite());
    }
    let prompts = vec![(0..512).map(|t| (t * 17 + 3) % 32000).collect::<Vec<i64>>(); 4];
    let t0 = Instant::now();
    let g = m.generate(
        &prompts,
        &GenerationConfig {
            max_new_tokens: 128,
            ignore_eos: true,
            ..Default::default()
        },
        None,
    )?;
    let secs = t0.elapsed().as_secs_f64();
    eprintln!(
        "generation 4 x 128 new tokens after 512-token prompts: {:.1} tokens/s",
        512.0 / secs
    );
    assert_eq!(g[0].tokens.len(), 128);
    Ok(())
}
