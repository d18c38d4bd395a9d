//! The StepTool PPO training TSV (formats.md §1.1-1.3):
//! `data_train/<model>/step_grained_for_ppo_example.csv`.
//!
//! ```text
//! prompt<TAB>response<TAB>reward
//! "[""System:\n…Assistant:\n"", 'Function:\n…']"<TAB>"['Action: …', …]"<TAB>[1.0, 0.0]
//! ```
//!
//! One row is one trajectory ([`StepSample`]); each cell is `str(list)` of a Python list
//! (strings for `prompt`/`response`, floats for `reward`, [`crate::pylit`]), written by pandas
//! `to_csv(sep='\t', index=False)`: csv `QUOTE_MINIMAL` with `"` as quote character (a cell that
//! contains `"`, a tab, CR or LF is wrapped in `"…"` with inner `"` doubled), LF line ends.
//! [`write_tsv`] writes exactly those bytes, so reading then writing a reference file
//! reproduces it byte for byte (tested on every fixture).
//!
//! Quirks kept and limits: rewards are `f64`, so an integer reward cell such as `[1, 0]` is
//! written back as `[1.0, 0.0]`; a UTF-8 byte-order mark is skipped on reading (as pandas does)
//! and never written; the header must name the three columns (any order, nothing else).
//!
//! ```
//! use steptool_mdp::formats::tsv;
//! use steptool_mdp::StepSample;
//!
//! # fn main() -> steptool_mdp::Result<()> {
//! let text = "prompt\tresponse\treward\n\"['User: \"\"hi\"\"\\n', 'Function: ok\\n']\"\t['Action: a\\n', 'Action: Finish\\n']\t[0.5, 1.0]\n";
//! let read = tsv::read_tsv_str(text)?;
//! assert!(read.errors.is_empty());
//! let sample = &read.samples[0].sample;
//! assert_eq!(sample.prompts[0], "User: \"hi\"\n");
//! assert_eq!(sample.rewards, vec![0.5, 1.0]);
//! let samples: Vec<StepSample> = read.samples.into_iter().map(|r| r.sample).collect();
//! assert_eq!(tsv::to_tsv_string(&samples), text);
//! # Ok(()) }
//! ```

use std::borrow::Cow;
use std::io::Read;
use std::path::{Path, PathBuf};

use crate::error::{Error, Location, Result};
use crate::pylit;
use crate::StepSample;

/// The header line's column names, in the order [`write_tsv`] writes them.
pub const TSV_COLUMNS: [&str; 3] = ["prompt", "response", "reward"];

/// One good row of a TSV file.
#[derive(Debug, Clone, PartialEq)]
pub struct TsvRow {
    /// 0-based data row (the header is not a row; pandas' index).
    pub row: usize,
    /// 1-based line where the row starts.
    pub line: usize,
    /// The decoded sample.
    pub sample: StepSample,
}

/// Everything read from a TSV file: the good rows and one error per bad row, in file order.
/// Nothing is dropped silently: `samples.len() + errors.len()` is the number of data rows.
#[derive(Debug)]
pub struct TsvRead {
    /// Rows that decoded and validated.
    pub samples: Vec<TsvRow>,
    /// `(row, error)` for every row that did not; the error names file, line, row and column.
    pub errors: Vec<(usize, Error)>,
}

impl TsvRead {
    /// Number of data rows in the file (good and bad).
    pub fn rows(&self) -> usize {
        self.samples.len() + self.errors.len()
    }

    /// The samples, or the first row's error if any row is bad.
    pub fn into_strict(self) -> Result<Vec<StepSample>> {
        if let Some((_, error)) = self.errors.into_iter().next() {
            return Err(error);
        }
        Ok(self.samples.into_iter().map(|r| r.sample).collect())
    }
}

/// Read a TSV file, keeping going past bad rows (see [`TsvRead`]).
///
/// Fails as a whole only when the file cannot be read or its header is not the three columns.
pub fn read_tsv(path: impl AsRef<Path>) -> Result<TsvRead> {
    let path = path.as_ref();
    let file = std::fs::File::open(path).map_err(|source| Error::io(path, source))?;
    read_tsv_from(file, Some(path))
}

/// Read a TSV file and fail on the first bad row.
pub fn read_tsv_strict(path: impl AsRef<Path>) -> Result<Vec<StepSample>> {
    read_tsv(path)?.into_strict()
}

/// [`read_tsv`] over text in memory.
pub fn read_tsv_str(text: &str) -> Result<TsvRead> {
    read_tsv_from(text.as_bytes(), None)
}

/// [`read_tsv`] over any reader; `path` (if any) is named in errors.
pub fn read_tsv_from(reader: impl Read, path: Option<&Path>) -> Result<TsvRead> {
    let base = Location {
        file: path.map(PathBuf::from),
        ..Location::default()
    };
    let mut csv_reader = csv::ReaderBuilder::new()
        .delimiter(b'\t')
        .quote(b'"')
        .double_quote(true)
        .has_headers(false)
        .flexible(true)
        .from_reader(reader);
    let mut records = csv_reader.byte_records();

    let header = match records.next() {
        None => {
            return Err(Error::format(
                base.with_line(1),
                "empty file: expected the header `prompt<TAB>response<TAB>reward`",
            ))
        }
        Some(Err(source)) => {
            return Err(Error::Csv {
                location: base.with_line(1),
                source,
            })
        }
        Some(Ok(h)) => h,
    };
    let columns = column_order(&header, &base)?;

    let mut read = TsvRead {
        samples: Vec::new(),
        errors: Vec::new(),
    };
    for (row, record) in records.enumerate() {
        let record = match record {
            Ok(r) => r,
            Err(source) => {
                if matches!(source.kind(), csv::ErrorKind::Io(_)) {
                    return Err(Error::Csv {
                        location: base.clone().with_row(row),
                        source,
                    });
                }
                let line = source.position().map(|p| p.line() as usize);
                let mut location = base.clone().with_row(row);
                location.line = line;
                read.errors.push((row, Error::Csv { location, source }));
                continue;
            }
        };
        let line = record.position().map_or(0, |p| p.line() as usize);
        let location = base.clone().with_line(line).with_row(row);
        match decode_row(&record, &columns, &location) {
            Ok(sample) => read.samples.push(TsvRow { row, line, sample }),
            Err(error) => read.errors.push((row, error)),
        }
    }
    Ok(read)
}

/// Index of each of [`TSV_COLUMNS`] in the header.
fn column_order(header: &csv::ByteRecord, base: &Location) -> Result<[usize; 3]> {
    let location = base.clone().with_line(1);
    let names: Vec<Cow<'_, str>> = header.iter().map(String::from_utf8_lossy).collect();
    let mut order = [usize::MAX; 3];
    for (i, name) in names.iter().enumerate() {
        match TSV_COLUMNS.iter().position(|c| c == name) {
            Some(k) if order[k] == usize::MAX => order[k] = i,
            Some(_) => {
                return Err(Error::format(location, format!("column `{name}` appears twice in the header")))
            }
            None => {
                return Err(Error::format(
                    location,
                    format!(
                        "unexpected column {name:?} in the header {names:?}; expected exactly `prompt`, `response`, `reward` (an index column means the file was written without index=False)"
                    ),
                ))
            }
        }
    }
    if let Some(k) = order.iter().position(|&i| i == usize::MAX) {
        return Err(Error::format(
            location,
            format!("header {names:?} lacks the column `{}`", TSV_COLUMNS[k]),
        ));
    }
    Ok(order)
}

fn decode_row(
    record: &csv::ByteRecord,
    columns: &[usize; 3],
    location: &Location,
) -> Result<StepSample> {
    if record.len() != 3 {
        return Err(Error::format(
            location.clone(),
            format!(
                "expected 3 tab-separated cells (prompt, response, reward), found {}",
                record.len()
            ),
        ));
    }
    let cell = |k: usize| -> Result<&str> {
        let bytes = record.get(columns[k]).unwrap_or_default();
        std::str::from_utf8(bytes).map_err(|e| {
            Error::format(
                location.clone().with_field(TSV_COLUMNS[k]),
                format!("cell is not valid UTF-8: {e}"),
            )
        })
    };
    let at = |k: usize| location.clone().with_field(TSV_COLUMNS[k]);
    let prompts = pylit::parse_str_list(cell(0)?).map_err(|e| e.at(at(0)))?;
    let responses = pylit::parse_str_list(cell(1)?).map_err(|e| e.at(at(1)))?;
    let rewards = pylit::parse_float_list(cell(2)?).map_err(|e| e.at(at(2)))?;
    StepSample::new(prompts, responses, rewards).map_err(|e| e.at(location.clone()))
}

/// csv `QUOTE_MINIMAL` as Python's `csv` module applies it with a tab delimiter and `\n` line
/// terminator: quote a cell containing `"`, a tab, CR or LF, doubling inner quotes.
pub fn quote_minimal(cell: &str) -> Cow<'_, str> {
    if cell.contains(['"', '\t', '\n', '\r']) {
        Cow::Owned(format!("\"{}\"", cell.replace('"', "\"\"")))
    } else {
        Cow::Borrowed(cell)
    }
}

/// One data line (without its `\n`) as pandas writes it.
pub fn tsv_line(sample: &StepSample) -> String {
    let prompt = pylit::repr_str_list(&sample.prompts);
    let response = pylit::repr_str_list(&sample.responses);
    let reward = pylit::repr_float_list(&sample.rewards);
    format!(
        "{}\t{}\t{}",
        quote_minimal(&prompt),
        quote_minimal(&response),
        quote_minimal(&reward)
    )
}

/// The whole file as pandas `to_csv(sep='\t', index=False)` writes it: header, one line per
/// sample, every line ending in `\n`.
pub fn to_tsv_string(samples: &[StepSample]) -> String {
    let mut out = TSV_COLUMNS.join("\t");
    out.push('\n');
    for sample in samples {
        out.push_str(&tsv_line(sample));
        out.push('\n');
    }
    out
}

/// Write `samples` to `path` (see [`to_tsv_string`]). Every sample is validated first; the error
/// names the sample index.
pub fn write_tsv(path: impl AsRef<Path>, samples: &[StepSample]) -> Result<()> {
    let path = path.as_ref();
    for (row, sample) in samples.iter().enumerate() {
        sample
            .validate()
            .map_err(|e| e.at(Location::file(path).with_row(row)))?;
    }
    super::write_text(path, &to_tsv_string(samples))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting_is_minimal() {
        assert_eq!(quote_minimal("[1.0]"), "[1.0]");
        assert_eq!(quote_minimal("['a\"b']"), "\"['a\"\"b']\"");
        assert_eq!(quote_minimal("a\tb"), "\"a\tb\"");
    }

    #[test]
    fn bad_rows_are_reported_and_the_rest_read() -> Result<()> {
        let text = "prompt\tresponse\treward\n\
                    ['p']\t['r']\t[1.0]\n\
                    ['p', 'q']\t['r']\t[1.0]\n\
                    'p'\t['r']\t[1.0]\n\
                    ['p']\t['r']\t['x']\n\
                    ['p']\t['r']\n\
                    ['p']\t['r']\t[0.5]\n";
        let read = read_tsv_str(text)?;
        assert_eq!(read.rows(), 6);
        let good: Vec<usize> = read.samples.iter().map(|r| r.row).collect();
        assert_eq!(good, vec![0, 5]);
        assert_eq!(read.samples[1].line, 7);
        let messages: Vec<(usize, String)> = read
            .errors
            .iter()
            .map(|(row, e)| (*row, e.to_string()))
            .collect();
        assert_eq!(messages.len(), 4);
        assert!(
            messages[0].1.contains(
                "line 3, row 1: invalid trajectory: sample lists disagree: 2 prompts, 1 responses"
            ),
            "{}",
            messages[0].1
        );
        assert!(messages[1].1.contains("line 4, row 2, field `prompt`: Python literal, byte 0: expected a list, found a str"), "{}", messages[1].1);
        assert!(
            messages[2].1.contains("row 3, field `reward`")
                && messages[2]
                    .1
                    .contains("byte 1: list item 0 is a str, expected a float"),
            "{}",
            messages[2].1
        );
        assert!(
            messages[3]
                .1
                .contains("row 4: expected 3 tab-separated cells"),
            "{}",
            messages[3].1
        );
        assert!(read_tsv_str(text)?.into_strict().is_err());
        // A byte-order mark is skipped (pandas does the same).
        let with_bom = format!("\u{feff}{text}");
        assert_eq!(read_tsv_str(&with_bom)?.samples.len(), 2);
        Ok(())
    }

    #[test]
    fn header_problems_fail_the_file() {
        for (text, needle) in [
            ("", "empty file"),
            ("\tprompt\tresponse\treward\n", "unexpected column \"\""),
            ("prompt\tresponse\n", "lacks the column `reward`"),
            ("prompt\tprompt\treward\n", "appears twice"),
        ] {
            let err = read_tsv_str(text).err().map(|e| e.to_string());
            assert!(
                err.as_deref().is_some_and(|e| e.contains(needle)),
                "{text:?}: {err:?}"
            );
        }
    }
}
