//! The GGUF container: header, metadata, tensor infos, and bounds-checked tensor data.
//!
//! Layout (llama.cpp `docs/gguf.md`, version 3; all integers little-endian):
//!
//! ```text
//! u32 magic "GGUF" | u32 version | u64 tensor_count | u64 metadata_kv_count
//! metadata_kv_count x { string key | u32 value_type | value }
//! tensor_count x { string name | u32 n_dims | u64 dims[n_dims] | u32 ggml_type | u64 offset }
//! padding to `general.alignment` (default 32) | tensor data (offsets relative to its start)
//! ```
//!
//! A string is `u64 len` + UTF-8 bytes; an array is `u32 element_type | u64 len | elements`.
//! `dims[0]` is the fastest-varying dimension, so a row-major `[rows, cols]` matrix is stored with
//! `dims = [cols, rows]`. Every length and offset is checked against the bytes that are there
//! before anything is allocated or read, and errors name the byte offset and the key or tensor.

use std::collections::{BTreeMap, HashSet};
use std::fs::File;
use std::path::Path;

use memmap2::Mmap;

use super::dequant::{dequantize, GgmlType};
use super::error::{Error, ParseError, Result};

/// A metadata value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// `UINT8`, `UINT16`, `UINT32`, `UINT64`.
    UInt(u64),
    /// `INT8`, `INT16`, `INT32`, `INT64`.
    Int(i64),
    /// `FLOAT32` (widened), `FLOAT64`.
    Float(f64),
    /// `BOOL`.
    Bool(bool),
    /// `STRING`.
    String(String),
    /// `ARRAY`.
    Array(Vec<Value>),
}

impl Value {
    /// The value as a non-negative integer.
    pub fn as_u64(&self) -> Option<u64> {
        match *self {
            Value::UInt(v) => Some(v),
            Value::Int(v) => u64::try_from(v).ok(),
            _ => None,
        }
    }

    /// The value as a signed integer.
    pub fn as_i64(&self) -> Option<i64> {
        match *self {
            Value::UInt(v) => i64::try_from(v).ok(),
            Value::Int(v) => Some(v),
            _ => None,
        }
    }

    /// The value as a float (integers convert).
    pub fn as_f64(&self) -> Option<f64> {
        match *self {
            Value::Float(v) => Some(v),
            Value::UInt(v) => Some(v as f64),
            Value::Int(v) => Some(v as f64),
            _ => None,
        }
    }

    /// The value as a string.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(s) => Some(s),
            _ => None,
        }
    }

    fn kind(&self) -> &'static str {
        match self {
            Value::UInt(_) => "an unsigned integer",
            Value::Int(_) => "an integer",
            Value::Float(_) => "a float",
            Value::Bool(_) => "a bool",
            Value::String(_) => "a string",
            Value::Array(_) => "an array",
        }
    }
}

/// One tensor's header entry.
#[derive(Debug, Clone, PartialEq)]
pub struct TensorInfo {
    /// Its name (`blk.0.attn_q.weight`).
    pub name: String,
    /// GGUF dims, fastest-varying first.
    pub dims: Vec<u64>,
    /// Its ggml type.
    pub ty: GgmlType,
    /// Data offset relative to the start of the data section.
    pub offset: u64,
}

impl TensorInfo {
    /// Number of elements.
    pub fn elements(&self) -> u64 {
        self.dims.iter().product()
    }

    /// The row-major shape (slowest-varying first), as PyTorch and safetensors write it.
    pub fn shape(&self) -> Vec<u64> {
        self.dims.iter().rev().copied().collect()
    }
}

enum Bytes {
    Mapped(Mmap),
    Owned(Vec<u8>),
}

impl std::ops::Deref for Bytes {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        match self {
            Bytes::Mapped(m) => m,
            Bytes::Owned(v) => v,
        }
    }
}

/// A parsed GGUF file: metadata and tensor infos, tensor data read on demand.
pub struct GgufFile {
    bytes: Bytes,
    version: u32,
    metadata: BTreeMap<String, Value>,
    tensors: Vec<TensorInfo>,
    data_start: u64,
}

impl std::fmt::Debug for GgufFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GgufFile")
            .field("version", &self.version)
            .field("metadata_keys", &self.metadata.len())
            .field("tensors", &self.tensors.len())
            .field("data_start", &self.data_start)
            .finish()
    }
}

#[allow(unsafe_code)]
fn map_file(file: &File, path: &Path) -> Result<Mmap> {
    // SAFETY: read-only mapping that lives as long as the `GgufFile`; every offset is checked
    // against the mapping's length before it is read. A file changed by another process while
    // mapped is outside what a reader can guard against (llama.cpp maps GGUF files the same way).
    unsafe { Mmap::map(file) }.map_err(|e| Error::io(path, e))
}

impl GgufFile {
    /// Memory-maps and parses `path`.
    pub fn open(path: &Path) -> Result<Self> {
        let file = File::open(path).map_err(|e| Error::io(path, e))?;
        let mmap = map_file(&file, path)?;
        Self::parse(Bytes::Mapped(mmap)).map_err(|source| Error::Parse {
            path: path.to_path_buf(),
            source,
        })
    }

    /// Parses a GGUF file held in memory.
    pub fn from_bytes(bytes: Vec<u8>) -> Result<Self> {
        Ok(Self::parse(Bytes::Owned(bytes))?)
    }

    fn parse(bytes: Bytes) -> Result<Self, ParseError> {
        let mut c = Cursor { b: &bytes, pos: 0 };
        let magic = c.take(4, || "the magic".into())?;
        if magic != b"GGUF" {
            return Err(ParseError::BadMagic {
                found: [magic[0], magic[1], magic[2], magic[3]],
            });
        }
        let version = c.u32(|| "the version".into())?;
        if !(2..=3).contains(&version) {
            return Err(ParseError::UnsupportedVersion(version));
        }
        let n_tensors = c.u64(|| "the tensor count".into())?;
        let n_kv = c.u64(|| "the metadata count".into())?;
        let mut metadata = BTreeMap::new();
        for i in 0..n_kv {
            let key = c.string(&|| format!("metadata key #{i}"))?;
            let what = || format!("metadata value `{key}`");
            let ty = c.u32(what)?;
            let value = c.value(ty, &what, 0)?;
            metadata.insert(key, value);
        }
        // A tensor info takes at least 32 bytes: cap the allocation by what the file can hold (a
        // corrupt count then ends in a `Truncated` error, not an allocation failure).
        let mut tensors = Vec::with_capacity(n_tensors.min(c.b.len() as u64 / 32) as usize);
        let mut seen = HashSet::new();
        for i in 0..n_tensors {
            let name = c.string(&|| format!("tensor info #{i}"))?;
            let what = || format!("tensor info #{i} (`{name}`)");
            let at = c.pos as u64;
            let n_dims = c.u32(what)?;
            if n_dims == 0 || n_dims > 4 {
                return Err(ParseError::Corrupt {
                    what: what(),
                    offset: at,
                    message: format!("{n_dims} dimensions (1 to 4 expected)"),
                });
            }
            let mut dims = Vec::with_capacity(n_dims as usize);
            for _ in 0..n_dims {
                dims.push(c.u64(what)?);
            }
            let ty = GgmlType(c.u32(what)?);
            let offset = c.u64(what)?;
            if !seen.insert(name.clone()) {
                return Err(ParseError::DuplicateTensor(name));
            }
            tensors.push(TensorInfo {
                name,
                dims,
                ty,
                offset,
            });
        }
        let alignment = match metadata.get("general.alignment") {
            None => 32,
            Some(v) => match v.as_u64() {
                Some(a) if a > 0 && a.is_power_of_two() => a,
                _ => {
                    return Err(ParseError::Corrupt {
                        what: "metadata value `general.alignment`".into(),
                        offset: c.pos as u64,
                        message: format!("{v:?} is not a power of two"),
                    })
                }
            },
        };
        let data_start = (c.pos as u64).div_ceil(alignment) * alignment;
        let file = Self {
            version,
            metadata,
            tensors,
            data_start,
            bytes,
        };
        for t in &file.tensors {
            file.check_bounds(t)?;
        }
        Ok(file)
    }

    /// Checks a tensor's extent; unsupported types are checked later, by [`Self::dequantize`].
    fn check_bounds(&self, t: &TensorInfo) -> Result<(), ParseError> {
        let bad = |message: String| ParseError::BadTensor {
            name: t.name.clone(),
            offset: t.offset,
            message,
        };
        let elements = t
            .dims
            .iter()
            .try_fold(1u64, |acc, &d| acc.checked_mul(d))
            .ok_or_else(|| bad(format!("dims {:?} overflow", t.dims)))?;
        let Some((per_block, _)) = t.ty.block() else {
            return Ok(());
        };
        if t.dims[0] % per_block != 0 {
            return Err(bad(format!(
                "dims[0] = {} is not a multiple of the {} block size {per_block}",
                t.dims[0], t.ty
            )));
        }
        let size =
            t.ty.byte_size(elements)
                .ok_or_else(|| bad(format!("dims {:?} overflow", t.dims)))?;
        let start = self.data_start.checked_add(t.offset);
        let file_len = self.bytes.len() as u64;
        match start.and_then(|s| s.checked_add(size)) {
            Some(end) if end <= file_len => Ok(()),
            _ => Err(ParseError::TensorOutOfBounds {
                name: t.name.clone(),
                offset: self.data_start.saturating_add(t.offset),
                size,
                file_len,
            }),
        }
    }

    /// The GGUF version (2 or 3).
    pub fn version(&self) -> u32 {
        self.version
    }

    /// Every metadata key and value.
    pub fn metadata(&self) -> &BTreeMap<String, Value> {
        &self.metadata
    }

    /// The tensor infos, in file order.
    pub fn tensors(&self) -> &[TensorInfo] {
        &self.tensors
    }

    /// The tensor called `name`.
    pub fn tensor(&self, name: &str) -> Option<&TensorInfo> {
        self.tensors.iter().find(|t| t.name == name)
    }

    /// Absolute file offset of the data section.
    pub fn data_start(&self) -> u64 {
        self.data_start
    }

    /// A tensor's raw bytes (bounds were checked when the file was parsed).
    pub fn raw(&self, t: &TensorInfo) -> Result<&[u8]> {
        let size =
            t.ty.byte_size(t.elements())
                .ok_or_else(|| Error::UnsupportedType {
                    name: t.name.clone(),
                    offset: t.offset,
                    type_name: t.ty.name(),
                    type_id: t.ty.0,
                })?;
        let start = (self.data_start + t.offset) as usize;
        self.bytes.get(start..start + size as usize).ok_or_else(|| {
            Error::Bytes(ParseError::TensorOutOfBounds {
                name: t.name.clone(),
                offset: start as u64,
                size,
                file_len: self.bytes.len() as u64,
            })
        })
    }

    /// A tensor dequantised to `f32`, row-major in [`TensorInfo::shape`].
    pub fn dequantize(&self, t: &TensorInfo) -> Result<Vec<f32>> {
        let raw = self.raw(t)?;
        let mut out = vec![0f32; t.elements() as usize];
        dequantize(t.ty, raw, &mut out, &t.name, t.offset)?;
        Ok(out)
    }

    /// A required metadata value.
    pub fn get(&self, key: &str) -> Result<&Value> {
        self.metadata
            .get(key)
            .ok_or_else(|| Error::meta(key, "missing"))
    }

    /// A required non-negative integer.
    pub fn get_u64(&self, key: &str) -> Result<u64> {
        let v = self.get(key)?;
        v.as_u64().ok_or_else(|| {
            Error::meta(
                key,
                format!("expected an unsigned integer, found {}", v.kind()),
            )
        })
    }

    /// A required float.
    pub fn get_f64(&self, key: &str) -> Result<f64> {
        let v = self.get(key)?;
        v.as_f64()
            .ok_or_else(|| Error::meta(key, format!("expected a number, found {}", v.kind())))
    }

    /// A required string.
    pub fn get_str(&self, key: &str) -> Result<&str> {
        let v = self.get(key)?;
        v.as_str()
            .ok_or_else(|| Error::meta(key, format!("expected a string, found {}", v.kind())))
    }

    /// An optional bool (`None` when absent).
    pub fn get_bool(&self, key: &str) -> Result<Option<bool>> {
        match self.metadata.get(key) {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(v) => Err(Error::meta(
                key,
                format!("expected a bool, found {}", v.kind()),
            )),
        }
    }

    /// A required array of strings.
    pub fn get_str_array(&self, key: &str) -> Result<Vec<&str>> {
        match self.get(key)? {
            Value::Array(items) => items
                .iter()
                .enumerate()
                .map(|(i, v)| {
                    v.as_str().ok_or_else(|| {
                        Error::meta(
                            key,
                            format!("element {i}: expected a string, found {}", v.kind()),
                        )
                    })
                })
                .collect(),
            v => Err(Error::meta(
                key,
                format!("expected an array, found {}", v.kind()),
            )),
        }
    }

    /// A required array of integers.
    pub fn get_int_array(&self, key: &str) -> Result<Vec<i64>> {
        match self.get(key)? {
            Value::Array(items) => items
                .iter()
                .enumerate()
                .map(|(i, v)| {
                    v.as_i64().ok_or_else(|| {
                        Error::meta(
                            key,
                            format!("element {i}: expected an integer, found {}", v.kind()),
                        )
                    })
                })
                .collect(),
            v => Err(Error::meta(
                key,
                format!("expected an array, found {}", v.kind()),
            )),
        }
    }
}

struct Cursor<'a> {
    b: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn take(&mut self, n: u64, what: impl Fn() -> String) -> Result<&'a [u8], ParseError> {
        let available = (self.b.len() - self.pos) as u64;
        if n > available {
            return Err(ParseError::Truncated {
                what: what(),
                offset: self.pos as u64,
                needed: n,
                available,
            });
        }
        let s = &self.b[self.pos..self.pos + n as usize];
        self.pos += n as usize;
        Ok(s)
    }

    fn array<const N: usize>(&mut self, what: impl Fn() -> String) -> Result<[u8; N], ParseError> {
        let s = self.take(N as u64, what)?;
        let mut a = [0u8; N];
        a.copy_from_slice(s);
        Ok(a)
    }

    fn u32(&mut self, what: impl Fn() -> String) -> Result<u32, ParseError> {
        Ok(u32::from_le_bytes(self.array(what)?))
    }

    fn u64(&mut self, what: impl Fn() -> String) -> Result<u64, ParseError> {
        Ok(u64::from_le_bytes(self.array(what)?))
    }

    fn string(&mut self, what: &dyn Fn() -> String) -> Result<String, ParseError> {
        let at = self.pos as u64;
        let n = self.u64(what)?;
        let s = self.take(n, what)?;
        String::from_utf8(s.to_vec()).map_err(|e| ParseError::Corrupt {
            what: what(),
            offset: at,
            message: format!("the string is not UTF-8 ({e})"),
        })
    }

    fn value(
        &mut self,
        ty: u32,
        what: &dyn Fn() -> String,
        depth: u32,
    ) -> Result<Value, ParseError> {
        Ok(match ty {
            0 => Value::UInt(self.array::<1>(what)?[0] as u64),
            1 => Value::Int(self.array::<1>(what)?[0] as i8 as i64),
            2 => Value::UInt(u16::from_le_bytes(self.array(what)?) as u64),
            3 => Value::Int(i16::from_le_bytes(self.array(what)?) as i64),
            4 => Value::UInt(u32::from_le_bytes(self.array(what)?) as u64),
            5 => Value::Int(i32::from_le_bytes(self.array(what)?) as i64),
            6 => Value::Float(f32::from_le_bytes(self.array(what)?) as f64),
            7 => {
                let at = self.pos as u64;
                match self.array::<1>(what)?[0] {
                    0 => Value::Bool(false),
                    1 => Value::Bool(true),
                    b => {
                        return Err(ParseError::Corrupt {
                            what: what(),
                            offset: at,
                            message: format!("bool byte {b}"),
                        })
                    }
                }
            }
            8 => Value::String(self.string(what)?),
            9 => {
                let at = self.pos as u64;
                let elem = self.u32(what)?;
                let n = self.u64(what)?;
                let remaining = (self.b.len() - self.pos) as u64;
                if depth > 0 {
                    return Err(ParseError::Corrupt {
                        what: what(),
                        offset: at,
                        message: "nested arrays are not supported".into(),
                    });
                }
                // Every element takes at least one byte: refuse before allocating.
                if n > remaining {
                    return Err(ParseError::Truncated {
                        what: format!("{} (an array of {n} elements)", what()),
                        offset: self.pos as u64,
                        needed: n,
                        available: remaining,
                    });
                }
                let mut items = Vec::with_capacity(n as usize);
                for _ in 0..n {
                    items.push(self.value(elem, what, depth + 1)?);
                }
                Value::Array(items)
            }
            10 => Value::UInt(u64::from_le_bytes(self.array(what)?)),
            11 => Value::Int(i64::from_le_bytes(self.array(what)?)),
            12 => Value::Float(f64::from_le_bytes(self.array(what)?)),
            other => {
                return Err(ParseError::Corrupt {
                    what: what(),
                    offset: self.pos as u64 - 4,
                    message: format!("unknown value type {other}"),
                })
            }
        })
    }
}
