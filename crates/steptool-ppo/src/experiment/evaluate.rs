//! One method's held-out evaluation: greedy CoT and DFSDT on the test tasks (pass rate,
//! recall, mean actions, the paper's error types, per-task outcomes for the win rate) and
//! sampled CoT for pass@k.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use steptool_env::metrics::{pass_at_k_mean, record_errors, ErrorSummary};
use steptool_env::rollout::{write_records, RolloutConfig, Strategy};
use steptool_env::synthetic::{Split, SyntheticBenchmark, SyntheticEnv};
use steptool_model::Model;

use super::spec::StudyEval;
use crate::error::Result;
use crate::online::run::evaluate_policy;
use crate::online::{policy_rollouts, OnPolicySpec, PolicySampling, Renderer};
use crate::sft::app::record_solved;

/// One strategy's numbers for one method and seed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StrategyEval {
    /// Test tasks.
    pub tasks: usize,
    /// Share of tasks solved (exact judge on the ground truth), in [0, 1].
    pub pass_rate: f64,
    /// Mean recall of the relevant tools, in [0, 1].
    pub recall: f64,
    /// Mean actions per task.
    pub mean_actions: f64,
    /// Share of tasks with each of the paper's error types, in [0, 1]
    /// (`steptool_env::metrics::error_types` gives the rules).
    pub errors: BTreeMap<String, f64>,
    /// Per test task (query id): solved or not, for the win rate.
    pub solved: BTreeMap<String, bool>,
    /// Rollouts that failed or were pruned by a budget.
    pub failed: usize,
}

/// Everything measured for one method and seed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MethodEval {
    /// Method name.
    pub method: String,
    /// Seed.
    pub seed: u64,
    /// Optimizer updates the method ran beyond the start.
    pub optimizer_updates: u64,
    /// Per strategy (`cot`, `dfsdt`).
    pub strategies: BTreeMap<String, StrategyEval>,
    /// `k -> pass@k` (CoT sampled), in [0, 1].
    pub pass_at_k: BTreeMap<String, f64>,
    /// Greedy CoT pass rate during training: `(optimizer updates done, pass rate)`.
    pub curve: Vec<(u64, f64)>,
    /// What the method's run reported (kept samples, pairs, ...).
    pub notes: BTreeMap<String, serde_json::Value>,
    /// Seconds of training and evaluation.
    pub wall_s: f64,
}

/// The name of a strategy in reports.
pub fn strategy_name(s: Strategy) -> &'static str {
    match s {
        Strategy::Cot => "cot",
        Strategy::Dfsdt => "dfsdt",
    }
}

/// Evaluates `model` on the study's test tasks. With `records_dir`, the trajectories behind
/// the numbers are kept there (`eval-cot.jsonl`, `eval-dfsdt.jsonl`, `pass-at-k.jsonl`).
pub fn evaluate_model(
    model: &Model,
    renderer: &Renderer,
    env_spec: &OnPolicySpec,
    eval: &StudyEval,
    seed: u64,
    records_dir: Option<&Path>,
) -> Result<(BTreeMap<String, StrategyEval>, BTreeMap<String, f64>)> {
    let keep = |name: &str, records: &[steptool_env::rollout::RolloutRecord]| -> Result<()> {
        if let Some(dir) = records_dir {
            std::fs::create_dir_all(dir).map_err(crate::Error::io(dir))?;
            let path = dir.join(name);
            let tmp = steptool_mdp::atomic::temp_sibling(&path);
            write_records(&tmp, records)?;
            std::fs::rename(&tmp, &path).map_err(crate::Error::io(&path))?;
        }
        Ok(())
    };
    let bench = Arc::new(SyntheticBenchmark::new(env_spec.benchmark.clone())?);
    let test = bench.tasks(Split::Test, eval.tasks, env_spec.task_seed)?;
    let env = SyntheticEnv::new(bench, env_spec.env.clone());
    let mut strategies = BTreeMap::new();
    for &strategy in &eval.strategies {
        let (m, records) = evaluate_policy(
            model,
            renderer,
            &env_spec.sampling,
            &env,
            &test,
            &env_spec.rollout,
            strategy,
            0,
        )?;
        keep(&format!("eval-{}.jsonl", strategy_name(strategy)), &records)?;
        let per_answer: Vec<_> = records.iter().map(record_errors).collect();
        let summary = ErrorSummary::from_steps(&per_answer, true);
        // Failed rollouts are unsolved tasks with no steps: shares over all tasks.
        let errors = summary
            .types
            .iter()
            .map(|(t, c)| (t.as_str().to_owned(), c.queries as f64 / test.len() as f64))
            .collect();
        let mut solved: BTreeMap<String, bool> =
            test.iter().map(|t| (t.id.clone(), false)).collect();
        for r in &records {
            if r.sample == 0 {
                solved.insert(r.query_id.clone(), record_solved(r));
            }
        }
        strategies.insert(
            strategy_name(strategy).to_owned(),
            StrategyEval {
                tasks: m.tasks,
                pass_rate: m.pass_rate,
                recall: m.recall,
                mean_actions: m.mean_actions,
                errors,
                solved,
                failed: m.failed,
            },
        );
    }
    // pass@k: sampled CoT, max k samples per task.
    let n = eval.pass_at_k.iter().copied().max().unwrap_or(1);
    let tasks = &test[..eval.pass_at_k_tasks.min(test.len())];
    let cfg = RolloutConfig {
        strategy: Strategy::Cot,
        samples: n,
        seed,
        ..env_spec.rollout.clone()
    };
    let sampling = PolicySampling {
        temperature: eval.pass_at_k_temperature,
        seed,
        ..env_spec.sampling.clone()
    };
    let (summary, _) = policy_rollouts(model, renderer, &sampling, &env, tasks, &cfg, false)?;
    for f in &summary.failures {
        tracing::warn!(task = f.task_index, sample = f.sample, error = %f.error, "pass@k rollout failed: counted as unsolved");
    }
    keep("pass-at-k.jsonl", &summary.records)?;
    // A failed rollout is an unsolved sample: count from the records, over n per task.
    let mut correct: BTreeMap<String, usize> = tasks.iter().map(|t| (t.id.clone(), 0)).collect();
    for r in &summary.records {
        if record_solved(r) {
            *correct.entry(r.query_id.clone()).or_default() += 1;
        }
    }
    let counts: Vec<(usize, usize)> = correct.values().map(|&c| (n, c)).collect();
    let mut pass_at_k = BTreeMap::new();
    for &k in &eval.pass_at_k {
        let v = pass_at_k_mean(&counts, k)?;
        pass_at_k.insert(k.to_string(), v);
    }
    Ok((strategies, pass_at_k))
}
