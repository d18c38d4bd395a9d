//! # steptool-model — LLaMA-family policy and value model on libtorch
//!
//! ```text
//!   config.json ──► RawConfig ──into_config──► ModelConfig (validated)
//!   *.safetensors (mmap, sharded) ──► Checkpoint ──► Model ◄── LoRA (PEFT files) + value head
//!                                                     │
//!          Batch (padded ids + mask) ──forward──► PolicyOutput { logprobs, entropy, values }
//!          Batch ──reference_forward (adapters off, same weights)──► reference logprobs
//!          prompts ──generate (KV cache, seeded sampling)──► tokens + behaviour logprobs
//! ```
//!
//! LLaMA-2 (incl. linear RoPE scaling, as ToolLLaMA-2-7b-v2), Llama-3.x (llama3 RoPE scaling,
//! GQA) and Qwen2 (q/k/v bias) on libtorch via `tch`, numerically the same model as Hugging Face
//! transformers (golden tests against transformers 4.43.1 to 1e-4 in f32, fixtures from
//! `scripts/golden/model_golden.py`).
//!
//! Why this shape:
//! - The base model returns hidden states for every position; the LM head and the value head
//!   sit on top, and log-probs are computed chunk by chunk from the hidden states, so no
//!   `batch x len x vocab` log-softmax is ever materialised.
//! - The reference policy is the same weights with the adapters switched off
//!   ([`PolicyModel::reference_forward`]): no second copy of a 7B model.
//! - Every tensor sits in one `VarStore` under its checkpoint name; only LoRA and the value head
//!   are trainable, so `nn::AdamW` on [`Model::var_store`] trains exactly those.
//! - Errors name the file, field or tensor; nothing is silently skipped ([`LoadReport`]).
//!
//! ```no_run
//! use std::path::Path;
//! use steptool_model::{
//!     Batch, ForwardOptions, GenerationConfig, LoadOptions, LoraConfig, Model, PaddingSide,
//!     PolicyModel, Sampling,
//! };
//!
//! # fn main() -> steptool_model::Result<()> {
//! // Load a Hugging Face checkpoint (config.json + model.safetensors[.index.json]).
//! let (mut model, report) = Model::from_pretrained(Path::new("ToolLLaMA-2-7b-v2"), LoadOptions::cuda_bf16(0))?;
//! assert!(report.unused.is_empty());
//! // Attach LoRA (B = 0: the function is unchanged) and a value head.
//! model.attach_lora(LoraConfig { r: 16, alpha: 32.0, dropout: 0.05, ..LoraConfig::default() }, 42)?;
//! model.init_value_head(42)?;
//! // Per-position log-probs, entropy and values of a padded batch.
//! let batch = Batch::from_sequences(&[vec![1, 450, 4996], vec![1, 3681]], 0, PaddingSide::Right, model.device())?;
//! let out = model.forward(&batch, &ForwardOptions { train: true, ..ForwardOptions::default() })?;
//! let reference = model.reference_forward(&batch)?; // adapters off, same weights
//! let kl = (&out.logprobs - &reference.logprobs) * &out.target_mask;
//! # let _ = kl;
//! // Generate with the KV cache; behaviour log-probs come back with the tokens.
//! let cfg = GenerationConfig { max_new_tokens: 64, sampling: Sampling::TopP { p: 0.9, temperature: 0.7 }, seed: 1, ..Default::default() };
//! let gens = model.generate(&[vec![1, 450, 4996]], &cfg, None)?;
//! println!("{:?} {:?}", gens[0].tokens, gens[0].logprobs);
//! model.save_adapter(Path::new("out/adapter"))?; // PEFT format
//! # Ok(())
//! # }
//! ```

pub mod config;
pub mod device;
mod error;
pub mod generate;
pub mod gguf;
pub mod lora;
pub mod model;
pub mod policy;
#[cfg(feature = "test-utils")]
pub mod testing;
pub mod weights;

pub use config::{CheckpointDtype, IntOrList, ModelConfig, ModelType, RawConfig, RopeScaling};
pub use device::{load_options, parse_device, Precision};
pub use error::{torch_message, Error, Result};
pub use generate::{
    FinishReason, Generation, GenerationConfig, RowRequest, Sampling, TokenDecoder,
};
pub use lora::LoraConfig;
pub use model::{KvCache, LoadOptions, Model};
pub use policy::{Batch, ForwardOptions, PaddingSide, PolicyModel, PolicyOutput};
pub use weights::{Checkpoint, LoadReport};
