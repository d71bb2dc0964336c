//! The one error type of the protocol: a spec error code, its HTTP status and a message
//! a person can act on. The HTTP layer turns it into a response in one place.

use crate::meta::{MetaError, Refusal};
use serde_json::Value;
use std::io;
use std::sync::atomic::{AtomicBool, Ordering};
use wharf_oci::{Digest, DigestError, ErrorCode, ManifestError, NameError};

/// Where an upload stands, for answers that must tell the client how to resume.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadPosition {
    pub location: String,
    pub offset: u64,
}

/// A failed registry operation.
#[derive(Debug, Clone)]
pub struct RegistryError {
    /// `None` for a failure of the server itself (a 500 with no spec code).
    pub code: Option<ErrorCode>,
    pub status: u16,
    pub message: String,
    pub detail: Option<Box<Value>>,
    /// Set on 416 answers to a chunk: the upload's current location and length.
    pub upload: Option<Box<UploadPosition>>,
}

pub type RegistryResult<T> = Result<T, RegistryError>;

impl RegistryError {
    /// An error with the code's usual status.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> RegistryError {
        RegistryError {
            code: Some(code),
            status: code.default_status(),
            message: message.into(),
            detail: None,
            upload: None,
        }
    }

    pub fn with_status(mut self, status: u16) -> RegistryError {
        self.status = status;
        self
    }

    pub fn with_detail(mut self, detail: Value) -> RegistryError {
        self.detail = Some(Box::new(detail));
        self
    }

    /// A server-side failure: logged in full, answered without internals.
    pub fn internal(context: &str, error: impl std::fmt::Display) -> RegistryError {
        tracing::error!(%error, "{context}");
        RegistryError {
            code: None,
            status: 500,
            message: format!("internal error while {context}; see the registry's log"),
            detail: None,
            upload: None,
        }
    }

    /// 416 for a chunk that does not start where the upload ends.
    pub fn out_of_order(position: UploadPosition, got_start: u64) -> RegistryError {
        let message = format!(
            "chunk starts at byte {got_start} but the upload holds {} bytes; send the chunk starting at {}",
            position.offset, position.offset
        );
        RegistryError {
            code: Some(ErrorCode::BlobUploadInvalid),
            status: 416,
            message,
            detail: None,
            upload: Some(Box::new(position)),
        }
    }

    /// The error of a chunk cut off after some of it was kept: says where the upload
    /// stands, and carries its `Location` and `Range` so the client resumes from there.
    pub fn resumable(mut self, position: UploadPosition) -> RegistryError {
        self.message = format!(
            "{}; the upload kept what arrived and now holds {} bytes: resume from byte {}",
            self.message, position.offset, position.offset
        );
        self.upload = Some(Box::new(position));
        self
    }

    /// 429 TOOMANYREQUESTS for a push that met the garbage collector removing the same
    /// blob: retrying (the client's usual answer to 429) pushes it again afresh.
    pub fn blob_being_collected(digest: &Digest) -> RegistryError {
        RegistryError::new(
            ErrorCode::TooManyRequests,
            format!("blob {digest} was being removed by the garbage collector as it was pushed; push it again"),
        )
    }

    pub fn unsupported(message: impl Into<String>) -> RegistryError {
        RegistryError::new(ErrorCode::Unsupported, message)
    }

    /// 507 Insufficient Storage: a write failed because the disk (of the blob store or
    /// of the metadata store) is full. Reads go on being served. Logged once until a
    /// write succeeds again (see [`space_available`]), not once per refused request.
    pub fn out_of_space(context: &str, error: impl std::fmt::Display) -> RegistryError {
        if !OUT_OF_SPACE.swap(true, Ordering::Relaxed) {
            tracing::error!(
                %error,
                "the registry is out of storage space ({context}): writes are refused with 507 until space is freed"
            );
        }
        RegistryError {
            code: None,
            status: 507,
            message: "the registry is out of storage space: nothing was stored; pulls still work, \
                      try the push again once the operator has freed space"
                .to_string(),
            detail: None,
            upload: None,
        }
    }
}

/// Whether the last write that failed for lack of space has not been followed by one
/// that succeeded: the storage is one disk (or two) for the whole process, so one flag.
static OUT_OF_SPACE: AtomicBool = AtomicBool::new(false);

/// Called after a write succeeds: if writes were failing for lack of space, says (once)
/// that they work again, so the next full disk is logged again.
pub(crate) fn space_available() {
    if OUT_OF_SPACE.load(Ordering::Relaxed) && OUT_OF_SPACE.swap(false, Ordering::Relaxed) {
        tracing::info!("the registry can store again: a write succeeded after running out of space");
    }
}

impl From<MetaError> for RegistryError {
    fn from(e: MetaError) -> Self {
        if e.is_out_of_space() {
            return RegistryError::out_of_space("writing metadata", e);
        }
        match e.refusal() {
            Some(Refusal::BlobGone(digest)) => RegistryError::blob_being_collected(digest),
            Some(Refusal::ReferencesMissing(missing)) => {
                let missing: Vec<String> = missing.iter().map(|d| d.to_string()).collect();
                RegistryError::new(
                    ErrorCode::ManifestBlobUnknown,
                    format!(
                        "the manifest references blobs or manifests no longer in the repository: {}",
                        missing.join(", ")
                    ),
                )
                .with_detail(serde_json::json!({ "missing": missing }))
            }
            Some(Refusal::TagImmutable { tag, current }) => RegistryError::new(
                ErrorCode::Denied,
                format!("tag {tag} is immutable (it points at {current}): it cannot be moved or deleted"),
            ),
            // Answered with the quota's rule by `Registry::quota_answer` where it applies.
            Some(refusal @ Refusal::OverQuota { .. }) => RegistryError::new(ErrorCode::Denied, refusal.to_string()),
            None => RegistryError::internal("reading or writing metadata", e),
        }
    }
}

impl From<io::Error> for RegistryError {
    fn from(e: io::Error) -> Self {
        if e.kind() == io::ErrorKind::StorageFull {
            return RegistryError::out_of_space("writing blob storage", e);
        }
        RegistryError::internal("reading or writing blob storage", e)
    }
}

impl From<DigestError> for RegistryError {
    fn from(e: DigestError) -> Self {
        RegistryError::new(ErrorCode::DigestInvalid, e.to_string())
    }
}

impl From<NameError> for RegistryError {
    fn from(e: NameError) -> Self {
        match e {
            NameError::InvalidDigest(d) => d.into(),
            NameError::InvalidTag(_) => RegistryError::new(ErrorCode::TagInvalid, e.to_string()),
            NameError::NameTooLong | NameError::InvalidName(_) => {
                RegistryError::new(ErrorCode::NameInvalid, e.to_string())
            }
        }
    }
}

impl From<ManifestError> for RegistryError {
    fn from(e: ManifestError) -> Self {
        RegistryError::new(ErrorCode::ManifestInvalid, e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_disk_is_507_whether_files_or_sqlite_report_it() {
        let enospc = io::Error::from_raw_os_error(libc::ENOSPC);
        assert_eq!(RegistryError::from(enospc).status, 507);
        let sqlite_full = rusqlite::Error::SqliteFailure(rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_FULL), None);
        assert_eq!(RegistryError::from(MetaError::new(sqlite_full)).status, 507);
        let other = rusqlite::Error::SqliteFailure(rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_IOERR), None);
        assert_eq!(RegistryError::from(MetaError::new(other)).status, 500);
        assert_eq!(RegistryError::from(io::Error::other("disk on fire")).status, 500);
        // After a write succeeds, the next full disk is logged again.
        space_available();
        assert!(!OUT_OF_SPACE.load(Ordering::Relaxed));
    }
}
