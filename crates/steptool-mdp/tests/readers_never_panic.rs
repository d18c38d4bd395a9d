//! Every reader of a reference format, fed a damaged copy of a real sample (cut at any byte,
//! bytes overwritten or inserted anywhere), returns data or an error that names the file;
//! none panics. Per-record readers (TSV rows, JSONL lines) name the file in every record error.

use std::path::{Path, PathBuf};

use proptest::prelude::*;
use steptool_mdp::formats::{annotation, converted, jsonl, queries, raw_answer, sft, tsv};

fn repo_file(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(rel)
}

/// A reader under test: its real sample and what it says about a file (`Err` = the whole file
/// refused; `Ok` = the per-record errors, empty when everything read).
struct Reader {
    name: &'static str,
    sample: fn() -> Vec<u8>,
    read: fn(&Path) -> Result<Vec<String>, String>,
}

/// A sample's bytes (empty when missing: `the_samples_read_whole` fails on that).
fn read_fixture(rel: &str) -> Vec<u8> {
    std::fs::read(repo_file(rel)).unwrap_or_default()
}

fn whole<T, E: std::fmt::Display>(r: Result<T, E>) -> Result<Vec<String>, String> {
    r.map(|_| Vec::new()).map_err(|e| e.to_string())
}

/// Our JSONL of trajectories, written from the converted-prediction sample.
fn jsonl_sample() -> Vec<u8> {
    let dir = tempfile::tempdir().ok();
    let Some(dir) = dir else { return Vec::new() };
    let out = dir.path().join("t.jsonl");
    converted::read_converted_trajectories(repo_file(
        "fixtures/reference/converted_prediction_qwen2_entry_56543.json",
    ))
    .and_then(|t| jsonl::write_trajectories(&out, &t))
    .ok()
    .and_then(|_| std::fs::read(&out).ok())
    .unwrap_or_default()
}

fn readers() -> Vec<Reader> {
    vec![
        Reader {
            name: "tsv",
            sample: || read_fixture("fixtures/reference/steptool_ppo_qwen2_5rows.csv"),
            read: |p| {
                tsv::read_tsv(p)
                    .map(|r| r.errors.iter().map(|(_, e)| e.to_string()).collect())
                    .map_err(|e| e.to_string())
            },
        },
        Reader {
            name: "converted",
            sample: || {
                read_fixture("fixtures/reference/converted_prediction_qwen2_entry_56543.json")
            },
            read: |p| whole(converted::read_converted_trajectories(p)),
        },
        Reader {
            name: "annotation",
            sample: || read_fixture("fixtures/reference/reward_annotation_qwen2_entry_56543.json"),
            read: |p| whole(annotation::read_annotations(p)),
        },
        Reader {
            name: "raw answer",
            sample: || read_fixture("fixtures/reference/raw_answer_stb_chatgpt_608_CoT@1.json"),
            read: |p| whole(raw_answer::read_raw_answer(p)),
        },
        Reader {
            name: "sft",
            sample: || read_fixture("fixtures/reference/rft_data_entry_87720.json"),
            read: |p| {
                whole(sft::read_sft(p).and_then(|e| sft::conversations(&e, Some(p)).map(|_| ())))
            },
        },
        Reader {
            name: "test queries",
            sample: || read_fixture("fixtures/reference/test_queries_G1_instruction_first10.json"),
            read: |p| whole(queries::read_test_queries(p)),
        },
        Reader {
            name: "query ids",
            sample: || {
                read_fixture("fixtures/reference/test_query_ids_G1_instruction_first10.json")
            },
            read: |p| whole(queries::read_query_ids(p)),
        },
        Reader {
            name: "jsonl",
            sample: jsonl_sample,
            read: |p| {
                jsonl::read_trajectories(p)
                    .map(|r| r.errors.iter().map(|(_, e)| e.to_string()).collect())
                    .map_err(|e| e.to_string())
            },
        },
    ]
}

/// Reads `bytes` with every reader's damaged copy at a path named after the reader, and checks
/// that each error names that file.
fn check(reader: &Reader, bytes: &[u8]) -> Result<(), TestCaseError> {
    let dir = tempfile::tempdir().map_err(|e| TestCaseError::fail(e.to_string()))?;
    let path = dir.path().join("damaged-sample.dat");
    std::fs::write(&path, bytes).map_err(|e| TestCaseError::fail(e.to_string()))?;
    match (reader.read)(&path) {
        Err(e) => prop_assert!(
            e.contains("damaged-sample.dat"),
            "{}: the error does not name the file: {e}",
            reader.name
        ),
        Ok(record_errors) => {
            for e in record_errors {
                prop_assert!(
                    e.contains("damaged-sample.dat"),
                    "{}: a record error does not name the file: {e}",
                    reader.name
                );
            }
        }
    }
    Ok(())
}

#[test]
fn the_samples_read_whole() {
    for r in readers() {
        let bytes = (r.sample)();
        assert!(!bytes.is_empty(), "{}: no sample", r.name);
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("sample.dat");
        std::fs::write(&path, &bytes).expect("write");
        assert_eq!((r.read)(&path), Ok(Vec::new()), "{}", r.name);
    }
}

#[test]
fn every_cut_of_every_sample_is_read_or_refused_by_name() -> Result<(), TestCaseError> {
    for r in readers() {
        let bytes = (r.sample)();
        // 97 cuts spread over the file, the first and last bytes included.
        let n = bytes.len();
        for k in 0..=96 {
            check(&r, &bytes[..k * n / 96])?;
        }
    }
    Ok(())
}

#[derive(Debug, Clone)]
enum Damage {
    Overwrite { at: usize, with: Vec<u8> },
    Insert { at: usize, text: String },
    Cut { at: usize },
}

fn damage() -> impl Strategy<Value = Damage> {
    prop_oneof![
        (any::<usize>(), prop::collection::vec(any::<u8>(), 1..4))
            .prop_map(|(at, with)| Damage::Overwrite { at, with }),
        (
            any::<usize>(),
            prop_oneof![
                Just("\"".to_string()),
                Just("{".to_string()),
                Just("]".to_string()),
                Just("\t".to_string()),
                Just("\n".to_string()),
                Just("null".to_string()),
                Just("-1e999".to_string()),
                "[\\PC]{1,6}",
            ]
        )
            .prop_map(|(at, text)| Damage::Insert { at, text }),
        any::<usize>().prop_map(|at| Damage::Cut { at }),
    ]
}

fn apply(bytes: &[u8], d: &Damage) -> Vec<u8> {
    let mut out = bytes.to_vec();
    if out.is_empty() {
        return out;
    }
    match d {
        Damage::Overwrite { at, with } => {
            for (i, b) in with.iter().enumerate() {
                let j = (at + i) % out.len();
                out[j] = *b;
            }
        }
        Damage::Insert { at, text } => {
            let j = at % (out.len() + 1);
            out.splice(j..j, text.bytes());
        }
        Damage::Cut { at } => out.truncate(at % out.len()),
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn damaged_samples_are_read_or_refused_by_name(
        which in 0usize..8,
        damages in prop::collection::vec(damage(), 1..4),
    ) {
        let all = readers();
        let r = &all[which % all.len()];
        let mut bytes = (r.sample)();
        for d in &damages {
            bytes = apply(&bytes, d);
        }
        check(r, &bytes)?;
    }
}
