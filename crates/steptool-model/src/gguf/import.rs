//! `import`: a GGUF file → a Hugging Face checkpoint directory, written atomically.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use serde_json::{json, Map, Value as Json};

use super::dequant::f32_to_bf16;
use super::error::{Error, Result};
use super::hf::{config_json, map_tensor, tokenizer_files, Hparams};
use super::permute::unpermute_rows;
use super::reader::{GgufFile, TensorInfo};

/// The dtype of the weights written to `model.safetensors`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OutputDtype {
    /// `F32`: exact (every supported GGUF type dequantises exactly to f32). The default.
    #[default]
    F32,
    /// `BF16`: half the size, rounded to nearest even.
    Bf16,
}

impl OutputDtype {
    fn safetensors(self) -> &'static str {
        match self {
            OutputDtype::F32 => "F32",
            OutputDtype::Bf16 => "BF16",
        }
    }

    fn torch(self) -> &'static str {
        match self {
            OutputDtype::F32 => "float32",
            OutputDtype::Bf16 => "bfloat16",
        }
    }

    fn bytes(self) -> u64 {
        match self {
            OutputDtype::F32 => 4,
            OutputDtype::Bf16 => 2,
        }
    }
}

impl std::str::FromStr for OutputDtype {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s {
            "f32" => Ok(OutputDtype::F32),
            "bf16" => Ok(OutputDtype::Bf16),
            other => Err(format!("{other:?}: expected f32 or bf16")),
        }
    }
}

/// Options of [`import`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ImportOptions {
    /// Weight dtype in the output (default f32).
    pub dtype: OutputDtype,
}

/// What [`import`] wrote.
#[derive(Debug, Clone, PartialEq)]
pub struct ImportReport {
    /// The output directory.
    pub out_dir: PathBuf,
    /// `general.name`, when the file has one.
    pub model_name: Option<String>,
    /// The hyper-parameters.
    pub hparams: Hparams,
    /// Tensors written, with their GGUF type name: `(hf_name, type)`.
    pub tensors: Vec<(String, &'static str)>,
    /// Parameters written.
    pub parameters: u64,
    /// Output weight dtype.
    pub dtype: OutputDtype,
}

impl std::fmt::Display for ImportReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let hp = &self.hparams;
        let mut types: Vec<(&str, usize)> = Vec::new();
        for (_, t) in &self.tensors {
            match types.iter_mut().find(|(n, _)| n == t) {
                Some((_, c)) => *c += 1,
                None => types.push((t, 1)),
            }
        }
        let types: Vec<String> = types.iter().map(|(t, c)| format!("{c} {t}")).collect();
        writeln!(
            f,
            "imported {} into {}",
            self.model_name.as_deref().unwrap_or("a GGUF model"),
            self.out_dir.display()
        )?;
        writeln!(
            f,
            "  {}: {} layers, hidden {}, {} heads ({} KV), vocab {}, {}",
            hp.architecture,
            hp.num_layers,
            hp.hidden_size,
            hp.num_heads,
            hp.num_kv_heads,
            hp.vocab_size,
            if hp.tied {
                "tied embeddings"
            } else {
                "separate LM head"
            }
        )?;
        write!(
            f,
            "  {} tensors ({}), {:.1} M parameters written as {}",
            self.tensors.len(),
            types.join(", "),
            self.parameters as f64 / 1e6,
            self.dtype.safetensors()
        )
    }
}

/// One planned output tensor.
struct Planned<'a> {
    info: &'a TensorInfo,
    hf_name: String,
    shape: Vec<u64>,
    unpermute_heads: Option<u64>,
}

/// Imports `gguf` into a new directory `out`: `config.json`, `generation_config.json`,
/// `model.safetensors`, `tokenizer.json`, `tokenizer_config.json`.
///
/// Everything is checked (architecture, tensor names, types, shapes, tokenizer) before any
/// byte is written; the files go into a temporary directory next to `out`, which is renamed to
/// `out` at the end. `out` must not exist: an existing directory is never overwritten, and a
/// failed import leaves nothing behind.
pub fn import(gguf: &Path, out: &Path, opts: &ImportOptions) -> Result<ImportReport> {
    if out.exists() {
        return Err(Error::OutputExists(out.to_path_buf()));
    }
    let g = GgufFile::open(gguf)?;
    let hp = Hparams::from_gguf(&g)?;
    let tok = tokenizer_files(&g, &hp)?;
    let config = config_json(&hp, &tok, opts.dtype.torch());
    let plan = plan(&g, &hp)?;

    let name = out.file_name().ok_or_else(|| {
        Error::io(
            out,
            std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                "the output path has no directory name",
            ),
        )
    })?;
    let parent = match out.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    std::fs::create_dir_all(&parent).map_err(|e| Error::io(&parent, e))?;
    let tmp = parent.join(format!(
        ".{}.import-{}",
        name.to_string_lossy(),
        std::process::id()
    ));
    if tmp.exists() {
        std::fs::remove_dir_all(&tmp).map_err(|e| Error::io(&tmp, e))?;
    }
    std::fs::create_dir(&tmp).map_err(|e| Error::io(&tmp, e))?;
    let written = write_all(&g, &plan, &tmp, opts.dtype, &config, &tok).and_then(|()| {
        if out.exists() {
            return Err(Error::OutputExists(out.to_path_buf()));
        }
        std::fs::rename(&tmp, out).map_err(|e| Error::io(out, e))
    });
    if let Err(e) = written {
        // Best effort: the first error is the one to report.
        let _ = std::fs::remove_dir_all(&tmp);
        return Err(e);
    }
    Ok(ImportReport {
        out_dir: out.to_path_buf(),
        model_name: g
            .metadata()
            .get("general.name")
            .and_then(|v| v.as_str())
            .map(str::to_string),
        tensors: plan
            .iter()
            .map(|p| (p.hf_name.clone(), p.info.ty.name()))
            .collect(),
        parameters: plan.iter().map(|p| p.info.elements()).sum(),
        dtype: opts.dtype,
        hparams: hp,
    })
}

fn plan<'a>(g: &'a GgufFile, hp: &Hparams) -> Result<Vec<Planned<'a>>> {
    let mut plan = Vec::with_capacity(g.tensors().len());
    for info in g.tensors() {
        if info.ty.block().is_none() {
            return Err(Error::UnsupportedType {
                name: info.name.clone(),
                offset: info.offset,
                type_name: info.ty.name(),
                type_id: info.ty.0,
            });
        }
        let m = map_tensor(&info.name, hp)?;
        let shape = info.shape();
        if let Some(heads) = m.unpermute_heads {
            let rows = shape[0];
            if rows != heads * hp.head_dim || hp.head_dim % 2 != 0 {
                return Err(Error::Tensor {
                    name: info.name.clone(),
                    message: format!(
                        "{rows} rows, but {heads} heads of size {} (even) were expected",
                        hp.head_dim
                    ),
                });
            }
        }
        plan.push(Planned {
            info,
            hf_name: m.hf_name,
            shape,
            unpermute_heads: m.unpermute_heads,
        });
    }
    Ok(plan)
}

fn write_json(path: &Path, value: &Json) -> Result<()> {
    let file = File::create(path).map_err(|e| Error::io(path, e))?;
    let mut w = BufWriter::new(file);
    serde_json::to_writer_pretty(&mut w, value).map_err(|source| Error::Json {
        path: path.to_path_buf(),
        source,
    })?;
    w.write_all(b"\n").map_err(|e| Error::io(path, e))?;
    w.flush().map_err(|e| Error::io(path, e))
}

fn write_all(
    g: &GgufFile,
    plan: &[Planned<'_>],
    dir: &Path,
    dtype: OutputDtype,
    config: &Json,
    tok: &super::hf::TokenizerFiles,
) -> Result<()> {
    write_json(&dir.join("config.json"), config)?;
    write_json(&dir.join("generation_config.json"), &tok.generation_config)?;
    write_json(&dir.join("tokenizer.json"), &tok.tokenizer)?;
    write_json(&dir.join("tokenizer_config.json"), &tok.tokenizer_config)?;
    write_safetensors(g, plan, &dir.join("model.safetensors"), dtype)
}

/// Streams the tensors into one safetensors file: `u64` header length, the JSON header (padded
/// with spaces to a multiple of 8), then each tensor's bytes; host memory peaks at one tensor.
fn write_safetensors(
    g: &GgufFile,
    plan: &[Planned<'_>],
    path: &Path,
    dtype: OutputDtype,
) -> Result<()> {
    let mut header = Map::new();
    header.insert("__metadata__".into(), json!({"format": "pt"}));
    let mut start = 0u64;
    for p in plan {
        let end = start + p.info.elements() * dtype.bytes();
        header.insert(
            p.hf_name.clone(),
            json!({"dtype": dtype.safetensors(), "shape": p.shape, "data_offsets": [start, end]}),
        );
        start = end;
    }
    let mut text = serde_json::to_string(&Json::Object(header)).map_err(|source| Error::Json {
        path: path.to_path_buf(),
        source,
    })?;
    while text.len() % 8 != 0 {
        text.push(' ');
    }
    let io = |e| Error::io(path, e);
    let file = File::create(path).map_err(io)?;
    let mut w = BufWriter::with_capacity(1 << 20, file);
    w.write_all(&(text.len() as u64).to_le_bytes())
        .map_err(io)?;
    w.write_all(text.as_bytes()).map_err(io)?;
    for p in plan {
        let mut values = g.dequantize(p.info)?;
        if let Some(heads) = p.unpermute_heads {
            let rows = p.shape[0] as usize;
            let cols = (p.info.elements() / p.shape[0]) as usize;
            values = unpermute_rows(&values, rows, cols, heads as usize).ok_or_else(|| {
                Error::Tensor {
                    name: p.info.name.clone(),
                    message: format!("cannot split {rows} rows into {heads} heads"),
                }
            })?;
        }
        let bytes: Vec<u8> = match dtype {
            OutputDtype::F32 => values.iter().flat_map(|x| x.to_le_bytes()).collect(),
            OutputDtype::Bf16 => values
                .iter()
                .flat_map(|&x| f32_to_bf16(x).to_le_bytes())
                .collect(),
        };
        w.write_all(&bytes).map_err(io)?;
    }
    let file = w
        .into_inner()
        .map_err(|e| Error::io(path, e.into_error()))?;
    file.sync_all().map_err(io)
}
