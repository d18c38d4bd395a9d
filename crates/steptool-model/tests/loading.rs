//! Checkpoint loading: sharded indexes, the load report, and the errors a broken checkpoint
//! gives (missing base weight, shape mismatch, truncated file), each naming tensor and file.

mod common;

use std::path::Path;

use common::*;
use steptool_model::{Error, LoadOptions, Model, PaddingSide};
use tch::Tensor;

fn copy_dir(from: &Path, to: &Path) -> TestResult {
    std::fs::create_dir_all(to)?;
    for e in std::fs::read_dir(from)? {
        let e = e?;
        if e.file_type()?.is_file() {
            std::fs::copy(e.path(), to.join(e.file_name()))?;
        }
    }
    Ok(())
}

/// All tensors of the fixture's model.safetensors, read back through tch.
fn fixture_tensors(name: &str) -> TestResult<Vec<(String, Tensor)>> {
    Ok(Tensor::read_safetensors(
        fixture(name).join("model.safetensors"),
    )?)
}

#[test]
fn sharded_checkpoint_gives_the_same_model() -> TestResult {
    let dir = tempfile::tempdir()?;
    std::fs::copy(
        fixture("qwen2_gqa").join("config.json"),
        dir.path().join("config.json"),
    )?;
    let mut tensors = fixture_tensors("qwen2_gqa")?;
    tensors.sort_by(|a, b| a.0.cmp(&b.0));
    let half = tensors.len() / 2;
    let mut map = serde_json::Map::new();
    for (i, part) in [&tensors[..half], &tensors[half..]].iter().enumerate() {
        let file = format!("model-0000{}-of-00002.safetensors", i + 1);
        steptool_model::weights::write_safetensors(part, &dir.path().join(&file))?;
        for (n, _) in part.iter() {
            map.insert(n.clone(), serde_json::Value::String(file.clone()));
        }
    }
    let index = serde_json::json!({"metadata": {"total_size": 0}, "weight_map": map});
    std::fs::write(
        dir.path().join("model.safetensors.index.json"),
        index.to_string(),
    )?;
    let (sharded, report) = Model::from_pretrained(dir.path(), LoadOptions::cpu())?;
    assert_eq!(report.loaded.len(), tensors.len());
    assert!(report.unused.is_empty());
    assert_eq!(report.missing_optional, vec!["lm_head.weight".to_string()]); // tied
    let (single, _) = Model::from_pretrained(&fixture("qwen2_gqa"), LoadOptions::cpu())?;
    let b = batch(&[vec![1, 5, 9, 3]], 0, PaddingSide::Right)?;
    assert_eq!(
        max_diff(&sharded.logits(&b, false)?, &single.logits(&b, false)?)?,
        0.0
    );
    Ok(())
}

#[test]
fn unused_tensors_are_reported() -> TestResult {
    let dir = tempfile::tempdir()?;
    copy_dir(&fixture("llama_linear"), dir.path())?;
    let mut tensors = fixture_tensors("llama_linear")?;
    tensors.push((
        "model.layers.0.self_attn.rotary_emb.inv_freq".into(),
        Tensor::zeros([4], tch::kind::FLOAT_CPU),
    ));
    steptool_model::weights::write_safetensors(&tensors, &dir.path().join("model.safetensors"))?;
    let (_, report) = Model::from_pretrained(dir.path(), LoadOptions::cpu())?;
    assert_eq!(
        report.unused,
        vec!["model.layers.0.self_attn.rotary_emb.inv_freq".to_string()]
    );
    Ok(())
}

#[test]
fn weights_the_config_does_not_use_are_an_error_unless_allowed() -> TestResult {
    // A checkpoint with one layer more than its config says: loading it would silently
    // compute with the extra layer ignored.
    let dir = tempfile::tempdir()?;
    copy_dir(&fixture("llama_linear"), dir.path())?;
    let mut tensors = fixture_tensors("llama_linear")?;
    let extra: Vec<(String, Tensor)> = tensors
        .iter()
        .filter(|(n, _)| n.starts_with("model.layers.0."))
        .map(|(n, t)| (n.replace("layers.0.", "layers.9."), t.copy()))
        .collect();
    tensors.extend(extra);
    steptool_model::weights::write_safetensors(&tensors, &dir.path().join("model.safetensors"))?;
    match Model::from_pretrained(dir.path(), LoadOptions::cpu()) {
        Err(e @ Error::UnusedTensors { .. }) => {
            let msg = e.to_string();
            assert!(
                msg.contains("model.layers.9.") && msg.contains("model.safetensors"),
                "{msg}"
            );
        }
        other => return Err(format!("expected UnusedTensors, got {:?}", other.map(|_| ())).into()),
    }
    let (_, report) = Model::from_pretrained(
        dir.path(),
        LoadOptions {
            allow_unused: true,
            ..LoadOptions::cpu()
        },
    )?;
    assert!(report
        .unused
        .iter()
        .all(|n| n.starts_with("model.layers.9.")));
    assert!(!report.unused.is_empty());
    Ok(())
}

#[test]
fn missing_base_weight_is_an_error_naming_it() -> TestResult {
    let dir = tempfile::tempdir()?;
    copy_dir(&fixture("llama_linear"), dir.path())?;
    let tensors: Vec<_> = fixture_tensors("llama_linear")?
        .into_iter()
        .filter(|(n, _)| n != "model.layers.1.mlp.up_proj.weight")
        .collect();
    steptool_model::weights::write_safetensors(&tensors, &dir.path().join("model.safetensors"))?;
    match Model::from_pretrained(dir.path(), LoadOptions::cpu()) {
        Err(Error::MissingTensor { name, location }) => {
            assert_eq!(name, "model.layers.1.mlp.up_proj.weight");
            assert!(location.ends_with("model.safetensors"), "{location}");
        }
        other => return Err(format!("expected MissingTensor, got {:?}", other.map(|_| ())).into()),
    }
    Ok(())
}

#[test]
fn shape_mismatch_is_an_error_naming_tensor_and_file() -> TestResult {
    let dir = tempfile::tempdir()?;
    copy_dir(&fixture("llama_linear"), dir.path())?;
    let tensors: Vec<_> = fixture_tensors("llama_linear")?
        .into_iter()
        .map(|(n, t)| {
            if n == "model.norm.weight" {
                (n, Tensor::ones([31], tch::kind::FLOAT_CPU))
            } else {
                (n, t)
            }
        })
        .collect();
    steptool_model::weights::write_safetensors(&tensors, &dir.path().join("model.safetensors"))?;
    match Model::from_pretrained(dir.path(), LoadOptions::cpu()) {
        Err(e @ Error::ShapeMismatch { .. }) => {
            let msg = e.to_string();
            assert!(
                msg.contains("model.norm.weight") && msg.contains("model.safetensors"),
                "{msg}"
            );
            assert!(msg.contains("[32]") && msg.contains("[31]"), "{msg}");
        }
        other => return Err(format!("expected ShapeMismatch, got {:?}", other.map(|_| ())).into()),
    }
    Ok(())
}

#[test]
fn truncated_file_is_an_error_naming_the_file() -> TestResult {
    let dir = tempfile::tempdir()?;
    copy_dir(&fixture("llama_linear"), dir.path())?;
    let path = dir.path().join("model.safetensors");
    let bytes = std::fs::read(&path)?;
    std::fs::write(&path, &bytes[..bytes.len() - 100])?;
    match Model::from_pretrained(dir.path(), LoadOptions::cpu()) {
        Err(e @ Error::Safetensors { .. }) => {
            assert!(e.to_string().contains("model.safetensors"), "{e}")
        }
        other => {
            return Err(format!("expected Safetensors error, got {:?}", other.map(|_| ())).into())
        }
    }
    // A garbage header is reported the same way.
    std::fs::write(&path, b"\x10\x00\x00\x00\x00\x00\x00\x00{not json at all")?;
    assert!(matches!(
        Model::from_pretrained(dir.path(), LoadOptions::cpu()),
        Err(Error::Safetensors { .. })
    ));
    Ok(())
}

#[test]
fn index_pointing_at_the_wrong_shard_is_an_error() -> TestResult {
    let dir = tempfile::tempdir()?;
    std::fs::copy(
        fixture("qwen2_gqa").join("config.json"),
        dir.path().join("config.json"),
    )?;
    let tensors = fixture_tensors("qwen2_gqa")?;
    steptool_model::weights::write_safetensors(&tensors, &dir.path().join("a.safetensors"))?;
    steptool_model::weights::write_safetensors(&tensors[..1], &dir.path().join("b.safetensors"))?;
    let index = serde_json::json!({"weight_map": {tensors[0].0.clone(): "a.safetensors"}});
    std::fs::write(
        dir.path().join("model.safetensors.index.json"),
        index.to_string(),
    )?;
    // Two shards holding the same tensor name: rejected.
    let index2 = serde_json::json!({"weight_map": {tensors[0].0.clone(): "a.safetensors", "x": "b.safetensors"}});
    std::fs::write(
        dir.path().join("model.safetensors.index.json"),
        index2.to_string(),
    )?;
    match Model::from_pretrained(dir.path(), LoadOptions::cpu()) {
        Err(e @ Error::Index { .. }) => assert!(e.to_string().contains(&tensors[0].0), "{e}"),
        other => return Err(format!("expected Index error, got {:?}", other.map(|_| ())).into()),
    }
    Ok(())
}

#[test]
fn bad_config_is_an_error_naming_file_and_field() -> TestResult {
    let dir = tempfile::tempdir()?;
    copy_dir(&fixture("llama_linear"), dir.path())?;
    let cfg = std::fs::read_to_string(dir.path().join("config.json"))?
        .replace("\"linear\"", "\"dynamic\"");
    std::fs::write(dir.path().join("config.json"), cfg)?;
    match Model::from_pretrained(dir.path(), LoadOptions::cpu()) {
        Err(e @ Error::Config { .. }) => {
            let msg = e.to_string();
            assert!(
                msg.contains("config.json") && msg.contains("rope_scaling"),
                "{msg}"
            );
        }
        other => return Err(format!("expected Config error, got {:?}", other.map(|_| ())).into()),
    }
    Ok(())
}

#[test]
fn value_head_loads_from_trl_names_and_state_dict_names() -> TestResult {
    let dir = tempfile::tempdir()?;
    let w =
        Tensor::from_slice(&(0..32).map(|i| i as f32 / 100.0).collect::<Vec<_>>()).view([1, 32]);
    let b = Tensor::from_slice(&[0.5f32]);
    let short = dir.path().join("short.safetensors");
    steptool_model::weights::write_safetensors(
        &[
            ("summary.weight".into(), w.copy()),
            ("summary.bias".into(), b.copy()),
        ],
        &short,
    )?;
    let mut m = load("llama_linear")?; // loads the fixture's TRL-named head first
    m.load_value_head(&short)?;
    let batch = batch(&[vec![1, 2, 3]], 0, PaddingSide::Right)?;
    let out = m.forward_batch(&batch, &steptool_model::ForwardOptions::default())?;
    let with_w = out.values.ok_or("values")?;
    // With w = 0 the value is exactly the bias, 0.5, at every position.
    let zero = dir.path().join("zero.safetensors");
    steptool_model::weights::write_safetensors(
        &[
            (
                "summary.weight".into(),
                Tensor::zeros([1, 32], tch::kind::FLOAT_CPU),
            ),
            ("summary.bias".into(), b.copy()),
        ],
        &zero,
    )?;
    m.load_value_head(&zero)?;
    let out = m.forward_batch(&batch, &steptool_model::ForwardOptions::default())?;
    let only_bias = rows(&out.values.ok_or("values")?)?;
    assert_eq!(only_bias, vec![vec![0.5, 0.5, 0.5]]);
    // ... and with w loaded from the short names the values differ from the bias.
    assert!(
        max_diff(
            &with_w,
            &Tensor::from_slice(&[0.5f32, 0.5, 0.5]).view([1, 3])
        )? > 1e-3
    );
    let reloaded = dir.path().join("full.safetensors");
    m.save_value_head(&reloaded)?;
    let names: Vec<String> = steptool_model::Checkpoint::open_files(&[reloaded])?
        .names()
        .map(str::to_string)
        .collect();
    assert_eq!(
        names,
        vec![
            "v_head.summary.bias".to_string(),
            "v_head.summary.weight".to_string()
        ]
    );
    // A head of the wrong width names the tensor.
    let bad = dir.path().join("bad.safetensors");
    steptool_model::weights::write_safetensors(
        &[
            (
                "summary.weight".into(),
                Tensor::zeros([1, 8], tch::kind::FLOAT_CPU),
            ),
            ("summary.bias".into(), b),
        ],
        &bad,
    )?;
    match m.load_value_head(&bad) {
        Err(Error::ShapeMismatch { name, .. }) => assert_eq!(name, "summary.weight"),
        other => return Err(format!("expected ShapeMismatch, got {other:?}").into()),
    }
    Ok(())
}
