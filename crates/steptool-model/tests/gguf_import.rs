//! GGUF reader, dequantisers and importer on hand-built files: block layouts against hand
//! arithmetic, the Q/K un-permutation against its definition, errors for truncated, corrupt and
//! unsupported files (naming tensor and offset), and an imported tiny model that our loader,
//! `tokenizers` and the chat template read.

use std::path::Path;

use steptool_model::gguf::{
    dequantize, f16_to_f32, import, permute_rows, unpermute_rows, Error, GgmlType, GgufFile,
    ImportOptions, OutputDtype, ParseError,
};
use steptool_model::{Batch, ForwardOptions, LoadOptions, Model, PaddingSide};

type TestResult = Result<(), Box<dyn std::error::Error>>;

// ---------------------------------------------------------------- a GGUF writer for tests

#[derive(Default)]
struct GgufBuilder {
    kv: Vec<u8>,
    n_kv: u64,
    infos: Vec<u8>,
    n_tensors: u64,
    data: Vec<u8>,
}

fn put_str(buf: &mut Vec<u8>, s: &str) {
    buf.extend((s.len() as u64).to_le_bytes());
    buf.extend(s.as_bytes());
}

impl GgufBuilder {
    fn key(&mut self, k: &str, ty: u32) -> &mut Vec<u8> {
        self.n_kv += 1;
        put_str(&mut self.kv, k);
        self.kv.extend(ty.to_le_bytes());
        &mut self.kv
    }
    fn u32(&mut self, k: &str, v: u32) -> &mut Self {
        self.key(k, 4).extend(v.to_le_bytes());
        self
    }
    fn f32(&mut self, k: &str, v: f32) -> &mut Self {
        self.key(k, 6).extend(v.to_le_bytes());
        self
    }
    fn bool(&mut self, k: &str, v: bool) -> &mut Self {
        self.key(k, 7).push(v as u8);
        self
    }
    fn str(&mut self, k: &str, v: &str) -> &mut Self {
        put_str(self.key(k, 8), v);
        self
    }
    fn strs(&mut self, k: &str, v: &[&str]) -> &mut Self {
        let b = self.key(k, 9);
        b.extend(8u32.to_le_bytes());
        b.extend((v.len() as u64).to_le_bytes());
        for s in v {
            put_str(b, s);
        }
        self
    }
    fn i32s(&mut self, k: &str, v: &[i32]) -> &mut Self {
        let b = self.key(k, 9);
        b.extend(5u32.to_le_bytes());
        b.extend((v.len() as u64).to_le_bytes());
        for x in v {
            b.extend(x.to_le_bytes());
        }
        self
    }
    /// `dims` fastest-varying first, as GGUF stores them.
    fn tensor(&mut self, name: &str, dims: &[u64], ty: u32, bytes: &[u8]) -> &mut Self {
        while self.data.len() % 32 != 0 {
            self.data.push(0);
        }
        self.n_tensors += 1;
        put_str(&mut self.infos, name);
        self.infos.extend((dims.len() as u32).to_le_bytes());
        for d in dims {
            self.infos.extend(d.to_le_bytes());
        }
        self.infos.extend(ty.to_le_bytes());
        self.infos.extend((self.data.len() as u64).to_le_bytes());
        self.data.extend(bytes);
        self
    }
    fn f32_tensor(&mut self, name: &str, dims: &[u64], values: &[f32]) -> &mut Self {
        let bytes: Vec<u8> = values.iter().flat_map(|x| x.to_le_bytes()).collect();
        self.tensor(name, dims, 0, &bytes)
    }
    fn finish(&self) -> Vec<u8> {
        let mut out = b"GGUF".to_vec();
        out.extend(3u32.to_le_bytes());
        out.extend(self.n_tensors.to_le_bytes());
        out.extend(self.n_kv.to_le_bytes());
        out.extend(&self.kv);
        out.extend(&self.infos);
        while out.len() % 32 != 0 {
            out.push(0);
        }
        out.extend(&self.data);
        out
    }
}

// f16 bit patterns used below: 0x3800 = 0.5, 0xbc00 = -1.0, 0x3400 = 0.25, 0x4000 = 2.0.
const F16_HALF: [u8; 2] = 0x3800u16.to_le_bytes();
const F16_MINUS_ONE: [u8; 2] = 0xbc00u16.to_le_bytes();
const F16_QUARTER: [u8; 2] = 0x3400u16.to_le_bytes();

/// qs[j] = j | (15 - j) << 4: low nibbles 0..15 (elements 0..16), high nibbles 15..0 (16..32).
fn nibbles() -> Vec<u8> {
    (0..16u8).map(|j| j | ((15 - j) << 4)).collect()
}

// ---------------------------------------------------------------- dequantisers

#[test]
fn q4_1_block() -> TestResult {
    // d = 0.5, m = -1: element j < 16 is j * 0.5 - 1, element 16 + j is (15 - j) * 0.5 - 1.
    let mut block = [F16_HALF, F16_MINUS_ONE].concat();
    block.extend(nibbles());
    let mut out = [0f32; 32];
    dequantize(GgmlType::Q4_1, &block, &mut out, "t", 0)?;
    assert_eq!(out[0], -1.0); // 0 * 0.5 - 1
    assert_eq!(out[3], 0.5); // 3 * 0.5 - 1
    assert_eq!(out[15], 6.5); // 15 * 0.5 - 1
    assert_eq!(out[16], 6.5); // high nibble of qs[0] = 15
    assert_eq!(out[31], -1.0); // high nibble of qs[15] = 0
    Ok(())
}

#[test]
fn q4_0_block() -> TestResult {
    // d = 0.25: element j < 16 is (j - 8) * 0.25, element 16 + j is (15 - j - 8) * 0.25.
    let mut block = F16_QUARTER.to_vec();
    block.extend(nibbles());
    let mut out = [0f32; 32];
    dequantize(GgmlType::Q4_0, &block, &mut out, "t", 0)?;
    assert_eq!(out[0], -2.0); // (0 - 8) * 0.25
    assert_eq!(out[8], 0.0); // (8 - 8) * 0.25
    assert_eq!(out[15], 1.75); // (15 - 8) * 0.25
    assert_eq!(out[16], 1.75); // (15 - 8) * 0.25
    assert_eq!(out[31], -2.0);
    Ok(())
}

#[test]
fn q8_0_block() -> TestResult {
    // d = 0.5, qs[j] = j - 16 as i8: element j is (j - 16) * 0.5.
    let mut block = F16_HALF.to_vec();
    block.extend((0..32).map(|j: i32| (j - 16) as i8 as u8));
    let mut out = [0f32; 32];
    dequantize(GgmlType::Q8_0, &block, &mut out, "t", 0)?;
    assert_eq!(out[0], -8.0);
    assert_eq!(out[16], 0.0);
    assert_eq!(out[31], 7.5);
    Ok(())
}

#[test]
fn float_types() -> TestResult {
    let mut out = [0f32; 2];
    dequantize(
        GgmlType::F16,
        &[F16_HALF, F16_MINUS_ONE].concat(),
        &mut out,
        "t",
        0,
    )?;
    assert_eq!(out, [0.5, -1.0]);
    // bf16 0x3fc0 = 1.5 (the top half of f32 1.5 = 0x3fc00000), 0xc020 = -2.5.
    let bf: Vec<u8> = [0x3fc0u16, 0xc020]
        .iter()
        .flat_map(|x| x.to_le_bytes())
        .collect();
    dequantize(GgmlType::BF16, &bf, &mut out, "t", 0)?;
    assert_eq!(out, [1.5, -2.5]);
    let f: Vec<u8> = [3.25f32, -0.125]
        .iter()
        .flat_map(|x| x.to_le_bytes())
        .collect();
    dequantize(GgmlType::F32, &f, &mut out, "t", 0)?;
    assert_eq!(out, [3.25, -0.125]);
    assert_eq!(f16_to_f32(0x3c01), 1.0 + 2f32.powi(-10));
    Ok(())
}

#[test]
fn dequantize_rejects_wrong_sizes_and_types() {
    let mut out = [0f32; 32];
    let e = dequantize(GgmlType::Q4_1, &[0u8; 19], &mut out, "blk.0.x", 64);
    assert!(
        matches!(e, Err(Error::Tensor { ref name, .. }) if name == "blk.0.x"),
        "{e:?}"
    );
    let e = dequantize(GgmlType(12), &[0u8; 144], &mut out, "blk.0.y", 128);
    let msg = e.err().map(|e| e.to_string()).unwrap_or_default();
    assert!(
        msg.contains("blk.0.y") && msg.contains("Q4_K") && msg.contains("offset 128"),
        "{msg}"
    );
}

// ---------------------------------------------------------------- Q/K permutation

/// llama.cpp's definition, written out: `w.reshape(n_head, 2, d/2, cols).swapaxes(1, 2)`.
fn permute_by_definition(w: &[f32], rows: usize, cols: usize, n_head: usize) -> Vec<f32> {
    let d = rows / n_head;
    let mut out = Vec::with_capacity(w.len());
    for h in 0..n_head {
        for i in 0..d / 2 {
            for half in 0..2 {
                let src = h * d + half * (d / 2) + i;
                out.extend_from_slice(&w[src * cols..(src + 1) * cols]);
            }
        }
    }
    out
}

#[test]
fn unpermute_inverts_llama_cpp_permute() -> TestResult {
    let (rows, cols, heads) = (24, 3, 3);
    let w: Vec<f32> = (0..rows * cols).map(|x| x as f32).collect();
    let gguf = permute_by_definition(&w, rows, cols, heads);
    assert_eq!(permute_rows(&w, rows, cols, heads).ok_or("shape")?, gguf);
    assert_eq!(unpermute_rows(&gguf, rows, cols, heads).ok_or("shape")?, w);
    Ok(())
}

// ---------------------------------------------------------------- a tiny llama GGUF

const HIDDEN: u64 = 32;
const HEADS: u64 = 2;
const KV_HEADS: u64 = 1;
const HEAD_DIM: u64 = 16;
const FFN: u64 = 64;
const TOKENS: [&str; 8] = [
    "<|endoftext|>",
    "<|im_start|>",
    "<|im_end|>",
    "a",
    "b",
    "ab",
    "Ġ",
    "Ġab",
];
const TEMPLATE: &str = "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}";

/// Deterministic small values in [-0.5, 0.5).
fn values(n: u64, seed: u64) -> Vec<f32> {
    let mut s = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    (0..n)
        .map(|_| {
            s = s
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((s >> 40) as f32 / (1u64 << 24) as f32) - 0.5
        })
        .collect()
}

/// Q8_0 blocks with d = 0.5 and qs from `seed`.
fn q8_blocks(n: u64, seed: u64) -> Vec<u8> {
    let qs = values(n, seed);
    qs.chunks(32)
        .flat_map(|c| {
            let mut b = F16_HALF.to_vec();
            b.extend(c.iter().map(|x| ((x * 200.0) as i8) as u8));
            b
        })
        .collect()
}

/// Q4_1 blocks with d = 0.5, m = -1 and the nibble pattern of [`nibbles`].
fn q4_1_blocks(n: u64) -> Vec<u8> {
    (0..n / 32)
        .flat_map(|_| {
            let mut b = [F16_HALF, F16_MINUS_ONE].concat();
            b.extend(nibbles());
            b
        })
        .collect()
}

fn hf_q() -> Vec<f32> {
    // q_proj [HEADS * HEAD_DIM, HIDDEN], row r column c = r + c / 100.
    (0..HEADS * HEAD_DIM * HIDDEN)
        .map(|i| (i / HIDDEN) as f32 + (i % HIDDEN) as f32 / 100.0)
        .collect()
}

fn tiny_llama() -> GgufBuilder {
    let mut g = GgufBuilder::default();
    g.str("general.architecture", "llama")
        .str("general.name", "tiny")
        .u32("llama.block_count", 1)
        .u32("llama.context_length", 64)
        .u32("llama.embedding_length", HIDDEN as u32)
        .u32("llama.feed_forward_length", FFN as u32)
        .u32("llama.attention.head_count", HEADS as u32)
        .u32("llama.attention.head_count_kv", KV_HEADS as u32)
        .f32("llama.rope.freq_base", 100000.0)
        .f32("llama.attention.layer_norm_rms_epsilon", 1e-5)
        .u32("llama.rope.dimension_count", HEAD_DIM as u32)
        .bool("tokenizer.ggml.add_bos_token", false)
        .str("tokenizer.ggml.model", "gpt2")
        .str("tokenizer.ggml.pre", "smollm")
        .strs("tokenizer.ggml.tokens", &TOKENS)
        .i32s("tokenizer.ggml.token_type", &[3, 3, 3, 1, 1, 1, 1, 1])
        .strs("tokenizer.ggml.merges", &["a b", "Ġ ab"])
        .u32("tokenizer.ggml.bos_token_id", 1)
        .u32("tokenizer.ggml.eos_token_id", 2)
        .u32("tokenizer.ggml.unknown_token_id", 0)
        .u32("tokenizer.ggml.padding_token_id", 2)
        .str("tokenizer.chat_template", TEMPLATE);
    let q = permute_by_definition(
        &hf_q(),
        (HEADS * HEAD_DIM) as usize,
        HIDDEN as usize,
        HEADS as usize,
    );
    let kv = KV_HEADS * HEAD_DIM;
    g.tensor(
        "token_embd.weight",
        &[HIDDEN, TOKENS.len() as u64],
        8,
        &q8_blocks(HIDDEN * 8, 1),
    )
    .f32_tensor(
        "blk.0.attn_norm.weight",
        &[HIDDEN],
        &values(HIDDEN, 2)
            .iter()
            .map(|x| 1.0 + x)
            .collect::<Vec<_>>(),
    )
    .f32_tensor("blk.0.attn_q.weight", &[HIDDEN, HEADS * HEAD_DIM], &q)
    .tensor("blk.0.attn_k.weight", &[HIDDEN, kv], 2, &{
        let mut b = Vec::new();
        for _ in 0..kv * HIDDEN / 32 {
            b.extend(F16_QUARTER);
            b.extend(nibbles());
        }
        b
    })
    .tensor(
        "blk.0.attn_v.weight",
        &[HIDDEN, kv],
        8,
        &q8_blocks(kv * HIDDEN, 3),
    )
    .tensor(
        "blk.0.attn_output.weight",
        &[HEADS * HEAD_DIM, HIDDEN],
        3,
        &q4_1_blocks(HIDDEN * HIDDEN),
    )
    .f32_tensor(
        "blk.0.ffn_norm.weight",
        &[HIDDEN],
        &vec![1.0; HIDDEN as usize],
    )
    .tensor(
        "blk.0.ffn_gate.weight",
        &[HIDDEN, FFN],
        8,
        &q8_blocks(HIDDEN * FFN, 4),
    )
    .tensor(
        "blk.0.ffn_up.weight",
        &[HIDDEN, FFN],
        8,
        &q8_blocks(HIDDEN * FFN, 5),
    )
    .tensor(
        "blk.0.ffn_down.weight",
        &[FFN, HIDDEN],
        8,
        &q8_blocks(HIDDEN * FFN, 6),
    )
    .tensor(
        "output_norm.weight",
        &[HIDDEN],
        1,
        &[0x00u8, 0x3c].repeat(HIDDEN as usize),
    );
    g
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> Result<std::path::PathBuf, std::io::Error> {
    let p = dir.join(name);
    std::fs::write(&p, bytes)?;
    Ok(p)
}

fn safetensor(dir: &Path, name: &str) -> Result<Vec<f32>, Box<dyn std::error::Error>> {
    let bytes = std::fs::read(dir.join("model.safetensors"))?;
    let st = safetensors::SafeTensors::deserialize(&bytes)?;
    let t = st.tensor(name)?;
    assert_eq!(t.dtype(), safetensors::Dtype::F32);
    Ok(t.data()
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect())
}

#[test]
fn tiny_model_imports_loads_and_tokenizes() -> TestResult {
    let tmp = tempfile::tempdir()?;
    let gguf = write(tmp.path(), "tiny.gguf", &tiny_llama().finish())?;
    let out = tmp.path().join("tiny");
    let report = import(&gguf, &out, &ImportOptions::default())?;
    assert_eq!(report.tensors.len(), 11);
    let shown = report.to_string();
    assert!(
        shown.contains("tied embeddings") && shown.contains("1 Q4_0"),
        "{shown}"
    );
    for f in [
        "config.json",
        "generation_config.json",
        "model.safetensors",
        "tokenizer.json",
        "tokenizer_config.json",
    ] {
        assert!(out.join(f).is_file(), "{f} missing");
    }
    // Nothing but the output directory and the inputs is left beside it.
    let mut names: Vec<String> = std::fs::read_dir(tmp.path())?
        .map(|e| e.map(|e| e.file_name().to_string_lossy().into_owned()))
        .collect::<Result<_, _>>()?;
    names.sort();
    assert_eq!(names, ["tiny", "tiny.gguf"]);

    // q_proj is back in HF row order; attn_output is the Q4_1 pattern (element j of a block:
    // j * 0.5 - 1 for j < 16); output_norm is F16 1.0.
    assert_eq!(
        safetensor(&out, "model.layers.0.self_attn.q_proj.weight")?,
        hf_q()
    );
    let o = safetensor(&out, "model.layers.0.self_attn.o_proj.weight")?;
    assert_eq!((o[1], o[16], o[33]), (-0.5, 6.5, -0.5));
    assert_eq!(
        safetensor(&out, "model.norm.weight")?,
        vec![1.0; HIDDEN as usize]
    );

    // Our loader takes the directory as it is, and the forward runs.
    let (model, load) = Model::from_pretrained(&out, LoadOptions::cpu())?;
    assert!(load.unused.is_empty(), "{:?}", load.unused);
    assert_eq!(model.config().vocab_size(), 8);
    let batch =
        Batch::from_sequences(&[vec![1, 3, 5, 7]], 0, PaddingSide::Right, tch::Device::Cpu)?;
    let lp = model
        .forward_batch(
            &batch,
            &ForwardOptions {
                values: false,
                ..ForwardOptions::default()
            },
        )?
        .logprobs;
    assert!(lp.isfinite().all().int64_value(&[]) == 1);

    // tokenizer.json: byte-level BPE with the merges; special tokens are not split.
    let tok =
        tokenizers::Tokenizer::from_file(out.join("tokenizer.json")).map_err(|e| e.to_string())?;
    let enc = tok
        .encode("<|im_start|>ab ab<|im_end|>", false)
        .map_err(|e| e.to_string())?;
    assert_eq!(enc.get_ids(), [1, 5, 7, 2]);
    assert_eq!(
        tok.decode(&[5, 7, 2], true).map_err(|e| e.to_string())?,
        "ab ab"
    );

    // tokenizer_config.json carries the template and the special tokens.
    let t = steptool_mdp::HfChatTemplate::from_tokenizer_config(out.join("tokenizer_config.json"))?;
    let text = t.render(
        &[steptool_mdp::Message::new(steptool_mdp::Role::User, "ab")],
        true,
    )?;
    assert_eq!(
        text,
        "<|im_start|>user\nab<|im_end|>\n<|im_start|>assistant\n"
    );
    let tc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("tokenizer_config.json"))?)?;
    assert_eq!(
        (tc["bos_token"].as_str(), tc["eos_token"].as_str()),
        (Some("<|im_start|>"), Some("<|im_end|>"))
    );
    let cfg: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("config.json"))?)?;
    assert_eq!(
        (cfg["rms_norm_eps"].as_f64(), cfg["rope_theta"].as_f64()),
        (Some(1e-5), Some(1e5))
    );
    assert_eq!(cfg["eos_token_id"].as_u64(), Some(2));

    // An existing directory is never overwritten.
    let again = import(&gguf, &out, &ImportOptions::default());
    assert!(matches!(again, Err(Error::OutputExists(_))), "{again:?}");
    Ok(())
}

#[test]
fn bf16_output_rounds_the_weights() -> TestResult {
    let tmp = tempfile::tempdir()?;
    let gguf = write(tmp.path(), "tiny.gguf", &tiny_llama().finish())?;
    let out = tmp.path().join("bf16");
    import(
        &gguf,
        &out,
        &ImportOptions {
            dtype: OutputDtype::Bf16,
        },
    )?;
    let bytes = std::fs::read(out.join("model.safetensors"))?;
    let st = safetensors::SafeTensors::deserialize(&bytes)?;
    let q = st.tensor("model.layers.0.self_attn.q_proj.weight")?;
    assert_eq!(q.dtype(), safetensors::Dtype::BF16);
    // Row 1, column 0 is 1.0 exactly (0x3f80 in bf16).
    let at = HIDDEN as usize * 2;
    assert_eq!(&q.data()[at..at + 2], &0x3f80u16.to_le_bytes());
    let cfg: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("config.json"))?)?;
    assert_eq!(cfg["torch_dtype"].as_str(), Some("bfloat16"));
    Ok(())
}

// ---------------------------------------------------------------- errors

fn parse_err(bytes: Vec<u8>) -> String {
    match GgufFile::from_bytes(bytes) {
        Ok(_) => "parsed".into(),
        Err(e) => e.to_string(),
    }
}

#[test]
fn truncated_files_name_what_and_where() -> TestResult {
    let full = tiny_llama().finish();
    let g = GgufFile::from_bytes(full.clone())?;
    let data_start = g.data_start() as usize;
    // Cut inside the metadata, inside the tensor infos, and inside the last tensor's data.
    let in_meta = parse_err(full[..40].to_vec());
    assert!(
        in_meta.contains("truncated at byte") && in_meta.contains("metadata"),
        "{in_meta}"
    );
    let in_infos = parse_err(full[..data_start - 40].to_vec());
    assert!(
        in_infos.contains("tensor info #10 (`output_norm.weight`)"),
        "{in_infos}"
    );
    let in_data = parse_err(full[..full.len() - 1].to_vec());
    assert!(
        in_data.contains("tensor `output_norm.weight`")
            && in_data.contains("end past the end of the file"),
        "{in_data}"
    );
    // The importer names the file, and leaves no output behind.
    let tmp = tempfile::tempdir()?;
    let gguf = write(tmp.path(), "cut.gguf", &full[..full.len() - 10])?;
    let e = import(&gguf, &tmp.path().join("out"), &ImportOptions::default());
    let Err(Error::Parse {
        path,
        source: ParseError::TensorOutOfBounds { name, offset, .. },
    }) = e
    else {
        return Err(format!("expected an out-of-bounds error, got {e:?}").into());
    };
    assert_eq!((path, name.as_str()), (gguf, "output_norm.weight"));
    assert!(offset as usize >= data_start);
    assert!(!tmp.path().join("out").exists());
    Ok(())
}

#[test]
fn corrupt_headers_are_rejected() {
    let mut bad_magic = tiny_llama().finish();
    bad_magic[0] = b'X';
    assert!(parse_err(bad_magic).contains("not a GGUF file"));
    let mut version = tiny_llama().finish();
    version[4] = 9;
    assert!(parse_err(version).contains("version 9"));
    // The first key's length (bytes 24..32) set to 2^40: truncated, not a 1 TB allocation.
    let mut long = tiny_llama().finish();
    long[24..32].copy_from_slice(&(1u64 << 40).to_le_bytes());
    let e = parse_err(long);
    assert!(
        e.contains("truncated at byte 32") && e.contains("metadata key #0"),
        "{e}"
    );
    // A tensor count beyond what the file can hold.
    let mut count = tiny_llama().finish();
    count[8..16].copy_from_slice(&u64::MAX.to_le_bytes());
    let e = parse_err(count);
    assert!(e.contains("tensor info #11"), "{e}");
}

#[test]
fn unsupported_types_and_architectures_are_named() -> TestResult {
    let tmp = tempfile::tempdir()?;
    let mut g = tiny_llama();
    // A Q4_K (type 12) tensor: 256-element super-blocks of 144 bytes.
    g.tensor("blk.0.extra.weight", &[256], 12, &[0u8; 144]);
    let gguf = write(tmp.path(), "q4k.gguf", &g.finish())?;
    let e = import(&gguf, &tmp.path().join("out"), &ImportOptions::default())
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(
        e.contains("blk.0.extra.weight") && e.contains("Q4_K (12) is not supported"),
        "{e}"
    );

    let mut g = GgufBuilder::default();
    g.str("general.architecture", "mamba");
    let gguf = write(tmp.path(), "mamba.gguf", &g.finish())?;
    let e = import(&gguf, &tmp.path().join("out"), &ImportOptions::default());
    assert!(
        matches!(e, Err(Error::UnsupportedArchitecture(ref a)) if a == "mamba"),
        "{e:?}"
    );

    let mut g = tiny_llama();
    g.tensor("blk.0.attn_qkv.weight", &[32], 0, &[0u8; 128]);
    let gguf = write(tmp.path(), "fused.gguf", &g.finish())?;
    let e = import(&gguf, &tmp.path().join("out"), &ImportOptions::default())
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(
        e.contains("blk.0.attn_qkv.weight") && e.contains("no Hugging Face counterpart"),
        "{e}"
    );
    assert!(!tmp.path().join("out").exists());
    Ok(())
}
