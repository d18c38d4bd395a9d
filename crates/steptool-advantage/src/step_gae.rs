//! [`crate::Estimator::StepGae`]: the paper's step-level GAE (eq. 5-7).
//!
//! Time steps are actions. With `P_k` the positions of action `k` and `V_k = V(s_k)` the value
//! at the first position of `P_k`:
//!
//! ```text
//! R_k     = r_k + Σ_{t ∈ P_k} -β·kl_t                   (eq. 3 reward + per-token KL penalty)
//! δ_k     = R_k + γ·V_{k+1} - V_k,   V_n = 0 (terminated) or the bootstrap value (truncated)
//! A_k     = δ_k + γλ·A_{k+1},        A_n = 0             (eq. 5/7)
//! adv[t]  = A_k,  ret[t] = A_k + V_k   for every t ∈ P_k   (eq. 4/6: one weight per action)
//! ```
//!
//! Prompt and tool-response positions carry nothing and cost no discount.

use crate::input::EpisodeInput;
use crate::params::{Params, RawEpisode};

pub(crate) fn compute(p: &Params, ep: &EpisodeInput) -> RawEpisode {
    let mut out = RawEpisode::zeros(ep.num_tokens - 1);
    let r = p.step_rewards(ep);
    let mut next_value = ep.bootstrap_value.unwrap_or(0.0);
    let mut next_adv = 0.0f32;
    for (k, span) in ep.action_spans.iter().enumerate().rev() {
        let pos = span.scoring_positions();
        let value = ep.values[pos.start];
        let mut penalty_sum = 0.0f64;
        for t in pos.clone() {
            let pen = p.penalty(p.kl_at(ep, t));
            out.rewards[t] = pen;
            penalty_sum += f64::from(pen);
        }
        out.rewards[pos.end - 1] += r[k];
        let step_reward = (f64::from(r[k]) + penalty_sum) as f32;
        let delta = (step_reward + p.gamma * next_value) - value;
        let adv = delta + p.gamma_lam * next_adv;
        let ret = adv + value;
        for t in pos {
            out.advantages_raw[t] = adv;
            out.returns[t] = ret;
            out.mask[t] = true;
        }
        next_value = value;
        next_adv = adv;
    }
    out
}
