//! GGUF import: a llama.cpp model file → a Hugging Face checkpoint directory that this crate and
//! transformers load (tested against transformers 4.43.1), in the `LlamaForCausalLM` layout vLLM
//! reads.
//!
//! ```text
//!  FILE.gguf ──GgufFile::open (mmap, bounds-checked header)──► metadata + tensor infos
//!      │                                  │
//!      │                 tokenizer.* ─────┴── llama.* ──► Hparams ──► config.json
//!      │                     │                                        generation_config.json
//!      │                     └──► tokenizer.json (byte-level BPE) + tokenizer_config.json
//!      └── tensors ──dequantize (F32/F16/BF16/Q8_0/Q4_0/Q4_1)──un-permute q,k──► model.safetensors
//! ```
//!
//! [`import`] checks everything before writing, writes into a temporary directory beside the
//! output and renames it into place, so the output is complete or absent.
//!
//! ```no_run
//! use std::path::Path;
//! use steptool_model::gguf::{import, ImportOptions};
//!
//! # fn main() -> steptool_model::gguf::Result<()> {
//! let report = import(
//!     Path::new(".cache/smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"),
//!     Path::new(".cache/smollm2/SmolLM2-135M-Instruct"),
//!     &ImportOptions::default(),
//! )?;
//! println!("{report}");
//! # Ok(())
//! # }
//! ```
//!
//! Why an importer rather than a GGUF loader: the rest of the crate (LoRA, PEFT export,
//! merged export, training) works on HF checkpoints, and an HF directory is what transformers
//! (the golden reference) and vLLM (the rollout server) read. Dequantised weights are exact in
//! f32, so the imported model is the GGUF model, in every tool.
//!
//! Sources: llama.cpp `docs/gguf.md` (container), `ggml-common.h` (block layouts),
//! `convert_hf_to_gguf.py` `LlamaModel.permute` and transformers `integrations/ggml.py`
//! `reverse_permute_weights` (the Q/K row order), llama.cpp `llama-vocab.cpp` (the `smollm`
//! pre-tokenizer: a `\p{N}` split before the GPT-2 regex).

mod dequant;
mod error;
mod hf;
mod import;
mod permute;
mod reader;

pub use dequant::{bf16_to_f32, dequantize, f16_to_f32, f32_to_bf16, GgmlType};
pub use error::{Error, ParseError, Result};
pub use hf::{config_json, map_tensor, tokenizer_files, Hparams, TensorMapping, TokenizerFiles};
pub use import::{import, ImportOptions, ImportReport, OutputDtype};
pub use permute::{permute_rows, unpermute_rows};
pub use reader::{GgufFile, TensorInfo, Value};
