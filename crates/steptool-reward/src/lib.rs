//! # steptool-reward — step-grained reward annotation and shaping (paper eq. 3)
//!
//! ```text
//!  Trajectory ──▶ RewardAnnotator ──────────────▶ StepAnnotation ──▶ RewardShaper ──▶ Vec<f32>
//!                 ├ RuleAnnotator    (no network)  K rounds of:                        one reward
//!                 ├ LlmJudgeAnnotator (HTTP, K×)    SuccCalling 0/1  per mid step      per step
//!                 ├ HybridAnnotator  (rules gate)   Contribution 0-5 per mid step
//!                 ├ your own impl                   IsSolved status  for the last step
//!                 └ CachedAnnotator<A> ◀──▶ append-only JSONL cache (resume, replay)
//! ```
//!
//! StepTool rewards every intermediate tool call with
//! `r_t = alpha * SuccCalling(a_t, s_{t+1}) + Contribution(a_t, a_T)` and the final answer with
//! `r_T = IsSolved(q, a_T)`, normalised to one scale. An annotator (rules, an LLM judge, both,
//! or yours) produces the components; [`RewardShaper`] turns them into one number per step with
//! the constants of the reference data (formats.md §2.5) unless configured otherwise.
//!
//! ```
//! use steptool_reward::{RewardAnnotator, RewardShaper, RuleAnnotator};
//! use steptool_mdp::{Step, ToolCall, ToolSchema, Trajectory};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let trajectory = Trajectory::new(Some("1".into()), "Weather in Paris?",
//!     vec![ToolSchema::named("weather_for_meteo"), ToolSchema::named("Finish")],
//!     vec![
//!         Step::new(ToolCall::new("weather_for_meteo", r#"{"city": "Paris"}"#),
//!                   Some(r#"{"error": "", "response": "sunny"}"#.into())),
//!         Step::new(ToolCall::new("Finish", r#"{"return_type": "give_answer", "final_answer": "It is sunny."}"#), None),
//!     ])?;
//! let annotation = RuleAnnotator::default().annotate(&trajectory)?;
//! let rewards = RewardShaper::default().shape(&annotation);
//! // step 0: (5*1 + 5) / 10 = 1.0; final: Unsure (rules cannot verify an answer) = 0.5
//! assert_eq!(rewards, vec![1.0, 0.5]);
//! # Ok(()) }
//! ```
//!
//! Why it is built this way:
//! - **Annotation and shaping are separate.** Judge answers are expensive; they are stored as
//!   raw components (every round kept) so that alpha, the normalisation or the ablation switch
//!   can change without asking again.
//! - **Nothing is guessed.** A judge answer with the wrong number of scores, a value out of
//!   range or an unknown status is asked again and, after the retries, is an error naming the
//!   trajectory. Never a default score.
//! - **Every answer is kept.** The cache appends one fsync'd JSON line per answer (per judge
//!   round), keyed by content hashes of the trajectory and the annotator's fingerprint, so a
//!   killed run resumes where it stopped and a re-run replays the same answers.
//!
//! - **One HTTP client.** The judge's requests go through steptool-llm's `Client` (endpoint
//!   pool, retries, concurrency limit, redaction of every quoted answer); [`ApiKey`],
//!   [`Endpoint`] and [`RetryPolicy`] are re-exported from there, so a key is never printed,
//!   serialised or echoed into an error.
//!
//! See `docs/reward.md` for annotating with a judge (vLLM or a hosted API), resuming, and
//! plugging in a custom annotator.

mod annotation;
mod batch;
mod cache;
mod error;
pub mod hash;
mod hybrid;
pub mod judge;
pub mod lcs;
pub mod reference;
pub mod rules;
mod shaper;

pub use annotation::{
    AnswerStatus, Provenance, RewardAnnotator, RoundScores, StepAnnotation, Usage, MAX_CONTRIBUTION,
};
pub use batch::{annotate_batch, BatchOptions, BatchReport, BatchSummary};
pub use cache::{AnnotationCache, CachedAnnotator};
pub use error::{Error, Result};
pub use hybrid::HybridAnnotator;
pub use judge::{ApiKey, Endpoint, JudgeConfig, LlmJudgeAnnotator, RetryPolicy};
pub use rules::{RuleAnnotator, RuleConfig};
pub use shaper::{RewardShaper, RoundAggregation, ShaperConfig};
