//! Appends: a body becomes segments of the upload, recorded once stored.

use super::parts::InFlight;
use super::record::{Segment, UploadRecord, MIN_PART};
use super::{to_io, S3BlobStore};
use crate::storage::AppendSource;
use bytes::{Bytes, BytesMut};
use futures::TryStreamExt;
use object_store::{ObjectStoreExt, PutPayload};
use std::io;

impl S3BlobStore {
    /// Appends `source` at `offset` (see [`BlobStore::append_upload`](crate::storage::BlobStore::append_upload)).
    ///
    /// The record is shortened to `offset` first (and stored so, when that drops bytes,
    /// so that an error leaves the upload at `offset`); the staged tail (a last segment
    /// under 5 MiB) is read back when the first bytes arrive and sent again with them;
    /// every full segment is stored as it fills, several at once (see [`super::parts`]);
    /// the record naming the new segments is stored last, then segments it no longer
    /// names are removed. A crash before the record is stored leaves the upload as it
    /// was (plus unnamed segments, removed with the upload). A whole blob streamed into
    /// a multipart upload (see [`super::whole`]) cannot be appended to: an append at
    /// offset 0 aborts it and starts afresh.
    pub(super) async fn append(&self, id: &str, offset: u64, source: AppendSource<'_>) -> io::Result<u64> {
        let mut record = self.load_record(id).await?;
        let held = record.len();
        if offset > held {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("upload {id} holds {held} bytes: cannot append at {offset}"),
            ));
        }
        let mut unused: Vec<String> = Vec::new();
        if offset == 0 && record.whole.is_some() {
            self.abort_whole(id, &mut record).await?;
        }
        if offset < held {
            unused.extend(record.truncate(offset).into_iter().map(|s| s.key));
            self.save_record(id, &mut record).await?;
        }
        let mut writer = SegmentWriter {
            store: self,
            id,
            record: &mut record,
            buffer: BytesMut::new(),
            in_flight: InFlight::new(self.parts.in_flight),
            started: 0,
            written: Vec::new(),
            replaced: Vec::new(),
            tail_absorbed: false,
        };
        let taken = writer.take(source).await;
        // Stops what is still being sent (after a failure) before its keys are removed.
        drop(writer.in_flight);
        let (written, replaced) = (writer.written, writer.replaced);
        let appended = match taken {
            Ok(appended) => appended,
            Err(e) => {
                // No record names what this append stored: it can go.
                self.delete_quietly(written).await;
                return Err(e);
            }
        };
        // A record write that failed may still have landed: what it names stays (as
        // garbage under the upload's key at worst, removed with the upload).
        self.save_record(id, &mut record).await?;
        unused.extend(replaced);
        self.delete_quietly(unused).await;
        Ok(appended)
    }
}

/// Fills segments from a body.
struct SegmentWriter<'a> {
    store: &'a S3BlobStore,
    id: &'a str,
    record: &'a mut UploadRecord,
    buffer: BytesMut,
    /// Segments being stored, oldest first.
    in_flight: InFlight<Segment>,
    /// Segments handed to `in_flight` (named by the record once stored).
    started: usize,
    /// Segments this append stored or is storing.
    written: Vec<String>,
    /// Segments this append read back and replaced (the staged tail).
    replaced: Vec<String>,
    tail_absorbed: bool,
}

impl SegmentWriter<'_> {
    /// Takes the body until it ends or fails; returns how many of its bytes were
    /// stored. A failing body ends the append with what it yielded before.
    async fn take(&mut self, source: AppendSource<'_>) -> io::Result<u64> {
        let mut appended = 0u64;
        loop {
            let chunk = match source.try_next().await {
                Ok(Some(chunk)) => chunk,
                Ok(None) | Err(_) => break,
            };
            if chunk.is_empty() {
                continue;
            }
            if !self.tail_absorbed {
                self.absorb_tail().await?;
            }
            appended += chunk.len() as u64;
            self.buffer.extend_from_slice(&chunk);
            loop {
                let size = self.store.parts.size_of(self.record.segments.len() + self.started);
                if self.buffer.len() < size {
                    break;
                }
                let full = self.buffer.split_to(size).freeze();
                self.store_segment(full).await?;
            }
        }
        if !self.buffer.is_empty() {
            let rest = self.buffer.split().freeze();
            self.store_segment(rest).await?;
        }
        let stored = self.in_flight.drain().await?;
        self.record.segments.extend(stored);
        self.started = 0;
        Ok(appended)
    }

    /// Takes the last segment back into the buffer when it is smaller than a part.
    async fn absorb_tail(&mut self) -> io::Result<()> {
        self.tail_absorbed = true;
        let Some(last) = self.record.segments.last() else {
            return Ok(());
        };
        if last.len >= MIN_PART {
            return Ok(());
        }
        let last = self.record.segments.pop().expect("checked above");
        let mut stream = self.store.read_segments(vec![last.clone()], last.len);
        while let Some(piece) = stream.try_next().await? {
            self.buffer.extend_from_slice(&piece);
        }
        if self.buffer.len() as u64 != last.len {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!("upload {}: segment {} is shorter than recorded", self.id, last.key),
            ));
        }
        self.replaced.push(last.key);
        Ok(())
    }

    /// Starts storing `bytes` as the next segment; the record names it once it and every
    /// segment before it are stored.
    async fn store_segment(&mut self, bytes: Bytes) -> io::Result<()> {
        let key = self.store.keys.new_segment(self.id);
        self.written.push(key.to_string());
        let store = self.store.store.clone();
        let put = async move {
            let len = bytes.len() as u64;
            store.put(&key, PutPayload::from(bytes)).await.map_err(to_io)?;
            Ok(Segment {
                key: key.to_string(),
                len,
            })
        };
        self.started += 1;
        if let Some(stored) = self.in_flight.push(put).await? {
            self.started -= 1;
            self.record.segments.push(stored);
        }
        Ok(())
    }
}
