//! The on-policy StepTool loop behind `steptool train` with an `on_policy` spec.
//!
//! ```text
//! iteration k (step S = PPO steps done so far):
//!   eval    every `eval_every` iterations: greedy CoT (and DFSDT) on held-out test tasks
//!           -> pass rate, recall, mean actions                      (metrics line kind "eval")
//!   collect online: every iteration; offline (the paper): iteration 0 only, kept in
//!           rollouts/collected.jsonl — K samples per train task at temperature T
//!   reward  the annotator (ground truth on synthetic tasks, or rules) -> RewardShaper (eq. 3)
//!   train   ceil(episodes / batch_size) * passes PPO steps on the episodes the policy's own
//!           tokens make                                               (kind "train" lines)
//!   save    checkpoint bundle at step S' (adapter, value head, optimizer, iteration)
//! after the last iteration: a final eval at the final step.
//! ```
//!
//! Every metrics line carries `step`: train lines the PPO step, eval and iteration lines the PPO
//! steps done when they were measured. A resume from the bundle at step S rewinds the file to
//! the lines below S and redoes the rest, so a resumed run's file equals an uninterrupted run's
//! (exactly on the CPU with `sampling.batch = 1`; batched generation is reproducible up to the
//! float rounding of padded batches).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use serde::{Deserialize, Serialize};
use steptool_env::metrics::{evaluate, EvalOptions, ExactJudge};
use steptool_env::rollout::{
    read_records, write_records, AgentErrors, RolloutConfig, RolloutRecord, Strategy,
};
use steptool_env::synthetic::{
    Split, SyntheticBenchmark, SyntheticConfig, SyntheticEnv, SyntheticEnvConfig, SyntheticTask,
};
use steptool_mdp::{ChatFormat, Episode};
use steptool_model::Model;
use steptool_reward::{RewardAnnotator, RewardShaper, RuleAnnotator, RuleConfig, ShaperConfig};

use super::agent::{policy_rollouts, PolicySampling, Renderer, ServeStats};
use super::ground_truth::GroundTruthAnnotator;
use crate::checkpoint::RunDir;
use crate::config::OldLogprobs;
use crate::data::batch_indices;
use crate::error::{Error, Result};
use crate::metrics::{rewind, MetricsWriter};
use crate::progress::Progress;
use crate::trainer::PpoTrainer;

/// When the policy collects its training data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Schedule {
    /// The paper: collect once with the starting policy, then PPO over that fixed data for
    /// `iterations` passes (each "iteration" is one pass, evaluated every `eval_every`).
    Offline,
    /// Beyond the paper: every iteration collects with the current policy, then trains on it
    /// (`old_logprobs = "behaviour"`).
    #[default]
    Online,
}

/// Who scores the steps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum AnnotatorKind {
    /// The synthetic benchmark's ground truth (exact rewards).
    #[default]
    GroundTruth,
    /// The reference notebook's rules (no ground truth needed; the final answer is Unsure
    /// unless it is a give-up).
    Rules,
}

/// The on-policy part of a [`crate::app::TrainSpec`]. Defaults: online, 16 train and 16 test
/// tasks of the synthetic benchmark, 4 samples per task at temperature 0.7, 3 iterations, CoT
/// with at most 5 actions, ground-truth rewards, the ToolLLaMA chat format.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OnPolicySpec {
    /// Collection schedule.
    pub schedule: Schedule,
    /// The synthetic benchmark.
    pub benchmark: SyntheticConfig,
    /// The environment.
    pub env: SyntheticEnvConfig,
    /// Training tasks (train split).
    pub train_tasks: usize,
    /// Held-out evaluation tasks (test split, held-out tool combinations included).
    pub eval_tasks: usize,
    /// Which tasks: the benchmark's task seed (the sampling seed is `sampling.seed`).
    pub task_seed: u64,
    /// Iterations (online: collect + train; offline: passes over the one collection).
    pub iterations: u64,
    /// Samples per training task per collection (K).
    pub samples_per_task: usize,
    /// Passes of PPO over each iteration's episodes.
    pub passes: u64,
    /// How the policy samples (temperature, top-p, budgets, batch).
    pub sampling: PolicySampling,
    /// Strategy and limits of the training rollouts.
    pub rollout: RolloutConfig,
    /// Evaluate every this many iterations (0: only at the start and the end).
    pub eval_every: u64,
    /// Strategies of the held-out evaluation.
    pub eval_strategies: Vec<Strategy>,
    /// Chat format of prompts and episodes.
    pub chat_format: ChatFormat,
    /// How the system prompt presents the tools.
    pub prompt_style: super::agent::PromptStyle,
    /// Size of the model created in code when no `model_dir` is given.
    pub tiny_model: crate::embedded::TinyModel,
    /// Who scores the steps.
    pub annotator: AnnotatorKind,
    /// Eq. 3's constants (and the "w/o step-grained reward" ablation: `step_rewards: false`).
    pub shaper: ShaperConfig,
    /// Offline schedule: take the one collection from this rollout file (the start policy's
    /// `steptool rollout --agent policy` records, with their token traces, on `train_tasks`)
    /// instead of collecting, so that several methods train on the same rollouts (an
    /// experiment's shared collection). Default `None`: collect.
    pub collected: Option<PathBuf>,
    /// Collect on an OpenAI-compatible inference server (vLLM) instead of our own model: after
    /// every PPO phase the adapter is published there and checked for staleness
    /// (`docs/scale-out.md`). `None` (default): generate locally.
    pub server: Option<super::server::ServerConfig>,
}

impl Default for OnPolicySpec {
    fn default() -> Self {
        OnPolicySpec {
            schedule: Schedule::Online,
            benchmark: SyntheticConfig::default(),
            env: SyntheticEnvConfig::default(),
            train_tasks: 16,
            eval_tasks: 16,
            task_seed: 0,
            iterations: 3,
            samples_per_task: 4,
            passes: 1,
            sampling: PolicySampling::default(),
            rollout: RolloutConfig {
                max_actions: 5,
                agent_errors: AgentErrors::Prune,
                ..RolloutConfig::default()
            },
            eval_every: 1,
            eval_strategies: vec![Strategy::Cot],
            chat_format: ChatFormat::ToolLlama,
            prompt_style: super::agent::PromptStyle::Reference,
            tiny_model: crate::embedded::TinyModel::default(),
            annotator: AnnotatorKind::GroundTruth,
            shaper: ShaperConfig::default(),
            collected: None,
            server: None,
        }
    }
}

impl OnPolicySpec {
    /// Checks the spec against the PPO config it trains with.
    pub fn validate(&self, ppo: &crate::PpoConfig) -> Result<()> {
        self.sampling.validate()?;
        self.rollout.validate()?;
        if self.collected.is_some() && self.schedule != Schedule::Offline {
            return Err(Error::config(
                "on_policy.collected",
                "a given collection needs the offline schedule (the online one collects every iteration)",
            ));
        }
        if self.train_tasks == 0 || self.eval_tasks == 0 || self.samples_per_task == 0 {
            return Err(Error::config(
                "on_policy.train_tasks / eval_tasks / samples_per_task",
                "must be at least 1",
            ));
        }
        if self.iterations == 0 || self.passes == 0 {
            return Err(Error::config(
                "on_policy.iterations / passes",
                "must be at least 1",
            ));
        }
        let t = match &self.server {
            Some(server) => server
                .logprobs_mode
                .score_temperature(&self.sampling.sampling())
                .map_err(|m| Error::config("on_policy.server.logprobs_mode", m))?,
            None => self.sampling.score_temperature(),
        };
        if (ppo.temperature - t).abs() > 1e-12 {
            return Err(Error::config(
                "ppo.temperature",
                format!(
                    "{} differs from the rollout's sampling temperature {t}: the trainer must score the policy at the temperature it sampled at (set ppo.temperature = {t})",
                    ppo.temperature
                ),
            ));
        }
        Ok(())
    }
}

/// One iteration's collection: a `kind: "iteration"` metrics line.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IterationMetrics {
    /// Always `iteration`.
    pub kind: String,
    /// PPO steps done when the data was collected.
    pub step: u64,
    /// Iteration (0-based).
    pub iteration: u64,
    /// Rollouts attempted.
    pub rollouts: usize,
    /// Rollouts that failed (agent or environment errors), counted, not trained on.
    pub failed: usize,
    /// Rollouts without a single turn (nothing to train), counted.
    pub empty: usize,
    /// Episodes trained on.
    pub episodes: usize,
    /// Share of rollouts whose answer was judged Solved by the annotator.
    pub solved_rate: f64,
    /// Mean total (summed step) reward of the episodes.
    pub mean_return: f64,
    /// Mean final-step reward.
    pub mean_final_reward: f64,
    /// Mean actions per rollout.
    pub mean_actions: f64,
    /// Turns cut by the per-turn length limit.
    pub length_cut_turns: usize,
    /// Generated tokens.
    pub generated_tokens: usize,
    /// Generated tokens per second of rollout wall time.
    pub rollout_tokens_per_s: f64,
    /// Seconds of the collection.
    pub rollout_seconds: f64,
}

/// A held-out evaluation: a `kind: "eval"` metrics line.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EvalMetrics {
    /// Always `eval`.
    pub kind: String,
    /// PPO steps done by the evaluated policy.
    pub step: u64,
    /// `cot` or `dfsdt`.
    pub strategy: Strategy,
    /// Test tasks.
    pub tasks: usize,
    /// Pass rate in [0, 1] (exact judge on the ground truth).
    pub pass_rate: f64,
    /// Recall of relevant tools in [0, 1].
    pub recall: f64,
    /// Mean actions per task.
    pub mean_actions: f64,
    /// Rollouts that failed or were pruned by the token budget.
    pub failed: usize,
}

/// Episodes from policy rollouts: annotate each record's trajectory, shape its rewards and put
/// them on its token trace. Returns the episodes and the annotated statuses' solved count.
/// An annotator failure is an error naming the trajectory (never a zero reward).
pub fn episodes_from_records(
    records: &[RolloutRecord],
    annotator: &dyn RewardAnnotator,
    shaper: &RewardShaper,
) -> Result<(Vec<Episode>, usize)> {
    let mut episodes = Vec::new();
    let mut solved = 0;
    for r in records {
        let (Some(trajectory), Some(trace)) = (&r.trajectory, &r.trace) else {
            continue;
        };
        let annotation = annotator.annotate(trajectory)?;
        if annotation
            .rounds()
            .iter()
            .any(|x| x.status == steptool_reward::AnswerStatus::Solved)
        {
            solved += 1;
        }
        let rewards = shaper.shape(&annotation);
        episodes.push(trace.to_episode(rewards).map_err(|e| {
            Error::Input(format!("task {} sample {}: {e:#}", r.query_id, r.sample))
        })?);
    }
    Ok((episodes, solved))
}

/// Greedy evaluation of the policy on `tasks` with `strategy`.
#[allow(clippy::too_many_arguments)]
pub fn evaluate_policy(
    model: &Model,
    renderer: &Renderer,
    sampling: &PolicySampling,
    env: &SyntheticEnv,
    tasks: &[SyntheticTask],
    rollout: &RolloutConfig,
    strategy: Strategy,
    step: u64,
) -> Result<(EvalMetrics, Vec<RolloutRecord>)> {
    let cfg = RolloutConfig {
        strategy,
        samples: 1,
        ..rollout.clone()
    };
    let (summary, _) =
        policy_rollouts(model, renderer, &sampling.greedy(), env, tasks, &cfg, false)?;
    let records = summary.records;
    let report = evaluate(&records, &ExactJudge, &EvalOptions::default())?;
    let actions: usize = records
        .iter()
        .map(|r| r.trajectory.as_ref().map_or(0, |t| t.len()))
        .sum();
    // Failed rollouts count as unsolved tasks: the pass rate is over all tasks.
    let solved = report.pass_rate.mean * report.queries as f64;
    Ok((
        EvalMetrics {
            kind: "eval".into(),
            step,
            strategy,
            tasks: tasks.len(),
            pass_rate: solved / tasks.len().max(1) as f64,
            recall: report.recall,
            mean_actions: actions as f64 / tasks.len().max(1) as f64,
            failed: summary.failures.len()
                + records
                    .iter()
                    .filter(|r| !r.agent_errors.is_empty())
                    .count(),
        },
        records,
    ))
}

/// The held-out evaluation of every strategy of `spec` at PPO step `step`.
fn evaluate_strategies(
    model: &Model,
    renderer: &Renderer,
    spec: &OnPolicySpec,
    env: &SyntheticEnv,
    test: &[SyntheticTask],
    step: u64,
) -> Result<Vec<EvalMetrics>> {
    spec.eval_strategies
        .iter()
        .map(|&strategy| {
            evaluate_policy(
                model,
                renderer,
                &spec.sampling,
                env,
                test,
                &spec.rollout,
                strategy,
                step,
            )
            .map(|(m, _)| m)
        })
        .collect()
}

/// What an on-policy run did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct OnPolicyOutcome {
    /// Iterations run in this invocation.
    pub iterations_run: u64,
    /// Iteration lines of this invocation.
    pub iterations: Vec<IterationMetrics>,
    /// Eval lines of this invocation.
    pub evals: Vec<EvalMetrics>,
    /// PPO steps run in this invocation.
    pub steps_run: usize,
}

/// Inputs of [`run_on_policy`] that the app prepares.
pub(crate) struct OnPolicyRun<'a> {
    pub spec: &'a OnPolicySpec,
    pub run: &'a RunDir,
    pub resume_from: Option<PathBuf>,
    pub progress: bool,
    pub extra: serde_json::Value,
}

fn tasks(
    bench: &SyntheticBenchmark,
    spec: &OnPolicySpec,
) -> Result<(Vec<SyntheticTask>, Vec<SyntheticTask>)> {
    Ok((
        bench.tasks(Split::Train, spec.train_tasks, spec.task_seed)?,
        bench.tasks(Split::Test, spec.eval_tasks, spec.task_seed)?,
    ))
}

/// The on-policy loop (module docs). `trainer` holds the starting policy; `renderer` its
/// tokenizer and chat format.
pub(crate) fn run_on_policy(
    trainer: &mut PpoTrainer<Model>,
    renderer: &Renderer,
    input: OnPolicyRun<'_>,
    mut after_line: impl FnMut() -> Result<()>,
) -> Result<OnPolicyOutcome> {
    let spec = input.spec;
    spec.validate(trainer.config())?;
    let bench = Arc::new(SyntheticBenchmark::new(spec.benchmark.clone())?);
    let env = SyntheticEnv::new(bench.clone(), spec.env.clone());
    let (train, test) = tasks(&bench, spec)?;
    let annotator: Box<dyn RewardAnnotator> = match spec.annotator {
        AnnotatorKind::GroundTruth => Box::new(GroundTruthAnnotator::new(bench.clone(), &train)),
        AnnotatorKind::Rules => Box::new(RuleAnnotator::new(RuleConfig::default())?),
    };
    let shaper = RewardShaper::new(spec.shaper.clone())?;
    let run = input.run;
    let metrics_path = run.metrics_path();
    let mut first_iteration = 0;
    if let Some(dir) = &input.resume_from {
        let extra = trainer.load_checkpoint(dir)?;
        first_iteration = extra
            .get("iteration")
            .and_then(serde_json::Value::as_u64)
            .ok_or_else(|| Error::Checkpoint {
                path: dir.clone(),
                message: "trainer_state.json has no extra.iteration (not an on-policy run)".into(),
            })?;
        rewind(&metrics_path, trainer.steps_done())?;
    }
    let mut writer = MetricsWriter::append(&metrics_path)?;
    let mut out = OnPolicyOutcome::default();
    let mut progress = Progress::new(input.progress, spec.iterations, "iterations");
    progress.update(first_iteration, "");
    let collected = run.root().join("rollouts").join("collected.jsonl");
    if spec.schedule == Schedule::Offline && first_iteration > 0 && !collected.exists() {
        return Err(Error::Checkpoint {
            path: collected.clone(),
            message: "the offline schedule's collection is missing: the run cannot resume on the same data".into(),
        });
    }
    let mut fixed: Option<Vec<Episode>> = None;
    // Rollouts on a server: publish the current adapter first (version = iteration).
    let mut registry = match &spec.server {
        Some(cfg) => {
            let mut e = env.clone();
            let ctx = steptool_env::Environment::reset(&mut e, &train[0])?;
            let prompt = renderer.opening_ids(&ctx.messages(), &ctx.functions)?;
            let mut r = super::server::AdapterRegistry::new(
                cfg.clone(),
                None,
                prompt.iter().map(|&t| i64::from(t)).collect(),
            )?;
            let report = r.publish(
                trainer.model(),
                first_iteration,
                &run.root().join("adapters"),
            )?;
            tracing::info!("{report}");
            Some(r)
        }
        None => None,
    };
    for iteration in first_iteration..spec.iterations {
        let step = trainer.steps_done();
        let due = iteration == 0 || (spec.eval_every > 0 && iteration % spec.eval_every == 0);
        if due {
            for m in evaluate_strategies(trainer.model(), renderer, spec, &env, &test, step)? {
                writer.write(&m)?;
                out.evals.push(m);
                after_line()?;
            }
        }
        // Collect.
        let t0 = Instant::now();
        let fresh = spec.schedule == Schedule::Online || iteration == 0;
        let given = match (&spec.collected, spec.schedule) {
            (Some(path), Schedule::Offline) if fresh => Some(path),
            _ => None,
        };
        let (records, failed, stats) = if spec.schedule == Schedule::Offline && !fresh {
            (read_records(&collected)?, 0, ServeStats::default())
        } else if let Some(path) = given {
            let records = read_records(path)?;
            if let Some(r) = records
                .iter()
                .find(|r| r.trajectory.is_some() && r.trace.is_none())
            {
                return Err(Error::Input(format!(
                    "{}: task {} sample {} has no token trace (roll out with `--agent policy`)",
                    path.display(),
                    r.query_id,
                    r.sample
                )));
            }
            let dir = run.root().join("rollouts");
            std::fs::create_dir_all(&dir).map_err(Error::io(&dir))?;
            write_records(&collected, &records)?;
            (records, 0, ServeStats::default())
        } else {
            let cfg = RolloutConfig {
                samples: spec.samples_per_task,
                seed: spec.rollout.seed.wrapping_add(iteration),
                ..spec.rollout.clone()
            };
            let sampling = PolicySampling {
                seed: spec
                    .sampling
                    .seed
                    .wrapping_add(iteration.wrapping_mul(0x9E37_79B9)),
                ..spec.sampling.clone()
            };
            let (summary, stats) = policy_rollouts(
                trainer.model(),
                renderer,
                &sampling,
                &env,
                &train,
                &cfg,
                false,
            )?;
            for f in &summary.failures {
                tracing::warn!(task = f.task_index, sample = f.sample, error = %f.error, "rollout failed: not trained on");
            }
            let dir = run.root().join("rollouts");
            std::fs::create_dir_all(&dir).map_err(Error::io(&dir))?;
            let file = if spec.schedule == Schedule::Offline {
                collected.clone()
            } else {
                dir.join(format!("iteration-{iteration}.jsonl"))
            };
            write_records(&file, &summary.records)?;
            (summary.records, summary.failures.len(), stats)
        };
        let rollout_seconds = t0.elapsed().as_secs_f64();
        let episodes = match (&fixed, spec.schedule) {
            (Some(e), Schedule::Offline) => e.clone(),
            _ if !fresh => {
                // An offline run resumed: the same collection, annotated again (deterministic).
                let (episodes, _) = episodes_from_records(&records, annotator.as_ref(), &shaper)?;
                fixed = Some(episodes.clone());
                episodes
            }
            _ => {
                let (episodes, solved) =
                    episodes_from_records(&records, annotator.as_ref(), &shaper)?;
                let rollouts = records.len() + failed;
                let returns: Vec<f64> = episodes
                    .iter()
                    .map(|e| e.step_rewards().iter().map(|&r| f64::from(r)).sum())
                    .collect();
                let n = episodes.len().max(1) as f64;
                let m = IterationMetrics {
                    kind: "iteration".into(),
                    step,
                    iteration,
                    rollouts,
                    failed,
                    empty: records.iter().filter(|r| r.trajectory.is_none()).count(),
                    episodes: episodes.len(),
                    solved_rate: solved as f64 / rollouts.max(1) as f64,
                    mean_return: returns.iter().sum::<f64>() / n,
                    mean_final_reward: episodes
                        .iter()
                        .map(|e| e.step_rewards().last().copied().map_or(0.0, f64::from))
                        .sum::<f64>()
                        / n,
                    mean_actions: records
                        .iter()
                        .map(|r| r.trajectory.as_ref().map_or(0, |t| t.len()))
                        .sum::<usize>() as f64
                        / records.len().max(1) as f64,
                    length_cut_turns: records
                        .iter()
                        .filter_map(|r| r.trace.as_ref())
                        .flat_map(|t| &t.finish_reasons)
                        .filter(|f| *f == "length")
                        .count(),
                    generated_tokens: stats.generated_tokens,
                    rollout_tokens_per_s: stats.tokens_per_s(),
                    rollout_seconds,
                };
                writer.write(&m)?;
                out.iterations.push(m);
                after_line()?;
                if spec.schedule == Schedule::Offline {
                    fixed = Some(episodes.clone());
                }
                episodes
            }
        };
        // Train. "w/o step-grained optimization": every step of a trajectory becomes its own
        // episode (its tokens up to that action, trained on that step's reward only); the PPO
        // steps stay those of the whole trajectories, drawn from the larger set, so the ablation
        // gets the same number of updates as the method it ablates.
        let bs = trainer.config().batch_size;
        let per_pass = crate::data::batches_per_epoch(episodes.len(), bs) as u64;
        let episodes = if trainer.config().sub_trajectories {
            crate::data::sub_trajectories(&episodes)?
        } else {
            episodes
        };
        if per_pass == 0 {
            return Err(Error::Input(format!(
                "iteration {iteration}: {} episodes are fewer than one PPO batch of {bs} (raise train_tasks or samples_per_task, or lower ppo.batch_size)",
                episodes.len()
            )));
        }
        let seed = trainer.config().seed.wrapping_add(iteration);
        for s in 0..per_pass * spec.passes {
            let idx = batch_indices(episodes.len(), bs, seed, s)?;
            let batch: Vec<Episode> = idx.iter().map(|&i| episodes[i].clone()).collect();
            let m = trainer.step(&batch)?;
            writer.write(&m)?;
            out.steps_run += 1;
            after_line()?;
        }
        if let Some(r) = &mut registry {
            let report = r.publish(trainer.model(), iteration + 1, &run.root().join("adapters"))?;
            tracing::info!("{report}");
        }
        let mut extra = input.extra.clone();
        extra["iteration"] = serde_json::json!(iteration + 1);
        run.commit(trainer.steps_done(), |tmp| trainer.write_bundle(tmp, extra))?;
        out.iterations_run += 1;
        let last_eval = out.evals.last().map_or(String::new(), |e| {
            format!("held-out pass rate {:.3}", e.pass_rate)
        });
        progress.update(iteration + 1, &last_eval);
    }
    // The final evaluation, at the final step.
    let step = trainer.steps_done();
    if out.evals.last().is_none_or(|e| e.step != step) || first_iteration == spec.iterations {
        for m in evaluate_strategies(trainer.model(), renderer, spec, &env, &test, step)? {
            writer.write(&m)?;
            out.evals.push(m);
            after_line()?;
        }
    }
    progress.finish();
    Ok(out)
}

/// The texts a tokenizer for the synthetic benchmark is trained on (the embedded default with
/// an environment): the expert's demonstrations of the train tasks and the prompts of the test
/// tasks, rendered by `format`.
pub fn synthetic_texts(spec: &OnPolicySpec) -> Result<Vec<String>> {
    let mut benchmark = spec.benchmark.clone();
    if let Some(seed) = spec.tiny_model.tokenizer_world_seed {
        benchmark.world_seed = seed;
    }
    let bench = Arc::new(SyntheticBenchmark::new(benchmark)?);
    let (train, test) = tasks(&bench, spec)?;
    let env = SyntheticEnv::new(bench.clone(), spec.env.clone());
    let agent = steptool_env::synthetic::ExpertAgent::new(&train);
    let cfg = RolloutConfig {
        max_actions: spec.benchmark.max_calls + 1,
        ..RolloutConfig::default()
    };
    let mut texts = Vec::new();
    let summary = steptool_env::rollout::run_many(&env, &train, &agent, &cfg, false)?;
    let render = |messages: &[steptool_env::Message], functions: &[serde_json::Value]| {
        let mut msgs = steptool_env::chat_messages(messages, functions, false);
        if spec.prompt_style == super::agent::PromptStyle::Compact {
            if let Some(m) = msgs.first_mut() {
                m.content = super::agent::compact_system_prompt(functions);
            }
        }
        spec.chat_format.render_prompt(&msgs)
    };
    for r in &summary.records {
        texts.push(render(&r.messages, &r.context.functions));
    }
    for t in &test {
        let mut e = env.clone();
        let ctx = steptool_env::Environment::reset(&mut e, t)?;
        texts.push(render(&ctx.messages(), &ctx.functions));
    }
    Ok(texts)
}

impl OnPolicySpec {
    /// The old log-probs this schedule should use: the behaviour policy's for online data,
    /// recomputed (the reference) for the paper's offline passes.
    pub fn recommended_old_logprobs(&self) -> OldLogprobs {
        match self.schedule {
            Schedule::Online => OldLogprobs::Behaviour,
            Schedule::Offline => OldLogprobs::Recompute,
        }
    }
}
