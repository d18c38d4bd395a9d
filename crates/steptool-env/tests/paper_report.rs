//! The paper's Table 3 from StableToolBench pass-rate result files: golden numbers from
//! `scripts/golden/eval_report_golden.py`, byte-exact round trips of the released files, the
//! warnings and errors that replace silent zeros, the error types on our own rollouts, the chart.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde_json::Value;
use steptool_env::metrics::{
    judge_converted, paper_report, plot_pass_rates, read_pass_rate_file, read_query_dir,
    read_results_dir, record_errors, write_pass_rate_file, AnswerJudge, AnswerStatus, ErrorType,
    Group, JudgeInput, MethodResults, QueryFile, ReportSpec,
};
use steptool_env::rollout::{run_many, RolloutConfig};
use steptool_env::synthetic::{
    ExpertAgent, Split, SyntheticBenchmark, SyntheticConfig, SyntheticEnv, SyntheticEnvConfig,
};
use steptool_env::{Error, Result, StatusCode};
use steptool_mdp::formats::converted::read_converted;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn fixture(rel: &str) -> PathBuf {
    root().join("fixtures/eval").join(rel)
}

fn methods() -> Result<Vec<MethodResults>> {
    ["steptool", "toolllama_sft"]
        .iter()
        .map(|m| read_results_dir(fixture(&format!("results/{m}"))))
        .collect()
}

fn read_json(path: &Path) -> Result<Value> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    serde_json::from_str(&text).map_err(|e| Error::json(path.display().to_string(), e))
}

/// Every value of `golden` is in `ours` at the same path: numbers to 1e-9, the rest equal.
fn assert_matches(golden: &Value, ours: &Value, path: &str) {
    match (golden, ours) {
        (Value::Object(g), Value::Object(o)) => {
            for (k, v) in g {
                let p = format!("{path}.{k}");
                let ov = o
                    .get(k)
                    .unwrap_or_else(|| panic!("{p}: missing in our report"));
                assert_matches(v, ov, &p);
            }
        }
        (Value::Array(g), Value::Array(o)) => {
            assert_eq!(g.len(), o.len(), "{path}: length");
            for (i, (a, b)) in g.iter().zip(o).enumerate() {
                assert_matches(a, b, &format!("{path}[{i}]"));
            }
        }
        (Value::Number(g), Value::Number(o)) => {
            let (g, o) = (
                g.as_f64().unwrap_or(f64::NAN),
                o.as_f64().unwrap_or(f64::NAN),
            );
            assert!((g - o).abs() <= 1e-9, "{path}: golden {g}, ours {o}");
        }
        (g, o) => assert_eq!(g, o, "{path}"),
    }
}

fn fixture_report_spec() -> ReportSpec {
    ReportSpec {
        win_rates: vec![("toolllama_sft".into(), "steptool".into())],
        ..ReportSpec::default()
    }
}

#[test]
fn fixture_matches_the_independent_golden_numbers() -> Result<()> {
    let queries = read_query_dir(fixture("queries"))?;
    let report = paper_report(&methods()?, Some(&queries), &fixture_report_spec())?;
    assert!(report.warnings.is_empty(), "{:?}", report.warnings);
    let ours = serde_json::to_value(&report).map_err(|e| Error::json("report", e))?;
    let golden = read_json(&root().join("fixtures/golden/eval/report.json"))?;
    assert_matches(&golden, &ours, "");

    // One number by hand: StepTool on G1_instruction, runs 0/1/2 (Solved = 1, Unsure = 0.5):
    // run 0: 608, 2213, 1073 solved + 1856 unsure = 3.5/10; run 1: 608, 2354, 2213, 1073 +
    // 2399 unsure = 4.5/10; run 2: 608, 2354, 2213, 1073 = 4/10 -> mean 40.0,
    // std sqrt(((35-40)^2 + (45-40)^2 + 0) / 3) = 4.0825 (population, np.std).
    let steptool = &report.methods[0].1;
    let g1 = &steptool.subsets["G1_instruction"];
    assert_eq!(g1.runs, vec![35.0, 45.0, 40.0]);
    assert!((g1.pass_rate - 40.0).abs() < 1e-12);
    assert!((g1.pass_rate_std - (50.0f64 / 3.0).sqrt()).abs() < 1e-12);
    assert_eq!(steptool.group("I1").map(|g| g.tasks), Some(10 + 4 + 4));

    let table = report.to_markdown();
    assert!(table.starts_with(
        "| Method | I1 Pass | I1 Recall | I2 Pass | I2 Recall | I3 Pass | I3 Recall |"
    ));
    assert!(table.contains("| steptool | 39.7 ± 3.3 |"), "{table}");
    Ok(())
}

#[test]
fn released_files_round_trip_byte_for_byte() -> Result<()> {
    for m in ["steptool", "toolllama_sft"] {
        let path = fixture(&format!("results/{m}/G1_instruction.json"));
        let results = read_pass_rate_file(&path)?;
        assert_eq!(results.entries.len(), 10);
        assert_eq!(results.subset, "G1_instruction");
        let dir = tempfile::tempdir().map_err(|e| Error::io("tempdir", e))?;
        let out = dir.path().join("G1_instruction.json");
        write_pass_rate_file(&out, &results)?;
        let a = std::fs::read(&path).map_err(|e| Error::io(&path, e))?;
        let b = std::fs::read(&out).map_err(|e| Error::io(&out, e))?;
        assert!(
            a == b,
            "{m}: the written file differs from the released one"
        );
    }
    // The steps parse back: query 588 of StepTool has 4 calls and a give-up Finish.
    let r = read_pass_rate_file(fixture("results/steptool/G1_instruction.json"))?;
    let e = &r.entries[0];
    assert_eq!(e.query_id, "588");
    assert_eq!(e.steps.len(), 5);
    assert_eq!(e.steps[0].name, "transfermarkt_search_for_theclique");
    assert_eq!(e.steps[0].arguments, "{\n  \"name\": \"Lionel Messi\"\n}");
    assert!(!e.answered());
    Ok(())
}

fn write(dir: &Path, name: &str, text: &str) -> Result<PathBuf> {
    let p = dir.join(name);
    if let Some(parent) = p.parent() {
        std::fs::create_dir_all(parent).map_err(|e| Error::io(parent, e))?;
    }
    std::fs::write(&p, text).map_err(|e| Error::io(&p, e))?;
    Ok(p)
}

fn entry(qid: &str, labels: &[(&str, &str)]) -> String {
    let is_solved: Vec<String> = labels
        .iter()
        .map(|(k, v)| format!("\"{k}\": \"{v}\""))
        .collect();
    format!(
        r#""{qid}": {{"query": "q", "tool_names": ["a_for_t", "Finish"],
        "answer_steps": "Step 1: {{'name': 'a_for_t', 'arguments': '{{}}', 'response': '{{\"error\": \"\", \"response\": \"ok\"}}'}}\nStep 2: {{'name': 'Finish', 'arguments': '{{\"return_type\": \"give_answer\", \"final_answer\": \"x\"}}', 'response': ''}}",
        "final_step": "Final step: ...", "is_solved": {{{}}}}}"#,
        is_solved.join(", ")
    )
}

#[test]
fn unknown_status_and_foreign_query_are_errors_naming_file_and_query() -> Result<()> {
    let dir = tempfile::tempdir().map_err(|e| Error::io("tempdir", e))?;
    let bad = write(
        dir.path(),
        "m/G1_instruction.json",
        &format!(
            "{{{}, {}}}",
            entry("1", &[("0", "AnswerStatus.Solved")]),
            entry("7", &[("0", "AnswerStatus.Maybe")])
        ),
    )?;
    let err = read_pass_rate_file(&bad).err().map(|e| format!("{e:#}"));
    let err = err.unwrap_or_default();
    assert!(err.contains("G1_instruction.json, query 7"), "{err}");
    assert!(err.contains("AnswerStatus.Maybe"), "{err}");

    // A step string that is not `Step k: {...}`.
    let broken = write(
        dir.path(),
        "x/G1_tool.json",
        &format!(
            "{{{}}}",
            entry("9", &[("0", "AnswerStatus.Solved")]).replace("Step 2: ", "Step 3: ")
        ),
    )?;
    let err = read_pass_rate_file(&broken)
        .err()
        .map(|e| format!("{e:#}"))
        .unwrap_or_default();
    assert!(
        err.contains("G1_tool.json") && err.contains("query 9"),
        "{err}"
    );
    assert!(err.contains("answer_steps, step 2"), "{err}");

    // A query in the results that the query file does not have.
    let good = write(
        dir.path(),
        "m/G1_instruction.json",
        &format!("{{{}}}", entry("424242", &[("0", "AnswerStatus.Solved")])),
    )?;
    let m = read_results_dir(good.parent().unwrap_or(dir.path()))?;
    let queries = read_query_dir(fixture("queries"))?;
    let err = paper_report(&[m], Some(&queries), &ReportSpec::default())
        .err()
        .map(|e| format!("{e:#}"))
        .unwrap_or_default();
    assert!(err.contains("G1_instruction.json, query 424242"), "{err}");
    assert!(err.contains("not in the query file"), "{err}");
    Ok(())
}

#[test]
fn missing_runs_and_subsets_are_warned_not_silently_zero() -> Result<()> {
    let dir = tempfile::tempdir().map_err(|e| Error::io("tempdir", e))?;
    write(
        dir.path(),
        "m/G3_instruction.json",
        &format!(
            "{{{}, {}}}",
            entry(
                "1",
                &[
                    ("0", "AnswerStatus.Solved"),
                    ("1", "AnswerStatus.Unsure"),
                    ("2", "AnswerStatus.Solved")
                ]
            ),
            entry(
                "2",
                &[("1", "AnswerStatus.Solved"), ("0", "AnswerStatus.Unsure")]
            )
        ),
    )?;
    let m = read_results_dir(dir.path().join("m"))?;
    let report = paper_report(&[m], None, &ReportSpec::default())?;
    let r = &report.methods[0].1;
    // runs: (1 + 0.5)/2, (0.5 + 1)/2, (1 + 0)/2 -> 75, 75, 50; mean 66.67
    assert_eq!(r.subsets["G3_instruction"].runs, vec![75.0, 75.0, 50.0]);
    assert!((r.subsets["G3_instruction"].pass_rate - 200.0 / 3.0).abs() < 1e-12);
    assert_eq!(r.subsets["G3_instruction"].recall, None);
    assert!(r.group("I3").is_some());
    assert!(r.group("I1").is_none() && r.group("I2").is_none());
    let text: Vec<String> = report.warnings.iter().map(|w| w.to_string()).collect();
    assert!(
        text.iter()
            .any(|w| w.contains("G3_instruction.json, query 2") && w.contains("run(s) [2]")),
        "{text:?}"
    );
    assert!(
        text.iter()
            .any(|w| w.contains("G1_tool.json") && w.contains("group I1 is not reported")),
        "{text:?}"
    );
    let table = report.to_markdown();
    assert!(
        table.contains("| m | – | – | – | – | 66.7 ± 11.8 | – |"),
        "{table}"
    );

    // Custom groups.
    let spec = ReportSpec {
        groups: vec![Group::parse("All=G3_instruction")?],
        ..ReportSpec::default()
    };
    let m = read_results_dir(dir.path().join("m"))?;
    let report = paper_report(&[m], None, &spec)?;
    assert_eq!(report.methods[0].1.groups[0].0, "All");
    assert!(Group::parse("nogroups").is_err());
    Ok(())
}

/// A judge that answers from a table, for [`judge_converted`].
struct TableJudge(Vec<AnswerStatus>);

impl AnswerJudge for TableJudge {
    fn judge(&self, _input: &JudgeInput<'_>, round: usize) -> Result<AnswerStatus> {
        Ok(self.0[round])
    }
}

#[test]
fn converted_answers_are_judged_into_a_result_file() -> Result<()> {
    let path = root().join("fixtures/reference/converted_prediction_qwen2_entry_56543.json");
    let entries = read_converted(&path)?;
    let judge = TableJudge(vec![
        AnswerStatus::Solved,
        AnswerStatus::Unsure,
        AnswerStatus::Unsolved,
    ]);
    let results = judge_converted(&path, &entries, &judge, 3)?;
    let e = &results.entries[0];
    assert_eq!(e.query_id, "56543");
    // The answer ends with a give_answer Finish, so the judge decides every run.
    let statuses: Vec<AnswerStatus> = e.is_solved.iter().map(|(_, s)| *s).collect();
    assert_eq!(statuses, judge.0);
    assert!(e.final_step.starts_with("Final step: {'name': 'Finish'"));
    let dir = tempfile::tempdir().map_err(|e| Error::io("tempdir", e))?;
    let out = dir.path().join("G123.json");
    write_pass_rate_file(&out, &results)?;
    let back = read_pass_rate_file(&out)?;
    assert_eq!(back.entries, results.entries);
    let mut warnings = Vec::new();
    // (1 + 0.5 + 0) / 3 = 0.5
    assert_eq!(back.pass_rate(None, &mut warnings)?.mean, 0.5);
    assert!(warnings.is_empty());
    Ok(())
}

#[test]
fn error_types_on_our_rollouts() -> Result<()> {
    let bench = Arc::new(SyntheticBenchmark::new(SyntheticConfig::default())?);
    let tasks = bench.tasks(Split::Test, 10, 0)?;
    let env = SyntheticEnv::new(bench, SyntheticEnvConfig::default());
    let config = RolloutConfig {
        max_actions: 5,
        ..RolloutConfig::default()
    };
    let mut records = run_many(&env, &tasks, &ExpertAgent::new(&tasks), &config, false)?.records;
    for r in &records {
        let errors = record_errors(r);
        assert_eq!(errors.len(), r.codes.len());
        // The expert calls the relevant tools with the right arguments.
        assert!(errors.iter().all(Option::is_none), "{errors:?}");
    }
    // The environment's status code 1 marks a hallucinated name, whatever the text says.
    records[0].codes[0] = StatusCode::HallucinatedName;
    assert_eq!(
        record_errors(&records[0])[0],
        Some(ErrorType::HallucinatedTool)
    );
    Ok(())
}

#[test]
fn chart_is_a_png() -> Result<()> {
    let queries: BTreeMap<String, QueryFile> = read_query_dir(fixture("queries"))?;
    let report = paper_report(&methods()?, Some(&queries), &ReportSpec::default())?;
    let dir = tempfile::tempdir().map_err(|e| Error::io("tempdir", e))?;
    let png = dir.path().join("table3.png");
    plot_pass_rates(&report, &png)?;
    let bytes = std::fs::read(&png).map_err(|e| Error::io(&png, e))?;
    assert!(bytes.starts_with(b"\x89PNG\r\n\x1a\n") && bytes.len() > 10_000);
    Ok(())
}
