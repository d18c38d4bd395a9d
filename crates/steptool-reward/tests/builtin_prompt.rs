//! The judge's built-in prompt and function schema are the reference evaluator's files
//! (`fixtures/reference/reward_annotation_gpt_template.txt` and the `evaluate_process_reward`
//! entry of `reward_annotation_gpt_config.yaml`).

use steptool_reward::judge::prompt::{reference_schema, REFERENCE_TEMPLATE_FILE};

type TestResult = Result<(), Box<dyn std::error::Error>>;

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../fixtures/reference");

#[test]
fn template_is_the_reference_file() -> TestResult {
    let fixture =
        std::fs::read_to_string(format!("{FIXTURES}/reward_annotation_gpt_template.txt"))?;
    assert_eq!(REFERENCE_TEMPLATE_FILE, fixture);
    Ok(())
}

#[test]
fn schema_is_the_one_in_the_reference_config() -> TestResult {
    let yaml = std::fs::read_to_string(format!("{FIXTURES}/reward_annotation_gpt_config.yaml"))?;
    let config: serde_json::Value = serde_yaml::from_str(&yaml)?;
    let functions = config["completions_kwargs"]["functions"]
        .as_array()
        .ok_or("no functions")?;
    let reference = functions
        .iter()
        .find(|f| f["name"] == "evaluate_process_reward")
        .ok_or("no evaluate_process_reward")?;
    assert_eq!(&reference_schema()?, reference);
    // The evaluator's model settings, which JudgeConfig's defaults follow.
    assert_eq!(config["completions_kwargs"]["max_tokens"], 1000);
    assert_eq!(config["completions_kwargs"]["temperature"], 0);
    Ok(())
}
