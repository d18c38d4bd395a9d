//! `merge_adapter`: a LoRA adapter folded into its base reloads as a plain model with the
//! adapted model's logits, with the base's tokenizer next to it; a run directory resolves to
//! its newest adapter; a failed merge leaves an existing output as it was.

use steptool_model::{Batch, LoadOptions, LoraConfig, Model, PaddingSide};
use steptool_ppo::common::merge::merge_adapter;
use steptool_ppo::embedded::{tiny_llama_config, train_tokenizer};
use tch::Tensor;

type R = Result<(), Box<dyn std::error::Error>>;

#[test]
fn a_merged_adapter_reloads_with_the_adapted_logits() -> R {
    let tmp = tempfile::tempdir()?;
    let tok = train_tokenizer(&["merge the adapter into the base".to_string()], 120)?;
    let vocab = tok.get_vocab_size(true) as i64;
    let mut model = Model::random(tiny_llama_config(vocab)?, LoadOptions::cpu())?;
    steptool_ppo::app::save_base(&model, &tok, tmp.path())?;
    let base = tmp.path().join(steptool_ppo::app::BASE_DIR);
    model.attach_lora(LoraConfig::default(), 3)?;
    // Non-zero B (a fresh adapter is the identity), from values that do not depend on
    // libtorch's global generator.
    tch::no_grad(|| {
        let mut vars: Vec<(String, Tensor)> = model.var_store().variables().into_iter().collect();
        vars.sort_by(|a, b| a.0.cmp(&b.0));
        for (k, (name, mut t)) in vars.into_iter().enumerate() {
            if name.contains("lora_B") {
                let n = t.numel() as i64;
                let vals = Tensor::arange(n, (tch::Kind::Float, tch::Device::Cpu))
                    .f_mul_scalar(0.37 + k as f64)
                    .and_then(|x| x.f_sin())
                    .map(|x| x * 0.3);
                if let Ok(v) = vals {
                    t.copy_(&v.view(t.size().as_slice()));
                }
            }
        }
    });
    let adapter = tmp.path().join("adapter");
    model.save_adapter(&adapter)?;
    let batch = Batch::from_sequences(
        &[vec![1, 5, 9, 4, 7], vec![3, 2, 8]],
        0,
        PaddingSide::Left,
        tch::Device::Cpu,
    )?;
    let want = model.logits(&batch, true)?;
    let no_lora = model.logits(&batch, false)?;
    assert!(
        (&want - &no_lora).abs().max().double_value(&[]) > 1e-3,
        "the adapter changes the model"
    );

    // A run directory as the trainers leave it: `checkpoints/latest` names the newest bundle,
    // whose `adapter/` is the PEFT directory; the run's path is enough.
    let run = tmp.path().join("run");
    let bundle = run.join("checkpoints/step-3");
    std::fs::create_dir_all(bundle.join("adapter"))?;
    for f in ["adapter_config.json", "adapter_model.safetensors"] {
        std::fs::copy(adapter.join(f), bundle.join("adapter").join(f))?;
    }
    std::fs::write(bundle.join("trainer_state.json"), "{}")?;
    std::fs::write(run.join("checkpoints/latest"), "step-3")?;

    let out = tmp.path().join("merged");
    let report = merge_adapter(&base, &run, None, &out, LoadOptions::cpu())?;
    assert_eq!(report.adapter, bundle.join("adapter"));
    assert_eq!(
        report.merged_weights,
        LoraConfig::default().target_modules.len() * 2
    );
    assert!(
        report.copied.contains(&"tokenizer.json".to_string()),
        "{report}"
    );
    let (merged, load) = Model::from_pretrained(&out, LoadOptions::cpu())?;
    assert!(load.unused.is_empty() && merged.lora_config().is_none());
    let got = merged.logits(&batch, false)?;
    assert!((&got - &want).abs().max().double_value(&[]) < 1e-4);
    tokenizers::Tokenizer::from_file(out.join("tokenizer.json")).map_err(|e| e.to_string())?;

    // A missing adapter is an error, and the merged model is still there.
    let err = merge_adapter(
        &base,
        &tmp.path().join("nothing"),
        None,
        &out,
        LoadOptions::cpu(),
    )
    .err()
    .ok_or("merged a missing adapter")?;
    assert!(err.to_string().contains("nothing"), "{err}");
    assert!(out.join("model.safetensors").is_file());
    Ok(())
}
