//! [`Encoder`]: a tokenizer plus an encoding mode turns a [`StepSample`] into an [`Episode`].
//!
//! Two modes, because the reference tokenises in a way a clean port would not (formats.md §1.5):
//!
//! - [`EncodeMode::ReferenceCompat`] does what the released `step_ppo.py::formatting_func` does:
//!   every segment is encoded on its own **with** special tokens, so Llama-family tokenizers put
//!   a BOS before every prompt and every response segment (the response BOS counts as an action
//!   token, as the reference's frag mask has it); the context (everything before the final
//!   response) keeps its last `max_context` tokens and the final response its first
//!   `max_response` tokens. Use it for bit-parity with the released code and the TRL baseline.
//! - [`EncodeMode::Clean`] (recommended for new training) tokenises the whole dialogue once
//!   (one BOS, no spurious word-boundary markers at segment starts) and finds each action's
//!   tokens from the tokenizer's byte offsets: a token belongs to the segment in which it starts.
//!   Truncation is the same as above.
//!
//! In both modes a step whose action lies entirely in the truncated-away context is dropped
//! with its reward, and counted in [`Episode::truncated_leading_steps`]; token 0 is never an
//! action token (nothing predicts it), so a span cut to start at token 0 starts at token 1.

use std::path::Path;

use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use tokenizers::Tokenizer;

use crate::episode::{ActionSpan, Episode};
use crate::error::{Error, Result};
use crate::sample::StepSample;

/// How a sample is tokenised (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum EncodeMode {
    /// Whole dialogue tokenised once; action spans from byte offsets.
    #[default]
    Clean,
    /// Segment by segment with special tokens per segment, exactly as the released code.
    ReferenceCompat,
}

impl std::str::FromStr for EncodeMode {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "clean" => Ok(Self::Clean),
            "reference-compat" | "reference_compat" => Ok(Self::ReferenceCompat),
            other => Err(Error::format(
                Default::default(),
                format!("unknown encode mode {other:?}: expected clean or reference-compat"),
            )),
        }
    }
}

/// Encoder settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EncoderConfig {
    /// Tokenisation mode. Default: `clean`.
    pub mode: EncodeMode,
    /// The context (everything before the final response) keeps its last `max_context`
    /// tokens. Default: 4096 (the reference's `max_context_len`).
    pub max_context: usize,
    /// The final response keeps its first `max_response` tokens. Default: 1200 (the
    /// reference's default `max_response_len`; its ToolLLaMA script passes 1024).
    pub max_response: usize,
}

impl Default for EncoderConfig {
    fn default() -> Self {
        Self {
            mode: EncodeMode::Clean,
            max_context: 4096,
            max_response: 1200,
        }
    }
}

impl EncoderConfig {
    /// Check the settings: both limits must be at least 1.
    pub fn validate(&self) -> Result<()> {
        if self.max_context == 0 || self.max_response == 0 {
            return Err(Error::format(
                Default::default(),
                format!(
                    "encoder limits must be at least 1 (max_context {}, max_response {})",
                    self.max_context, self.max_response
                ),
            ));
        }
        Ok(())
    }
}

/// One encoded sample.
#[derive(Debug, Clone, PartialEq)]
pub struct Encoded {
    /// The token-level episode.
    pub episode: Episode,
    /// Number of context tokens (the reference's `query`): the final response starts here.
    pub context_len: usize,
}

impl Encoded {
    /// Per-token action flags of length `L` (the reference's `frag_mask`).
    pub fn frag_mask(&self) -> Vec<u8> {
        let mut mask = vec![0u8; self.episode.len()];
        for span in self.episode.action_spans() {
            mask[span.range()].fill(1);
        }
        mask
    }
}

/// Token ids of a whole sample and each action's `[start, end)` token range, before truncation.
type TokenizedSegments = (Vec<u32>, Vec<(usize, usize)>);

/// Tokeniser + mode -> episodes.
#[derive(Debug, Clone)]
pub struct Encoder {
    tokenizer: Tokenizer,
    config: EncoderConfig,
}

impl Encoder {
    /// An encoder over a loaded tokenizer.
    pub fn new(tokenizer: Tokenizer, config: EncoderConfig) -> Result<Self> {
        config.validate()?;
        Ok(Self { tokenizer, config })
    }

    /// An encoder over a `tokenizer.json` file.
    pub fn from_file(path: impl AsRef<Path>, config: EncoderConfig) -> Result<Self> {
        let path = path.as_ref();
        let tokenizer = Tokenizer::from_file(path).map_err(|source| Error::Tokenizer {
            context: format!("loading {}", path.display()),
            source,
        })?;
        Self::new(tokenizer, config)
    }

    /// The settings.
    pub fn config(&self) -> &EncoderConfig {
        &self.config
    }

    /// The tokenizer.
    pub fn tokenizer(&self) -> &Tokenizer {
        &self.tokenizer
    }

    /// Encode one sample.
    pub fn encode(&self, sample: &StepSample) -> Result<Encoded> {
        sample.validate()?;
        let (ids, spans) = match self.config.mode {
            EncodeMode::ReferenceCompat => self.segments_reference(sample)?,
            EncodeMode::Clean => self.segments_clean(sample)?,
        };
        let rewards: Vec<f32> = sample.rewards.iter().map(|&r| r as f32).collect();
        truncate(ids, spans, rewards, &self.config)
    }

    /// Encode many samples in parallel (rayon); one result per sample, in order.
    pub fn encode_all(&self, samples: &[StepSample]) -> Vec<Result<Encoded>> {
        samples.par_iter().map(|s| self.encode(s)).collect()
    }

    fn encode_text(
        &self,
        text: &str,
        add_special_tokens: bool,
        what: impl FnOnce() -> String,
    ) -> Result<tokenizers::Encoding> {
        self.tokenizer
            .encode(text, add_special_tokens)
            .map_err(|source| Error::Tokenizer {
                context: what(),
                source,
            })
    }

    /// Every segment encoded on its own with special tokens (formats.md §1.5 steps 1-4).
    fn segments_reference(&self, sample: &StepSample) -> Result<TokenizedSegments> {
        let mut ids = Vec::new();
        let mut spans = Vec::with_capacity(sample.num_steps());
        for (k, (prompt, response)) in sample.prompts.iter().zip(&sample.responses).enumerate() {
            ids.extend_from_slice(
                self.encode_text(prompt, true, || format!("prompt of step {k}"))?
                    .get_ids(),
            );
            let start = ids.len();
            ids.extend_from_slice(
                self.encode_text(response, true, || format!("response of step {k}"))?
                    .get_ids(),
            );
            spans.push((start, ids.len()));
        }
        Ok((ids, spans))
    }

    /// The whole dialogue encoded once; each token goes to the segment where it starts.
    fn segments_clean(&self, sample: &StepSample) -> Result<TokenizedSegments> {
        let mut text = String::new();
        let mut byte_ranges = Vec::with_capacity(sample.num_steps());
        for (prompt, response) in sample.prompts.iter().zip(&sample.responses) {
            text.push_str(prompt);
            let start = text.len();
            text.push_str(response);
            byte_ranges.push((start, text.len()));
        }
        let encoding = self.encode_text(&text, true, || "the whole dialogue".to_owned())?;
        let offsets = encoding.get_offsets();
        let sequence_ids = encoding.get_sequence_ids();
        // First token that starts at or after byte `b`, skipping tokens added by the
        // post-processor (BOS/EOS: no sequence id, offsets (0, 0)).
        let first_token_from = |b: usize| -> usize {
            (0..offsets.len())
                .find(|&i| sequence_ids[i].is_some() && offsets[i].0 >= b)
                .unwrap_or(offsets.len())
        };
        let spans = byte_ranges
            .iter()
            .map(|&(s, e)| (first_token_from(s), first_token_from(e)))
            .collect();
        Ok((encoding.get_ids().to_vec(), spans))
    }
}

/// Cut the context from the left to `max_context` tokens and the final response from the right
/// to `max_response` tokens (formats.md §1.5 steps 3-5), moving the spans with the tokens.
fn truncate(
    ids: Vec<u32>,
    spans: Vec<(usize, usize)>,
    rewards: Vec<f32>,
    config: &EncoderConfig,
) -> Result<Encoded> {
    let n = spans.len();
    let (response_start, response_end) = spans[n - 1];
    if response_end == response_start {
        return Err(Error::InvalidEpisode(format!(
            "the final response (step {}) encodes to no tokens",
            n - 1
        )));
    }
    let cut = response_start.saturating_sub(config.max_context);
    let kept_end = response_start + (response_end - response_start).min(config.max_response);
    let input_ids = ids[cut..kept_end].to_vec();
    let mut kept_spans = Vec::with_capacity(n);
    let mut kept_rewards = Vec::with_capacity(n);
    let mut dropped = 0;
    for (k, (&(s, e), &r)) in spans.iter().zip(&rewards).enumerate() {
        let e = e.min(kept_end);
        // Token 0 of the kept sequence is never predicted, so it cannot carry an action.
        let s = s.max(cut + 1);
        if e <= s {
            if k + 1 == n {
                return Err(Error::InvalidEpisode(
                    "the final response was truncated away".into(),
                ));
            }
            if !kept_spans.is_empty() {
                return Err(Error::InvalidEpisode(format!(
                    "step {k} encodes to no tokens"
                )));
            }
            dropped += 1;
            continue;
        }
        kept_spans.push(ActionSpan::new(s - cut, e - cut));
        kept_rewards.push(r);
    }
    let episode =
        Episode::new(input_ids, kept_spans, kept_rewards)?.with_truncated_leading_steps(dropped);
    Ok(Encoded {
        episode,
        context_len: response_start - cut,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(max_context: usize, max_response: usize) -> EncoderConfig {
        EncoderConfig {
            mode: EncodeMode::ReferenceCompat,
            max_context,
            max_response,
        }
    }

    #[test]
    fn truncation_moves_and_drops_spans() -> Result<()> {
        // 12 tokens: P0 = 0..3, R0 = 3..5, P1 = 5..7, R1 = 7..9, P2 = 9..10, R2 = 10..12.
        let ids: Vec<u32> = (0..12).collect();
        let spans = vec![(3, 5), (7, 9), (10, 12)];
        let rewards = vec![0.1, 0.2, 1.0];
        // max_context 6: context 0..10 keeps 4..10 (cut 4); R0 keeps token 4 -> [0,1) clipped to
        // start 1 -> empty -> dropped; R1 -> [3,5); R2 keeps 1 token -> [6,7).
        let e = truncate(ids.clone(), spans.clone(), rewards.clone(), &cfg(6, 1))?;
        assert_eq!(e.episode.input_ids(), &[4, 5, 6, 7, 8, 9, 10]);
        assert_eq!(
            e.episode.action_spans(),
            &[ActionSpan::new(3, 5), ActionSpan::new(6, 7)]
        );
        assert_eq!(e.episode.step_rewards(), &[0.2, 1.0]);
        assert_eq!(e.episode.truncated_leading_steps(), 1);
        assert_eq!(e.context_len, 6);
        assert_eq!(e.frag_mask(), vec![0, 0, 0, 1, 1, 0, 1]);
        // max_context 7: cut 3; R0 = [3,5) -> [0,2) -> clipped to [1,2), kept (partially).
        let e = truncate(ids, spans, rewards, &cfg(7, 10))?;
        assert_eq!(e.episode.action_spans()[0], ActionSpan::new(1, 2));
        assert_eq!(e.episode.truncated_leading_steps(), 0);
        Ok(())
    }

    #[test]
    fn empty_final_response_is_an_error() {
        let r = truncate(
            vec![1, 2, 3],
            vec![(1, 2), (3, 3)],
            vec![0.0, 1.0],
            &cfg(10, 10),
        );
        assert!(matches!(r, Err(Error::InvalidEpisode(m)) if m.contains("final response")));
        assert!(cfg(0, 1).validate().is_err());
    }
}
