//! An upload's record (`uploads/<id>/state.json`): the segments that hold its bytes, in
//! order. It lives in the bucket, not in a process, so any replica continues any upload
//! and a restart loses nothing a returned append stored.

use serde::{Deserialize, Serialize};

/// S3's smallest part but the last: a segment below it is the staged tail, which the
/// next append reads back and sends again with its own bytes, so that every segment but
/// the last can become a part of the commit's multipart upload.
pub(super) const MIN_PART: u64 = 5 << 20;

/// How large a segment grows before a new one starts: 8 MiB for the first 2,500, then
/// twice as large every 2,500, so S3's 10,000 parts reach far past 5 GiB (about 290 GiB)
/// while an append holds at most one segment in memory.
pub(super) fn segment_size(index: usize) -> usize {
    (8 << 20) << (index / 2500).min(3)
}

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

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct UploadRecord {
    pub segments: Vec<Segment>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub commit: Option<PendingCommit>,
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

    #[test]
    fn segments_grow_so_ten_thousand_parts_pass_five_gib() {
        let total: u64 = (0..10_000).map(|i| segment_size(i) as u64).sum();
        assert!(total > 200 << 30);
        assert!(segment_size(0) as u64 >= MIN_PART);
    }
}
