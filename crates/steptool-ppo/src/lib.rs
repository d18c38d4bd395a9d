//! # steptool-ppo — the StepTool PPO trainer
//!
//! ```text
//!  StepTool TSV / episodes JSONL ──Encoder──► Episode (tokens, action spans, step rewards)
//!        │  (sub_trajectories: one episode per step)
//!        ▼  batch of batch_size episodes
//!  ┌─ PpoTrainer::step ───────────────────────────────────────────────────────────┐
//!  │ no-grad forward (LoRA on)  ─► old log-probs, values   (or stored behaviour)  │
//!  │ reference forward (LoRA off, same weights) ─► ref log-probs                  │
//!  │ steptool-advantage (StepGae | TokenGae | FinalReward | ReferenceCompat)      │
//!  │     ─► per-token rewards (step reward − β·kl), advantages, returns, mask     │
//!  │ ppo_epochs × shuffled groups of mini_batch × grad_accum episodes,            │
//!  │     mini-batches bucketed by length, each padded only to its own longest:    │
//!  │     clipped surrogate + vf_coef·clipped value loss (+ entropy bonus),        │
//!  │     ratio guard, NaN/inf guard, global-norm clip, AdamW on LoRA + value head │
//!  │ KL controller update (adaptive / fixed)                                      │
//!  └──────────────────────────────────────────────────────────────────────────────┘
//!        ▼
//!  metrics.jsonl (one StepMetrics per step) · checkpoints (PEFT adapter, value head,
//!  optimizer, KL, step, config; atomic) · resume continues bit for bit
//! ```
//!
//! Step-grained PPO (paper eq. 8) on a LoRA policy with a value head, with the reference's
//! defaults ([`PpoConfig`]). One step on a tiny random model:
//!
//! ```
//! use steptool_mdp::{ActionSpan, Episode};
//! use steptool_model::{testing, LoadOptions, LoraConfig, Model};
//! use steptool_ppo::{PpoConfig, PpoTrainer};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let mut model = Model::random(testing::tiny_llama()?, LoadOptions::cpu())?;
//! model.attach_lora(LoraConfig::default(), 1)?;
//! model.init_value_head(1)?;
//! let config = PpoConfig { batch_size: 2, mini_batch_size: 1, gradient_accumulation_steps: 2, ..PpoConfig::default() };
//! let mut trainer = PpoTrainer::new(model, config)?;
//! // two 2-step episodes: tokens 3..5 and 7..9 are the actions
//! let ep = Episode::new((1..10).collect(), vec![ActionSpan::new(3, 5), ActionSpan::new(7, 9)], vec![0.5, 1.0])?;
//! let m = trainer.step(&[ep.clone(), ep])?;
//! assert_eq!(m.kl, 0.0); // fresh LoRA (B = 0): policy == reference
//! assert!((m.first_epoch_ratio - 1.0).abs() < 1e-6);
//! # Ok(()) }
//! ```
//!
//! The doc example above needs the `test-utils` feature of `steptool-model` (tiny configs).
//! See `docs/ppo.md` for the config, estimators, ablations, resuming and the 7B GPU setting.

pub mod common;
pub mod dpo;
pub mod embedded;
mod error;
pub mod experiment;
pub mod online;
pub mod ppo;
pub mod rft;
pub mod sft;

// The modules at their earlier paths (`steptool_ppo::trainer::PpoTrainer`, …).
pub use common::{adamw, checkpoint, metrics, plot, progress, schedule};
pub use ppo::{app, config, data, kl, loss, run, trainer};

pub use common::schedule::LrSchedule;
pub use config::{KlControl, OldLogprobs, PpoConfig, ReferenceConfig, Side};
pub use error::{Error, Result};
pub use kl::KlController;
pub use loss::{ppo_loss, LossInputs, LossOutput, LossParams};
pub use trainer::{PpoTrainer, StepMetrics, TrainerState};
