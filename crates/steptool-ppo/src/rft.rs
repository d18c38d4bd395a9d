//! Rejection-sampling fine-tuning (`steptool rft`): the RFT baseline of the paper's Table 3.
//!
//! ```text
//! sample  K trajectories per synthetic train task (env.train_tasks) at temperature T
//!         (3 and 0.7, the paper's) with the start policy
//! keep    those judged solved (record_solved: the exact judge on the task's ground truth)
//!         and not already in the data (same message list or same token trace)
//! union   the expert data (sft.data) + the kept samples -> <run>/rft/records.jsonl
//!         (kept on resume: the same data)
//! SFT     run_sft on the union, from the same start model, in the same run directory
//! ```
//!
//! Everything after sampling is [`crate::sft::run_sft`]: one optimizer, schedule, checkpoint
//! bundle, metrics writer and plot.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use steptool_env::rollout::{read_records, write_records, RolloutRecord};

use crate::checkpoint::RunDir;
use crate::dpo::app::{explore, start_model_dir};
use crate::error::{Error, Result};
use crate::sft::app::{expert_records, load_policy, record_solved};
use crate::sft::{run_sft, SftData, SftSpec, SftSummary};

/// One RFT run: the sampling settings and the SFT run that follows (its `data` is the expert
/// data the kept samples join; its run directory, model and optimisation are RFT's).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RftSpec {
    /// Samples per train task (K). The paper's: 3.
    pub samples: usize,
    /// Sampling temperature (T). The paper's: 0.7.
    pub temperature: f64,
    /// Take the samples from this rollout file (`steptool rollout` JSONL of the start policy,
    /// such as an experiment's shared collection) instead of sampling; `samples` and
    /// `temperature` then only describe it. Default `None`: sample.
    pub samples_from: Option<PathBuf>,
    /// The SFT run on the union (`sft.env.train_tasks` tasks are sampled).
    pub sft: SftSpec,
}

impl Default for RftSpec {
    fn default() -> Self {
        RftSpec {
            samples: 3,
            temperature: 0.7,
            samples_from: None,
            sft: SftSpec {
                run_name: "rft".into(),
                ..SftSpec::default()
            },
        }
    }
}

impl RftSpec {
    /// `steptool rft` with no spec: the embedded SFT demo's settings
    /// ([`SftSpec::embedded_default`]) in the run `embedded-rft`, so `--model-dir
    /// runs/embedded-sft/checkpoints/latest/model` samples from and continues that model.
    pub fn embedded_default() -> Self {
        RftSpec {
            sft: SftSpec {
                run_name: "embedded-rft".into(),
                ..SftSpec::embedded_default()
            },
            ..RftSpec::default()
        }
    }

    /// Reads a JSON spec (unknown fields rejected).
    pub fn from_json_file(path: &Path) -> Result<Self> {
        crate::checkpoint::read_spec(path)
    }
}

/// What the rejection step counted.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RftCounts {
    /// Expert records the samples join (after dropping their own duplicates).
    pub expert: usize,
    /// Trajectories sampled (failed rollouts included).
    pub sampled: usize,
    /// Of those: kept (solved, not a duplicate).
    pub kept: usize,
    /// Not solved (or without a turn).
    pub unsolved: usize,
    /// Solved but already in the data.
    pub duplicates: usize,
}

/// The expert records and the kept samples, and the counts.
#[derive(Debug, Clone)]
pub struct RftSelection {
    /// Expert records first, then the kept samples.
    pub records: Vec<RolloutRecord>,
    /// What was counted.
    pub counts: RftCounts,
}

/// The keys a record is deduplicated by: its message list and, when the policy generated it,
/// its token ids.
fn keys(r: &RolloutRecord) -> Result<(String, Option<Vec<u32>>)> {
    let messages = serde_json::to_string(&r.messages).map_err(|source| Error::Json {
        path: PathBuf::from(format!("<messages of {} sample {}>", r.query_id, r.sample)),
        source,
    })?;
    Ok((messages, r.trace.as_ref().map(|t| t.input_ids.clone())))
}

/// RFT's rejection step: `sampled` records that solved their task ([`record_solved`]) and are
/// not yet in `expert` nor earlier in `sampled` (same message list or same token trace) join
/// `expert`. `failed` counts rollouts that produced no record.
pub fn select_solved(
    expert: Vec<RolloutRecord>,
    sampled: Vec<RolloutRecord>,
    failed: usize,
) -> Result<RftSelection> {
    let mut seen_messages = HashSet::new();
    let mut seen_traces = HashSet::new();
    let mut counts = RftCounts {
        sampled: sampled.len() + failed,
        unsolved: failed,
        ..RftCounts::default()
    };
    let mut records = Vec::with_capacity(expert.len() + sampled.len());
    for (r, is_sample) in expert
        .into_iter()
        .map(|r| (r, false))
        .chain(sampled.into_iter().map(|r| (r, true)))
    {
        if is_sample && !(r.trajectory.is_some() && record_solved(&r)) {
            counts.unsolved += 1;
            continue;
        }
        let (m, t) = keys(&r)?;
        let dup = seen_messages.contains(&m) || t.as_ref().is_some_and(|t| seen_traces.contains(t));
        if dup {
            if is_sample {
                counts.duplicates += 1;
            }
            continue;
        }
        seen_messages.insert(m);
        if let Some(t) = t {
            seen_traces.insert(t);
        }
        if is_sample {
            counts.kept += 1;
        } else {
            counts.expert += 1;
        }
        records.push(r);
    }
    Ok(RftSelection { records, counts })
}

/// What an RFT run did.
#[derive(Debug, Clone, Serialize)]
pub struct RftSummary {
    /// The rejection step.
    pub counts: RftCounts,
    /// The union's file.
    pub records: PathBuf,
    /// The SFT run on the union.
    pub sft: SftSummary,
}

impl std::fmt::Display for RftSummary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let c = &self.counts;
        writeln!(
            f,
            "RFT: kept {} of {} sampled trajectories ({} unsolved, {} duplicates) + {} expert -> {}",
            c.kept,
            c.sampled,
            c.unsolved,
            c.duplicates,
            c.expert,
            self.records.display()
        )?;
        write!(f, "{}", self.sft)
    }
}

/// Runs `spec` (module docs).
pub fn run_rft(spec: RftSpec) -> Result<RftSummary> {
    let s = &spec.sft;
    s.sft.validate()?;
    if !(spec.temperature.is_finite() && spec.temperature > 0.0) {
        return Err(Error::config(
            "temperature",
            "must be finite and > 0 (RFT samples)",
        ));
    }
    if s.threads > 0 {
        tch::set_num_threads(s.threads);
    }
    let out_dir = s.runs_dir.join(&s.run_name);
    // The same rules as the SFT run's, checked before the sampling.
    RunDir::new(&out_dir).prepare(s.resume, s.overwrite)?;
    let file = out_dir.join("rft").join("records.jsonl");
    let counts_file = out_dir.join("rft").join("counts.json");
    let start = s.model_dir.as_deref().map(start_model_dir);
    let counts = if s.resume && file.is_file() && counts_file.is_file() {
        let text = std::fs::read_to_string(&counts_file).map_err(Error::io(&counts_file))?;
        serde_json::from_str(&text).map_err(Error::json(&counts_file))?
    } else {
        let (sampled, failed) = match &spec.samples_from {
            Some(path) => (read_records(path)?, 0),
            None => {
                let opts = steptool_model::load_options(&s.device, s.precision)?;
                let (renderer, model) = load_policy(
                    start.as_deref(),
                    s.tokenizer.as_deref(),
                    &s.env,
                    None,
                    opts,
                    s.sft.seed,
                    &out_dir,
                )?;
                let (sampled, failed, _) =
                    explore(&model, &renderer, &s.env, spec.samples, spec.temperature)?;
                (sampled, failed)
            }
        };
        let expert = match &s.data {
            SftData::Synthetic { tasks } => expert_records(&s.env, *tasks)?,
            SftData::Records { path } => read_records(path)?,
            SftData::Reference { .. } => {
                return Err(Error::config(
                    "sft.data",
                    "RFT's expert data are the synthetic expert's demonstrations or rollout records; a reference conversation file is for `steptool sft --reference`",
                ))
            }
        };
        let selection = select_solved(expert, sampled, failed)?;
        let dir = out_dir.join("rft");
        std::fs::create_dir_all(&dir).map_err(Error::io(&dir))?;
        write_records(&file, &selection.records)?;
        let text =
            serde_json::to_string_pretty(&selection.counts).map_err(Error::json(&counts_file))?;
        steptool_mdp::atomic::write_atomic(&counts_file, text).map_err(Error::io(&counts_file))?;
        selection.counts
    };
    let sft = run_sft(SftSpec {
        model_dir: start,
        data: SftData::Records { path: file.clone() },
        // The directory was prepared above: a fresh run's is empty.
        overwrite: !s.resume,
        ..spec.sft.clone()
    })?;
    let summary = RftSummary {
        counts,
        records: file,
        sft,
    };
    let sp = out_dir.join("rft").join("summary.json");
    let text = serde_json::to_string_pretty(&summary).map_err(Error::json(&sp))?;
    steptool_mdp::atomic::write_atomic(&sp, text).map_err(Error::io(&sp))?;
    Ok(summary)
}
