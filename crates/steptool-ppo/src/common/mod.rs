//! The parts every trainer shares (PPO, SFT, DPO, the on-policy loop): none of them depends on
//! another trainer, only on these.
//!
//! | module | what |
//! |---|---|
//! | [`adamw`] | AdamW with exportable moments (exact resume) |
//! | [`schedule`] | learning-rate schedules (constant, linear, cosine with warm-up) |
//! | [`checkpoint`] | the run directory, atomic checkpoint bundles, `latest`, resolving a user's checkpoint path |
//! | [`guard`] | stopping a run whose updates keep being skipped (NaN/inf) |
//! | [`merge`] | a LoRA adapter merged into its base, as a plain model directory |
//! | [`metrics`] | the metrics JSONL writer, reader and resume rewind |
//! | [`plot`] | PNG panels of a run's curves |
//! | [`progress`] | a bar on a terminal, plain lines otherwise |
//! | [`run_fields`] | the eight run fields of every trainer's spec, set in one place |

pub mod adamw;
pub mod checkpoint;
pub mod guard;
pub mod merge;
pub mod metrics;
pub mod plot;
pub mod progress;
pub mod run_fields;
pub mod schedule;
