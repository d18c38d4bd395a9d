//! The paper's study at small scale (`steptool experiment`): every method of Table 3 (and the
//! on-policy StepTool beyond it) from one SFT start, on the synthetic benchmark's held-out
//! tasks, over several seeds, in one report.
//!
//! ```text
//! start     SFT of the tiny LLaMA (or --model) on the expert's demonstrations -> start/
//! per seed  collection: K samples per train task at T with the start policy, annotated by the
//!           ground truth (seed-S/collection.jsonl, shared by every offline method)
//!           sft                        the start, untrained
//!           rft                        SFT from the start on expert + solved samples
//!           eto_dpo                    DPO (LoRA) on the collection's success/failure pairs
//!           ppo_final                  PPO, final reward only (estimator final_reward)
//!           steptool                   PPO, step rewards (eq. 3) + per-step GAE
//!           steptool_wo_step_reward    per-step GAE, intermediate rewards 0
//!           steptool_wo_step_optimization  step rewards, each step its own sub-trajectory
//!           steptool_online            StepTool collecting afresh every pass (ours)
//!           each trained method: the same number of optimizer updates (spec.updates())
//! evaluate  greedy CoT and DFSDT on the test tasks (pass rate, recall, actions, error types),
//!           sampled CoT for pass@k -> seed-S/<method>/eval.json
//! report    results.json, results.md, fig5.png, training.png, pass_at_k.png
//! ```
//!
//! A resumed study keeps every method with an `eval.json` and continues unfinished runs from
//! their checkpoints.

pub mod evaluate;
pub mod report;
pub mod run;
pub mod spec;

pub use evaluate::{evaluate_model, MethodEval, StrategyEval};
pub use report::{write_report, MethodResult, Results, StrategyResult};
pub use run::{run_experiment, ExperimentSummary};
pub use spec::{ExperimentSpec, Method, StudyEval};
