//! `steptool experiment --preset quick` end to end: every method runs from the one SFT start,
//! every row and column of the report is written, and a resumed study keeps what it has.

use steptool_ppo::experiment::{run_experiment, ExperimentSpec, Method};

type R = Result<(), Box<dyn std::error::Error>>;

#[test]
fn the_quick_study_runs_every_method_and_reports_every_row() -> R {
    let dir = tempfile::tempdir()?;
    let out = dir.path().join("study");
    let mut spec = ExperimentSpec::quick();
    spec.progress = false;
    let summary = run_experiment(spec.clone(), &out, false, false)?;
    let r = &summary.results;
    assert_eq!(r.method_order.len(), Method::ALL.len());
    for m in Method::ALL {
        let res = &r.methods[m.as_str()];
        for st in ["cot", "dfsdt"] {
            let s = &res.strategies[st];
            assert!((0.0..=100.0).contains(&s.pass_rate), "{m:?} {st}");
            assert_eq!(s.per_seed.len(), 1);
            assert_eq!(s.errors.len(), 4, "{m:?} {st}: the four error types");
        }
        let ks: Vec<&String> = res.strategies["cot"].pass_at_k.keys().collect();
        assert_eq!(ks.len(), 4, "{m:?}: pass@1,2,4,8");
        // Every trained method ran the same budget; the start ran none.
        match m {
            Method::Sft => assert_eq!(res.optimizer_updates, 0.0),
            Method::EtoDpo if !res.notes[0].contains_key("pairs") => panic!("no pair stats"),
            Method::EtoDpo if res.notes[0].contains_key("untrained") => {}
            _ => assert_eq!(res.optimizer_updates, r.updates as f64, "{m:?}"),
        }
    }
    let md = std::fs::read_to_string(out.join("results.md"))?;
    for m in Method::ALL {
        assert!(md.contains(m.label().trim()), "{} missing", m.label());
    }
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("results.json"))?)?;
    assert_eq!(json["preset"], "quick");
    assert!(json["methods"]["steptool"]["dfsdt"]["pass_rate"].is_number());
    for png in ["fig5.png", "training.png", "pass_at_k.png"] {
        assert!(out.join(png).is_file(), "{png}");
    }

    // Run again: refused without a flag; resumed, every method is kept as it was.
    let Err(e) = run_experiment(spec.clone(), &out, false, false) else {
        return Err("a second run without --resume was not refused".into());
    };
    assert!(e.to_string().contains("--resume"), "{e}");
    let again = run_experiment(spec.clone(), &out, true, false)?;
    for m in Method::ALL {
        assert_eq!(
            again.results.methods[m.as_str()].strategies,
            r.methods[m.as_str()].strategies
        );
    }
    // A resume with another spec says which field changed.
    let mut other = spec;
    other.samples = 3;
    let Err(e) = run_experiment(other, &out, true, false) else {
        return Err("a resume with a changed spec was not refused".into());
    };
    assert!(e.to_string().contains("samples"), "{e}");
    Ok(())
}

#[test]
fn a_lora_start_is_merged_once_and_every_method_starts_from_it() -> R {
    let dir = tempfile::tempdir()?;
    let out = dir.path().join("study");
    let mut spec = ExperimentSpec::quick();
    spec.progress = false;
    spec.methods = vec![Method::Sft, Method::Steptool];
    // The pretrained recipe's shape on the embedded model: a LoRA start, not a full one.
    spec.start.sft.full_finetune = false;
    let summary = run_experiment(spec.clone(), &out, false, false)?;
    let merged = out.join("start/merged");
    assert!(merged.join("config.json").is_file() && merged.join("tokenizer.json").is_file());
    assert!(merged.join("model.safetensors").is_file());
    assert_eq!(
        summary.results.methods["steptool"].optimizer_updates,
        summary.results.updates as f64
    );
    // A resume reuses the merged start instead of merging again.
    let before = std::fs::metadata(merged.join("model.safetensors"))?.modified()?;
    run_experiment(spec, &out, true, false)?;
    assert_eq!(
        std::fs::metadata(merged.join("model.safetensors"))?.modified()?,
        before
    );
    Ok(())
}

#[test]
fn a_pretrained_start_takes_the_lora_recipe_and_the_tokenizers_chat_format() -> R {
    let dir = tempfile::tempdir()?;
    let cases = [
        (r#"{"added_tokens":[{"content":"<|im_start|>"}]}"#, "qwen2"),
        (
            r#"{"added_tokens":[{"content":"<|start_header_id|>"}]}"#,
            "llama3",
        ),
        (r#"{"added_tokens":[{"content":"</s>"}]}"#, "toolllama"),
    ];
    for (tokenizer, format) in cases {
        std::fs::write(dir.path().join("tokenizer.json"), tokenizer)?;
        let mut spec = ExperimentSpec::full();
        spec.use_pretrained_start(dir.path())?;
        assert_eq!(
            serde_json::to_value(spec.start.env.chat_format)?,
            serde_json::json!(format)
        );
        assert!(!spec.start.sft.full_finetune && !spec.rft.full_finetune);
        assert_eq!(spec.start.sft.context_loss_weight, 0.0);
        assert_eq!(spec.start.lora.target_modules.len(), 7);
        assert_eq!(spec.start.model_dir.as_deref(), Some(dir.path()));
        spec.validate()?;
    }
    let missing = ExperimentSpec::full().use_pretrained_start(&dir.path().join("nope"));
    assert!(missing.is_err_and(|e| e.to_string().contains("nope")));
    Ok(())
}
