//! The JSON in / JSON out of `steptool advantages`, so that the CLI only parses flags.
//!
//! Input: `{"episodes": [{"num_tokens": L, "action_spans": [[s, e], ...], "step_rewards": [...],
//! "logprobs": [...], "ref_logprobs": [...], "values": [...], "bootstrap_value": v?}]}`.
//! Output: `{"episodes": [{"rewards", "advantages_raw", "advantages", "returns", "mask"}],
//! "whiten_mean": m, "whiten_var": v}` (`null` statistics when whitening is off), plus
//! `"step_diagnostics"` when asked for.
//!
//! The input is read field by field so that every error names the episode and the field.

use std::io::Read;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::diagnostics::StepIndexStats;
use crate::error::{Error, Result};
use crate::estimator::{AdvantageEstimator, BatchAdvantages};
use crate::input::EpisodeInput;

/// The input of `steptool advantages`: a batch of episodes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdvantagesRequest {
    /// The batch (whitening spans all of it).
    pub episodes: Vec<EpisodeInput>,
}

const FIELDS: [&str; 7] = [
    "num_tokens",
    "action_spans",
    "step_rewards",
    "logprobs",
    "ref_logprobs",
    "values",
    "bootstrap_value",
];

impl AdvantagesRequest {
    /// Parse a request from a reader. Errors name the episode and field (the shape is checked
    /// here; the numbers by [`AdvantageEstimator::compute`]).
    pub fn from_reader(reader: impl Read) -> Result<Self> {
        let value: Value = serde_json::from_reader(reader).map_err(|source| Error::Json {
            context: "input".into(),
            source,
        })?;
        Self::from_value(value)
    }

    /// Parse a request from a JSON value (see [`AdvantagesRequest::from_reader`]).
    pub fn from_value(value: Value) -> Result<Self> {
        let shape = |context: &str, message: String| Error::JsonShape {
            context: context.into(),
            message,
        };
        let Value::Object(mut top) = value else {
            return Err(shape(
                "input",
                "expected an object {\"episodes\": [...]}".into(),
            ));
        };
        if let Some(key) = top.keys().find(|k| *k != "episodes") {
            return Err(shape(
                "input",
                format!("unknown field `{key}`, expected `episodes`"),
            ));
        }
        let Some(Value::Array(items)) = top.remove("episodes") else {
            return Err(shape("input", "field `episodes` must be an array".into()));
        };
        let episodes = items
            .into_iter()
            .enumerate()
            .map(|(i, item)| episode_from_value(i, item))
            .collect::<Result<_>>()?;
        Ok(Self { episodes })
    }
}

fn episode_from_value(i: usize, item: Value) -> Result<EpisodeInput> {
    let context = format!("episode {i}");
    let Value::Object(mut map) = item else {
        return Err(Error::JsonShape {
            context,
            message: "expected an object".into(),
        });
    };
    if let Some(key) = map.keys().find(|k| !FIELDS.contains(&k.as_str())) {
        return Err(Error::JsonShape {
            context,
            message: format!(
                "unknown field `{key}`, expected one of {}",
                FIELDS.join(", ")
            ),
        });
    }
    Ok(EpisodeInput {
        num_tokens: field(i, &mut map, "num_tokens")?,
        action_spans: field(i, &mut map, "action_spans")?,
        step_rewards: field(i, &mut map, "step_rewards")?,
        logprobs: field(i, &mut map, "logprobs")?,
        ref_logprobs: field(i, &mut map, "ref_logprobs")?,
        values: field(i, &mut map, "values")?,
        bootstrap_value: match map.remove("bootstrap_value") {
            None | Some(Value::Null) => None,
            Some(v) => Some(parse(i, "bootstrap_value", v)?),
        },
    })
}

fn field<T: DeserializeOwned>(i: usize, map: &mut Map<String, Value>, name: &str) -> Result<T> {
    match map.remove(name) {
        Some(v) => parse(i, name, v),
        None => Err(Error::JsonShape {
            context: format!("episode {i}"),
            message: format!("missing field `{name}`"),
        }),
    }
}

fn parse<T: DeserializeOwned>(i: usize, name: &str, value: Value) -> Result<T> {
    serde_json::from_value(value).map_err(|source| Error::Json {
        context: format!("episode {i}, field `{name}`"),
        source,
    })
}

/// One episode of the output; `mask` as 0/1.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EpisodeJson {
    /// Per-token rewards.
    pub rewards: Vec<f32>,
    /// Advantages before whitening.
    pub advantages_raw: Vec<f32>,
    /// Whitened advantages.
    pub advantages: Vec<f32>,
    /// Return targets.
    pub returns: Vec<f32>,
    /// 1 where the estimator trains.
    pub mask: Vec<u8>,
}

/// The output of `steptool advantages`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AdvantagesResponse {
    /// One result per input episode, in input order.
    pub episodes: Vec<EpisodeJson>,
    /// Batch mean used by whitening (`null` when whitening is off).
    pub whiten_mean: Option<f64>,
    /// Batch unbiased variance used by whitening (`null` when whitening is off).
    pub whiten_var: Option<f64>,
    /// Per-step-index means, when asked for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub step_diagnostics: Option<Vec<StepIndexStats>>,
}

impl AdvantagesResponse {
    /// The JSON view of a batch result; `diagnostics` keeps the per-step-index statistics.
    pub fn new(batch: BatchAdvantages, diagnostics: bool) -> Self {
        Self {
            whiten_mean: batch.whitening.map(|w| w.mean),
            whiten_var: batch.whitening.map(|w| w.var),
            step_diagnostics: diagnostics.then_some(batch.step_stats),
            episodes: batch
                .episodes
                .into_iter()
                .map(|e| EpisodeJson {
                    rewards: e.rewards,
                    advantages_raw: e.advantages_raw,
                    advantages: e.advantages,
                    returns: e.returns,
                    mask: e.mask.into_iter().map(u8::from).collect(),
                })
                .collect(),
        }
    }
}

/// Read a request from `reader`, compute it with `estimator`, and return the response.
pub fn run_json(
    estimator: &AdvantageEstimator,
    reader: impl Read,
    diagnostics: bool,
) -> Result<AdvantagesResponse> {
    let request = AdvantagesRequest::from_reader(reader)?;
    let batch = estimator.compute(&request.episodes)?;
    Ok(AdvantagesResponse::new(batch, diagnostics))
}
