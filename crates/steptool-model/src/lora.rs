//! LoRA configuration and the PEFT adapter file format.
//!
//! A LoRA-adapted linear layer computes `W x + b + (alpha / r) * B (A dropout(x))` (Hu et al.,
//! 2021; PEFT `lora.Linear.forward`), with `A: [r, in]` initialised like PEFT
//! (`kaiming_uniform(a = sqrt(5))`, i.e. uniform in `±1/sqrt(in)`) and `B: [out, r]` zero, so
//! a fresh adapter leaves the model unchanged. `use_rslora` scales by `alpha / sqrt(r)` instead.
//!
//! On disk: PEFT's `adapter_config.json` and `adapter_model.safetensors` with keys
//! `base_model.model.<module path>.lora_A.weight` / `.lora_B.weight` (no adapter name), which
//! `peft.PeftModel.from_pretrained` loads (checked against peft 0.5.0 by
//! `scripts/golden/model_golden.py check-adapter`).

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::{Error, Result};

/// The file names of a PEFT adapter directory.
pub const ADAPTER_CONFIG: &str = "adapter_config.json";
/// The adapter weights file.
pub const ADAPTER_WEIGHTS: &str = "adapter_model.safetensors";
/// Key prefix PEFT puts before module paths.
pub const PEFT_PREFIX: &str = "base_model.model.";

/// The linear layers LoRA can target (the leaf names inside each decoder layer).
pub const TARGETABLE: &[&str] = &[
    "q_proj",
    "k_proj",
    "v_proj",
    "o_proj",
    "gate_proj",
    "up_proj",
    "down_proj",
];

fn default_alpha() -> f64 {
    16.0
}
fn default_r() -> i64 {
    8
}
fn default_targets() -> Vec<String> {
    vec!["q_proj".to_string(), "v_proj".to_string()]
}

/// LoRA hyper-parameters (the subset of PEFT's `LoraConfig` that changes the function).
///
/// Defaults: `r = 8`, `alpha = 16`, `dropout = 0`, `target_modules = [q_proj, v_proj]`,
/// `use_rslora = false`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoraConfig {
    /// Rank (> 0).
    #[serde(default = "default_r")]
    pub r: i64,
    /// Scale numerator (> 0): the update is multiplied by `alpha / r`.
    #[serde(default = "default_alpha")]
    pub alpha: f64,
    /// Dropout on the LoRA input during training, in `[0, 1)`.
    #[serde(default)]
    pub dropout: f64,
    /// Leaf names of the adapted linear layers, from [`TARGETABLE`].
    #[serde(default = "default_targets")]
    pub target_modules: Vec<String>,
    /// Scale by `alpha / sqrt(r)` (rank-stabilised LoRA).
    #[serde(default)]
    pub use_rslora: bool,
}

impl Default for LoraConfig {
    fn default() -> Self {
        LoraConfig {
            r: default_r(),
            alpha: default_alpha(),
            dropout: 0.0,
            target_modules: default_targets(),
            use_rslora: false,
        }
    }
}

fn lerr(field: &str, message: impl Into<String>) -> Error {
    Error::Config {
        file: None,
        field: field.to_string(),
        message: message.into(),
    }
}

impl LoraConfig {
    /// Checks ranges and target names.
    pub fn validate(&self) -> Result<()> {
        if self.r <= 0 {
            return Err(lerr("r", format!("must be positive, got {}", self.r)));
        }
        if !(self.alpha.is_finite() && self.alpha > 0.0) {
            return Err(lerr(
                "alpha",
                format!("must be positive, got {}", self.alpha),
            ));
        }
        if !(0.0..1.0).contains(&self.dropout) {
            return Err(lerr(
                "dropout",
                format!("must be in [0, 1), got {}", self.dropout),
            ));
        }
        if self.target_modules.is_empty() {
            return Err(lerr("target_modules", "is empty"));
        }
        for t in &self.target_modules {
            if !TARGETABLE.contains(&t.as_str()) {
                return Err(lerr(
                    "target_modules",
                    format!("`{t}` is not a linear layer of the model (one of {TARGETABLE:?})"),
                ));
            }
        }
        Ok(())
    }

    /// The factor in front of `B A x`.
    pub fn scale(&self) -> f64 {
        if self.use_rslora {
            self.alpha / (self.r as f64).sqrt()
        } else {
            self.alpha / self.r as f64
        }
    }

    /// Whether the leaf layer `name` is adapted.
    pub fn targets(&self, name: &str) -> bool {
        self.target_modules.iter().any(|t| t == name)
    }

    /// Reads a PEFT `adapter_config.json`. Settings this crate does not implement (DoRA, biases,
    /// `modules_to_save`, per-layer patterns, `fan_in_fan_out`, regex targets) are errors.
    pub fn from_peft_file(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|source| Error::Io {
            path: path.to_path_buf(),
            source,
        })?;
        let raw: BTreeMap<String, Value> =
            serde_json::from_str(&text).map_err(|source| Error::Json {
                path: path.to_path_buf(),
                source,
            })?;
        Self::from_peft_map(&raw).map_err(|e| match e {
            Error::Config { field, message, .. } => Error::Config {
                file: Some(path.to_path_buf()),
                field,
                message,
            },
            other => other,
        })
    }

    fn from_peft_map(raw: &BTreeMap<String, Value>) -> Result<Self> {
        let null_or = |key: &str, ok: &dyn Fn(&Value) -> bool| -> Result<()> {
            match raw.get(key) {
                None | Some(Value::Null) => Ok(()),
                Some(v) if ok(v) => Ok(()),
                Some(v) => Err(lerr(key, format!("value {v} is not supported"))),
            }
        };
        match raw.get("peft_type").and_then(Value::as_str) {
            Some("LORA") => {}
            other => {
                return Err(lerr(
                    "peft_type",
                    format!("expected \"LORA\", got {other:?}"),
                ))
            }
        }
        null_or("bias", &|v| v == "none")?;
        null_or("fan_in_fan_out", &|v| v == &Value::Bool(false))?;
        null_or("use_dora", &|v| v == &Value::Bool(false))?;
        null_or("lora_bias", &|v| v == &Value::Bool(false))?;
        null_or("modules_to_save", &|v| {
            v.as_array().is_some_and(Vec::is_empty)
        })?;
        null_or("layers_to_transform", &|_| false)?;
        null_or("layers_pattern", &|v| {
            v.as_array().is_some_and(Vec::is_empty)
        })?;
        null_or("rank_pattern", &|v| {
            v.as_object().is_some_and(|o| o.is_empty())
        })?;
        null_or("alpha_pattern", &|v| {
            v.as_object().is_some_and(|o| o.is_empty())
        })?;
        null_or("exclude_modules", &|_| false)?;
        null_or("layer_replication", &|_| false)?;
        null_or("task_type", &|v| v == "CAUSAL_LM")?;
        const KNOWN: &[&str] = &[
            "peft_type",
            "task_type",
            "r",
            "lora_alpha",
            "lora_dropout",
            "target_modules",
            "use_rslora",
            "bias",
            "fan_in_fan_out",
            "use_dora",
            "lora_bias",
            "modules_to_save",
            "layers_to_transform",
            "layers_pattern",
            "rank_pattern",
            "alpha_pattern",
            "exclude_modules",
            "layer_replication",
            "base_model_name_or_path",
            "revision",
            "inference_mode",
            "init_lora_weights",
            "auto_mapping",
            "megatron_config",
            "megatron_core",
            "loftq_config",
            "eva_config",
            "corda_config",
            "trainable_token_indices",
            "qalora_group_size",
            "use_qalora",
            "target_parameters",
        ];
        if let Some(k) = raw.keys().find(|k| !KNOWN.contains(&k.as_str())) {
            return Err(lerr(k, "unknown adapter_config field"));
        }
        let r = raw
            .get("r")
            .and_then(Value::as_i64)
            .ok_or_else(|| lerr("r", "missing or not an integer"))?;
        let alpha = raw
            .get("lora_alpha")
            .and_then(Value::as_f64)
            .ok_or_else(|| lerr("lora_alpha", "missing or not a number"))?;
        let dropout = match raw.get("lora_dropout") {
            None | Some(Value::Null) => 0.0,
            Some(v) => v
                .as_f64()
                .ok_or_else(|| lerr("lora_dropout", format!("not a number: {v}")))?,
        };
        let target_modules = match raw.get("target_modules") {
            Some(Value::Array(a)) => a
                .iter()
                .map(|v| {
                    v.as_str()
                        .map(str::to_string)
                        .ok_or_else(|| lerr("target_modules", format!("not a string: {v}")))
                })
                .collect::<Result<Vec<_>>>()?,
            Some(other) => {
                return Err(lerr(
                    "target_modules",
                    format!("only a list of module names is supported, got {other}"),
                ))
            }
            None => return Err(lerr("target_modules", "missing")),
        };
        let use_rslora = raw
            .get("use_rslora")
            .and_then(Value::as_bool)
            .unwrap_or(false);
        let cfg = LoraConfig {
            r,
            alpha,
            dropout,
            target_modules,
            use_rslora,
        };
        cfg.validate()?;
        Ok(cfg)
    }

    /// The PEFT `adapter_config.json` for this config (readable by peft 0.5 and later).
    pub fn to_peft_json(&self, base_model_name_or_path: &str) -> Value {
        let mut v = serde_json::json!({
            "auto_mapping": null,
            "base_model_name_or_path": base_model_name_or_path,
            "bias": "none",
            "fan_in_fan_out": false,
            "inference_mode": true,
            "init_lora_weights": true,
            "layers_pattern": null,
            "layers_to_transform": null,
            "lora_alpha": self.alpha,
            "lora_dropout": self.dropout,
            "modules_to_save": null,
            "peft_type": "LORA",
            "r": self.r,
            "revision": null,
            "target_modules": self.target_modules,
            "task_type": "CAUSAL_LM",
        });
        // Written only when set, so that peft versions without the field load the file.
        if self.use_rslora {
            v["use_rslora"] = Value::Bool(true);
        }
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    type TestResult = std::result::Result<(), Box<dyn std::error::Error>>;

    #[test]
    fn peft_config_round_trip_and_scale() -> TestResult {
        let cfg = LoraConfig {
            r: 4,
            alpha: 8.0,
            dropout: 0.05,
            target_modules: vec!["q_proj".into(), "down_proj".into()],
            use_rslora: false,
        };
        let json = cfg.to_peft_json("base");
        let map: BTreeMap<String, Value> = serde_json::from_value(json)?;
        assert_eq!(LoraConfig::from_peft_map(&map)?, cfg);
        assert_eq!(cfg.scale(), 2.0); // 8 / 4
        let rs = LoraConfig {
            use_rslora: true,
            ..cfg
        };
        assert_eq!(rs.scale(), 4.0); // 8 / sqrt(4)
        Ok(())
    }

    #[test]
    fn unsupported_peft_settings_are_errors() -> TestResult {
        let base = LoraConfig::default().to_peft_json("");
        for (key, value) in [
            ("use_dora", serde_json::json!(true)),
            ("bias", serde_json::json!("all")),
            ("target_modules", serde_json::json!(".*proj")),
            ("modules_to_save", serde_json::json!(["lm_head"])),
            ("r", serde_json::json!(0)),
            ("mystery", serde_json::json!(1)),
        ] {
            let mut v = base.clone();
            v[key] = value;
            let map: BTreeMap<String, Value> = serde_json::from_value(v)?;
            match LoraConfig::from_peft_map(&map) {
                Err(Error::Config { field, .. }) => assert_eq!(field, key),
                other => {
                    return Err(format!("{key}: expected a config error, got {other:?}").into())
                }
            }
        }
        Ok(())
    }
}
