//! `steptool encode`: a StepTool training TSV -> token-level episodes, one JSON object per row.
//!
//! ```text
//! steptool encode --data FILE.tsv --tokenizer tokenizer.json --mode clean|reference-compat \
//!     [--max-context N] [--max-response N]
//! ```
//!
//! Prints `{"row": i, "input_ids": [...], "action_spans": [[start, end], ...], "step_rewards": [...]}`
//! for every row that encodes (`input_ids` is context then final response; spans are half-open,
//! one per step still present after truncation, in step order). A bad row is reported on stderr
//! with its row number and reason and the others are still encoded; the exit status is then 1.

use std::io::{BufWriter, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use serde::Serialize;
use steptool::mdp::formats::tsv::read_tsv;
use steptool::mdp::{EncodeMode, Encoder, EncoderConfig};

/// Arguments of `steptool encode`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The StepTool training TSV (`prompt`, `response`, `reward` columns of Python list literals).
    #[arg(long)]
    data: PathBuf,
    /// A Hugging Face `tokenizer.json`.
    #[arg(long)]
    tokenizer: PathBuf,
    /// `clean`: the whole dialogue tokenised once; `reference-compat`: segment by segment with
    /// special tokens per segment, exactly as the released StepTool code.
    #[arg(long, default_value = "clean")]
    mode: EncodeMode,
    /// Keep the last N context tokens (everything before the final response).
    #[arg(long, default_value_t = EncoderConfig::default().max_context)]
    max_context: usize,
    /// Keep the first N tokens of the final response.
    #[arg(long, default_value_t = EncoderConfig::default().max_response)]
    max_response: usize,
}

#[derive(Serialize)]
struct Row<'a> {
    row: usize,
    input_ids: &'a [u32],
    action_spans: Vec<[usize; 2]>,
    step_rewards: &'a [f32],
}

/// Run `steptool encode`.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let config = EncoderConfig {
        mode: args.mode,
        max_context: args.max_context,
        max_response: args.max_response,
    };
    let encoder = Encoder::from_file(&args.tokenizer, config)?;
    let read = read_tsv(&args.data)?;
    let total = read.rows();
    if total == 0 {
        anyhow::bail!(
            "{}: no data rows (a header only, or an empty file): nothing to encode",
            args.data.display()
        );
    }
    let mut failures: Vec<(usize, String)> = read
        .errors
        .into_iter()
        .map(|(row, e)| (row, e.to_string()))
        .collect();
    let samples: Vec<_> = read.samples.iter().map(|r| r.sample.clone()).collect();
    let encoded = encoder.encode_all(&samples);

    let stdout = std::io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    for (tsv_row, result) in read.samples.iter().zip(encoded) {
        match result {
            Ok(e) => {
                let row = Row {
                    row: tsv_row.row,
                    input_ids: e.episode.input_ids(),
                    action_spans: e.episode.action_spans().iter().map(|&s| s.into()).collect(),
                    step_rewards: e.episode.step_rewards(),
                };
                serde_json::to_writer(&mut out, &row)?;
                out.write_all(b"\n")?;
            }
            Err(err) => failures.push((
                tsv_row.row,
                format!("{}: line {}: {err}", args.data.display(), tsv_row.line),
            )),
        }
    }
    out.flush().context("writing episodes to stdout")?;
    if failures.is_empty() {
        return Ok(ExitCode::SUCCESS);
    }
    failures.sort_by_key(|(row, _)| *row);
    for (row, reason) in &failures {
        eprintln!("row {row}: {reason}");
    }
    eprintln!(
        "{} of {total} rows failed; the others were encoded",
        failures.len()
    );
    Ok(ExitCode::FAILURE)
}
