//! The policy acting: rollouts by a tiny LLaMA on the synthetic benchmark, their token traces,
//! the ground-truth annotator, and the on-policy loop with its resume.

use std::sync::Arc;

use steptool_env::rollout::{RolloutConfig, RolloutRecord};
use steptool_env::synthetic::{
    ExpertAgent, RandomAgent, Split, SyntheticBenchmark, SyntheticConfig, SyntheticEnv,
    SyntheticEnvConfig,
};
use steptool_mdp::ChatFormat;
use steptool_model::{Batch, ForwardOptions, LoadOptions, LoraConfig, Model, PaddingSide};
use steptool_ppo::app::{run_training, tiny_llama_config, train_tokenizer, TrainSpec};
use steptool_ppo::online::run::synthetic_texts;
use steptool_ppo::online::{
    episodes_from_records, policy_rollouts, GroundTruthAnnotator, OnPolicySpec, PolicySampling,
    Renderer,
};
use steptool_reward::{RewardAnnotator, RewardShaper};

type R = Result<(), Box<dyn std::error::Error>>;

/// Tests that seed libtorch's global generator run one at a time.
static GLOBAL_RNG: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    GLOBAL_RNG
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn small_spec() -> OnPolicySpec {
    OnPolicySpec {
        train_tasks: 3,
        eval_tasks: 3,
        samples_per_task: 2,
        iterations: 2,
        sampling: PolicySampling {
            max_new_tokens: 12,
            max_total_tokens: 4096,
            batch: 1,
            ..PolicySampling::default()
        },
        rollout: RolloutConfig {
            max_actions: 3,
            ..OnPolicySpec::default().rollout
        },
        ..OnPolicySpec::default()
    }
}

struct Setup {
    model: Model,
    renderer: Renderer,
    env: SyntheticEnv,
    bench: Arc<SyntheticBenchmark>,
}

fn setup() -> Result<Setup, Box<dyn std::error::Error>> {
    let spec = small_spec();
    let tok = train_tokenizer(&synthetic_texts(&spec)?, 600)?;
    tch::manual_seed(3);
    let vocab = tok.get_vocab_size(true) as i64;
    let mut model = Model::random(tiny_llama_config(vocab)?, LoadOptions::cpu())?;
    model.attach_lora(LoraConfig::default(), 3)?;
    model.init_value_head(3)?;
    let bos = model.config().bos_token_id().map(|b| b as u32);
    let bench = Arc::new(SyntheticBenchmark::new(SyntheticConfig::default())?);
    Ok(Setup {
        renderer: Renderer::new(ChatFormat::ToolLlama, tok, bos),
        env: SyntheticEnv::new(bench.clone(), SyntheticEnvConfig::default()),
        model,
        bench,
    })
}

fn rollouts(s: &Setup, batch: usize) -> Result<Vec<RolloutRecord>, Box<dyn std::error::Error>> {
    let tasks = s.bench.tasks(Split::Train, 3, 0)?;
    let sampling = PolicySampling {
        batch,
        ..small_spec().sampling
    };
    let cfg = RolloutConfig {
        samples: 2,
        ..small_spec().rollout
    };
    let (summary, stats) = policy_rollouts(
        &s.model,
        &s.renderer,
        &sampling,
        &s.env,
        &tasks,
        &cfg,
        false,
    )?;
    assert!(summary.failures.is_empty(), "{:?}", summary.failures);
    assert_eq!(summary.records.len(), 6);
    assert!(stats.turns >= 6 && stats.generated_tokens > 0);
    Ok(summary.records)
}

#[test]
fn traces_hold_exactly_the_generated_tokens_and_their_logprobs() -> R {
    let _g = serial();
    let s = setup()?;
    let records = rollouts(&s, 4)?;
    for r in &records {
        let trace = r.trace.as_ref().ok_or("no trace")?;
        let steps = r.trajectory.as_ref().ok_or("no trajectory")?.len();
        assert_eq!(trace.action_spans.len(), steps);
        // The span tokens are the generated tokens, turn by turn.
        for (k, span) in trace.action_spans.iter().enumerate() {
            let generated = r.tokens[k].token_ids.as_ref().ok_or("no ids")?;
            assert_eq!(&trace.input_ids[span.range()], &generated[..], "turn {k}");
            assert_eq!(
                trace.logprobs[k],
                r.tokens[k].logprobs.clone().ok_or("no logprobs")?
            );
        }
        // The first prompt is the chat format's rendering of the conversation's opening, byte
        // for byte: generation and training read one code path.
        let first = trace.action_spans[0].start;
        let prompt = s
            .renderer
            .tokenizer()
            .decode(&trace.input_ids[1..first], false)
            .map_err(|e| e.to_string())?;
        let opening = steptool_env::chat_messages(&r.messages[..2], &r.context.functions, false);
        assert_eq!(prompt, ChatFormat::ToolLlama.render_prompt(&opening));
        // A forward pass of the same policy at the sampling temperature reproduces the
        // recorded behaviour log-probs.
        let ids: Vec<i64> = trace.input_ids.iter().map(|&t| i64::from(t)).collect();
        let batch = Batch::from_sequences(&[ids], 0, PaddingSide::Right, tch::Device::Cpu)?;
        let out = tch::no_grad(|| {
            s.model.forward_batch(
                &batch,
                &ForwardOptions {
                    values: false,
                    temperature: small_spec().sampling.score_temperature(),
                    ..ForwardOptions::default()
                },
            )
        })?;
        let lp: Vec<f32> = Vec::<f32>::try_from(out.logprobs.get(0))?;
        for (span, rec) in trace.action_spans.iter().zip(&trace.logprobs) {
            for (pos, &want) in span.scoring_positions().zip(rec) {
                assert!(
                    (lp[pos] - want).abs() < 1e-4,
                    "position {pos}: forward {} vs recorded {want}",
                    lp[pos]
                );
            }
        }
    }
    // The same rollouts one conversation at a time give the same conversations (each row's
    // randomness is its own request's), up to float rounding of the padded batch.
    let single = rollouts(&s, 1)?;
    let same = records
        .iter()
        .zip(&single)
        .filter(|(a, b)| {
            a.trace.as_ref().map(|t| &t.input_ids) == b.trace.as_ref().map(|t| &t.input_ids)
        })
        .count();
    assert!(
        same >= 5,
        "only {same} of 6 rollouts equal batched and alone"
    );
    Ok(())
}

#[test]
fn ground_truth_rewards_solved_above_unsolved() -> R {
    let bench = Arc::new(SyntheticBenchmark::new(SyntheticConfig::default())?);
    let tasks = bench.tasks(Split::Train, 12, 0)?;
    let env = SyntheticEnv::new(bench.clone(), SyntheticEnvConfig::default());
    let annotator = GroundTruthAnnotator::new(bench.clone(), &tasks);
    let shaper = RewardShaper::default();
    let cfg = RolloutConfig {
        max_actions: 5,
        ..RolloutConfig::default()
    };
    let mean_return = |records: &[RolloutRecord]| -> Result<f64, Box<dyn std::error::Error>> {
        let mut total = 0.0;
        for r in records {
            let t = r.trajectory.as_ref().ok_or("no trajectory")?;
            total += shaper
                .shape(&annotator.annotate(t)?)
                .iter()
                .map(|&x| f64::from(x))
                .sum::<f64>();
        }
        Ok(total / records.len() as f64)
    };
    let expert =
        steptool_env::rollout::run_many(&env, &tasks, &ExpertAgent::new(&tasks), &cfg, false)?;
    let random = steptool_env::rollout::run_many(&env, &tasks, &RandomAgent::new(1), &cfg, false)?;
    let (e, r) = (mean_return(&expert.records)?, mean_return(&random.records)?);
    // The expert solves every task: final reward 1 plus (5 + 5) / 10 = 1 per planned call.
    assert!(e >= 2.0, "expert return {e}");
    assert!(e > r + 1.0, "expert {e} vs random {r}");
    // Episodes need traces: records of scripted agents have none and are not trained on.
    let (episodes, _) = episodes_from_records(&expert.records, &annotator, &shaper)?;
    assert!(episodes.is_empty());
    Ok(())
}

fn spec_for(dir: &std::path::Path, iterations: u64, resume: bool) -> TrainSpec {
    let base = TrainSpec::embedded_on_policy();
    TrainSpec {
        runs_dir: dir.to_path_buf(),
        run_name: "op".into(),
        progress: false,
        resume,
        ppo: steptool_ppo::PpoConfig {
            batch_size: 2,
            mini_batch_size: 1,
            gradient_accumulation_steps: 2,
            ppo_epochs: 2,
            ..base.ppo.clone()
        },
        on_policy: Some(OnPolicySpec {
            iterations,
            ..small_spec()
        }),
        ..base
    }
}

fn comparable(
    path: &std::path::Path,
) -> Result<Vec<serde_json::Value>, Box<dyn std::error::Error>> {
    let timing = [
        "seconds",
        "rollout_seconds",
        "optimize_seconds",
        "tokens_per_s",
        "peak_rss_mb",
        "rollout_tokens_per_s",
    ];
    let mut out = Vec::new();
    for line in std::fs::read_to_string(path)?.lines() {
        let mut v: serde_json::Value = serde_json::from_str(line)?;
        if let Some(o) = v.as_object_mut() {
            for k in timing {
                o.remove(k);
            }
        }
        out.push(v);
    }
    Ok(out)
}

#[test]
fn online_loop_evaluates_held_out_tasks_and_resumes_exactly() -> R {
    let _g = serial();
    let a = tempfile::tempdir()?;
    let full = run_training(spec_for(a.path(), 2, false))?;
    assert_eq!(full.steps_done, 2 * 3 * 2 / 2); // 2 iterations x 6 episodes / batch 2
    let lines = comparable(&a.path().join("op/metrics.jsonl"))?;
    let kinds = |k: &str| lines.iter().filter(|v| v["kind"] == k).count();
    // Evals at steps 0, 3 and 6 (start, after iteration 0, final), one per iteration.
    assert_eq!(kinds("eval"), 3);
    assert_eq!(kinds("iteration"), 2);
    for v in lines.iter().filter(|v| v["kind"] == "eval") {
        let p = v["pass_rate"].as_f64().ok_or("no pass_rate")?;
        assert!((0.0..=1.0).contains(&p) && v["tasks"] == 3);
    }
    assert!(a.path().join("op/metrics.png").is_file());
    assert!(a.path().join("op/rollouts/iteration-1.jsonl").is_file());
    assert_eq!(full.evals.len(), 3);

    // One iteration, then a resume to two: the same file.
    let b = tempfile::tempdir()?;
    run_training(spec_for(b.path(), 1, false))?;
    let resumed = run_training(spec_for(b.path(), 2, true))?;
    assert_eq!(resumed.steps_run, 3);
    assert_eq!(comparable(&b.path().join("op/metrics.jsonl"))?, lines);
    // The run's base model and adapter load again (what `steptool rollout --agent policy` does).
    let base = b.path().join("op/base");
    let (mut m, _) = Model::from_pretrained(&base, LoadOptions::cpu())?;
    let adapter = steptool_ppo::checkpoint::adapter_dir(&b.path().join("op"))?;
    m.load_adapter(&adapter)?;
    Ok(())
}

#[test]
fn the_wo_step_optimization_ablation_trains_single_step_episodes_on_the_same_budget() -> R {
    let _g = serial();
    let step_counts = |path: &std::path::Path| -> Result<Vec<usize>, Box<dyn std::error::Error>> {
        Ok(comparable(path)?
            .iter()
            .filter(|v| v.get("kind").is_none())
            .map(|v| v["step_stats"].as_array().map_or(0, Vec::len))
            .collect())
    };
    let a = tempfile::tempdir()?;
    let whole = run_training(spec_for(a.path(), 1, false))?;
    let b = tempfile::tempdir()?;
    let mut spec = spec_for(b.path(), 1, false);
    spec.ppo.sub_trajectories = true;
    spec.ppo.estimator = serde_json::from_str("\"final_reward\"")?;
    let split = run_training(spec)?;
    // The same number of PPO steps (those of the 6 whole trajectories), however many steps
    // the trajectories had.
    assert_eq!(split.steps_done, whole.steps_done);
    let whole_steps = step_counts(&a.path().join("op/metrics.jsonl"))?;
    assert!(
        whole_steps.iter().any(|&n| n > 1),
        "the whole trajectories have several steps: {whole_steps:?}"
    );
    let split_steps = step_counts(&b.path().join("op/metrics.jsonl"))?;
    assert!(
        split_steps.iter().all(|&n| n == 1),
        "every trained episode is one step: {split_steps:?}"
    );
    Ok(())
}
