//! PPO step tests on a tiny random LLaMA (CPU, f32).

use std::collections::HashMap;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use steptool_mdp::{ActionSpan, Episode};
use steptool_model::{testing, LoadOptions, LoraConfig, Model};
use steptool_ppo::run::{train_loop, RunOptions};
use steptool_ppo::{
    ppo_loss, Error, KlControl, LossInputs, LossParams, PpoConfig, PpoTrainer, ReferenceConfig,
    Side,
};
use tch::Tensor;

type R = Result<(), Box<dyn std::error::Error>>;

/// The tests of this file run in parallel threads of one process and all seed libtorch's global
/// generator (`model` below, and the trainer before each step): a concurrent `manual_seed` would
/// give two "identical" models different weights. Each test holds this lock throughout.
static GLOBAL_RNG: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    GLOBAL_RNG
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn model(seed: u64) -> Result<Model, Box<dyn std::error::Error>> {
    tch::manual_seed(seed as i64);
    let mut m = Model::random(testing::tiny_llama()?, LoadOptions::cpu())?;
    m.attach_lora(
        LoraConfig {
            r: 4,
            alpha: 8.0,
            ..LoraConfig::default()
        },
        seed,
    )?;
    m.init_value_head(seed)?;
    Ok(m)
}

/// `n` episodes of 2-3 steps and 14..40 tokens with rewards in [0, 1].
fn episodes(n: usize, seed: u64) -> Vec<Episode> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    (0..n)
        .map(|_| {
            let steps = rng.gen_range(2..=3);
            let mut ids: Vec<u32> = vec![1];
            let mut spans = Vec::new();
            for _ in 0..steps {
                let p = rng.gen_range(3..8);
                ids.extend((0..p).map(|_| rng.gen_range(3..64)));
                let a = rng.gen_range(2..6);
                let s = ids.len();
                ids.extend((0..a).map(|_| rng.gen_range(3..64)));
                spans.push(ActionSpan::new(s, s + a));
            }
            let rewards = (0..steps).map(|_| rng.gen_range(0.0..1.0f32)).collect();
            Episode::new(ids, spans, rewards).expect("valid episode")
        })
        .collect()
}

fn snapshot(m: &Model) -> HashMap<String, Tensor> {
    m.var_store()
        .variables()
        .into_iter()
        .map(|(k, v)| (k, v.detach().copy()))
        .collect()
}

#[test]
fn first_step_has_zero_kl_and_unit_ratios() -> R {
    let _serial = serial();
    let mut t = PpoTrainer::new(model(1)?, PpoConfig::default())?;
    let m = t.step(&episodes(8, 1))?;
    // LoRA B = 0 at init: the policy is the reference exactly, so Σ kl = 0 exactly.
    assert_eq!(m.kl, 0.0);
    // One optimizer step per epoch (8 = 2 × 4): every epoch-0 mini-batch sees the old policy.
    assert!(
        (m.first_epoch_ratio - 1.0).abs() < 1e-5,
        "{}",
        m.first_epoch_ratio
    );
    assert_eq!(m.optimizer_steps, 4);
    assert_eq!(m.ratio_guard_skips, 0);
    // adaptive controller with KL 0: β·(1 − 0.2·8/10000) = 0.3·0.99984
    assert!((m.kl_coef_next - 0.3 * 0.99984).abs() < 1e-12);
    Ok(())
}

#[test]
fn only_lora_and_value_head_change() -> R {
    let _serial = serial();
    let mdl = model(2)?;
    let before = snapshot(&mdl);
    let cfg = PpoConfig {
        learning_rate: 1e-3,
        ..PpoConfig::default()
    };
    let mut t = PpoTrainer::new(mdl, cfg)?;
    t.step(&episodes(8, 2))?;
    let after = snapshot(t.model());
    let mut changed = 0;
    for (name, b) in &before {
        let a = &after[name];
        let same = a.equal(b);
        let trainable = name.contains("lora_") || name.starts_with("v_head");
        if trainable {
            // LoRA A gets no gradient while B = 0, but B and the value head must move
            if name.contains("lora_B") || name.starts_with("v_head") {
                assert!(!same, "{name} did not change");
                changed += 1;
            }
        } else {
            assert!(same, "frozen {name} changed");
        }
    }
    assert!(changed > 2);
    assert!(t
        .trained_names()
        .iter()
        .all(|n| n.contains("lora_") || n.starts_with("v_head")));
    Ok(())
}

#[test]
fn hand_checked_loss() -> R {
    let _serial = serial();
    // one row, 3 positions, the last masked out
    let lp = Tensor::from_slice(&[-1.0f32, -2.0, -3.0]).view([1, 3]);
    let old = Tensor::from_slice(&[-1.0f32, -2.5, -3.0]).view([1, 3]);
    let v = Tensor::from_slice(&[0.5f32, 0.0, 9.0]).view([1, 3]);
    let old_v = Tensor::from_slice(&[0.0f32, 0.0, 0.0]).view([1, 3]);
    let adv = Tensor::from_slice(&[1.0f32, -1.0, 5.0]).view([1, 3]);
    let ret = Tensor::from_slice(&[1.0f32, 1.0, 1.0]).view([1, 3]);
    let mask = Tensor::from_slice(&[1.0f32, 1.0, 0.0]).view([1, 3]);
    let ent = Tensor::from_slice(&[2.0f32, 4.0, 100.0]).view([1, 3]);
    let p = LossParams {
        cliprange: 0.2,
        cliprange_value: 0.2,
        vf_coef: 0.1,
        entropy_coef: 0.0,
        ratio_threshold: 10.0,
    };
    let o = ppo_loss(
        &LossInputs {
            logprobs: &lp,
            old_logprobs: &old,
            values: &v,
            old_values: &old_v,
            advantages: &adv,
            returns: &ret,
            mask: &mask,
            entropy: &ent,
        },
        &p,
    )?;
    // t0: ρ = 1, A = 1: max(−1, −1) = −1.
    // t1: ρ = e^0.5 = 1.6487, A = −1: −A·ρ = 1.6487, −A·clip(ρ, 0.8, 1.2) = 1.2; max = 1.6487
    // pg = (−1 + 1.6487213)/2 = 0.32436
    let e05 = 0.5f64.exp();
    assert!(
        (o.pg_loss - (-1.0 + e05) / 2.0).abs() < 1e-6,
        "{}",
        o.pg_loss
    );
    // values: t0: v=0.5, clip to [−0.2, 0.2] → 0.2; (0.5−1)² = 0.25, (0.2−1)² = 0.64 → 0.64
    //         t1: v=0, clip 0; (0−1)² = 1 both → 1.   vf = 0.5·(0.64 + 1)/2 = 0.41
    assert!((o.vf_loss - 0.41).abs() < 1e-6, "{}", o.vf_loss);
    // total = 0.32436 + 0.1·0.41
    assert!((o.total - ((-1.0 + e05) / 2.0 + 0.041)).abs() < 1e-6);
    // clipfrac: pg2 > pg1 nowhere (t0 equal, t1 1.2 < 1.65) → 0; vf2 > vf1 at t0 → 0.5
    assert_eq!(o.pg_clipfrac, 0.0);
    assert_eq!(o.vf_clipfrac, 0.5);
    // ratio mean (1 + 1.6487)/2; approx_kl = 0.5·(0 + 0.25)/2 = 0.0625; entropy (2+4)/2 = 3
    assert!((o.mean_ratio - (1.0 + e05) / 2.0).abs() < 1e-6);
    assert!((o.approx_kl - 0.0625).abs() < 1e-7);
    assert!((o.entropy - 3.0).abs() < 1e-7);
    assert!(!o.skipped);
    // ratio guard: threshold 1.2 < mean ratio 1.32 → the loss is zeroed
    let g = ppo_loss(
        &LossInputs {
            logprobs: &lp,
            old_logprobs: &old,
            values: &v,
            old_values: &old_v,
            advantages: &adv,
            returns: &ret,
            mask: &mask,
            entropy: &ent,
        },
        &LossParams {
            ratio_threshold: 1.2,
            ..p
        },
    )?;
    assert!(g.skipped);
    assert_eq!(g.loss.double_value(&[]), 0.0);
    Ok(())
}

#[test]
fn loss_improves_on_a_fixed_batch() -> R {
    let _serial = serial();
    let cfg = PpoConfig {
        learning_rate: 3e-3,
        ..PpoConfig::default()
    };
    let mut t = PpoTrainer::new(model(3)?, cfg)?;
    let batch = episodes(8, 3);
    let mut ms = Vec::new();
    for _ in 0..6 {
        ms.push(t.step(&batch)?);
    }
    let (first, last) = (&ms[0], &ms[5]);
    assert!(
        last.value_error < 0.5 * first.value_error,
        "{} -> {}",
        first.value_error,
        last.value_error
    );
    assert!(
        last.total_loss < first.total_loss,
        "{} -> {}",
        first.total_loss,
        last.total_loss
    );
    // the policy moved away from the reference
    assert!(last.kl.abs() > 0.0);
    Ok(())
}

#[test]
fn left_and_right_padding_agree() -> R {
    let _serial = serial();
    let mut ms = Vec::new();
    for side in [Side::Right, Side::Left] {
        let cfg = PpoConfig {
            padding_side: side,
            learning_rate: 1e-3,
            ..PpoConfig::default()
        };
        let mut t = PpoTrainer::new(model(4)?, cfg)?;
        let b = episodes(8, 4);
        t.step(&b)?;
        ms.push(t.step(&b)?);
    }
    let (r, l) = (&ms[0], &ms[1]);
    for (a, b, what) in [
        (r.total_loss, l.total_loss, "loss"),
        (r.kl, l.kl, "kl"),
        (r.value_error, l.value_error, "value error"),
        (r.approx_kl, l.approx_kl, "approx kl"),
    ] {
        assert!(
            (a - b).abs() < 1e-4 * (1.0 + a.abs()),
            "{what}: right {a} left {b}"
        );
    }
    Ok(())
}

#[test]
fn length_bucketing_pads_less() -> R {
    let _serial = serial();
    let mut padded = Vec::new();
    for bucketing in [false, true] {
        let cfg = PpoConfig {
            length_bucketing: bucketing,
            ..PpoConfig::default()
        };
        let mut t = PpoTrainer::new(model(5)?, cfg)?;
        padded.push(t.step(&episodes(8, 5))?.padded_tokens);
    }
    assert!(padded[1] < padded[0], "{padded:?}");
    Ok(())
}

#[test]
fn resume_equals_uninterrupted_run() -> R {
    let _serial = serial();
    let data = episodes(16, 6);
    let cfg = PpoConfig {
        learning_rate: 1e-3,
        ..PpoConfig::default()
    };
    let opts = |dir: &std::path::Path, total| RunOptions {
        out_dir: dir.to_path_buf(),
        total_steps: total,
        checkpoint_every: 2,
        resume: true,
        progress: false,
        extra: serde_json::json!({"test": true}),
    };
    let a = tempfile::tempdir()?;
    let mut t = PpoTrainer::new(model(6)?, cfg.clone())?;
    let full = train_loop(&mut t, &data, &opts(a.path(), 4))?;
    let b = tempfile::tempdir()?;
    let mut t1 = PpoTrainer::new(model(6)?, cfg.clone())?;
    train_loop(&mut t1, &data, &opts(b.path(), 2))?;
    drop(t1);
    // a fresh process-like start: new model (same init), then resume from step 2
    let mut t2 = PpoTrainer::new(model(6)?, cfg)?;
    let rest = train_loop(&mut t2, &data, &opts(b.path(), 4))?;
    assert_eq!(rest.len(), 2);
    assert_eq!(rest[0].step, 2);
    for (x, y) in full[2..].iter().zip(&rest) {
        assert_eq!(x.deterministic_part(), y.deterministic_part());
    }
    let lines = steptool_ppo::metrics::read_metrics(&b.path().join("metrics.jsonl"))?;
    assert_eq!(
        lines.iter().map(|m| m.step).collect::<Vec<_>>(),
        vec![0, 1, 2, 3]
    );
    for f in [
        "adapter/adapter_config.json",
        "adapter/adapter_model.safetensors",
        "value_head.safetensors",
        "optimizer.pt",
        "trainer_state.json",
    ] {
        assert!(b.path().join("checkpoints/step-4").join(f).is_file(), "{f}");
    }
    Ok(())
}

#[test]
fn nonfinite_losses_skip_then_stop() -> R {
    let _serial = serial();
    let mut data = episodes(8, 7);
    // a reward of 3e38: the returns overflow when squared, so the value loss is inf
    let mut r = data[0].step_rewards().to_vec();
    r[0] = 3.0e38;
    data[0].set_step_rewards(r)?;
    let before = snapshot(&model(7)?);
    let cfg = PpoConfig {
        whiten: true,
        max_nonfinite_steps: 2,
        ..PpoConfig::default()
    };
    let mut t = PpoTrainer::new(model(7)?, cfg)?;
    let m = t.step(&data)?;
    assert_eq!(m.optimizer_steps + m.nonfinite_skips, 4);
    assert!(m.nonfinite_skips > 0);
    match t.step(&data) {
        Err(Error::NonFinite { count: 2, .. }) => {}
        other => return Err(format!("expected NonFinite after 2 steps, got {other:?}").into()),
    }
    let after = snapshot(t.model());
    assert!(after
        .iter()
        .filter(|(n, _)| !n.contains("lora_") && !n.starts_with("v_head"))
        .all(|(n, a)| a.equal(&before[n])));
    Ok(())
}

#[test]
fn bad_batches_are_clear_errors() -> R {
    let _serial = serial();
    let mut t = PpoTrainer::new(model(8)?, PpoConfig::default())?;
    let e = t
        .step(&episodes(3, 8))
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(e.contains("batch_size = 8"), "{e}");
    let mut bad = episodes(8, 8);
    bad[5] = Episode::new(vec![1, 2, 300], vec![ActionSpan::new(2, 3)], vec![1.0])?;
    let e = t
        .step(&bad)
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(e.contains("episode 5") && e.contains("300"), "{e}");
    Ok(())
}

#[test]
fn reference_config_maps_field_by_field() -> R {
    let _serial = serial();
    let v = serde_json::json!({
        "ppo_kwargs": {
            "learning_rate": 1e-5, "batch_size": 8, "mini_batch_size": 2, "gradient_accumulation_steps": 4,
            "kl_penalty": "kl", "init_kl_coef": 0.3, "adap_kl_ctrl": true, "target": 6, "horizon": 10000,
            "target_kl": 6, "gamma": 0.99, "remove_unused_columns": false, "log_with": "wandb", "seed": 2024,
            "mystery_knob": 3
        },
        "peft_kwargs": {"r": 16, "lora_alpha": 16, "bias": "none", "task_type": "CAUSAL_LM"},
        "model_path": "x"
    });
    let r = ReferenceConfig::parse(&v)?;
    assert_eq!(
        r.ppo,
        PpoConfig {
            seed: 2024,
            ..PpoConfig::default()
        }
    );
    assert_eq!((r.lora.r, r.lora.alpha), (16, 16.0));
    assert_eq!(
        r.unknown,
        vec![
            "ppo_kwargs.mystery_knob".to_string(),
            "model_path".to_string()
        ]
    );
    assert!(r
        .ignored
        .iter()
        .any(|s| s.starts_with("ppo_kwargs.log_with")));
    let fixed = ReferenceConfig::parse(
        &serde_json::json!({"ppo_kwargs": {"adap_kl_ctrl": false, "init_kl_coef": 0.05}}),
    )?;
    assert_eq!(fixed.ppo.kl_control, KlControl::Fixed { coef: 0.05 });
    assert!(
        ReferenceConfig::parse(&serde_json::json!({"ppo_kwargs": {"batch_size": "8"}})).is_err()
    );
    Ok(())
}

#[test]
fn checkpoint_config_mismatch_is_refused() -> R {
    let _serial = serial();
    let dir = tempfile::tempdir()?;
    let t = PpoTrainer::new(model(9)?, PpoConfig::default())?;
    t.save_checkpoint(&dir.path().join("c"), serde_json::Value::Null)?;
    let mut other = PpoTrainer::new(
        model(9)?,
        PpoConfig {
            ppo_epochs: 2,
            ..PpoConfig::default()
        },
    )?;
    let e = other
        .load_checkpoint(&dir.path().join("c"))
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(e.contains("config differs"), "{e}");
    Ok(())
}

#[test]
fn final_reward_ablation_trains_only_the_final_action() -> R {
    let _serial = serial();
    let cfg = PpoConfig {
        estimator: steptool_advantage::Estimator::FinalReward,
        ..PpoConfig::default()
    };
    let mut t = PpoTrainer::new(model(10)?, cfg)?;
    let m = t.step(&episodes(8, 10))?;
    // every episode has 2 or 3 steps: step 0 is never the final one, so it carries nothing
    assert_eq!(m.step_stats[0].mean_advantage, 0.0);
    assert_eq!(m.step_stats[0].mean_advantage_raw, 0.0);
    assert!(m.total_loss.is_finite() && m.optimizer_steps == 4);
    Ok(())
}

#[test]
fn without_intermediate_rewards_only_the_final_reward_matters() -> R {
    let _serial = serial();
    let base = episodes(8, 11);
    let mut changed = base.clone();
    for e in &mut changed {
        let mut r = e.step_rewards().to_vec();
        let n = r.len();
        for x in &mut r[..n - 1] {
            *x += 0.75;
        }
        e.set_step_rewards(r)?;
    }
    let run = |cfg: PpoConfig,
               data: &[Episode]|
     -> Result<steptool_ppo::StepMetrics, Box<dyn std::error::Error>> {
        let mut t = PpoTrainer::new(model(11)?, cfg)?;
        Ok(t.step(data)?)
    };
    let off = PpoConfig {
        intermediate_rewards: false,
        ..PpoConfig::default()
    };
    let (a, b) = (run(off.clone(), &base)?, run(off, &changed)?);
    // intermediate rewards are replaced by 0 before the estimator: same advantages, same update
    assert_eq!(a.advantage_mean, b.advantage_mean);
    assert_eq!(a.return_mean, b.return_mean);
    assert_eq!(a.total_loss, b.total_loss);
    // with them on, the change shows
    let (c, d) = (
        run(PpoConfig::default(), &base)?,
        run(PpoConfig::default(), &changed)?,
    );
    assert_ne!(c.return_mean, d.return_mean);
    Ok(())
}
