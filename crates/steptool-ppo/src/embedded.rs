//! The embedded default's parts: real StepTool rows compiled into the binary, a byte-level BPE
//! tokenizer trained in code and a tiny LLaMA-architecture config, so a run needs no download.
//! Used by `steptool train` with no model, the on-policy demo and the tests.

use steptool_model::RawConfig;

use crate::error::{Error, Result};

/// The rows of the embedded default: 10 real StepTool ToolLLaMA rows (the reference's
/// `data_train/toolllama/step_grained_for_ppo_example.csv`).
pub const EMBEDDED_ROWS: &str = include_str!("../../../fixtures/ppo/toolllama_rows.tsv");

/// Trains a byte-level BPE tokenizer (vocabulary ≤ `vocab`) on `texts`, with the special
/// tokens `<unk>`=0, `<s>`=1, `</s>`=2, `<pad>`=3.
pub fn train_tokenizer(texts: &[String], vocab: usize) -> Result<tokenizers::Tokenizer> {
    use tokenizers::models::bpe::{BpeTrainerBuilder, BPE};
    use tokenizers::models::TrainerWrapper;
    use tokenizers::pre_tokenizers::byte_level::ByteLevel;
    use tokenizers::{AddedToken, Tokenizer};
    let specials: Vec<AddedToken> = ["<unk>", "<s>", "</s>", "<pad>"]
        .iter()
        .map(|t| AddedToken::from(t.to_string(), true))
        .collect();
    let mut trainer: TrainerWrapper = BpeTrainerBuilder::new()
        .vocab_size(vocab)
        .min_frequency(1)
        .show_progress(false)
        .special_tokens(specials)
        .initial_alphabet(ByteLevel::alphabet().into_iter().collect())
        .build()
        .into();
    let mut tok = Tokenizer::new(BPE::default());
    tok.with_pre_tokenizer(Some(ByteLevel::default()));
    tok.with_decoder(Some(ByteLevel::default()));
    tok.train(&mut trainer, texts.iter())
        .map_err(|e| Error::Input(format!("training the BPE tokenizer: {e}")))?;
    Ok(tok)
}

/// The size of a LLaMA-architecture model created in code (the "size knob" of the embedded
/// runs). Default: hidden 64, 2 layers, 4 heads (2 KV heads), intermediate 128, vocabulary 1000.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TinyModel {
    /// Hidden size.
    pub hidden: i64,
    /// Decoder layers.
    pub layers: i64,
    /// Attention heads.
    pub heads: i64,
    /// Key/value heads.
    pub kv_heads: i64,
    /// MLP intermediate size.
    pub intermediate: i64,
    /// BPE vocabulary trained in code.
    pub vocab: usize,
    /// Tie the LM head to the token embeddings (as SmolLM2 and many small models do): a
    /// token seen only as input (an entity name copied from the query) then still has a
    /// trained output row. Default false.
    pub tie_embeddings: bool,
    /// Train the BPE on the texts of a synthetic world with this seed instead of the
    /// benchmark's own (the same tools, templates and JSON, other entity names and ids), so
    /// that the benchmark's names and ids are split into sub-word pieces the way a pretrained
    /// tokenizer splits names it never saw, instead of each becoming one token the model has
    /// rarely seen. `None` (default): the benchmark's own texts.
    pub tokenizer_world_seed: Option<u64>,
}

impl Default for TinyModel {
    fn default() -> Self {
        TinyModel {
            hidden: 64,
            layers: 2,
            heads: 4,
            kv_heads: 2,
            intermediate: 128,
            vocab: 1000,
            tie_embeddings: false,
            tokenizer_world_seed: None,
        }
    }
}

impl TinyModel {
    /// The model config for a tokenizer of `vocab` ids.
    pub fn config(&self, vocab: i64) -> Result<steptool_model::ModelConfig> {
        use steptool_model::IntOrList;
        let raw = RawConfig {
            model_type: Some("llama".into()),
            hidden_size: Some(self.hidden),
            intermediate_size: Some(self.intermediate),
            num_hidden_layers: Some(self.layers),
            num_attention_heads: Some(self.heads),
            num_key_value_heads: Some(self.kv_heads),
            vocab_size: Some(vocab),
            rms_norm_eps: Some(1e-5),
            bos_token_id: Some(IntOrList::One(1)),
            eos_token_id: Some(IntOrList::One(2)),
            pad_token_id: Some(IntOrList::One(3)),
            tie_word_embeddings: Some(self.tie_embeddings),
            ..RawConfig::default()
        };
        Ok(raw.into_config()?)
    }
}

/// A LLaMA-architecture config of the given vocabulary: [`TinyModel::default`].
pub fn tiny_llama_config(vocab: i64) -> Result<steptool_model::ModelConfig> {
    TinyModel::default().config(vocab)
}
