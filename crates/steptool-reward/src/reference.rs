//! Files of the StepTool reference: converted predictions in (formats.md §2.1), reward
//! annotation JSON in and out (formats.md §2.4), and the converter from annotations to step
//! rewards that the reference lacks (its issue #6; formula of formats.md §2.5 via
//! [`RewardShaper`]).
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

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use steptool_mdp::{ChatFormat, StepSample, Trajectory};

use crate::annotation::{AnswerStatus, Provenance, RoundScores, StepAnnotation};
use crate::error::{Error, Result};
use crate::hash::sha256_hex;
use crate::judge::prompt::{final_step_string, step_strings};
use crate::shaper::RewardShaper;

/// One round's intermediate scores in the reference file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReferenceRound {
    /// SuccCalling per intermediate step.
    pub succeed_tool_calling: Vec<f64>,
    /// Contribution per intermediate step.
    pub contributions: Vec<f64>,
}

/// One entry of a reference annotation file (formats.md §2.4).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReferenceEntry {
    /// The query text.
    pub query: String,
    /// Function names offered, `Finish` included.
    pub tool_names: Vec<String>,
    /// `"Step k: {dict repr}"` for every intermediate step.
    pub answer_steps: Vec<String>,
    /// Scores per round, keyed `"0"`, `"1"`, … (any order in the file).
    pub process_reward: Map<String, Value>,
    /// `"Final step: {dict repr}"`.
    pub final_step: String,
    /// `"AnswerStatus.X"` per round, same keys as `process_reward`.
    pub is_solved: Map<String, Value>,
}

/// The provenance given to annotations read from a reference file.
pub fn reference_provenance() -> Provenance {
    Provenance {
        annotator: "reference_json".into(),
        model: None,
        prompt_hash: None,
        config_hash: sha256_hex(b"StepTool reference annotation JSON (formats.md 2.4)"),
    }
}

impl ReferenceEntry {
    /// The entry as a validated [`StepAnnotation`]; rounds in numeric key order.
    pub fn to_annotation(&self, query_id: &str, path: &Path) -> Result<StepAnnotation> {
        let bad = |message: String| Error::ReferenceFormat {
            path: path.to_owned(),
            query_id: query_id.to_owned(),
            message,
        };
        let round_keys =
            |map: &Map<String, Value>, field: &str| -> Result<BTreeMap<usize, Value>> {
                map.iter()
                    .map(|(k, v)| {
                        k.parse::<usize>().map(|k| (k, v.clone())).map_err(|_| {
                            bad(format!("`{field}` has a non-numeric round key {k:?}"))
                        })
                    })
                    .collect()
            };
        let scores = round_keys(&self.process_reward, "process_reward")?;
        let statuses = round_keys(&self.is_solved, "is_solved")?;
        if !scores.keys().eq(statuses.keys()) {
            return Err(bad(format!(
                "`process_reward` rounds {:?} and `is_solved` rounds {:?} differ",
                scores.keys().collect::<Vec<_>>(),
                statuses.keys().collect::<Vec<_>>()
            )));
        }
        let mut rounds = Vec::with_capacity(scores.len());
        for ((k, score), status) in scores.into_iter().zip(statuses.into_values()) {
            let round: ReferenceRound = serde_json::from_value(score).map_err(|source| {
                Error::json(
                    format!(
                        "{}: entry {query_id:?}: process_reward[{k:?}]",
                        path.display()
                    ),
                    source,
                )
            })?;
            let status = status
                .as_str()
                .and_then(AnswerStatus::parse_reference)
                .ok_or_else(|| {
                    bad(format!(
                        "is_solved[{k:?}] = {status} is not an AnswerStatus"
                    ))
                })?;
            rounds.push(RoundScores {
                succeed_tool_calling: round
                    .succeed_tool_calling
                    .iter()
                    .map(|&v| v as f32)
                    .collect(),
                contributions: round.contributions.iter().map(|&v| v as f32).collect(),
                status,
            });
        }
        StepAnnotation::new(
            Some(query_id.to_owned()),
            self.answer_steps.len() + 1,
            rounds,
            reference_provenance(),
        )
        .map_err(|e| bad(e.to_string()))
    }

    /// The entry the reference script would write for `trajectory` and `annotation`.
    pub fn from_annotation(trajectory: &Trajectory, annotation: &StepAnnotation) -> Result<Self> {
        annotation.check_matches(trajectory)?;
        let mut process_reward = Map::new();
        let mut is_solved = Map::new();
        for (k, r) in annotation.rounds().iter().enumerate() {
            process_reward.insert(
                k.to_string(),
                serde_json::json!({
                    "succeed_tool_calling": r.succeed_tool_calling.iter().map(|&v| number(v)).collect::<Vec<_>>(),
                    "contributions": r.contributions.iter().map(|&v| number(v)).collect::<Vec<_>>(),
                }),
            );
            is_solved.insert(k.to_string(), Value::from(r.status.reference_str()));
        }
        Ok(Self {
            query: trajectory.query().to_owned(),
            tool_names: trajectory.tools().iter().map(|t| t.name.clone()).collect(),
            answer_steps: step_strings(trajectory),
            process_reward,
            final_step: final_step_string(trajectory),
            is_solved,
        })
    }
}

/// Integral scores as JSON integers (as the reference writes them), others as floats.
fn number(v: f32) -> Value {
    if v.fract() == 0.0 && v.abs() < 1e9 {
        Value::from(v as i64)
    } else {
        Value::from(f64::from(v))
    }
}

/// Read a reference annotation file: `(query id, entry)` in file order.
pub fn read_annotations(path: impl AsRef<Path>) -> Result<Vec<(String, ReferenceEntry)>> {
    let path = path.as_ref();
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    let top: Map<String, Value> = serde_json::from_str(&text)
        .map_err(|source| Error::json(path.display().to_string(), source))?;
    top.into_iter()
        .map(|(qid, v)| {
            let entry: ReferenceEntry = serde_json::from_value(v).map_err(|source| {
                Error::json(format!("{}: entry {qid:?}", path.display()), source)
            })?;
            Ok((qid, entry))
        })
        .collect()
}

/// Write a reference annotation file exactly as `json.dump(obj, f, indent=4, ensure_ascii=False)`.
pub fn write_annotations(
    path: impl AsRef<Path>,
    entries: &[(String, ReferenceEntry)],
) -> Result<()> {
    let path = path.as_ref();
    let mut top = Map::new();
    for (qid, entry) in entries {
        let v = serde_json::to_value(entry)
            .map_err(|source| Error::json(format!("entry {qid:?}"), source))?;
        top.insert(qid.clone(), v);
    }
    let mut out = Vec::new();
    let formatter = serde_json::ser::PrettyFormatter::with_indent(b"    ");
    let mut ser = serde_json::Serializer::with_formatter(&mut out, formatter);
    Value::Object(top)
        .serialize(&mut ser)
        .map_err(|source| Error::json(path.display().to_string(), source))?;
    std::fs::write(path, out).map_err(|e| Error::io(path, e))
}

/// The converter the reference lacks: every entry of a reference annotation file to one reward
/// per step, `(query id, rewards)` in file order.
pub fn rewards_from_file(
    path: impl AsRef<Path>,
    shaper: &RewardShaper,
) -> Result<Vec<(String, Vec<f64>)>> {
    let path = path.as_ref();
    read_annotations(path)?
        .into_iter()
        .map(|(qid, entry)| {
            let a = entry.to_annotation(&qid, path)?;
            Ok((qid, shaper.shape_f64(&a)))
        })
        .collect()
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
