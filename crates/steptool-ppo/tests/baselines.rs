//! The baselines besides SFT: DPO (ETO) and RFT. The DPO loss against hand-computed numbers, a
//! tiny DPO run that raises the reward margin, the pair file's reader and its bad input, RFT's
//! rejection step (only solved, deduplicated) and a tiny end-to-end run of each command.

use std::sync::Arc;

use approx::assert_abs_diff_eq;
use steptool_env::rollout::{read_records, run_many, RolloutConfig};
use steptool_env::synthetic::{
    annotate, ExpertAgent, NoisyExpertAgent, Split, SyntheticBenchmark, SyntheticConfig,
    SyntheticEnv, SyntheticEnvConfig,
};
use steptool_mdp::{ActionSpan, AnswerStatus, Episode};
use steptool_model::{Batch, ForwardOptions, LoadOptions, LoraConfig, Model, PaddingSide};
use steptool_ppo::dpo::{
    dpo_loss, exploration_pairs, read_pair_file, run_dpo, DpoConfig, DpoData, DpoSpec, DpoTrainer,
    PairLogps, PreferencePair,
};
use steptool_ppo::embedded::tiny_llama_config;
use steptool_ppo::online::run::synthetic_texts;
use steptool_ppo::online::{
    GroundTruthAnnotator, OnPolicySpec, PolicySampling, PromptStyle, Renderer,
};
use steptool_ppo::rft::{run_rft, select_solved, RftSpec};
use steptool_ppo::sft::app::record_solved;
use steptool_ppo::sft::{SftConfig, SftData, SftSpec};

type R = Result<(), Box<dyn std::error::Error>>;

/// Tests that seed libtorch's global generator run one at a time.
static GLOBAL_RNG: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    GLOBAL_RNG
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

#[test]
fn dpo_loss_matches_hand_computed_values() {
    let lp = PairLogps {
        policy_chosen: -10.0,
        policy_rejected: -12.0,
        reference_chosen: -11.0,
        reference_rejected: -11.0,
    };
    // chosen reward   = 0.1 * (-10 - -11) =  0.1
    // rejected reward = 0.1 * (-12 - -11) = -0.1
    // z = 0.1 - (-0.1) = 0.2
    // loss = -ln σ(0.2) = ln(1 + e^-0.2) = ln(1 + 0.818730753) = ln 1.818730753 = 0.598138869
    let t = dpo_loss(&lp, 0.1, 0.0);
    assert_abs_diff_eq!(t.chosen_reward, 0.1, epsilon = 1e-12);
    assert_abs_diff_eq!(t.rejected_reward, -0.1, epsilon = 1e-12);
    assert_abs_diff_eq!(t.margin, 0.2, epsilon = 1e-12);
    assert_abs_diff_eq!(t.loss, 0.598_138_869_381_591_8, epsilon = 1e-12);
    // label smoothing 0.1: 0.9 * ln(1 + e^-0.2) + 0.1 * ln(1 + e^0.2)
    //   = 0.9 * 0.598138869 + 0.1 * 0.798138869 = 0.538324982 + 0.079813887 = 0.618138869
    let s = dpo_loss(&lp, 0.1, 0.1);
    assert_abs_diff_eq!(s.loss, 0.618_138_869_381_591_8, epsilon = 1e-12);
    // Policy == reference: z = 0, loss = ln 2 = 0.693147181.
    let tie = dpo_loss(
        &PairLogps {
            policy_chosen: -3.0,
            policy_rejected: -7.0,
            reference_chosen: -3.0,
            reference_rejected: -7.0,
        },
        0.1,
        0.0,
    );
    assert_abs_diff_eq!(tie.loss, std::f64::consts::LN_2, epsilon = 1e-12);
    // A huge margin does not overflow: -ln σ(-1000) = 1000 (to double precision).
    let far = dpo_loss(
        &PairLogps {
            policy_chosen: -10_000.0,
            policy_rejected: 0.0,
            reference_chosen: 0.0,
            reference_rejected: 0.0,
        },
        0.1,
        0.0,
    );
    assert_abs_diff_eq!(far.loss, 1000.0, epsilon = 1e-9);
}

fn episode(prompt: &[u32], response: &[u32]) -> Result<Episode, Box<dyn std::error::Error>> {
    let ids: Vec<u32> = prompt.iter().chain(response).copied().collect();
    Ok(Episode::new(
        ids,
        vec![ActionSpan::new(prompt.len(), prompt.len() + response.len())],
        vec![0.0],
    )?)
}

fn tiny_pairs() -> Result<Vec<PreferencePair>, Box<dyn std::error::Error>> {
    Ok(vec![
        PreferencePair::new(
            "pair 0",
            episode(&[5, 6, 7, 8], &[10, 11, 12])?,
            episode(&[5, 6, 7, 8], &[20, 21, 22, 23])?,
        )?,
        PreferencePair::new(
            "pair 1",
            episode(&[9, 8, 7], &[30, 31])?,
            episode(&[9, 8, 7], &[40, 41, 42])?,
        )?,
    ])
}

/// Summed response log-probs of `e` by a forward of its own, with or without the adapters.
fn summed_logprob(
    model: &Model,
    e: &Episode,
    adapters: bool,
) -> Result<f64, Box<dyn std::error::Error>> {
    let _g = tch::no_grad_guard();
    let ids: Vec<i64> = e.input_ids().iter().map(|&t| i64::from(t)).collect();
    let batch = Batch::from_sequences(&[ids], 0, PaddingSide::Right, tch::Device::Cpu)?;
    let out = model.forward_batch(
        &batch,
        &ForwardOptions {
            use_adapters: adapters,
            values: false,
            ..ForwardOptions::default()
        },
    )?;
    let lp: Vec<f32> = out.logprobs.squeeze_dim(0).try_into()?;
    // Position t scores token t + 1: the span [s, e) is scored at positions s-1 .. e-1.
    let span = e.action_spans()[0];
    Ok((span.start - 1..span.end - 1)
        .map(|p| f64::from(lp[p]))
        .sum())
}

#[test]
fn a_tiny_dpo_run_raises_the_margin() -> R {
    let _g = serial();
    tch::manual_seed(7);
    let mut model = Model::random(tiny_llama_config(64)?, LoadOptions::cpu())?;
    model.attach_lora(
        LoraConfig {
            r: 8,
            alpha: 16.0,
            ..LoraConfig::default()
        },
        7,
    )?;
    let config = DpoConfig {
        learning_rate: 1e-2,
        warmup_fraction: 0.0,
        batch_size: 2,
        micro_batch_size: 1,
        ..DpoConfig::default()
    };
    let pairs = tiny_pairs()?;
    let mut trainer = DpoTrainer::new(model, config, 6)?;
    let before = trainer.evaluate(&pairs)?;
    // A fresh LoRA (B = 0) is the reference: every log-ratio is 0, the loss ln 2.
    assert_abs_diff_eq!(before.reward_margin, 0.0, epsilon = 1e-6);
    assert_abs_diff_eq!(before.loss, std::f64::consts::LN_2, epsilon = 1e-6);
    let mut steps = Vec::new();
    for _ in 0..6 {
        steps.push(trainer.step(&pairs)?);
    }
    assert_abs_diff_eq!(steps[0].loss, std::f64::consts::LN_2, epsilon = 1e-6);
    assert!(steps.iter().all(|m| !m.skipped && m.grad_norm > 0.0));
    let after = trainer.evaluate(&pairs)?;
    assert!(
        after.reward_margin > 0.05 && after.accuracy == 1.0,
        "margin {} -> {}, accuracy {}",
        before.reward_margin,
        after.reward_margin,
        after.accuracy
    );
    assert!(
        after.loss < before.loss - 0.02,
        "loss {} -> {}",
        before.loss,
        after.loss
    );
    assert!(steps[5].reward_margin > steps[0].reward_margin);

    // The trainer's terms equal an independent forward per episode and the pure loss.
    let model = trainer.model();
    let lp: Vec<PairLogps> = pairs
        .iter()
        .map(|p| -> Result<PairLogps, Box<dyn std::error::Error>> {
            Ok(PairLogps {
                policy_chosen: summed_logprob(model, p.chosen(), true)?,
                policy_rejected: summed_logprob(model, p.rejected(), true)?,
                reference_chosen: summed_logprob(model, p.chosen(), false)?,
                reference_rejected: summed_logprob(model, p.rejected(), false)?,
            })
        })
        .collect::<Result<_, _>>()?;
    let terms: Vec<_> = lp.iter().map(|l| dpo_loss(l, 0.1, 0.0)).collect();
    let mean = |f: fn(&steptool_ppo::dpo::DpoTerms) -> f64| terms.iter().map(f).sum::<f64>() / 2.0;
    assert_abs_diff_eq!(after.reward_margin, mean(|t| t.margin), epsilon = 1e-4);
    assert_abs_diff_eq!(
        after.chosen_reward,
        mean(|t| t.chosen_reward),
        epsilon = 1e-4
    );
    assert_abs_diff_eq!(after.loss, mean(|t| t.loss), epsilon = 1e-4);
    Ok(())
}

#[test]
fn dpo_checkpoint_resumes_exactly() -> R {
    let _g = serial();
    let build = || -> Result<DpoTrainer<Model>, Box<dyn std::error::Error>> {
        tch::manual_seed(3);
        let mut model = Model::random(tiny_llama_config(64)?, LoadOptions::cpu())?;
        model.attach_lora(LoraConfig::default(), 3)?;
        let config = DpoConfig {
            learning_rate: 1e-2,
            batch_size: 2,
            micro_batch_size: 2,
            ..DpoConfig::default()
        };
        Ok(DpoTrainer::new(model, config, 4)?)
    };
    let pairs = tiny_pairs()?;
    let mut a = build()?;
    let mut whole = Vec::new();
    for _ in 0..4 {
        whole.push(a.step(&pairs)?.loss);
    }
    let dir = tempfile::tempdir()?;
    let mut b = build()?;
    b.step(&pairs)?;
    b.step(&pairs)?;
    let bundle = dir.path().join("step-2");
    std::fs::create_dir_all(&bundle)?;
    b.write_bundle(&bundle, serde_json::json!({"note": "x"}))?;
    let mut c = build()?;
    let extra = c.load_checkpoint(&bundle)?;
    assert_eq!(extra["note"], "x");
    assert_eq!(c.steps_done(), 2);
    let rest = [c.step(&pairs)?.loss, c.step(&pairs)?.loss];
    assert_abs_diff_eq!(rest[0], whole[2], epsilon = 1e-6);
    assert_abs_diff_eq!(rest[1], whole[3], epsilon = 1e-6);
    // Another config is refused, naming the field.
    tch::manual_seed(3);
    let mut model = Model::random(tiny_llama_config(64)?, LoadOptions::cpu())?;
    model.attach_lora(LoraConfig::default(), 3)?;
    let other = DpoConfig {
        beta: 0.5,
        learning_rate: 1e-2,
        batch_size: 2,
        micro_batch_size: 2,
        ..DpoConfig::default()
    };
    let err = DpoTrainer::new(model, other, 4)?
        .load_checkpoint(&bundle)
        .err()
        .ok_or("a changed beta must be refused")?;
    assert!(format!("{err:#}").contains("beta"), "{err:#}");
    Ok(())
}

#[test]
fn identical_chosen_and_rejected_are_errors() -> R {
    let e = episode(&[5, 6], &[7, 8])?;
    let err = PreferencePair::new("task q1 samples 0 > 1", e.clone(), e)
        .err()
        .ok_or("identical episodes must be refused")?;
    let text = format!("{err:#}");
    assert!(
        text.contains("task q1 samples 0 > 1") && text.contains("identical"),
        "{text}"
    );

    // In the pair file: the error names the file and the row's line.
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("pairs.csv");
    std::fs::write(
        &path,
        "prompt\tchosen\trejected\n\"P1\nline two\"\t\"good \"\"a\"\"\"\tbad\nP2\tsame\tsame\n",
    )?;
    let err = read_pair_file(&path).err().ok_or("row 1 must be refused")?;
    let text = format!("{err:#}");
    assert!(
        text.contains("pairs.csv") && text.contains("line 4") && text.contains("identical"),
        "{text}"
    );
    // Without the bad row the file reads, quotes, tabs and newlines kept.
    std::fs::write(
        &path,
        "prompt\tchosen\trejected\r\n\"P1\nline two\"\t\"good \"\"a\"\"\tx\"\tbad\r\nP2\tc\tr\r\n",
    )?;
    let rows = read_pair_file(&path)?;
    assert_eq!(rows.len(), 2);
    assert_eq!(
        (
            rows[0].line,
            rows[0].prompt.as_str(),
            rows[0].chosen.as_str(),
            rows[0].rejected.as_str()
        ),
        (2, "P1\nline two", "good \"a\"\tx", "bad")
    );
    assert_eq!((rows[1].line, rows[1].chosen.as_str()), (4, "c"));
    // A missing column is an error naming it.
    std::fs::write(&path, "prompt\tchosen\nP\tc\n")?;
    let err = read_pair_file(&path).err().ok_or("no rejected column")?;
    assert!(format!("{err:#}").contains("`rejected`"), "{err:#}");
    Ok(())
}

fn env_spec() -> OnPolicySpec {
    OnPolicySpec {
        benchmark: SyntheticConfig::default(),
        env: SyntheticEnvConfig::default(),
        prompt_style: PromptStyle::Compact,
        ..OnPolicySpec::default()
    }
}

#[test]
fn rft_keeps_only_solved_records_and_drops_duplicates() -> R {
    let spec = env_spec();
    let bench = Arc::new(SyntheticBenchmark::new(spec.benchmark.clone())?);
    let tasks = bench.tasks(Split::Train, 8, 11)?;
    let env = SyntheticEnv::new(bench.clone(), spec.env.clone());
    let cfg = RolloutConfig {
        samples: 3,
        max_actions: spec.benchmark.max_calls + 1,
        ..RolloutConfig::default()
    };
    let expert = run_many(&env, &tasks, &ExpertAgent::new(&tasks), &cfg, false)?.records;
    let noisy = NoisyExpertAgent::new(&tasks, 0.4, 5)?;
    let sampled = run_many(&env, &tasks, &noisy, &cfg, false)?.records;
    // The ground truth, independently of record_solved.
    let truly_solved = |r: &steptool_env::rollout::RolloutRecord| {
        let task = tasks.iter().find(|t| t.id == r.query_id);
        match (task, &r.trajectory) {
            (Some(t), Some(traj)) => {
                annotate(&bench, t, traj).is_ok_and(|a| a.is_solved == AnswerStatus::Solved)
            }
            _ => false,
        }
    };
    let solved = sampled.iter().filter(|r| truly_solved(r)).count();
    assert!(
        solved > 0 && solved < sampled.len(),
        "{solved} of {} solved",
        sampled.len()
    );

    // Without expert data: the solved samples, each message list once.
    let alone = select_solved(Vec::new(), sampled.clone(), 2)?;
    let c = &alone.counts;
    assert_eq!(c.sampled, sampled.len() + 2);
    assert_eq!(c.unsolved, sampled.len() - solved + 2);
    assert_eq!(c.kept + c.duplicates, solved);
    assert_eq!(alone.records.len(), c.kept);
    assert!(alone
        .records
        .iter()
        .all(|r| truly_solved(r) && record_solved(r)));
    let distinct: std::collections::HashSet<String> = alone
        .records
        .iter()
        .map(|r| serde_json::to_string(&r.messages))
        .collect::<Result<_, _>>()?;
    assert_eq!(distinct.len(), alone.records.len());
    // The expert's 3 samples per task are identical (a deterministic agent): one each is kept.
    let with_expert = select_solved(expert.clone(), sampled.clone(), 0)?;
    assert_eq!(with_expert.counts.expert, tasks.len());
    // A noisy sample that made no mistake equals the expert's demonstration: a duplicate.
    assert!(
        with_expert.counts.kept < alone.counts.kept,
        "{:?}",
        with_expert.counts
    );
    assert_eq!(
        with_expert.records.len(),
        with_expert.counts.expert + with_expert.counts.kept
    );
    assert!(with_expert.records[..tasks.len()]
        .iter()
        .zip(expert.iter().step_by(3))
        .all(|(a, b)| a.messages == b.messages));
    Ok(())
}

fn small_env() -> OnPolicySpec {
    OnPolicySpec {
        train_tasks: 2,
        eval_tasks: 2,
        sampling: PolicySampling {
            max_new_tokens: 24,
            max_total_tokens: 1024,
            batch: 2,
            ..PolicySampling::default()
        },
        ..env_spec()
    }
}

#[test]
fn rft_end_to_end_reports_its_counts_and_trains_on_the_union() -> R {
    let _g = serial();
    let dir = tempfile::tempdir()?;
    let spec = RftSpec {
        samples: 2,
        sft: SftSpec {
            data: SftData::Synthetic { tasks: 5 },
            env: small_env(),
            eval_fraction: 0.0,
            eval_pass_rate: false,
            sft: SftConfig {
                learning_rate: 1e-3,
                epochs: 1,
                batch_size: 4,
                micro_batch_size: 2,
                full_finetune: true,
                ..SftConfig::default()
            },
            runs_dir: dir.path().to_path_buf(),
            run_name: "r".into(),
            progress: false,
            ..SftSpec::default()
        },
        ..RftSpec::default()
    };
    let summary = run_rft(spec)?;
    let c = &summary.counts;
    // 2 train tasks x 2 samples by a random tiny model.
    assert_eq!(c.sampled, 4);
    assert_eq!(c.kept + c.unsolved + c.duplicates, 4);
    assert_eq!(c.expert, 5);
    let union = read_records(&summary.records)?;
    assert_eq!(union.len(), c.expert + c.kept);
    assert!(union.iter().all(record_solved));
    assert_eq!(summary.sft.train_conversations, union.len());
    assert_eq!(summary.sft.steps_done, 1);
    let text = summary.to_string();
    assert!(
        text.contains(&format!("kept {} of 4 sampled", c.kept)),
        "{text}"
    );
    assert!(dir.path().join("r/checkpoints/step-1").is_dir());
    Ok(())
}

#[test]
fn dpo_end_to_end_on_a_pair_file_skips_and_counts_long_pairs() -> R {
    let _g = serial();
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("dpo.csv");
    let mut text = String::from("prompt\tchosen\trejected\n");
    for k in 0..4 {
        text.push_str(&format!(
            "\"System: tools\nUser: \nquery {k}\nBegin!\n\nAssistant: \n\"\t\"Thought: call\nAction: Finish\nAction Input: {{\"\"answer\"\": \"\"{k}\"\"}}\"\t\"Thought: give up\nAction: Finish\"\n"
        ));
    }
    // A row far longer than max_tokens: skipped and counted.
    text.push_str(&format!("\"{}\"\tchosen\trejected\n", "word ".repeat(400)));
    std::fs::write(&path, text)?;
    let spec = DpoSpec {
        data: DpoData::Pairs { path: path.clone() },
        env: small_env(),
        eval_pass_rate: false,
        dpo: DpoConfig {
            learning_rate: 1e-2,
            epochs: 2,
            batch_size: 2,
            micro_batch_size: 2,
            max_tokens: Some(300),
            ..DpoConfig::default()
        },
        runs_dir: dir.path().to_path_buf(),
        run_name: "d".into(),
        progress: false,
        ..DpoSpec::default()
    };
    let summary = run_dpo(spec.clone())?;
    assert_eq!(summary.pairs.sources, 5);
    assert_eq!(summary.pairs.too_long, 1);
    assert_eq!(summary.pairs.pairs, 4);
    // 4 pairs / 2 per step = 2 steps per epoch, 2 epochs.
    assert_eq!(summary.steps_done, 4);
    let first = summary.first.as_ref().ok_or("no step")?;
    assert_abs_diff_eq!(first.loss, std::f64::consts::LN_2, epsilon = 1e-5);
    let after = summary.final_pairs.ok_or("no final evaluation")?;
    assert!(after.reward_margin > 0.0, "{after:?}");
    assert!(summary
        .to_string()
        .contains("skipped: 1 pairs longer than max_tokens"));
    assert!(dir.path().join("d/summary.json").is_file());
    assert_eq!(
        std::fs::read_to_string(dir.path().join("d/metrics.jsonl"))?
            .lines()
            .count(),
        4
    );
    // The same run again is refused without --resume / --overwrite.
    let err = run_dpo(spec)
        .err()
        .ok_or("a second run over the first must be refused")?;
    assert!(
        format!("{err:#}").contains("already holds a run"),
        "{err:#}"
    );
    Ok(())
}

#[test]
fn exploration_pairs_every_success_with_every_failure_and_counts_ties() -> R {
    let spec = env_spec();
    let bench = Arc::new(SyntheticBenchmark::new(spec.benchmark.clone())?);
    let tasks = bench.tasks(Split::Train, 10, 4)?;
    let env = SyntheticEnv::new(bench.clone(), spec.env.clone());
    let cfg = RolloutConfig {
        samples: 3,
        max_actions: spec.benchmark.max_calls + 1,
        ..RolloutConfig::default()
    };
    let mut records = run_many(
        &env,
        &tasks,
        &NoisyExpertAgent::new(&tasks, 0.3, 9)?,
        &cfg,
        false,
    )?
    .records;
    // Token traces as the policy would have written these conversations.
    let tok = steptool_ppo::embedded::train_tokenizer(&synthetic_texts(&spec)?, 400)?;
    let renderer = Renderer::new(steptool_mdp::ChatFormat::ToolLlama, tok, Some(1))
        .with_style(PromptStyle::Compact);
    for r in &mut records {
        if r.trajectory.is_some() {
            r.trace = Some(renderer.teacher_trace(&r.messages, &r.context.functions)?);
        }
    }
    let (pairs, stats) =
        exploration_pairs(&records, &GroundTruthAnnotator::new(bench.clone(), &tasks))?;
    // The expected counts from the ground truth directly.
    let solved_of = |id: &str, sample: usize| -> bool {
        let t = tasks.iter().find(|t| t.id == id);
        let r = records
            .iter()
            .find(|r| r.query_id == id && r.sample == sample);
        match (t, r.and_then(|r| r.trajectory.as_ref())) {
            (Some(t), Some(traj)) => {
                annotate(&bench, t, traj).is_ok_and(|a| a.is_solved == AnswerStatus::Solved)
            }
            _ => false,
        }
    };
    let (mut want_pairs, mut all_solved, mut all_failed) = (0, 0, 0);
    for t in &tasks {
        let s = (0..3).filter(|&k| solved_of(&t.id, k)).count();
        match s {
            3 => all_solved += 1,
            0 => all_failed += 1,
            _ => want_pairs += s * (3 - s),
        }
    }
    assert!(want_pairs > 0 && all_solved > 0, "{stats:?}");
    assert_eq!((stats.sources, stats.samples), (10, 30));
    assert_eq!(
        (stats.ties_all_solved, stats.ties_all_failed),
        (all_solved, all_failed)
    );
    assert_eq!(stats.pairs, want_pairs);
    assert_eq!(pairs.len(), want_pairs);
    // Each pair's chosen sample solved its task and its rejected one did not.
    for p in &pairs {
        let id = p.id().strip_prefix("task ").ok_or("pair id")?;
        let (task, samples) = id.split_once(" samples ").ok_or("pair id")?;
        let (i, j) = samples.split_once(" > ").ok_or("pair id")?;
        assert!(
            solved_of(task, i.parse()?) && !solved_of(task, j.parse()?),
            "{}",
            p.id()
        );
        assert_ne!(p.chosen().input_ids(), p.rejected().input_ids());
    }
    Ok(())
}

#[test]
fn dpo_exploration_without_a_success_says_why_there_is_nothing_to_train() -> R {
    let _g = serial();
    let dir = tempfile::tempdir()?;
    let spec = DpoSpec {
        env: small_env(),
        eval_pass_rate: false,
        dpo: DpoConfig {
            batch_size: 2,
            ..DpoConfig::default()
        },
        runs_dir: dir.path().to_path_buf(),
        run_name: "x".into(),
        progress: false,
        ..DpoSpec::default()
    };
    // The random tiny model solves no task: both tasks are all-failed ties.
    let err = run_dpo(spec).err().ok_or("no pair: an error")?;
    let text = format!("{err:#}");
    assert!(
        text.contains("0 preference pairs") && text.contains("2 all failed"),
        "{text}"
    );
    let explored = read_records(&dir.path().join("x/rollouts/explore.jsonl"))?;
    assert_eq!(explored.len(), 2 * 3);
    assert!(explored
        .iter()
        .all(|r| r.trajectory.is_none() || r.trace.is_some()));
    Ok(())
}

#[test]
fn the_reference_pair_file_reads_whole() -> R {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../fixtures/reference/dpo_data_example.csv");
    let rows = steptool_ppo::dpo::read_pair_file(&path)?;
    // The released sample: 20 pairs, each with a prompt and two different continuations.
    assert_eq!(rows.len(), 20);
    for r in &rows {
        assert!(!r.prompt.is_empty() && !r.chosen.is_empty() && !r.rejected.is_empty());
        assert_ne!(r.chosen, r.rejected, "line {}", r.line);
    }
    Ok(())
}
