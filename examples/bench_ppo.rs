//! Times our PPO trainer on the TRL baseline's workload (`../shared/bench/trl-baseline/`):
//! the same tiny LLaMA, value head, tokenizer, data, LoRA r=16 alpha=16 on q_proj/v_proj, fp32,
//! batch 8 / mini-batch 2 / gradient accumulation 4, 4 PPO epochs, the same batches (step `k`
//! uses rows `(8k+i) % 10`), and the same reward/advantage semantics (step scores added once at
//! each action's end, token-level GAE through every position: `reference_compat` with `plain`
//! weighting).
//!
//! ```text
//! cargo run --release --example bench_ppo -- --fixture fixtures/trl-baseline --steps 5 --max-context 512
//! ```
//!
//! Flags as `bench_trl.py`: `--steps`, `--warmup`, `--max-context`, `--max-response`,
//! `--threads`, `--seed`. Prints one line per step and a final `SUMMARY {json}` line with the
//! same keys as the Python script.

use std::path::PathBuf;
use std::time::Instant;

use clap::Parser;
use steptool_advantage::{Estimator, RewardWeighting};
use steptool_mdp::{EncodeMode, Encoder, EncoderConfig};
use steptool_model::{LoadOptions, LoraConfig, Model};
use steptool_ppo::{data::load_tsv, PpoConfig, PpoTrainer};

#[derive(Debug, Parser)]
struct Args {
    /// The TRL baseline fixture directory (config.json, model.safetensors, tokenizer.json,
    /// value_head.safetensors, train.tsv).
    #[arg(long, default_value = "fixtures/trl-baseline")]
    fixture: PathBuf,
    /// Timed PPO steps (after --warmup).
    #[arg(long, default_value_t = 3)]
    steps: usize,
    /// Untimed warm-up steps.
    #[arg(long, default_value_t = 1)]
    warmup: usize,
    /// Intra-op threads.
    #[arg(long, default_value_t = 2)]
    threads: i32,
    /// Context tokens kept (the last ones).
    #[arg(long, default_value_t = 1024)]
    max_context: usize,
    /// Response tokens kept (the first ones).
    #[arg(long, default_value_t = 1200)]
    max_response: usize,
    /// Seed.
    #[arg(long, default_value_t = 2024)]
    seed: u64,
}

fn median(v: &[f64]) -> f64 {
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    let n = s.len();
    if n == 0 {
        return f64::NAN;
    }
    if n % 2 == 1 {
        s[n / 2]
    } else {
        0.5 * (s[n / 2 - 1] + s[n / 2])
    }
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    tch::set_num_threads(args.threads);
    tch::manual_seed(args.seed as i64);
    let encoder = Encoder::from_file(
        args.fixture.join("tokenizer.json"),
        EncoderConfig {
            mode: EncodeMode::ReferenceCompat,
            max_context: args.max_context,
            max_response: args.max_response,
        },
    )?;
    let episodes = load_tsv(&args.fixture.join("train.tsv"), &encoder)?;
    let (mut model, _report) = Model::from_pretrained(&args.fixture, LoadOptions::cpu())?;
    model.attach_lora(
        LoraConfig {
            r: 16,
            alpha: 16.0,
            ..LoraConfig::default()
        },
        args.seed,
    )?;
    model.load_value_head(&args.fixture.join("value_head.safetensors"))?;
    let config = PpoConfig {
        estimator: Estimator::ReferenceCompat {
            weighting: RewardWeighting::Plain,
        },
        seed: args.seed,
        ..PpoConfig::default()
    };
    let bs = config.batch_size;
    let mut trainer = PpoTrainer::new(model, config)?;
    println!(
        "# steptool-ppo (tch {}) threads={} fp32 max_context={} max_response={} episodes={}",
        env!("CARGO_PKG_VERSION"),
        tch::get_num_threads(),
        args.max_context,
        args.max_response,
        episodes.len()
    );
    let (mut times, mut toks, mut losses, mut kls) = (vec![], vec![], vec![], vec![]);
    for k in 0..args.warmup + args.steps {
        let rows: Vec<usize> = (0..bs).map(|i| (bs * k + i) % episodes.len()).collect();
        let batch: Vec<_> = rows.iter().map(|&i| episodes[i].clone()).collect();
        let ntok: usize = batch.iter().map(|e| e.len()).sum();
        let padded = bs * batch.iter().map(|e| e.len()).max().unwrap_or(0);
        let t0 = Instant::now();
        let m = trainer.step(&batch)?;
        let dt = t0.elapsed().as_secs_f64();
        let tag = if k < args.warmup { "warmup" } else { "step" };
        println!(
            "{tag} {k}: {dt:.3} s  tokens={ntok} (padded {padded}, computed {})  {:.1} tok/s  loss={:.5} kl={:.6} kl_coef={:.4} fwd={:.2}s opt={:.2}s",
            m.padded_tokens,
            ntok as f64 / dt,
            m.total_loss,
            m.kl,
            m.kl_coef,
            m.rollout_seconds,
            m.optimize_seconds
        );
        if k >= args.warmup {
            times.push(dt);
            toks.push(ntok as f64);
            losses.push(m.total_loss);
            kls.push(m.kl);
        }
    }
    let n = times.len().max(1) as f64;
    let summary = serde_json::json!({
        "steps": times.len(),
        "threads": args.threads,
        "max_context": args.max_context,
        "median_step_s": median(&times),
        "mean_step_s": times.iter().sum::<f64>() / n,
        "tokens_per_step": toks.iter().sum::<f64>() / n,
        "tokens_per_s": toks.iter().sum::<f64>() / times.iter().sum::<f64>(),
        "peak_rss_mb": steptool_ppo::trainer::peak_rss_mb(),
        "mean_loss": losses.iter().sum::<f64>() / n,
        "mean_kl": kls.iter().sum::<f64>() / n,
    });
    println!("SUMMARY {summary}");
    Ok(())
}
