//! A user's own `RewardAnnotator`, plugged into everything the crate offers: the cache wrapper,
//! batch annotation, the shaper and the reference annotation writer.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use anyhow::{ensure, Context, Result};
use steptool_mdp::{Step, ToolCall, ToolSchema, Trajectory};
use steptool_reward::reference;
use steptool_reward::{
    annotate_batch, AnnotationCache, AnswerStatus, BatchOptions, CachedAnnotator, Error,
    Provenance, RewardAnnotator, RewardShaper, RoundScores, ShaperConfig, StepAnnotation,
};

/// A ground-truth annotator for a synthetic task: a call succeeds when its observation has no
/// "error"; it contributes 5 when its observation's value appears in the final answer; the
/// answer is solved when it contains the expected value. Counts its calls.
struct GroundTruth {
    expected: String,
    calls: AtomicUsize,
}

impl RewardAnnotator for GroundTruth {
    fn name(&self) -> &str {
        "ground_truth"
    }

    fn fingerprint(&self) -> String {
        format!("ground_truth v1 expected={}", self.expected)
    }

    fn annotate(&self, t: &Trajectory) -> steptool_reward::Result<StepAnnotation> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        let answer = t.final_answer().ok_or_else(|| Error::Annotator {
            annotator: self.name().into(),
            trajectory: t.query_id().unwrap_or("<no id>").into(),
            message: "no final answer to check".into(),
        })?;
        let mut succ = Vec::new();
        let mut contrib = Vec::new();
        for step in t.intermediate_steps() {
            let obs = step.observation.as_deref().unwrap_or("");
            succ.push(if obs.contains("error") { 0.0 } else { 1.0 });
            let value = obs.rsplit(':').next().unwrap_or("").trim();
            contrib.push(if !value.is_empty() && answer.contains(value) {
                5.0
            } else {
                0.0
            });
        }
        let status = if answer.contains(&self.expected) {
            AnswerStatus::Solved
        } else {
            AnswerStatus::Unsolved
        };
        let round = RoundScores {
            succeed_tool_calling: succ,
            contributions: contrib,
            status,
        };
        StepAnnotation::for_trajectory(t, vec![round], Provenance::of(self))
    }
}

fn trajectory(id: &str, obs: &[&str], answer: Option<&str>) -> Result<Trajectory> {
    let mut steps: Vec<Step> = obs
        .iter()
        .map(|o| {
            Step::new(
                ToolCall::new("lookup", r#"{"k": 1}"#),
                Some((*o).to_owned()),
            )
        })
        .collect();
    let finish = match answer {
        Some(a) => format!(r#"{{"return_type": "give_answer", "final_answer": "{a}"}}"#),
        None => r#"{"return_type": "give_up_and_restart"}"#.to_owned(),
    };
    steps.push(Step::new(ToolCall::new("Finish", finish), None));
    Ok(Trajectory::new(
        Some(id.into()),
        "What is x?",
        vec![ToolSchema::named("lookup"), ToolSchema::named("Finish")],
        steps,
    )?)
}

#[test]
fn custom_annotator_end_to_end() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let batch = vec![
        trajectory("a", &["x: 42", "error: timeout"], Some("x is 42"))?,
        trajectory("b", &["x: 7"], Some("x is 41"))?,
        trajectory("c", &["x: 42"], None)?, // gives up: the annotator refuses it
    ];
    let user = GroundTruth {
        expected: "42".into(),
        calls: AtomicUsize::new(0),
    };
    let cache = Arc::new(AnnotationCache::open_dir(dir.path())?);
    let cached = CachedAnnotator::new(&user, cache.clone());
    let report = annotate_batch(
        &cached,
        &batch,
        &BatchOptions {
            threads: 2,
            progress: false,
        },
    )?;
    assert_eq!((report.summary.annotated, report.summary.failed), (2, 1));
    let err = report.results[2].as_ref().err().context("c should fail")?;
    ensure!(
        err.to_string().contains("ground_truth") && err.to_string().contains("trajectory c"),
        "{err}"
    );

    let a = report.results[0]
        .as_ref()
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    // step 0: succ 1, "42" in the answer -> (5*1 + 5)/10 = 1.0
    // step 1: "error" -> succ 0, "timeout" not in the answer -> 0; final Solved -> 1.0
    assert_eq!(RewardShaper::default().shape(a), vec![1.0, 0.0, 1.0]);
    let b = report.results[1]
        .as_ref()
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    // step 0: succ 1, "7" not in "x is 41" -> 5/10 = 0.5; Unsolved -> 0
    assert_eq!(RewardShaper::default().shape(b), vec![0.5, 0.0]);
    // The ablation keeps only the final reward.
    let ablation = RewardShaper::new(ShaperConfig {
        step_rewards: false,
        ..ShaperConfig::default()
    })?;
    assert_eq!(ablation.shape(a), vec![0.0, 0.0, 1.0]);
    assert_eq!(a.provenance().annotator, "ground_truth");

    // Second pass: answered trajectories come from the cache; only the failed one is retried.
    assert_eq!(user.calls.load(Ordering::SeqCst), 3);
    let again = annotate_batch(
        &cached,
        &batch,
        &BatchOptions {
            threads: 2,
            progress: false,
        },
    )?;
    assert_eq!(user.calls.load(Ordering::SeqCst), 4);
    assert_eq!(again.summary.usage.cache_hits, 2);
    let replayed = again.results[0]
        .as_ref()
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    assert_eq!(replayed.rounds(), a.rounds());

    // And it writes the reference annotation format.
    let entry = reference::to_entry(&batch[0], a)?;
    assert_eq!(
        entry.answer_steps[1],
        r#"Step 2: {'name': 'lookup', 'arguments': '{"k": 1}', 'response': 'error: timeout'}"#
    );
    assert_eq!(
        entry.is_solved,
        vec![(
            "0".to_owned(),
            steptool_mdp::formats::annotation::ReferenceStatus(AnswerStatus::Solved)
        )]
    );
    Ok(())
}

#[test]
fn cache_rejects_an_annotation_of_another_trajectory() -> Result<()> {
    /// A broken annotator that always answers for a 1-step trajectory.
    struct Broken;
    impl RewardAnnotator for Broken {
        fn name(&self) -> &str {
            "broken"
        }
        fn fingerprint(&self) -> String {
            "broken".into()
        }
        fn annotate(&self, _: &Trajectory) -> steptool_reward::Result<StepAnnotation> {
            let round = RoundScores {
                succeed_tool_calling: vec![],
                contributions: vec![],
                status: AnswerStatus::Solved,
            };
            StepAnnotation::new(Some("other".into()), 1, vec![round], Provenance::of(self))
        }
    }
    let dir = tempfile::tempdir()?;
    let cache = Arc::new(AnnotationCache::open_dir(dir.path())?);
    let t = trajectory("a", &["x: 1"], Some("1"))?;
    let err = CachedAnnotator::new(Broken, cache.clone())
        .annotate(&t)
        .err()
        .context("accepted")?;
    ensure!(
        matches!(err, Error::InvalidAnnotation { .. }) && err.to_string().contains("broken"),
        "{err}"
    );
    assert!(cache.is_empty());
    Ok(())
}
