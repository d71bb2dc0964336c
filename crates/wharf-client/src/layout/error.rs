//! What can go wrong with a layout, each message naming the directory or file concerned so
//! that a person running `wharf copy` knows where to look.

use std::io;
use std::path::{Path, PathBuf};

use wharf_oci::Digest;

#[derive(Debug, thiserror::Error)]
pub enum LayoutError {
    #[error("{}: not an OCI image layout (it has no oci-layout file)", .path.display())]
    NotALayout { path: PathBuf },

    #[error("{}: not a valid oci-layout file: {reason}", .path.display())]
    BadLayoutFile { path: PathBuf, reason: String },

    #[error("{}: imageLayoutVersion {version:?} is not supported (only 1.x is)", .path.display())]
    UnsupportedVersion { path: PathBuf, version: String },

    #[error("{}: not a valid image index: {reason}", .path.display())]
    BadIndex { path: PathBuf, reason: String },

    #[error("{}: no image is tagged {tag:?} (tags: {})", .path.display(), list(.tags))]
    TagNotFound {
        path: PathBuf,
        tag: String,
        tags: Vec<String>,
    },

    #[error("{}: several images carry the tag {tag:?}; the layout is ambiguous", .path.display())]
    DuplicateTag { path: PathBuf, tag: String },

    #[error("{}: holds no image", .path.display())]
    Empty { path: PathBuf },

    #[error(
        "{}: holds {count} images, so a tag is needed (oci:DIR:TAG; tags: {})",
        .path.display(), list(.tags)
    )]
    Ambiguous {
        path: PathBuf,
        count: usize,
        tags: Vec<String>,
    },

    #[error("{:?} is neither a registry tag nor a ref name of the image spec (A-Za-z0-9 runs joined by -._:@+ or --, separated by /)", .name)]
    InvalidRefName { name: String },

    #[error("{}: blob {digest} is missing", .path.display())]
    BlobMissing { path: PathBuf, digest: Digest },

    #[error("{}: content has digest {actual}, not {expected}", .path.display())]
    DigestMismatch {
        path: PathBuf,
        expected: Digest,
        actual: Digest,
    },

    #[error("{}: blob {digest} is {actual} bytes, not the {expected} declared", .path.display())]
    SizeMismatch {
        path: PathBuf,
        digest: Digest,
        expected: u64,
        actual: u64,
    },

    #[error("{}: blob {digest} is {size} bytes, more than the {max} accepted here", .path.display())]
    TooLarge {
        path: PathBuf,
        digest: Digest,
        size: u64,
        max: u64,
    },

    #[error("{}: {source}", .path.display())]
    Io { path: PathBuf, source: io::Error },
}

impl LayoutError {
    pub(crate) fn io(path: impl AsRef<Path>) -> impl FnOnce(io::Error) -> LayoutError {
        let path = path.as_ref().to_path_buf();
        move |source| LayoutError::Io { path, source }
    }
}

fn list(tags: &[String]) -> String {
    if tags.is_empty() {
        "none".to_string()
    } else {
        tags.join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_name_the_path_and_the_tags() {
        let e = LayoutError::TagNotFound {
            path: "/x/img".into(),
            tag: "v2".into(),
            tags: vec!["v1".into(), "latest".into()],
        };
        assert_eq!(e.to_string(), "/x/img: no image is tagged \"v2\" (tags: v1, latest)");
        let e = LayoutError::Ambiguous {
            path: "/x/img".into(),
            count: 2,
            tags: vec![],
        };
        assert_eq!(
            e.to_string(),
            "/x/img: holds 2 images, so a tag is needed (oci:DIR:TAG; tags: none)"
        );
    }
}
