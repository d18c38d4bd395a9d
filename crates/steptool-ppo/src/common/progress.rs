//! Progress of long work: a bar on a terminal, periodic plain lines otherwise (logs and CI get
//! no ANSI codes and still see the run move).

use std::io::IsTerminal;
use std::time::{Duration, Instant};

/// A progress reporter over `total` units (`unit`: "PPO steps", "SFT steps", "iterations").
#[derive(Debug)]
pub struct Progress {
    bar: Option<indicatif::ProgressBar>,
    plain: Option<Plain>,
}

#[derive(Debug)]
struct Plain {
    unit: String,
    total: u64,
    start: Instant,
    last: Option<Instant>,
    every: Duration,
}

impl Progress {
    /// Reports on stderr when `enabled`: a bar if stderr is a terminal, otherwise a plain line
    /// at most every 10 seconds (and at the end).
    pub fn new(enabled: bool, total: u64, unit: &str) -> Self {
        if !enabled {
            return Progress {
                bar: None,
                plain: None,
            };
        }
        if std::io::stderr().is_terminal() {
            let b = indicatif::ProgressBar::new(total);
            b.set_style(
                indicatif::ProgressStyle::with_template(&format!(
                    "{{bar:30}} {{pos}}/{{len}} {unit} [{{elapsed}}<{{eta}}] {{msg}}"
                ))
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
            );
            return Progress {
                bar: Some(b),
                plain: None,
            };
        }
        Progress {
            bar: None,
            plain: Some(Plain {
                unit: unit.into(),
                total,
                start: Instant::now(),
                last: None,
                every: Duration::from_secs(10),
            }),
        }
    }

    /// Sets the position (and the message shown beside it).
    pub fn update(&mut self, pos: u64, msg: &str) {
        if let Some(b) = &self.bar {
            b.set_position(pos);
            b.set_message(msg.to_owned());
        }
        if let Some(p) = &mut self.plain {
            let now = Instant::now();
            let due = p.last.is_none_or(|t| now.duration_since(t) >= p.every);
            if due || pos == p.total {
                p.last = Some(now);
                eprintln!(
                    "{} {pos}/{} [{:.0}s] {msg}",
                    p.unit,
                    p.total,
                    now.duration_since(p.start).as_secs_f64()
                );
            }
        }
    }

    /// Ends the bar.
    pub fn finish(self) {
        if let Some(b) = self.bar {
            b.finish();
        }
    }
}
