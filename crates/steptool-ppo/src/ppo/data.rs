//! Training data: StepTool TSV files (through an [`Encoder`]) or episode JSONL (one
//! [`Episode`] per line, as `steptool encode` writes), the sub-trajectory ablation, and the
//! deterministic order of batches.

use std::path::Path;

use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use steptool_mdp::formats::tsv::read_tsv;
use steptool_mdp::{Encoder, Episode};

use crate::error::{Error, Result};

/// Encodes every row of a StepTool TSV file. A bad row or a row that does not encode is an
/// error naming the file and row (nothing is skipped).
pub fn load_tsv(path: &Path, encoder: &Encoder) -> Result<Vec<Episode>> {
    let read = read_tsv(path)?;
    if let Some((_, e)) = read.errors.into_iter().next() {
        return Err(e.into());
    }
    let mut out = Vec::with_capacity(read.samples.len());
    for row in read.samples {
        let enc = encoder.encode(&row.sample).map_err(|e| {
            Error::Input(format!(
                "{} row {} (line {}): {e}",
                path.display(),
                row.row,
                row.line
            ))
        })?;
        out.push(enc.episode);
    }
    if out.is_empty() {
        return Err(Error::Input(format!("{}: no data rows", path.display())));
    }
    Ok(out)
}

/// Reads episodes, one JSON object per non-empty line.
pub fn load_jsonl(path: &Path) -> Result<Vec<Episode>> {
    let text = std::fs::read_to_string(path).map_err(|source| Error::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let ep: Episode = serde_json::from_str(line)
            .map_err(|e| Error::Input(format!("{} line {}: {e}", path.display(), i + 1)))?;
        out.push(ep);
    }
    if out.is_empty() {
        return Err(Error::Input(format!("{}: no episodes", path.display())));
    }
    Ok(out)
}

/// The "w/o step-grained optimization" ablation: step `k` of an episode becomes its own
/// single-step episode, the tokens up to the end of action `k` (earlier actions are context),
/// with step `k`'s reward as its only (final) reward. Behaviour log-probs (on-policy data) are
/// cut to the same prefix.
pub fn sub_trajectories(episodes: &[Episode]) -> Result<Vec<Episode>> {
    let mut out = Vec::new();
    for ep in episodes {
        for (span, &r) in ep.action_spans().iter().zip(ep.step_rewards()) {
            let ids = ep.input_ids()[..span.end].to_vec();
            let mut sub = Episode::new(ids, vec![*span], vec![r])?;
            if let Some(lp) = ep.behaviour_logprobs() {
                sub = sub.with_behaviour_logprobs(lp[..span.end - 1].to_vec())?;
            }
            out.push(sub);
        }
    }
    Ok(out)
}

/// Batches per epoch (TRL's `drop_last=True`).
pub fn batches_per_epoch(num_episodes: usize, batch_size: usize) -> usize {
    num_episodes / batch_size
}

/// The episode indices of global batch `step`: epoch `step / batches_per_epoch` shuffles the
/// episodes with a generator seeded by `(seed, epoch)` and takes consecutive slices, so the
/// order depends only on `seed` and `step` (a resumed run sees the same batches).
pub fn batch_indices(
    num_episodes: usize,
    batch_size: usize,
    seed: u64,
    step: u64,
) -> Result<Vec<usize>> {
    let per = batches_per_epoch(num_episodes, batch_size);
    if per == 0 {
        return Err(Error::Input(format!(
            "{num_episodes} episodes are fewer than one batch of {batch_size}"
        )));
    }
    let epoch = step / per as u64;
    let k = (step % per as u64) as usize;
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0xDA7A);
    rng.set_stream(epoch);
    let mut perm: Vec<usize> = (0..num_episodes).collect();
    perm.shuffle(&mut rng);
    Ok(perm[k * batch_size..(k + 1) * batch_size].to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;
    use steptool_mdp::ActionSpan;

    #[test]
    fn sub_trajectories_split_per_step() -> Result<()> {
        let ep = Episode::new(
            (0..10).collect(),
            vec![ActionSpan::new(2, 4), ActionSpan::new(6, 9)],
            vec![0.5, 1.0],
        )?;
        let subs = sub_trajectories(&[ep])?;
        assert_eq!(subs.len(), 2);
        assert_eq!(subs[0].len(), 4); // tokens 0..4, action 2..4
        assert_eq!(subs[0].step_rewards(), &[0.5]);
        assert_eq!(subs[1].len(), 9);
        assert_eq!(subs[1].action_spans(), &[ActionSpan::new(6, 9)]);
        // Behaviour log-probs follow the prefix (layout L - 1).
        let lp: Vec<f32> = (0..9).map(|i| -(i as f32)).collect();
        let ep = Episode::new(
            (0..10).collect(),
            vec![ActionSpan::new(2, 4), ActionSpan::new(6, 9)],
            vec![0.5, 1.0],
        )?
        .with_behaviour_logprobs(lp.clone())?;
        let subs = sub_trajectories(&[ep])?;
        assert_eq!(subs[0].behaviour_logprobs(), Some(&lp[..3]));
        assert_eq!(subs[1].behaviour_logprobs(), Some(&lp[..8]));
        Ok(())
    }

    #[test]
    fn batches_cover_each_epoch_once() -> Result<()> {
        let mut seen: Vec<usize> = (0..3)
            .flat_map(|s| batch_indices(10, 3, 7, s).unwrap_or_default())
            .collect();
        seen.sort_unstable();
        seen.dedup();
        assert_eq!(seen.len(), 9); // 3 batches of 3 distinct episodes; one dropped
        assert_eq!(batch_indices(10, 3, 7, 4)?, batch_indices(10, 3, 7, 4)?);
        assert!(batch_indices(2, 3, 7, 0).is_err());
        Ok(())
    }
}
