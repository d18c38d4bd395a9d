//! From rollouts to reported numbers, and expert demonstrations through the chat formats.

use std::sync::Arc;

use approx::assert_abs_diff_eq;
use steptool_env::metrics::{
    compare, evaluate, AnswerStatus, EvalOptions, ExactJudge, RulesOnly, WinRateOutcome,
};
use steptool_env::rollout::{run_many, RolloutConfig, Strategy};
use steptool_env::synthetic::{
    annotate, expert_demonstrations, ExpertAgent, NoisyExpertAgent, Split, SyntheticBenchmark,
    SyntheticConfig, SyntheticEnv, SyntheticEnvConfig,
};
use steptool_env::Result;
use steptool_mdp::ChatFormat;

#[test]
fn evaluate_reports_pass_rate_recall_and_pass_at_k() -> Result<()> {
    let bench = Arc::new(SyntheticBenchmark::new(SyntheticConfig {
        max_calls: 3,
        ..SyntheticConfig::default()
    })?);
    let tasks = bench.tasks(Split::Test, 40, 3)?;
    let env = SyntheticEnv::new(bench.clone(), SyntheticEnvConfig::default());
    let config = RolloutConfig {
        samples: 4,
        strategy: Strategy::Cot,
        ..RolloutConfig::default()
    };
    let options = EvalOptions {
        ks: vec![1, 2, 4],
        rounds: 3,
        ..EvalOptions::default()
    };

    let expert = run_many(&env, &tasks, &ExpertAgent::new(&tasks), &config, false)?.records;
    let report = evaluate(&expert, &ExactJudge, &options)?;
    assert_eq!((report.queries, report.samples), (40, 4));
    assert_eq!(
        (report.pass_rate.mean, report.pass_rate.std, report.recall),
        (1.0, 0.0, 1.0)
    );
    assert!(report.pass_at_k.values().all(|&v| v == 1.0));
    assert!(report.to_markdown().contains("| pass rate | 100.0 ± 0.0 |"));

    let noisy = NoisyExpertAgent::new(&tasks, 0.3, 5)?;
    let records = run_many(&env, &tasks, &noisy, &config, false)?.records;
    let report = evaluate(&records, &ExactJudge, &options)?;
    // pass@1 is the mean per-query fraction of solved samples (c/n), computed independently here
    let mut fractions = 0.0;
    for t in &tasks {
        let solved = records
            .iter()
            .filter(|r| r.query_id == t.id)
            .filter(|r| {
                r.trajectory
                    .as_ref()
                    .and_then(|traj| annotate(&bench, t, traj).ok())
                    .is_some_and(|a| a.is_solved == AnswerStatus::Solved)
            })
            .count();
        fractions += solved as f64 / 4.0;
    }
    assert_abs_diff_eq!(report.pass_at_k[&1], fractions / 40.0, epsilon = 1e-12);
    assert!(
        report.pass_at_k[&1] < report.pass_at_k[&2] && report.pass_at_k[&2] < report.pass_at_k[&4]
    );
    assert!(report.pass_at_k[&1] < 1.0 && report.pass_at_k[&1] > 0.0);
    // the exact judge is deterministic: every round agrees
    assert_eq!(report.pass_rate.std, 0.0);
    // k above the sample count is an error
    let bad = EvalOptions {
        ks: vec![5],
        ..EvalOptions::default()
    };
    assert!(evaluate(&records, &ExactJudge, &bad).is_err());
    Ok(())
}

#[test]
fn expert_demonstrations_render_through_the_chat_formats() -> Result<()> {
    let bench = Arc::new(SyntheticBenchmark::new(SyntheticConfig::default())?);
    let tasks = bench.tasks(Split::Train, 12, 8)?;
    let demos = expert_demonstrations(&bench, &tasks)?;
    assert_eq!(demos.len(), 12);
    for (d, t) in demos.iter().zip(&tasks) {
        assert_eq!(d.len(), t.plan.len() + 1);
        assert!(d.final_answer().is_some_and(|a| a.contains(&t.answer)));
        let rewards = vec![1.0; d.len()];
        for format in [
            ChatFormat::ToolLlama,
            ChatFormat::Qwen2,
            ChatFormat::Llama31,
        ] {
            let sample = format.training_sample(d, &rewards)?;
            assert_eq!(sample.num_steps(), d.len());
            assert!(sample.dialogue().contains(&t.query));
        }
    }
    Ok(())
}

#[test]
fn win_rate_of_two_record_sets() -> Result<()> {
    let bench = Arc::new(SyntheticBenchmark::new(SyntheticConfig {
        max_calls: 3,
        ..SyntheticConfig::default()
    })?);
    let tasks = bench.tasks(Split::Test, 60, 4)?;
    let env = SyntheticEnv::new(bench.clone(), SyntheticEnvConfig::default());
    let config = RolloutConfig::default();
    let expert = run_many(&env, &tasks, &ExpertAgent::new(&tasks), &config, false)?.records;
    let noisy = run_many(
        &env,
        &tasks,
        &NoisyExpertAgent::new(&tasks, 0.3, 2)?,
        &config,
        false,
    )?
    .records;
    let w = compare(&noisy, &expert, &ExactJudge, 3, &RulesOnly)?;
    // The expert always solves: it wins exactly where the noisy reference failed, ties elsewhere.
    let failed = noisy
        .iter()
        .zip(&tasks)
        .filter(|(r, t)| {
            !r.trajectory
                .as_ref()
                .and_then(|traj| annotate(&bench, t, traj).ok())
                .is_some_and(|a| a.is_solved == AnswerStatus::Solved)
        })
        .count();
    assert!(failed > 0 && failed < 60, "{failed}");
    assert_abs_diff_eq!(w.win_rate, failed as f64 / 60.0, epsilon = 1e-12);
    assert!(w.per_query.iter().all(|q| q.3 != WinRateOutcome::Lose));
    // Dropping a query from the reference gives it to the candidate.
    let w2 = compare(&noisy[1..], &expert, &ExactJudge, 3, &RulesOnly)?;
    assert_eq!(
        w2.per_query
            .iter()
            .find(|q| q.0 == tasks[0].id)
            .map(|q| q.3),
        Some(WinRateOutcome::Win)
    );
    Ok(())
}
