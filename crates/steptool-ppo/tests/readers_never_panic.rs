//! The readers the trainers add on top of steptool-mdp's (rollout records, the reference's DPO
//! pair file, run specs), fed damaged copies of real files (cut at 97 places, bytes overwritten
//! at 200 places): each returns data or an error that names the file, and none panics.
//! (steptool-mdp's `readers_never_panic` does the same for the reference formats with proptest.)

use std::path::{Path, PathBuf};

use steptool_env::rollout::{read_records, write_records};
use steptool_ppo::dpo::pairs::read_pair_file;
use steptool_ppo::sft::SftSpec;

type R = Result<(), Box<dyn std::error::Error>>;

fn repo_file(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(rel)
}

/// Cuts and overwrites of `bytes`, deterministic (a 64-bit LCG picks places and values).
fn damaged(bytes: &[u8]) -> Vec<Vec<u8>> {
    let n = bytes.len();
    let mut out: Vec<Vec<u8>> = (0..=96).map(|k| bytes[..k * n / 96].to_vec()).collect();
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = || {
        x = x
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (x >> 33) as usize
    };
    for _ in 0..200 {
        let mut b = bytes.to_vec();
        for _ in 0..1 + next() % 3 {
            let at = next() % n;
            b[at] = (next() % 256) as u8;
        }
        out.push(b);
    }
    out
}

/// Every damaged copy of `sample`, read by `read`: an error must name the file.
fn check(sample: &[u8], read: impl Fn(&Path) -> Result<(), String>) -> R {
    assert!(!sample.is_empty());
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("damaged-file.dat");
    let mut refused = 0;
    for (k, bytes) in damaged(sample).iter().enumerate() {
        std::fs::write(&path, bytes)?;
        if let Err(e) = read(&path) {
            refused += 1;
            assert!(e.contains("damaged-file.dat"), "copy {k}: {e}");
        }
    }
    // The cuts before the end are refused at least (an empty file, half a record).
    assert!(refused >= 90, "only {refused} damaged copies refused");
    Ok(())
}

#[test]
fn damaged_rollout_records_are_refused_by_name() -> R {
    let records = steptool_ppo::sft::app::expert_records(&Default::default(), 3)?;
    let dir = tempfile::tempdir()?;
    let file = dir.path().join("r.jsonl");
    write_records(&file, &records)?;
    check(&std::fs::read(&file)?, |p| {
        read_records(p).map(|_| ()).map_err(|e| e.to_string())
    })
}

#[test]
fn a_damaged_pair_file_is_refused_by_name() -> R {
    let sample = std::fs::read(repo_file("fixtures/reference/dpo_data_example.csv"))?;
    check(&sample, |p| {
        read_pair_file(p).map(|_| ()).map_err(|e| e.to_string())
    })
}

#[test]
fn a_damaged_spec_is_refused_by_name() -> R {
    let sample = std::fs::read(repo_file("examples/specs/smollm2-sft.json"))?;
    check(&sample, |p| {
        SftSpec::from_json_file(p)
            .map(|_| ())
            .map_err(|e| format!("{e:#}"))
    })
}
