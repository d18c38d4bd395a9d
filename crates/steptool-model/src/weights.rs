//! Safetensors checkpoints: memory-mapped reading (single file or sharded index), writing, and
//! the [`LoadReport`] of what a load used.
//!
//! A checkpoint directory holds either `model.safetensors` or `model.safetensors.index.json`
//! (`{"weight_map": {tensor name: shard file}}`) plus the shards. Files are memory-mapped; only
//! the header is parsed when a file is opened, and each tensor is copied into a libtorch tensor
//! when it is asked for (then converted to the requested dtype and moved to the device), so peak
//! host memory is one tensor, not the checkpoint.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fs::File;
use std::path::{Path, PathBuf};

use memmap2::Mmap;
use safetensors::tensor::{Dtype, TensorInfo};
use serde::Deserialize;
use tch::{Device, Kind, Tensor};

use crate::{Error, Result};

/// The single-file checkpoint name.
pub const SINGLE_FILE: &str = "model.safetensors";
/// The sharded checkpoint index name.
pub const INDEX_FILE: &str = "model.safetensors.index.json";

struct Shard {
    path: PathBuf,
    mmap: Mmap,
    header_len: usize,
    tensors: HashMap<String, TensorInfo>,
}

/// A set of memory-mapped safetensors files, addressed by tensor name.
pub struct Checkpoint {
    shards: Vec<Shard>,
    index: BTreeMap<String, usize>,
    location: String,
}

impl std::fmt::Debug for Checkpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Checkpoint")
            .field("location", &self.location)
            .field(
                "files",
                &self.shards.iter().map(|s| &s.path).collect::<Vec<_>>(),
            )
            .field("tensors", &self.index.len())
            .finish()
    }
}

#[derive(Deserialize)]
struct IndexJson {
    weight_map: BTreeMap<String, String>,
}

fn open_shard(path: &Path) -> Result<Shard> {
    let file = File::open(path).map_err(|source| Error::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let mmap = map_file(&file, path)?;
    let (header_len, meta) =
        safetensors::SafeTensors::read_metadata(&mmap).map_err(|source| Error::Safetensors {
            path: path.to_path_buf(),
            source,
        })?;
    let tensors = meta
        .tensors()
        .into_iter()
        .map(|(name, info)| (name, info.clone()))
        .collect();
    Ok(Shard {
        path: path.to_path_buf(),
        mmap,
        header_len,
        tensors,
    })
}

#[allow(unsafe_code)]
fn map_file(file: &File, path: &Path) -> Result<Mmap> {
    // SAFETY: the mapping is read-only and lives as long as the `Checkpoint`; a checkpoint file
    // modified by another process while it is loaded is outside what any loader can guard
    // against (safetensors' own Python loader maps files the same way). Headers and offsets are
    // validated by `read_metadata` before any tensor bytes are read.
    unsafe { Mmap::map(file) }.map_err(|source| Error::Io {
        path: path.to_path_buf(),
        source,
    })
}

fn kind_of(dtype: Dtype) -> Option<Kind> {
    match dtype {
        Dtype::F32 => Some(Kind::Float),
        Dtype::F16 => Some(Kind::Half),
        Dtype::BF16 => Some(Kind::BFloat16),
        Dtype::F64 => Some(Kind::Double),
        _ => None,
    }
}

impl Checkpoint {
    /// Opens `dir/model.safetensors.index.json` (sharded) or else `dir/model.safetensors`.
    pub fn open_dir(dir: &Path) -> Result<Self> {
        let index_path = dir.join(INDEX_FILE);
        if index_path.exists() {
            return Self::open_index(&index_path);
        }
        let single = dir.join(SINGLE_FILE);
        if !single.exists() {
            return Err(Error::Io {
                path: single,
                source: std::io::Error::new(
                    std::io::ErrorKind::NotFound,
                    format!("neither {SINGLE_FILE} nor {INDEX_FILE} in this directory"),
                ),
            });
        }
        Self::open_files(&[single])
    }

    /// Opens a sharded checkpoint from its index file.
    pub fn open_index(index_path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(index_path).map_err(|source| Error::Io {
            path: index_path.to_path_buf(),
            source,
        })?;
        let index: IndexJson = serde_json::from_str(&text).map_err(|source| Error::Json {
            path: index_path.to_path_buf(),
            source,
        })?;
        let dir = index_path.parent().unwrap_or(Path::new("."));
        let files: BTreeSet<&String> = index.weight_map.values().collect();
        let paths: Vec<PathBuf> = files.iter().map(|f| dir.join(f)).collect();
        let mut ckpt = Self::open_files(&paths)?;
        ckpt.location = index_path.display().to_string();
        // Every tensor the index lists must be in the shard it names.
        for (name, file) in &index.weight_map {
            let want = dir.join(file);
            match ckpt.index.get(name) {
                Some(&i) if ckpt.shards[i].path == want => {}
                Some(&i) => {
                    return Err(Error::Index {
                        path: index_path.to_path_buf(),
                        message: format!(
                            "tensor `{name}` is listed in {file} but found in {}",
                            ckpt.shards[i].path.display()
                        ),
                    })
                }
                None => {
                    return Err(Error::Index {
                        path: index_path.to_path_buf(),
                        message: format!(
                            "tensor `{name}` is listed in {file} but not stored there"
                        ),
                    })
                }
            }
        }
        Ok(ckpt)
    }

    /// Opens one or more safetensors files as one checkpoint; a tensor name in two files is an
    /// error.
    pub fn open_files(paths: &[PathBuf]) -> Result<Self> {
        let mut shards = Vec::with_capacity(paths.len());
        let mut index = BTreeMap::new();
        for path in paths {
            let shard = open_shard(path)?;
            let i = shards.len();
            for name in shard.tensors.keys() {
                if let Some(&j) = index.get(name) {
                    let first: &Shard = &shards[j];
                    return Err(Error::Index {
                        path: path.clone(),
                        message: format!(
                            "tensor `{name}` is also stored in {}",
                            first.path.display()
                        ),
                    });
                }
                index.insert(name.clone(), i);
            }
            shards.push(shard);
        }
        let location = match paths {
            [one] => one.display().to_string(),
            _ => format!("{} safetensors files", paths.len()),
        };
        Ok(Checkpoint {
            shards,
            index,
            location,
        })
    }

    /// All tensor names, sorted.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.index.keys().map(String::as_str)
    }

    /// Whether the checkpoint holds `name`.
    pub fn contains(&self, name: &str) -> bool {
        self.index.contains_key(name)
    }

    /// Where tensors are read from (file or index), for messages.
    pub fn location(&self) -> &str {
        &self.location
    }

    /// The shape of `name`, if present.
    pub fn shape(&self, name: &str) -> Option<Vec<i64>> {
        let shard = &self.shards[*self.index.get(name)?];
        shard
            .tensors
            .get(name)
            .map(|t| t.shape.iter().map(|&d| d as i64).collect())
    }

    /// Reads `name`, checks its shape against `expected`, and returns it converted to `kind` on
    /// `device` (not requiring grad).
    pub fn tensor(
        &self,
        name: &str,
        expected: &[i64],
        kind: Kind,
        device: Device,
    ) -> Result<Tensor> {
        let i = *self.index.get(name).ok_or_else(|| Error::MissingTensor {
            name: name.to_string(),
            location: self.location.clone(),
        })?;
        let shard = &self.shards[i];
        let info = shard
            .tensors
            .get(name)
            .ok_or_else(|| Error::MissingTensor {
                name: name.to_string(),
                location: shard.path.display().to_string(),
            })?;
        let found: Vec<i64> = info.shape.iter().map(|&d| d as i64).collect();
        if found != expected {
            return Err(Error::ShapeMismatch {
                name: name.to_string(),
                path: shard.path.clone(),
                expected: expected.to_vec(),
                found,
            });
        }
        let src_kind = kind_of(info.dtype).ok_or_else(|| Error::UnsupportedDtype {
            name: name.to_string(),
            path: shard.path.clone(),
            dtype: format!("{:?}", info.dtype),
        })?;
        let start = 8 + shard.header_len + info.data_offsets.0;
        let end = 8 + shard.header_len + info.data_offsets.1;
        let bytes = &shard.mmap[start..end];
        let t = Tensor::f_from_data_size(bytes, &found, src_kind)?;
        let t = if src_kind == kind {
            t
        } else {
            t.f_to_kind(kind)?
        };
        let t = if device == Device::Cpu {
            t
        } else {
            t.f_to_device(device)?
        };
        Ok(t)
    }
}

/// What a load did: which checkpoint tensors were used, which were not, which optional ones were
/// absent.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LoadReport {
    /// Tensors copied into the model.
    pub loaded: Vec<String>,
    /// Tensors in the checkpoint the model does not use (e.g. `rotary_emb.inv_freq`).
    pub unused: Vec<String>,
    /// Optional tensors the checkpoint lacks (a value head that will be freshly initialised, a
    /// tied `lm_head.weight`).
    pub missing_optional: Vec<String>,
}

/// Writes `tensors` as one safetensors file, atomically (temporary file + rename).
pub fn write_safetensors(tensors: &[(String, Tensor)], path: &Path) -> Result<()> {
    struct Raw {
        dtype: Dtype,
        shape: Vec<usize>,
        data: Vec<u8>,
    }
    impl safetensors::View for &Raw {
        fn dtype(&self) -> Dtype {
            self.dtype
        }
        fn shape(&self) -> &[usize] {
            &self.shape
        }
        fn data(&self) -> std::borrow::Cow<'_, [u8]> {
            std::borrow::Cow::Borrowed(&self.data)
        }
        fn data_len(&self) -> usize {
            self.data.len()
        }
    }
    let mut raws = Vec::with_capacity(tensors.len());
    for (name, t) in tensors {
        let t = t.f_detach()?.f_to_device(Device::Cpu)?.f_contiguous()?;
        let (dtype, elt) = match t.f_kind()? {
            Kind::Float => (Dtype::F32, 4),
            Kind::Half => (Dtype::F16, 2),
            Kind::BFloat16 => (Dtype::BF16, 2),
            Kind::Double => (Dtype::F64, 8),
            other => {
                return Err(Error::UnsupportedDtype {
                    name: name.clone(),
                    path: path.to_path_buf(),
                    dtype: format!("{other:?}"),
                })
            }
        };
        let shape: Vec<usize> = t.size().iter().map(|&d| d as usize).collect();
        let numel = shape.iter().product::<usize>();
        let mut data = vec![0u8; numel * elt];
        t.f_copy_data_u8(&mut data, numel)?;
        raws.push((name.clone(), Raw { dtype, shape, data }));
    }
    let tmp = steptool_mdp::atomic::temp_sibling(path);
    // transformers refuses safetensors files without `format: pt` metadata.
    let metadata = Some(HashMap::from([("format".to_string(), "pt".to_string())]));
    safetensors::serialize_to_file(raws.iter().map(|(n, r)| (n.as_str(), r)), &metadata, &tmp)
        .map_err(|source| Error::Safetensors {
            path: tmp.clone(),
            source,
        })?;
    std::fs::rename(&tmp, path).map_err(|source| Error::Io {
        path: path.to_path_buf(),
        source,
    })
}

/// Writes `text` to `path` atomically.
pub(crate) fn write_text(path: &Path, text: &str) -> Result<()> {
    steptool_mdp::atomic::write_atomic(path, text).map_err(|source| Error::Io {
        path: path.to_path_buf(),
        source,
    })
}
