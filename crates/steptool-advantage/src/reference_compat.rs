//! [`crate::Estimator::ReferenceCompat`]: the released StepTool code, position by position
//! (`step_ppotrainer.py::compute_rewards` on trl 0.10.1 `compute_advantages`, formats.md
//! §1.6 c-d), in `f32` with TRL's order of operations.
//!
//! ```text
//! reward[t]  = -β·kl_t                                   for every position t
//! segments   = maximal runs of the action mask (adjacent spans merge, as in the released code)
//! for j, (segment, score) in zip(reversed(segments), reversed(scores)):
//!     reward[last position of segment] += score · w_j,   w_j = j (reference) or 1 (plain)
//! r'_t = reward[t]·m_t,  V'_t = V_t·m_t                  (m = action mask)
//! δ_t  = r'_t + γ·V'_{t+1} - V'_t,   V'_{L-1} = 0 (or the bootstrap value)
//! A_t  = δ_t + γλ·A_{t+1}            for t = L-2 … 0, through every position
//! ret_t = A_t + V'_t
//! ```
//!
//! Scores are paired with segments from the end, so `w_j = j = n-1-k` for step `k`: the final
//! score is weighted 0. Scores left over when there are more scores than segments (steps cut off
//! by left truncation, or adjacent spans that merged) are dropped, as in the released code.
//! Observation tokens are masked to 0 but still counted by the recursion, so credit between
//! steps decays by `(γλ)^(tokens in between)`; advantages and returns are non-zero outside the
//! mask (the PPO loss ignores them there).

use crate::config::RewardWeighting;
use crate::input::EpisodeInput;
use crate::params::{Params, RawEpisode};

pub(crate) fn compute(p: &Params, ep: &EpisodeInput, weighting: RewardWeighting) -> RawEpisode {
    let len = ep.num_tokens - 1;
    let mask = ep.action_mask();
    let mut rewards: Vec<f32> = (0..len).map(|t| p.penalty(p.kl_at(ep, t))).collect();
    let scores = p.step_rewards(ep);
    let ends = segment_ends(&mask);
    for (j, (&end, &score)) in ends.iter().rev().zip(scores.iter().rev()).enumerate() {
        let w = match weighting {
            RewardWeighting::Reference => j as f64,
            RewardWeighting::Plain => 1.0,
        };
        rewards[end] += (f64::from(score) * w) as f32;
    }
    let mut advantages_raw = vec![0.0f32; len];
    let mut returns = vec![0.0f32; len];
    let mut next_value = ep.bootstrap_value.unwrap_or(0.0);
    let mut next_adv = 0.0f32;
    for t in (0..len).rev() {
        let m = if mask[t] { 1.0f32 } else { 0.0 };
        let r = rewards[t] * m;
        let v = ep.values[t] * m;
        let delta = (r + p.gamma * next_value) - v;
        let adv = delta + p.gamma_lam * next_adv;
        advantages_raw[t] = adv;
        returns[t] = adv + v;
        next_value = v;
        next_adv = adv;
    }
    RawEpisode {
        rewards,
        advantages_raw,
        returns,
        mask,
        step_kl: Vec::new(),
    }
}

/// Last position of every maximal run of `true`, in order.
fn segment_ends(mask: &[bool]) -> Vec<usize> {
    (0..mask.len())
        .filter(|&t| mask[t] && mask.get(t + 1) != Some(&true))
        .collect()
}
