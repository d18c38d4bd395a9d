//! Device and precision, parsed and validated once for every command and trainer.
//!
//! `cpu`, `cuda` (= `cuda:0`) or `cuda:N`; precision `f32` (everywhere) or `bf16` (CUDA only:
//! bf16 base weights and activations, f32 LoRA and value head). Both are checked up front with a
//! one-line error, so a machine without CUDA never reaches libtorch's internals.

use serde::{Deserialize, Serialize};
use tch::{Device, Kind};

use crate::model::LoadOptions;
use crate::{Error, Result};

/// Numeric precision of a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Precision {
    /// f32 everywhere (the CPU default).
    #[default]
    F32,
    /// bf16 base weights and activations, f32 LoRA and value head (CUDA).
    Bf16,
}

impl std::str::FromStr for Precision {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "f32" => Ok(Precision::F32),
            "bf16" => Ok(Precision::Bf16),
            other => Err(config_error(
                "precision",
                format!("{other:?}: expected f32 or bf16"),
            )),
        }
    }
}

fn config_error(field: &str, message: String) -> Error {
    Error::Config {
        file: None,
        field: field.into(),
        message,
    }
}

/// Parses `cpu`, `cuda` or `cuda:N`, and checks that a CUDA device exists on this machine.
pub fn parse_device(s: &str) -> Result<Device> {
    let device = match s {
        "cpu" => Device::Cpu,
        "cuda" => Device::Cuda(0),
        other => match other.strip_prefix("cuda:").map(str::parse::<usize>) {
            Some(Ok(i)) => Device::Cuda(i),
            _ => {
                return Err(config_error(
                    "device",
                    format!("{other:?}: expected cpu, cuda or cuda:N"),
                ))
            }
        },
    };
    if let Device::Cuda(i) = device {
        if !tch::Cuda::is_available() {
            return Err(config_error(
                "device",
                format!("{s:?}: CUDA is not available on this machine"),
            ));
        }
        let n = tch::Cuda::device_count();
        if i as i64 >= n {
            return Err(config_error(
                "device",
                format!("{s:?}: this machine has {n} CUDA device(s)"),
            ));
        }
    }
    Ok(device)
}

/// The [`LoadOptions`] of a device string and a precision; bf16 on the CPU is refused (the CPU
/// kernels are slow and the reference runs bf16 only on GPUs).
pub fn load_options(device: &str, precision: Precision) -> Result<LoadOptions> {
    let device = parse_device(device)?;
    match precision {
        Precision::F32 => Ok(LoadOptions {
            device,
            ..LoadOptions::cpu()
        }),
        Precision::Bf16 if device == Device::Cpu => Err(config_error(
            "precision",
            "bf16 needs a CUDA device (use f32 on the CPU)".into(),
        )),
        Precision::Bf16 => Ok(LoadOptions {
            device,
            dtype: Kind::BFloat16,
            trainable_dtype: Kind::Float,
            allow_unused: false,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn devices_parse_and_bad_ones_say_why() {
        assert_eq!(parse_device("cpu").ok(), Some(Device::Cpu));
        let e = parse_device("gpu0").err().map(|e| e.to_string());
        assert!(e.is_some_and(|e| e.contains("expected cpu, cuda or cuda:N")));
        if !tch::Cuda::is_available() {
            let e = parse_device("cuda:0").err().map(|e| e.to_string());
            assert!(e.is_some_and(|e| e.contains("CUDA is not available")));
        }
        let e = load_options("cpu", Precision::Bf16)
            .err()
            .map(|e| e.to_string());
        assert!(e.is_some_and(|e| e.contains("bf16 needs a CUDA device")));
        assert_eq!("bf16".parse::<Precision>().ok(), Some(Precision::Bf16));
        assert!("fp8".parse::<Precision>().is_err());
    }
}
