//! Writes a LoRA adapter (PEFT format) and a merged full checkpoint from the golden llama3
//! fixture, plus the log-probs this crate computes, for `scripts/golden/model_golden.py
//! check-adapter` to compare against python peft / transformers:
//!
//! ```text
//! scripts/with-torch cargo run -p steptool-model --example peft_roundtrip -- /tmp/rt
//! .venv-model/bin/python scripts/golden/model_golden.py check-adapter \
//!     --model fixtures/golden/model/llama3_gqa --adapter /tmp/rt/adapter --expected /tmp/rt/expected.json
//! .venv-model/bin/python scripts/golden/model_golden.py check-adapter \
//!     --model /tmp/rt/merged --expected /tmp/rt/expected.json
//! ```

use std::path::PathBuf;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use steptool_model::{Batch, ForwardOptions, LoadOptions, LoraConfig, Model, PaddingSide};
use tch::Tensor;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let out = PathBuf::from(
        std::env::args()
            .nth(1)
            .ok_or("usage: peft_roundtrip OUT_DIR")?,
    );
    let fixture =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/golden/model/llama3_gqa");
    let (mut model, _) = Model::from_pretrained(&fixture, LoadOptions::cpu())?;
    let cfg = LoraConfig {
        r: 4,
        alpha: 12.0,
        dropout: 0.0,
        target_modules: ["q_proj", "k_proj", "o_proj", "gate_proj", "up_proj"]
            .map(String::from)
            .to_vec(),
        use_rslora: false,
    };
    model.attach_lora(cfg, 7)?;
    let mut vars: Vec<(String, Tensor)> = model.var_store().variables().into_iter().collect();
    vars.sort_by(|a, b| a.0.cmp(&b.0));
    let mut rng = StdRng::seed_from_u64(3);
    tch::no_grad(|| {
        for (name, mut t) in vars {
            if name.contains("lora_B") {
                let vals: Vec<f32> = (0..t.numel())
                    .map(|_| rng.gen_range(-0.5f32..0.5))
                    .collect();
                t.copy_(&Tensor::from_slice(&vals).view(t.size().as_slice()));
            }
        }
    });
    let ids = vec![
        vec![1i64, 17, 42, 5, 33, 60, 8],
        vec![1, 9, 50, 22, 4, 4, 61],
    ];
    let batch = Batch::from_sequences(&ids, 0, PaddingSide::Right, tch::Device::Cpu)?;
    let lp = model.forward_batch(
        &batch,
        &ForwardOptions {
            values: false,
            ..ForwardOptions::default()
        },
    )?;
    let logprobs = Vec::<Vec<f64>>::try_from(&lp.logprobs.to_kind(tch::Kind::Double))?;
    model.save_adapter(&out.join("adapter"))?;
    model.export_merged(&out.join("merged"))?;
    let expected = serde_json::json!({"input_ids": ids, "logprobs": logprobs});
    std::fs::write(out.join("expected.json"), expected.to_string())?;
    println!("wrote {}", out.display());
    Ok(())
}
