//! Merging a LoRA adapter into its base model: PEFT's `merge_and_unload()` followed by
//! `save_pretrained`, as one atomic directory that our loader, transformers and vLLM all read.
//!
//! A LoRA run (SFT, RFT, DPO, PPO) keeps only its adapter; the next stage (a StepTool run from
//! an SFT start, a server that has no LoRA support, a user's evaluation) wants a plain model.
//! The merged directory is the base's `config.json` with `W + (alpha/r)·B·A` in place of every
//! adapted weight, plus the base's tokenizer and generation files, so chat templates and
//! special tokens travel with it.

use std::path::{Path, PathBuf};

use steptool_model::{LoadOptions, Model};

use crate::checkpoint::adapter_dir;
use crate::error::{Error, Result};

/// The tokenizer and generation files of a model directory, copied from the base when present.
const COMPANION_FILES: [&str; 4] = [
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "generation_config.json",
];

/// What [`merge_adapter`] wrote.
#[derive(Debug, Clone)]
pub struct MergeReport {
    /// The merged model directory.
    pub out: PathBuf,
    /// The adapter directory that was merged (the PEFT files inside a bundle or run).
    pub adapter: PathBuf,
    /// Adapted weight matrices merged.
    pub merged_weights: usize,
    /// Files copied next to the weights (tokenizer, generation config).
    pub copied: Vec<String>,
}

impl std::fmt::Display for MergeReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "merged {} ({} adapted weights) -> {} (config.json, model.safetensors, {})",
            self.adapter.display(),
            self.merged_weights,
            self.out.display(),
            self.copied.join(", ")
        )
    }
}

/// Loads `base`, applies the adapter at `adapter` (a PEFT directory, a checkpoint bundle, a
/// run directory or its `checkpoints/latest`), and writes the merged model to `out`
/// atomically: `out` appears complete or not at all, and an existing `out` is replaced only
/// when the new one is complete. `tokenizer` overrides `<base>/tokenizer.json` (a run trained
/// with a separate tokenizer file).
///
/// ```no_run
/// # fn main() -> steptool_ppo::Result<()> {
/// use std::path::Path;
/// use steptool_ppo::common::merge::merge_adapter;
/// let report = merge_adapter(
///     Path::new(".cache/smollm2/SmolLM2-135M-Instruct"),
///     Path::new("runs/smollm2-sft"),
///     None,
///     Path::new("runs/smollm2-sft/merged"),
///     steptool_model::LoadOptions::cpu(),
/// )?;
/// println!("{report}");
/// # Ok(()) }
/// ```
pub fn merge_adapter(
    base: &Path,
    adapter: &Path,
    tokenizer: Option<&Path>,
    out: &Path,
    opts: LoadOptions,
) -> Result<MergeReport> {
    let adapter = adapter_dir(adapter)?;
    let (mut model, report) = Model::from_pretrained(base, opts)?;
    if !report.unused.is_empty() {
        tracing::warn!(unused = ?report.unused, "base checkpoint tensors not used by the model");
    }
    let loaded = model.load_adapter(&adapter)?;
    let merged_weights = loaded.loaded.len() / 2;
    let mut copied = Vec::new();
    steptool_mdp::atomic::write_dir_atomic(
        out,
        |tmp| -> Result<()> {
            model.export_merged(tmp)?;
            for name in COMPANION_FILES {
                let src = match (name, tokenizer) {
                    ("tokenizer.json", Some(t)) => t.to_path_buf(),
                    _ => base.join(name),
                };
                if src.is_file() {
                    std::fs::copy(&src, tmp.join(name)).map_err(Error::io(&src))?;
                    copied.push(name.to_string());
                }
            }
            if !copied.iter().any(|c| c == "tokenizer.json") {
                return Err(Error::Input(format!(
                    "no tokenizer to put next to the merged model: {} does not exist (pass the tokenizer file)",
                    base.join("tokenizer.json").display()
                )));
            }
            Ok(())
        },
        |p, e| Error::io(p)(e),
    )?;
    Ok(MergeReport {
        out: out.to_path_buf(),
        adapter,
        merged_weights,
        copied,
    })
}
