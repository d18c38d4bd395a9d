//! Shared helpers of the integration tests.
#![allow(dead_code)]

use std::path::PathBuf;

use serde::Deserialize;
use steptool_model::{Batch, Model, PaddingSide};
use tch::Tensor;

pub type TestResult<T = ()> = std::result::Result<T, Box<dyn std::error::Error>>;

pub fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../fixtures/golden/model")
        .join(name)
}

/// Per-sequence outputs as `model_golden.py` writes them.
#[derive(Debug, Deserialize)]
pub struct Outputs {
    pub logprobs: Vec<Vec<f64>>,
    pub entropy: Vec<Vec<f64>>,
    pub values: Vec<Vec<f64>>,
    pub last_logits: Vec<Vec<f64>>,
}

#[derive(Debug, Deserialize)]
pub struct Expected {
    pub seqs: Vec<Vec<i64>>,
    pub pad_token_id: i64,
    pub left: Outputs,
    pub right: Outputs,
    pub adapter: Option<Sides>,
    pub adapter_disabled_right: Option<Outputs>,
}

#[derive(Debug, Deserialize)]
pub struct Sides {
    pub left: Outputs,
    pub right: Outputs,
}

pub fn expected(name: &str) -> TestResult<Expected> {
    let text = std::fs::read_to_string(fixture(name).join("expected.json"))?;
    Ok(serde_json::from_str(&text)?)
}

pub fn rows(t: &Tensor) -> TestResult<Vec<Vec<f64>>> {
    Ok(Vec::<Vec<f64>>::try_from(
        &t.to_kind(tch::Kind::Double).to_device(tch::Device::Cpu),
    )?)
}

/// The entries of row `b` of a `[batch, n]` tensor that belong to a sequence of length `len`
/// (`n_real` of them), given the padding side and the padded length `n + extra`.
pub fn real(row: &[f64], side: PaddingSide, padded: usize, len: usize, n_real: usize) -> Vec<f64> {
    let off = match side {
        PaddingSide::Left => padded - len,
        PaddingSide::Right => 0,
    };
    row[off..off + n_real].to_vec()
}

pub fn assert_close(what: &str, got: &[f64], want: &[f64], tol: f64) -> TestResult {
    if got.len() != want.len() {
        return Err(format!("{what}: length {} != {}", got.len(), want.len()).into());
    }
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        let d = (g - w).abs();
        if d.is_nan() || d > tol {
            return Err(format!("{what}[{i}]: got {g}, want {w} (tol {tol})").into());
        }
    }
    Ok(())
}

pub fn batch(seqs: &[Vec<i64>], pad: i64, side: PaddingSide) -> TestResult<Batch> {
    Ok(Batch::from_sequences(seqs, pad, side, tch::Device::Cpu)?)
}

/// Max |a - b| over two tensors.
pub fn max_diff(a: &Tensor, b: &Tensor) -> TestResult<f64> {
    Ok((a - b).abs().max().double_value(&[]))
}

pub fn load(name: &str) -> TestResult<Model> {
    let (mut m, report) =
        Model::from_pretrained(&fixture(name), steptool_model::LoadOptions::cpu())?;
    if !report.unused.is_empty() {
        return Err(format!("unused tensors: {:?}", report.unused).into());
    }
    m.load_value_head(&fixture(name).join("value_head.safetensors"))?;
    Ok(m)
}
