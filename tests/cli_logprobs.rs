//! `steptool logprobs` on the TRL baseline fixture: our log-probs and values for sample 0 of
//! `trl_first_sample.json` (PPO step 0: fresh LoRA, so policy = base model) match TRL's
//! `logprobs` and `values_raw`, and a batch of sequences of different lengths gives each
//! sequence the same numbers as when it is alone.

use std::io::Write;
use std::process::{Command, Stdio};

use serde_json::{json, Value};

type TestResult = Result<(), Box<dyn std::error::Error>>;

const FIXTURE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/trl-baseline");

fn logprobs(input: &Value) -> Result<Value, Box<dyn std::error::Error>> {
    let mut child = Command::new(env!("CARGO_BIN_EXE_steptool"))
        .args([
            "logprobs",
            "--model",
            FIXTURE,
            "--value-head",
            &format!("{FIXTURE}/value_head.safetensors"),
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    child
        .stdin
        .take()
        .ok_or("stdin")?
        .write_all(input.to_string().as_bytes())?;
    let out = child.wait_with_output()?;
    if !out.status.success() {
        return Err(format!(
            "steptool logprobs failed: {}",
            String::from_utf8_lossy(&out.stderr)
        )
        .into());
    }
    Ok(serde_json::from_slice(&out.stdout)?)
}

fn floats(v: &Value) -> Vec<f64> {
    v.as_array()
        .map(|a| a.iter().filter_map(Value::as_f64).collect())
        .unwrap_or_default()
}

fn max_abs_diff(a: &[f64], b: &[f64]) -> f64 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f64::max)
}

#[test]
fn matches_trl_and_is_independent_of_batching() -> TestResult {
    let anchor: Value = serde_json::from_str(&std::fs::read_to_string(format!(
        "{FIXTURE}/trl_first_sample.json"
    ))?)?;
    let step = &anchor["steps"][0];
    let mut ids: Vec<i64> = serde_json::from_value(step["query_ids"].clone())?;
    ids.extend(serde_json::from_value::<Vec<i64>>(
        step["response_ids"].clone(),
    )?);
    let short: Vec<i64> = ids[..40].to_vec();

    let alone = logprobs(&json!({ "input_ids": [ids] }))?;
    let lp = floats(&alone["logprobs"][0]);
    let values = floats(&alone["values"][0]);
    assert_eq!(lp.len(), ids.len() - 1);
    // TRL computed these in float32 with the same weights: agreement to float32 round-off.
    assert!(max_abs_diff(&lp, &floats(&step["logprobs"])) < 1e-4);
    assert!(max_abs_diff(&values, &floats(&step["values_raw"])) < 1e-4);
    assert_eq!(alone["last_logits"][0].as_array().map(Vec::len), Some(2394));

    // Batched with a shorter sequence (right-padded internally): same numbers per sequence.
    let batched = logprobs(&json!({ "input_ids": [short, ids] }))?;
    assert!(max_abs_diff(&floats(&batched["logprobs"][1]), &lp) < 1e-4);
    assert!(
        max_abs_diff(
            &floats(&batched["last_logits"][1]),
            &floats(&alone["last_logits"][0])
        ) < 1e-4
    );
    let short_alone = logprobs(&json!({ "input_ids": [short] }))?;
    assert!(
        max_abs_diff(
            &floats(&batched["logprobs"][0]),
            &floats(&short_alone["logprobs"][0])
        ) < 1e-4
    );
    Ok(())
}

#[test]
fn bad_input_is_a_clear_error() -> TestResult {
    for (input, needle) in [
        (json!({"input_ids": [[1]]}), "fewer than 2 tokens"),
        (json!({"input_ids": [[1, 99999]]}), "outside the vocabulary"),
        (json!({"ids": [[1, 2]]}), "input_ids"),
    ] {
        let err = logprobs(&input)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(err.contains(needle), "{input}: {err}");
    }
    Ok(())
}
