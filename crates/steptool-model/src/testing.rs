//! Tiny random configurations for tests, demos and benches (feature `test-utils`).

use crate::config::{ModelConfig, RawConfig};
use crate::Result;

fn raw(model_type: &str) -> RawConfig {
    RawConfig {
        model_type: Some(model_type.to_string()),
        hidden_size: Some(32),
        intermediate_size: Some(48),
        num_hidden_layers: Some(2),
        num_attention_heads: Some(4),
        num_key_value_heads: Some(2),
        vocab_size: Some(64),
        rms_norm_eps: Some(1e-5),
        bos_token_id: Some(crate::config::IntOrList::One(1)),
        eos_token_id: Some(crate::config::IntOrList::One(2)),
        pad_token_id: Some(crate::config::IntOrList::One(0)),
        ..RawConfig::default()
    }
}

/// A 2-layer LLaMA (hidden 32, 4 heads, 2 KV heads, vocab 64, linear RoPE scaling 2).
pub fn tiny_llama() -> Result<ModelConfig> {
    let mut r = raw("llama");
    r.rope_scaling = Some(serde_json::json!({"type": "linear", "factor": 2.0}));
    r.into_config()
}

/// A 2-layer Qwen2 (q/k/v bias, tied embeddings), same sizes as [`tiny_llama`].
pub fn tiny_qwen2() -> Result<ModelConfig> {
    let mut r = raw("qwen2");
    r.tie_word_embeddings = Some(true);
    r.into_config()
}

/// A config of arbitrary size (LLaMA layout, GQA), e.g. for benches.
pub fn llama_sized(
    hidden: i64,
    intermediate: i64,
    layers: i64,
    heads: i64,
    kv_heads: i64,
    vocab: i64,
) -> Result<ModelConfig> {
    let mut r = raw("llama");
    r.hidden_size = Some(hidden);
    r.intermediate_size = Some(intermediate);
    r.num_hidden_layers = Some(layers);
    r.num_attention_heads = Some(heads);
    r.num_key_value_heads = Some(kv_heads);
    r.vocab_size = Some(vocab);
    r.into_config()
}
