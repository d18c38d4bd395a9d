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
    /// Our policy: a model directory (`--model DIR`, optionally `--adapter`), generating
    /// batched on this machine; records carry the token-level trace (ids, spans, log-probs).
    Policy,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum SplitArg {
    /// Training tasks (no held-out tool combinations).
    Train,
    /// Test tasks (held-out tool combinations included).
    Test,
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
    /// Served model name (agent openai), or the model directory (agent policy).
    #[arg(long)]
    model: Option<String>,
    /// A LoRA adapter (agent policy): a PEFT directory, a checkpoint bundle, or a run
    /// directory / `checkpoints/latest` (its newest bundle).
    #[arg(long)]
    adapter: Option<PathBuf>,
    /// Value head safetensors (agent policy; loaded with the adapter, not used for sampling).
    #[arg(long)]
    value_head: Option<PathBuf>,
    /// Sampling temperature (agent policy); 0 is greedy.
    #[arg(long, default_value_t = 0.0)]
    temperature: f64,
    /// Nucleus probability (agent policy).
    #[arg(long, default_value_t = 1.0)]
    top_p: f64,
    /// Conversations generated together in one batch (agent policy).
    #[arg(long, default_value_t = 8)]
    batch: usize,
    /// Most tokens per assistant turn (agent policy).
    #[arg(long, default_value_t = 256)]
    max_new_tokens: usize,
    /// Most tokens per conversation (agent policy).
    #[arg(long, default_value_t = 4096)]
    max_total_tokens: usize,
    /// System prompt style (agent policy): the reference's, or the compact one a model was
    /// trained with.
    #[arg(long, value_parser = ["reference", "compact"], default_value = "reference")]
    prompt_style: String,
    /// `cpu`, `cuda` or `cuda:N` (agent policy).
    #[arg(long, default_value = "cpu")]
    device: String,
    /// Which synthetic tasks: the train or the test split.
    #[arg(long, value_enum, default_value = "test")]
    split: SplitArg,
    /// Environment variable holding the API key (agent openai; never printed or written).
    #[arg(long)]
    api_key_env: Option<String>,
    /// Request timeout in seconds (agent openai).
    #[arg(long, default_value_t = 300.0)]
    timeout: f64,
    /// Retries of a failed request after the first (agent openai), 15 s apart as the reference.
    #[arg(long, default_value_t = 5)]
    retries: usize,
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
            let split = match args.split {
                SplitArg::Train => Split::Train,
                SplitArg::Test => Split::Test,
            };
            let tasks = bench.tasks(split, n, args.seed)?;
            let env = SyntheticEnv::new(bench, SyntheticEnvConfig::default());
            let agent: Box<dyn Agent> = match args.agent {
                AgentKind::Expert => Box::new(ExpertAgent::new(&tasks)),
                AgentKind::Noisy => Box::new(NoisyExpertAgent::new(&tasks, args.noise, args.seed)?),
                AgentKind::Random => Box::new(RandomAgent::new(args.seed)),
                AgentKind::Openai => Box::new(openai_agent(&args)?),
                AgentKind::Policy => return roll_policy(&env, &tasks, &config, &args),
            };
            roll(&env, &tasks, agent.as_ref(), &config, &args)
        }
        EnvKind::Stabletoolbench => {
            let tools = args
                .tools
                .clone()
                .context("--env stabletoolbench needs --tools DIR")?;
            let tasks = read_test_queries(&args.tasks)?;
            if tasks.is_empty() {
                anyhow::bail!(
                    "{}: no queries in the file: nothing to roll out",
                    args.tasks
                );
            }
            let env = StbEnv::new(StbConfig {
                cache_dir: args.cache.clone(),
                server_url: args.server.clone(),
                ..StbConfig::new(tools)
            })?;
            let agent: Box<dyn Agent> = match args.agent {
                AgentKind::Openai => Box::new(openai_agent(&args)?),
                AgentKind::Random => Box::new(RandomAgent::new(args.seed)),
                AgentKind::Policy => return roll_policy(&env, &tasks, &config, &args),
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
    let api_key = args
        .api_key_env
        .as_deref()
        .map(steptool::env::openai::ApiKey::from_env)
        .transpose()?;
    Ok(OpenAiAgent::new(OpenAiAgentConfig {
        api_key,
        timeout_secs: args.timeout,
        attempts: args.retries.saturating_add(1),
        ..OpenAiAgentConfig::new(endpoint, model, args.chat_format)
    })?)
}

/// The policy agent: load the model (and adapter), roll out batched, write records with traces.
fn roll_policy<E>(
    env: &E,
    tasks: &[E::Task],
    config: &RolloutConfig,
    args: &Args,
) -> anyhow::Result<ExitCode>
where
    E: Environment + Sync,
    E::Task: Sync,
{
    use steptool::model::{load_options, Model, Precision};
    use steptool::ppo::online::{policy_rollouts, PolicySampling, Renderer};
    let dir = steptool::ppo::checkpoint::resolve_latest(&PathBuf::from(
        args.model
            .clone()
            .context("--agent policy needs --model DIR (an HF model directory)")?,
    ));
    let (mut model, _) = Model::from_pretrained(&dir, load_options(&args.device, Precision::F32)?)?;
    if let Some(a) = &args.adapter {
        let adapter = steptool::ppo::checkpoint::adapter_dir(a)?;
        model.load_adapter(&adapter)?;
    }
    if let Some(v) = &args.value_head {
        model.load_value_head(v)?;
    }
    let tpath = dir.join("tokenizer.json");
    let tokenizer = tokenizers::Tokenizer::from_file(&tpath)
        .map_err(|e| anyhow::anyhow!("loading tokenizer {}: {e}", tpath.display()))?;
    let bos = match args.chat_format {
        ChatFormat::Qwen2 => None,
        _ => model.config().bos_token_id().map(|b| b as u32),
    };
    let style = if args.prompt_style == "compact" {
        steptool::ppo::online::PromptStyle::Compact
    } else {
        steptool::ppo::online::PromptStyle::Reference
    };
    let renderer = Renderer::new(args.chat_format, tokenizer, bos).with_style(style);
    let sampling = PolicySampling {
        temperature: args.temperature,
        top_p: args.top_p,
        max_new_tokens: args.max_new_tokens,
        max_total_tokens: args.max_total_tokens,
        batch: args.batch,
        seed: args.seed,
    };
    let (summary, stats) = policy_rollouts(&model, &renderer, &sampling, env, tasks, config, true)?;
    eprintln!(
        "policy: {} turns, {} tokens generated in {:.1} s ({:.0} tokens/s, {} batches)",
        stats.turns,
        stats.generated_tokens,
        stats.wall_seconds,
        stats.tokens_per_s(),
        stats.batches
    );
    report(summary, config, args)
}

fn roll<E: Environment + Sync>(
    env: &E,
    tasks: &[E::Task],
    agent: &dyn Agent,
    config: &RolloutConfig,
    args: &Args,
) -> anyhow::Result<ExitCode> {
    report(run_many(env, tasks, agent, config, true)?, config, args)
}

fn report(
    summary: steptool::env::rollout::RolloutSummary,
    config: &RolloutConfig,
    args: &Args,
) -> anyhow::Result<ExitCode> {
    write_records(&args.out, &summary.records)?;
    if let Some(path) = &args.converted {
        write_converted_answers(path, &summary.records)?;
        // ToolEval's converted format holds one answer per query: say which one it kept.
        let later = summary.records.iter().filter(|r| r.sample > 0).count();
        let queries = summary.records.len() - later;
        if later > 0 {
            eprintln!(
                "{queries} converted answers (sample 0 of each query) written to {}; the format holds one per query, the other {later} samples are in {} only",
                path.display(),
                args.out.display()
            );
        } else {
            eprintln!("{queries} converted answers written to {}", path.display());
        }
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
