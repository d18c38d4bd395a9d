//! StepTool's released procedure, offline step-grained PPO, from your own Rust code: the same
//! library entry as `steptool train` (which owns the command-line flags).
//!
//! With no argument it runs the embedded default on the CPU in about a minute: a tiny
//! LLaMA-architecture model, a BPE tokenizer trained in code, ten real ToolLLaMA rows, a few PPO
//! steps; the metrics JSONL, a PNG plot and checkpoints go under `runs/embedded-default/`.
//! With a JSON spec (`examples/specs/*.json`, fields in docs/ppo.md) it runs that spec:
//!
//! ```text
//! cargo run --release --example train_toolllama
//! cargo run --release --example train_toolllama -- examples/specs/toolllama-7b.json
//! # the same with flag overrides: steptool train --config examples/specs/toolllama-7b.json --device cuda:1
//! ```

use steptool_ppo::app::{run_training, TrainSpec};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    let spec = match std::env::args_os().nth(1) {
        Some(path) => TrainSpec::from_json_file(path.as_ref())?,
        None => TrainSpec {
            // `make run` twice in a row starts the demo again rather than refusing.
            overwrite: true,
            ..TrainSpec::embedded_default()
        },
    };
    print!("{}", run_training(spec)?);
    Ok(())
}
