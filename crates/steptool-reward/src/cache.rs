//! A content-addressed, append-only JSONL cache of annotator answers.
//!
//! One line per answer: `{"key": "<sha256 hex>", "value": {...}}`, written with a single
//! `write_all` and `fsync`ed before the answer is used, so a run killed at any moment loses
//! nothing it already reported. Keys are hashes of the content that determines the answer (the
//! trajectory and the annotator's fingerprint, plus the round for judge rounds), never of
//! positions or times, so a re-run with the same inputs finds every answer it already has and
//! asks only for the missing ones; replayed answers are the stored ones, byte for byte.
//!
//! A crash mid-write leaves a torn last line. Opening the cache detects trailing lines that do
//! not parse, logs a warning, and cuts them off (so the next append starts on a fresh line). A
//! bad line *followed by* good ones is not a crash artefact and is an error naming the line.
//! When a key appears twice the first record wins. One process writes a cache file at a time.

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use steptool_mdp::Trajectory;

use crate::annotation::{RewardAnnotator, StepAnnotation, Usage};
use crate::error::{trajectory_label, Error, Result};
use crate::hash::{sha256_hex, sha256_parts, trajectory_hash};

/// The file name used by [`AnnotationCache::open_dir`].
pub const CACHE_FILE_NAME: &str = "annotations.jsonl";

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Record {
    key: String,
    value: Value,
}

struct Inner {
    file: File,
    entries: HashMap<String, Value>,
}

/// The append-only answer store. Shared between threads (`&self` methods, internal lock).
pub struct AnnotationCache {
    path: PathBuf,
    inner: Mutex<Inner>,
    dropped_lines: usize,
}

impl std::fmt::Debug for AnnotationCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AnnotationCache")
            .field("path", &self.path)
            .field("entries", &self.len())
            .finish()
    }
}

impl AnnotationCache {
    /// Open (or create) the cache in directory `dir` (file [`CACHE_FILE_NAME`]).
    pub fn open_dir(dir: impl AsRef<Path>) -> Result<Self> {
        let dir = dir.as_ref();
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        Self::open(dir.join(CACHE_FILE_NAME))
    }

    /// Open (or create) the cache file `path`, loading every record; trailing corrupt lines
    /// are dropped with a warning (see the module docs).
    pub fn open(path: impl Into<PathBuf>) -> Result<Self> {
        let path = path.into();
        let mut file = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .open(&path)
            .map_err(|e| Error::io(&path, e))?;
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes)
            .map_err(|e| Error::io(&path, e))?;

        let mut entries = HashMap::new();
        // (line number, byte offset of the line start, parse error) of the first bad line of the
        // current trailing run of bad lines.
        let mut bad: Option<(usize, usize, serde_json::Error)> = None;
        let mut dropped = 0usize;
        let mut offset = 0usize;
        for (i, line) in bytes.split_inclusive(|&b| b == b'\n').enumerate() {
            let start = offset;
            offset += line.len();
            let text = line.strip_suffix(b"\n").unwrap_or(line);
            if text.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            match serde_json::from_slice::<Record>(text) {
                Ok(record) => {
                    if let Some((line, _, source)) = bad.take() {
                        return Err(Error::CacheCorrupt { path, line, source });
                    }
                    entries.entry(record.key).or_insert(record.value);
                }
                Err(e) => {
                    dropped += 1;
                    if bad.is_none() {
                        bad = Some((i + 1, start, e));
                    }
                }
            }
        }
        if let Some((line, start, source)) = bad {
            tracing::warn!(
                path = %path.display(),
                line,
                dropped,
                error = %source,
                "cache ends with {dropped} corrupt line(s) (an interrupted write); ignoring them"
            );
            file.set_len(start as u64)
                .map_err(|e| Error::io(&path, e))?;
            file.sync_all().map_err(|e| Error::io(&path, e))?;
        } else if bytes.last().is_some_and(|&b| b != b'\n') {
            // A complete record without its newline: keep it, terminate it.
            file.write_all(b"\n").map_err(|e| Error::io(&path, e))?;
        }
        Ok(Self {
            path,
            inner: Mutex::new(Inner { file, entries }),
            dropped_lines: dropped,
        })
    }

    /// The cache file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Number of distinct keys stored.
    pub fn len(&self) -> usize {
        self.lock().entries.len()
    }

    /// Whether the cache holds nothing.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// How many trailing corrupt lines were dropped when opening.
    pub fn dropped_lines(&self) -> usize {
        self.dropped_lines
    }

    /// The raw value stored under `key`.
    pub fn get(&self, key: &str) -> Option<Value> {
        self.lock().entries.get(key).cloned()
    }

    /// The value under `key`, decoded as `T`; an undecodable value is an error naming the key.
    pub fn get_as<T: DeserializeOwned>(&self, key: &str) -> Result<Option<T>> {
        match self.get(key) {
            None => Ok(None),
            Some(v) => serde_json::from_value(v).map(Some).map_err(|source| {
                Error::json(
                    format!("{}: cache record {key}", self.path.display()),
                    source,
                )
            }),
        }
    }

    /// Store `value` under `key`: one line, written and fsync'd before returning. A key that is
    /// already stored keeps its first value (returns `false`).
    pub fn put<T: Serialize>(&self, key: &str, value: &T) -> Result<bool> {
        let value = serde_json::to_value(value)
            .map_err(|source| Error::json(format!("serialising cache record {key}"), source))?;
        let mut inner = self.lock();
        if inner.entries.contains_key(key) {
            return Ok(false);
        }
        let record = Record {
            key: key.to_owned(),
            value,
        };
        let mut line = serde_json::to_vec(&record)
            .map_err(|source| Error::json(format!("serialising cache record {key}"), source))?;
        line.push(b'\n');
        inner
            .file
            .write_all(&line)
            .and_then(|()| inner.file.sync_data())
            .map_err(|e| Error::io(&self.path, e))?;
        inner.entries.insert(record.key, record.value);
        Ok(true)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A panic while holding the lock cannot leave `entries` inconsistent with the file
        // (entries are inserted after the write succeeded), so poisoning is ignored.
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// Any annotator with whole annotations cached: the key is the hash of the trajectory and of
/// the annotator's fingerprint. A hit is replayed exactly (its [`Usage`] then counts one cache
/// hit per round and nothing else).
///
/// For [`crate::LlmJudgeAnnotator`] prefer [`crate::LlmJudgeAnnotator::with_cache`], which
/// caches every round as soon as it is answered, so a kill between rounds loses nothing.
#[derive(Debug)]
pub struct CachedAnnotator<A> {
    inner: A,
    cache: std::sync::Arc<AnnotationCache>,
}

impl<A: RewardAnnotator> CachedAnnotator<A> {
    /// Wrap `inner` with `cache`.
    pub fn new(inner: A, cache: std::sync::Arc<AnnotationCache>) -> Self {
        Self { inner, cache }
    }

    /// The wrapped annotator.
    pub fn inner(&self) -> &A {
        &self.inner
    }

    /// The cache key of `trajectory` for this annotator.
    pub fn key(&self, trajectory: &Trajectory) -> Result<String> {
        Ok(sha256_parts(&[
            b"steptool-reward annotation v1",
            trajectory_hash(trajectory)?.as_bytes(),
            sha256_hex(self.inner.fingerprint().as_bytes()).as_bytes(),
        ]))
    }
}

impl<A: RewardAnnotator> RewardAnnotator for CachedAnnotator<A> {
    fn name(&self) -> &str {
        self.inner.name()
    }

    fn fingerprint(&self) -> String {
        self.inner.fingerprint()
    }

    fn annotate(&self, trajectory: &Trajectory) -> Result<StepAnnotation> {
        let key = self.key(trajectory)?;
        if let Some(hit) = self.cache.get_as::<StepAnnotation>(&key)? {
            hit.check_matches(trajectory)?;
            let usage = Usage {
                cache_hits: hit.rounds().len() as u64,
                ..Usage::default()
            };
            return Ok(hit.with_usage(usage));
        }
        let annotation = self.inner.annotate(trajectory)?;
        annotation.check_matches(trajectory).map_err(|e| match e {
            Error::InvalidAnnotation { message, .. } => Error::InvalidAnnotation {
                trajectory: trajectory_label(trajectory),
                message: format!("annotator {}: {message}", self.inner.name()),
            },
            other => other,
        })?;
        self.cache.put(&key, &annotation)?;
        Ok(annotation)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn append_reload_first_wins() -> anyhow::Result<()> {
        let dir = tempfile::tempdir()?;
        let cache = AnnotationCache::open_dir(dir.path())?;
        assert!(cache.put("a", &1)?);
        assert!(!cache.put("a", &2)?);
        assert!(cache.put("b", &"x")?);
        drop(cache);
        let cache = AnnotationCache::open_dir(dir.path())?;
        assert_eq!(cache.len(), 2);
        assert_eq!(cache.get_as::<i32>("a")?, Some(1));
        assert_eq!(cache.get("b"), Some(Value::from("x")));
        assert_eq!(cache.dropped_lines(), 0);
        Ok(())
    }

    #[test]
    fn torn_tail_is_dropped_and_cut() -> anyhow::Result<()> {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("c.jsonl");
        std::fs::write(
            &path,
            "{\"key\":\"a\",\"value\":1}\n{\"key\":\"b\",\"value\":2}\n{\"key\":\"c\",\"va",
        )?;
        let cache = AnnotationCache::open(&path)?;
        assert_eq!(cache.len(), 2);
        assert_eq!(cache.dropped_lines(), 1);
        assert!(cache.put("c", &3)?);
        drop(cache);
        // The torn bytes are gone; the new record is on its own line.
        assert_eq!(
            std::fs::read_to_string(&path)?,
            "{\"key\":\"a\",\"value\":1}\n{\"key\":\"b\",\"value\":2}\n{\"key\":\"c\",\"value\":3}\n"
        );
        Ok(())
    }

    #[test]
    fn corrupt_middle_line_is_an_error() -> anyhow::Result<()> {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("c.jsonl");
        std::fs::write(
            &path,
            "{\"key\":\"a\",\"value\":1}\ngarbage\n{\"key\":\"b\",\"value\":2}\n",
        )?;
        let err = AnnotationCache::open(&path).err();
        assert!(
            matches!(err, Some(Error::CacheCorrupt { line: 2, .. })),
            "{err:?}"
        );
        Ok(())
    }

    #[test]
    fn unterminated_complete_record_is_kept() -> anyhow::Result<()> {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("c.jsonl");
        std::fs::write(&path, "{\"key\":\"a\",\"value\":1}")?;
        let cache = AnnotationCache::open(&path)?;
        cache.put("b", &2)?;
        drop(cache);
        assert_eq!(
            std::fs::read_to_string(&path)?,
            "{\"key\":\"a\",\"value\":1}\n{\"key\":\"b\",\"value\":2}\n"
        );
        Ok(())
    }
}
