//! The [`BlobStore`] contract of the public test kit (`wharf_registry::testkit`), run
//! against every built-in adapter; and what only the file store promises.

use crate::harness::files_under;
use bytes::Bytes;
use futures::{stream, Stream, TryStreamExt};
use std::io;
use wharf_oci::Digest;
use wharf_registry::storage::{BlobStore, FsBlobStore, MemoryBlobStore};
use wharf_registry::testkit::blob_store::*;

fn digest_of(data: &[u8]) -> Digest {
    Digest::sha256_of(data)
}

/// A source that yields `chunks`.
fn source(chunks: &[&[u8]]) -> impl Stream<Item = io::Result<Bytes>> + Send + Unpin {
    stream::iter(chunks.iter().map(|c| Ok(Bytes::copy_from_slice(c))).collect::<Vec<_>>())
}

async fn append(store: &dyn BlobStore, id: &str, offset: u64, chunks: &[&[u8]]) -> io::Result<u64> {
    store.append_upload(id, offset, &mut source(chunks)).await
}

async fn blob_bytes(store: &dyn BlobStore, digest: &Digest, range: std::ops::Range<u64>) -> Vec<u8> {
    let stream = store.read_blob(digest, range).await.unwrap();
    stream
        .try_fold(Vec::new(), |mut all, chunk| async move {
            all.extend_from_slice(&chunk);
            Ok(all)
        })
        .await
        .unwrap()
}

/// One `#[tokio::test]` per check and adapter, so a failure names both.
macro_rules! on_every_blob_store {
    ($($check:ident),* $(,)?) => {
        mod memory {
            use super::*;
            $(#[tokio::test]
            async fn $check() {
                super::$check(&MemoryBlobStore::new()).await;
            })*
        }
        mod fs {
            use super::*;
            $(#[tokio::test]
            async fn $check() {
                let dir = tempfile::tempdir().unwrap();
                let store = FsBlobStore::open(dir.path(), true).await.unwrap();
                super::$check(&store).await;
            })*
        }
        /// Over a real S3 server (SeaweedFS, shared by the tests, a key prefix each).
        mod s3 {
            $(#[tokio::test]
            async fn $check() {
                let store = crate::s3::fresh_store().await;
                super::$check(&store).await;
            })*
        }
        /// The list above is the kit's whole contract: a check added to the kit runs here.
        #[test]
        fn every_check_of_the_kit_runs_on_every_adapter() {
            let mut here = vec![$(stringify!($check)),*];
            let mut kit: Vec<&str> = CHECKS.iter().map(|check| check.name).collect();
            here.sort();
            kit.sort();
            assert_eq!(here, kit);
        }
    };
}

on_every_blob_store!(
    stored_blobs_are_listed,
    appends_at_the_given_offset,
    an_append_discards_what_lies_past_its_offset,
    a_failing_source_appends_what_it_yielded_before,
    appending_past_what_an_upload_holds_fails,
    a_commit_makes_the_blob_visible_whole,
    appends_until_commit_read_back_and_commit,
    a_commit_takes_only_the_first_len_bytes,
    a_commit_under_an_existing_digest_keeps_the_stored_bytes,
    put_blob_stores_and_keeps_the_first_bytes,
    a_quarantined_blob_reads_as_absent_and_is_stored_again,
    removals_are_idempotent,
    uploads_are_listed,
    an_empty_blob_can_be_committed,
    concurrent_commits_into_new_shards_all_succeed,
    large_blobs_read_whole_and_in_ranges,
    a_whole_upload_commits_in_one_step,
    appends_of_any_size_keep_every_byte,
);

/// A blob file found shorter than its size (damaged outside wharf) fails the read with an
/// error instead of taking the process down: large reads are sent from memory maps, and
/// a mapped page past the end of a file is a fatal signal.
#[tokio::test]
async fn fs_a_blob_file_cut_short_on_disk_fails_the_read_and_nothing_else() {
    let dir = tempfile::tempdir().unwrap();
    let store = FsBlobStore::open(dir.path(), true).await.unwrap();
    let data: Vec<u8> = (0..3u32 << 20).map(|i| (i % 253) as u8).collect();
    let digest = digest_of(&data);
    store.create_upload("cut").await.unwrap();
    append(&store, "cut", 0, &[&data]).await.unwrap();
    store.commit_upload("cut", data.len() as u64, &digest).await.unwrap();
    let hex = digest.hex();
    let file = dir.path().join("blobs/sha256").join(&hex[..2]).join(hex);
    std::fs::OpenOptions::new()
        .write(true)
        .open(&file)
        .unwrap()
        .set_len(1 << 20)
        .unwrap();
    let read: Result<Vec<Bytes>, io::Error> = store
        .read_blob(&digest, 0..data.len() as u64)
        .await
        .unwrap()
        .try_collect()
        .await;
    assert!(read.is_err(), "a short blob file is reported");
    assert_eq!(blob_bytes(&store, &digest, 0..1000).await, data[..1000]);
}

/// A blob file cut short on disk is replaced by the next commit of its digest, where an
/// intact one would be kept: a push repairs damage the registry has not seen yet.
#[tokio::test]
async fn fs_a_commit_replaces_a_blob_file_of_the_wrong_length() {
    let dir = tempfile::tempdir().unwrap();
    let store = FsBlobStore::open(dir.path(), true).await.unwrap();
    let data: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
    let digest = digest_of(&data);
    for id in ["first", "again"] {
        store.create_upload(id).await.unwrap();
        append(&store, id, 0, &[&data]).await.unwrap();
        store.commit_upload(id, data.len() as u64, &digest).await.unwrap();
        let hex = digest.hex();
        let file = dir.path().join("blobs/sha256").join(&hex[..2]).join(hex);
        if id == "first" {
            std::fs::OpenOptions::new()
                .write(true)
                .open(&file)
                .unwrap()
                .set_len(10)
                .unwrap();
        }
    }
    assert_eq!(store.blob_size(&digest).await.unwrap(), Some(data.len() as u64));
    assert!(blob_bytes(&store, &digest, 0..data.len() as u64).await == data);
}

/// Small blobs given whole (a one-request push, a manifest, the empty blob) are packed:
/// no upload file and no blob file is ever made for them, they survive the store being
/// opened again, and they can be deleted. A blob just over the pack's limit is a file.
#[tokio::test]
async fn fs_small_blobs_given_whole_are_packed_without_files() {
    let dir = tempfile::tempdir().unwrap();
    let layer: Vec<u8> = (0..4096u32).map(|i| (i % 241) as u8).collect();
    let manifest = b"{\"schemaVersion\":2}".to_vec();
    let over: Vec<u8> = (0..64 * 1024 + 1u32).map(|i| (i % 239) as u8).collect();
    let (layer_d, manifest_d, empty_d, over_d) = (
        digest_of(&layer),
        digest_of(&manifest),
        digest_of(b""),
        digest_of(&over),
    );
    {
        let store = FsBlobStore::open(dir.path(), true).await.unwrap();
        store.create_upload("small").await.unwrap();
        assert!(
            files_under(&dir.path().join("uploads")).is_empty(),
            "no file for a new upload"
        );
        store
            .commit_whole_upload("small", Bytes::from(layer.clone()), &layer_d)
            .await
            .unwrap();
        store
            .put_blob(&manifest_d, Bytes::from(manifest.clone()))
            .await
            .unwrap();
        store.create_upload("empty").await.unwrap();
        store.commit_upload("empty", 0, &empty_d).await.unwrap();
        assert!(files_under(&dir.path().join("uploads")).is_empty());
        assert!(
            files_under(&dir.path().join("blobs/sha256")).is_empty(),
            "small blobs are packed"
        );
        store.create_upload("over").await.unwrap();
        store
            .commit_whole_upload("over", Bytes::from(over.clone()), &over_d)
            .await
            .unwrap();
        assert_eq!(
            files_under(&dir.path().join("blobs/sha256")).len(),
            1,
            "a larger blob is a file"
        );
    }
    let store = FsBlobStore::open(dir.path(), true).await.unwrap();
    assert_eq!(blob_bytes(&store, &layer_d, 0..4096).await, layer);
    assert_eq!(blob_bytes(&store, &layer_d, 100..200).await, layer[100..200]);
    assert_eq!(
        blob_bytes(&store, &manifest_d, 0..manifest.len() as u64).await,
        manifest
    );
    assert_eq!(store.blob_size(&empty_d).await.unwrap(), Some(0));
    assert_eq!(store.blob_size(&over_d).await.unwrap(), Some(over.len() as u64));
    store.delete_blob(&layer_d).await.unwrap();
    assert_eq!(store.blob_size(&layer_d).await.unwrap(), None);
    assert_eq!(store.blob_size(&manifest_d).await.unwrap(), Some(manifest.len() as u64));
}

/// A pack database that is not one (damaged outside wharf) stops the store from opening,
/// as a damaged metadata database stops the start, instead of failing reads later.
#[tokio::test]
async fn fs_a_damaged_pack_stops_the_store_from_opening() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("blobs")).unwrap();
    std::fs::write(dir.path().join("blobs/small.sqlite"), vec![0x5a; 8192]).unwrap();
    assert!(
        FsBlobStore::open(dir.path(), true).await.is_err(),
        "a damaged pack is reported at open"
    );
}
