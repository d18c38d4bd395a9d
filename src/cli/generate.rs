//! `steptool generate`: text from a checkpoint directory, the first thing to run on any model.
//!
//! ```text
//! steptool generate --model DIR [--adapter DIR] (--prompt TEXT ... | --messages FILE.json) [--chat]
//!     [--max-new-tokens N] [--temperature T] [--top-p P] [--seed S] [--ignore-eos] [--json]
//!     [--device cpu|cuda|cuda:N] [--dtype f32|bf16]
//! ```
//!
//! `DIR` holds `config.json`, safetensors, `tokenizer.json` and (for chat) `tokenizer_config.json`
//! with a `chat_template`. Each `--prompt` is one prompt; with `--chat` it becomes a user message
//! rendered by the model's chat template with the assistant turn opened. `--messages` reads a
//! JSON list of `{"role", "content"}` messages (one conversation) or a list of such lists, always
//! rendered with the chat template. All prompts are generated as one left-padded batch.
//!
//! Sampling: greedy unless `--temperature` > 0 (then `--top-p`, default 1, applies). Generation
//! stops at the config's EOS ids or after `--max-new-tokens`. Output: the text of each prompt
//! (special tokens removed), streamed as it is generated when there is one prompt, otherwise one
//! after the other once the batch is done; with `--json` one object per prompt and line:
//! `{"text", "token_ids", "logprobs", "finish_reason"}` (`token_ids` includes the stop token;
//! `logprobs` are under the unmodified model distribution).

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use serde::Serialize;
use steptool::mdp::{HfChatTemplate, Message, Role};
use steptool::model::{load_options, FinishReason, GenerationConfig, Model, Precision, Sampling};

/// Arguments of `steptool generate`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Model directory: `config.json`, safetensors, `tokenizer.json`, `tokenizer_config.json`.
    #[arg(long)]
    model: PathBuf,
    /// A LoRA adapter: a PEFT directory, a checkpoint bundle, or a run directory (its `latest`).
    #[arg(long)]
    adapter: Option<PathBuf>,
    /// A prompt (repeat for a batch).
    #[arg(
        long,
        required_unless_present = "messages",
        conflicts_with = "messages"
    )]
    prompt: Vec<String>,
    /// A JSON file: a list of `{"role", "content"}` messages, or a list of such lists.
    #[arg(long)]
    messages: Option<PathBuf>,
    /// Render each `--prompt` as a user message with the model's chat template.
    #[arg(long)]
    chat: bool,
    /// Most tokens generated per prompt.
    #[arg(long, default_value_t = 128)]
    max_new_tokens: usize,
    /// Sampling temperature; 0 (the default) is greedy.
    #[arg(long, default_value_t = 0.0)]
    temperature: f64,
    /// Nucleus sampling mass (with `--temperature` > 0).
    #[arg(long)]
    top_p: Option<f64>,
    /// Seed of the sampler.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Do not stop at the config's EOS ids (always `--max-new-tokens` tokens; for benchmarks).
    #[arg(long)]
    ignore_eos: bool,
    /// One JSON object per prompt instead of the text.
    #[arg(long)]
    json: bool,
    /// `cpu`, `cuda` or `cuda:N`.
    #[arg(long, default_value = "cpu")]
    device: String,
    /// Activation and base-weight dtype: `f32` or `bf16` (CUDA).
    #[arg(long, default_value = "f32")]
    dtype: String,
}

#[derive(Serialize)]
struct Output<'a> {
    text: String,
    token_ids: &'a [i64],
    logprobs: &'a [f32],
    finish_reason: &'a FinishReason,
}

fn sampling(args: &Args) -> anyhow::Result<Sampling> {
    if args.temperature < 0.0 || !args.temperature.is_finite() {
        anyhow::bail!("--temperature {}: must be >= 0", args.temperature);
    }
    let temperature = args.temperature;
    Ok(match args.top_p {
        Some(_) if temperature == 0.0 => anyhow::bail!("--top-p needs --temperature > 0"),
        _ if temperature == 0.0 => Sampling::ArgMax,
        Some(p) => Sampling::TopP { p, temperature },
        None => Sampling::Temperature { temperature },
    })
}

fn conversations(args: &Args) -> anyhow::Result<Vec<Vec<Message>>> {
    if let Some(path) = &args.messages {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        let value: serde_json::Value = serde_json::from_str(&text)
            .with_context(|| format!("{}: invalid JSON", path.display()))?;
        let nested = value
            .as_array()
            .and_then(|a| a.first())
            .is_some_and(serde_json::Value::is_array);
        let convs: Vec<Vec<Message>> = if nested {
            serde_json::from_value(value)
        } else {
            serde_json::from_value(value).map(|m| vec![m])
        }
        .with_context(|| {
            format!(
                "{}: expected a list of {{\"role\", \"content\"}} messages or a list of such lists",
                path.display()
            )
        })?;
        if let Some(i) = convs.iter().position(Vec::is_empty) {
            anyhow::bail!("{}: conversation {i} has no messages", path.display());
        }
        Ok(convs)
    } else {
        Ok(args
            .prompt
            .iter()
            .map(|p| vec![Message::new(Role::User, p.clone())])
            .collect())
    }
}

/// Run `steptool generate`.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let precision: Precision = args.dtype.parse()?;
    let options = load_options(&args.device, precision)?;
    let sampling = sampling(&args)?;
    let use_template = args.chat || args.messages.is_some();
    let tok_path = args.model.join("tokenizer.json");
    let tokenizer = tokenizers::Tokenizer::from_file(&tok_path)
        .map_err(anyhow::Error::from_boxed)
        .with_context(|| format!("reading {}", tok_path.display()))?;
    let texts: Vec<String> = if use_template {
        let template =
            HfChatTemplate::from_tokenizer_config(args.model.join("tokenizer_config.json"))?;
        conversations(&args)?
            .iter()
            .map(|c| template.render(c, true))
            .collect::<Result<_, _>>()?
    } else {
        args.prompt.clone()
    };
    let prompts: Vec<Vec<i64>> = texts
        .iter()
        .enumerate()
        .map(|(i, t)| {
            // Chat templates spell out their special tokens; plain prompts get the tokenizer's.
            let enc = tokenizer
                .encode(t.as_str(), !use_template)
                .map_err(anyhow::Error::from_boxed)
                .with_context(|| format!("tokenizing prompt {i}"))?;
            if enc.get_ids().is_empty() {
                anyhow::bail!("prompt {i} is empty");
            }
            Ok(enc.get_ids().iter().map(|&x| x as i64).collect())
        })
        .collect::<anyhow::Result<_>>()?;

    let (mut model, _report) = Model::from_pretrained(&args.model, options)?;
    if let Some(dir) = &args.adapter {
        model.load_adapter(&steptool_ppo::checkpoint::adapter_dir(dir)?)?;
    }
    let cfg = GenerationConfig {
        max_new_tokens: args.max_new_tokens,
        sampling,
        seed: args.seed,
        ignore_eos: args.ignore_eos,
        ..GenerationConfig::default()
    };
    if !args.json && prompts.len() == 1 {
        return stream_one(&model, &tokenizer, &prompts, &cfg);
    }
    let generations = model.generate(&prompts, &cfg, None)?;
    let mut out = std::io::stdout().lock();
    for g in &generations {
        let text = decode(&tokenizer, &g.tokens)?;
        if args.json {
            let o = Output {
                text,
                token_ids: &g.tokens,
                logprobs: &g.logprobs,
                finish_reason: &g.finish_reason,
            };
            serde_json::to_writer(&mut out, &o)?;
            writeln!(out)?;
        } else {
            writeln!(out, "{text}")?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn decode(tokenizer: &tokenizers::Tokenizer, tokens: &[i64]) -> anyhow::Result<String> {
    let ids: Vec<u32> = tokens.iter().map(|&x| x as u32).collect();
    tokenizer
        .decode(&ids, true)
        .map_err(anyhow::Error::from_boxed)
        .context("decoding the generated tokens")
}

/// One prompt, printed as it is generated. Each new token re-decodes the continuation so far
/// and prints what was added, so a character split over several byte-level tokens appears
/// once it is complete (a trailing U+FFFD waits for the next token).
fn stream_one(
    model: &Model,
    tokenizer: &tokenizers::Tokenizer,
    prompts: &[Vec<i64>],
    cfg: &GenerationConfig,
) -> anyhow::Result<ExitCode> {
    let mut out = std::io::stdout().lock();
    let mut tokens = Vec::new();
    let mut printed = 0usize;
    let mut failure: Option<anyhow::Error> = None;
    let mut on_token = |_row: usize, tok: i64| {
        if failure.is_some() {
            return;
        }
        tokens.push(tok);
        let step = decode(tokenizer, &tokens).and_then(|text| {
            if text.len() > printed && !text.ends_with('\u{FFFD}') && text.is_char_boundary(printed)
            {
                out.write_all(&text.as_bytes()[printed..])?;
                out.flush()?;
                printed = text.len();
            }
            Ok(())
        });
        if let Err(e) = step {
            failure = Some(e);
        }
    };
    let generations = model.generate_streaming(prompts, cfg, None, &mut on_token)?;
    if let Some(e) = failure {
        return Err(e);
    }
    let text = decode(tokenizer, &generations[0].tokens)?;
    if text.len() > printed && text.is_char_boundary(printed) {
        out.write_all(&text.as_bytes()[printed..])?;
    }
    writeln!(out)?;
    Ok(ExitCode::SUCCESS)
}
