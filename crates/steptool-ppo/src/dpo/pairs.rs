//! Where DPO's preference pairs come from: the policy's own exploration (ETO: K samples per
//! task, success paired with failure) or the reference's pair file
//! (`data_train/eto/dpo_data_example.csv`: tab-separated, double-quoted `prompt`, `chosen`,
//! `rejected` columns in the ToolLLaMA text format).

use std::collections::HashMap;
use std::path::Path;

use serde::Serialize;
use steptool_env::rollout::RolloutRecord;
use steptool_mdp::{ActionSpan, Episode, Location};
use steptool_reward::{AnswerStatus, RewardAnnotator};

use super::trainer::PreferencePair;
use crate::error::{Error, Result};
use crate::online::Renderer;

/// What building the pairs counted.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct PairStats {
    /// Tasks explored, or rows read from the pair file.
    pub sources: usize,
    /// Samples explored (0 for the pair file).
    pub samples: usize,
    /// Of the samples: judged solved.
    pub solved: usize,
    /// Samples without a turn (no token trace): neither chosen nor rejected.
    pub no_turn: usize,
    /// Tasks whose samples all solved it (a tie: no pair).
    pub ties_all_solved: usize,
    /// Tasks whose samples all failed (a tie: no pair).
    pub ties_all_failed: usize,
    /// Pairs skipped because an episode is longer than `max_tokens`.
    pub too_long: usize,
    /// Pairs kept.
    pub pairs: usize,
}

/// Pairs of policy rollouts (ETO's exploration): the samples of each task are judged by the
/// annotator's final status; every solved sample is paired with every unsolved one of the same
/// task (K = 3 gives at most 2 pairs per task). Tasks whose samples all solved or all failed
/// are ties: dropped and counted.
pub fn exploration_pairs(
    records: &[RolloutRecord],
    annotator: &dyn RewardAnnotator,
) -> Result<(Vec<PreferencePair>, PairStats)> {
    let mut stats = PairStats::default();
    let mut order: Vec<&str> = Vec::new();
    // Per task: (sample, episode) of the solved and of the failed samples.
    type Samples = Vec<(usize, Episode)>;
    let mut by_task: HashMap<&str, (Samples, Samples)> = HashMap::new();
    for r in records {
        stats.samples += 1;
        let entry = by_task.entry(r.query_id.as_str()).or_insert_with(|| {
            order.push(r.query_id.as_str());
            (Vec::new(), Vec::new())
        });
        let (Some(trajectory), Some(trace)) = (&r.trajectory, &r.trace) else {
            stats.no_turn += 1;
            continue;
        };
        let solved = annotator
            .annotate(trajectory)?
            .rounds()
            .last()
            .is_some_and(|x| x.status == AnswerStatus::Solved);
        let episode = trace
            .to_episode(vec![0.0; trace.action_spans.len()])
            .map_err(|e| Error::Input(format!("task {} sample {}: {e:#}", r.query_id, r.sample)))?;
        if solved {
            stats.solved += 1;
            entry.0.push((r.sample, episode));
        } else {
            entry.1.push((r.sample, episode));
        }
    }
    stats.sources = order.len();
    let mut pairs = Vec::new();
    for task in order {
        let (solved, failed) = &by_task[task];
        match (solved.is_empty(), failed.is_empty()) {
            (false, true) => stats.ties_all_solved += 1,
            (true, _) => stats.ties_all_failed += 1,
            (false, false) => {
                for (i, c) in solved {
                    for (j, r) in failed {
                        pairs.push(PreferencePair::new(
                            format!("task {task} samples {i} > {j}"),
                            c.clone(),
                            r.clone(),
                        )?);
                    }
                }
            }
        }
    }
    stats.pairs = pairs.len();
    Ok((pairs, stats))
}

/// One row of the reference's pair file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PairRow {
    /// 1-based line where the row starts.
    pub line: usize,
    /// The conversation up to the response (ToolLLaMA text).
    pub prompt: String,
    /// The preferred continuation.
    pub chosen: String,
    /// The other continuation.
    pub rejected: String,
}

fn format_error(path: &Path, line: usize, row: Option<usize>, message: String) -> Error {
    let mut location = Location::file(path).with_line(line);
    if let Some(r) = row {
        location = location.with_row(r);
    }
    Error::Data(steptool_mdp::Error::Format { location, message })
}

/// Splits tab-separated, double-quoted text (`""` is a quote inside a quoted field) into
/// records with the 1-based line each starts on.
fn split_records(path: &Path, text: &str) -> Result<Vec<(usize, Vec<String>)>> {
    let mut out = Vec::new();
    let (mut fields, mut field) = (Vec::new(), String::new());
    let (mut line, mut start, mut quoted, mut at_start) = (1usize, 1usize, false, true);
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if quoted {
            match c {
                '"' if chars.peek() == Some(&'"') => {
                    chars.next();
                    field.push('"');
                }
                '"' => quoted = false,
                '\n' => {
                    line += 1;
                    field.push('\n');
                }
                _ => field.push(c),
            }
            continue;
        }
        match c {
            '"' if at_start => {
                quoted = true;
                at_start = false;
            }
            '\t' => {
                fields.push(std::mem::take(&mut field));
                at_start = true;
            }
            '\r' if chars.peek() == Some(&'\n') => {}
            '\n' => {
                fields.push(std::mem::take(&mut field));
                if !(fields.len() == 1 && fields[0].is_empty()) {
                    out.push((start, std::mem::take(&mut fields)));
                }
                fields.clear();
                line += 1;
                start = line;
                at_start = true;
            }
            _ => {
                field.push(c);
                at_start = false;
            }
        }
    }
    if quoted {
        return Err(format_error(
            path,
            start,
            None,
            "a quoted field is not closed before the end of the file".into(),
        ));
    }
    if !field.is_empty() || !fields.is_empty() {
        fields.push(field);
        out.push((start, fields));
    }
    Ok(out)
}

/// Reads the reference's pair file (header `prompt`, `chosen`, `rejected`, in any order;
/// other columns ignored). A row whose chosen equals its rejected is an error naming it.
pub fn read_pair_file(path: &Path) -> Result<Vec<PairRow>> {
    let text = std::fs::read_to_string(path).map_err(Error::io(path))?;
    let records = split_records(path, &text)?;
    let Some(((_, header), rows)) = records.split_first() else {
        return Err(format_error(
            path,
            1,
            None,
            "empty file: expected a header row".into(),
        ));
    };
    let col = |name: &str| {
        header.iter().position(|h| h.trim() == name).ok_or_else(|| {
            format_error(path, 1, None, format!("the header has no `{name}` column"))
        })
    };
    let (p, c, r) = (col("prompt")?, col("chosen")?, col("rejected")?);
    let mut out = Vec::with_capacity(rows.len());
    for (row, (line, fields)) in rows.iter().enumerate() {
        let get = |k: usize, name: &str| {
            fields.get(k).cloned().ok_or_else(|| {
                format_error(
                    path,
                    *line,
                    Some(row),
                    format!("{} fields: no `{name}`", fields.len()),
                )
            })
        };
        let pair = PairRow {
            line: *line,
            prompt: get(p, "prompt")?,
            chosen: get(c, "chosen")?,
            rejected: get(r, "rejected")?,
        };
        if pair.chosen == pair.rejected {
            return Err(format_error(
                path,
                *line,
                Some(row),
                "chosen and rejected are identical".into(),
            ));
        }
        out.push(pair);
    }
    Ok(out)
}

/// Token episodes of a pair file's rows: `[bos] prompt` is context, `response [eos]` the one
/// action span (the tokenizer runs on the prompt and the response separately, as TRL's
/// `DPOTrainer` does, and `eos` is appended to each response as it does).
pub fn encode_pair_rows(
    path: &Path,
    rows: &[PairRow],
    renderer: &Renderer,
    bos: Option<u32>,
    eos: Option<u32>,
) -> Result<Vec<PreferencePair>> {
    rows.iter()
        .enumerate()
        .map(|(k, row)| {
            let mut prompt: Vec<u32> = bos.into_iter().collect();
            prompt.extend(renderer.segment(&row.prompt)?);
            let episode = |response: &str| -> Result<Episode> {
                let mut ids = prompt.clone();
                let start = ids.len();
                ids.extend(renderer.segment(response)?);
                ids.extend(eos);
                let span = ActionSpan::new(start, ids.len());
                Episode::new(ids, vec![span], vec![0.0]).map_err(Error::Data)
            };
            let id = format!("{} row {k} (line {})", path.display(), row.line);
            PreferencePair::new(id, episode(&row.chosen)?, episode(&row.rejected)?)
        })
        .collect()
}
