//! The paper's Table 3 from pass-rate result files: methods as rows, test groups as column
//! pairs (pass rate ± std, recall), plus per-subset numbers, the four error types and win
//! rates.
//!
//! ```text
//! results/<method>/<subset>.json ──read_results_dir──▶ MethodResults ─┐
//! queries/<subset>.json (relevant APIs) ──QueryFile::read──────────────┼─▶ paper_report ─▶ PaperReport
//!                                                         ReportSpec ─┘    (Markdown, JSON, PNG)
//! ```
//!
//! How the numbers come out (formats.md §6.2, checked against the StepTool README: StepTool-CoT
//! I1 = (62.8 + 58.8 + 61.6) / 3 = 61.1 ± 0.7):
//!
//! - **subset pass rate** and **std**: `eval_pass_rate.py` on the file's labels
//!   ([`SubsetResults::pass_rate`]), ×100;
//! - **group pass rate** = unweighted mean of its subsets' pass rates; **group std** = mean of
//!   their stds (not the std of anything); **tasks** = sum of the subsets' queries;
//! - **recall** of relevant tools (the paper gives no definition; `metrics::recall`): per
//!   query `|R ∩ C| / |R|`, `R` = the query's `relevant APIs` as function names, `C` = the
//!   offered functions the answer called (`Finish` excluded; unfinished answers counted;
//!   queries with an empty `R` left out), averaged over the subset's queries; a group's recall
//!   is the mean of its subsets' recalls (like its pass rate). Needs the query files;
//! - **mean length**: steps per answer (`Finish` included), a group's = mean of its subsets';
//! - **error types** (`metrics::error_types`, docs/eval.md): counts summed over a group's subsets, shares
//!   over its tasks;
//! - **win rate** of a candidate method against a reference (`metrics::win_rate`, ToolEval's
//!   rules per run: the higher label wins the run, a query missing on one side gives the other
//!   side the point; ties stay ties — ToolEval's LLM tie-break needs the answers, see
//!   `metrics::compare`): per subset over the union of both files' queries, a group's = mean of
//!   its subsets'.
//!
//! A group with a missing subset is not reported for that method (a [`Warning`] says which file
//! is missing), never averaged over the subsets that happen to be there.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::{Path, PathBuf};

use serde::ser::SerializeMap;
use serde::{Deserialize, Serialize, Serializer};

use super::error_types::{ErrorSummary, ErrorType};
use super::pass_rate_files::{read_pass_rate_file, QueryFile, SubsetResults, Warning};
use super::{recall, win_rate, AnswerStatus, QueryComparison, RecallConfig, RulesOnly};
use crate::error::{Error, Result};

/// A named group of test subsets (a column pair of the table).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Group {
    /// The column name, e.g. `I1`.
    pub name: String,
    /// The subsets averaged, e.g. `G1_instruction`, `G1_category`, `G1_tool`.
    pub subsets: Vec<String>,
}

impl Group {
    /// Parse `NAME=SUBSET,SUBSET,...`.
    pub fn parse(spec: &str) -> Result<Self> {
        let (name, subsets) = spec.split_once('=').ok_or_else(|| {
            Error::config("groups", format!("{spec:?} is not NAME=SUBSET,SUBSET"))
        })?;
        let subsets: Vec<String> = subsets
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect();
        if name.trim().is_empty() || subsets.is_empty() {
            return Err(Error::config(
                "groups",
                format!("{spec:?} needs a name and at least one subset"),
            ));
        }
        Ok(Group {
            name: name.trim().to_owned(),
            subsets,
        })
    }

    /// The paper's groups: I1 = G1_instruction + G1_category + G1_tool, I2 = G2_instruction +
    /// G2_category, I3 = G3_instruction.
    pub fn paper() -> Vec<Group> {
        let g = |name: &str, subsets: &[&str]| Group {
            name: name.to_owned(),
            subsets: subsets.iter().map(|s| (*s).to_owned()).collect(),
        };
        vec![
            g("I1", &["G1_instruction", "G1_category", "G1_tool"]),
            g("I2", &["G2_instruction", "G2_category"]),
            g("I3", &["G3_instruction"]),
        ]
    }
}

/// One method's result files: `<dir>/<subset>.json`, named after the folder.
#[derive(Debug, Clone, PartialEq)]
pub struct MethodResults {
    /// The method's name (the folder name).
    pub name: String,
    /// The folder.
    pub dir: PathBuf,
    /// Subset name -> its results.
    pub subsets: BTreeMap<String, SubsetResults>,
}

/// Read every `*.json` of a method's folder as a pass-rate result file.
pub fn read_results_dir(dir: impl AsRef<Path>) -> Result<MethodResults> {
    let dir = dir.as_ref();
    let mut subsets = BTreeMap::new();
    let entries = std::fs::read_dir(dir).map_err(|e| Error::io(dir, e))?;
    for entry in entries {
        let path = entry.map_err(|e| Error::io(dir, e))?.path();
        if path.extension().is_some_and(|e| e == "json") && path.is_file() {
            let results = read_pass_rate_file(&path)?;
            subsets.insert(results.subset.clone(), results);
        }
    }
    if subsets.is_empty() {
        return Err(Error::data(
            dir.display().to_string(),
            "no <subset>.json result files in the folder",
        ));
    }
    let name = dir
        .file_name()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| dir.display().to_string());
    Ok(MethodResults {
        name,
        dir: dir.to_path_buf(),
        subsets,
    })
}

/// Read every `<subset>.json` of a folder of StableToolBench test query files.
pub fn read_query_dir(dir: impl AsRef<Path>) -> Result<BTreeMap<String, QueryFile>> {
    let dir = dir.as_ref();
    let mut out = BTreeMap::new();
    for entry in std::fs::read_dir(dir).map_err(|e| Error::io(dir, e))? {
        let path = entry.map_err(|e| Error::io(dir, e))?.path();
        if path.extension().is_some_and(|e| e == "json") && path.is_file() {
            let stem = path
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default();
            out.insert(stem, QueryFile::read(&path)?);
        }
    }
    Ok(out)
}

/// What [`paper_report`] computes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ReportSpec {
    /// The column groups. Default [`Group::paper`].
    pub groups: Vec<Group>,
    /// Judge runs per query (`--evaluate_times`). Default: as many as each file has.
    pub evaluate_times: Option<usize>,
    /// Recall settings. Default [`RecallConfig::default`].
    pub recall: RecallConfig,
    /// `(reference, candidate)` method names to compute win rates for. Default none.
    pub win_rates: Vec<(String, String)>,
}

impl Default for ReportSpec {
    fn default() -> Self {
        ReportSpec {
            groups: Group::paper(),
            evaluate_times: None,
            recall: RecallConfig::default(),
            win_rates: Vec::new(),
        }
    }
}

/// One subset of one method.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SubsetReport {
    /// Pass rate, % (`eval_pass_rate.py`'s solve rate).
    pub pass_rate: f64,
    /// Population std of the runs' pass rates, %.
    pub pass_rate_std: f64,
    /// Each run's pass rate, %.
    pub runs: Vec<f64>,
    /// Queries in the file.
    pub tasks: usize,
    /// Mean recall of relevant tools, 0..1 (`None` without the subset's query file).
    pub recall: Option<f64>,
    /// Queries left out of recall, with the reason.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub recall_excluded: Vec<(String, String)>,
    /// Mean steps per answer (`Finish` included).
    pub mean_length: f64,
    /// The four error types.
    pub errors: ErrorSummary,
}

/// One group of one method.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GroupReport {
    /// Mean of the subsets' pass rates, %.
    pub pass_rate: f64,
    /// Mean of the subsets' stds, %.
    pub pass_rate_std: f64,
    /// Mean of the subsets' recalls, 0..1 (`None` when a subset has none).
    pub recall: Option<f64>,
    /// Sum of the subsets' queries.
    pub tasks: usize,
    /// Mean of the subsets' mean lengths.
    pub mean_length: f64,
    /// Error types summed over the subsets.
    pub errors: ErrorSummary,
}

/// One method: its groups (in the spec's order) and subsets.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MethodReport {
    /// Group name -> numbers; a group with a missing subset is absent.
    #[serde(serialize_with = "ordered")]
    pub groups: Vec<(String, GroupReport)>,
    /// Subset name -> numbers.
    pub subsets: BTreeMap<String, SubsetReport>,
}

impl MethodReport {
    /// The numbers of group `name`, if reported.
    pub fn group(&self, name: &str) -> Option<&GroupReport> {
        self.groups.iter().find(|(n, _)| n == name).map(|(_, g)| g)
    }
}

/// Win rate of a candidate against a reference.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WinRateReport {
    /// The reference method.
    pub reference: String,
    /// The candidate method.
    pub candidate: String,
    /// Group name -> mean of its subsets' win rates, 0..1.
    #[serde(serialize_with = "ordered")]
    pub groups: Vec<(String, f64)>,
    /// Subset name -> win rate (wins / queries), 0..1.
    pub subsets: BTreeMap<String, f64>,
}

/// The whole report.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PaperReport {
    /// Method name -> numbers, in the order given.
    #[serde(serialize_with = "ordered")]
    pub methods: Vec<(String, MethodReport)>,
    /// The groups, for the table's columns.
    pub group_order: Vec<Group>,
    /// Win rates asked for.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub win_rates: Vec<WinRateReport>,
    /// Everything suspicious found on the way.
    pub warnings: Vec<Warning>,
}

fn ordered<S: Serializer, T: Serialize>(
    items: &[(String, T)],
    s: S,
) -> std::result::Result<S::Ok, S::Error> {
    let mut map = s.serialize_map(Some(items.len()))?;
    for (k, v) in items {
        map.serialize_entry(k, v)?;
    }
    map.end()
}

fn mean(xs: impl IntoIterator<Item = f64>) -> f64 {
    let (s, n) = xs
        .into_iter()
        .fold((0.0, 0usize), |(s, n), x| (s + x, n + 1));
    s / n as f64
}

fn subset_report(
    results: &SubsetResults,
    queries: Option<&QueryFile>,
    spec: &ReportSpec,
    warnings: &mut Vec<Warning>,
) -> Result<SubsetReport> {
    let pr = results.pass_rate(spec.evaluate_times, warnings)?;
    let mean_length = results.mean_length(warnings);
    let mut per_answer = Vec::new();
    let recall_value;
    let mut recall_excluded = Vec::new();
    match queries {
        Some(qf) => {
            let mut inputs = Vec::new();
            for e in &results.entries {
                let q = qf.get(&results.path, &e.query_id)?;
                inputs.push(e.recall_input(q));
                per_answer.push(e.errors(Some(q)));
            }
            let in_results: BTreeSet<&str> = results
                .entries
                .iter()
                .map(|e| e.query_id.as_str())
                .collect();
            let absent: Vec<&str> = qf
                .order
                .iter()
                .map(String::as_str)
                .filter(|id| !in_results.contains(id))
                .collect();
            if !absent.is_empty() {
                warnings.push(Warning::new(
                    &results.path,
                    None,
                    format!(
                        "{} queries of {} have no result ({}): not counted, as eval_pass_rate.py scores the queries of the result file",
                        absent.len(),
                        qf.path.display(),
                        absent.join(", ")
                    ),
                ));
            }
            let rec = recall(&inputs, &spec.recall).map_err(|e| Error::Task {
                task: results.path.display().to_string(),
                source: Box::new(e),
            })?;
            for (qid, why) in &rec.excluded {
                warnings.push(Warning::new(
                    &results.path,
                    Some(qid),
                    format!("left out of recall: {why}"),
                ));
            }
            recall_excluded = rec.excluded;
            recall_value = Some(rec.mean);
        }
        None => {
            per_answer = results.entries.iter().map(|e| e.errors(None)).collect();
            recall_value = None;
        }
    }
    Ok(SubsetReport {
        pass_rate: 100.0 * pr.mean,
        pass_rate_std: 100.0 * pr.std,
        runs: pr.per_round.iter().map(|r| 100.0 * r).collect(),
        tasks: pr.queries,
        recall: recall_value,
        recall_excluded,
        mean_length,
        errors: ErrorSummary::from_steps(&per_answer, queries.is_some()),
    })
}

/// The report over several methods' result folders. `queries` maps a subset name to its test
/// query file (recall and tool-selection errors need it; a subset without one gets a warning).
pub fn paper_report(
    methods: &[MethodResults],
    queries: Option<&BTreeMap<String, QueryFile>>,
    spec: &ReportSpec,
) -> Result<PaperReport> {
    if methods.is_empty() {
        return Err(Error::config("results", "no method folders"));
    }
    let mut warnings = Vec::new();
    let mut seen = BTreeSet::new();
    for m in methods {
        if !seen.insert(m.name.as_str()) {
            return Err(Error::data(
                m.dir.display().to_string(),
                format!(
                    "two result folders are named {:?}; a method's name is its folder's name",
                    m.name
                ),
            ));
        }
    }
    if let Some(q) = queries {
        let all: BTreeSet<&String> = methods.iter().flat_map(|m| m.subsets.keys()).collect();
        for subset in all {
            if !q.contains_key(subset) {
                warnings.push(Warning::new(
                    PathBuf::from(format!("{subset}.json")),
                    None,
                    "no query file for this subset in --queries: its recall and tool-selection errors are not computed",
                ));
            }
        }
    }
    let mut out = Vec::new();
    for m in methods {
        let mut subsets = BTreeMap::new();
        for (name, results) in &m.subsets {
            let qf = queries.and_then(|q| q.get(name));
            subsets.insert(
                name.clone(),
                subset_report(results, qf, spec, &mut warnings)?,
            );
        }
        let mut groups = Vec::new();
        for g in &spec.groups {
            let missing: Vec<&String> = g
                .subsets
                .iter()
                .filter(|s| !subsets.contains_key(*s))
                .collect();
            if !missing.is_empty() {
                for s in missing {
                    warnings.push(Warning::new(
                        m.dir.join(format!("{s}.json")),
                        None,
                        format!("missing: group {} is not reported for {}", g.name, m.name),
                    ));
                }
                continue;
            }
            let parts: Vec<&SubsetReport> = g.subsets.iter().map(|s| &subsets[s]).collect();
            let recall = parts
                .iter()
                .map(|p| p.recall)
                .collect::<Option<Vec<f64>>>()
                .map(mean);
            groups.push((
                g.name.clone(),
                GroupReport {
                    pass_rate: mean(parts.iter().map(|p| p.pass_rate)),
                    pass_rate_std: mean(parts.iter().map(|p| p.pass_rate_std)),
                    recall,
                    tasks: parts.iter().map(|p| p.tasks).sum(),
                    mean_length: mean(parts.iter().map(|p| p.mean_length)),
                    errors: ErrorSummary::merged(parts.iter().map(|p| &p.errors)),
                },
            ));
        }
        out.push((m.name.clone(), MethodReport { groups, subsets }));
    }
    let mut win_rates = Vec::new();
    for (reference, candidate) in &spec.win_rates {
        win_rates.push(win_rate_report(
            methods,
            reference,
            candidate,
            spec,
            &mut warnings,
        )?);
    }
    Ok(PaperReport {
        methods: out,
        group_order: spec.groups.clone(),
        win_rates,
        warnings,
    })
}

fn win_rate_report(
    methods: &[MethodResults],
    reference: &str,
    candidate: &str,
    spec: &ReportSpec,
    warnings: &mut Vec<Warning>,
) -> Result<WinRateReport> {
    let find = |name: &str| {
        methods.iter().find(|m| m.name == name).ok_or_else(|| {
            Error::config(
                "win_rates",
                format!("no result folder named {name:?} among --results"),
            )
        })
    };
    let (r, c) = (find(reference)?, find(candidate)?);
    let mut subsets = BTreeMap::new();
    for (name, rs) in &r.subsets {
        let Some(cs) = c.subsets.get(name) else {
            warnings.push(Warning::new(
                c.dir.join(format!("{name}.json")),
                None,
                format!("missing: no win rate of {candidate} against {reference} on {name}"),
            ));
            continue;
        };
        let k = rs
            .evaluate_times(spec.evaluate_times)
            .max(cs.evaluate_times(spec.evaluate_times));
        let statuses = |s: &SubsetResults| -> BTreeMap<String, Vec<AnswerStatus>> {
            s.entries
                .iter()
                .map(|e| (e.query_id.clone(), e.statuses(k)))
                .collect()
        };
        let (mut a, mut b) = (statuses(rs), statuses(cs));
        let ids: BTreeSet<String> = a.keys().chain(b.keys()).cloned().collect();
        let comparisons: Vec<QueryComparison> = ids
            .into_iter()
            .map(|id| QueryComparison {
                reference: a.remove(&id),
                candidate: b.remove(&id),
                query_id: id,
            })
            .collect();
        let w = win_rate(&comparisons, k, &RulesOnly)?;
        subsets.insert(name.clone(), w.win_rate);
    }
    for name in c.subsets.keys().filter(|n| !r.subsets.contains_key(*n)) {
        warnings.push(Warning::new(
            r.dir.join(format!("{name}.json")),
            None,
            format!("missing: no win rate of {candidate} against {reference} on {name}"),
        ));
    }
    let groups = spec
        .groups
        .iter()
        .filter(|g| g.subsets.iter().all(|s| subsets.contains_key(s)))
        .map(|g| (g.name.clone(), mean(g.subsets.iter().map(|s| subsets[s]))))
        .collect();
    Ok(WinRateReport {
        reference: reference.to_owned(),
        candidate: candidate.to_owned(),
        groups,
        subsets,
    })
}

fn opt(v: Option<f64>, f: impl Fn(f64) -> String) -> String {
    v.map_or_else(|| "–".to_owned(), f)
}

impl PaperReport {
    /// A method's subsets in the groups' order, then any others by name.
    fn subsets_in_order<'a>(&self, m: &'a MethodReport) -> Vec<(&'a String, &'a SubsetReport)> {
        let grouped: Vec<&String> = self.group_order.iter().flat_map(|g| &g.subsets).collect();
        let mut out: Vec<(&String, &SubsetReport)> = grouped
            .iter()
            .filter_map(|s| m.subsets.get_key_value(*s))
            .collect();
        out.extend(m.subsets.iter().filter(|(k, _)| !grouped.contains(k)));
        out
    }

    /// The Markdown tables: the paper's layout (methods as rows, groups as column pairs
    /// `pass rate ± std`, `recall`), then per subset, error types, win rates and warnings.
    pub fn to_markdown(&self) -> String {
        let mut s = String::from("| Method |");
        for g in &self.group_order {
            s.push_str(&format!(" {} Pass | {} Recall |", g.name, g.name));
        }
        s.push_str("\n|---|");
        s.push_str(&"---|---|".repeat(self.group_order.len()));
        s.push('\n');
        for (name, m) in &self.methods {
            s.push_str(&format!("| {name} |"));
            for g in &self.group_order {
                match m.group(&g.name) {
                    Some(r) => s.push_str(&format!(
                        " {:.1} ± {:.1} | {} |",
                        r.pass_rate,
                        r.pass_rate_std,
                        opt(r.recall, |x| format!("{x:.3}"))
                    )),
                    None => s.push_str(" – | – |"),
                }
            }
            s.push('\n');
        }
        s.push_str("\nPer subset (pass rate and runs in %, recall 0..1, length in steps):\n\n");
        s.push_str("| Method | Subset | Tasks | Pass | Runs | Recall | Mean length |\n|---|---|---|---|---|---|---|\n");
        for (name, m) in &self.methods {
            for (subset, r) in self.subsets_in_order(m) {
                let runs: Vec<String> = r.runs.iter().map(|x| format!("{x:.1}")).collect();
                s.push_str(&format!(
                    "| {name} | {subset} | {} | {:.1} ± {:.1} | {} | {} | {:.2} |\n",
                    r.tasks,
                    r.pass_rate,
                    r.pass_rate_std,
                    runs.join(" / "),
                    opt(r.recall, |x| format!("{x:.3}")),
                    r.mean_length
                ));
            }
        }
        s.push_str("\nError types (queries with at least one such step, and their share of the tasks; docs/eval.md):\n\n");
        s.push_str("| Method | Group | Tasks | Tool selection | Hallucinated tool | Arguments | Parse |\n|---|---|---|---|---|---|---|\n");
        for (name, m) in &self.methods {
            for (group, r) in &m.groups {
                s.push_str(&format!("| {name} | {group} | {} |", r.tasks));
                for t in ErrorType::ALL {
                    let c = r.errors.types.get(&t).copied().unwrap_or_default();
                    if t == ErrorType::ToolSelection && !r.errors.tool_selection_known {
                        s.push_str(" – |");
                    } else {
                        s.push_str(&format!(" {} ({:.1}%) |", c.queries, 100.0 * c.share));
                    }
                }
                s.push('\n');
            }
        }
        if !self.win_rates.is_empty() {
            s.push_str("\nWin rate (candidate vs reference, ToolEval's rules without the LLM tie-break):\n\n| Candidate | Reference |");
            for g in &self.group_order {
                s.push_str(&format!(" {} |", g.name));
            }
            s.push_str("\n|---|---|");
            s.push_str(&"---|".repeat(self.group_order.len()));
            s.push('\n');
            for w in &self.win_rates {
                s.push_str(&format!("| {} | {} |", w.candidate, w.reference));
                for g in &self.group_order {
                    let v = w.groups.iter().find(|(n, _)| *n == g.name).map(|(_, v)| *v);
                    s.push_str(&format!(" {} |", opt(v, |x| format!("{:.1}", 100.0 * x))));
                }
                s.push('\n');
            }
        }
        if !self.warnings.is_empty() {
            s.push_str(&format!("\nWarnings ({}):\n\n", self.warnings.len()));
            for w in &self.warnings {
                s.push_str(&format!("- {w}\n"));
            }
        }
        s
    }
}

impl fmt::Display for PaperReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_markdown())
    }
}

/// The numbers of one subset alone (`steptool eval --results FILE`): a report with one
/// method and no groups.
pub fn subset_only_report(
    results: SubsetResults,
    queries: Option<QueryFile>,
    spec: &ReportSpec,
) -> Result<PaperReport> {
    let name = results
        .path
        .parent()
        .and_then(Path::file_name)
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "results".to_owned());
    let subset = results.subset.clone();
    let method = MethodResults {
        name,
        dir: results
            .path
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_default(),
        subsets: [(subset.clone(), results)].into(),
    };
    let queries = queries.map(|q| BTreeMap::from([(subset.clone(), q)]));
    let spec = ReportSpec {
        groups: vec![Group {
            name: subset.clone(),
            subsets: vec![subset],
        }],
        ..spec.clone()
    };
    paper_report(std::slice::from_ref(&method), queries.as_ref(), &spec)
}
