//! Property tests: per-sequence outputs do not depend on the padding side or on which other
//! sequences share the batch.

mod common;

use common::*;
use proptest::prelude::*;
use steptool_model::{testing, ForwardOptions, LoadOptions, LoraConfig, Model, PaddingSide};
use tch::Tensor;

fn model() -> TestResult<Model> {
    let mut m = Model::random(testing::tiny_qwen2()?, LoadOptions::cpu())?;
    m.attach_lora(
        LoraConfig {
            target_modules: vec!["v_proj".into(), "up_proj".into()],
            ..LoraConfig::default()
        },
        2,
    )?;
    m.init_value_head(2)?;
    Ok(m)
}

fn row(t: &Tensor, b: i64, off: i64, len: i64) -> Tensor {
    t.get(b).narrow(0, off, len)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn outputs_do_not_depend_on_padding_or_batch_packing(
        seqs in prop::collection::vec(prop::collection::vec(0i64..64, 2..12), 1..5),
        pad in 0i64..64,
    ) {
        let run = || -> TestResult {
            let m = model()?;
            let n = seqs.iter().map(Vec::len).max().unwrap_or(0) as i64;
            let opts = ForwardOptions::default();
            let left = m.forward_batch(&batch(&seqs, pad, PaddingSide::Left)?, &opts)?;
            let right = m.forward_batch(&batch(&seqs, pad, PaddingSide::Right)?, &opts)?;
            for (i, s) in seqs.iter().enumerate() {
                let (b, l) = (i as i64, s.len() as i64);
                let alone = m.forward_batch(&batch(std::slice::from_ref(s), pad, PaddingSide::Right)?, &opts)?;
                let want = alone.logprobs.get(0);
                for (name, got) in [("left", row(&left.logprobs, b, n - l, l - 1)), ("right", row(&right.logprobs, b, 0, l - 1))] {
                    let d = max_diff(&got, &want)?;
                    if d > 1e-5 { return Err(format!("seq {i} {name}: {d}").into()); }
                }
                let lv = left.values.as_ref().ok_or("values")?;
                let av = alone.values.as_ref().ok_or("values")?;
                let d = max_diff(&row(lv, b, n - l, l), &av.get(0))?;
                if d > 1e-5 { return Err(format!("seq {i} values: {d}").into()); }
            }
            Ok(())
        };
        if let Err(e) = run() {
            return Err(TestCaseError::fail(e.to_string()));
        }
    }
}
