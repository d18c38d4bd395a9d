//! StepTool's released procedure: offline step-grained PPO from a StepTool TSV (or our episode
//! JSONL) on a Hugging Face model directory, with LoRA and a value head.
//!
//! With **no arguments** it runs the embedded default on the CPU in about a minute: a tiny
//! LLaMA-architecture model with random weights, a byte-level BPE tokenizer trained in code on
//! the 10 shipped ToolLLaMA rows, 6 PPO steps; it prints a summary and writes
//! `runs/embedded-default/{metrics.jsonl,metrics.png,checkpoints/,tokenizer.json,spec.json}`.
//!
//! ```text
//! cargo run --release --example train_toolllama
//! # ToolLLaMA-2-7b-v2 on a GPU, bf16, LoRA r=16 (the paper's setting):
//! cargo run --release --example train_toolllama -- --model-dir ToolLLaMA-2-7b-v2 \
//!     --data step_grained_for_ppo_example.csv --device cuda:0 --bf16 --lora-r 16 --lora-alpha 16 \
//!     --encode-mode reference-compat --max-context 4096 --max-response 1024 --epochs 5 --run-name toolllama
//! # continue it later
//! cargo run --release --example train_toolllama -- ... --run-name toolllama --resume
//! # or everything from a JSON spec (the same code path as `steptool train --config FILE`)
//! cargo run --release --example train_toolllama -- --spec run.json
//! ```

use std::path::PathBuf;

use clap::Parser;
use steptool_mdp::EncodeMode;
use steptool_ppo::app::{run_training, Precision, TrainSpec};
use steptool_ppo::PpoConfig;

#[derive(Debug, Parser)]
#[command(about = "Offline StepTool PPO (no arguments: the embedded CPU demo)")]
struct Args {
    /// A JSON TrainSpec; flags given as well override it.
    #[arg(long)]
    spec: Option<PathBuf>,
    /// HF model directory (config.json, *.safetensors, tokenizer.json).
    #[arg(long)]
    model_dir: Option<PathBuf>,
    /// StepTool TSV (.tsv/.csv) or episodes JSONL (.jsonl).
    #[arg(long)]
    data: Option<PathBuf>,
    /// Tokenizer (default <model-dir>/tokenizer.json).
    #[arg(long)]
    tokenizer: Option<PathBuf>,
    /// A PpoConfig JSON file.
    #[arg(long)]
    ppo_config: Option<PathBuf>,
    /// The reference's config/<model>/StepTool_ppo.json (ppo_kwargs, peft_kwargs).
    #[arg(long)]
    reference_config: Option<PathBuf>,
    /// Value head to start from (safetensors, TRL names); default: freshly initialised.
    #[arg(long)]
    value_head: Option<PathBuf>,
    /// cpu or cuda:N.
    #[arg(long)]
    device: Option<String>,
    /// bf16 base weights (CUDA).
    #[arg(long)]
    bf16: bool,
    /// LoRA rank.
    #[arg(long)]
    lora_r: Option<i64>,
    /// LoRA alpha.
    #[arg(long)]
    lora_alpha: Option<f64>,
    /// clean or reference-compat.
    #[arg(long)]
    encode_mode: Option<EncodeMode>,
    /// Context tokens kept.
    #[arg(long)]
    max_context: Option<usize>,
    /// Response tokens kept.
    #[arg(long)]
    max_response: Option<usize>,
    /// Total PPO steps.
    #[arg(long)]
    steps: Option<u64>,
    /// Passes over the data (when --steps is not given).
    #[arg(long)]
    epochs: Option<u64>,
    /// Checkpoint interval in PPO steps.
    #[arg(long)]
    checkpoint_every: Option<u64>,
    /// Output root (default runs).
    #[arg(long)]
    runs_dir: Option<PathBuf>,
    /// Run name (directory under the output root).
    #[arg(long)]
    run_name: Option<String>,
    /// Continue from the newest checkpoint of the run.
    #[arg(long)]
    resume: bool,
    /// CPU threads.
    #[arg(long)]
    threads: Option<i32>,
}

fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    let a = Args::parse();
    let mut spec = match (&a.spec, &a.model_dir) {
        (Some(p), _) => TrainSpec::from_json_file(p)?,
        (None, None) => TrainSpec::embedded_default(),
        (None, Some(_)) => TrainSpec::default(),
    };
    if let Some(v) = a.model_dir {
        spec.model_dir = Some(v);
    }
    if let Some(v) = a.data {
        spec.data = Some(v);
    }
    if let Some(v) = a.tokenizer {
        spec.tokenizer = Some(v);
    }
    if let Some(p) = a.ppo_config {
        spec.ppo = PpoConfig::from_json_file(&p)?;
    }
    if let Some(v) = a.reference_config {
        spec.reference_config = Some(v);
    }
    if let Some(v) = a.value_head {
        spec.value_head = Some(v);
    }
    if let Some(v) = a.device {
        spec.device = v;
    }
    if a.bf16 {
        spec.precision = Precision::Bf16;
    }
    if let Some(v) = a.lora_r {
        spec.lora.r = v;
    }
    if let Some(v) = a.lora_alpha {
        spec.lora.alpha = v;
    }
    if let Some(v) = a.encode_mode {
        spec.encoder.mode = v;
    }
    if let Some(v) = a.max_context {
        spec.encoder.max_context = v;
    }
    if let Some(v) = a.max_response {
        spec.encoder.max_response = v;
    }
    if a.steps.is_some() {
        spec.steps = a.steps;
    }
    if let Some(v) = a.epochs {
        spec.epochs = v;
        if a.steps.is_none() {
            spec.steps = None;
        }
    }
    if let Some(v) = a.checkpoint_every {
        spec.checkpoint_every = v;
    }
    if let Some(v) = a.runs_dir {
        spec.runs_dir = v;
    }
    if let Some(v) = a.run_name {
        spec.run_name = v;
    }
    if a.resume {
        spec.resume = true;
    }
    if let Some(v) = a.threads {
        spec.threads = v;
    }
    let s = run_training(spec)?;
    println!("run directory   {}", s.out_dir.display());
    println!("episodes        {}", s.episodes);
    println!(
        "PPO steps       {} run now, {} in total",
        s.steps_run, s.steps_done
    );
    if let (Some(f), Some(l)) = (&s.first, &s.last) {
        println!("                 first step    last step");
        println!(
            "total loss      {:>12.5} {:>12.5}",
            f.total_loss, l.total_loss
        );
        println!(
            "value error     {:>12.5} {:>12.5}",
            f.value_error, l.value_error
        );
        println!("KL (sum/ep)     {:>12.5} {:>12.5}", f.kl, l.kl);
        println!(
            "KL coefficient  {:>12.6} {:>12.6}",
            f.kl_coef, l.kl_coef_next
        );
        println!("clip fraction   {:>12.4} {:>12.4}", f.clipfrac, l.clipfrac);
        println!(
            "tokens/s        {:>12.0} {:>12.0}",
            f.tokens_per_s, l.tokens_per_s
        );
        println!(
            "peak RSS (MiB)  {:>12.0} {:>12.0}",
            f.peak_rss_mb, l.peak_rss_mb
        );
    }
    println!(
        "metrics         {}",
        s.out_dir.join("metrics.jsonl").display()
    );
    if let Some(p) = &s.plot {
        println!("plot            {}", p.display());
    }
    println!(
        "checkpoints     {}",
        s.out_dir.join("checkpoints").display()
    );
    if !s.unknown_reference_keys.is_empty() {
        println!("not applied     {:?}", s.unknown_reference_keys);
    }
    Ok(())
}
