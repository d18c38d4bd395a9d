//! PNG plots of a run's curves, shared by every trainer: a grid of panels, each a few named
//! series against the step. Readable when flat (the y range never collapses to one label),
//! with one point (markers are drawn, not only lines), and with the legend outside the data.

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// One panel: a title and named series of `(x, y)` points.
#[derive(Debug, Clone, Default)]
pub struct Panel {
    /// Caption.
    pub title: String,
    /// `(name, points)`; non-finite `y` values are skipped.
    pub series: Vec<(String, Vec<(f64, f64)>)>,
    /// A fixed y range (rates: `0..1`); `None` fits the data.
    pub y_range: Option<(f64, f64)>,
}

impl Panel {
    /// A panel titled `title`.
    pub fn new(title: impl Into<String>) -> Self {
        Panel {
            title: title.into(),
            series: Vec::new(),
            y_range: None,
        }
    }

    /// A panel of rates in `[0, 1]` (the axis always shows the whole range).
    pub fn rates(title: impl Into<String>) -> Self {
        Panel {
            y_range: Some((0.0, 1.0)),
            ..Panel::new(title)
        }
    }

    /// Adds a series.
    pub fn with(mut self, name: impl Into<String>, points: Vec<(f64, f64)>) -> Self {
        self.series.push((name.into(), points));
        self
    }
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

/// A y range around `[lo, hi]` that shows distinct tick labels even for a flat series.
fn y_range(lo: f64, hi: f64) -> (f64, f64) {
    if !lo.is_finite() {
        return (0.0, 1.0);
    }
    let scale = lo.abs().max(hi.abs());
    // Padding relative to the data (a learning rate of 3e-4 must not get an axis to +-1e-3);
    // a fixed 1e-3 only for an all-zero series.
    let pad = ((hi - lo) * 0.1).max(scale * 0.05);
    let pad = if pad > 0.0 { pad } else { 1e-3 };
    // Data that is never negative (rates, losses, norms) gets no negative axis.
    let low = if lo >= 0.0 {
        (lo - pad).max(0.0)
    } else {
        lo - pad
    };
    (low, hi + pad)
}

/// Tick label with as many decimals as the range needs (never `-0.0`).
fn tick(v: f64, span: f64) -> String {
    let decimals = if span >= 10.0 {
        0
    } else {
        ((-span.log10()).ceil() as i64 + 1).clamp(1, 6) as usize
    };
    let s = format!("{v:.decimals$}");
    if s.trim_start_matches('-')
        .chars()
        .all(|c| c == '0' || c == '.')
    {
        s.trim_start_matches('-').to_owned()
    } else {
        s
    }
}

/// The drawing area of a PNG being written.
pub(crate) type PngArea<'a> =
    plotters::drawing::DrawingArea<plotters::prelude::BitMapBackend<'a>, plotters::coord::Shift>;

/// A plotting error as this crate's error, naming the picture.
pub(crate) fn plot_error(path: &Path) -> impl Fn(&dyn std::fmt::Display) -> Error + '_ {
    move |e| Error::Io {
        path: path.to_path_buf(),
        source: std::io::Error::other(e.to_string()),
    }
}

/// Every PNG of the crate: a white `size` canvas handed to `draw` (with whether text can be
/// drawn: a system font was found), written atomically to `path` (a reader never sees half a
/// picture).
pub(crate) fn draw_png(
    path: &Path,
    size: (u32, u32),
    draw: impl FnOnce(&PngArea<'_>, bool) -> Result<()>,
) -> Result<PathBuf> {
    use plotters::prelude::*;
    let text = register_font();
    let tmp = steptool_mdp::atomic::temp_sibling(path).with_extension("png");
    let perr = plot_error(path);
    {
        let root = BitMapBackend::new(&tmp, size).into_drawing_area();
        root.fill(&WHITE).map_err(|e| perr(&e))?;
        draw(&root, text)?;
        root.present().map_err(|e| perr(&e))?;
    }
    std::fs::rename(&tmp, path).map_err(Error::io(path))?;
    Ok(path.to_path_buf())
}

/// Draws `panels` in a grid of `columns` into a PNG at `path` (written atomically: a reader
/// never sees half a picture). `x_desc` labels every x axis. Returns `None` when no panel has a
/// point. Text needs a system TTF font (DejaVu Sans); without one the curves are drawn bare.
pub fn plot_panels(
    panels: &[Panel],
    columns: usize,
    x_desc: &str,
    path: &Path,
) -> Result<Option<PathBuf>> {
    use plotters::prelude::*;
    let has_points = panels
        .iter()
        .any(|p| p.series.iter().any(|(_, s)| !s.is_empty()));
    if !has_points {
        tracing::warn!("no metrics to plot");
        return Ok(None);
    }
    let perr = plot_error(path);
    let columns = columns.max(1);
    let rows = panels.len().div_ceil(columns);
    let size = (400 * columns as u32, 340 * rows as u32);
    draw_png(path, size, |root, text| {
        let areas = root.split_evenly((rows, columns));
        for (area, panel) in areas.iter().zip(panels) {
            let pts = || panel.series.iter().flat_map(|(_, s)| s.iter());
            let xs = pts().map(|p| p.0);
            let (x0, x1) = xs.fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), x| {
                (a.min(x), b.max(x))
            });
            let (x0, x1) = if x0.is_finite() {
                (x0 - 0.5, x1.max(x0) + 0.5)
            } else {
                (0.0, 1.0)
            };
            let (lo, hi) = pts()
                .map(|p| p.1)
                .filter(|v| v.is_finite())
                .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| {
                    (a.min(v), b.max(v))
                });
            let (ylo, yhi) = match panel.y_range {
                Some((a, b)) => (a.min(lo) - 0.02 * (b - a), b.max(hi) + 0.02 * (b - a)),
                None => y_range(lo, hi),
            };
            let span = yhi - ylo;
            let mut builder = ChartBuilder::on(area);
            builder.margin(12);
            if text {
                builder
                    .caption(&panel.title, ("sans-serif", 17))
                    .x_label_area_size(30)
                    .y_label_area_size(64);
            }
            let mut chart = builder
                .build_cartesian_2d(x0..x1, ylo..yhi)
                .map_err(|e| perr(&e))?;
            if text {
                chart
                    .configure_mesh()
                    .x_desc(x_desc)
                    .y_label_formatter(&|v| tick(*v, span))
                    // Steps are integers: label whole numbers only.
                    .x_label_formatter(&|v| {
                        if (v - v.round()).abs() < 1e-6 {
                            format!("{}", v.round() as i64)
                        } else {
                            String::new()
                        }
                    })
                    .draw()
                    .map_err(|e| perr(&e))?;
            }
            for (k, (name, s)) in panel.series.iter().enumerate() {
                let color = Palette99::pick(k).to_rgba();
                let finite: Vec<(f64, f64)> =
                    s.iter().copied().filter(|p| p.1.is_finite()).collect();
                let drawn = chart
                    .draw_series(LineSeries::new(finite.clone(), color.stroke_width(2)))
                    .map_err(|e| perr(&e))?;
                if text {
                    drawn.label(name.as_str()).legend(move |(x, y)| {
                        PathElement::new(vec![(x, y), (x + 16, y)], color.stroke_width(2))
                    });
                }
                chart
                    .draw_series(finite.iter().map(|&p| Circle::new(p, 3, color.filled())))
                    .map_err(|e| perr(&e))?;
            }
            if text {
                chart
                    .configure_series_labels()
                    .position(SeriesLabelPosition::UpperRight)
                    .background_style(WHITE.mix(0.6))
                    .border_style(BLACK.mix(0.5))
                    .draw()
                    .map_err(|e| perr(&e))?;
            }
        }
        Ok(())
    })
    .map(Some)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flat_ranges_still_have_distinct_labels() {
        let (lo, hi) = y_range(0.0, 0.0);
        assert!(hi > lo);
        assert_eq!(tick(-0.00001, hi - lo), "0.0000");
        let (lo, hi) = y_range(2.0, 2.0);
        let labels: Vec<String> = [lo, 2.0, hi].iter().map(|v| tick(*v, hi - lo)).collect();
        assert!(
            labels[0] != labels[1] && labels[1] != labels[2],
            "{labels:?}"
        );
    }

    #[test]
    fn small_non_negative_series_keep_their_scale_and_no_negative_axis() {
        // A learning rate decaying from 3e-4 to 0: the axis is about the data, not +-1e-3.
        let (lo, hi) = y_range(0.0, 3e-4);
        assert_eq!(lo, 0.0);
        assert!(hi > 3e-4 && hi < 4e-4, "{hi}");
        // Negative data still gets padding below.
        let (lo, _) = y_range(-1.0, 1.0);
        assert!(lo < -1.0);
    }
}
