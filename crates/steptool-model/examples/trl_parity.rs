//! Checks our forward pass against the TRL 0.10.1 baseline anchor (`trl_first_sample.json`,
//! PPO step 0, sample 0: fresh LoRA, so policy = reference): log-probs and `values_raw`.
//! The 16 MB `model.safetensors` of that fixture is not in this repository, so this is an
//! optional check, not a test:
//!
//! ```text
//! scripts/with-torch cargo run -p steptool-model --example trl_parity -- \
//!     /work/shared/bench/trl-baseline/fixture fixtures/trl-baseline/trl_first_sample.json \
//!     fixtures/trl-baseline/value_head.safetensors
//! ```

use std::path::PathBuf;

use steptool_model::{Batch, ForwardOptions, LoadOptions, Model, PaddingSide};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [model_dir, anchor, value_head] = args.as_slice() else {
        return Err("usage: trl_parity MODEL_DIR ANCHOR_JSON VALUE_HEAD".into());
    };
    tch::set_num_threads(2);
    let (mut model, report) =
        Model::from_pretrained(&PathBuf::from(model_dir), LoadOptions::cpu())?;
    println!(
        "loaded {} tensors, unused {:?}",
        report.loaded.len(),
        report.unused
    );
    model.load_value_head(&PathBuf::from(value_head))?;
    let json: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(anchor)?)?;
    let step = &json["steps"][0];
    let ids = |k: &str| -> Result<Vec<i64>, Box<dyn std::error::Error>> {
        step[k]
            .as_array()
            .ok_or(format!("{k} missing"))?
            .iter()
            .map(|v| {
                v.as_i64()
                    .ok_or_else(|| format!("{k}: not an integer").into())
            })
            .collect()
    };
    let floats = |k: &str| -> Result<Vec<f64>, Box<dyn std::error::Error>> {
        step[k]
            .as_array()
            .ok_or(format!("{k} missing"))?
            .iter()
            .map(|v| {
                v.as_f64()
                    .ok_or_else(|| format!("{k}: not a number").into())
            })
            .collect()
    };
    let mut seq = ids("query_ids")?;
    seq.extend(ids("response_ids")?);
    let batch = Batch::from_sequences(&[seq], 0, PaddingSide::Right, tch::Device::Cpu)?;
    let out = model.forward_batch(&batch, &ForwardOptions::default())?;
    let lp = Vec::<f64>::try_from(&out.logprobs.get(0).to_kind(tch::Kind::Double))?;
    let values = out.values.as_ref().ok_or("no values")?;
    let v = Vec::<f64>::try_from(&values.get(0).to_kind(tch::Kind::Double))?;
    let max_err = |a: &[f64], b: &[f64]| {
        a.iter()
            .zip(b)
            .map(|(x, y)| (x - y).abs())
            .fold(0.0, f64::max)
    };
    let (want_lp, want_v) = (floats("logprobs")?, floats("values_raw")?);
    let e_lp = max_err(&lp, &want_lp);
    let e_v = max_err(&v[..want_v.len()], &want_v);
    println!(
        "positions {}: max |logprob diff| {e_lp:.3e}, max |value diff| {e_v:.3e}",
        want_lp.len()
    );
    if e_lp > 1e-4 || e_v > 1e-4 {
        return Err("mismatch above 1e-4".into());
    }
    Ok(())
}
