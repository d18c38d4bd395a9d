//! Both encoder modes on the TRL baseline tokenizer (byte-level BPE that adds `<s>` = 1).

use steptool_mdp::{EncodeMode, Encoder, EncoderConfig, Result, StepSample};

const TOKENIZER: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../fixtures/trl-baseline/tokenizer.json"
);
const BOS: u32 = 1;

fn sample() -> Result<StepSample> {
    StepSample::new(
        vec![
            "System:\nSpecifically, you have access to the following APIs: ['search_for_web', 'Finish']\nUser:\nFind images.\nBegin!\n\nAssistant:\n".into(),
            "Function:\n{\"error\": \"\", \"response\": \"two images\"}\nAssistant:\n".into(),
        ],
        vec![
            "Action: search_for_web\nAction Input: {\n  \"q\": \"images\"\n}\n".into(),
            "Action: Finish\nAction Input: {\n  \"return_type\": \"give_answer\",\n  \"final_answer\": \"Here.\"\n}\n".into(),
        ],
        vec![0.9, 1.0],
    )
}

fn encoder(mode: EncodeMode, max_context: usize, max_response: usize) -> Result<Encoder> {
    Encoder::from_file(
        TOKENIZER,
        EncoderConfig {
            mode,
            max_context,
            max_response,
        },
    )
}

#[test]
fn reference_compat_puts_a_bos_before_every_segment() -> Result<()> {
    let e = encoder(EncodeMode::ReferenceCompat, 4096, 1200)?.encode(&sample()?)?;
    let ids = e.episode.input_ids();
    // 2 steps = 4 segments, each encoded with its own <s>.
    assert_eq!(ids.iter().filter(|&&t| t == BOS).count(), 4);
    // Each action span starts with its segment's BOS (the reference marks it as an action token).
    for span in e.episode.action_spans() {
        assert_eq!(ids[span.start], BOS);
    }
    assert_eq!(e.context_len, e.episode.action_spans()[1].start);
    assert_eq!(e.episode.step_rewards(), &[0.9, 1.0]);
    Ok(())
}

#[test]
fn clean_mode_has_one_bos_and_spans_that_decode_to_the_actions() -> Result<()> {
    let s = sample()?;
    let enc = encoder(EncodeMode::Clean, 4096, 1200)?;
    let e = enc.encode(&s)?;
    let ids = e.episode.input_ids();
    assert_eq!(ids.iter().filter(|&&t| t == BOS).count(), 1);
    assert_eq!(ids[0], BOS);
    // The whole sequence is the whole dialogue tokenised once.
    let whole = enc
        .tokenizer()
        .encode(s.dialogue(), true)
        .map_err(|source| steptool_mdp::Error::Tokenizer {
            context: "test".into(),
            source,
        })?;
    assert_eq!(ids, whole.get_ids());
    for (span, response) in e.episode.action_spans().iter().zip(&s.responses) {
        let text = enc
            .tokenizer()
            .decode(&ids[span.range()], false)
            .map_err(|source| steptool_mdp::Error::Tokenizer {
                context: "decode".into(),
                source,
            })?;
        // Byte-level BPE decodes exactly; a boundary token would show up as a mismatch here.
        assert_eq!(text.trim(), response.trim());
    }
    Ok(())
}

#[test]
fn truncation_agrees_between_modes() -> Result<()> {
    for mode in [EncodeMode::Clean, EncodeMode::ReferenceCompat] {
        let full = encoder(mode, 4096, 1200)?.encode(&sample()?)?;
        // Keep only 5 context tokens: step 0's action is cut away, its reward dropped and counted.
        let cut = encoder(mode, 5, 3)?.encode(&sample()?)?;
        assert_eq!(cut.context_len, 5, "{mode:?}");
        assert_eq!(cut.episode.len(), 5 + 3, "{mode:?}");
        assert_eq!(cut.episode.step_rewards(), &[1.0], "{mode:?}");
        assert_eq!(cut.episode.truncated_leading_steps(), 1, "{mode:?}");
        // The kept tokens are the last 5 context tokens and the first 3 response tokens.
        let start = full.context_len;
        assert_eq!(
            cut.episode.input_ids()[..5],
            full.episode.input_ids()[start - 5..start],
            "{mode:?}"
        );
        assert_eq!(
            cut.episode.input_ids()[5..],
            full.episode.input_ids()[start..start + 3],
            "{mode:?}"
        );
    }
    Ok(())
}
