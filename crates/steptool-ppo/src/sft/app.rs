//! The whole SFT run behind `steptool sft`: data → token-level episodes (the same renderer as
//! rollouts, so the SFT'd policy writes turns the way it will be asked to), a held-out split for
//! the loss, the shared run directory / checkpoints / metrics / plot, exact resume, and on the
//! synthetic benchmark a held-out pass-rate evaluation of the result.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use steptool_env::rollout::{read_records, RolloutConfig, RolloutRecord};
use steptool_env::synthetic::{exact_judge, ExpertAgent, Split, SyntheticBenchmark, SyntheticEnv};
use steptool_mdp::formats::sft::FoldCounts;
use steptool_mdp::{AnswerStatus, Episode};
use steptool_model::{LoraConfig, Model, Precision};

use super::trainer::{SftConfig, SftMetrics, SftTrainer};
use crate::checkpoint::RunDir;
use crate::common::plot::{plot_panels, Panel};
use crate::data::batch_indices;
use crate::error::{Error, Result};
use crate::metrics::{read_lines, rewind, MetricsWriter};
use crate::online::run::{evaluate_policy, synthetic_texts, EvalMetrics};
use crate::online::{OnPolicySpec, Renderer};
use crate::progress::Progress;

/// Where the SFT conversations come from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum SftData {
    /// The synthetic benchmark expert's demonstrations of `tasks` train tasks.
    Synthetic {
        /// How many train tasks.
        tasks: usize,
    },
    /// Rollout records (`steptool rollout` JSONL): those that solved their task are kept
    /// (exact judge when the record carries a reference answer, otherwise an accepted
    /// `give_answer`); the others are counted in the summary.
    Records {
        /// The JSONL file.
        path: PathBuf,
    },
    /// The reference's SFT (or RFT) conversation file (`gpt4_dfs_G123_for_sft_example.json`,
    /// `rft_data_example.json`; formats.md §3.5): per-step prefixes folded into whole
    /// conversations ([`steptool_mdp::formats::sft::conversations`]), each trained in one pass
    /// on exactly the turns the reference trains. The conversations carry their own system
    /// prompt, rendered as written whatever `env.prompt_style` says.
    Reference {
        /// The JSON file.
        path: PathBuf,
    },
}

/// One SFT run. Every field has a default (the embedded synthetic demo).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SftSpec {
    /// HF model directory; `None`: a tiny LLaMA with a tokenizer trained in code.
    pub model_dir: Option<PathBuf>,
    /// Tokenizer; default `<model_dir>/tokenizer.json`.
    pub tokenizer: Option<PathBuf>,
    /// The conversations.
    pub data: SftData,
    /// The environment, chat format and prompt style (the same as the RL runs that start
    /// from this model), and the held-out evaluation's tasks and budgets.
    pub env: OnPolicySpec,
    /// Copy drills added to the training conversations (default 0): the first turn of the
    /// expert's demonstrations in other synthetic worlds (other names, ids and values), so a
    /// model trained from scratch practises what a pretrained model brings, copying a name
    /// from the query into a call, without learning a fact of the benchmark's world. Only the
    /// first turn, so that they are short and every one is a copy. Never held out.
    pub copy_drills: usize,
    /// Share of the conversations held out for the loss (at least one when above 0).
    pub eval_fraction: f64,
    /// Evaluate the held-out loss every this many steps (0: at the end only).
    pub eval_every: u64,
    /// After training, greedy CoT on `env.eval_tasks` held-out synthetic tasks.
    pub eval_pass_rate: bool,
    /// LoRA settings.
    pub lora: LoraConfig,
    /// Optimisation.
    pub sft: SftConfig,
    /// `cpu` or `cuda:N`.
    pub device: String,
    /// Precision.
    pub precision: Precision,
    /// Checkpoint every N steps (0: at the end only).
    pub checkpoint_every: u64,
    /// Stop this invocation after this many steps (a checkpoint is written; `resume`
    /// continues). `None`: run to the end.
    pub stop_after: Option<u64>,
    /// Output root.
    pub runs_dir: PathBuf,
    /// Run name.
    pub run_name: String,
    /// Continue the run.
    pub resume: bool,
    /// Start the run again over an existing one.
    pub overwrite: bool,
    /// CPU threads (0: libtorch's default).
    pub threads: i32,
    /// Progress on stderr.
    pub progress: bool,
}

impl Default for SftSpec {
    fn default() -> Self {
        SftSpec {
            model_dir: None,
            tokenizer: None,
            data: SftData::Synthetic { tasks: 64 },
            env: OnPolicySpec::default(),
            copy_drills: 0,
            eval_fraction: 0.1,
            eval_every: 0,
            eval_pass_rate: true,
            lora: LoraConfig {
                r: 16,
                alpha: 16.0,
                ..LoraConfig::default()
            },
            sft: SftConfig::default(),
            device: "cpu".into(),
            precision: Precision::F32,
            checkpoint_every: 0,
            stop_after: None,
            runs_dir: PathBuf::from("runs"),
            run_name: "sft".into(),
            resume: false,
            overwrite: false,
            threads: 0,
            progress: true,
        }
    }
}

impl SftSpec {
    /// The embedded demo (`steptool sft` with no spec): a 3.5M-parameter LLaMA (hidden 256,
    /// 4 layers, BPE 1,500 trained in code) fully fine-tuned from scratch on the synthetic
    /// expert's demonstrations of 240 train tasks in the compact prompt style, 8 epochs at
    /// lr 1e-3; then greedy CoT on 24 held-out test tasks. About 5 minutes on 2 CPU cores.
    pub fn embedded_default() -> Self {
        SftSpec {
            data: SftData::Synthetic { tasks: 240 },
            env: OnPolicySpec {
                prompt_style: crate::online::PromptStyle::Compact,
                eval_tasks: 24,
                tiny_model: crate::embedded::TinyModel {
                    hidden: 256,
                    layers: 4,
                    heads: 4,
                    kv_heads: 4,
                    intermediate: 704,
                    vocab: 1500,
                    ..crate::embedded::TinyModel::default()
                },
                sampling: crate::online::PolicySampling {
                    temperature: 0.0,
                    max_new_tokens: 64,
                    max_total_tokens: 2048,
                    ..Default::default()
                },
                ..OnPolicySpec::default()
            },
            sft: SftConfig {
                learning_rate: 1e-3,
                epochs: 8,
                batch_size: 8,
                micro_batch_size: 4,
                full_finetune: true,
                ..SftConfig::default()
            },
            run_name: "embedded-sft".into(),
            ..SftSpec::default()
        }
    }

    /// Reads a JSON spec (unknown fields rejected).
    pub fn from_json_file(path: &Path) -> Result<Self> {
        crate::checkpoint::read_spec(path)
    }
}

/// What an SFT run did.
#[derive(Debug, Clone, Serialize)]
pub struct SftSummary {
    /// Run directory.
    pub out_dir: PathBuf,
    /// Conversations trained on / held out.
    pub train_conversations: usize,
    /// See `train_conversations`.
    pub held_out_conversations: usize,
    /// Input conversations left out, with why (unsolved records, no turn).
    pub skipped: Vec<(String, String)>,
    /// A reference conversation file: its per-step instances and the conversations they
    /// were folded into.
    pub folded: Option<FoldCounts>,
    /// Steps run now / in total.
    pub steps_run: usize,
    /// See `steps_run`.
    pub steps_done: u64,
    /// Train loss of the first and last step of this invocation.
    pub first_loss: Option<f64>,
    /// See `first_loss`.
    pub last_loss: Option<f64>,
    /// Held-out loss at the end.
    pub held_out_loss: Option<f64>,
    /// Held-out pass rate at the end (synthetic).
    pub eval: Option<EvalMetrics>,
    /// The plot.
    pub plot: Option<PathBuf>,
    /// The newest checkpoint.
    pub checkpoint: Option<PathBuf>,
    /// Whether the checkpoint holds fully fine-tuned weights (`model/`) or an adapter.
    pub full_finetune: bool,
}

impl std::fmt::Display for SftSummary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "SFT: {} step(s) now, {} in total, on {} conversations ({} held out)",
            self.steps_run, self.steps_done, self.train_conversations, self.held_out_conversations
        )?;
        if let Some(c) = &self.folded {
            writeln!(
                f,
                "  reference file: {} instances folded into {} conversations ({} duplicates)",
                c.instances, c.conversations, c.duplicates
            )?;
        }
        if !self.skipped.is_empty() {
            writeln!(
                f,
                "  left out: {} conversations (see the run's summary.json)",
                self.skipped.len()
            )?;
        }
        if let (Some(a), Some(b)) = (self.first_loss, self.last_loss) {
            writeln!(f, "  train loss per assistant token: {a:.4} -> {b:.4}")?;
        }
        if let Some(h) = self.held_out_loss {
            writeln!(f, "  held-out loss: {h:.4}")?;
        }
        if let Some(e) = &self.eval {
            writeln!(
                f,
                "  held-out pass rate ({:?}, {} tasks): {:.3}  recall {:.3}  actions {:.2}",
                e.strategy, e.tasks, e.pass_rate, e.recall, e.mean_actions
            )?;
        }
        writeln!(f, "  run directory: {}", self.out_dir.display())?;
        if let Some(p) = &self.plot {
            writeln!(f, "  plot:          {}", p.display())?;
        }
        if let Some(c) = &self.checkpoint {
            let held = if self.full_finetune {
                "model/: the fully fine-tuned weights"
            } else {
                "adapter/"
            };
            writeln!(f, "  checkpoint:    {} ({held})", c.display())?;
        }
        Ok(())
    }
}

/// Whether a record solved its task (exact judge on its reference answer when it has one).
pub fn record_solved(r: &RolloutRecord) -> bool {
    if !r.answered() {
        return false;
    }
    match &r.context.reference_answer {
        Some(reference) => {
            let answer = steptool_env::reference_finish(&r.final_answer)
                .final_answer
                .unwrap_or_else(|| r.final_answer.clone());
            exact_judge(reference, &answer) == AnswerStatus::Solved
        }
        None => true,
    }
}

/// Episodes of records: their own trace when the policy generated them, otherwise the
/// teacher trace of their messages. Rewards are 1 per turn (unused by SFT).
pub fn sft_episodes(renderer: &Renderer, records: &[RolloutRecord]) -> Result<Vec<Episode>> {
    records
        .iter()
        .map(|r| {
            let trace = match &r.trace {
                Some(t) => t.clone(),
                None => renderer.teacher_trace(&r.messages, &r.context.functions)?,
            };
            let n = trace.action_spans.len();
            trace.to_episode(vec![1.0; n]).map_err(Error::Data)
        })
        .collect()
}

/// A spec's training data: the episodes, the input conversations left out with why, and for a
/// reference file what was folded.
type LoadedSftData = (Vec<Episode>, Vec<(String, String)>, Option<FoldCounts>);

/// The training conversations of a spec's data as episodes (see [`LoadedSftData`]).
fn sft_data(spec: &SftSpec, renderer: &Renderer) -> Result<LoadedSftData> {
    let (records, source) = match &spec.data {
        SftData::Synthetic { tasks } => (
            expert_records(&spec.env, *tasks)?,
            "synthetic expert".to_owned(),
        ),
        SftData::Records { path } => (read_records(path)?, path.display().to_string()),
        SftData::Reference { path } => {
            let (episodes, counts) = reference_episodes(renderer, path)?;
            return Ok((episodes, Vec::new(), Some(counts)));
        }
    };
    let mut skipped = Vec::new();
    let kept: Vec<RolloutRecord> = records
        .into_iter()
        .filter(|r| {
            let ok = r.trajectory.is_some() && record_solved(r);
            if !ok {
                skipped.push((
                    format!("{} sample {}", r.query_id, r.sample),
                    if r.trajectory.is_none() {
                        "no turn"
                    } else {
                        "not solved"
                    }
                    .to_owned(),
                ));
            }
            ok
        })
        .collect();
    let episodes = sft_episodes(renderer, &kept)?;
    if episodes.is_empty() {
        return Err(Error::Input(format!(
            "{source}: no conversation to train on ({} left out)",
            skipped.len()
        )));
    }
    Ok((episodes, skipped, None))
}

/// Episodes of a reference SFT/RFT conversation file (see [`SftData::Reference`]): the
/// conversation as written (system prompt included) in the renderer's chat format, with an
/// action span on each turn the reference trains. The assistant values' leading `"\n"` is
/// dropped: our prompts end the assistant header with the newline in every format (the
/// reference strips it for Qwen2 only).
pub fn reference_episodes(renderer: &Renderer, path: &Path) -> Result<(Vec<Episode>, FoldCounts)> {
    use steptool_mdp::formats::sft::{conversations, read_sft, SftRole};
    let entries = read_sft(path)?;
    let (convs, counts) = conversations(&entries, Some(path))?;
    let renderer = renderer
        .clone()
        .with_style(crate::online::PromptStyle::Reference);
    let episodes = convs
        .iter()
        .map(|c| {
            let messages: Vec<steptool_env::Message> = c
                .turns
                .iter()
                .map(|t| match t.from {
                    SftRole::System => steptool_env::Message::system(&t.value),
                    SftRole::User => steptool_env::Message::user(&t.value),
                    SftRole::Function => steptool_env::Message::tool("", &t.value),
                    SftRole::Assistant => steptool_env::Message {
                        role: steptool_env::Role::Assistant,
                        content: t.value.strip_prefix('\n').unwrap_or(&t.value).to_owned(),
                        tool_call: None,
                        name: None,
                        valid: true,
                    },
                })
                .collect();
            let mut trace = renderer.teacher_trace(&messages, &[]).map_err(|e| {
                Error::Input(format!(
                    "{}: {}.instances[{}]: {e}",
                    path.display(),
                    c.query_id,
                    c.instance
                ))
            })?;
            // The k-th span is the k-th assistant turn; keep the trained ones.
            let assistant_turns: Vec<usize> = (0..c.turns.len())
                .filter(|&i| c.turns[i].from == SftRole::Assistant)
                .collect();
            let keep: Vec<bool> = assistant_turns
                .iter()
                .map(|i| c.targets.contains(i))
                .collect();
            trace.action_spans = marked(trace.action_spans, &keep);
            trace.logprobs = marked(trace.logprobs, &keep);
            trace.finish_reasons = marked(trace.finish_reasons, &keep);
            let n = trace.action_spans.len();
            trace.to_episode(vec![1.0; n]).map_err(Error::Data)
        })
        .collect::<Result<Vec<_>>>()?;
    Ok((episodes, counts))
}

/// The items of `v` whose `keep` flag is set.
fn marked<T>(v: Vec<T>, keep: &[bool]) -> Vec<T> {
    v.into_iter()
        .zip(keep)
        .filter(|(_, &k)| k)
        .map(|(x, _)| x)
        .collect()
}

/// Expert demonstrations of `n` synthetic train tasks, as rollout records.
pub fn expert_records(env_spec: &OnPolicySpec, n: usize) -> Result<Vec<RolloutRecord>> {
    let bench = Arc::new(SyntheticBenchmark::new(env_spec.benchmark.clone())?);
    let tasks = bench.tasks(Split::Train, n, env_spec.task_seed)?;
    let env = SyntheticEnv::new(bench.clone(), env_spec.env.clone());
    let cfg = RolloutConfig {
        max_actions: env_spec.benchmark.max_calls + 1,
        ..RolloutConfig::default()
    };
    let summary =
        steptool_env::rollout::run_many(&env, &tasks, &ExpertAgent::new(&tasks), &cfg, false)?;
    if let Some(f) = summary.failures.into_iter().next() {
        return Err(f.error.into());
    }
    Ok(summary.records)
}

/// `n` copy drills (see [`SftSpec::copy_drills`]): the expert's first turn on train tasks of
/// worlds other than the benchmark's (seeds `world_seed + 2000 + k`, 400 entities per kind so
/// that names rarely repeat), as records whose messages end after that turn.
pub fn copy_drill_records(env_spec: &OnPolicySpec, n: usize) -> Result<Vec<RolloutRecord>> {
    const PER_WORLD: usize = 400;
    let mut out = Vec::with_capacity(n);
    let mut k = 0u64;
    while out.len() < n {
        let mut env = env_spec.clone();
        env.benchmark.world_seed = env_spec.benchmark.world_seed + 2000 + k;
        env.benchmark.entities_per_kind = 400;
        env.task_seed = env_spec.task_seed + k;
        let records = expert_records(&env, PER_WORLD.min(n - out.len()))?;
        for mut r in records {
            let first = r
                .messages
                .iter()
                .position(|m| m.role == steptool_env::Role::Assistant)
                .ok_or_else(|| Error::Input(format!("copy drill {}: no turn", r.query_id)))?;
            r.messages.truncate(first + 1);
            r.trace = None;
            r.query_id = format!("drill-{k}-{}", r.query_id);
            out.push(r);
        }
        k += 1;
    }
    Ok(out)
}

/// The policy a spec describes: tokenizer + renderer and model (with `lora` attached when
/// given; the embedded tiny model, its tokenizer trained in code and saved under
/// `<out_dir>/base`, when there is no `model_dir`).
pub fn load_policy(
    model_dir: Option<&Path>,
    tokenizer: Option<&Path>,
    env: &OnPolicySpec,
    lora: Option<&LoraConfig>,
    opts: steptool_model::LoadOptions,
    seed: u64,
    out_dir: &Path,
) -> Result<(Renderer, Model)> {
    let (tok, mut model) = match model_dir {
        Some(dir) => {
            let tpath = tokenizer
                .map(Path::to_path_buf)
                .unwrap_or_else(|| dir.join("tokenizer.json"));
            let tok = tokenizers::Tokenizer::from_file(&tpath)
                .map_err(|e| Error::Input(format!("loading tokenizer {}: {e}", tpath.display())))?;
            let (model, report) = Model::from_pretrained(dir, opts)?;
            if !report.unused.is_empty() {
                tracing::warn!(unused = ?report.unused, "checkpoint tensors not used by the model");
            }
            (tok, model)
        }
        None => {
            let tok =
                crate::embedded::train_tokenizer(&synthetic_texts(env)?, env.tiny_model.vocab)?;
            tch::manual_seed(seed as i64);
            let vocab = tok.get_vocab_size(true) as i64;
            let model = Model::random(env.tiny_model.config(vocab)?, opts)?;
            crate::app::save_base(&model, &tok, out_dir)?;
            (tok, model)
        }
    };
    let bos = match env.chat_format {
        steptool_mdp::ChatFormat::Qwen2 => None,
        _ => model.config().bos_token_id().map(|b| b as u32),
    };
    if let Some(lora) = lora {
        model.attach_lora(lora.clone(), seed)?;
    }
    Ok((
        Renderer::new(env.chat_format, tok, bos).with_style(env.prompt_style),
        model,
    ))
}

#[derive(Serialize, Deserialize)]
struct EvalLoss {
    kind: String,
    step: u64,
    held_out_loss: f64,
}

/// Runs `spec` (module docs).
pub fn run_sft(spec: SftSpec) -> Result<SftSummary> {
    spec.sft.validate()?;
    if spec.threads > 0 {
        tch::set_num_threads(spec.threads);
    }
    let opts = steptool_model::load_options(&spec.device, spec.precision)?;
    let out_dir = spec.runs_dir.join(&spec.run_name);
    let run = RunDir::new(&out_dir);
    let resume_from = run.prepare(spec.resume, spec.overwrite)?;
    // A fully fine-tuned run resumes from the weights in its bundle.
    let full = spec.sft.full_finetune;
    let start = match (&resume_from, full) {
        (Some(dir), true) => Some(dir.join(crate::checkpoint::MODEL)),
        _ => spec.model_dir.clone(),
    };
    let tokenizer = match (&resume_from, full) {
        (Some(dir), true) => Some(dir.join(crate::checkpoint::MODEL).join("tokenizer.json")),
        _ => spec.tokenizer.clone(),
    };
    let (renderer, model) = load_policy(
        start.as_deref(),
        tokenizer.as_deref(),
        &spec.env,
        (!full).then_some(&spec.lora),
        opts,
        spec.sft.seed,
        &out_dir,
    )?;

    // Data.
    let (episodes, skipped, folded) = sft_data(&spec, &renderer)?;
    let held = if spec.eval_fraction > 0.0 {
        ((episodes.len() as f64 * spec.eval_fraction).ceil() as usize).min(episodes.len() - 1)
    } else {
        0
    };
    let (train, held_out) = episodes.split_at(episodes.len() - held);
    let mut train = train.to_vec();
    if spec.copy_drills > 0 {
        let drills = copy_drill_records(&spec.env, spec.copy_drills)?;
        train.extend(sft_episodes(&renderer, &drills)?);
    }
    let train = &train[..];
    let per_epoch = crate::data::batches_per_epoch(train.len(), spec.sft.batch_size) as u64;
    if per_epoch == 0 {
        return Err(Error::Input(format!(
            "{} training conversations are fewer than one batch of {}",
            train.len(),
            spec.sft.batch_size
        )));
    }
    let total = spec.sft.total_steps(per_epoch);
    if resume_from.is_some() {
        crate::common::run_fields::check_resumed_spec(&spec, &out_dir)?;
    }
    let spec_json = crate::app::write_spec(&spec, &out_dir)?;
    let extra = serde_json::json!({ "spec": spec_json });
    let mut trainer = SftTrainer::new(model, spec.sft.clone(), total)?;
    let metrics_path = run.metrics_path();
    if let Some(dir) = &resume_from {
        trainer.load_checkpoint(dir)?;
        rewind(&metrics_path, trainer.steps_done())?;
    }
    let mut writer = MetricsWriter::append(&metrics_path)?;
    let png = out_dir.join("metrics.png");
    let mut progress = Progress::new(spec.progress, total, "SFT steps");
    let mut run_metrics: Vec<SftMetrics> = Vec::new();
    let mut held_out_loss = None;
    let stop = spec
        .stop_after
        .map_or(total, |n| (trainer.steps_done() + n).min(total));
    let mut streak = crate::common::guard::NonFiniteStreak::new(
        "SFT",
        crate::common::guard::MAX_NONFINITE_STEPS,
    );
    while trainer.steps_done() < stop {
        let s = trainer.steps_done();
        let idx = batch_indices(train.len(), spec.sft.batch_size, spec.sft.seed, s)?;
        let batch: Vec<Episode> = idx.iter().map(|&i| train[i].clone()).collect();
        let m = trainer.step(&batch)?;
        writer.write(&m)?;
        streak.observe(m.step, m.skipped)?;
        progress.update(trainer.steps_done(), &format!("loss {:.4}", m.loss));
        run_metrics.push(m);
        let done = trainer.steps_done();
        let eval_due = done == total || (spec.eval_every > 0 && done % spec.eval_every == 0);
        if eval_due && !held_out.is_empty() {
            let l = trainer.eval_loss(held_out)?;
            held_out_loss = Some(l);
            writer.write(&EvalLoss {
                kind: "eval_loss".into(),
                step: done - 1,
                held_out_loss: l,
            })?;
        }
        plot_sft(&metrics_path, &png)?;
        if done == stop || (spec.checkpoint_every > 0 && done % spec.checkpoint_every == 0) {
            run.commit(done, |tmp| {
                trainer.write_bundle(tmp, extra.clone())?;
                if full {
                    let p = tmp.join(crate::checkpoint::MODEL).join("tokenizer.json");
                    renderer
                        .tokenizer()
                        .save(&p, false)
                        .map_err(|e| Error::Input(format!("writing {}: {e}", p.display())))?;
                }
                Ok(())
            })?;
        }
    }
    progress.finish();
    let eval = if spec.eval_pass_rate && trainer.steps_done() == total {
        let bench = Arc::new(SyntheticBenchmark::new(spec.env.benchmark.clone())?);
        let test = bench.tasks(Split::Test, spec.env.eval_tasks, spec.env.task_seed)?;
        let env = SyntheticEnv::new(bench, spec.env.env.clone());
        let (m, _) = evaluate_policy(
            trainer.model(),
            &renderer,
            &spec.env.sampling,
            &env,
            &test,
            &spec.env.rollout,
            steptool_env::rollout::Strategy::Cot,
            trainer.steps_done(),
        )?;
        Some(m)
    } else {
        None
    };
    let summary = SftSummary {
        out_dir: out_dir.clone(),
        train_conversations: train.len(),
        held_out_conversations: held_out.len(),
        skipped,
        folded,
        steps_run: run_metrics.len(),
        steps_done: trainer.steps_done(),
        first_loss: run_metrics.first().map(|m| m.loss),
        last_loss: run_metrics.last().map(|m| m.loss),
        held_out_loss,
        eval,
        plot: plot_sft(&metrics_path, &png)?,
        checkpoint: run.latest()?,
        full_finetune: full,
    };
    let sp = out_dir.join("summary.json");
    let text = serde_json::to_string_pretty(&summary).map_err(Error::json(&sp))?;
    steptool_mdp::atomic::write_atomic(&sp, text).map_err(Error::io(&sp))?;
    Ok(summary)
}

fn plot_sft(metrics: &Path, png: &Path) -> Result<Option<PathBuf>> {
    let lines: Vec<serde_json::Value> = read_lines(metrics)?;
    let pick = |kind: Option<&str>, y: &str| -> Vec<(f64, f64)> {
        lines
            .iter()
            .filter(|v| v.get("kind").and_then(serde_json::Value::as_str) == kind)
            .filter_map(|v| Some((v.get("step")?.as_f64()?, v.get(y)?.as_f64()?)))
            .collect()
    };
    let panels = vec![
        Panel::new("cross-entropy per assistant token")
            .with("train", pick(None, "loss"))
            .with("held-out", pick(Some("eval_loss"), "held_out_loss")),
        Panel::new("learning rate").with("lr", pick(None, "lr")),
        Panel::new("gradient norm (before clipping)").with("norm", pick(None, "grad_norm")),
    ];
    plot_panels(&panels, 3, "SFT step", png)
}
