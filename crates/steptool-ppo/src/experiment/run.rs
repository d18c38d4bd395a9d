//! The study's driver: the start, then per seed the shared collection and every method, each
//! through its own trainer's door (`run_sft`, `run_rft`, `run_dpo`, `run_training`), then one
//! evaluation for all.

use std::path::{Path, PathBuf};
use std::time::Instant;

use serde::Serialize;
use steptool_advantage::Estimator;
use steptool_env::rollout::{read_records, write_records, Strategy};
use steptool_model::Model;

use super::evaluate::{evaluate_model, MethodEval};
use super::report::{write_report, Results};
use super::spec::{ExperimentSpec, Method};
use crate::app::{run_training, TrainSpec};
use crate::checkpoint::{adapter_dir, resolve_bundle, RunDir, MODEL};
use crate::common::merge::merge_adapter;
use crate::common::run_fields::{RunFields, RunSettings};
use crate::dpo::{exploration_pairs, run_dpo, DpoData, DpoSpec};
use crate::error::{Error, Result};
use crate::online::{GroundTruthAnnotator, OnPolicySpec, PolicySampling, Renderer, Schedule};
use crate::rft::{run_rft, RftSpec};
use crate::sft::app::load_policy;
use crate::sft::{run_sft, SftSpec};

/// What `steptool experiment` did.
#[derive(Debug, Clone, Serialize)]
pub struct ExperimentSummary {
    /// The output directory.
    pub out: PathBuf,
    /// The aggregated results (also in `results.json`).
    pub results: Results,
    /// The report's files.
    pub files: Vec<PathBuf>,
}

impl std::fmt::Display for ExperimentSummary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.results.to_markdown_table())?;
        writeln!(
            f,
            "\n{} seed(s), {:.0} s; report in {}:",
            self.results.seeds.len(),
            self.results.wall_s,
            self.out.display()
        )?;
        for p in &self.files {
            writeln!(f, "  {}", p.display())?;
        }
        Ok(())
    }
}

fn log(progress: bool, msg: impl std::fmt::Display) {
    if progress {
        eprintln!("[experiment] {msg}");
    }
}

/// The run fields of the sub-run `runs_dir/name`: resumed when it has a checkpoint, started
/// afresh otherwise (a directory left without one holds nothing to keep); the study's device,
/// precision, threads and progress.
fn sub_run(spec: &ExperimentSpec, runs_dir: &Path, name: &str) -> Result<RunSettings> {
    let dir = runs_dir.join(name);
    let have = dir.is_dir() && RunDir::new(&dir).latest()?.is_some();
    Ok(RunSettings {
        runs_dir: runs_dir.to_path_buf(),
        run_name: name.into(),
        resume: have,
        overwrite: !have,
        device: spec.device.clone(),
        precision: spec.precision,
        threads: spec.threads,
        progress: spec.progress,
    })
}

/// The environment of one seed: the study's, with the seed in the samplers.
fn seeded_env(env: &OnPolicySpec, seed: u64, temperature: f64) -> OnPolicySpec {
    let mut e = env.clone();
    e.sampling = PolicySampling {
        temperature,
        seed,
        ..e.sampling.clone()
    };
    e.rollout.seed = seed;
    e
}

/// The start every method begins from, as a model directory: the start run's fully fine-tuned
/// `model/`, or (a LoRA start, the recipe for a pretrained model) its base with the adapter
/// merged in, written once to `start/merged/` so that every method and every seed loads the
/// same weights.
fn start_model(
    spec: &ExperimentSpec,
    start_dir: &Path,
    opts: steptool_model::LoadOptions,
) -> Result<PathBuf> {
    let bundle = resolve_bundle(start_dir)?;
    if bundle.join(MODEL).join("config.json").is_file() {
        return Ok(bundle.join(MODEL));
    }
    let merged = start_dir.join("merged");
    if merged.join("config.json").is_file() {
        return Ok(merged);
    }
    let base = spec
        .start
        .model_dir
        .clone()
        .unwrap_or_else(|| start_dir.join(crate::app::BASE_DIR));
    merge_adapter(
        &base,
        &bundle,
        spec.start.tokenizer.as_deref(),
        &merged,
        opts,
    )?;
    Ok(merged)
}

/// The start model with a method's result on it: a fully fine-tuned bundle's `model/`, or the
/// start with the bundle's adapter.
fn trained_policy(
    start: &Path,
    run_dir: &Path,
    env: &OnPolicySpec,
    opts: steptool_model::LoadOptions,
    out: &Path,
) -> Result<(Renderer, Model)> {
    let bundle = resolve_bundle(run_dir)?;
    if bundle.join(MODEL).join("config.json").is_file() {
        return load_policy(Some(&bundle.join(MODEL)), None, env, None, opts, 0, out);
    }
    let (renderer, mut model) = load_policy(Some(start), None, env, None, opts, 0, out)?;
    model.load_adapter(&adapter_dir(&bundle)?)?;
    Ok((renderer, model))
}

/// Greedy-CoT pass rates of a PPO-family run's eval lines, as `(optimizer updates, rate)`.
fn ppo_curve(metrics: &Path, updates_per_step: u64) -> Result<Vec<(u64, f64)>> {
    let lines: Vec<serde_json::Value> = crate::metrics::read_lines(metrics)?;
    Ok(lines
        .iter()
        .filter(|v| v.get("kind").and_then(|k| k.as_str()) == Some("eval"))
        .filter(|v| v.get("strategy").and_then(|k| k.as_str()) == Some("cot"))
        .filter_map(|v| {
            Some((
                v.get("step")?.as_u64()? * updates_per_step,
                v.get("pass_rate")?.as_f64()?,
            ))
        })
        .collect())
}

/// Runs the study into `out` (module docs of [`crate::experiment`]). `resume` keeps every
/// finished method (its `eval.json`) and continues unfinished runs from their checkpoints;
/// `overwrite` removes an existing `out` first; with neither, an existing non-empty `out` is
/// refused.
pub fn run_experiment(
    spec: ExperimentSpec,
    out: &Path,
    resume: bool,
    overwrite: bool,
) -> Result<ExperimentSummary> {
    spec.validate()?;
    let t0 = Instant::now();
    let non_empty = out.is_dir()
        && std::fs::read_dir(out)
            .map_err(Error::io(out))?
            .next()
            .is_some();
    if non_empty && !resume {
        if !overwrite {
            return Err(Error::Input(format!(
                "{} already holds a study: pass --resume to continue it or --overwrite to start again",
                out.display()
            )));
        }
        std::fs::remove_dir_all(out).map_err(Error::io(out))?;
    }
    std::fs::create_dir_all(out).map_err(Error::io(out))?;
    let spec_file = out.join("spec.json");
    if resume && spec_file.is_file() {
        let mut old: ExperimentSpec = crate::checkpoint::read_spec(&spec_file)?;
        // How a run shows progress or uses the CPU does not change its results.
        old.progress = spec.progress;
        old.threads = spec.threads;
        let changed = crate::checkpoint::changed_fields(&old, &spec);
        if !changed.is_empty() {
            return Err(Error::Input(format!(
                "{}: the study was started with a different spec ({}); --overwrite to start again",
                out.display(),
                changed.join(", ")
            )));
        }
    }
    crate::app::write_spec(&spec, out)?;
    if spec.threads > 0 {
        tch::set_num_threads(spec.threads);
    }
    let opts = steptool_model::load_options(&spec.device, spec.precision)?;
    let updates = spec.updates();
    let env = &spec.start.env;

    // 1. The start.
    let start_dir = out.join("start");
    log(spec.progress, "start: SFT on the expert demonstrations");
    run_sft(
        SftSpec {
            eval_pass_rate: false,
            ..spec.start.clone()
        }
        .with_run(sub_run(&spec, out, "start")?),
    )?;
    let start = start_model(&spec, &start_dir, opts)?;

    let mut evals: Vec<MethodEval> = Vec::new();
    for &seed in &spec.seeds {
        let dir = ExperimentSpec::seed_dir(out, seed);
        std::fs::create_dir_all(&dir).map_err(Error::io(&dir))?;
        let env_s = seeded_env(env, seed, spec.temperature);
        // 2. The shared collection: K samples per train task at T with the start policy.
        let collection = dir.join("collection.jsonl");
        let mut collection_failed = 0;
        if !collection.is_file() {
            log(
                spec.progress,
                format!(
                    "seed {seed}: collecting {} x {} rollouts with the start policy",
                    env.train_tasks, spec.samples
                ),
            );
            let (renderer, model) = load_policy(Some(&start), None, &env_s, None, opts, seed, out)?;
            let (records, failed, _) = crate::dpo::app::explore(
                &model,
                &renderer,
                &env_s,
                spec.samples,
                spec.temperature,
            )?;
            collection_failed = failed;
            write_records(&collection, &records)?;
        }
        let collected = read_records(&collection)?;
        let collection_solved = collected
            .iter()
            .filter(|r| crate::sft::app::record_solved(r))
            .count();

        for &method in &spec.methods {
            let mdir = dir.join(method.as_str());
            let eval_file = mdir.join("eval.json");
            if eval_file.is_file() {
                let text = std::fs::read_to_string(&eval_file).map_err(Error::io(&eval_file))?;
                evals.push(serde_json::from_str(&text).map_err(Error::json(&eval_file))?);
                log(
                    spec.progress,
                    format!("seed {seed}: {} done before", method.as_str()),
                );
                continue;
            }
            log(spec.progress, format!("seed {seed}: {}", method.as_str()));
            let t = Instant::now();
            let mut notes = std::collections::BTreeMap::new();
            notes.insert(
                "collection".to_owned(),
                serde_json::json!({
                    "rollouts": collected.len(),
                    "failed": collection_failed,
                    "solved": collection_solved,
                }),
            );
            let mut curve = Vec::new();
            let (trained, optimizer_updates) = match method {
                Method::Sft => (false, 0),
                Method::Rft => {
                    let s = run_rft(
                        RftSpec {
                            samples: spec.samples,
                            temperature: spec.temperature,
                            samples_from: Some(collection.clone()),
                            sft: SftSpec {
                                model_dir: Some(start.clone()),
                                tokenizer: None,
                                env: env_s.clone(),
                                eval_pass_rate: false,
                                lora: spec.lora.clone(),
                                sft: crate::sft::SftConfig {
                                    max_steps: Some(updates),
                                    seed,
                                    ..spec.rft.clone()
                                },
                                checkpoint_every: 0,
                                stop_after: None,
                                ..spec.start.clone()
                            },
                        }
                        .with_run(sub_run(&spec, &dir, method.as_str())?),
                    )?;
                    notes.insert(
                        "rft".into(),
                        serde_json::to_value(&s.counts).map_err(Error::json(&mdir))?,
                    );
                    (true, s.sft.steps_done)
                }
                Method::EtoDpo => {
                    let bench = std::sync::Arc::new(
                        steptool_env::synthetic::SyntheticBenchmark::new(env.benchmark.clone())?,
                    );
                    let train = bench.tasks(
                        steptool_env::synthetic::Split::Train,
                        env.train_tasks,
                        env.task_seed,
                    )?;
                    let (pairs, stats) =
                        exploration_pairs(&collected, &GroundTruthAnnotator::new(bench, &train))?;
                    notes.insert(
                        "pairs".into(),
                        serde_json::to_value(&stats).map_err(Error::json(&mdir))?,
                    );
                    if pairs.len() < spec.dpo.batch_size {
                        // Not an error of the study: the start's samples gave too few
                        // success/failure pairs. Reported as the start, with the reason.
                        notes.insert(
                            "untrained".into(),
                            serde_json::json!(format!(
                                "{} preference pairs, fewer than one batch of {}: the start is reported",
                                pairs.len(),
                                spec.dpo.batch_size
                            )),
                        );
                        (false, 0)
                    } else {
                        let s = run_dpo(
                            DpoSpec {
                                model_dir: Some(start.clone()),
                                tokenizer: None,
                                data: DpoData::Records {
                                    path: collection.clone(),
                                },
                                env: env_s.clone(),
                                eval_pass_rate: false,
                                lora: spec.lora.clone(),
                                dpo: crate::dpo::DpoConfig {
                                    max_steps: Some(updates),
                                    seed,
                                    ..spec.dpo.clone()
                                },
                                checkpoint_every: 0,
                                ..DpoSpec::default()
                            }
                            .with_run(sub_run(
                                &spec,
                                &dir,
                                method.as_str(),
                            )?),
                        )?;
                        (true, s.steps_done)
                    }
                }
                _ => {
                    let on_policy = ppo_env(&spec, &env_s, method, &collection);
                    let ppo = ppo_config(&spec, &on_policy, method, seed);
                    let per_step = (ppo.ppo_epochs
                        * (ppo.batch_size
                            / (ppo.mini_batch_size * ppo.gradient_accumulation_steps))
                            .max(1)) as u64;
                    let s = run_training(
                        TrainSpec {
                            model_dir: Some(start.clone()),
                            lora: spec.lora.clone(),
                            ppo,
                            checkpoint_every: 0,
                            on_policy: Some(on_policy),
                            ..TrainSpec::default()
                        }
                        .with_run(sub_run(&spec, &dir, method.as_str())?),
                    )?;
                    notes.insert("episodes".into(), serde_json::json!(s.episodes));
                    curve = ppo_curve(&mdir.join("metrics.jsonl"), per_step)?;
                    (true, s.steps_done * per_step)
                }
            };
            let (renderer, model) = if trained {
                trained_policy(&start, &mdir, &env_s, opts, out)?
            } else {
                load_policy(Some(&start), None, &env_s, None, opts, seed, out)?
            };
            let (strategies, pass_at_k) =
                evaluate_model(&model, &renderer, env, &spec.eval, seed, Some(&mdir))?;
            let e = MethodEval {
                method: method.as_str().into(),
                seed,
                optimizer_updates,
                strategies,
                pass_at_k,
                curve,
                notes,
                wall_s: t.elapsed().as_secs_f64(),
            };
            std::fs::create_dir_all(&mdir).map_err(Error::io(&mdir))?;
            let text = serde_json::to_string_pretty(&e).map_err(Error::json(&eval_file))?;
            steptool_mdp::atomic::write_atomic(&eval_file, text).map_err(Error::io(&eval_file))?;
            log(
                spec.progress,
                format!(
                    "seed {seed}: {} CoT pass {:.3} ({:.0} s)",
                    method.as_str(),
                    e.strategies.get("cot").map_or(f64::NAN, |s| s.pass_rate),
                    e.wall_s
                ),
            );
            evals.push(e);
        }
    }
    let results = Results::aggregate(&spec, &evals, t0.elapsed().as_secs_f64());
    let files = write_report(&results, out)?;
    Ok(ExperimentSummary {
        out: out.to_path_buf(),
        results,
        files,
    })
}

/// The on-policy spec of a PPO-family method: offline over the shared collection, or online.
fn ppo_env(
    spec: &ExperimentSpec,
    env_s: &OnPolicySpec,
    method: Method,
    collection: &Path,
) -> OnPolicySpec {
    let online = method == Method::SteptoolOnline;
    OnPolicySpec {
        schedule: if online {
            Schedule::Online
        } else {
            Schedule::Offline
        },
        iterations: spec.passes,
        samples_per_task: spec.samples,
        passes: 1,
        eval_every: spec.eval.curve_every,
        eval_tasks: spec.eval.curve_tasks.min(spec.eval.tasks),
        eval_strategies: vec![Strategy::Cot],
        collected: (!online).then(|| collection.to_path_buf()),
        ..env_s.clone()
    }
}

/// The PPO settings of a PPO-family method (module docs of [`crate::experiment`]).
fn ppo_config(
    spec: &ExperimentSpec,
    on_policy: &OnPolicySpec,
    method: Method,
    seed: u64,
) -> crate::PpoConfig {
    let mut ppo = crate::PpoConfig {
        seed,
        old_logprobs: on_policy.recommended_old_logprobs(),
        temperature: on_policy.sampling.score_temperature(),
        ..spec.ppo.clone()
    };
    match method {
        Method::PpoFinal => ppo.estimator = Estimator::FinalReward,
        Method::SteptoolWoStepReward => ppo.intermediate_rewards = false,
        Method::SteptoolWoStepOptimization => {
            ppo.sub_trajectories = true;
            ppo.estimator = Estimator::FinalReward;
        }
        _ => {}
    }
    ppo
}
