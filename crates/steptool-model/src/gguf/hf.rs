//! GGUF metadata and tensor names → the files of a Hugging Face checkpoint directory.
//!
//! | GGUF | Hugging Face |
//! |---|---|
//! | `llama.block_count`, `.embedding_length`, `.feed_forward_length` | `num_hidden_layers`, `hidden_size`, `intermediate_size` |
//! | `llama.attention.head_count`, `.head_count_kv`, `.layer_norm_rms_epsilon` | `num_attention_heads`, `num_key_value_heads`, `rms_norm_eps` |
//! | `llama.rope.freq_base`, `.rope.dimension_count`, `.context_length` | `rope_theta`, `head_dim`, `max_position_embeddings` |
//! | no `output.weight` tensor | `tie_word_embeddings: true` |
//! | `tokenizer.ggml.tokens` / `.merges` / `.token_type` (`gpt2` model) | `tokenizer.json`: byte-level BPE; control tokens (type 3) as special added tokens |
//! | `tokenizer.ggml.pre` `smollm` | pre-tokenizer `Digits(individual_digits)` then `ByteLevel` (llama.cpp's `\p{N}` split) |
//! | `tokenizer.ggml.{bos,eos,padding,unknown}_token_id`, `tokenizer.chat_template` | `tokenizer_config.json`, `generation_config.json` |
//!
//! | GGUF tensor | HF tensor |
//! |---|---|
//! | `token_embd.weight`, `output_norm.weight`, `output.weight` | `model.embed_tokens.weight`, `model.norm.weight`, `lm_head.weight` |
//! | `blk.N.attn_norm`, `blk.N.ffn_norm` | `model.layers.N.input_layernorm`, `.post_attention_layernorm` |
//! | `blk.N.attn_{q,k,v,output}` | `model.layers.N.self_attn.{q,k,v,o}_proj` (q and k un-permuted) |
//! | `blk.N.ffn_{gate,up,down}` | `model.layers.N.mlp.{gate,up,down}_proj` |

use serde_json::{json, Map, Value as Json};

use super::error::{Error, Result};
use super::reader::GgufFile;

/// llama.cpp's token types (`enum llama_token_type`).
const TOKEN_CONTROL: i64 = 3;
const TOKEN_USER_DEFINED: i64 = 4;

/// The model hyper-parameters read from the metadata.
#[derive(Debug, Clone, PartialEq)]
pub struct Hparams {
    /// `general.architecture`.
    pub architecture: String,
    /// Decoder layers.
    pub num_layers: u64,
    /// Hidden size.
    pub hidden_size: u64,
    /// MLP size.
    pub intermediate_size: u64,
    /// Query heads.
    pub num_heads: u64,
    /// Key/value heads.
    pub num_kv_heads: u64,
    /// Per-head size.
    pub head_dim: u64,
    /// Vocabulary size.
    pub vocab_size: u64,
    /// Context length.
    pub context_length: u64,
    /// RMSNorm epsilon.
    pub rms_norm_eps: f64,
    /// RoPE base.
    pub rope_theta: f64,
    /// No `output.weight`: the LM head is the embedding.
    pub tied: bool,
    /// The attention projections have biases.
    pub attention_bias: bool,
}

/// Shortest decimal of an `f32` metadata value (`9.999999747378752e-06` → `1e-05`).
fn f32_value(x: f64) -> f64 {
    format!("{}", x as f32).parse().unwrap_or(x)
}

impl Hparams {
    /// Reads and checks the hyper-parameters; only `llama` is supported.
    pub fn from_gguf(g: &GgufFile) -> Result<Self> {
        let arch = g.get_str("general.architecture")?.to_string();
        if arch != "llama" {
            return Err(Error::UnsupportedArchitecture(arch));
        }
        let k = |s: &str| format!("{arch}.{s}");
        let num_heads = g.get_u64(&k("attention.head_count"))?;
        let hidden_size = g.get_u64(&k("embedding_length"))?;
        if num_heads == 0 || hidden_size == 0 {
            return Err(Error::meta(
                &k("attention.head_count"),
                "zero heads or hidden size",
            ));
        }
        let num_kv_heads = match g.metadata().get(&k("attention.head_count_kv")) {
            None => num_heads,
            Some(_) => g.get_u64(&k("attention.head_count_kv"))?,
        };
        let head_dim = match g.metadata().get(&k("attention.key_length")) {
            Some(_) => g.get_u64(&k("attention.key_length"))?,
            None => match g.metadata().get(&k("rope.dimension_count")) {
                Some(_) => g.get_u64(&k("rope.dimension_count"))?,
                None => hidden_size / num_heads,
            },
        };
        if let Some(rope_dims) = g.metadata().get(&k("rope.dimension_count")) {
            if rope_dims.as_u64() != Some(head_dim) {
                return Err(Error::meta(
                    &k("rope.dimension_count"),
                    format!("{rope_dims:?}: partial rotary embeddings (head size {head_dim}) are not supported"),
                ));
            }
        }
        if g.metadata().contains_key(&k("rope.scaling.type"))
            || g.tensor("rope_freqs.weight").is_some()
        {
            return Err(Error::meta(
                &k("rope.scaling.type"),
                "RoPE scaling is not supported by the importer",
            ));
        }
        if g.metadata().contains_key(&k("expert_count")) {
            return Err(Error::meta(
                &k("expert_count"),
                "mixture-of-experts models are not supported",
            ));
        }
        let embd = g.tensor("token_embd.weight").ok_or_else(|| Error::Tensor {
            name: "token_embd.weight".into(),
            message: "missing".into(),
        })?;
        let vocab_size = match g.metadata().get(&k("vocab_size")) {
            Some(_) => g.get_u64(&k("vocab_size"))?,
            None => embd.dims.get(1).copied().unwrap_or(0),
        };
        Ok(Self {
            num_layers: g.get_u64(&k("block_count"))?,
            hidden_size,
            intermediate_size: g.get_u64(&k("feed_forward_length"))?,
            num_heads,
            num_kv_heads,
            head_dim,
            vocab_size,
            context_length: g.get_u64(&k("context_length"))?,
            rms_norm_eps: f32_value(g.get_f64(&k("attention.layer_norm_rms_epsilon"))?),
            rope_theta: match g.metadata().get(&k("rope.freq_base")) {
                Some(_) => f32_value(g.get_f64(&k("rope.freq_base"))?),
                None => 10000.0,
            },
            tied: g.tensor("output.weight").is_none(),
            attention_bias: g.tensor("blk.0.attn_q.bias").is_some(),
            architecture: arch,
        })
    }
}

/// How a GGUF tensor becomes an HF tensor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TensorMapping {
    /// The HF name.
    pub hf_name: String,
    /// Rows to un-permute with this many heads (q: `n_head`, k: `n_head_kv`).
    pub unpermute_heads: Option<u64>,
}

/// The HF name of a GGUF tensor, or an error for a tensor with no counterpart.
pub fn map_tensor(name: &str, hp: &Hparams) -> Result<TensorMapping> {
    let unknown = || Error::Tensor {
        name: name.to_string(),
        message: "no Hugging Face counterpart known for this llama tensor".into(),
    };
    let plain = |hf: String| TensorMapping {
        hf_name: hf,
        unpermute_heads: None,
    };
    match name {
        "token_embd.weight" => return Ok(plain("model.embed_tokens.weight".into())),
        "output_norm.weight" => return Ok(plain("model.norm.weight".into())),
        "output.weight" => return Ok(plain("lm_head.weight".into())),
        _ => {}
    }
    let rest = name.strip_prefix("blk.").ok_or_else(unknown)?;
    let (layer, rest) = rest.split_once('.').ok_or_else(unknown)?;
    let layer: u64 = layer.parse().ok().ok_or_else(unknown)?;
    if layer >= hp.num_layers {
        return Err(Error::Tensor {
            name: name.to_string(),
            message: format!("layer {layer} but the model has {} layers", hp.num_layers),
        });
    }
    let (module, suffix) = rest.rsplit_once('.').ok_or_else(unknown)?;
    if suffix != "weight" && suffix != "bias" {
        return Err(unknown());
    }
    let (hf, heads) = match module {
        "attn_norm" => ("input_layernorm", None),
        "ffn_norm" => ("post_attention_layernorm", None),
        "attn_q" => ("self_attn.q_proj", Some(hp.num_heads)),
        "attn_k" => ("self_attn.k_proj", Some(hp.num_kv_heads)),
        "attn_v" => ("self_attn.v_proj", None),
        "attn_output" => ("self_attn.o_proj", None),
        "ffn_gate" => ("mlp.gate_proj", None),
        "ffn_up" => ("mlp.up_proj", None),
        "ffn_down" => ("mlp.down_proj", None),
        _ => return Err(unknown()),
    };
    Ok(TensorMapping {
        hf_name: format!("model.layers.{layer}.{hf}.{suffix}"),
        unpermute_heads: heads,
    })
}

/// Special-token ids from the metadata.
#[derive(Debug, Clone, PartialEq)]
struct SpecialIds {
    bos: Option<u64>,
    eos: Option<u64>,
    pad: Option<u64>,
    unk: Option<u64>,
}

fn optional_id(g: &GgufFile, key: &str, vocab: usize) -> Result<Option<u64>> {
    if !g.metadata().contains_key(key) {
        return Ok(None);
    }
    let id = g.get_u64(key)?;
    if id >= vocab as u64 {
        return Err(Error::meta(
            key,
            format!("token id {id} outside the vocabulary of {vocab}"),
        ));
    }
    Ok(Some(id))
}

/// The tokenizer files of the checkpoint: `tokenizer.json`, `tokenizer_config.json`.
#[derive(Debug, Clone)]
pub struct TokenizerFiles {
    /// `tokenizer.json` (the `tokenizers` library's format).
    pub tokenizer: Json,
    /// `tokenizer_config.json` (transformers: special tokens, chat template).
    pub tokenizer_config: Json,
    /// `generation_config.json`.
    pub generation_config: Json,
    /// `bos_token_id`, `eos_token_id`, `pad_token_id` for `config.json`.
    pub config_ids: Map<String, Json>,
}

/// Builds the tokenizer files from the `tokenizer.*` metadata (byte-level BPE only).
pub fn tokenizer_files(g: &GgufFile, hp: &Hparams) -> Result<TokenizerFiles> {
    let model = g.get_str("tokenizer.ggml.model")?;
    if model != "gpt2" {
        return Err(Error::Tokenizer(format!(
            "tokenizer.ggml.model `{model}` is not supported (supported: gpt2, byte-level BPE)"
        )));
    }
    let pre = match g.metadata().get("tokenizer.ggml.pre") {
        None => "default",
        Some(_) => g.get_str("tokenizer.ggml.pre")?,
    };
    let byte_level = json!({"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": true});
    let pre_tokenizer = match pre {
        // llama.cpp: "\p{N}" then the GPT-2 regex.
        "smollm" | "starcoder" | "refact" => json!({
            "type": "Sequence",
            "pretokenizers": [{"type": "Digits", "individual_digits": true}, byte_level],
        }),
        "default" | "gpt2" | "gpt-2" => byte_level,
        other => {
            return Err(Error::Tokenizer(format!(
                "tokenizer.ggml.pre `{other}` is not supported (supported: smollm, starcoder, refact, gpt2, default)"
            )))
        }
    };
    let tokens = g.get_str_array("tokenizer.ggml.tokens")?;
    if tokens.len() as u64 != hp.vocab_size {
        return Err(Error::meta(
            "tokenizer.ggml.tokens",
            format!(
                "{} tokens but the vocabulary size is {}",
                tokens.len(),
                hp.vocab_size
            ),
        ));
    }
    let types = match g.metadata().get("tokenizer.ggml.token_type") {
        Some(_) => g.get_int_array("tokenizer.ggml.token_type")?,
        None => vec![1; tokens.len()],
    };
    if types.len() != tokens.len() {
        return Err(Error::meta(
            "tokenizer.ggml.token_type",
            format!("{} types for {} tokens", types.len(), tokens.len()),
        ));
    }
    let merges = g.get_str_array("tokenizer.ggml.merges")?;
    if let Some((i, m)) = merges
        .iter()
        .enumerate()
        .find(|(_, m)| m.split(' ').count() != 2)
    {
        return Err(Error::meta(
            "tokenizer.ggml.merges",
            format!("merge {i} {m:?} is not two tokens"),
        ));
    }
    if g.get_bool("tokenizer.ggml.add_bos_token")? == Some(true)
        || g.get_bool("tokenizer.ggml.add_eos_token")? == Some(true)
    {
        return Err(Error::Tokenizer(
            "tokenizer.ggml.add_bos_token / add_eos_token = true is not supported for byte-level BPE".into(),
        ));
    }
    let ids = SpecialIds {
        bos: optional_id(g, "tokenizer.ggml.bos_token_id", tokens.len())?,
        eos: optional_id(g, "tokenizer.ggml.eos_token_id", tokens.len())?,
        pad: optional_id(g, "tokenizer.ggml.padding_token_id", tokens.len())?,
        unk: optional_id(g, "tokenizer.ggml.unknown_token_id", tokens.len())?,
    };

    let mut vocab = Map::new();
    for (i, t) in tokens.iter().enumerate() {
        if let Some(prev) = vocab.insert((*t).to_string(), json!(i)) {
            return Err(Error::meta(
                "tokenizer.ggml.tokens",
                format!("token {t:?} appears twice (ids {prev} and {i})"),
            ));
        }
    }
    let mut added = Vec::new();
    let mut decoder_entries = Map::new();
    for (i, (t, &ty)) in tokens.iter().zip(&types).enumerate() {
        if ty == TOKEN_CONTROL || ty == TOKEN_USER_DEFINED {
            let special = ty == TOKEN_CONTROL;
            added.push(json!({"id": i, "content": t, "single_word": false, "lstrip": false, "rstrip": false, "normalized": !special, "special": special}));
            decoder_entries.insert(
                i.to_string(),
                json!({"content": t, "lstrip": false, "normalized": !special, "rstrip": false, "single_word": false, "special": special}),
            );
        }
    }
    let name = |id: Option<u64>| id.map(|i| tokens[i as usize].to_string());
    let tokenizer = json!({
        "version": "1.0",
        "truncation": null,
        "padding": null,
        "added_tokens": added,
        "normalizer": null,
        "pre_tokenizer": pre_tokenizer,
        "post_processor": {"type": "ByteLevel", "add_prefix_space": true, "trim_offsets": false, "use_regex": true},
        "decoder": {"type": "ByteLevel", "add_prefix_space": true, "trim_offsets": true, "use_regex": true},
        "model": {
            "type": "BPE",
            "dropout": null,
            "unk_token": name(ids.unk),
            "continuing_subword_prefix": null,
            "end_of_word_suffix": null,
            "fuse_unk": false,
            "byte_fallback": false,
            "vocab": vocab,
            "merges": merges,
        },
    });

    let named: Vec<String> = [ids.bos, ids.eos, ids.pad, ids.unk]
        .iter()
        .filter_map(|&i| name(i))
        .collect();
    let additional: Vec<&str> = tokens
        .iter()
        .zip(&types)
        .filter(|&(t, &ty)| ty == TOKEN_CONTROL && !named.iter().any(|n| n == t))
        .map(|(t, _)| *t)
        .collect();
    let mut tc = Map::new();
    tc.insert("add_bos_token".into(), json!(false));
    tc.insert("add_eos_token".into(), json!(false));
    tc.insert("add_prefix_space".into(), json!(false));
    tc.insert("added_tokens_decoder".into(), Json::Object(decoder_entries));
    tc.insert("additional_special_tokens".into(), json!(additional));
    for (key, id) in [
        ("bos_token", ids.bos),
        ("eos_token", ids.eos),
        ("pad_token", ids.pad),
        ("unk_token", ids.unk),
    ] {
        tc.insert(key.into(), name(id).map_or(Json::Null, Json::String));
    }
    if g.metadata().contains_key("tokenizer.chat_template") {
        tc.insert(
            "chat_template".into(),
            json!(g.get_str("tokenizer.chat_template")?),
        );
    }
    tc.insert("clean_up_tokenization_spaces".into(), json!(false));
    tc.insert("model_max_length".into(), json!(hp.context_length));
    tc.insert("tokenizer_class".into(), json!("GPT2Tokenizer"));

    let mut config_ids = Map::new();
    for (key, id) in [
        ("bos_token_id", ids.bos),
        ("eos_token_id", ids.eos),
        ("pad_token_id", ids.pad),
    ] {
        if let Some(id) = id {
            config_ids.insert(key.into(), json!(id));
        }
    }
    let mut gen = Map::new();
    gen.insert("_from_model_config".into(), json!(true));
    gen.extend(config_ids.clone());
    Ok(TokenizerFiles {
        tokenizer,
        tokenizer_config: Json::Object(tc),
        generation_config: Json::Object(gen),
        config_ids,
    })
}

/// `config.json` for transformers' `LlamaForCausalLM` (and our [`crate::RawConfig`]).
pub fn config_json(hp: &Hparams, tok: &TokenizerFiles, torch_dtype: &str) -> Json {
    let mut c = Map::new();
    c.insert("architectures".into(), json!(["LlamaForCausalLM"]));
    c.insert("model_type".into(), json!("llama"));
    c.insert("hidden_size".into(), json!(hp.hidden_size));
    c.insert("intermediate_size".into(), json!(hp.intermediate_size));
    c.insert("num_hidden_layers".into(), json!(hp.num_layers));
    c.insert("num_attention_heads".into(), json!(hp.num_heads));
    c.insert("num_key_value_heads".into(), json!(hp.num_kv_heads));
    if hp.head_dim * hp.num_heads != hp.hidden_size {
        c.insert("head_dim".into(), json!(hp.head_dim));
    }
    c.insert("vocab_size".into(), json!(hp.vocab_size));
    c.insert("max_position_embeddings".into(), json!(hp.context_length));
    c.insert("rms_norm_eps".into(), json!(hp.rms_norm_eps));
    c.insert("rope_theta".into(), json!(hp.rope_theta));
    c.insert("hidden_act".into(), json!("silu"));
    c.insert("attention_bias".into(), json!(hp.attention_bias));
    c.insert("attention_dropout".into(), json!(0.0));
    c.insert("mlp_bias".into(), json!(false));
    c.insert("pretraining_tp".into(), json!(1));
    c.insert("tie_word_embeddings".into(), json!(hp.tied));
    c.insert("initializer_range".into(), json!(0.02));
    c.insert("use_cache".into(), json!(true));
    c.extend(tok.config_ids.clone());
    c.insert("torch_dtype".into(), json!(torch_dtype));
    Json::Object(c)
}
