//! `ReferenceCompat` encoding reproduces the TRL baseline's inputs exactly: for both anchor
//! samples of `fixtures/trl-baseline/trl_first_sample.json` (TSV rows 0 and 8, max context 1024),
//! `input_ids == query_ids + response_ids` and the span mask equals `frag_mask`.

use serde::Deserialize;
use steptool_mdp::formats::tsv::read_tsv_strict;
use steptool_mdp::{EncodeMode, Encoder, EncoderConfig, Error, Location, Result};

const FIXTURE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../fixtures/trl-baseline");

#[derive(Deserialize)]
struct Anchor {
    steps: Vec<AnchorStep>,
}

#[derive(Deserialize)]
struct AnchorStep {
    batch_rows: Vec<usize>,
    query_ids: Vec<u32>,
    response_ids: Vec<u32>,
    frag_mask: Vec<u8>,
    step_scores: Vec<f32>,
}

#[test]
fn reference_compat_reproduces_the_trl_anchor() -> Result<()> {
    let path = format!("{FIXTURE}/trl_first_sample.json");
    let text = std::fs::read_to_string(&path).map_err(|e| Error::io(&path, e))?;
    let anchor: Anchor = serde_json::from_str(&text).map_err(|source| Error::Json {
        location: Location::file(&path),
        source,
    })?;
    let samples = read_tsv_strict(format!("{FIXTURE}/train.tsv"))?;
    let encoder = Encoder::from_file(
        format!("{FIXTURE}/tokenizer.json"),
        EncoderConfig {
            mode: EncodeMode::ReferenceCompat,
            max_context: 1024,
            max_response: 1200,
        },
    )?;
    assert_eq!(anchor.steps.len(), 2);
    for step in &anchor.steps {
        // The anchor is sample 0 of its batch.
        let row = step.batch_rows[0];
        let encoded = encoder.encode(&samples[row])?;
        let expected: Vec<u32> = step
            .query_ids
            .iter()
            .chain(&step.response_ids)
            .copied()
            .collect();
        assert_eq!(
            encoded.episode.input_ids(),
            expected.as_slice(),
            "row {row}: input ids"
        );
        assert_eq!(
            encoded.context_len,
            step.query_ids.len(),
            "row {row}: query length"
        );
        assert_eq!(encoded.frag_mask(), step.frag_mask, "row {row}: frag mask");
        assert_eq!(
            encoded.episode.step_rewards(),
            step.step_scores.as_slice(),
            "row {row}: step scores"
        );
    }
    Ok(())
}
