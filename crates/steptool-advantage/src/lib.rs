//! # steptool-advantage — step-grained advantage estimation
//!
//! ```text
//!  tokens   p p p a a o o o a a a          (p prompt, a action, o tool response)
//!  position  0 1 2 3 4 5 6 7 8 9           entry t scores token t+1   (L-1 = 10 entries)
//!  P_0 = [2,4)   P_1 = [7,10)              the positions that score each action
//!
//!  step rewards r_k ─┐   logprobs, ref_logprobs ─► KL penalty -β·kl_t
//!                    ├──► Estimator ──► per-token rewards, advantages, returns, mask
//!  values V_t ───────┘        │
//!                             └──► batch-wide whitening (masked mean / unbiased var)
//!
//!  StepGae:     A_1 over P_1, A_0 over P_0; δ_0 = R_0 + γ·V(s_1) − V(s_0)   (one step = one time step)
//!  TokenGae:    GAE along 2,3,7,8,9 — the tool response (positions 4-6) is skipped
//!  ReferenceCompat: GAE along 0..9 with masked rewards/values — positions 4-6 cost (γλ)³
//! ```
//!
//! This crate turns step rewards, per-token log-probs and values into per-token advantages and
//! return targets, with four interchangeable [`Estimator`]s chosen by [`AdvantageConfig`]. It is
//! plain `f32` arithmetic over slices, no libtorch.
//!
//! ```
//! use steptool_advantage::{AdvantageConfig, AdvantageEstimator, EpisodeInput};
//! use steptool_mdp::ActionSpan;
//!
//! # fn main() -> steptool_advantage::Result<()> {
//! // 10 tokens; step 0's action is tokens 3..5, the final answer tokens 7..10.
//! let episode = EpisodeInput {
//!     num_tokens: 10,
//!     action_spans: vec![ActionSpan::new(3, 5), ActionSpan::new(7, 10)],
//!     step_rewards: vec![0.5, 1.0],
//!     logprobs: vec![-1.0; 9],
//!     ref_logprobs: vec![-1.0; 9], // no KL
//!     values: vec![0.0; 9],
//!     bootstrap_value: None, // terminated
//! };
//! let config = AdvantageConfig { whiten: false, ..AdvantageConfig::default() }; // StepGae
//! let out = AdvantageEstimator::new(config)?.compute(&[episode])?;
//! let adv = &out.episodes[0].advantages;
//! // A_1 = r_1 = 1.0;  A_0 = r_0 + γλ·A_1 = 0.5 + 0.99·0.95·1.0 = 1.4405
//! assert_eq!(adv[7], 1.0);
//! assert!((adv[2] - 1.4405).abs() < 1e-6 && adv[2] == adv[3]);
//! assert_eq!(adv[5], 0.0); // a tool-response position carries nothing
//! # Ok(()) }
//! ```
//!
//! ## Conventions
//!
//! An episode has `L` tokens and `n` steps; step `k`'s action occupies tokens `[s_k, e_k)`.
//! Per-token inputs have `L - 1` entries, entry `t` belonging to the prediction of token `t + 1`
//! (the layout of the TRL baseline's `trl_first_sample.json`). So the positions that score action
//! `k` are `P_k = [s_k - 1, e_k - 1)` and `V(s_k)`, the value of the state before the action, is
//! the value at position `s_k - 1`. Terminated episodes have value 0 after the last step,
//! truncated ones bootstrap from [`EpisodeInput::bootstrap_value`].
//!
//! ## The paper's equations in the code
//!
//! | paper (StepTool, CIKM 2025) | here |
//! |---|---|
//! | eq. 3, step reward `r_t = α·SuccCalling + Contribution` (`t < T`), `r_T = IsSolved` | given as [`EpisodeInput::step_rewards`] (computed by `steptool-reward`); [`AdvantageConfig::intermediate_rewards`] `= false` zeroes `r_0..r_{n-2}` (the "w/o step-grained reward" ablation) |
//! | eq. 4/6, objective `Σ_t Â(s_t,a_t) Σ_i log π(a_t^i \| …)`: one weight per action | `StepGae` writes `A_k` on every position of `P_k` ([`EpisodeAdvantages::advantages`], trained where [`EpisodeAdvantages::mask`]) |
//! | eq. 5, `Â_t = G_t − V(s_t)`, `G_t = Σ_{i≥t} γ^{i−t} r_i` (+ bootstrap) | `StepGae` with `lam = 1` (property-tested: equals the discounted step return minus `V(s_k)`) |
//! | eq. 7, GAE `Â_t = Σ_l (γλ)^l δ_{t+l}`, `δ_t = r_t + γV(s_{t+1}) − V(s_t)` | `step_gae.rs`: `δ_k = R_k + γ·V(s_{k+1}) − V(s_k)`, `A_k = δ_k + γλ·A_{k+1}`, `R_k = r_k + Σ_{t∈P_k} −β·kl_t`; return target `A_k + V(s_k)` |
//! | eq. 8, PPO-clip with a per-token KL penalty against the reference | the penalty `−β·kl_t` ([`KlEstimator`]) is assembled here; the clipped loss lives in `steptool-ppo` |
//!
//! ## Which estimator to choose
//!
//! - [`Estimator::StepGae`] (default): the paper. A step is one time step of the MDP, so
//!   `γ` and `λ` discount per step, and a tool response of 5 or 500 tokens between two actions
//!   makes no difference. Choose it to reproduce the method as published.
//! - [`Estimator::TokenGae`]: per-token credit inside each action (a token-level critic), still
//!   without discounting through observations. Choose it when the value head is good enough
//!   per token and actions are long.
//! - [`Estimator::FinalReward`]: the paper's "PPO (final reward)" baseline: only the final action
//!   is trained, from the final reward only.
//! - [`Estimator::ReferenceCompat`]: the released Python code, to compare runs with it or to
//!   reproduce its numbers. With the default [`RewardWeighting::Reference`] the final (IsSolved)
//!   reward counts 0 and earlier rewards are multiplied by the number of following steps; GAE
//!   runs token by token through tool-response tokens, so credit between steps decays by
//!   `0.9405^(tokens in between)` (200 observation tokens: a factor 5e-6).
//!
//! **Why the default differs from the released code.** The released `compute_rewards` multiplies
//! step `k`'s score by `n−1−k` (the final reward is multiplied by 0) and trl's token-level GAE
//! runs through observation tokens (formats.md §1.6-1.7). Neither is in the paper: eq. 3 makes
//! `IsSolved` the final reward and eq. 5/7 discount per step. `StepGae` implements the paper;
//! `ReferenceCompat` keeps the released behaviour under an explicit name and reproduces the TRL
//! baseline's anchors (`fixtures/trl-baseline/trl_first_sample*.json`) to 1e-5.
//!
//! ## Numerics
//!
//! Rewards, advantages and returns are `f32`, in TRL's order of operations (`γ·λ` multiplied in
//! `f64` and rounded once, as Python does before multiplying a `float32` tensor): on the TRL
//! anchors the returns are bit-identical. Sums over many tokens (a step's KL penalty, whitening
//! statistics, diagnostics) accumulate in `f64`, and whitening computes `(a - mean) / std` in
//! `f64` before rounding once. Batch-wide sums add one partial per episode in sorted order, so
//! every output is bit-for-bit independent of the order of the episodes in the batch. Episodes
//! are computed in parallel with rayon.

mod config;
mod diagnostics;
mod error;
mod estimator;
mod input;
mod json;
mod params;
mod reference_compat;
mod step_gae;
mod token_gae;
mod whiten;

pub use config::{AdvantageConfig, Estimator, KlEstimator, RewardWeighting};
pub use diagnostics::StepIndexStats;
pub use error::{Error, Result};
pub use estimator::{AdvantageEstimator, BatchAdvantages, EpisodeAdvantages};
pub use input::EpisodeInput;
pub use json::{run_json, AdvantagesRequest, AdvantagesResponse, EpisodeJson};
pub use whiten::{WhitenStats, WHITEN_EPS};
