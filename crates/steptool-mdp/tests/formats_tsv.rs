//! The StepTool training TSV over the real reference files: every row decodes, the lists align
//! (formats.md §1.3), and reading then writing reproduces each file byte for byte.

use std::path::PathBuf;

use steptool_mdp::formats::tsv;
use steptool_mdp::{Result, StepSample};

fn repo_file(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(rel)
}

const FILES: [&str; 3] = [
    "fixtures/reference/steptool_ppo_toolllama_5rows.csv",
    "fixtures/reference/steptool_ppo_qwen2_5rows.csv",
    "fixtures/trl-baseline/train.tsv",
];

#[test]
fn fixtures_round_trip_byte_identical() -> Result<()> {
    for rel in FILES {
        let path = repo_file(rel);
        let original = std::fs::read(&path).map_err(|e| steptool_mdp::Error::io(&path, e))?;
        let samples = tsv::read_tsv_strict(&path)?;
        let written = tsv::to_tsv_string(&samples);
        assert!(
            written.as_bytes() == original.as_slice(),
            "{rel} does not round-trip"
        );
        // The same through a file.
        let dir = tempfile::tempdir().map_err(|e| steptool_mdp::Error::io("tempdir", e))?;
        let out = dir.path().join("out.tsv");
        tsv::write_tsv(&out, &samples)?;
        let rewritten = std::fs::read(&out).map_err(|e| steptool_mdp::Error::io(&out, e))?;
        assert!(rewritten == original, "{rel}: write_tsv differs");
    }
    Ok(())
}

#[test]
fn fixture_rows_follow_the_templates() -> Result<()> {
    let toolllama = tsv::read_tsv(repo_file(FILES[0]))?;
    let qwen2 = tsv::read_tsv(repo_file(FILES[1]))?;
    let trl = tsv::read_tsv(repo_file(FILES[2]))?;
    assert_eq!(
        (
            toolllama.samples.len(),
            qwen2.samples.len(),
            trl.samples.len()
        ),
        (5, 5, 10)
    );
    assert!(toolllama.errors.is_empty() && qwen2.errors.is_empty() && trl.errors.is_empty());
    // Lines: header is line 1, data row i starts on line i + 2 (one physical line per row).
    for (i, row) in qwen2.samples.iter().enumerate() {
        assert_eq!((row.row, row.line), (i, i + 2));
    }
    let check = |s: &StepSample, first: &str, later: &str, finish: &str| {
        assert!(s.num_steps() >= 2 && s.num_steps() <= 6);
        assert!(s.prompts[0].starts_with(first), "{:?}", &s.prompts[0]);
        assert!(s.prompts[1..].iter().all(|p| p.starts_with(later)));
        assert!(s.responses.last().is_some_and(|r| r.contains(finish)));
    };
    for row in &toolllama.samples {
        check(
            &row.sample,
            "System:\nSpecifically, you have access to the following APIs: [",
            "Function:\n",
            "Action: Finish\n",
        );
    }
    for row in &qwen2.samples {
        check(
            &row.sample,
            "<|im_start|>system\nSpecifically, you have access to the following APIs: [",
            "<|im_start|>function\n",
            "Action: Finish\nAction Input: ",
        );
        assert!(row
            .sample
            .responses
            .iter()
            .all(|r| r.starts_with("Thought: \nAction: ") && r.ends_with("<|im_end|>\n")));
    }
    // Row 1 of the Qwen2 file stores `[0.9666666666666668, 1.0, 1.0]`: one ulp above
    // 29/30 = 0.9666666666666667, and the reader keeps that exact double.
    assert_eq!(
        qwen2.samples[1].sample.rewards,
        vec![0.9666666666666668, 1.0, 1.0]
    );
    assert_eq!(
        0.9666666666666668f64.to_bits(),
        (29.0f64 / 30.0).to_bits() + 1
    );
    // The first toolllama row begins as formats.md §1.2 shows; `""error""` in the file is `"error"`.
    let first = &toolllama.samples[0].sample;
    assert!(first.prompts[1]
        .starts_with("Function:\n{\"error\": \"\", \"response\": \"The Image Search API"));
    assert_eq!(first.rewards, vec![1.0, 0.0]);
    Ok(())
}

#[test]
fn a_corrupted_fixture_reports_each_bad_row() -> Result<()> {
    let path = repo_file(FILES[1]);
    let text = std::fs::read_to_string(&path).map_err(|e| steptool_mdp::Error::io(&path, e))?;
    let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
    // Row 1: drop the last reward; row 3: make the reward cell a string.
    lines[2] = lines[2].replace(
        "[0.9666666666666668, 1.0, 1.0]",
        "[0.9666666666666668, 1.0]",
    );
    let reward_start = lines[4].rfind('\t').map_or(0, |i| i + 1);
    lines[4].replace_range(reward_start.., "'high'");
    let corrupted = lines.join("\n") + "\n";
    let read = tsv::read_tsv_str(&corrupted)?;
    assert_eq!(read.rows(), 5);
    assert_eq!(
        read.samples.iter().map(|r| r.row).collect::<Vec<_>>(),
        vec![0, 2, 4]
    );
    let errors: Vec<String> = read.errors.iter().map(|(_, e)| e.to_string()).collect();
    assert_eq!(
        read.errors.iter().map(|(r, _)| *r).collect::<Vec<_>>(),
        vec![1, 3]
    );
    assert!(
        errors[0].contains("line 3, row 1")
            && errors[0].contains("3 prompts, 3 responses, 2 rewards"),
        "{}",
        errors[0]
    );
    assert!(
        errors[1].contains("line 5, row 3, field `reward`")
            && errors[1].contains("expected a list, found a str"),
        "{}",
        errors[1]
    );
    Ok(())
}

mod roundtrip {
    use proptest::prelude::*;
    use steptool_mdp::formats::tsv;
    use steptool_mdp::StepSample;

    fn sample() -> impl Strategy<Value = StepSample> {
        (1usize..5).prop_flat_map(|n| {
            (
                prop::collection::vec(any::<String>(), n),
                prop::collection::vec("[\"'\\t\\n\\\\a-z é😀]*", n),
                prop::collection::vec(-1e6f64..1e6, n),
            )
                .prop_map(|(prompts, responses, rewards)| StepSample {
                    prompts,
                    responses,
                    rewards,
                })
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        /// Any samples written as TSV read back equal, with one physical line per row.
        #[test]
        fn write_then_read(samples in prop::collection::vec(sample(), 0..6)) {
            let text = tsv::to_tsv_string(&samples);
            prop_assert_eq!(text.lines().count(), samples.len() + 1);
            let read = tsv::read_tsv_str(&text).map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert!(read.errors.is_empty(), "{:?}", read.errors);
            let back: Vec<StepSample> = read.samples.into_iter().map(|r| r.sample).collect();
            prop_assert_eq!(back, samples);
        }
    }
}
