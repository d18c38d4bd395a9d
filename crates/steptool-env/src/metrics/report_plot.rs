//! A grouped bar chart of a [`PaperReport`]: one cluster per test group, one bar per method
//! (pass rate, %), a whisker of ± std, the value above each bar, a legend of the methods.
//!
//! Text needs a system TTF font (DejaVu Sans or Arial, looked up at the usual places); without
//! one the chart is an error rather than a picture without labels.

use std::path::Path;

use super::paper_report::PaperReport;
use crate::error::{Error, Result};

/// Registers a system sans-serif TTF for plotters' text; false when none is found.
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
        candidates.iter().any(|c| {
            std::fs::read(c).is_ok_and(|bytes| {
                let bytes: &'static [u8] = Box::leak(bytes.into_boxed_slice());
                plotters::style::register_font(
                    "sans-serif",
                    plotters::style::FontStyle::Normal,
                    bytes,
                )
                .is_ok()
            })
        })
    })
}

/// Colour-blind-safe palette (Okabe-Ito).
const COLORS: [(u8, u8, u8); 8] = [
    (0, 114, 178),
    (230, 159, 0),
    (0, 158, 115),
    (204, 121, 167),
    (86, 180, 233),
    (213, 94, 0),
    (240, 228, 66),
    (0, 0, 0),
];

/// Draw the pass rates of `report` (group × method, mean ± std) into a PNG at `path`.
/// A group a method has no number for gets no bar.
pub fn plot_pass_rates(report: &PaperReport, path: &Path) -> Result<()> {
    use plotters::prelude::*;
    if !register_font() {
        return Err(Error::data(
            path.display().to_string(),
            "no TTF font found for the chart's text (install DejaVu Sans)",
        ));
    }
    let perr = |e: &dyn std::fmt::Display| Error::data(path.display().to_string(), e.to_string());
    let groups: Vec<&str> = report.group_order.iter().map(|g| g.name.as_str()).collect();
    let methods: Vec<&str> = report.methods.iter().map(|(n, _)| n.as_str()).collect();
    if groups.is_empty() || methods.is_empty() {
        return Err(Error::data(
            path.display().to_string(),
            "nothing to plot (no groups or no methods)",
        ));
    }
    let top = report
        .methods
        .iter()
        .flat_map(|(_, m)| m.groups.iter().map(|(_, g)| g.pass_rate + g.pass_rate_std))
        .fold(0.0_f64, f64::max);
    // Room above the highest whisker for its label and for the legend.
    let y_max = (top * 1.35).clamp(10.0, 100.0 * 1.35);
    let n_groups = groups.len() as f64;
    let width = (260 * groups.len() + 120 * methods.len()).clamp(640, 1600) as u32;
    let root = BitMapBackend::new(path, (width, 520)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| perr(&e))?;
    let mut chart = ChartBuilder::on(&root)
        .caption(
            "Pass rate by test group (ToolEval, mean ± std over judge runs)",
            ("sans-serif", 22),
        )
        .margin(16)
        .x_label_area_size(48)
        .y_label_area_size(64)
        .build_cartesian_2d(0.0..n_groups, 0.0..y_max)
        .map_err(|e| perr(&e))?;
    let labels = groups.clone();
    chart
        .configure_mesh()
        .disable_x_mesh()
        .light_line_style(TRANSPARENT)
        .y_label_formatter(&|y: &f64| format!("{y:.0}"))
        .x_labels(2 * groups.len() + 1)
        .x_label_formatter(&|x: &f64| {
            let g = (x - 0.5).round();
            if (x - 0.5 - g).abs() < 1e-6 && g >= 0.0 && (g as usize) < labels.len() {
                labels[g as usize].to_owned()
            } else {
                String::new()
            }
        })
        .x_desc("test group")
        .y_desc("pass rate (%)")
        .axis_desc_style(("sans-serif", 16))
        .label_style(("sans-serif", 15))
        .draw()
        .map_err(|e| perr(&e))?;
    let slot = 0.8 / methods.len() as f64;
    for (mi, (name, m)) in report.methods.iter().enumerate() {
        let (r, g, b) = COLORS[mi % COLORS.len()];
        let color = RGBColor(r, g, b);
        let mut bars = Vec::new();
        let mut whiskers = Vec::new();
        let mut values = Vec::new();
        for (gi, group) in groups.iter().enumerate() {
            let Some(gr) = m.group(group) else { continue };
            let x0 = gi as f64 + 0.1 + mi as f64 * slot;
            let (x1, xc) = (x0 + slot * 0.9, x0 + slot * 0.45);
            bars.push(Rectangle::new(
                [(x0, 0.0), (x1, gr.pass_rate)],
                color.filled(),
            ));
            let (lo, hi) = (
                (gr.pass_rate - gr.pass_rate_std).max(0.0),
                gr.pass_rate + gr.pass_rate_std,
            );
            let w = slot * 0.15;
            for seg in [
                vec![(xc, lo), (xc, hi)],
                vec![(xc - w, lo), (xc + w, lo)],
                vec![(xc - w, hi), (xc + w, hi)],
            ] {
                whiskers.push(PathElement::new(seg, BLACK.stroke_width(2)));
            }
            values.push(Text::new(
                format!("{:.1}", gr.pass_rate),
                (xc, hi + y_max * 0.015),
                ("sans-serif", 14).into_font().color(&BLACK).pos(
                    plotters::style::text_anchor::Pos::new(
                        plotters::style::text_anchor::HPos::Center,
                        plotters::style::text_anchor::VPos::Bottom,
                    ),
                ),
            ));
        }
        chart
            .draw_series(bars)
            .map_err(|e| perr(&e))?
            .label(name.as_str())
            .legend(move |(x, y)| Rectangle::new([(x, y - 6), (x + 14, y + 6)], color.filled()));
        chart.draw_series(whiskers).map_err(|e| perr(&e))?;
        chart.draw_series(values).map_err(|e| perr(&e))?;
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperRight)
        .label_font(("sans-serif", 15))
        .background_style(WHITE.mix(0.9))
        .border_style(BLACK)
        .draw()
        .map_err(|e| perr(&e))?;
    root.present().map_err(|e| perr(&e))?;
    Ok(())
}
