//! `steptool logprobs`: per-token log-probs, values and last-position logits of a model for
//! token sequences given on stdin.
//!
//! ```text
//! steptool logprobs --model DIR [--adapter DIR] [--value-head FILE] [--device cpu|cuda] [--dtype f32|bf16]
//! stdin:  {"input_ids": [[...], ...]}            (sequences may differ in length)
//! stdout: {"logprobs": [[...]], "values": [[...]], "last_logits": [[...]]}
//! ```
//!
//! Per sequence of length `n`: `logprobs` has `n - 1` entries (position `t` scores token
//! `t + 1`), `values` the value head's output at every position but the last (only with
//! `--value-head`; otherwise `values` is absent), `last_logits` the full-vocabulary logits at the
//! last position.

use std::io::Read;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use serde::{Deserialize, Serialize};
use steptool::model::{load_options, Batch, ForwardOptions, Model, PaddingSide, Precision};
use tch::{Device, Kind, Tensor};

/// Arguments of `steptool logprobs`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Model directory: HF `config.json` and (sharded) safetensors.
    #[arg(long)]
    model: PathBuf,
    /// A PEFT LoRA adapter directory (`adapter_config.json` + `adapter_model.safetensors`).
    #[arg(long)]
    adapter: Option<PathBuf>,
    /// A value head (`v_head.summary.weight/bias` safetensors, TRL's names).
    #[arg(long)]
    value_head: Option<PathBuf>,
    /// `cpu`, `cuda` or `cuda:N`.
    #[arg(long, default_value = "cpu")]
    device: String,
    /// Activation and base-weight dtype: `f32` or `bf16`.
    #[arg(long, default_value = "f32")]
    dtype: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Input {
    input_ids: Vec<Vec<i64>>,
}

#[derive(Serialize)]
struct Output {
    logprobs: Vec<Vec<f32>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    values: Option<Vec<Vec<f32>>>,
    last_logits: Vec<Vec<f32>>,
}

/// Run `steptool logprobs`.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let precision: Precision = args.dtype.parse()?;
    let options = load_options(&args.device, precision)?;
    let device = options.device;
    let mut text = String::new();
    std::io::stdin()
        .read_to_string(&mut text)
        .context("reading stdin")?;
    let input: Input =
        serde_json::from_str(&text).context("stdin: expected {\"input_ids\": [[...], ...]}")?;
    if input.input_ids.is_empty() {
        anyhow::bail!("stdin: input_ids is empty");
    }
    if let Some(i) = input.input_ids.iter().position(|s| s.len() < 2) {
        anyhow::bail!("stdin: input_ids[{i}] has fewer than 2 tokens (nothing to score)");
    }

    let (mut model, _report) = Model::from_pretrained(&args.model, options)?;
    let vocab = model.config().vocab_size();
    if let Some((i, t)) = input
        .input_ids
        .iter()
        .enumerate()
        .find_map(|(i, s)| s.iter().find(|&&t| t < 0 || t >= vocab).map(|&t| (i, t)))
    {
        anyhow::bail!("stdin: input_ids[{i}] holds token {t}, outside the vocabulary of {vocab}");
    }
    if let Some(dir) = &args.adapter {
        model.load_adapter(dir)?;
    }
    if let Some(path) = &args.value_head {
        model.load_value_head(path)?;
    }

    let _no_grad = tch::no_grad_guard();
    let batch = Batch::from_sequences(&input.input_ids, 0, PaddingSide::Right, device)?;
    let opts = ForwardOptions {
        values: args.value_head.is_some(),
        ..ForwardOptions::default()
    };
    let out = model.forward_batch(&batch, &opts)?;
    let last = model.final_position_logits(&batch, true)?;
    let rows = |t: &Tensor, keep: &dyn Fn(usize) -> usize| -> anyhow::Result<Vec<Vec<f32>>> {
        input
            .input_ids
            .iter()
            .enumerate()
            .map(|(i, s)| {
                let row = t.get(i as i64).to_kind(Kind::Float).to_device(Device::Cpu);
                Ok(Vec::<f32>::try_from(&row.narrow(
                    0,
                    0,
                    keep(s.len()) as i64,
                ))?)
            })
            .collect()
    };
    let output = Output {
        logprobs: rows(&out.logprobs, &|n| n - 1)?,
        values: out
            .values
            .as_ref()
            .map(|v| rows(v, &|n| n - 1))
            .transpose()?,
        last_logits: rows(&last, &|_| vocab as usize)?,
    };
    serde_json::to_writer(std::io::stdout().lock(), &output)?;
    println!();
    Ok(ExitCode::SUCCESS)
}
