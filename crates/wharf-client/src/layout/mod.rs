//! OCI image layout directories (`oci:PATH[:TAG]`), as skopeo, buildah and oras write
//! them: the other end of `wharf copy` when it is not a registry.
//!
//! A layout is a directory holding an `oci-layout` marker, an `index.json` image index
//! whose descriptors are the layout's images (tagged by their
//! `org.opencontainers.image.ref.name` annotation) and a `blobs/<alg>/<hex>` file per
//! blob (image-layout.md in opencontainers/image-spec).
//!
//! Every change is atomic, as on the registry side: a blob is written to a temporary
//! file, verified against its digest and only then renamed into place, and `index.json`
//! is replaced whole by rename. A crash or a failed copy leaves no half-written blob and
//! no index that names one; the worst it leaves is a stray `.wharf-tmp-*` file.
//!
//! Updates to `index.json` are serialised through one [`OciLayout`] and its clones; two
//! processes (or two separately opened handles) setting refs in the same layout at the
//! same moment may lose one of the two updates.

mod atomic;
mod blob_writer;
mod blobs;
mod entry;
mod error;
mod index;
mod marker;

#[cfg(test)]
mod skopeo_tests;
#[cfg(test)]
mod tests;

use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use tokio::io::AsyncReadExt;

pub use blob_writer::LayoutBlobWriter;
pub use entry::{is_valid_ref_name, LayoutEntry, REF_NAME_ANNOTATION};
pub use error::LayoutError;

use index::{IndexFile, MAX_INDEX_LEN};

const INDEX_FILE: &str = "index.json";

/// An image layout directory, known to be one (it has a 1.x `oci-layout` file and a
/// readable `index.json`).
#[derive(Debug, Clone)]
pub struct OciLayout {
    root: PathBuf,
    /// Held across read-modify-write of `index.json`.
    index_lock: Arc<tokio::sync::Mutex<()>>,
}

impl OciLayout {
    /// Opens the layout at `root`, making it first if need be: the directory, `blobs/`,
    /// `oci-layout` and an empty `index.json`, each only when missing, so creating over
    /// an existing layout just opens it. An existing `oci-layout` is checked before
    /// anything is written, so a directory of another layout version is left untouched.
    pub async fn create(root: impl AsRef<Path>) -> Result<OciLayout, LayoutError> {
        let root = root.as_ref();
        match check_marker(root).await {
            Ok(()) => {}
            Err(LayoutError::NotALayout { .. }) => {
                tokio::fs::create_dir_all(root).await.map_err(LayoutError::io(root))?;
                atomic::write_atomic(&root.join(marker::FILE_NAME), marker::CONTENTS).await?;
            }
            Err(e) => return Err(e),
        }
        let blobs = root.join("blobs");
        tokio::fs::create_dir_all(&blobs)
            .await
            .map_err(LayoutError::io(&blobs))?;
        let index = root.join(INDEX_FILE);
        if !exists(&index).await? {
            atomic::write_atomic(&index, &IndexFile::empty().to_bytes()).await?;
        }
        OciLayout::open(root).await
    }

    /// Opens an existing layout, checking its `oci-layout` and `index.json` now so that a
    /// wrong path is reported before any copying starts.
    pub async fn open(root: impl AsRef<Path>) -> Result<OciLayout, LayoutError> {
        let root = root.as_ref().to_path_buf();
        check_marker(&root).await?;
        let layout = OciLayout {
            root,
            index_lock: Arc::default(),
        };
        layout.read_index().await?;
        Ok(layout)
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The descriptors of `index.json`, in its order.
    pub async fn index(&self) -> Result<Vec<LayoutEntry>, LayoutError> {
        Ok(self.read_index().await?.entries().cloned().collect())
    }

    /// The tags of the layout, in index order.
    pub async fn tags(&self) -> Result<Vec<String>, LayoutError> {
        Ok(self.read_index().await?.tags())
    }

    /// The image tagged `tag` or, with no tag (`oci:PATH`), the layout's only image.
    pub async fn resolve(&self, tag: Option<&str>) -> Result<LayoutEntry, LayoutError> {
        self.read_index().await?.resolve(tag, &self.root)
    }

    /// Lists `entry` in `index.json`, in place of the entry holding the same ref name, or
    /// if untagged of an untagged entry with the same digest. The blob it points to must
    /// already be in the layout, so that the index never names something missing: write
    /// the blobs, then the manifest, then the ref.
    pub async fn set_ref(&self, entry: LayoutEntry) -> Result<(), LayoutError> {
        if let Some(name) = &entry.ref_name {
            if !is_valid_ref_name(name) {
                return Err(LayoutError::InvalidRefName { name: name.clone() });
            }
        }
        match self.blob_size(&entry.digest).await? {
            None => {
                return Err(LayoutError::BlobMissing {
                    path: self.root.clone(),
                    digest: entry.digest,
                })
            }
            Some(actual) if actual != entry.size => {
                return Err(LayoutError::SizeMismatch {
                    path: self.blob_path(&entry.digest),
                    digest: entry.digest,
                    expected: entry.size,
                    actual,
                })
            }
            Some(_) => {}
        }
        let _guard = self.index_lock.lock().await;
        let mut index = self.read_index().await?;
        index.set_ref(entry);
        atomic::write_atomic(&self.root.join(INDEX_FILE), &index.to_bytes()).await
    }

    async fn read_index(&self) -> Result<IndexFile, LayoutError> {
        let path = self.root.join(INDEX_FILE);
        let bad = |reason: String| LayoutError::BadIndex {
            path: path.clone(),
            reason,
        };
        let bytes = match read_capped(&path, MAX_INDEX_LEN).await {
            Ok(Some(bytes)) => bytes,
            Ok(None) => return Err(bad(format!("larger than {} MiB", MAX_INDEX_LEN >> 20))),
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Err(bad("the file is missing".into())),
            Err(e) => return Err(LayoutError::io(&path)(e)),
        };
        IndexFile::parse(&bytes).map_err(bad)
    }
}

/// Checks that `root` has an `oci-layout` file of a version this module reads.
async fn check_marker(root: &Path) -> Result<(), LayoutError> {
    let marker = root.join(marker::FILE_NAME);
    match read_capped(&marker, 64 << 10).await {
        Ok(Some(bytes)) => marker::check(&bytes, &marker),
        Ok(None) => Err(LayoutError::BadLayoutFile {
            path: marker,
            reason: "larger than 64 KiB".into(),
        }),
        Err(e) if matches!(e.kind(), io::ErrorKind::NotFound | io::ErrorKind::NotADirectory) => {
            Err(LayoutError::NotALayout {
                path: root.to_path_buf(),
            })
        }
        Err(e) => Err(LayoutError::io(marker)(e)),
    }
}

async fn exists(path: &Path) -> Result<bool, LayoutError> {
    tokio::fs::try_exists(path).await.map_err(LayoutError::io(path))
}

/// The file's contents, or `None` if it is longer than `max` bytes.
async fn read_capped(path: &Path, max: u64) -> io::Result<Option<Vec<u8>>> {
    let file = tokio::fs::File::open(path).await?;
    let mut bytes = Vec::new();
    file.take(max + 1).read_to_end(&mut bytes).await?;
    Ok((bytes.len() as u64 <= max).then_some(bytes))
}
