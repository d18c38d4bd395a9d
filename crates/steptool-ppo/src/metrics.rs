//! Metrics output: one JSON line per PPO step, and a PNG plot of the main curves.

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::trainer::StepMetrics;

/// Appends [`StepMetrics`] lines to a JSONL file (flushed after each line).
#[derive(Debug)]
pub struct MetricsWriter {
    path: PathBuf,
    file: std::fs::File,
}

impl MetricsWriter {
    /// Opens `path` for appending (a resumed run continues the same file).
    pub fn append(path: &Path) -> Result<Self> {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(|source| Error::Io {
                path: path.to_path_buf(),
                source,
            })?;
        Ok(MetricsWriter {
            path: path.to_path_buf(),
            file,
        })
    }

    /// Writes one line and logs it through `tracing`.
    pub fn write(&mut self, m: &StepMetrics) -> Result<()> {
        let line = serde_json::to_string(m).map_err(|source| Error::Json {
            path: self.path.clone(),
            source,
        })?;
        tracing::info!(target: "steptool_ppo::metrics", step = m.step, loss = m.total_loss, kl = m.kl, kl_coef = m.kl_coef, "{line}");
        writeln!(self.file, "{line}")
            .and_then(|_| self.file.flush())
            .map_err(|source| Error::Io {
                path: self.path.clone(),
                source,
            })
    }
}

/// Reads a metrics JSONL file back.
pub fn read_metrics(path: &Path) -> Result<Vec<StepMetrics>> {
    let text = std::fs::read_to_string(path).map_err(|source| Error::Io {
        path: path.to_path_buf(),
        source,
    })?;
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            serde_json::from_str(l).map_err(|source| Error::Json {
                path: path.to_path_buf(),
                source,
            })
        })
        .collect()
}

/// Registers DejaVu Sans (or another system TTF) for the plot's text; false when none exists.
fn register_font() -> bool {
    static FONT: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *FONT.get_or_init(|| {
        let candidates = [
            "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
            "/usr/share/fonts/TTF/DejaVuSans.ttf",
            "/usr/share/fonts/dejavu/DejaVuSans.ttf",
            "/Library/Fonts/Arial.ttf",
            "C:\\Windows\\Fonts\\arial.ttf",
        ];
        for c in candidates {
            if let Ok(bytes) = std::fs::read(c) {
                let bytes: &'static [u8] = Box::leak(bytes.into_boxed_slice());
                if plotters::style::register_font(
                    "sans-serif",
                    plotters::style::FontStyle::Normal,
                    bytes,
                )
                .is_ok()
                {
                    return true;
                }
            }
        }
        false
    })
}

/// Draws the main curves (total/policy/value loss, KL, KL coefficient, value error, clip
/// fraction, mean score) against the PPO step into a PNG. Returns `None` (and logs why) when
/// there are fewer than 1 step; text needs a system TTF font (DejaVu Sans), curves are drawn
/// without labels otherwise.
pub fn plot(metrics: &[StepMetrics], path: &Path) -> Result<Option<PathBuf>> {
    use plotters::prelude::*;
    if metrics.is_empty() {
        tracing::warn!("no metrics to plot");
        return Ok(None);
    }
    let text = register_font();
    let perr = |e: &dyn std::fmt::Display| Error::Io {
        path: path.to_path_buf(),
        source: std::io::Error::other(e.to_string()),
    };
    type Getter = fn(&StepMetrics) -> f64;
    let panels: [(&str, Vec<(&str, Getter)>); 6] = [
        (
            "loss",
            vec![
                ("total", |m: &StepMetrics| m.total_loss),
                ("policy", |m: &StepMetrics| m.policy_loss),
                ("value", |m: &StepMetrics| m.value_loss),
            ],
        ),
        (
            "KL (batch mean of sum)",
            vec![("kl", |m: &StepMetrics| m.kl)],
        ),
        (
            "KL coefficient",
            vec![("beta", |m: &StepMetrics| m.kl_coef)],
        ),
        (
            "value error",
            vec![("(v-R)^2", |m: &StepMetrics| m.value_error)],
        ),
        (
            "clip fraction",
            vec![
                ("policy", |m: &StepMetrics| m.clipfrac),
                ("value", |m: &StepMetrics| m.vf_clipfrac),
            ],
        ),
        (
            "mean final reward",
            vec![("score", |m: &StepMetrics| m.mean_score)],
        ),
    ];
    {
        let root = BitMapBackend::new(path, (1200, 700)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| perr(&e))?;
        let areas = root.split_evenly((2, 3));
        let x0 = metrics[0].step as f64;
        let x1 = (metrics[metrics.len() - 1].step as f64).max(x0 + 1.0);
        for (area, (title, series)) in areas.iter().zip(panels.iter()) {
            let ys: Vec<f64> = series
                .iter()
                .flat_map(|(_, g)| metrics.iter().map(g))
                .filter(|v| v.is_finite())
                .collect();
            let (mut lo, mut hi) = ys
                .iter()
                .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &v| {
                    (a.min(v), b.max(v))
                });
            if !lo.is_finite() {
                (lo, hi) = (0.0, 1.0);
            }
            let pad = ((hi - lo) * 0.1).max(1e-6);
            let mut builder = ChartBuilder::on(area);
            builder.margin(12);
            if text {
                builder
                    .caption(*title, ("sans-serif", 18))
                    .x_label_area_size(28)
                    .y_label_area_size(60);
            }
            let mut chart = builder
                .build_cartesian_2d(x0..x1, (lo - pad)..(hi + pad))
                .map_err(|e| perr(&e))?;
            if text {
                chart
                    .configure_mesh()
                    .x_desc("PPO step")
                    .draw()
                    .map_err(|e| perr(&e))?;
            }
            for (k, (name, g)) in series.iter().enumerate() {
                let color = Palette99::pick(k).to_rgba();
                let s = chart
                    .draw_series(LineSeries::new(
                        metrics.iter().map(|m| (m.step as f64, g(m))),
                        color.stroke_width(2),
                    ))
                    .map_err(|e| perr(&e))?;
                if text {
                    s.label(*name)
                        .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 16, y)], color));
                }
            }
            if text && series.len() > 1 {
                chart
                    .configure_series_labels()
                    .background_style(WHITE.mix(0.8))
                    .border_style(BLACK)
                    .draw()
                    .map_err(|e| perr(&e))?;
            }
        }
        root.present().map_err(|e| perr(&e))?;
    }
    Ok(Some(path.to_path_buf()))
}
