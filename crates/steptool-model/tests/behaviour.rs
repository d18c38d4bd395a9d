//! Properties of one model across code paths: merged vs unmerged LoRA, adapter round trip,
//! padding side, cached vs uncached generation, activation checkpointing vs plain backward.

mod common;

use common::*;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use steptool_model::{
    testing, Batch, FinishReason, ForwardOptions, GenerationConfig, LoadOptions, LoraConfig, Model,
    PaddingSide, PolicyModel, Sampling,
};
use tch::{Kind, Tensor};

const SEQS: [&[i64]; 3] = [
    &[1, 17, 42, 5, 33, 60, 8, 11],
    &[1, 9, 50],
    &[1, 31, 12, 45, 7],
];

fn seqs() -> Vec<Vec<i64>> {
    SEQS.iter().map(|s| s.to_vec()).collect()
}

/// The golden llama3 model with a LoRA (alpha != r) whose B is random, so adapters matter.
fn lora_model(targets: &[&str]) -> TestResult<Model> {
    let mut m = load("llama3_gqa")?;
    let cfg = LoraConfig {
        r: 4,
        alpha: 6.0,
        dropout: 0.0,
        target_modules: targets.iter().map(|s| s.to_string()).collect(),
        use_rslora: false,
    };
    m.attach_lora(cfg, 3)?;
    // Sorted (the var store's map iterates in random order), values from a local generator
    // (libtorch's global one is shared by the tests running in parallel).
    let mut rng = StdRng::seed_from_u64(11);
    let mut vars: Vec<(String, Tensor)> = m.var_store().variables().into_iter().collect();
    vars.sort_by(|a, b| a.0.cmp(&b.0));
    tch::no_grad(|| {
        for (name, mut t) in vars {
            if name.contains("lora_B") {
                let n = t.numel();
                let vals: Vec<f32> = (0..n).map(|_| rng.gen_range(-0.5f32..0.5)).collect();
                t.copy_(&Tensor::from_slice(&vals).view(t.size().as_slice()));
            }
        }
    });
    Ok(m)
}

#[test]
fn fresh_lora_is_the_identity_and_disabled_lora_is_the_base() -> TestResult {
    let base = load("qwen2_gqa")?;
    let b = batch(&seqs(), 0, PaddingSide::Right)?;
    let want = base.logits(&b, false)?;
    let mut m = load("qwen2_gqa")?;
    m.attach_lora(
        LoraConfig {
            target_modules: vec!["q_proj".into(), "gate_proj".into()],
            ..LoraConfig::default()
        },
        1,
    )?;
    // B = 0 at init: identical function.
    assert_eq!(max_diff(&m.logits(&b, true)?, &want)?, 0.0);
    // Only LoRA tensors and the value head are trainable: 2 layers x 2 targets x 2 + 2.
    assert_eq!(m.trainable_variables().len(), 10);
    let m = lora_model(&["q_proj", "k_proj", "v_proj", "o_proj"])?;
    let base = load("llama3_gqa")?;
    let want = base.logits(&b, false)?;
    assert!(
        max_diff(&m.logits(&b, true)?, &want)? > 1e-2,
        "random B must change the model"
    );
    assert_eq!(max_diff(&m.logits(&b, false)?, &want)?, 0.0);
    let reference = m.reference_forward(&b)?;
    let base_out = base.forward_batch(
        &b,
        &ForwardOptions {
            values: false,
            ..ForwardOptions::default()
        },
    )?;
    assert_eq!(max_diff(&reference.logprobs, &base_out.logprobs)?, 0.0);
    Ok(())
}

#[test]
fn merged_equals_unmerged_and_exported_checkpoint_reloads() -> TestResult {
    let mut m = lora_model(&[
        "q_proj",
        "v_proj",
        "o_proj",
        "gate_proj",
        "up_proj",
        "down_proj",
    ])?;
    let b = batch(&seqs(), 0, PaddingSide::Left)?;
    let unmerged = m.logits(&b, true)?;
    let dir = tempfile::tempdir()?;
    m.export_merged(dir.path())?;
    m.merge_lora()?;
    assert!(m.lora_config().is_none());
    let merged = m.logits(&b, true)?;
    assert!(max_diff(&merged, &unmerged)? < 1e-4);
    let (reloaded, report) = Model::from_pretrained(dir.path(), LoadOptions::cpu())?;
    assert!(report.unused.is_empty());
    assert!(max_diff(&reloaded.logits(&b, false)?, &unmerged)? < 1e-4);
    Ok(())
}

#[test]
fn adapter_round_trip_in_peft_format() -> TestResult {
    let m = lora_model(&["q_proj", "down_proj"])?;
    let dir = tempfile::tempdir()?;
    m.save_adapter(dir.path())?;
    let cfg: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(
        dir.path().join("adapter_config.json"),
    )?)?;
    assert_eq!(cfg["peft_type"], "LORA");
    assert_eq!(cfg["lora_alpha"], 6.0);
    let names: Vec<String> =
        steptool_model::Checkpoint::open_files(&[dir.path().join("adapter_model.safetensors")])?
            .names()
            .map(str::to_string)
            .collect();
    assert!(
        names.contains(&"base_model.model.model.layers.1.mlp.down_proj.lora_B.weight".to_string())
    );
    assert_eq!(names.len(), 8); // 2 layers x 2 targets x (A, B)
    let mut fresh = load("llama3_gqa")?;
    let report = fresh.load_adapter(dir.path())?;
    assert_eq!(report.loaded.len(), 8);
    let b = batch(&seqs(), 0, PaddingSide::Right)?;
    assert_eq!(
        max_diff(&fresh.logits(&b, true)?, &m.logits(&b, true)?)?,
        0.0
    );
    // Loading into a model whose attached adapters differ is refused.
    let mut other = load("llama3_gqa")?;
    other.attach_lora(LoraConfig::default(), 0)?;
    assert!(other.load_adapter(dir.path()).is_err());
    Ok(())
}

#[test]
fn padding_side_does_not_change_logprobs_or_values() -> TestResult {
    let m = lora_model(&["q_proj", "v_proj"])?;
    let left = m.forward_batch(
        &batch(&seqs(), 0, PaddingSide::Left)?,
        &ForwardOptions::default(),
    )?;
    let right = m.forward_batch(
        &batch(&seqs(), 0, PaddingSide::Right)?,
        &ForwardOptions::default(),
    )?;
    let n = 8;
    for (i, s) in SEQS.iter().enumerate() {
        let l = s.len() as i64;
        let pick = |t: &Tensor, off: i64, len: i64| t.get(i as i64).narrow(0, off, len);
        let d = max_diff(
            &pick(&left.logprobs, n - l, l - 1),
            &pick(&right.logprobs, 0, l - 1),
        )?;
        assert!(d < 1e-5, "seq {i}: {d}");
        let lv = left.values.as_ref().ok_or("values")?;
        let rv = right.values.as_ref().ok_or("values")?;
        assert!(max_diff(&pick(lv, n - l, l), &pick(rv, 0, l))? < 1e-5);
        // Each sequence alone (no padding) gives the same numbers as inside the batch.
        let alone = m.forward_batch(
            &batch(&[s.to_vec()], 0, PaddingSide::Right)?,
            &ForwardOptions::default(),
        )?;
        assert!(max_diff(&alone.logprobs.get(0), &pick(&right.logprobs, 0, l - 1))? < 1e-5);
    }
    // target_mask marks the real (t, t+1) pairs: 7 + 2 + 4.
    assert_eq!(right.target_mask.sum(Kind::Int64).int64_value(&[]), 13);
    Ok(())
}

#[test]
fn cached_decoding_equals_the_full_forward() -> TestResult {
    let m = lora_model(&["q_proj", "v_proj", "down_proj"])?;
    let prompts = vec![vec![1, 17, 42, 5], vec![1, 9], vec![1, 31, 12, 45, 7, 3]];
    for sampling in [
        Sampling::ArgMax,
        Sampling::TopP {
            p: 0.9,
            temperature: 1.3,
        },
        Sampling::TopK {
            k: 5,
            temperature: 0.8,
        },
    ] {
        let cfg = GenerationConfig {
            max_new_tokens: 12,
            sampling,
            seed: 5,
            ignore_eos: true,
            ..Default::default()
        };
        let cached = m.generate(&prompts, &cfg, None)?;
        let full = m.generate(
            &prompts,
            &GenerationConfig {
                use_cache: false,
                ..cfg.clone()
            },
            None,
        )?;
        for (c, f) in cached.iter().zip(&full) {
            assert_eq!(c.tokens, f.tokens, "{sampling:?}");
            assert_eq!(c.tokens.len(), 12);
            for (a, b) in c.logprobs.iter().zip(&f.logprobs) {
                assert!((a - b).abs() < 1e-4, "{sampling:?}: {a} vs {b}");
            }
        }
        // The recorded log-probs are what the training forward computes for the same tokens.
        for (p, g) in prompts.iter().zip(&cached) {
            let full_seq: Vec<i64> = p.iter().chain(&g.tokens).copied().collect();
            let out = m.forward_batch(
                &batch(&[full_seq], 0, PaddingSide::Right)?,
                &ForwardOptions {
                    values: false,
                    ..ForwardOptions::default()
                },
            )?;
            let lp = rows(&out.logprobs)?;
            for (k, &want) in g.logprobs.iter().enumerate() {
                let got = lp[0][p.len() - 1 + k];
                assert!((got - want as f64).abs() < 1e-4, "{got} vs {want}");
            }
        }
    }
    Ok(())
}

#[test]
fn generation_stops_on_tokens_strings_and_length() -> TestResult {
    let m = load("llama_linear")?;
    let prompt = vec![vec![1, 17, 42]];
    let greedy = m.generate(
        &prompt,
        &GenerationConfig {
            max_new_tokens: 10,
            ignore_eos: true,
            ..Default::default()
        },
        None,
    )?;
    let toks = greedy[0].tokens.clone();
    assert_eq!(toks.len(), 10);
    assert_eq!(greedy[0].finish_reason, FinishReason::Length);
    // Stop on the 4th greedy token: generation keeps it and stops there (unless it came earlier).
    let stop = toks[3];
    let first = toks.iter().position(|&t| t == stop).unwrap_or(3);
    let g = m.generate(
        &prompt,
        &GenerationConfig {
            max_new_tokens: 10,
            ignore_eos: true,
            stop_token_ids: vec![stop],
            ..Default::default()
        },
        None,
    )?;
    assert_eq!(g[0].tokens, toks[..=first].to_vec());
    assert_eq!(g[0].finish_reason, FinishReason::StopToken);
    // Stop string: decode ids as "<id>" words; stop once "<toks[2]>" appears.
    let decode = |ids: &[i64]| ids.iter().map(|i| format!("<{i}>")).collect::<String>();
    let s = format!("<{}>", toks[2]);
    let firsts = toks.iter().position(|&t| t == toks[2]).unwrap_or(2);
    let g = m.generate(
        &prompt,
        &GenerationConfig {
            max_new_tokens: 10,
            ignore_eos: true,
            stop_strings: vec![s],
            ..Default::default()
        },
        Some(&decode),
    )?;
    assert_eq!(g[0].tokens, toks[..=firsts].to_vec());
    assert_eq!(g[0].finish_reason, FinishReason::StopString);
    // Stop strings without a decoder, or a bad temperature, are errors.
    assert!(m
        .generate(
            &prompt,
            &GenerationConfig {
                stop_strings: vec!["x".into()],
                ..Default::default()
            },
            None
        )
        .is_err());
    assert!(m
        .generate(
            &prompt,
            &GenerationConfig {
                sampling: Sampling::Temperature { temperature: 0.0 },
                ..Default::default()
            },
            None
        )
        .is_err());
    assert!(m
        .generate(&[vec![1, 64]], &GenerationConfig::default(), None)
        .is_err()); // id 64 >= vocab
    Ok(())
}

fn grads(m: &Model) -> Vec<(String, Tensor)> {
    let mut v: Vec<(String, Tensor)> = m
        .var_store()
        .variables()
        .into_iter()
        .filter(|(_, t)| t.requires_grad())
        .map(|(n, t)| (n, t.grad().copy()))
        .collect();
    v.sort_by(|a, b| a.0.cmp(&b.0));
    v
}

#[test]
fn activation_checkpointing_gives_the_same_gradients() -> TestResult {
    let b = batch(&seqs(), 0, PaddingSide::Right)?;
    let mut results = Vec::new();
    for checkpoint in [false, true] {
        let m = lora_model(&["q_proj", "v_proj", "up_proj", "down_proj"])?;
        let out = m.forward(
            &b,
            &ForwardOptions {
                train: true,
                checkpoint,
                ..ForwardOptions::default()
            },
        )?;
        let mask = out.target_mask.to_kind(Kind::Float);
        let values = out.values.as_ref().ok_or("values")?;
        let loss = -(&out.logprobs * &mask).sum(Kind::Float)
            + values.pow_tensor_scalar(2).mean(Kind::Float);
        m.backward(&loss, &out)?;
        results.push(grads(&m));
    }
    let (plain, ckpt) = (&results[0], &results[1]);
    assert_eq!(plain.len(), ckpt.len());
    assert_eq!(plain.len(), 2 * 4 * 2 + 2);
    for ((n, a), (_, b)) in plain.iter().zip(ckpt) {
        assert!(
            a.defined() && a.abs().sum(Kind::Float).double_value(&[]) > 0.0,
            "{n} has no gradient"
        );
        let d = max_diff(a, b)?;
        assert!(d < 1e-5, "{n}: {d}");
    }
    Ok(())
}

#[test]
fn tiny_random_configs_run() -> TestResult {
    for cfg in [testing::tiny_llama()?, testing::tiny_qwen2()?] {
        let mut m = Model::random(cfg, LoadOptions::cpu())?;
        m.init_value_head(0)?;
        let b = Batch::from_sequences(&seqs(), 0, PaddingSide::Left, tch::Device::Cpu)?;
        let out = m.forward(&b, &ForwardOptions::default())?;
        assert_eq!(out.logprobs.size(), vec![3, 7]);
        assert_eq!(out.values.as_ref().ok_or("values")?.size(), vec![3, 8]);
        // log-probs are <= 0 and entropies within [0, ln 64].
        assert!(out.logprobs.max().double_value(&[]) <= 0.0);
        assert!(out.entropy.max().double_value(&[]) <= (64f64).ln() + 1e-5);
    }
    Ok(())
}

#[test]
fn bf16_weights_and_activations_stay_close_to_the_f32_golden() -> TestResult {
    // The CUDA configuration (bf16 base + activations, f32 trainable tensors), run on the CPU.
    let opts = LoadOptions {
        device: tch::Device::Cpu,
        dtype: Kind::BFloat16,
        trainable_dtype: Kind::Float,
        allow_unused: false,
    };
    let (mut m, _) = Model::from_pretrained(&fixture("llama3_gqa"), opts)?;
    m.load_value_head(&fixture("llama3_gqa").join("value_head.safetensors"))?;
    m.load_adapter(&fixture("llama3_gqa").join("adapter"))?;
    let exp = expected("llama3_gqa")?;
    let ad = exp.adapter.as_ref().ok_or("adapter outputs")?;
    let out = m.forward(
        &batch(&exp.seqs, 0, PaddingSide::Right)?,
        &ForwardOptions::default(),
    )?;
    assert_eq!(out.logprobs.kind(), Kind::Float);
    let lp = rows(&out.logprobs)?;
    let mut worst: f64 = 0.0;
    for (i, s) in exp.seqs.iter().enumerate() {
        for (g, w) in lp[i][..s.len() - 1].iter().zip(&ad.right.logprobs[i]) {
            worst = worst.max((g - w).abs());
        }
    }
    // bf16 keeps 8 bits of mantissa (relative step 2^-8 = 0.4%); over two layers the log-probs
    // (magnitude ~4) move by a few hundredths (0.045 observed), far less than between-token
    // differences (~1).
    assert!(worst > 0.0 && worst < 0.15, "bf16 deviation {worst}");
    Ok(())
}

#[test]
fn malformed_batches_are_rejected() -> TestResult {
    let ids = Tensor::from_slice(&[1i64, 2, 3, 4]).view([2, 2]);
    assert!(Batch::new(ids.copy(), Tensor::from_slice(&[1i64, 1, 1]).view([1, 3])).is_err()); // shape
    assert!(Batch::new(
        ids.copy(),
        Tensor::from_slice(&[1i64, 2, 1, 1]).view([2, 2])
    )
    .is_err()); // value 2
    assert!(Batch::new(
        ids.copy(),
        Tensor::from_slice(&[0i64, 0, 1, 1]).view([2, 2])
    )
    .is_err()); // empty row
    assert!(Batch::new(
        ids.to_kind(Kind::Float),
        Tensor::ones([2, 2], (Kind::Int64, tch::Device::Cpu))
    )
    .is_err());
    assert!(
        Batch::from_sequences(&[vec![1], vec![]], 0, PaddingSide::Left, tch::Device::Cpu).is_err()
    );
    let ok = Batch::new(ids, Tensor::from_slice(&[0i64, 1, 1, 1]).view([2, 2]))?;
    // positions = cumsum(mask) - 1, clamped at 0: [[0, 0], [0, 1]].
    assert_eq!(
        Vec::<Vec<i64>>::try_from(&ok.position_ids()?)?,
        vec![vec![0, 0], vec![0, 1]]
    );
    let m = load("llama_linear")?;
    // Token id 64 is outside the vocabulary of 64.
    let bad = Batch::from_sequences(&[vec![1, 64]], 0, PaddingSide::Right, tch::Device::Cpu)?;
    assert!(m.forward_batch(&bad, &ForwardOptions::default()).is_err());
    // A single position has no next token to score.
    let short = Batch::from_sequences(&[vec![1]], 0, PaddingSide::Right, tch::Device::Cpu)?;
    assert!(m.forward_batch(&short, &ForwardOptions::default()).is_err());
    Ok(())
}

#[test]
fn last_logits_pick_the_last_real_position_for_either_padding_side() -> TestResult {
    let m = lora_model(&["q_proj", "v_proj"])?;
    for side in [PaddingSide::Left, PaddingSide::Right] {
        let batch = Batch::from_sequences(&seqs(), 0, side, tch::Device::Cpu)?;
        let last = m.final_position_logits(&batch, true)?;
        let full = m.logits(&batch, true)?;
        let t = full.size()[1];
        for (i, s) in SEQS.iter().enumerate() {
            // Right padding: the last real token is at len-1; left padding: at t-1.
            let pos = match side {
                PaddingSide::Right => s.len() as i64 - 1,
                PaddingSide::Left => t - 1,
            };
            let expected = full.get(i as i64).get(pos);
            let diff = (last.get(i as i64) - expected)
                .abs()
                .max()
                .double_value(&[]);
            assert!(diff < 1e-5, "{side:?} sequence {i}: max diff {diff}");
        }
    }
    Ok(())
}

#[test]
fn streaming_hands_over_every_token_as_generated() -> TestResult {
    let m = load("llama_linear")?;
    let prompts = seqs();
    let cfg = GenerationConfig {
        max_new_tokens: 6,
        sampling: Sampling::Temperature { temperature: 0.9 },
        seed: 4,
        ..Default::default()
    };
    let plain = m.generate(&prompts, &cfg, None)?;
    let mut seen: Vec<Vec<i64>> = vec![Vec::new(); prompts.len()];
    let streamed =
        m.generate_streaming(&prompts, &cfg, None, &mut |row, tok| seen[row].push(tok))?;
    for ((p, s), got) in plain.iter().zip(&streamed).zip(&seen) {
        assert_eq!(p.tokens, s.tokens);
        assert_eq!(&s.tokens, got);
    }
    Ok(())
}
