//! The study's report: `results.json` (mean ± std over seeds), `results.md` in the paper's
//! layout (methods as rows, strategies as column groups; pass@k; error types) and three PNGs
//! (`fig5.png` bars, `training.png` pass rate over training, `pass_at_k.png`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::evaluate::MethodEval;
use super::spec::{ExperimentSpec, Method};
use crate::common::plot::{plot_panels, Panel};
use crate::error::{Error, Result};

/// One strategy of one method, over the seeds. Rates in percent except recall (0..1).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct StrategyResult {
    /// Mean pass rate over seeds, %.
    pub pass_rate: f64,
    /// Sample standard deviation of the pass rate over seeds, % (0 with one seed).
    pub pass_rate_std: f64,
    /// Mean recall of relevant tools, 0..1.
    pub recall: f64,
    /// Mean actions per task.
    pub mean_actions: f64,
    /// `k -> pass@k` %, mean over seeds (CoT only: sampled chains).
    pub pass_at_k: BTreeMap<String, f64>,
    /// Error type -> share of tasks with it, %, mean over seeds.
    pub errors: BTreeMap<String, f64>,
    /// Per-seed pass rates, %.
    pub per_seed: Vec<f64>,
}

/// One method over the seeds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct MethodResult {
    /// `cot`, `dfsdt`.
    #[serde(flatten)]
    pub strategies: BTreeMap<String, StrategyResult>,
    /// Optimizer updates beyond the start (mean over seeds).
    pub optimizer_updates: f64,
    /// Greedy CoT pass rate (%) over training, `(optimizer updates, mean over seeds)`.
    pub curve: Vec<(u64, f64)>,
    /// Seconds of training + evaluation, summed over seeds.
    pub wall_s: f64,
    /// Per seed: what the run reported (collection, kept samples, pairs, untrained reasons).
    pub notes: Vec<BTreeMap<String, serde_json::Value>>,
}

/// The whole study's numbers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct Results {
    /// Method name -> results.
    pub methods: BTreeMap<String, MethodResult>,
    /// The methods in the report's order.
    pub method_order: Vec<String>,
    /// Strategy -> win rate of `steptool` over `sft`, % (a solved task beats an unsolved one,
    /// equal outcomes are half a win), mean over seeds.
    pub win_rate: BTreeMap<String, f64>,
    /// Seeds.
    pub seeds: Vec<u64>,
    /// Preset.
    pub preset: String,
    /// The update budget per trained method.
    pub updates: u64,
    /// Wall time of this invocation, s.
    pub wall_s: f64,
}

fn mean(v: &[f64]) -> f64 {
    if v.is_empty() {
        0.0
    } else {
        v.iter().sum::<f64>() / v.len() as f64
    }
}

fn std(v: &[f64]) -> f64 {
    if v.len() < 2 {
        return 0.0;
    }
    let m = mean(v);
    (v.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (v.len() - 1) as f64).sqrt()
}

impl Results {
    /// Aggregates the per-seed evaluations.
    pub fn aggregate(spec: &ExperimentSpec, evals: &[MethodEval], wall_s: f64) -> Self {
        let mut methods = BTreeMap::new();
        let order: Vec<String> = spec.methods.iter().map(|m| m.as_str().to_owned()).collect();
        let sft_cot: BTreeMap<u64, f64> = evals
            .iter()
            .filter(|e| e.method == Method::Sft.as_str())
            .filter_map(|e| Some((e.seed, e.strategies.get("cot")?.pass_rate)))
            .collect();
        for name in &order {
            let mine: Vec<&MethodEval> = evals.iter().filter(|e| &e.method == name).collect();
            let mut strategies = BTreeMap::new();
            let names: Vec<String> = mine
                .first()
                .map(|e| e.strategies.keys().cloned().collect())
                .unwrap_or_default();
            for s in names {
                let per: Vec<_> = mine.iter().filter_map(|e| e.strategies.get(&s)).collect();
                let rates: Vec<f64> = per.iter().map(|x| 100.0 * x.pass_rate).collect();
                let mut errors = BTreeMap::new();
                for x in &per {
                    for (k, v) in &x.errors {
                        *errors.entry(k.clone()).or_insert(0.0) += 100.0 * v / per.len() as f64;
                    }
                }
                let mut pass_at_k = BTreeMap::new();
                if s == "cot" {
                    for e in &mine {
                        for (k, v) in &e.pass_at_k {
                            *pass_at_k.entry(k.clone()).or_insert(0.0) +=
                                100.0 * v / mine.len() as f64;
                        }
                    }
                }
                strategies.insert(
                    s,
                    StrategyResult {
                        pass_rate: mean(&rates),
                        pass_rate_std: std(&rates),
                        recall: mean(&per.iter().map(|x| x.recall).collect::<Vec<_>>()),
                        mean_actions: mean(&per.iter().map(|x| x.mean_actions).collect::<Vec<_>>()),
                        pass_at_k,
                        errors,
                        per_seed: rates,
                    },
                );
            }
            // Curves: PPO runs log their own; the others go from the start to their end.
            let mut by_x: BTreeMap<u64, Vec<f64>> = BTreeMap::new();
            for e in &mine {
                let points = if !e.curve.is_empty() {
                    e.curve.clone()
                } else if e.optimizer_updates > 0 {
                    let end = e.strategies.get("cot").map_or(0.0, |s| s.pass_rate);
                    let start = sft_cot.get(&e.seed).copied().unwrap_or(f64::NAN);
                    vec![(0, start), (e.optimizer_updates, end)]
                } else {
                    Vec::new()
                };
                for (x, y) in points {
                    by_x.entry(x).or_default().push(100.0 * y);
                }
            }
            methods.insert(
                name.clone(),
                MethodResult {
                    strategies,
                    optimizer_updates: mean(
                        &mine
                            .iter()
                            .map(|e| e.optimizer_updates as f64)
                            .collect::<Vec<_>>(),
                    ),
                    curve: by_x.into_iter().map(|(x, ys)| (x, mean(&ys))).collect(),
                    wall_s: mine.iter().map(|e| e.wall_s).sum(),
                    notes: mine.iter().map(|e| e.notes.clone()).collect(),
                },
            );
        }
        let win_rate = win_rates(evals);
        Results {
            methods,
            method_order: order,
            win_rate,
            seeds: spec.seeds.clone(),
            preset: spec.preset.clone(),
            updates: spec.updates(),
            wall_s,
        }
    }

    fn strategies(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for m in self.methods.values() {
            for s in m.strategies.keys() {
                if !out.contains(s) {
                    out.push(s.clone());
                }
            }
        }
        // CoT first, as the paper.
        out.sort_by_key(|s| (s != "cot", s.clone()));
        out
    }

    fn label(name: &str) -> String {
        Method::ALL
            .iter()
            .find(|m| m.as_str() == name)
            .map_or(name.to_owned(), |m| m.label().trim().to_owned())
    }

    /// Table 3's layout: methods as rows, per strategy pass rate ± std and recall.
    pub fn to_markdown_table(&self) -> String {
        let strategies = self.strategies();
        let mut s = String::from("| method |");
        let mut rule = String::from("|---|");
        for st in &strategies {
            s.push_str(&format!(
                " {} pass rate | {} recall |",
                st.to_uppercase(),
                st.to_uppercase()
            ));
            rule.push_str("---|---|");
        }
        s.push_str(" updates |\n");
        rule.push_str("---|\n");
        s.push_str(&rule);
        for name in &self.method_order {
            let Some(m) = self.methods.get(name) else {
                continue;
            };
            s.push_str(&format!("| {} |", Self::label(name)));
            for st in &strategies {
                match m.strategies.get(st) {
                    Some(r) => s.push_str(&format!(
                        " {:.1} ± {:.1} | {:.3} |",
                        r.pass_rate, r.pass_rate_std, r.recall
                    )),
                    None => s.push_str(" – | – |"),
                }
            }
            s.push_str(&format!(" {:.0} |\n", m.optimizer_updates));
        }
        s
    }

    /// The whole `results.md` body (tables; the committed `docs/results.md` adds prose).
    pub fn to_markdown(&self) -> String {
        let mut s = format!(
            "# Results ({} preset, seeds {:?}, {:.0} s)\n\nPass rates in %, mean ± std over seeds; \
             recall 0..1; every trained method ran {} optimizer updates from the same SFT start.\n\n",
            self.preset, self.seeds, self.wall_s, self.updates
        );
        s.push_str("## Pass rate and recall (Table 3)\n\n");
        s.push_str(&self.to_markdown_table());
        s.push_str("\n## Win rate of StepTool over SFT\n\n| strategy | win rate |\n|---|---|\n");
        for (st, w) in &self.win_rate {
            s.push_str(&format!("| {} | {:.1} |\n", st.to_uppercase(), w));
        }
        // pass@k
        let ks: Vec<String> = {
            let mut ks: Vec<String> = self
                .methods
                .values()
                .flat_map(|m| m.strategies.get("cot"))
                .flat_map(|r| r.pass_at_k.keys().cloned())
                .collect();
            ks.sort_by_key(|k| k.parse::<usize>().unwrap_or(0));
            ks.dedup();
            ks
        };
        if !ks.is_empty() {
            s.push_str("\n## pass@k, sampled CoT (Table 5)\n\n| method |");
            for k in &ks {
                s.push_str(&format!(" pass@{k} |"));
            }
            s.push_str("\n|---|");
            s.push_str(&"---|".repeat(ks.len()));
            s.push('\n');
            for name in &self.method_order {
                let Some(r) = self.methods.get(name).and_then(|m| m.strategies.get("cot")) else {
                    continue;
                };
                s.push_str(&format!("| {} |", Self::label(name)));
                for k in &ks {
                    s.push_str(&format!(
                        " {:.1} |",
                        r.pass_at_k.get(k).copied().unwrap_or(0.0)
                    ));
                }
                s.push('\n');
            }
        }
        for st in self.strategies() {
            s.push_str(&format!(
                "\n## Error types, {} (Table 6; % of tasks with at least one step of the type)\n\n\
                 | method | tool selection | hallucinated tool | arguments | parse | mean actions |\n\
                 |---|---|---|---|---|---|\n",
                st.to_uppercase()
            ));
            for name in &self.method_order {
                let Some(r) = self.methods.get(name).and_then(|m| m.strategies.get(&st)) else {
                    continue;
                };
                let e = |k: &str| r.errors.get(k).copied().unwrap_or(0.0);
                s.push_str(&format!(
                    "| {} | {:.1} | {:.1} | {:.1} | {:.1} | {:.2} |\n",
                    Self::label(name),
                    e("tool_selection"),
                    e("hallucinated_tool"),
                    e("arguments"),
                    e("parse"),
                    r.mean_actions
                ));
            }
        }
        s
    }
}

/// Strategy -> mean over seeds of steptool's win rate over sft, %.
fn win_rates(evals: &[MethodEval]) -> BTreeMap<String, f64> {
    let mut per: BTreeMap<String, Vec<f64>> = BTreeMap::new();
    for st in evals
        .iter()
        .filter(|e| e.method == Method::Steptool.as_str())
    {
        let Some(base) = evals
            .iter()
            .find(|e| e.method == Method::Sft.as_str() && e.seed == st.seed)
        else {
            continue;
        };
        for (name, a) in &st.strategies {
            let Some(b) = base.strategies.get(name) else {
                continue;
            };
            let mut score = 0.0;
            for (task, &wa) in &a.solved {
                let wb = b.solved.get(task).copied().unwrap_or(false);
                score += match (wa, wb) {
                    (true, false) => 1.0,
                    (false, true) => 0.0,
                    _ => 0.5,
                };
            }
            if !a.solved.is_empty() {
                per.entry(name.clone())
                    .or_default()
                    .push(100.0 * score / a.solved.len() as f64);
            }
        }
    }
    per.into_iter().map(|(k, v)| (k, mean(&v))).collect()
}

/// Writes `results.json`, `results.md` and the PNGs into `out`; returns their paths.
pub fn write_report(results: &Results, out: &Path) -> Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    let json = out.join("results.json");
    let text = serde_json::to_string_pretty(results).map_err(Error::json(&json))?;
    steptool_mdp::atomic::write_atomic(&json, text).map_err(Error::io(&json))?;
    files.push(json);
    let md = out.join("results.md");
    steptool_mdp::atomic::write_atomic(&md, results.to_markdown()).map_err(Error::io(&md))?;
    files.push(md);
    if let Some(p) = plot_bars(results, &out.join("fig5.png"))? {
        files.push(p);
    }
    let mut training = Panel::new("held-out pass rate % (greedy CoT) during training");
    let mut pass_k = Panel::new("pass@k % (sampled CoT)");
    training.y_range = Some((0.0, 100.0));
    pass_k.y_range = Some((0.0, 100.0));
    for name in &results.method_order {
        let Some(m) = results.methods.get(name) else {
            continue;
        };
        if !m.curve.is_empty() {
            training = training.with(
                name.as_str(),
                m.curve.iter().map(|&(x, y)| (x as f64, y)).collect(),
            );
        }
        if let Some(r) = m.strategies.get("cot") {
            let pts: Vec<(f64, f64)> = r
                .pass_at_k
                .iter()
                .filter_map(|(k, v)| Some((k.parse::<f64>().ok()?, *v)))
                .collect();
            if !pts.is_empty() {
                pass_k = pass_k.with(name.as_str(), pts);
            }
        }
    }
    if let Some(p) = plot_panels(
        &[training],
        1,
        "optimizer updates",
        &out.join("training.png"),
    )? {
        files.push(p);
    }
    if let Some(p) = plot_panels(&[pass_k], 1, "k", &out.join("pass_at_k.png"))? {
        files.push(p);
    }
    Ok(files)
}

/// Fig. 5: pass rate per method, one bar per strategy, ± std whiskers.
fn plot_bars(results: &Results, path: &Path) -> Result<Option<PathBuf>> {
    use plotters::prelude::*;
    let strategies = results.strategies();
    let names: Vec<&String> = results
        .method_order
        .iter()
        .filter(|n| results.methods.contains_key(*n))
        .collect();
    if names.is_empty() || strategies.is_empty() {
        return Ok(None);
    }
    let perr = crate::common::plot::plot_error(path);
    let size = (160 * names.len() as u32 + 120, 520);
    crate::common::plot::draw_png(path, size, |root, text| {
        let top = names
            .iter()
            .flat_map(|n| results.methods[*n].strategies.values())
            .map(|r| r.pass_rate + r.pass_rate_std)
            .fold(10.0_f64, f64::max);
        let mut builder = ChartBuilder::on(root);
        builder.margin(16);
        if text {
            builder
                .caption(
                    format!(
                        "held-out pass rate % by method ({} seed(s), ± std)",
                        results.seeds.len()
                    ),
                    ("sans-serif", 20),
                )
                .x_label_area_size(70)
                .y_label_area_size(50);
        }
        let n = names.len() as f64;
        let mut chart = builder
            .build_cartesian_2d(-0.5..(n - 0.5), 0.0..(top * 1.15).clamp(10.0, 100.0))
            .map_err(|e| perr(&e))?;
        if text {
            let labels: Vec<String> = names.iter().map(|s| s.replace('_', " ")).collect();
            chart
                .configure_mesh()
                .disable_x_mesh()
                .x_labels(names.len())
                .x_label_formatter(&|v| {
                    let i = v.round();
                    if (v - i).abs() < 1e-6 && i >= 0.0 && (i as usize) < labels.len() {
                        labels[i as usize].clone()
                    } else {
                        String::new()
                    }
                })
                .y_desc("pass rate %")
                .draw()
                .map_err(|e| perr(&e))?;
        }
        let width = 0.8 / strategies.len() as f64;
        for (j, st) in strategies.iter().enumerate() {
            let color = Palette99::pick(j).to_rgba();
            let bars: Vec<(f64, f64, f64)> = names
                .iter()
                .enumerate()
                .filter_map(|(i, n)| {
                    let r = results.methods[*n].strategies.get(st)?;
                    Some((
                        i as f64 - 0.4 + width * j as f64,
                        r.pass_rate,
                        r.pass_rate_std,
                    ))
                })
                .collect();
            let drawn = chart
                .draw_series(bars.iter().map(|&(x, y, _)| {
                    Rectangle::new([(x, 0.0), (x + width * 0.95, y)], color.filled())
                }))
                .map_err(|e| perr(&e))?;
            if text {
                drawn.label(st.to_uppercase()).legend(move |(x, y)| {
                    Rectangle::new([(x, y - 5), (x + 14, y + 5)], color.filled())
                });
            }
            chart
                .draw_series(bars.iter().filter(|b| b.2 > 0.0).map(|&(x, y, sd)| {
                    let c = x + width * 0.475;
                    PathElement::new(
                        vec![(c, (y - sd).max(0.0)), (c, y + sd)],
                        BLACK.stroke_width(2),
                    )
                }))
                .map_err(|e| perr(&e))?;
            if text {
                // The value over each bar: a flat or tiny bar is still readable.
                let lift = top * 0.06;
                chart
                    .draw_series(bars.iter().map(|&(x, y, sd)| {
                        Text::new(
                            format!("{y:.1}"),
                            (x, y + sd + lift),
                            ("sans-serif", 13).into_font(),
                        )
                    }))
                    .map_err(|e| perr(&e))?;
            }
        }
        if text {
            chart
                .configure_series_labels()
                .position(SeriesLabelPosition::UpperLeft)
                .background_style(WHITE.mix(0.9))
                .border_style(BLACK)
                .draw()
                .map_err(|e| perr(&e))?;
        }
        Ok(())
    })
    .map(Some)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::experiment::evaluate::StrategyEval;

    type R = std::result::Result<(), Box<dyn std::error::Error>>;

    fn eval(method: Method, seed: u64, solved: &[bool]) -> MethodEval {
        let s = StrategyEval {
            tasks: solved.len(),
            pass_rate: solved.iter().filter(|&&x| x).count() as f64 / solved.len() as f64,
            recall: 0.5,
            mean_actions: 3.0,
            errors: [("parse".to_owned(), 0.25)].into_iter().collect(),
            solved: solved
                .iter()
                .enumerate()
                .map(|(i, &x)| (format!("t{i}"), x))
                .collect(),
            failed: 0,
        };
        MethodEval {
            method: method.as_str().into(),
            seed,
            optimizer_updates: if method == Method::Sft { 0 } else { 12 },
            strategies: [("cot".to_owned(), s)].into_iter().collect(),
            pass_at_k: [("1".to_owned(), 0.5), ("2".to_owned(), 0.75)]
                .into_iter()
                .collect(),
            curve: Vec::new(),
            notes: BTreeMap::new(),
            wall_s: 1.0,
        }
    }

    #[test]
    fn aggregates_mean_std_win_rate_and_curves() -> R {
        let mut spec = ExperimentSpec::quick();
        spec.seeds = vec![1, 2];
        spec.methods = vec![Method::Sft, Method::Steptool];
        let evals = vec![
            eval(Method::Sft, 1, &[false, false, true, false]),
            eval(Method::Sft, 2, &[false, false, false, false]),
            eval(Method::Steptool, 1, &[true, false, true, false]),
            eval(Method::Steptool, 2, &[true, true, false, false]),
        ];
        let r = Results::aggregate(&spec, &evals, 3.0);
        let st = &r.methods["steptool"].strategies["cot"];
        assert!((st.pass_rate - 50.0).abs() < 1e-9);
        assert_eq!(st.pass_rate_std, 0.0);
        let sft = &r.methods["sft"].strategies["cot"];
        assert!((sft.pass_rate - 12.5).abs() < 1e-9);
        // Sample std of 25 and 0.
        assert!((sft.pass_rate_std - (312.5f64).sqrt()).abs() < 1e-9);
        // Seed 1: one win, three ties -> 62.5; seed 2: two wins, two ties -> 75.
        assert!((r.win_rate["cot"] - 68.75).abs() < 1e-9);
        assert!((st.pass_at_k["2"] - 75.0).abs() < 1e-9);
        assert!((st.errors["parse"] - 25.0).abs() < 1e-9);
        // A method without its own curve goes from the start's pass rate to its own.
        assert_eq!(r.methods["steptool"].curve, vec![(0, 12.5), (12, 50.0)]);
        let md = r.to_markdown();
        for label in ["SFT", "StepTool", "pass@2", "Win rate", "tool selection"] {
            assert!(md.contains(label), "{label} missing from\n{md}");
        }
        let json = serde_json::to_value(&r)?;
        assert!(json["methods"]["steptool"]["cot"]["pass_rate_std"].is_number());
        Ok(())
    }

    #[test]
    fn the_report_files_are_written() -> R {
        let mut spec = ExperimentSpec::quick();
        spec.methods = vec![Method::Sft, Method::Steptool];
        let evals = vec![
            eval(Method::Sft, 1, &[false, true]),
            eval(Method::Steptool, 1, &[true, true]),
        ];
        let r = Results::aggregate(&spec, &evals, 1.0);
        let dir = tempfile::tempdir()?;
        let files = write_report(&r, dir.path())?;
        for f in [
            "results.json",
            "results.md",
            "fig5.png",
            "training.png",
            "pass_at_k.png",
        ] {
            let p = dir.path().join(f);
            assert!(files.contains(&p), "{f} not reported");
            assert!(std::fs::metadata(&p)?.len() > 100, "{f} empty");
        }
        Ok(())
    }
}
