//! [`crate::Estimator::TokenGae`] and [`crate::Estimator::FinalReward`]: token-level GAE over
//! action positions only.
//!
//! The trained positions are the positions of the chosen actions, concatenated in order
//! (`P_0 ++ P_1 ++ …` for `TokenGae`, `P_{n-1}` alone for `FinalReward`). Along that sequence
//! `j = 0..m`:
//!
//! ```text
//! r_j   = -β·kl_j  (+ r_k at the last position of P_k)
//! δ_j   = r_j + γ·V_{j+1} - V_j,   V_m = 0 (terminated) or the bootstrap value (truncated)
//! A_j   = δ_j + γλ·A_{j+1},        ret_j = A_j + V_j
//! ```
//!
//! so the value after the last position of `P_k` is the value at the first position of
//! `P_{k+1}`: observation tokens are skipped, not discounted through.

use crate::input::EpisodeInput;
use crate::params::{Params, RawEpisode};

/// Token GAE over the actions `first_step..n`, each with its step reward at its last position.
pub(crate) fn compute(p: &Params, ep: &EpisodeInput, first_step: usize) -> RawEpisode {
    let mut out = RawEpisode::zeros(ep.num_tokens - 1);
    let r = p.step_rewards(ep);
    let mut next_value = ep.bootstrap_value.unwrap_or(0.0);
    let mut next_adv = 0.0f32;
    for (k, span) in ep.action_spans.iter().enumerate().skip(first_step).rev() {
        let pos = span.scoring_positions();
        let last = pos.end - 1;
        for t in pos.rev() {
            let mut reward = p.penalty(p.kl_at(ep, t));
            if t == last {
                reward += r[k];
            }
            let value = ep.values[t];
            let delta = (reward + p.gamma * next_value) - value;
            let adv = delta + p.gamma_lam * next_adv;
            out.rewards[t] = reward;
            out.advantages_raw[t] = adv;
            out.returns[t] = adv + value;
            out.mask[t] = true;
            next_value = value;
            next_adv = adv;
        }
    }
    out
}
