//! Files of the StepTool reference: converted predictions in (formats.md §2.1), reward
//! annotation JSON in and out (formats.md §2.4), and the converters the reference lacks (its
//! issue #6): annotations to step rewards (formula of formats.md §2.5 via [`RewardShaper`]) and
//! to training rows. The file formats themselves are read and written by
//! `steptool_mdp::formats`; this module maps them to and from [`StepAnnotation`].
//!
//! ```
//! use steptool_reward::{reference, RewardShaper};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../fixtures/reference/reward_annotation_qwen2_entry_56543.json");
//! let rewards = reference::rewards_from_file(path, &RewardShaper::default())?;
//! // step 0: (1+1+2)/10/3, step 1: (2+8+3)/10/3, final (Unsure, Unsolved, Unsure): (0.5+0+0.5)/3
//! assert_eq!(rewards[0].0, "56543");
//! assert!((rewards[0].1[1] - 1.3 / 3.0).abs() < 1e-12);
//! # Ok(()) }
//! ```

use std::path::Path;

use serde_json::Number;
use steptool_mdp::formats::annotation as file;
pub use steptool_mdp::formats::annotation::{AnnotationEntry, ProcessReward};
use steptool_mdp::{ChatFormat, StepSample, Trajectory};

use crate::annotation::{Provenance, RoundScores, StepAnnotation};
use crate::error::{Error, Result};
use crate::hash::sha256_hex;
use crate::judge::prompt::{final_step_string, step_strings};
use crate::shaper::RewardShaper;

/// The provenance given to annotations read from a reference file.
pub fn reference_provenance() -> Provenance {
    Provenance {
        annotator: "reference_json".into(),
        model: None,
        prompt_hash: None,
        config_hash: sha256_hex(b"StepTool reference annotation JSON (formats.md 2.4)"),
    }
}

/// A reference annotation entry as a validated [`StepAnnotation`] of a trajectory with
/// `answer_steps.len() + 1` steps; rounds in numeric key order (the file keeps completion
/// order, e.g. `"1", "0", "2"`). Errors name the query id and the round.
pub fn to_annotation(query_id: &str, entry: &AnnotationEntry) -> Result<StepAnnotation> {
    let bad = |message: String| Error::InvalidAnnotation {
        trajectory: query_id.to_owned(),
        message,
    };
    let round_index = |k: &str, field: &str| {
        k.parse::<usize>()
            .map_err(|_| bad(format!("`{field}` has a non-numeric round key {k:?}")))
    };
    let mut scores = entry
        .process_reward
        .iter()
        .map(|(k, v)| Ok((round_index(k, "process_reward")?, v)))
        .collect::<Result<Vec<_>>>()?;
    let mut statuses = entry
        .is_solved
        .iter()
        .map(|(k, v)| Ok((round_index(k, "is_solved")?, *v)))
        .collect::<Result<Vec<_>>>()?;
    scores.sort_by_key(|(k, _)| *k);
    statuses.sort_by_key(|(k, _)| *k);
    let score_keys: Vec<usize> = scores.iter().map(|(k, _)| *k).collect();
    let status_keys: Vec<usize> = statuses.iter().map(|(k, _)| *k).collect();
    if score_keys != status_keys {
        return Err(bad(format!(
            "`process_reward` rounds {score_keys:?} and `is_solved` rounds {status_keys:?} differ"
        )));
    }
    let rounds = scores
        .into_iter()
        .zip(statuses)
        .map(|((k, reward), (_, status))| {
            let (succ, contrib) = reward.as_f64();
            if succ.iter().chain(&contrib).any(|v| !v.is_finite()) {
                return Err(bad(format!(
                    "process_reward[{k:?}] holds a non-finite number"
                )));
            }
            Ok(RoundScores {
                succeed_tool_calling: succ.iter().map(|&v| v as f32).collect(),
                contributions: contrib.iter().map(|&v| v as f32).collect(),
                status: status.0,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    StepAnnotation::new(
        Some(query_id.to_owned()),
        entry.answer_steps.len() + 1,
        rounds,
        reference_provenance(),
    )
}

/// The entry the reference script would write for `trajectory` and `annotation`: Python-repr
/// step strings, rounds keyed `"0"`, `"1"`, …, integral scores as JSON integers.
pub fn to_entry(trajectory: &Trajectory, annotation: &StepAnnotation) -> Result<AnnotationEntry> {
    annotation.check_matches(trajectory)?;
    let numbers = |v: &[f32]| -> Result<Vec<Number>> {
        v.iter()
            .map(|&x| {
                if x.fract() == 0.0 && x.abs() < 1e9 {
                    Ok(Number::from(x as i64))
                } else {
                    Number::from_f64(f64::from(x)).ok_or_else(|| Error::InvalidAnnotation {
                        trajectory: annotation.query_id().unwrap_or("<no id>").to_owned(),
                        message: format!("score {x} is not a finite number"),
                    })
                }
            })
            .collect()
    };
    let mut process_reward = Vec::new();
    let mut is_solved = Vec::new();
    for (k, r) in annotation.rounds().iter().enumerate() {
        process_reward.push((
            k.to_string(),
            ProcessReward {
                succeed_tool_calling: numbers(&r.succeed_tool_calling)?,
                contributions: numbers(&r.contributions)?,
            },
        ));
        is_solved.push((k.to_string(), file::ReferenceStatus(r.status)));
    }
    Ok(AnnotationEntry {
        query: trajectory.query().to_owned(),
        tool_names: trajectory.tools().iter().map(|t| t.name.clone()).collect(),
        answer_steps: step_strings(trajectory),
        process_reward,
        final_step: final_step_string(trajectory),
        is_solved,
    })
}

/// Read a reference annotation file as validated annotations, `(query id, annotation)` in file
/// order; an invalid entry is an error naming the file and the query id.
pub fn read_annotations(path: impl AsRef<Path>) -> Result<Vec<(String, StepAnnotation)>> {
    let path = path.as_ref();
    file::read_annotations(path)?
        .into_iter()
        .map(|(qid, entry)| {
            let a = to_annotation(&qid, &entry).map_err(|e| Error::ReferenceFormat {
                path: path.to_owned(),
                query_id: qid.clone(),
                message: e.to_string(),
            })?;
            Ok((qid, a))
        })
        .collect()
}

/// Read the raw entries of a reference annotation file (the text fields included).
pub fn read_entries(path: impl AsRef<Path>) -> Result<Vec<(String, AnnotationEntry)>> {
    Ok(file::read_annotations(path)?)
}

/// Write a reference annotation file exactly as `json.dump(obj, f, indent=4, ensure_ascii=False)`.
pub fn write_annotations(
    path: impl AsRef<Path>,
    entries: &[(String, AnnotationEntry)],
) -> Result<()> {
    Ok(file::write_annotations(path, entries)?)
}

/// The converter the reference lacks: every entry of a reference annotation file to one reward
/// per step, `(query id, rewards)` in file order.
pub fn rewards_from_file(
    path: impl AsRef<Path>,
    shaper: &RewardShaper,
) -> Result<Vec<(String, Vec<f64>)>> {
    Ok(read_annotations(path)?
        .into_iter()
        .map(|(qid, a)| (qid, shaper.shape_f64(&a)))
        .collect())
}

/// The converter from converted predictions plus annotations to StepTool training rows
/// (formats.md §1.3, §2.5): the trajectory rendered in `format` as prompt/response segments,
/// with the shaped reward of every step. Write it with the TSV writer of `steptool-mdp`.
pub fn training_sample(
    format: ChatFormat,
    trajectory: &Trajectory,
    annotation: &StepAnnotation,
    shaper: &RewardShaper,
) -> Result<StepSample> {
    annotation.check_matches(trajectory)?;
    Ok(format.training_sample(trajectory, &shaper.shape_f64(annotation))?)
}

/// Read a converted-predictions file (formats.md §2.1) into trajectories, in file order.
///
/// Delegates to [`steptool_mdp::formats::converted::read_converted_trajectories`]: each `tool`
/// node becomes a step (`name`, raw `arguments`, `response` as the observation, none for
/// `Finish`), the text of an `assistant` node becomes the thought of the following step.
pub fn read_converted_predictions(path: impl AsRef<Path>) -> Result<Vec<Trajectory>> {
    Ok(steptool_mdp::formats::converted::read_converted_trajectories(path)?)
}
