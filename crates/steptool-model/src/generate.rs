//! Batched generation with a per-layer KV cache and seeded sampling.
//!
//! Prompts are left-padded into one batch. The prefill runs the whole prompt batch once and fills
//! the cache; each decode step feeds one token per row. Without the cache
//! ([`GenerationConfig::use_cache`] = false) every step re-runs the full sequence: same numbers,
//! quadratic cost (kept for tests and the benchmark).
//!
//! Each generated token's log-prob is recorded under the model's **unmodified** distribution
//! (softmax of the raw logits, temperature 1, no top-k/top-p truncation): the same quantity the
//! training forward computes, so the PPO ratio is exactly 1 before the first update. With
//! [`GenerationConfig::tempered_logprobs`] it is recorded under the distribution actually sampled
//! from, `softmax(logits / T)` (still without top-k/top-p truncation), which is what an on-policy
//! trainer that scores with the same temperature needs (verl's convention: the trainer divides
//! its logits by the rollout temperature, `ForwardOptions::temperature`).
//!
//! [`Model::generate_rows`] gives every row its own seed and token budget, so a row's sample
//! depends only on its own request, whatever else is in the batch (up to float rounding of the
//! padded batch).

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};
use tch::{Kind, Tensor};

use crate::model::{KvCache, Mode, Model};
use crate::policy::{Batch, PaddingSide};
use crate::{Error, Result};

/// How the next token is chosen from the logits.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Sampling {
    /// Greedy: the highest logit (lowest id on ties).
    ArgMax,
    /// Softmax of `logits / temperature`.
    Temperature {
        /// > 0.
        temperature: f64,
    },
    /// The `k` highest logits, then temperature sampling.
    TopK {
        /// >= 1.
        k: usize,
        /// > 0.
        temperature: f64,
    },
    /// Nucleus: the smallest set of most likely tokens whose probability reaches `p`.
    TopP {
        /// In (0, 1].
        p: f64,
        /// > 0.
        temperature: f64,
    },
}

fn default_max_new() -> usize {
    256
}
fn default_true() -> bool {
    true
}
fn default_sampling() -> Sampling {
    Sampling::ArgMax
}

/// Generation settings.
///
/// Defaults: `max_new_tokens = 256`, `sampling = ArgMax`, `seed = 0`, no stop tokens or strings
/// (the config's `eos_token_id`s are added by [`Model::generate`] unless
/// `ignore_eos`), `use_cache = true`, `use_adapters = true`, `pad_token_id = None` (then 0).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GenerationConfig {
    /// Most tokens generated per sequence (>= 1).
    #[serde(default = "default_max_new")]
    pub max_new_tokens: usize,
    /// Sampling rule.
    #[serde(default = "default_sampling")]
    pub sampling: Sampling,
    /// Seed of the sampler's random generator.
    #[serde(default)]
    pub seed: u64,
    /// Generation of a row stops after it emits one of these ids (the id is kept).
    #[serde(default)]
    pub stop_token_ids: Vec<i64>,
    /// Generation of a row stops once its decoded continuation contains one of these strings
    /// (tokens up to the one that completed it are kept). Needs a [`TokenDecoder`].
    #[serde(default)]
    pub stop_strings: Vec<String>,
    /// Do not stop on the model config's `eos_token_id`s.
    #[serde(default)]
    pub ignore_eos: bool,
    /// Use the KV cache.
    #[serde(default = "default_true")]
    pub use_cache: bool,
    /// Apply the LoRA adapters.
    #[serde(default = "default_true")]
    pub use_adapters: bool,
    /// Id used for left padding (any valid id: it is masked).
    #[serde(default)]
    pub pad_token_id: Option<i64>,
    /// Record log-probs under `softmax(logits / T)` of the sampling rule's temperature instead
    /// of the raw distribution (see the module docs).
    #[serde(default)]
    pub tempered_logprobs: bool,
}

impl Default for GenerationConfig {
    fn default() -> Self {
        GenerationConfig {
            max_new_tokens: default_max_new(),
            sampling: Sampling::ArgMax,
            seed: 0,
            stop_token_ids: Vec::new(),
            stop_strings: Vec::new(),
            ignore_eos: false,
            use_cache: true,
            use_adapters: true,
            pad_token_id: None,
            tempered_logprobs: false,
        }
    }
}

impl GenerationConfig {
    /// Checks ranges.
    pub fn validate(&self) -> Result<()> {
        let err = |field: &str, message: String| Error::Config {
            file: None,
            field: field.to_string(),
            message,
        };
        if self.max_new_tokens == 0 {
            return Err(err("max_new_tokens", "must be at least 1".into()));
        }
        let temp_ok = |t: f64| t.is_finite() && t > 0.0;
        match self.sampling {
            Sampling::ArgMax => {}
            Sampling::Temperature { temperature }
            | Sampling::TopK { temperature, .. }
            | Sampling::TopP { temperature, .. }
                if !temp_ok(temperature) =>
            {
                return Err(err(
                    "sampling.temperature",
                    format!("must be positive, got {temperature}"),
                ))
            }
            Sampling::TopK { k: 0, .. } => {
                return Err(err("sampling.k", "must be at least 1".into()))
            }
            Sampling::TopP { p, .. } if !(p > 0.0 && p <= 1.0) => {
                return Err(err("sampling.p", format!("must be in (0, 1], got {p}")))
            }
            _ => {}
        }
        if self.stop_strings.iter().any(String::is_empty) {
            return Err(err("stop_strings", "holds an empty string".into()));
        }
        Ok(())
    }
}

/// Why a row stopped.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FinishReason {
    /// It emitted a stop token (or EOS).
    StopToken,
    /// Its text contains a stop string.
    StopString,
    /// It reached `max_new_tokens`.
    Length,
}

/// One generated continuation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Generation {
    /// Generated ids (prompt excluded).
    pub tokens: Vec<i64>,
    /// Log-prob of each generated id under the unmodified model distribution.
    pub logprobs: Vec<f32>,
    /// Why generation stopped.
    pub finish_reason: FinishReason,
}

impl Sampling {
    /// The temperature the rule samples at (1 for greedy).
    pub fn temperature(&self) -> f64 {
        match *self {
            Sampling::ArgMax => 1.0,
            Sampling::Temperature { temperature }
            | Sampling::TopK { temperature, .. }
            | Sampling::TopP { temperature, .. } => temperature,
        }
    }
}

/// The sampler state of a batch: one generator for all rows, or one per row.
enum Rngs {
    Shared(Box<StdRng>),
    PerRow(Vec<StdRng>),
}

impl Rngs {
    fn row(&mut self, r: usize) -> &mut StdRng {
        match self {
            Rngs::Shared(g) => g,
            Rngs::PerRow(v) => &mut v[r],
        }
    }
}

/// One row of [`Model::generate_rows`]: a prompt with its own seed and token budget.
#[derive(Debug, Clone, PartialEq)]
pub struct RowRequest {
    /// Prompt token ids (at least one).
    pub prompt: Vec<i64>,
    /// Seed of this row's sampler.
    pub seed: u64,
    /// Most tokens generated for this row (1 ..= the config's `max_new_tokens`).
    pub max_new_tokens: usize,
}

/// Turns ids into text, for stop strings (implemented by the tokenizer wrapper upstream).
pub trait TokenDecoder {
    /// Decodes `ids` (generated tokens only).
    fn decode(&self, ids: &[i64]) -> String;
}

impl<F: Fn(&[i64]) -> String> TokenDecoder for F {
    fn decode(&self, ids: &[i64]) -> String {
        self(ids)
    }
}

fn log_softmax(row: &[f32]) -> Vec<f64> {
    let m = row.iter().copied().fold(f32::NEG_INFINITY, f32::max) as f64;
    let s: f64 = row.iter().map(|&x| (x as f64 - m).exp()).sum();
    let lse = m + s.ln();
    row.iter().map(|&x| x as f64 - lse).collect()
}

fn argmax(row: &[f32]) -> usize {
    let mut best = 0;
    for (i, &x) in row.iter().enumerate() {
        if x > row[best] {
            best = i;
        }
    }
    best
}

fn sample_from(weights: &[(usize, f64)], rng: &mut StdRng) -> usize {
    let total: f64 = weights.iter().map(|w| w.1).sum();
    let mut u = rng.gen::<f64>() * total;
    for &(i, w) in weights {
        if u < w {
            return i;
        }
        u -= w;
    }
    weights.last().map_or(0, |w| w.0)
}

/// Chooses a token from one row of logits.
pub(crate) fn choose(row: &[f32], sampling: Sampling, rng: &mut StdRng) -> usize {
    let tempered = |t: f64| -> Vec<(usize, f64)> {
        let scaled: Vec<f32> = row.iter().map(|&x| (x as f64 / t) as f32).collect();
        log_softmax(&scaled)
            .into_iter()
            .map(f64::exp)
            .enumerate()
            .collect()
    };
    match sampling {
        Sampling::ArgMax => argmax(row),
        Sampling::Temperature { temperature } => sample_from(&tempered(temperature), rng),
        Sampling::TopK { k, temperature } => {
            let mut p = tempered(temperature);
            p.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
            p.truncate(k.min(p.len()));
            sample_from(&p, rng)
        }
        Sampling::TopP {
            p: top_p,
            temperature,
        } => {
            let mut p = tempered(temperature);
            p.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
            let mut cum = 0.0;
            let mut keep = p.len();
            for (i, &(_, w)) in p.iter().enumerate() {
                cum += w;
                if cum >= top_p {
                    keep = i + 1;
                    break;
                }
            }
            p.truncate(keep);
            sample_from(&p, rng)
        }
    }
}

impl Model {
    fn last_logits(&self, hidden: &Tensor) -> Result<Vec<Vec<f32>>> {
        let t = hidden.size()[1];
        let last = hidden.f_select(1, t - 1)?;
        let logits = last
            .f_linear::<&Tensor>(&self.lm_head, None)?
            .f_to_kind(Kind::Float)?
            .f_to_device(tch::Device::Cpu)?;
        Ok(Vec::<Vec<f32>>::try_from(&logits)?)
    }

    /// Generates a continuation for every prompt (token ids, at least one each).
    ///
    /// Rows stop independently on a stop token, a stop string or `max_new_tokens`; the batch
    /// stops when every row has. `decoder` is required when `cfg.stop_strings` is not empty.
    /// All rows draw from one generator seeded with `cfg.seed`.
    pub fn generate(
        &self,
        prompts: &[Vec<i64>],
        cfg: &GenerationConfig,
        decoder: Option<&dyn TokenDecoder>,
    ) -> Result<Vec<Generation>> {
        let limits = vec![cfg.max_new_tokens; prompts.len()];
        let mut rngs = Rngs::Shared(Box::new(StdRng::seed_from_u64(cfg.seed)));
        self.generate_impl(prompts, &limits, &mut rngs, cfg, decoder, None)
    }

    /// [`Model::generate`] that also hands every token to `on_token(row, token_id)` as soon as
    /// it is chosen (the stop token included), for streaming output. The result is the same
    /// as [`Model::generate`]'s.
    pub fn generate_streaming(
        &self,
        prompts: &[Vec<i64>],
        cfg: &GenerationConfig,
        decoder: Option<&dyn TokenDecoder>,
        on_token: &mut dyn FnMut(usize, i64),
    ) -> Result<Vec<Generation>> {
        let limits = vec![cfg.max_new_tokens; prompts.len()];
        let mut rngs = Rngs::Shared(Box::new(StdRng::seed_from_u64(cfg.seed)));
        self.generate_impl(prompts, &limits, &mut rngs, cfg, decoder, Some(on_token))
    }

    /// [`Model::generate`] where every row has its own seed and budget (`cfg.seed` and
    /// `cfg.max_new_tokens` are not used for the rows; a row budget above `cfg.max_new_tokens`
    /// is an error).
    pub fn generate_rows(
        &self,
        rows: &[RowRequest],
        cfg: &GenerationConfig,
        decoder: Option<&dyn TokenDecoder>,
    ) -> Result<Vec<Generation>> {
        if let Some((i, r)) = rows
            .iter()
            .enumerate()
            .find(|(_, r)| r.max_new_tokens == 0 || r.max_new_tokens > cfg.max_new_tokens)
        {
            return Err(Error::Input(format!(
                "row {i}: max_new_tokens {} outside [1, {}]",
                r.max_new_tokens, cfg.max_new_tokens
            )));
        }
        let prompts: Vec<Vec<i64>> = rows.iter().map(|r| r.prompt.clone()).collect();
        let limits: Vec<usize> = rows.iter().map(|r| r.max_new_tokens).collect();
        let mut rngs = Rngs::PerRow(rows.iter().map(|r| StdRng::seed_from_u64(r.seed)).collect());
        self.generate_impl(&prompts, &limits, &mut rngs, cfg, decoder, None)
    }

    fn generate_impl(
        &self,
        prompts: &[Vec<i64>],
        limits: &[usize],
        rngs: &mut Rngs,
        cfg: &GenerationConfig,
        decoder: Option<&dyn TokenDecoder>,
        mut on_token: Option<&mut dyn FnMut(usize, i64)>,
    ) -> Result<Vec<Generation>> {
        cfg.validate()?;
        if !cfg.stop_strings.is_empty() && decoder.is_none() {
            return Err(Error::Input("stop_strings need a TokenDecoder".into()));
        }
        let vocab = self.config.vocab_size;
        for (i, p) in prompts.iter().enumerate() {
            if let Some(bad) = p.iter().find(|&&x| x < 0 || x >= vocab) {
                return Err(Error::Input(format!(
                    "prompt {i}: token id {bad} outside [0, {vocab})"
                )));
            }
        }
        let pad = cfg.pad_token_id.or(self.config.pad_token_id).unwrap_or(0);
        if pad < 0 || pad >= vocab {
            return Err(Error::Input(format!(
                "pad_token_id {pad} outside [0, {vocab})"
            )));
        }
        let mut stops: Vec<i64> = cfg.stop_token_ids.clone();
        if !cfg.ignore_eos {
            stops.extend_from_slice(&self.config.eos_token_ids);
        }
        let dev = self.opts.device;
        let batch = Batch::from_sequences(prompts, pad, PaddingSide::Left, dev)?;
        let _g = tch::no_grad_guard();
        let mode = Mode {
            adapters: cfg.use_adapters,
            train: false,
        };
        let n = prompts.len();
        let score_t = if cfg.tempered_logprobs {
            cfg.sampling.temperature()
        } else {
            1.0
        };
        let mut out: Vec<Generation> = (0..n)
            .map(|_| Generation {
                tokens: Vec::new(),
                logprobs: Vec::new(),
                finish_reason: FinishReason::Length,
            })
            .collect();
        let mut done = vec![false; n];
        let longest = limits.iter().copied().max().unwrap_or(0);
        let mut ids = batch.input_ids().shallow_clone();
        let mut mask = batch.attention_mask().shallow_clone();
        let mut cache = KvCache::new(self.layers.len());
        let pos = batch.position_ids()?;
        let mut hidden = if cfg.use_cache {
            self.hidden_states(&ids, &pos, &mask, mode, Some(&mut cache))?
        } else {
            self.hidden_states(&ids, &pos, &mask, mode, None)?
        };
        for step in 0..longest {
            let logits = self.last_logits(&hidden)?;
            let mut next = vec![pad; n];
            for r in 0..n {
                if done[r] {
                    continue;
                }
                let tok = choose(&logits[r], cfg.sampling, rngs.row(r));
                let lp = if score_t == 1.0 {
                    log_softmax(&logits[r])[tok]
                } else {
                    let scaled: Vec<f32> = logits[r]
                        .iter()
                        .map(|&x| (x as f64 / score_t) as f32)
                        .collect();
                    log_softmax(&scaled)[tok]
                };
                let tok = tok as i64;
                next[r] = tok;
                let g = &mut out[r];
                g.tokens.push(tok);
                g.logprobs.push(lp as f32);
                if let Some(f) = on_token.as_mut() {
                    f(r, tok);
                }
                if stops.contains(&tok) {
                    g.finish_reason = FinishReason::StopToken;
                    done[r] = true;
                } else if let Some(d) = decoder.filter(|_| !cfg.stop_strings.is_empty()) {
                    let text = d.decode(&g.tokens);
                    if cfg.stop_strings.iter().any(|s| text.contains(s.as_str())) {
                        g.finish_reason = FinishReason::StopString;
                        done[r] = true;
                    }
                }
                if !done[r] && g.tokens.len() >= limits[r] {
                    done[r] = true;
                }
            }
            if done.iter().all(|&d| d) || step + 1 == longest {
                break;
            }
            let new = Tensor::f_from_slice(&next)?
                .f_view([n as i64, 1])?
                .f_to_device(dev)?;
            // Position of the new token = number of real tokens before it.
            let new_pos = mask.f_sum_dim_intlist(1, true, Kind::Int64)?;
            mask = Tensor::f_cat(
                &[&mask, &Tensor::f_ones([n as i64, 1], (Kind::Int64, dev))?],
                1,
            )?;
            ids = Tensor::f_cat(&[&ids, &new], 1)?;
            hidden = if cfg.use_cache {
                self.hidden_states(&new, &new_pos, &mask, mode, Some(&mut cache))?
            } else {
                let pos = mask
                    .f_cumsum(1, Kind::Int64)?
                    .f_sub_scalar(1)?
                    .f_clamp_min(0)?;
                self.hidden_states(&ids, &pos, &mask, mode, None)?
            };
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sampling_rules() {
        let mut rng = StdRng::seed_from_u64(7);
        let row = [0.0f32, 3.0, 1.0, 3.0];
        // ArgMax takes the first maximum.
        assert_eq!(choose(&row, Sampling::ArgMax, &mut rng), 1);
        // top-k 1 is greedy whatever the temperature.
        for _ in 0..20 {
            assert_eq!(
                choose(
                    &row,
                    Sampling::TopK {
                        k: 1,
                        temperature: 5.0
                    },
                    &mut rng
                ),
                1
            );
        }
        // top-p 0.5: p(1) = p(3) = e^3 / (1 + 2e^3 + e) ~ 0.4576 < 0.5, so the nucleus is {1, 3}.
        for _ in 0..50 {
            let t = choose(
                &row,
                Sampling::TopP {
                    p: 0.5,
                    temperature: 1.0,
                },
                &mut rng,
            );
            assert!(t == 1 || t == 3, "{t}");
        }
        // Temperature sampling reaches every token with enough draws (p(0) ~ 0.023).
        let mut seen = [false; 4];
        for _ in 0..2000 {
            seen[choose(&row, Sampling::Temperature { temperature: 1.0 }, &mut rng)] = true;
        }
        assert_eq!(seen, [true; 4]);
    }

    #[test]
    fn log_softmax_normalises() {
        // log p = x - log(sum e^x); for [0, ln 3]: log(1/4), log(3/4).
        let lp = log_softmax(&[0.0, 3f32.ln()]);
        assert!((lp[0] - 0.25f64.ln()).abs() < 1e-6);
        assert!((lp[1] - 0.75f64.ln()).abs() < 1e-6);
    }
}
