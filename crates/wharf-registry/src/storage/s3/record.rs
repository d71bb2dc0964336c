//! An upload's record (`uploads/<id>/state.json`): the segments that hold its bytes, in
//! order. It lives in the bucket, not in a process, so any replica continues any upload
//! and a restart loses nothing a returned append stored.

use serde::{Deserialize, Serialize};

/// S3's smallest part but the last: a segment below it is the staged tail, which the
/// next append reads back and sends again with its own bytes, so that every segment but
/// the last can become a part of the commit's multipart upload.
pub(super) const MIN_PART: u64 = 5 << 20;

/// One object holding bytes of an upload; only its first `len` bytes count (the rest
/// were cut off by an append at an earlier offset).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct Segment {
    pub key: String,
    pub len: u64,
}

/// A multipart upload a commit started, recorded before its parts are sent so that
/// removing the upload aborts it even if the committing process died.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct PendingCommit {
    pub key: String,
    pub upload_id: String,
}

/// A whole blob streamed straight into a multipart upload on its own key (see
/// [`whole`](super::whole)): recorded when the multipart upload is created, with no
/// parts yet (so that removing the upload aborts it even if the process died), then
/// with every part once the body has been stored. Its bytes cannot be read back and are
/// not counted by [`UploadRecord::len`]: they can only be committed as that blob.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct WholeUpload {
    pub key: String,
    pub upload_id: String,
    /// The parts' ETags and lengths, in order; empty until the body is stored.
    pub parts: Vec<WholePart>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct WholePart {
    pub etag: String,
    pub len: u64,
}

impl WholeUpload {
    pub(super) fn len(&self) -> u64 {
        self.parts.iter().map(|p| p.len).sum()
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct UploadRecord {
    pub segments: Vec<Segment>,
    /// The ETag of the `state.json` this record was read from (`None`: there was none),
    /// which its next write requires to be still current (see
    /// [`S3BlobStore::save_record`](super::S3BlobStore::save_record)). Not stored.
    #[serde(skip)]
    pub version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub commit: Option<PendingCommit>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub whole: Option<WholeUpload>,
}

impl UploadRecord {
    /// How many bytes the upload holds.
    pub(super) fn len(&self) -> u64 {
        self.segments.iter().map(|s| s.len).sum()
    }

    /// Keeps the first `len` bytes; returns the segments no longer used at all (whose
    /// objects may go once the shortened record is stored).
    pub(super) fn truncate(&mut self, len: u64) -> Vec<Segment> {
        let mut start = 0;
        let mut keep = 0;
        for segment in &mut self.segments {
            if start >= len {
                break;
            }
            segment.len = segment.len.min(len - start);
            start += segment.len;
            keep += 1;
        }
        self.segments.split_off(keep)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(lens: &[u64]) -> UploadRecord {
        UploadRecord {
            segments: lens
                .iter()
                .enumerate()
                .map(|(i, &len)| Segment {
                    key: format!("s{i}"),
                    len,
                })
                .collect(),
            commit: None,
            whole: None,
            version: None,
        }
    }

    #[test]
    fn truncation_clips_the_segment_it_falls_in_and_drops_the_rest() {
        let mut r = record(&[10, 10, 10]);
        let dropped = r.truncate(15);
        assert_eq!(r.len(), 15);
        assert_eq!(r.segments.len(), 2);
        assert_eq!(dropped.iter().map(|s| s.key.as_str()).collect::<Vec<_>>(), ["s2"]);
        let mut r = record(&[10, 10]);
        assert_eq!(r.truncate(10).len(), 1);
        assert_eq!(r.segments.len(), 1);
        let mut r = record(&[10]);
        assert_eq!(r.truncate(0).len(), 1);
        assert!(r.segments.is_empty());
        let mut r = record(&[10]);
        assert!(r.truncate(10).is_empty());
        assert_eq!(r.len(), 10);
    }
}
