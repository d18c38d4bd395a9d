//! Atomic file and directory writes, shared by every crate that writes results a user keeps
//! (checkpoints, weights, metrics rewrites, annotation files).
//!
//! A reader never sees a half-written file: the bytes go to a temporary sibling first, which is
//! then renamed over the target (rename is atomic within a file system). These helpers return
//! `std::io::Result` so each crate wraps the error with the path in its own error type.

use std::io;
use std::path::{Path, PathBuf};

/// The temporary sibling `.<name>.tmp-<pid>` of `path`.
pub fn temp_sibling(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "out".into());
    path.with_file_name(format!(".{name}.tmp-{}", std::process::id()))
}

/// Writes `bytes` to `path` atomically (temporary sibling, then rename).
pub fn write_atomic(path: &Path, bytes: impl AsRef<[u8]>) -> io::Result<()> {
    let tmp = temp_sibling(path);
    std::fs::write(&tmp, bytes)?;
    std::fs::rename(&tmp, path).inspect_err(|_| {
        let _ = std::fs::remove_file(&tmp);
    })
}

/// Fills a directory atomically: `fill` writes into a fresh temporary sibling of `dir`, which
/// then replaces `dir` (an existing `dir` is moved aside first and removed after the swap).
/// On an error from `fill` the temporary directory is removed and `dir` is left as it was.
/// `wrap` turns an I/O error on a path into the caller's error type.
pub fn write_dir_atomic<E>(
    dir: &Path,
    fill: impl FnOnce(&Path) -> Result<(), E>,
    wrap: impl Fn(&Path, io::Error) -> E,
) -> Result<(), E> {
    let tmp = temp_sibling(dir);
    let at = |p: &Path| {
        let p = p.to_path_buf();
        let w = &wrap;
        move |e| w(&p, e)
    };
    if tmp.exists() {
        std::fs::remove_dir_all(&tmp).map_err(at(&tmp))?;
    }
    if let Some(parent) = dir.parent() {
        std::fs::create_dir_all(parent).map_err(at(parent))?;
    }
    std::fs::create_dir_all(&tmp).map_err(at(&tmp))?;
    if let Err(e) = fill(&tmp) {
        let _ = std::fs::remove_dir_all(&tmp);
        return Err(e);
    }
    if dir.exists() {
        let old = dir.with_file_name(format!(
            ".{}.old-{}",
            dir.file_name()
                .map(|n| n.to_string_lossy())
                .unwrap_or_default(),
            std::process::id()
        ));
        std::fs::rename(dir, &old).map_err(at(dir))?;
        std::fs::rename(&tmp, dir).map_err(at(dir))?;
        std::fs::remove_dir_all(&old).map_err(at(&old))?;
    } else {
        std::fs::rename(&tmp, dir).map_err(at(dir))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keep(_: &Path, e: io::Error) -> io::Error {
        e
    }

    #[test]
    fn file_is_replaced_whole_and_no_temporary_is_left() -> io::Result<()> {
        let d = tempfile::tempdir()?;
        let p = d.path().join("a.txt");
        write_atomic(&p, "one")?;
        write_atomic(&p, "two")?;
        assert_eq!(std::fs::read_to_string(&p)?, "two");
        assert_eq!(std::fs::read_dir(d.path())?.count(), 1);
        Ok(())
    }

    #[test]
    fn directory_swap_keeps_the_old_one_on_failure() -> io::Result<()> {
        let d = tempfile::tempdir()?;
        let dir = d.path().join("ckpt");
        write_dir_atomic(&dir, |t| std::fs::write(t.join("x"), "1"), keep)?;
        let failed = write_dir_atomic(
            &dir,
            |t| {
                std::fs::write(t.join("x"), "2")?;
                Err(io::Error::other("boom"))
            },
            keep,
        );
        assert!(failed.is_err());
        assert_eq!(std::fs::read_to_string(dir.join("x"))?, "1");
        write_dir_atomic(&dir, |t| std::fs::write(t.join("y"), "3"), keep)?;
        assert!(!dir.join("x").exists());
        assert_eq!(std::fs::read_to_string(dir.join("y"))?, "3");
        assert_eq!(std::fs::read_dir(d.path())?.count(), 1);
        Ok(())
    }
}
