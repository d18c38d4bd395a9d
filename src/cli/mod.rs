//! Subcommands of the `steptool` CLI, one module each.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod advantages;
mod annotate;
mod build_tsv;
mod dpo;
mod encode;
mod eval;
mod experiment;
mod generate;
mod import_gguf;
mod logprobs;
mod merge;
mod report;
mod rft;
mod rollout;
mod run_args;
mod sft;
mod train;

/// StepTool: step-grained reinforcement learning for multi-step tool use.
#[derive(Debug, Parser)]
#[command(name = "steptool", version, about)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Per-token rewards, advantages and returns for a batch of episodes (JSON stdin -> stdout).
    Advantages(advantages::Args),
    /// Annotate step rewards of converted predictions (rules, LLM judge or hybrid).
    Annotate(annotate::Args),
    /// Build the StepTool PPO training TSV from converted predictions and annotations.
    BuildTsv(build_tsv::Args),
    /// The ETO (DPO) baseline: explore, pair successes with failures, DPO against the adapter-free reference.
    Dpo(dpo::Args),
    /// Pass rate, recall and pass@k of rollout records.
    Eval(eval::Args),
    /// The paper's study at small scale: every method from one SFT start, several seeds, one report.
    Experiment(experiment::Args),
    /// Encode a StepTool training TSV into token-level episodes (one JSON object per row).
    Encode(encode::Args),
    /// Generate text from a model directory (plain prompts or chat messages).
    Generate(generate::Args),
    /// Import a llama.cpp GGUF file into a Hugging Face checkpoint directory.
    ImportGguf(import_gguf::Args),
    /// Per-token log-probs, values and last-position logits of a model (JSON stdin -> stdout).
    Logprobs(logprobs::Args),
    /// Merge a LoRA adapter into its base model and write a plain HF model directory.
    Merge(merge::Args),
    /// The paper's Table 3 (pass rate ± std, recall, error types) from pass-rate result files.
    Report(report::Args),
    /// The RFT baseline: sample K trajectories per task, keep the solved ones, SFT on them and the expert data.
    Rft(rft::Args),
    /// Roll out an agent on an environment's tasks (CoT or DFSDT) into JSONL trajectories.
    Rollout(rollout::Args),
    /// Supervised fine-tuning (assistant turns only) from a JSON spec and flags (no spec: the synthetic expert demo).
    Sft(sft::Args),
    /// StepTool PPO from a JSON spec and flags (no spec, no model: the embedded CPU demo).
    Train(train::Args),
}

/// Run the parsed command line.
pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Advantages(args) => advantages::run(args),
        Command::Annotate(args) => annotate::run(args),
        Command::BuildTsv(args) => build_tsv::run(args),
        Command::Dpo(args) => dpo::run(args),
        Command::Encode(args) => encode::run(args),
        Command::Eval(args) => eval::run(args),
        Command::Experiment(args) => experiment::run(args),
        Command::Generate(args) => generate::run(args),
        Command::ImportGguf(args) => import_gguf::run(args),
        Command::Logprobs(args) => logprobs::run(args),
        Command::Merge(args) => merge::run(args),
        Command::Report(args) => report::run(args),
        Command::Rft(args) => rft::run(args),
        Command::Rollout(args) => rollout::run(args),
        Command::Sft(args) => sft::run(args),
        Command::Train(args) => train::run(args),
    }
}
