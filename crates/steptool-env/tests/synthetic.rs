//! The synthetic benchmark end to end: expert, random and noisy policies under CoT and DFSDT,
//! splits, determinism and the ground-truth annotator.

use std::collections::HashSet;
use std::sync::Arc;

use steptool_env::metrics::{
    judge_round, pass_rate, recall, ExactJudge, JudgeInput, QueryRuns, RecallConfig, RecallInput,
};
use steptool_env::rollout::{run_many, RolloutConfig, RolloutRecord, Strategy};
use steptool_env::synthetic::{
    annotate, parse_task_id, EntitySplit, ExpertAgent, NoiseKind, NoisyExpertAgent, RandomAgent,
    Split, SyntheticBenchmark, SyntheticConfig, SyntheticEnv, SyntheticEnvConfig, SyntheticTask,
};
use steptool_env::{Agent, Result};

fn bench(config: SyntheticConfig) -> Result<Arc<SyntheticBenchmark>> {
    Ok(Arc::new(SyntheticBenchmark::new(config)?))
}

fn pass(records: &[RolloutRecord]) -> Result<f64> {
    let runs: Vec<QueryRuns> = records
        .iter()
        .map(|r| {
            let input = JudgeInput {
                query_id: &r.query_id,
                query: &r.context.query,
                finish_arguments: if r.answered() {
                    Some(r.final_answer.as_str())
                } else {
                    None
                },
                reference_answer: r.context.reference_answer.as_deref(),
                converted_answer: None,
            };
            Ok(QueryRuns {
                query_id: r.query_id.clone(),
                statuses: vec![judge_round(&input, &ExactJudge, 0)?],
            })
        })
        .collect::<Result<_>>()?;
    Ok(pass_rate(&runs)?.mean)
}

fn recall_of(records: &[RolloutRecord]) -> Result<f64> {
    let inputs: Vec<RecallInput> = records
        .iter()
        .map(|r| RecallInput {
            query_id: r.query_id.clone(),
            relevant: r.context.relevant_functions.clone(),
            available: r.context.function_names(),
            called: r.called_functions(),
            finished: r.answered(),
        })
        .collect();
    Ok(recall(&inputs, &RecallConfig::default())?.mean)
}

fn roll(
    b: &Arc<SyntheticBenchmark>,
    tasks: &[SyntheticTask],
    agent: &dyn Agent,
    strategy: Strategy,
    max_actions: usize,
) -> Result<Vec<RolloutRecord>> {
    let env = SyntheticEnv::new(b.clone(), SyntheticEnvConfig::default());
    let config = RolloutConfig {
        strategy,
        max_actions,
        ..RolloutConfig::default()
    };
    let summary = run_many(&env, tasks, agent, &config, false)?;
    assert!(summary.failures.is_empty(), "{:?}", summary.failures);
    assert_eq!(summary.records.len(), tasks.len());
    Ok(summary.records)
}

#[test]
fn expert_solves_everything_with_full_recall() -> Result<()> {
    let b = bench(SyntheticConfig::default())?;
    let tasks = b.tasks(Split::Test, 80, 1)?;
    // every call count 1..=4 occurs among 80 tasks
    let counts: HashSet<usize> = tasks.iter().map(|t| t.plan.len()).collect();
    assert_eq!(counts, (1..=4).collect());
    let expert = ExpertAgent::new(&tasks);
    for strategy in [Strategy::Cot, Strategy::Dfsdt] {
        // 4 calls + Finish = 5 actions
        let records = roll(&b, &tasks, &expert, strategy, 5)?;
        assert_eq!(pass(&records)?, 1.0, "{strategy:?}");
        assert_eq!(recall_of(&records)?, 1.0, "{strategy:?}");
        for (r, t) in records.iter().zip(&tasks) {
            assert_eq!(r.query_count, t.plan.len() + 1);
        }
    }
    Ok(())
}

#[test]
fn random_policy_scores_near_zero() -> Result<()> {
    let b = bench(SyntheticConfig::default())?;
    let tasks = b.tasks(Split::Test, 200, 2)?;
    let records = roll(&b, &tasks, &RandomAgent::new(3), Strategy::Cot, 5)?;
    let p = pass(&records)?;
    assert!(p <= 0.02, "random pass rate {p}");
    let answered = records.iter().filter(|r| r.answered()).count();
    assert!(
        answered > 20,
        "the random policy does finish sometimes ({answered}), it just never answers right"
    );
    Ok(())
}

#[test]
fn dfsdt_beats_cot_with_the_noisy_expert() -> Result<()> {
    // Tight budget: plan + Finish. A wasted call is fatal for CoT; DFSDT backtracks.
    let b = bench(SyntheticConfig {
        min_calls: 2,
        max_calls: 3,
        ..SyntheticConfig::default()
    })?;
    let tasks = b.tasks(Split::Test, 150, 4)?;
    // Measured (150 tasks, p = 0.25): all error kinds: CoT 0.55-0.57, DFSDT 0.68-0.69 (a
    // premature finish is terminal for both); recoverable kinds only: CoT 0.54-0.60, DFSDT
    // 0.87-0.92.
    for seed in [9, 10] {
        let noisy = NoisyExpertAgent::new(&tasks, 0.25, seed)?;
        let cot = pass(&roll(&b, &tasks, &noisy, Strategy::Cot, 4)?)?;
        let dfs = pass(&roll(&b, &tasks, &noisy, Strategy::Dfsdt, 4)?)?;
        eprintln!("all kinds, seed {seed}: CoT {cot} DFSDT {dfs}");
        assert!(dfs > cot + 0.08, "DFSDT {dfs} vs CoT {cot}");
        assert!(
            cot > 0.2 && dfs < 1.0,
            "noise has an effect but is not total: CoT {cot}, DFSDT {dfs}"
        );
        let recoverable = NoisyExpertAgent::with_kinds(
            &tasks,
            0.25,
            seed,
            vec![NoiseKind::WrongTool, NoiseKind::WrongArgument],
        )?;
        let cot = pass(&roll(&b, &tasks, &recoverable, Strategy::Cot, 4)?)?;
        let dfs = pass(&roll(&b, &tasks, &recoverable, Strategy::Dfsdt, 4)?)?;
        eprintln!("recoverable kinds, seed {seed}: CoT {cot} DFSDT {dfs}");
        assert!(dfs > cot + 0.2, "DFSDT {dfs} vs CoT {cot}");
    }
    Ok(())
}

#[test]
fn splits_are_seeded_and_hold_out_combinations() -> Result<()> {
    let b = bench(SyntheticConfig::default())?;
    let train = b.tasks(Split::Train, 300, 5)?;
    let test = b.tasks(Split::Test, 300, 5)?;
    assert_eq!(
        train,
        b.tasks(Split::Train, 300, 5)?,
        "same seed, same tasks"
    );
    assert_ne!(train, b.tasks(Split::Train, 300, 6)?);
    assert!(train.iter().all(|t| !t.held_out));
    let held: Vec<&SyntheticTask> = test.iter().filter(|t| t.held_out).collect();
    assert!(!held.is_empty());
    let train_templates: HashSet<&str> = train.iter().map(|t| t.template.as_str()).collect();
    assert!(held
        .iter()
        .all(|t| !train_templates.contains(t.template.as_str())));
    // start entities differ between splits: the first plan call (search by name) never repeats
    let train_starts: HashSet<&str> = train.iter().map(|t| t.plan[0].arguments.as_str()).collect();
    assert!(test
        .iter()
        .all(|t| !train_starts.contains(t.plan[0].arguments.as_str())));
    // offered = relevant + 6 distractors, relevant all offered
    for t in &test {
        assert_eq!(t.offered.len(), t.relevant.len() + 6, "{}", t.id);
        assert!(t.relevant.iter().all(|r| t.offered.contains(r)));
    }
    // a different world seed changes the answers
    let other = bench(SyntheticConfig {
        world_seed: 8,
        ..SyntheticConfig::default()
    })?;
    let a: Vec<String> = test.iter().map(|t| t.answer.clone()).collect();
    let b2: Vec<String> = other
        .tasks(Split::Test, 300, 5)?
        .iter()
        .map(|t| t.answer.clone())
        .collect();
    assert_ne!(a, b2);
    Ok(())
}

#[test]
fn shared_entity_split_shares_names_but_never_a_train_task() -> Result<()> {
    let b = bench(SyntheticConfig {
        entity_split: EntitySplit::Shared,
        ..SyntheticConfig::default()
    })?;
    let train = b.tasks(Split::Train, 400, 5)?;
    let test = b.tasks(Split::Test, 400, 5)?;
    let key = |t: &SyntheticTask| (t.template.clone(), t.plan[0].arguments.clone());
    let train_pairs: HashSet<(String, String)> = train.iter().map(key).collect();
    assert!(
        test.iter().all(|t| !train_pairs.contains(&key(t))),
        "a test task pairs a template with a start entity as a train task does"
    );
    // ...while most test start names are also named by some train query
    let train_starts: HashSet<&str> = train.iter().map(|t| t.plan[0].arguments.as_str()).collect();
    let shared = test
        .iter()
        .filter(|t| train_starts.contains(t.plan[0].arguments.as_str()))
        .count();
    assert!(shared * 2 > test.len(), "{shared} of {} shared", test.len());
    // task ids parse back to the draw that made them
    assert_eq!(parse_task_id(&test[7].id), Some((Split::Test, 5, 7)));
    assert_eq!(parse_task_id(&train[0].id), Some((Split::Train, 5, 0)));
    assert_eq!(parse_task_id("56543"), None);
    assert_eq!(parse_task_id("dev-1-2"), None);
    // the default split is unchanged by the new field
    let default: SyntheticConfig = serde_json::from_str("{}")
        .map_err(|e| steptool_env::Error::config("synthetic", e.to_string()))?;
    assert_eq!(default.entity_split, EntitySplit::Disjoint);
    Ok(())
}

#[test]
fn config_is_validated() {
    for bad in [
        SyntheticConfig {
            min_calls: 0,
            ..SyntheticConfig::default()
        },
        SyntheticConfig {
            max_calls: 5,
            ..SyntheticConfig::default()
        },
        SyntheticConfig {
            min_calls: 3,
            max_calls: 2,
            ..SyntheticConfig::default()
        },
        SyntheticConfig {
            lookalike_share: 1.5,
            ..SyntheticConfig::default()
        },
        SyntheticConfig {
            entities_per_kind: 1,
            ..SyntheticConfig::default()
        },
    ] {
        assert!(SyntheticBenchmark::new(bad).is_err());
    }
    let unknown: std::result::Result<SyntheticConfig, _> =
        serde_json::from_str(r#"{"max_cals": 3}"#);
    assert!(unknown.is_err());
}

#[test]
fn annotator_scores_expert_and_mistakes() -> Result<()> {
    let b = bench(SyntheticConfig {
        min_calls: 3,
        max_calls: 3,
        ..SyntheticConfig::default()
    })?;
    let tasks = b.tasks(Split::Train, 30, 7)?;
    let expert = ExpertAgent::new(&tasks);
    for (r, t) in roll(&b, &tasks, &expert, Strategy::Cot, 4)?
        .iter()
        .zip(&tasks)
    {
        let traj = r.trajectory.as_ref().expect("expert makes turns");
        let a = annotate(&b, t, traj)?;
        assert_eq!(a.steps.len(), 3);
        assert!(a
            .steps
            .iter()
            .all(|s| s.succ_calling && s.contribution == 1.0));
        assert_eq!(a.is_solved, steptool_env::metrics::AnswerStatus::Solved);
    }
    // Only wrong arguments, always: the first plan call is never made, nothing contributes,
    // nothing is solved (a corrupted name still "succeeds": the search returns no match).
    let wrong = NoisyExpertAgent::with_kinds(&tasks, 1.0, 1, vec![NoiseKind::WrongArgument])?;
    for (r, t) in roll(&b, &tasks, &wrong, Strategy::Cot, 4)?
        .iter()
        .zip(&tasks)
    {
        let a = annotate(&b, t, r.trajectory.as_ref().expect("turns were made"))?;
        assert!(a.steps.iter().all(|s| s.contribution == 0.0));
        assert_eq!(a.is_solved, steptool_env::metrics::AnswerStatus::Unsolved);
    }
    // Only wrong tools: calls with the wrong parameter names fail (SuccCalling 0).
    let wrong_tool = NoisyExpertAgent::with_kinds(&tasks, 1.0, 1, vec![NoiseKind::WrongTool])?;
    let mut failed = 0;
    for (r, t) in roll(&b, &tasks, &wrong_tool, Strategy::Cot, 4)?
        .iter()
        .zip(&tasks)
    {
        let a = annotate(&b, t, r.trajectory.as_ref().expect("turns were made"))?;
        assert!(a.steps.iter().all(|s| s.contribution == 0.0));
        failed += a.steps.iter().filter(|s| !s.succ_calling).count();
    }
    assert!(failed > 30, "{failed} failed calls of 90");
    Ok(())
}
