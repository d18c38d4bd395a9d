//! Parity with Hugging Face transformers 4.43.1 (fixtures from scripts/golden/model_golden.py):
//! per-position log-probs, entropy, values and last-position logits of three tiny random
//! checkpoints, on a batch padded on the left and on the right, to 1e-4 in f32.

mod common;

use common::*;
use steptool_model::{ForwardOptions, Model, PaddingSide};

const TOL: f64 = 1e-4;

fn check_side(
    model: &Model,
    exp: &Expected,
    side: PaddingSide,
    want: &Outputs,
    adapters: bool,
    tag: &str,
) -> TestResult {
    let b = batch(&exp.seqs, exp.pad_token_id, side)?;
    let out = model.forward_batch(
        &b,
        &ForwardOptions {
            use_adapters: adapters,
            ..ForwardOptions::default()
        },
    )?;
    let lp = rows(&out.logprobs)?;
    let ent = rows(&out.entropy)?;
    let vals = rows(out.values.as_ref().ok_or("no values")?)?;
    let logits = rows(
        &model
            .logits(&b, adapters)?
            .reshape([-1, model.config().vocab_size()]),
    )?;
    let padded = exp.seqs.iter().map(Vec::len).max().unwrap_or(0);
    for (i, s) in exp.seqs.iter().enumerate() {
        let l = s.len();
        let w = format!("{tag} {side:?} seq {i}");
        assert_close(
            &format!("{w} logprobs"),
            &real(&lp[i], side, padded, l, l - 1),
            &want.logprobs[i],
            TOL,
        )?;
        assert_close(
            &format!("{w} entropy"),
            &real(&ent[i], side, padded, l, l - 1),
            &want.entropy[i],
            TOL,
        )?;
        assert_close(
            &format!("{w} values"),
            &real(&vals[i], side, padded, l, l),
            &want.values[i],
            TOL,
        )?;
        let last = match side {
            PaddingSide::Left => padded - 1,
            PaddingSide::Right => l - 1,
        };
        assert_close(
            &format!("{w} last_logits"),
            &logits[i * padded + last],
            &want.last_logits[i],
            TOL,
        )?;
    }
    Ok(())
}

fn check(name: &str) -> TestResult {
    let model = load(name)?;
    let exp = expected(name)?;
    check_side(&model, &exp, PaddingSide::Left, &exp.left, true, name)?;
    check_side(&model, &exp, PaddingSide::Right, &exp.right, true, name)
}

#[test]
fn llama2_with_linear_rope_scaling_matches_transformers() -> TestResult {
    check("llama_linear")
}

#[test]
fn llama3_rope_with_gqa_matches_transformers() -> TestResult {
    check("llama3_gqa")
}

#[test]
fn qwen2_with_bias_gqa_and_tied_embeddings_matches_transformers() -> TestResult {
    check("qwen2_gqa")
}

#[test]
fn peft_adapter_matches_peft_and_disables_to_the_base() -> TestResult {
    let mut model = load("llama3_gqa")?;
    let exp = expected("llama3_gqa")?;
    let report = model.load_adapter(&fixture("llama3_gqa").join("adapter"))?;
    // 2 layers x 3 targets (q, v, down) x (A, B).
    assert_eq!(report.loaded.len(), 12);
    let ad = exp
        .adapter
        .as_ref()
        .ok_or("fixture has no adapter outputs")?;
    check_side(&model, &exp, PaddingSide::Left, &ad.left, true, "adapter")?;
    check_side(&model, &exp, PaddingSide::Right, &ad.right, true, "adapter")?;
    let off = exp
        .adapter_disabled_right
        .as_ref()
        .ok_or("no disabled outputs")?;
    check_side(
        &model,
        &exp,
        PaddingSide::Right,
        off,
        false,
        "adapter disabled",
    )?;
    // The disabled adapter is exactly the base model's golden output too.
    check_side(&model, &exp, PaddingSide::Right, &exp.right, false, "base")
}
