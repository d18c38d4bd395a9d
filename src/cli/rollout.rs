//! `steptool rollout`: run an agent on tasks of an environment with CoT or DFSDT and write the
//! trajectories as JSONL (optionally also as ToolEval converted answers).
//!
//! ```text
//! steptool rollout --env synthetic --tasks 50 --agent noisy --noise 0.25 --strategy dfsdt --out t.jsonl
//! steptool rollout --env stabletoolbench --tools DIR [--cache DIR] [--server URL] --tasks G1_instruction.json \
//!     --agent openai --endpoint http://localhost:8000/v1 --model toolllama --chat-format toolllama \
//!     --strategy cot --out t.jsonl
//! ```

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use steptool::env::openai::{OpenAiAgent, OpenAiAgentConfig};
use steptool::env::rollout::{
    run_many, write_converted_answers, write_records, RolloutConfig, Strategy,
};
use steptool::env::stb::{read_test_queries, StbConfig, StbEnv};
use steptool::env::synthetic::{
    ExpertAgent, NoisyExpertAgent, RandomAgent, Split, SyntheticBenchmark, SyntheticConfig,
    SyntheticEnv, SyntheticEnvConfig,
};
use steptool::env::{Agent, Environment};
use steptool::mdp::ChatFormat;

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum EnvKind {
    /// The offline synthetic benchmark with ground truth (`--tasks N` test tasks).
    Synthetic,
    /// StableToolBench: a `tools/` folder, a response cache and/or a running server.
    Stabletoolbench,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum AgentKind {
    /// The synthetic benchmark's expert (solves every task).
    Expert,
    /// The expert erring with probability `--noise` (wrong tool, wrong argument, early finish).
    Noisy,
    /// Random calls among the offered tools.
    Random,
    /// A model served by an OpenAI-compatible completions server (vLLM, SGLang).
    Openai,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum StrategyArg {
    /// One chain (`CoT@1`).
    Cot,
    /// Depth-first search with backtracking (`DFS_woFilter_w2`).
    Dfsdt,
}

/// Arguments of `steptool rollout`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The environment.
    #[arg(long, value_enum)]
    env: EnvKind,
    /// StableToolBench `tools/` folder.
    #[arg(long)]
    tools: Option<PathBuf>,
    /// StableToolBench `tool_response_cache/` folder.
    #[arg(long)]
    cache: Option<PathBuf>,
    /// A running StableToolBench server's `/virtual` URL, asked on cache misses.
    #[arg(long)]
    server: Option<String>,
    /// Synthetic: the number of test tasks. StableToolBench: a test-query file.
    #[arg(long)]
    tasks: String,
    /// The agent.
    #[arg(long, value_enum)]
    agent: AgentKind,
    /// Error probability of the noisy expert.
    #[arg(long, default_value_t = 0.2)]
    noise: f64,
    /// OpenAI-compatible base URL (agent openai), e.g. http://localhost:8000/v1.
    #[arg(long)]
    endpoint: Option<String>,
    /// Served model name (agent openai).
    #[arg(long)]
    model: Option<String>,
    /// Prompt format (agent openai): toolllama, qwen2 or llama3.
    #[arg(long, default_value = "toolllama")]
    chat_format: ChatFormat,
    /// CoT or DFSDT.
    #[arg(long, value_enum, default_value = "cot")]
    strategy: StrategyArg,
    /// Most actions per chain, `Finish` included [default: 4 for StableToolBench, the
    /// reference's evaluation limit; 5 for synthetic tasks, whose longest plans are 4 calls +
    /// `Finish`].
    #[arg(long)]
    max_actions: Option<usize>,
    /// Independent rollouts per task (for pass@k).
    #[arg(long, default_value_t = 1)]
    samples: usize,
    /// Seed of task generation, agents and the reference's random choices.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Output: our JSONL rollout records.
    #[arg(long)]
    out: PathBuf,
    /// Also write ToolEval converted answers (for ToolEval's own judges).
    #[arg(long)]
    converted: Option<PathBuf>,
}

/// Run `steptool rollout`.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let default_actions = match args.env {
        EnvKind::Synthetic => SyntheticConfig::default().max_calls + 1,
        EnvKind::Stabletoolbench => RolloutConfig::default().max_actions,
    };
    let config = RolloutConfig {
        max_actions: args.max_actions.unwrap_or(default_actions),
        strategy: match args.strategy {
            StrategyArg::Cot => Strategy::Cot,
            StrategyArg::Dfsdt => Strategy::Dfsdt,
        },
        samples: args.samples,
        seed: args.seed,
        ..RolloutConfig::default()
    };
    match args.env {
        EnvKind::Synthetic => {
            let n: usize = args.tasks.parse().with_context(|| {
                format!(
                    "--env synthetic takes --tasks N (a count), got {:?}",
                    args.tasks
                )
            })?;
            let bench = Arc::new(SyntheticBenchmark::new(SyntheticConfig::default())?);
            let tasks = bench.tasks(Split::Test, n, args.seed)?;
            let agent: Box<dyn Agent> = match args.agent {
                AgentKind::Expert => Box::new(ExpertAgent::new(&tasks)),
                AgentKind::Noisy => Box::new(NoisyExpertAgent::new(&tasks, args.noise, args.seed)?),
                AgentKind::Random => Box::new(RandomAgent::new(args.seed)),
                AgentKind::Openai => Box::new(openai_agent(&args)?),
            };
            let env = SyntheticEnv::new(bench, SyntheticEnvConfig::default());
            roll(&env, &tasks, agent.as_ref(), &config, &args)
        }
        EnvKind::Stabletoolbench => {
            let tools = args
                .tools
                .clone()
                .context("--env stabletoolbench needs --tools DIR")?;
            let env = StbEnv::new(StbConfig {
                cache_dir: args.cache.clone(),
                server_url: args.server.clone(),
                ..StbConfig::new(tools)
            })?;
            let tasks = read_test_queries(&args.tasks)?;
            let agent: Box<dyn Agent> = match args.agent {
                AgentKind::Openai => Box::new(openai_agent(&args)?),
                AgentKind::Random => Box::new(RandomAgent::new(args.seed)),
                AgentKind::Expert | AgentKind::Noisy => {
                    anyhow::bail!(
                        "--agent expert/noisy need ground truth: use them with --env synthetic"
                    )
                }
            };
            roll(&env, &tasks, agent.as_ref(), &config, &args)
        }
    }
}

fn openai_agent(args: &Args) -> anyhow::Result<OpenAiAgent> {
    let endpoint = args
        .endpoint
        .clone()
        .context("--agent openai needs --endpoint URL")?;
    let model = args
        .model
        .clone()
        .context("--agent openai needs --model NAME")?;
    Ok(OpenAiAgent::new(OpenAiAgentConfig::new(
        endpoint,
        model,
        args.chat_format,
    ))?)
}

fn roll<E: Environment + Sync>(
    env: &E,
    tasks: &[E::Task],
    agent: &dyn Agent,
    config: &RolloutConfig,
    args: &Args,
) -> anyhow::Result<ExitCode> {
    let summary = run_many(env, tasks, agent, config, true)?;
    write_records(&args.out, &summary.records)?;
    if let Some(path) = &args.converted {
        write_converted_answers(path, &summary.records)?;
    }
    eprintln!(
        "{} rollouts ({}) written to {}",
        summary.records.len(),
        config.method(),
        args.out.display()
    );
    for failure in &summary.failures {
        eprintln!(
            "task {} sample {}: {}",
            failure.task_index, failure.sample, failure.error
        );
    }
    if summary.failures.is_empty() {
        Ok(ExitCode::SUCCESS)
    } else {
        eprintln!("{} rollouts failed", summary.failures.len());
        Ok(ExitCode::FAILURE)
    }
}
