//! [`PpoConfig`]: every knob of the trainer, with the reference's values as defaults
//! (formats.md §1.6 e-f, §7.1), and loading of the reference's `config/<model>/StepTool_ppo.json`.

use std::path::Path;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use steptool_advantage::{AdvantageConfig, Estimator, KlEstimator};
use steptool_model::{LoraConfig, PaddingSide};

use crate::error::{Error, Result};
pub use crate::schedule::LrSchedule;

/// The KL controller (TRL's `AdaptiveKLController` / `FixedKLController`).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum KlControl {
    /// `β ← β·(1 + clip(KL/target − 1, −0.2, 0.2)·batch_size/horizon)` after every PPO step, where
    /// `KL` is the batch mean of `Σ_t kl_t` over the trained positions.
    Adaptive {
        /// Initial `β`. Reference: 0.3.
        init: f64,
        /// Target KL. Reference: 6.
        target: f64,
        /// Horizon. Reference: 10000.
        horizon: f64,
    },
    /// A constant `β`.
    Fixed {
        /// The coefficient.
        coef: f64,
    },
}

impl Default for KlControl {
    fn default() -> Self {
        KlControl::Adaptive {
            init: 0.3,
            target: 6.0,
            horizon: 10000.0,
        }
    }
}

/// Where the "old" log-probs of the PPO ratio come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum OldLogprobs {
    /// A no-grad forward of the current policy before the PPO epochs (TRL, the reference): the
    /// first epoch's ratios are exactly 1. Offline data is treated as if the current policy had
    /// produced it.
    #[default]
    Recompute,
    /// The behaviour log-probs stored with each episode ([`steptool_mdp::Episode::behaviour_logprobs`],
    /// e.g. from `generate`): the ratio then corrects for the policy having moved since the data
    /// were sampled, and the KL penalty uses them too. Episodes without them are an error.
    Behaviour,
}

/// Everything that decides a PPO run. Defaults are the reference's (`StepTool_ppo.json` + trl
/// 0.10.1 defaults, formats.md §7.1) unless said otherwise; unknown fields are rejected;
/// [`PpoConfig::validate`] checks the values once.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PpoConfig {
    /// Adam(W) learning rate. Default 1e-5.
    pub learning_rate: f64,
    /// Learning-rate schedule. Default constant (the reference has none).
    pub lr_schedule: LrSchedule,
    /// AdamW decoupled weight decay. Default 0 (the reference uses Adam, i.e. AdamW with 0).
    pub weight_decay: f64,
    /// Adam `β1, β2`. Default (0.9, 0.999).
    pub adam_betas: (f64, f64),
    /// Adam `ε`. Default 1e-8.
    pub adam_eps: f64,
    /// Episodes per PPO step. Default 8.
    pub batch_size: usize,
    /// Episodes per forward/backward pass. Default 2.
    pub mini_batch_size: usize,
    /// Mini-batches whose gradients are summed (each loss divided by this) before one optimizer
    /// step. Default 4 (so one optimizer step per PPO epoch with the defaults).
    pub gradient_accumulation_steps: usize,
    /// Passes over each batch. Default 4.
    pub ppo_epochs: usize,
    /// Policy ratio clip `ε`. Default 0.2.
    pub cliprange: f64,
    /// Value clip around the old values. Default 0.2.
    pub cliprange_value: f64,
    /// Weight of the value loss. Default 0.1.
    pub vf_coef: f64,
    /// Weight of the entropy bonus (`loss −= coef·entropy`). Default 0 (the reference has none).
    /// The bonus is the surrogate `−ρ_t·sg(log π(a_t))` averaged over the trained positions
    /// (`sg` = stop-gradient): its gradient is the importance-sampled entropy gradient for tokens
    /// drawn from the old policy (the model's forward gives the exact entropy without a
    /// gradient; that exact value is what the metrics log).
    pub entropy_coef: f64,
    /// A mini-batch whose mean ratio exceeds this contributes no update (TRL's
    /// `ratio_threshold`). Default 10.
    pub ratio_threshold: f64,
    /// Global-norm gradient clipping; `None` = off. Default `None` (the reference).
    pub max_grad_norm: Option<f64>,
    /// Discount `γ` (per step for `StepGae`). Default 0.99.
    pub gamma: f64,
    /// GAE `λ`. Default 0.95.
    pub lam: f64,
    /// Advantage estimator. Default `StepGae` (the paper). `final_reward` is the "PPO (final
    /// reward)" baseline.
    pub estimator: Estimator,
    /// Whiten advantages over the batch. Default true.
    pub whiten: bool,
    /// Use the intermediate step rewards; false = "w/o step-grained reward". Default true.
    pub intermediate_rewards: bool,
    /// Split every trajectory into one sample per step ending at that step, trained with that
    /// step's reward only ("w/o step-grained optimization"; use with `final_reward`). Default false.
    pub sub_trajectories: bool,
    /// Per-token KL estimate of the penalty. Default `kl` (`logp − ref_logp`).
    pub kl_penalty: KlEstimator,
    /// KL controller. Default adaptive, init 0.3, target 6, horizon 10000.
    pub kl_control: KlControl,
    /// Source of the ratio's old log-probs. Default `recompute`.
    pub old_logprobs: OldLogprobs,
    /// Padding side of the model batches: `right` (default) or `left`. Results are the same.
    pub padding_side: Side,
    /// Group each optimizer step's episodes into mini-batches by length, so that short episodes
    /// are not padded to long ones. The set of episodes per optimizer step stays a random
    /// permutation as in TRL. Default true.
    pub length_bucketing: bool,
    /// Recompute decoder layers in backward (less memory, ~30% more time). Default false.
    pub gradient_checkpointing: bool,
    /// Positions per LM-head chunk in the forward. Default 512.
    pub chunk_tokens: i64,
    /// Temperature the policy, old and reference log-probs are scored at: the rollout's
    /// sampling temperature for on-policy data (behaviour log-probs recorded with
    /// `tempered_logprobs`), 1 for offline data (default 1).
    pub temperature: f64,
    /// Episodes longer than this many tokens are an error (`None`: no limit). Truncation is the
    /// encoder's job (`max_context`, `max_response`). Default `None`.
    pub max_tokens: Option<usize>,
    /// Stop with an error after this many PPO steps in a row whose update was skipped because
    /// the loss or a gradient was NaN/inf. Default 3.
    pub max_nonfinite_steps: usize,
    /// Seed of data shuffling, mini-batch permutation and LoRA dropout. Default 2024 (the
    /// ToolLLaMA config's seed).
    pub seed: u64,
}

/// Padding side (serde form of [`PaddingSide`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Side {
    /// Padding after the tokens.
    #[default]
    Right,
    /// Padding before the tokens.
    Left,
}

impl From<Side> for PaddingSide {
    fn from(s: Side) -> Self {
        match s {
            Side::Right => PaddingSide::Right,
            Side::Left => PaddingSide::Left,
        }
    }
}

impl Default for PpoConfig {
    fn default() -> Self {
        PpoConfig {
            learning_rate: 1e-5,
            lr_schedule: LrSchedule::Constant,
            weight_decay: 0.0,
            adam_betas: (0.9, 0.999),
            adam_eps: 1e-8,
            batch_size: 8,
            mini_batch_size: 2,
            gradient_accumulation_steps: 4,
            ppo_epochs: 4,
            cliprange: 0.2,
            cliprange_value: 0.2,
            vf_coef: 0.1,
            entropy_coef: 0.0,
            ratio_threshold: 10.0,
            max_grad_norm: None,
            gamma: 0.99,
            lam: 0.95,
            estimator: Estimator::StepGae,
            whiten: true,
            intermediate_rewards: true,
            sub_trajectories: false,
            kl_penalty: KlEstimator::Kl,
            kl_control: KlControl::default(),
            old_logprobs: OldLogprobs::Recompute,
            padding_side: Side::Right,
            length_bucketing: true,
            gradient_checkpointing: false,
            chunk_tokens: 512,
            temperature: 1.0,
            max_tokens: None,
            max_nonfinite_steps: 3,
            seed: 2024,
        }
    }
}

fn cfg_err(field: &str, message: impl Into<String>) -> Error {
    Error::Config {
        field: field.to_string(),
        message: message.into(),
    }
}

impl PpoConfig {
    /// Checks every value (called by the trainer).
    pub fn validate(&self) -> Result<()> {
        let pos = |f: &str, v: f64| {
            if v.is_finite() && v > 0.0 {
                Ok(())
            } else {
                Err(cfg_err(f, format!("{v} must be a finite number > 0")))
            }
        };
        pos("temperature", self.temperature)?;
        let nonneg = |f: &str, v: f64| {
            if v.is_finite() && v >= 0.0 {
                Ok(())
            } else {
                Err(cfg_err(f, format!("{v} must be a finite number >= 0")))
            }
        };
        pos("learning_rate", self.learning_rate)?;
        nonneg("weight_decay", self.weight_decay)?;
        for (f, b) in [
            ("adam_betas.0", self.adam_betas.0),
            ("adam_betas.1", self.adam_betas.1),
        ] {
            if !(0.0..1.0).contains(&b) {
                return Err(cfg_err(f, format!("{b} is outside [0, 1)")));
            }
        }
        pos("adam_eps", self.adam_eps)?;
        for (f, v) in [
            ("batch_size", self.batch_size),
            ("mini_batch_size", self.mini_batch_size),
            (
                "gradient_accumulation_steps",
                self.gradient_accumulation_steps,
            ),
            ("ppo_epochs", self.ppo_epochs),
            ("max_nonfinite_steps", self.max_nonfinite_steps),
        ] {
            if v == 0 {
                return Err(cfg_err(f, "must be at least 1"));
            }
        }
        let backward = self.mini_batch_size * self.gradient_accumulation_steps;
        if self.batch_size % backward != 0 {
            return Err(cfg_err(
                "batch_size",
                format!(
                    "{} is not a multiple of mini_batch_size × gradient_accumulation_steps = {backward}",
                    self.batch_size
                ),
            ));
        }
        pos("cliprange", self.cliprange)?;
        pos("cliprange_value", self.cliprange_value)?;
        nonneg("vf_coef", self.vf_coef)?;
        nonneg("entropy_coef", self.entropy_coef)?;
        pos("ratio_threshold", self.ratio_threshold)?;
        if let Some(g) = self.max_grad_norm {
            pos("max_grad_norm", g)?;
        }
        if self.chunk_tokens < 1 {
            return Err(cfg_err("chunk_tokens", "must be at least 1"));
        }
        if self.max_tokens == Some(0) || self.max_tokens == Some(1) {
            return Err(cfg_err("max_tokens", "must be at least 2"));
        }
        match self.kl_control {
            KlControl::Adaptive {
                init,
                target,
                horizon,
            } => {
                nonneg("kl_control.adaptive.init", init)?;
                pos("kl_control.adaptive.target", target)?;
                pos("kl_control.adaptive.horizon", horizon)?;
            }
            KlControl::Fixed { coef } => nonneg("kl_control.fixed.coef", coef)?,
        }
        if let LrSchedule::Linear { total_steps, .. } | LrSchedule::Cosine { total_steps, .. } =
            self.lr_schedule
        {
            if total_steps == 0 {
                return Err(cfg_err("lr_schedule.total_steps", "must be at least 1"));
            }
        }
        self.advantage_config(self.initial_kl_coef())
            .validate()
            .map_err(Error::Advantage)?;
        Ok(())
    }

    /// The KL coefficient at step 0.
    pub fn initial_kl_coef(&self) -> f64 {
        match self.kl_control {
            KlControl::Adaptive { init, .. } => init,
            KlControl::Fixed { coef } => coef,
        }
    }

    /// The advantage configuration with KL coefficient `kl_coef`.
    pub fn advantage_config(&self, kl_coef: f64) -> AdvantageConfig {
        AdvantageConfig {
            estimator: self.estimator,
            gamma: self.gamma,
            lam: self.lam,
            kl_coef,
            kl_estimator: self.kl_penalty,
            whiten: self.whiten,
            intermediate_rewards: self.intermediate_rewards,
        }
    }

    /// Reads a JSON file of this struct (unknown fields rejected, values validated).
    pub fn from_json_file(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|source| Error::Io {
            path: path.to_path_buf(),
            source,
        })?;
        let cfg: PpoConfig = serde_json::from_str(&text).map_err(|source| Error::Json {
            path: path.to_path_buf(),
            source,
        })?;
        cfg.validate()?;
        Ok(cfg)
    }
}

/// What [`ReferenceConfig::parse`] made of the reference's `StepTool_ppo.json`.
#[derive(Debug, Clone, PartialEq)]
pub struct ReferenceConfig {
    /// The PPO settings: the trl defaults the reference runs with, overridden by `ppo_kwargs`.
    pub ppo: PpoConfig,
    /// The LoRA settings from `peft_kwargs` (peft defaults for missing keys: r 8, alpha 8,
    /// dropout 0, targets q_proj/v_proj for LLaMA).
    pub lora: LoraConfig,
    /// Keys that were recognised but have no effect here, each with the reason
    /// (`"ppo_kwargs.log_with: logging goes to metrics.jsonl"`).
    pub ignored: Vec<String>,
    /// Keys this loader does not know (reported, not applied): `section.key`.
    pub unknown: Vec<String>,
}

impl ReferenceConfig {
    /// Reads a reference `config/<model>/StepTool_ppo.json` file.
    pub fn from_file(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|source| Error::Io {
            path: path.to_path_buf(),
            source,
        })?;
        let v: Value = serde_json::from_str(&text).map_err(|source| Error::Json {
            path: path.to_path_buf(),
            source,
        })?;
        Self::parse(&v).map_err(|e| match e {
            Error::Config { field, message } => Error::Config {
                field: format!("{}: {field}", path.display()),
                message,
            },
            other => other,
        })
    }

    /// Maps the JSON object field by field (see the field docs).
    pub fn parse(v: &Value) -> Result<Self> {
        let top = v
            .as_object()
            .ok_or_else(|| cfg_err("<root>", "expected a JSON object"))?;
        let mut ppo = PpoConfig::default();
        let mut lora = LoraConfig {
            alpha: 8.0,
            ..LoraConfig::default()
        };
        let mut ignored = Vec::new();
        let mut unknown = Vec::new();
        let num = |sec: &str, k: &str, x: &Value| -> Result<f64> {
            x.as_f64().ok_or_else(|| {
                cfg_err(&format!("{sec}.{k}"), format!("expected a number, got {x}"))
            })
        };
        let int = |sec: &str, k: &str, x: &Value| -> Result<u64> {
            x.as_u64().ok_or_else(|| {
                cfg_err(
                    &format!("{sec}.{k}"),
                    format!("expected a non-negative integer, got {x}"),
                )
            })
        };
        let boolean = |sec: &str, k: &str, x: &Value| -> Result<bool> {
            x.as_bool().ok_or_else(|| {
                cfg_err(
                    &format!("{sec}.{k}"),
                    format!("expected true/false, got {x}"),
                )
            })
        };
        let (mut init, mut target, mut horizon, mut adaptive) = (0.3, 6.0, 10000.0, true);
        for (section, body) in top {
            let Some(obj) = body.as_object() else {
                unknown.push(section.clone());
                continue;
            };
            match section.as_str() {
                "ppo_kwargs" => {
                    for (k, x) in obj {
                        let s = "ppo_kwargs";
                        match k.as_str() {
                            "learning_rate" => ppo.learning_rate = num(s, k, x)?,
                            "batch_size" => ppo.batch_size = int(s, k, x)? as usize,
                            "mini_batch_size" => ppo.mini_batch_size = int(s, k, x)? as usize,
                            "gradient_accumulation_steps" => {
                                ppo.gradient_accumulation_steps = int(s, k, x)? as usize
                            }
                            "ppo_epochs" => ppo.ppo_epochs = int(s, k, x)? as usize,
                            "cliprange" => ppo.cliprange = num(s, k, x)?,
                            "cliprange_value" => ppo.cliprange_value = num(s, k, x)?,
                            "vf_coef" => ppo.vf_coef = num(s, k, x)?,
                            "ratio_threshold" => ppo.ratio_threshold = num(s, k, x)?,
                            "max_grad_norm" => {
                                ppo.max_grad_norm = if x.is_null() { None } else { Some(num(s, k, x)?) }
                            }
                            "gamma" => ppo.gamma = num(s, k, x)?,
                            "lam" => ppo.lam = num(s, k, x)?,
                            "whiten_rewards" => {
                                if boolean(s, k, x)? {
                                    return Err(cfg_err(
                                        "ppo_kwargs.whiten_rewards",
                                        "true is not supported (advantages are whitened instead)",
                                    ));
                                }
                                ignored.push("ppo_kwargs.whiten_rewards: false is the only behaviour".into());
                            }
                            "kl_penalty" => {
                                ppo.kl_penalty = match x.as_str() {
                                    Some("kl") => KlEstimator::Kl,
                                    Some("abs") => KlEstimator::Abs,
                                    Some("mse") => KlEstimator::Mse,
                                    _ => {
                                        return Err(cfg_err(
                                            "ppo_kwargs.kl_penalty",
                                            format!("expected \"kl\", \"abs\" or \"mse\", got {x}"),
                                        ))
                                    }
                                }
                            }
                            "init_kl_coef" => init = num(s, k, x)?,
                            "adap_kl_ctrl" => adaptive = boolean(s, k, x)?,
                            "target" => target = num(s, k, x)?,
                            "horizon" => horizon = num(s, k, x)?,
                            "seed" => ppo.seed = int(s, k, x)?,
                            "target_kl" => ignored.push(
                                "ppo_kwargs.target_kl: only used with early_stopping, which the reference leaves off".into(),
                            ),
                            "early_stopping" => {
                                if boolean(s, k, x)? {
                                    return Err(cfg_err("ppo_kwargs.early_stopping", "true is not supported"));
                                }
                                ignored.push("ppo_kwargs.early_stopping: false is the only behaviour".into());
                            }
                            "log_with" | "tracker_project_name" | "tracker_kwargs" | "project_kwargs" => ignored
                                .push(format!("ppo_kwargs.{k}: logging goes to metrics.jsonl")),
                            "remove_unused_columns" | "model_name" | "query_dataset" | "reward_model" => {
                                ignored.push(format!("ppo_kwargs.{k}: no effect on training here"))
                            }
                            _ => unknown.push(format!("ppo_kwargs.{k}")),
                        }
                    }
                }
                "peft_kwargs" => {
                    for (k, x) in obj {
                        let s = "peft_kwargs";
                        match k.as_str() {
                            "r" => lora.r = int(s, k, x)? as i64,
                            "lora_alpha" => lora.alpha = num(s, k, x)?,
                            "lora_dropout" => lora.dropout = num(s, k, x)?,
                            "target_modules" => {
                                lora.target_modules = x
                                    .as_array()
                                    .and_then(|a| {
                                        a.iter().map(|t| t.as_str().map(str::to_string)).collect()
                                    })
                                    .ok_or_else(|| {
                                        cfg_err(
                                            "peft_kwargs.target_modules",
                                            format!("expected a list of names, got {x}"),
                                        )
                                    })?
                            }
                            "bias" => {
                                if x.as_str() != Some("none") {
                                    return Err(cfg_err(
                                        "peft_kwargs.bias",
                                        format!("only \"none\" is supported, got {x}"),
                                    ));
                                }
                            }
                            "task_type" => {
                                ignored.push("peft_kwargs.task_type: always a causal LM".into())
                            }
                            _ => unknown.push(format!("peft_kwargs.{k}")),
                        }
                    }
                }
                _ => unknown.push(section.clone()),
            }
        }
        ppo.kl_control = if adaptive {
            KlControl::Adaptive {
                init,
                target,
                horizon,
            }
        } else {
            KlControl::Fixed { coef: init }
        };
        ppo.validate()?;
        lora.validate().map_err(Error::Model)?;
        Ok(ReferenceConfig {
            ppo,
            lora,
            ignored,
            unknown,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_the_reference() -> Result<()> {
        let c = PpoConfig::default();
        c.validate()?;
        assert_eq!(
            (
                c.batch_size,
                c.mini_batch_size,
                c.gradient_accumulation_steps
            ),
            (8, 2, 4)
        );
        assert_eq!(c.ppo_epochs, 4);
        assert_eq!((c.cliprange, c.cliprange_value, c.vf_coef), (0.2, 0.2, 0.1));
        assert_eq!(
            c.kl_control,
            KlControl::Adaptive {
                init: 0.3,
                target: 6.0,
                horizon: 10000.0
            }
        );
        Ok(())
    }

    #[test]
    fn unknown_fields_and_bad_values_are_rejected() {
        assert!(serde_json::from_str::<PpoConfig>(r#"{"learning_rat": 1e-5}"#).is_err());
        let c = PpoConfig {
            batch_size: 6,
            ..PpoConfig::default()
        };
        let e = c
            .validate()
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(e.contains("batch_size"), "{e}");
    }

    #[test]
    fn lr_schedules() {
        let lin = LrSchedule::Linear {
            warmup_steps: 2,
            total_steps: 6,
        };
        // warm-up: (s+1)/2 -> 0.5, 1.0; then 1 - (s-2)/4
        assert_eq!(lin.factor(0), 0.5);
        assert_eq!(lin.factor(1), 1.0);
        assert_eq!(lin.factor(4), 0.5);
        assert_eq!(lin.factor(9), 0.0);
        let cos = LrSchedule::Cosine {
            warmup_steps: 0,
            total_steps: 4,
        };
        // 0.5 (1 + cos(pi * 2/4)) = 0.5
        assert!((cos.factor(2) - 0.5).abs() < 1e-12);
    }
}
