//! The embedded default run end to end (fewer steps): tokenizer trained in code, tiny model,
//! shipped rows, metrics JSONL, PNG plot, checkpoints; then a resume that continues it.

use steptool_ppo::app::{run_training, TrainSpec};

type R = Result<(), Box<dyn std::error::Error>>;

#[test]
fn embedded_default_runs_and_resumes() -> R {
    let dir = tempfile::tempdir()?;
    let spec = TrainSpec {
        steps: Some(2),
        checkpoint_every: 1,
        runs_dir: dir.path().to_path_buf(),
        progress: false,
        // shorter episodes than the demo's 384 + 128 keep the debug-build test quick
        encoder: steptool_mdp::EncoderConfig {
            max_context: 96,
            max_response: 32,
            ..TrainSpec::embedded_default().encoder
        },
        ..TrainSpec::embedded_default()
    };
    let s = run_training(spec.clone())?;
    assert_eq!((s.episodes, s.steps_run, s.steps_done), (10, 2, 2));
    let out = dir.path().join("embedded-default");
    let lines = std::fs::read_to_string(out.join("metrics.jsonl"))?;
    assert_eq!(lines.lines().count(), 2);
    let png = std::fs::read(out.join("metrics.png"))?;
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
    for f in [
        "tokenizer.json",
        "spec.json",
        "checkpoints/latest",
        "checkpoints/step-1/trainer_state.json",
        "checkpoints/step-2/adapter/adapter_model.safetensors",
    ] {
        assert!(out.join(f).is_file(), "{f}");
    }
    assert_eq!(
        std::fs::read_to_string(out.join("checkpoints/latest"))?,
        "step-2"
    );
    // resume to 3 steps: one more step, metrics file has 3 lines
    let s = run_training(TrainSpec {
        steps: Some(3),
        resume: true,
        ..spec
    })?;
    assert_eq!((s.steps_run, s.steps_done), (1, 3));
    assert_eq!(
        std::fs::read_to_string(out.join("metrics.jsonl"))?
            .lines()
            .count(),
        3
    );
    Ok(())
}

#[test]
fn sub_trajectory_ablation_makes_one_episode_per_step() -> R {
    let dir = tempfile::tempdir()?;
    let rows = steptool_mdp::formats::tsv::read_tsv_str(steptool_ppo::app::EMBEDDED_ROWS)?;
    let steps: usize = rows.samples.iter().map(|r| r.sample.num_steps()).sum();
    let base = TrainSpec::embedded_default();
    let spec = TrainSpec {
        steps: Some(1),
        runs_dir: dir.path().to_path_buf(),
        progress: false,
        encoder: steptool_mdp::EncoderConfig {
            max_context: 96,
            max_response: 32,
            ..base.encoder.clone()
        },
        ppo: steptool_ppo::PpoConfig {
            sub_trajectories: true,
            estimator: steptool_advantage::Estimator::FinalReward,
            ..base.ppo.clone()
        },
        ..base
    };
    let s = run_training(spec)?;
    // 10 rows of 2-4 steps; truncation to 96 + 32 tokens can drop early steps, never add any
    assert!(
        s.episodes <= steps && s.episodes > 10,
        "{} of {steps}",
        s.episodes
    );
    assert_eq!(s.steps_done, 1);
    Ok(())
}

#[test]
fn shipped_example_specs_parse() -> R {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/specs");
    let mut n = 0;
    for entry in std::fs::read_dir(&dir)? {
        let path = entry?.path();
        if path.extension().is_none_or(|e| e != "json") {
            continue;
        }
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default();
        // Every shipped spec is listed with its kind, so a new one is parsed too.
        match name {
            "toolllama-7b.json" | "smollm2-steptool.json" => {
                let spec = TrainSpec::from_json_file(&path)?;
                assert!(!spec.run_name.is_empty(), "{name}");
            }
            "smollm2-sft.json" => {
                let spec = steptool_ppo::sft::SftSpec::from_json_file(&path)?;
                assert!(!spec.run_name.is_empty(), "{name}");
            }
            "smollm2-study-cpu.json" => {
                let spec = steptool_ppo::experiment::ExperimentSpec::from_json_file(&path)?;
                spec.validate()?;
            }
            other => {
                return Err(
                    format!("examples/specs/{other}: add it to this test with its kind").into(),
                )
            }
        }
        n += 1;
    }
    assert!(n >= 4, "only {n} specs in {}", dir.display());
    Ok(())
}
