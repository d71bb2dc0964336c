//! The bucket's layout, under the configured prefix:
//!
//! ```text
//! blobs/<algorithm>/<two hex>/<hex>     a blob, whole (written only by a PUT or a completed multipart upload)
//! quarantine/<algorithm>/<hex>          a blob found damaged, set aside
//! uploads/<id>/state.json               an upload's record: its segments, in order
//! uploads/<id>/seg/<uuid>               one segment of an upload's bytes
//! ```

use object_store::path::Path;
use wharf_oci::Digest;

/// Builds every key from the prefix, so the layout is written down once.
#[derive(Debug, Clone)]
pub(super) struct Keys {
    prefix: String,
}

impl Keys {
    pub(super) fn new(prefix: String) -> Keys {
        Keys { prefix }
    }

    pub(super) fn blob(&self, digest: &Digest) -> Path {
        let hex = digest.hex();
        Path::from(format!(
            "{}blobs/{}/{}/{hex}",
            self.prefix,
            digest.algorithm().as_str(),
            &hex[..2]
        ))
    }

    pub(super) fn blobs(&self) -> Path {
        Path::from(format!("{}blobs", self.prefix))
    }

    /// The digest a key under [`Keys::blobs`] names, if it is one wharf wrote.
    pub(super) fn digest_of_blob_key(&self, key: &Path) -> Option<Digest> {
        let rest = key.as_ref().strip_prefix(&self.prefix)?.strip_prefix("blobs/")?;
        let mut parts = rest.split('/');
        let (algorithm, shard, hex) = (parts.next()?, parts.next()?, parts.next()?);
        if parts.next().is_some() || !hex.starts_with(shard) {
            return None;
        }
        format!("{algorithm}:{hex}").parse().ok()
    }

    pub(super) fn quarantined(&self, digest: &Digest) -> Path {
        Path::from(format!(
            "{}quarantine/{}/{}",
            self.prefix,
            digest.algorithm().as_str(),
            digest.hex()
        ))
    }

    pub(super) fn uploads(&self) -> Path {
        Path::from(format!("{}uploads", self.prefix))
    }

    pub(super) fn upload_dir(&self, id: &str) -> Path {
        Path::from(format!("{}uploads/{id}", self.prefix))
    }

    pub(super) fn upload_state(&self, id: &str) -> Path {
        Path::from(format!("{}uploads/{id}/state.json", self.prefix))
    }

    /// A fresh segment key: never reused, so a crashed append cannot overwrite a segment
    /// the record still names.
    pub(super) fn new_segment(&self, id: &str) -> Path {
        Path::from(format!(
            "{}uploads/{id}/seg/{}",
            self.prefix,
            uuid::Uuid::new_v4().simple()
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blob_keys_round_trip_and_strangers_are_skipped() {
        let keys = Keys::new("reg/".into());
        let digest = Digest::sha256_of(b"x");
        let key = keys.blob(&digest);
        assert!(key.as_ref().starts_with("reg/blobs/sha256/"));
        assert_eq!(keys.digest_of_blob_key(&key), Some(digest));
        for stranger in ["reg/blobs/sha256/zz", "reg/blobs/sha256/ab/cd", "other/blobs/x/y/z"] {
            assert_eq!(keys.digest_of_blob_key(&Path::from(stranger)), None, "{stranger}");
        }
    }
}
