//! StableToolBench pass-rate result files (`eval_pass_rate.py`, formats.md §6.2) and the test
//! query files their recall is measured against (§4.4).
//!
//! ```text
//! <method>/<subset>.json = { "<query_id>": { "query", "tool_names": [..., "Finish"],
//!     "answer_steps": "Step 1: {'name': …, 'arguments': …, 'response': …}\nStep 2: …",
//!     "final_step": "Final step: {…}",
//!     "is_solved": {"0": "AnswerStatus.Solved", "2": …, "1": …},   # one label per judge run
//!     "length": 3 } }                                              # StepTool's files only
//! ```
//!
//! The labels are already in the file: scoring them needs no LLM. [`SubsetResults::pass_rate`]
//! is `eval_pass_rate.py`'s arithmetic exactly: for each run `r < evaluate_times`,
//! `s_r = Σ_q v(is_solved[q][r]) / len(file)` with `v(Solved) = 1, v(Unsure) = 0.5`, anything
//! else 0; pass rate = `Σ_r s_r / K`, std = `np.std` (population) of the `s_r`. Where the
//! reference silently scores 0 (a query without a label for run r) we score 0 too but say so
//! in a [`Warning`]; a label that is not one of the three statuses is an error (the reference
//! would score it 0 without a word).
//!
//! `answer_steps` is `"\n".join` of `get_steps`' strings (§2.2); a step is `Step k: ` + the
//! Python repr of the tool node's `{name, arguments, response}`, whose newlines are escaped,
//! so each line is one step. [`read_pass_rate_file`] parses them back into [`ToolMessage`]s
//! (with steptool-mdp's Python-literal parser) and keeps the raw strings, so
//! [`write_pass_rate_file`] writes a file back byte for byte.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use steptool_mdp::formats::converted::{ConvertedEntry, ToolMessage};
use steptool_mdp::formats::python_json_dumps;
use steptool_mdp::formats::queries::{read_test_queries, FunctionStyle, TestQuery};
use steptool_mdp::pylit::{self, PyValue};
use steptool_mdp::{Location, FINISH_TOOL};

use super::error_types::{required_from_functions, step_errors, ErrorInput, ErrorType, StepView};
use super::{judge_round, AnswerJudge, AnswerStatus, JudgeInput, PassRate, RecallInput};
use crate::env::{reference_finish, StatusCode};
use crate::error::{Error, Result};

/// Something suspicious in the inputs that does not stop the report (it is printed and kept in
/// the report), always naming the file and, where there is one, the query id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Warning {
    /// The file (or folder) concerned.
    pub file: PathBuf,
    /// The query concerned, if one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub query_id: Option<String>,
    /// What is wrong and what was done about it.
    pub message: String,
}

impl Warning {
    /// A warning about `file` (and `query_id`).
    pub fn new(
        file: impl Into<PathBuf>,
        query_id: Option<&str>,
        message: impl Into<String>,
    ) -> Self {
        Warning {
            file: file.into(),
            query_id: query_id.map(str::to_owned),
            message: message.into(),
        }
    }
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some(q) = &self.query_id {
            write!(f, ", query {q}")?;
        }
        write!(f, ": {}", self.message)
    }
}

/// One query's entry of a pass-rate result file.
#[derive(Debug, Clone, PartialEq)]
pub struct ResultEntry {
    /// The query id (the file's key).
    pub query_id: String,
    /// The user query.
    pub query: String,
    /// Function names offered, `Finish` included.
    pub tool_names: Vec<String>,
    /// `answer_steps` as written (one `Step k: {…}` per line).
    pub answer_steps: String,
    /// The steps parsed from `answer_steps`.
    pub steps: Vec<ToolMessage>,
    /// `"Final step: {…}"` as written.
    pub final_step: String,
    /// `is_solved` in file order: (run key as written, status).
    pub is_solved: Vec<(String, AnswerStatus)>,
    /// `length` (StepTool's files; absent in upstream StableToolBench).
    pub length: Option<u64>,
}

impl ResultEntry {
    /// The status of run `run` (keys are decimal run numbers).
    pub fn status(&self, run: usize) -> Option<AnswerStatus> {
        self.is_solved
            .iter()
            .find(|(k, _)| k.parse::<usize>().ok() == Some(run))
            .map(|(_, s)| *s)
    }

    /// The statuses of runs `0..k`, a missing run as Unsolved (as the reference scores it).
    pub fn statuses(&self, k: usize) -> Vec<AnswerStatus> {
        (0..k)
            .map(|r| self.status(r).unwrap_or(AnswerStatus::Unsolved))
            .collect()
    }

    /// Function names called, `Finish` excluded, in order.
    pub fn called(&self) -> Vec<String> {
        self.steps
            .iter()
            .filter(|s| s.name != FINISH_TOOL)
            .map(|s| s.name.clone())
            .collect()
    }

    /// Whether the last step is a `Finish` that gives an answer (the reference's Finish handling).
    pub fn answered(&self) -> bool {
        self.steps.last().is_some_and(|s| {
            s.name == FINISH_TOOL && reference_finish(&s.arguments).code == StatusCode::FinalAnswer
        })
    }

    /// The answer as the error-type rules see it (`query` adds relevance and schemas).
    pub fn error_input(&self, query: Option<&TestQuery>) -> ErrorInput {
        ErrorInput {
            steps: self
                .steps
                .iter()
                .map(|s| StepView {
                    name: s.name.clone(),
                    arguments: s.arguments.clone(),
                    observation: Some(s.response.clone()),
                    code: None,
                })
                .collect(),
            offered: self.tool_names.clone(),
            relevant: query.map(relevant_names),
            required: query
                .map(|q| required_from_functions(&q.functions(FunctionStyle::StepTool)))
                .unwrap_or_default(),
        }
    }

    /// The per-step error types (`metrics::error_types`).
    pub fn errors(&self, query: Option<&TestQuery>) -> Vec<Option<ErrorType>> {
        step_errors(&self.error_input(query))
    }

    /// The recall input against `query`'s relevant functions.
    pub fn recall_input(&self, query: &TestQuery) -> RecallInput {
        RecallInput {
            query_id: self.query_id.clone(),
            relevant: relevant_names(query),
            available: self.tool_names.clone(),
            called: self.called(),
            finished: self.answered(),
        }
    }
}

/// The relevant function names of a query as the model is shown them (`name[-64:]`, like the
/// offered names, so that a long name can match).
pub fn relevant_names(query: &TestQuery) -> Vec<String> {
    query
        .relevant_function_names()
        .into_iter()
        .map(|n| {
            let len = n.chars().count();
            n.chars().skip(len.saturating_sub(64)).collect()
        })
        .collect()
}

/// One pass-rate result file: the results of one method on one test subset.
#[derive(Debug, Clone, PartialEq)]
pub struct SubsetResults {
    /// The file.
    pub path: PathBuf,
    /// The subset name (the file stem, e.g. `G1_instruction`).
    pub subset: String,
    /// The entries in file order.
    pub entries: Vec<ResultEntry>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEntry {
    query: String,
    tool_names: Vec<String>,
    answer_steps: String,
    final_step: String,
    is_solved: Map<String, Value>,
    #[serde(default)]
    length: Option<u64>,
}

fn where_(path: &Path, qid: &str) -> String {
    format!("{}, query {qid}", path.display())
}

/// Parse `answer_steps` (one `Step k: {repr}` per line) into tool messages; an error names
/// the step.
pub fn parse_answer_steps(answer_steps: &str) -> steptool_mdp::Result<Vec<ToolMessage>> {
    if answer_steps.is_empty() {
        return Ok(Vec::new());
    }
    answer_steps
        .split('\n')
        .enumerate()
        .map(|(i, line)| {
            let at = || Location::default().with_field(format!("answer_steps, step {}", i + 1));
            let prefix = format!("Step {}: ", i + 1);
            let repr = line.strip_prefix(&prefix).ok_or_else(|| {
                steptool_mdp::Error::format(at(), format!("does not start with {prefix:?}"))
            })?;
            parse_tool_repr(repr).map_err(|e| e.at(at()))
        })
        .collect()
}

fn parse_tool_repr(repr: &str) -> steptool_mdp::Result<ToolMessage> {
    let value = pylit::parse(repr)?;
    let field = |key: &str| match value.get(key) {
        Some(PyValue::Str(s)) => Ok(s.clone()),
        Some(other) => Err(steptool_mdp::Error::format(
            Location::default(),
            format!("`{key}` is a {}, not a str", other.type_name()),
        )),
        None => Err(steptool_mdp::Error::format(
            Location::default(),
            format!("no `{key}` in the step's dict"),
        )),
    };
    Ok(ToolMessage {
        name: field("name")?,
        arguments: field("arguments")?,
        response: field("response")?,
    })
}

/// `file, query <id>` as a data-layer location.
fn query_location(path: &Path, qid: &str) -> Location {
    Location::file(path).with_field(format!("query {qid}"))
}

fn parse_entry(path: &Path, qid: String, value: Value) -> Result<ResultEntry> {
    let raw: RawEntry =
        serde_json::from_value(value).map_err(|e| Error::json(where_(path, &qid), e))?;
    let steps = parse_answer_steps(&raw.answer_steps)
        .map_err(|e| Error::Mdp(e.at(query_location(path, &qid))))?;
    let mut is_solved = Vec::new();
    for (run, label) in raw.is_solved {
        if run.parse::<usize>().is_err() {
            return Err(Error::data(
                where_(path, &qid),
                format!("is_solved: run key {run:?} is not a run number"),
            ));
        }
        let status = label
            .as_str()
            .and_then(|s| s.strip_prefix("AnswerStatus."))
            .and_then(AnswerStatus::parse)
            .ok_or_else(|| {
                Error::data(
                    where_(path, &qid),
                    format!(
                        "is_solved[{run:?}]: unknown status {label}; expected \"AnswerStatus.Solved\", \"AnswerStatus.Unsure\" or \"AnswerStatus.Unsolved\""
                    ),
                )
            })?;
        is_solved.push((run, status));
    }
    Ok(ResultEntry {
        query_id: qid,
        query: raw.query,
        tool_names: raw.tool_names,
        answer_steps: raw.answer_steps,
        steps,
        final_step: raw.final_step,
        is_solved,
        length: raw.length,
    })
}

/// Read a pass-rate result file `<subset>.json`; errors name the file and the query id.
pub fn read_pass_rate_file(path: impl AsRef<Path>) -> Result<SubsetResults> {
    let path = path.as_ref();
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    let map: Map<String, Value> =
        serde_json::from_str(&text).map_err(|e| Error::json(path.display().to_string(), e))?;
    let entries = map
        .into_iter()
        .map(|(qid, v)| parse_entry(path, qid, v))
        .collect::<Result<Vec<_>>>()?;
    let subset = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    Ok(SubsetResults {
        path: path.to_path_buf(),
        subset,
        entries,
    })
}

impl ResultEntry {
    fn to_json(&self) -> Value {
        let mut m = Map::new();
        m.insert("query".into(), Value::String(self.query.clone()));
        m.insert(
            "tool_names".into(),
            Value::Array(self.tool_names.iter().cloned().map(Value::String).collect()),
        );
        m.insert(
            "answer_steps".into(),
            Value::String(self.answer_steps.clone()),
        );
        m.insert("final_step".into(), Value::String(self.final_step.clone()));
        m.insert(
            "is_solved".into(),
            Value::Object(
                self.is_solved
                    .iter()
                    .map(|(k, s)| (k.clone(), Value::String(s.reference_str().into())))
                    .collect(),
            ),
        );
        if let Some(n) = self.length {
            m.insert("length".into(), Value::from(n));
        }
        Value::Object(m)
    }
}

/// Write a pass-rate result file as `eval_pass_rate.py` does (`json.dump(indent=4,
/// ensure_ascii=False)`), atomically: a killed run leaves the old file or the new one.
pub fn write_pass_rate_file(path: impl AsRef<Path>, results: &SubsetResults) -> Result<()> {
    let path = path.as_ref();
    let map: Map<String, Value> = results
        .entries
        .iter()
        .map(|e| (e.query_id.clone(), e.to_json()))
        .collect();
    let text = python_json_dumps(&Value::Object(map), Some(4), false);
    steptool_mdp::atomic::write_atomic(path, text).map_err(|e| Error::io(path, e))
}

impl SubsetResults {
    /// The number of judge runs: `evaluate_times` when given, else one more than the highest
    /// run number in the file.
    pub fn evaluate_times(&self, evaluate_times: Option<usize>) -> usize {
        evaluate_times.unwrap_or_else(|| {
            self.entries
                .iter()
                .flat_map(|e| {
                    e.is_solved
                        .iter()
                        .filter_map(|(k, _)| k.parse::<usize>().ok())
                })
                .max()
                .map_or(0, |m| m + 1)
        })
    }

    /// Pass rate as `eval_pass_rate.py` computes it (module docs), over `evaluate_times` runs
    /// (default: as many as the file has). Missing labels score 0 and are reported in
    /// `warnings`; labels of runs beyond `evaluate_times` are ignored, and reported.
    pub fn pass_rate(
        &self,
        evaluate_times: Option<usize>,
        warnings: &mut Vec<Warning>,
    ) -> Result<PassRate> {
        let k = self.evaluate_times(evaluate_times);
        if self.entries.is_empty() {
            return Err(Error::data(self.path.display().to_string(), "no queries"));
        }
        if k == 0 {
            return Err(Error::data(
                self.path.display().to_string(),
                "no judge runs (`is_solved` is empty everywhere)",
            ));
        }
        for e in &self.entries {
            let missing: Vec<usize> = (0..k).filter(|r| e.status(*r).is_none()).collect();
            if !missing.is_empty() {
                warnings.push(Warning::new(
                    &self.path,
                    Some(&e.query_id),
                    format!("no label for run(s) {missing:?} of {k}: scored 0 (Unsolved), as eval_pass_rate.py does"),
                ));
            }
            let beyond: Vec<&str> = e
                .is_solved
                .iter()
                .filter(|(key, _)| key.parse::<usize>().is_ok_and(|r| r >= k))
                .map(|(key, _)| key.as_str())
                .collect();
            if !beyond.is_empty() {
                warnings.push(Warning::new(
                    &self.path,
                    Some(&e.query_id),
                    format!("label(s) of run(s) {beyond:?} ignored: evaluate_times is {k}"),
                ));
            }
        }
        let n = self.entries.len() as f64;
        let per_round: Vec<f64> = (0..k)
            .map(|r| {
                self.entries
                    .iter()
                    .map(|e| e.status(r).map_or(0.0, AnswerStatus::value))
                    .sum::<f64>()
                    / n
            })
            .collect();
        let mean = per_round.iter().sum::<f64>() / k as f64;
        let std = (per_round.iter().map(|s| (s - mean).powi(2)).sum::<f64>() / k as f64).sqrt();
        Ok(PassRate {
            mean,
            std,
            per_round,
            queries: self.entries.len(),
        })
    }

    /// Mean number of steps per answer (`Finish` included; the `length` field of StepTool's
    /// files). A `length` that disagrees with the steps is reported.
    pub fn mean_length(&self, warnings: &mut Vec<Warning>) -> f64 {
        for e in &self.entries {
            if let Some(n) = e.length {
                if n as usize != e.steps.len() {
                    warnings.push(Warning::new(
                        &self.path,
                        Some(&e.query_id),
                        format!(
                            "length {n} but {} steps; the steps are counted",
                            e.steps.len()
                        ),
                    ));
                }
            }
        }
        if self.entries.is_empty() {
            return 0.0;
        }
        self.entries
            .iter()
            .map(|e| e.steps.len() as f64)
            .sum::<f64>()
            / self.entries.len() as f64
    }
}

/// A test query file (`solvable_queries/test_instruction/<subset>.json`) indexed by query id.
#[derive(Debug, Clone, PartialEq)]
pub struct QueryFile {
    /// The file.
    pub path: PathBuf,
    /// Query id (decimal text) -> query, and the file order.
    pub queries: BTreeMap<String, TestQuery>,
    /// The ids in file order.
    pub order: Vec<String>,
}

impl QueryFile {
    /// Read a test query file with steptool-mdp's reader.
    pub fn read(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let list = read_test_queries(path)?;
        let mut queries = BTreeMap::new();
        let mut order = Vec::new();
        for q in list {
            let id = q.query_id.to_string();
            order.push(id.clone());
            if queries.insert(id.clone(), q).is_some() {
                return Err(Error::data(
                    where_(path, &id),
                    "the query id appears twice in the query file",
                ));
            }
        }
        Ok(QueryFile {
            path: path.to_path_buf(),
            queries,
            order,
        })
    }

    /// The query of a result entry: an error naming both files when the query is missing.
    pub fn get(&self, results: &Path, query_id: &str) -> Result<&TestQuery> {
        self.queries.get(query_id).ok_or_else(|| {
            Error::data(
                where_(results, query_id),
                format!("the query is not in the query file {}", self.path.display()),
            )
        })
    }
}

/// Judge a converted-answer file (`convert_answers.py` output) with `judge` for
/// `evaluate_times` runs, as `eval_pass_rate.py` does (no `Finish` as the last tool node →
/// Unsolved; empty or give-up answer → Unsolved; else the judge), into result entries that
/// [`write_pass_rate_file`] writes in the reference's format.
pub fn judge_converted(
    path: &Path,
    entries: &[(String, ConvertedEntry)],
    judge: &dyn AnswerJudge,
    evaluate_times: usize,
) -> Result<SubsetResults> {
    let mut out = Vec::new();
    for (qid, entry) in entries {
        let located = |e: steptool_mdp::Error| Error::Mdp(e.at(query_location(path, qid)));
        let steps: Vec<ToolMessage> = entry
            .tool_messages()
            .map_err(located)?
            .into_iter()
            .cloned()
            .collect();
        let strings = entry.step_strings().map_err(located)?;
        let final_step = entry
            .final_step_string()
            .map_err(located)?
            .unwrap_or_else(|| "Final step: ".to_owned());
        let finished = steps.last().is_some_and(|s| s.name == FINISH_TOOL);
        let answer =
            serde_json::to_value(&entry.answer).map_err(|e| Error::json(where_(path, qid), e))?;
        let input = JudgeInput {
            query_id: qid,
            query: &entry.query,
            finish_arguments: finished.then_some(entry.answer.final_answer.as_str()),
            reference_answer: None,
            converted_answer: Some(&answer),
        };
        let is_solved = (0..evaluate_times)
            .map(|r| {
                judge_round(&input, judge, r)
                    .map(|s| (r.to_string(), s))
                    .map_err(|e| Error::Task {
                        task: where_(path, qid),
                        source: Box::new(e),
                    })
            })
            .collect::<Result<Vec<_>>>()?;
        out.push(ResultEntry {
            query_id: qid.clone(),
            query: entry.query.clone(),
            tool_names: entry.tool_names().map_err(located)?,
            answer_steps: strings.join("\n"),
            length: Some(steps.len() as u64),
            steps,
            final_step,
            is_solved,
        });
    }
    Ok(SubsetResults {
        subset: path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default(),
        path: path.to_path_buf(),
        entries: out,
    })
}
