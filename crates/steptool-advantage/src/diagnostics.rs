//! Per-step-index diagnostics for the trainer's logs: by step index `k`, the mean advantage,
//! return and KL over the positions `P_k` of every episode that has a step `k`.

use serde::{Deserialize, Serialize};

use crate::input::EpisodeInput;
use crate::whiten::stable_sum;
use crate::EpisodeAdvantages;

/// Means over the positions of step `step` across the batch (whatever the estimator trains).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepIndexStats {
    /// Step index `k` (0-based, as in the episode).
    pub step: usize,
    /// Episodes that have a step `k`.
    pub episodes: usize,
    /// Positions summed over (`Σ |P_k|`).
    pub tokens: usize,
    /// Mean of the step rewards `r_k` given as input, over the episodes.
    pub mean_step_reward: f64,
    /// Mean whitened advantage over the positions.
    pub mean_advantage: f64,
    /// Mean raw advantage over the positions.
    pub mean_advantage_raw: f64,
    /// Mean return over the positions.
    pub mean_return: f64,
    /// Mean per-token KL estimate over the positions.
    pub mean_kl: f64,
}

/// The statistics for every step index present in the batch, in step order. The sums are
/// order-independent (see [`crate::WhitenStats`]).
pub(crate) fn step_stats(
    inputs: &[EpisodeInput],
    outputs: &[EpisodeAdvantages],
    step_kls: &[Vec<f64>],
) -> Vec<StepIndexStats> {
    let max_steps = inputs.iter().map(|e| e.num_steps()).max().unwrap_or(0);
    (0..max_steps)
        .map(|k| {
            let (mut episodes, mut tokens) = (0usize, 0usize);
            let mut parts: [Vec<f64>; 5] = Default::default();
            for ((inp, out), step_kl) in inputs.iter().zip(outputs).zip(step_kls) {
                let Some(span) = inp.action_spans.get(k) else {
                    continue;
                };
                let pos = span.scoring_positions();
                episodes += 1;
                tokens += pos.len();
                let sum = |xs: &[f32]| xs[pos.clone()].iter().map(|&x| f64::from(x)).sum::<f64>();
                parts[0].push(f64::from(inp.step_rewards[k]));
                parts[1].push(sum(&out.advantages));
                parts[2].push(sum(&out.advantages_raw));
                parts[3].push(sum(&out.returns));
                parts[4].push(step_kl[k]);
            }
            let [rew, adv, raw, ret, kl] = parts.map(stable_sum);
            let per_token = tokens.max(1) as f64;
            StepIndexStats {
                step: k,
                episodes,
                tokens,
                mean_step_reward: rew / episodes.max(1) as f64,
                mean_advantage: adv / per_token,
                mean_advantage_raw: raw / per_token,
                mean_return: ret / per_token,
                mean_kl: kl / per_token,
            }
        })
        .collect()
}
