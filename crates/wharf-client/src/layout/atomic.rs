//! All-or-nothing file writes: content goes to a temporary file beside its destination,
//! is fsynced, and only then renamed into place, so a crash leaves either the old file or
//! the complete new one, never a mix. The temporary file is removed if anything fails on
//! the way.

use std::io;
use std::path::{Path, PathBuf};

use tokio::fs::{File, OpenOptions};
use tokio::io::AsyncWriteExt;

use super::error::LayoutError;

/// Prefix of every temporary file this module creates: a dot keeps them out of a casual
/// `ls`, and the name says who left one behind should a process be killed.
const TEMP_PREFIX: &str = ".wharf-tmp-";

/// A temporary file's path, removed when dropped unless it was renamed into place.
#[derive(Debug)]
pub(crate) struct TempPath {
    path: Option<PathBuf>,
}

impl TempPath {
    pub(crate) fn path(&self) -> &Path {
        self.path.as_deref().expect("a TempPath holds its path until persisted")
    }

    /// Renames the file to `target` (replacing it if present) and stops guarding it.
    pub(crate) async fn persist(mut self, target: &Path) -> io::Result<()> {
        tokio::fs::rename(self.path(), target).await?;
        self.path = None;
        Ok(())
    }
}

impl Drop for TempPath {
    fn drop(&mut self) {
        // Drop cannot await; unlinking one file is a single quick system call.
        if let Some(path) = self.path.take() {
            let _ = std::fs::remove_file(path);
        }
    }
}

/// Creates a new, empty temporary file in `dir`. `create_new` makes two writers racing
/// on the same directory get distinct files rather than share one.
pub(crate) async fn create_temp(dir: &Path) -> Result<(File, TempPath), LayoutError> {
    let mut attempts = 0;
    loop {
        let path = dir.join(format!("{TEMP_PREFIX}{:016x}", fastrand::u64(..)));
        match OpenOptions::new().write(true).create_new(true).open(&path).await {
            Ok(file) => return Ok((file, TempPath { path: Some(path) })),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists && attempts < 8 => attempts += 1,
            Err(e) => return Err(LayoutError::io(&path)(e)),
        }
    }
}

/// Replaces `target` with `bytes` atomically and durably.
pub(crate) async fn write_atomic(target: &Path, bytes: &[u8]) -> Result<(), LayoutError> {
    let dir = parent(target);
    let (mut file, temp) = create_temp(dir).await?;
    let io_err = LayoutError::io(temp.path());
    file.write_all(bytes).await.map_err(io_err)?;
    file.sync_all().await.map_err(LayoutError::io(temp.path()))?;
    drop(file);
    temp.persist(target).await.map_err(LayoutError::io(target))?;
    sync_dir(dir).await
}

/// Makes a rename in `dir` survive a power loss: the new name lives in the directory's
/// own data, which fsyncing the file does not write.
pub(crate) async fn sync_dir(dir: &Path) -> Result<(), LayoutError> {
    #[cfg(unix)]
    {
        let d = File::open(dir).await.map_err(LayoutError::io(dir))?;
        d.sync_all().await.map_err(LayoutError::io(dir))?;
    }
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
}

pub(crate) fn parent(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn write_atomic_replaces_and_leaves_no_temp() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("f.json");
        write_atomic(&target, b"one").await.unwrap();
        write_atomic(&target, b"two").await.unwrap();
        assert_eq!(std::fs::read(&target).unwrap(), b"two");
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("f.json")]);
    }

    #[tokio::test]
    async fn dropped_temp_is_removed() {
        let dir = tempfile::tempdir().unwrap();
        let (_file, temp) = create_temp(dir.path()).await.unwrap();
        let path = temp.path().to_path_buf();
        assert!(path.exists());
        drop(temp);
        assert!(!path.exists());
    }
}
