//! Converted predictions -> step annotations -> StepTool training TSV, with the rule annotator.
//!
//! ```text
//! cargo run -p steptool-reward --example annotate_rewards -- \
//!     [converted_predictions.json] [out_dir] [toolllama|qwen2|llama3]
//! ```
//! Defaults: the fixture `fixtures/reference/converted_prediction_qwen2_entry_56543.json`, an
//! out dir under the system temp dir, `qwen2`. Writes `annotations.json` (the reference's
//! annotation format, formats.md §2.4), `train.tsv` (the PPO training TSV, formats.md §1) and a
//! resumable cache `cache/annotations.jsonl`; running it again answers from the cache.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, Result};
use steptool_mdp::formats::tsv::write_tsv;
use steptool_mdp::pylit::repr_float_list;
use steptool_mdp::ChatFormat;
use steptool_reward::reference;
use steptool_reward::{
    annotate_batch, AnnotationCache, BatchOptions, CachedAnnotator, RewardShaper, RuleAnnotator,
};

fn main() -> Result<()> {
    let mut args = std::env::args().skip(1);
    let predictions = args.next().map(PathBuf::from).unwrap_or_else(|| {
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../../fixtures/reference/converted_prediction_qwen2_entry_56543.json")
    });
    let out_dir = args
        .next()
        .map(PathBuf::from)
        .unwrap_or_else(|| std::env::temp_dir().join("steptool-annotate-example"));
    let format: ChatFormat = args.next().as_deref().unwrap_or("qwen2").parse()?;
    std::fs::create_dir_all(&out_dir).with_context(|| format!("{}", out_dir.display()))?;

    // 1. Read the converted predictions (ToolEval answer format).
    let trajectories = reference::read_converted_predictions(&predictions)?;
    println!(
        "{} trajectories from {}",
        trajectories.len(),
        predictions.display()
    );

    // 2. Annotate with the rules, cached so that a re-run replays instead of recomputing.
    let cache = Arc::new(AnnotationCache::open_dir(out_dir.join("cache"))?);
    let annotator = CachedAnnotator::new(RuleAnnotator::default(), cache);
    let report = annotate_batch(&annotator, &trajectories, &BatchOptions::default())?;
    println!("{}", report.summary);

    // 3. Write the reference annotation JSON and the training TSV.
    let shaper = RewardShaper::default();
    let mut entries = Vec::new();
    let mut samples = Vec::new();
    for (t, result) in trajectories.iter().zip(report.results) {
        let qid = t.query_id().unwrap_or("<no id>").to_owned();
        let annotation = match result {
            Ok(a) => a,
            Err(e) => {
                eprintln!("skipping {qid}: {e}");
                continue;
            }
        };
        let sample = reference::training_sample(format, t, &annotation, &shaper)?;
        println!(
            "query {qid}: step rewards {}",
            repr_float_list(&sample.rewards)
        );
        samples.push(sample);
        entries.push((qid, reference::to_entry(t, &annotation)?));
    }
    write_tsv(out_dir.join("train.tsv"), &samples)?;
    reference::write_annotations(out_dir.join("annotations.json"), &entries)?;
    println!(
        "wrote {} and {}",
        out_dir.join("annotations.json").display(),
        out_dir.join("train.tsv").display()
    );
    Ok(())
}
