//! The [`BlobStore`] contract: appends at an offset (whole or not at all), atomic and
//! deduplicating commits, ranged reads, idempotent removals; checked on every adapter.

use crate::harness::files_under;
use bytes::Bytes;
use futures::{stream, Stream, TryStreamExt};
use std::io;
use wharf_oci::Digest;
use wharf_registry::storage::{BlobStore, FsBlobStore, MemoryBlobStore};

fn digest_of(data: &[u8]) -> Digest {
    Digest::sha256_of(data)
}

/// A source that yields `chunks`, then fails if `fail` is set.
fn source(chunks: &[&[u8]], fail: bool) -> impl Stream<Item = io::Result<Bytes>> + Send + Unpin {
    let mut items: Vec<io::Result<Bytes>> = chunks.iter().map(|c| Ok(Bytes::copy_from_slice(c))).collect();
    if fail {
        items.push(Err(io::Error::new(io::ErrorKind::ConnectionReset, "client went away")));
    }
    stream::iter(items)
}

async fn append(store: &dyn BlobStore, id: &str, offset: u64, chunks: &[&[u8]]) -> io::Result<u64> {
    store.append_upload(id, offset, &mut source(chunks, false)).await
}

async fn collect(s: wharf_registry::storage::ByteStream) -> Vec<u8> {
    s.try_fold(Vec::new(), |mut all, chunk| async move {
        all.extend_from_slice(&chunk);
        Ok(all)
    })
    .await
    .unwrap()
}

async fn upload_bytes(store: &dyn BlobStore, id: &str) -> Vec<u8> {
    collect(store.read_upload(id, u64::MAX).await.unwrap()).await
}

async fn blob_bytes(store: &dyn BlobStore, digest: &Digest, range: std::ops::Range<u64>) -> Vec<u8> {
    collect(store.read_blob(digest, range).await.unwrap()).await
}

async fn appends_at_the_given_offset(store: &dyn BlobStore) {
    store.create_upload("u1").await.unwrap();
    assert_eq!(append(store, "u1", 0, &[b"hello ", b"wor"]).await.unwrap(), 9);
    assert_eq!(append(store, "u1", 9, &[b"ld"]).await.unwrap(), 2);
    assert_eq!(append(store, "u1", 11, &[]).await.unwrap(), 0);
    assert_eq!(upload_bytes(store, "u1").await, b"hello world");
    assert_eq!(collect(store.read_upload("u1", 5).await.unwrap()).await, b"hello");
}

async fn an_append_discards_what_lies_past_its_offset(store: &dyn BlobStore) {
    store.create_upload("u2").await.unwrap();
    append(store, "u2", 0, &[b"0123456789"]).await.unwrap();
    // A crashed append may have left bytes the session never recorded.
    assert_eq!(append(store, "u2", 4, &[b"abc"]).await.unwrap(), 3);
    assert_eq!(upload_bytes(store, "u2").await, b"0123abc");
}

async fn a_failed_append_leaves_the_upload_at_its_offset(store: &dyn BlobStore) {
    store.create_upload("u3").await.unwrap();
    append(store, "u3", 0, &[b"kept"]).await.unwrap();
    let failed = store
        .append_upload("u3", 4, &mut source(&[b"lost", b"also lost"], true))
        .await;
    assert!(failed.is_err());
    assert_eq!(upload_bytes(store, "u3").await, b"kept");
    append(store, "u3", 4, &[b"!"]).await.unwrap();
    assert_eq!(upload_bytes(store, "u3").await, b"kept!");
}

/// An upload holds nothing until appended to, so an append that claims earlier bytes
/// fails, whether or not the upload was ever started, and leaves it empty.
async fn appending_past_what_an_upload_holds_fails(store: &dyn BlobStore) {
    store.create_upload("p1").await.unwrap();
    assert!(append(store, "p1", 3, &[b"x"]).await.is_err());
    assert!(upload_bytes(store, "p1").await.is_empty());
    assert!(append(store, "never-created", 3, &[b"x"]).await.is_err());
}

async fn a_commit_makes_the_blob_visible_whole(store: &dyn BlobStore) {
    let data = b"the whole blob".to_vec();
    let digest = digest_of(&data);
    store.create_upload("c1").await.unwrap();
    append(store, "c1", 0, &[&data[..4], &data[4..]]).await.unwrap();
    assert_eq!(store.blob_size(&digest).await.unwrap(), None, "invisible before commit");
    store.commit_upload("c1", data.len() as u64, &digest).await.unwrap();
    assert_eq!(store.blob_size(&digest).await.unwrap(), Some(data.len() as u64));
    assert_eq!(blob_bytes(store, &digest, 0..data.len() as u64).await, data);
    assert_eq!(blob_bytes(store, &digest, 4..9).await, b"whole");
    assert!(
        !store.list_uploads().await.unwrap().contains(&"c1".to_string()),
        "the upload is gone"
    );
    assert!(append(store, "c1", data.len() as u64, &[b"x"]).await.is_err());
}

async fn a_commit_takes_only_the_first_len_bytes(store: &dyn BlobStore) {
    store.create_upload("c2").await.unwrap();
    append(store, "c2", 0, &[b"abcdef"]).await.unwrap();
    let digest = digest_of(b"abc");
    store.commit_upload("c2", 3, &digest).await.unwrap();
    assert_eq!(store.blob_size(&digest).await.unwrap(), Some(3));
    assert_eq!(blob_bytes(store, &digest, 0..3).await, b"abc");
}

async fn a_commit_under_an_existing_digest_keeps_the_stored_bytes(store: &dyn BlobStore) {
    let digest = digest_of(b"first");
    store.create_upload("d1").await.unwrap();
    append(store, "d1", 0, &[b"first"]).await.unwrap();
    store.commit_upload("d1", 5, &digest).await.unwrap();
    // The registry verifies digests; the store only keeps what it has.
    store.create_upload("d2").await.unwrap();
    append(store, "d2", 0, &[b"other"]).await.unwrap();
    store.commit_upload("d2", 5, &digest).await.unwrap();
    assert_eq!(blob_bytes(store, &digest, 0..5).await, b"first");
    assert!(!store.list_uploads().await.unwrap().contains(&"d2".to_string()));
}

async fn put_blob_stores_and_keeps_the_first_bytes(store: &dyn BlobStore) {
    let digest = digest_of(b"manifest");
    store.put_blob(&digest, Bytes::from_static(b"manifest")).await.unwrap();
    store.put_blob(&digest, Bytes::from_static(b"changed!")).await.unwrap();
    assert_eq!(store.blob_size(&digest).await.unwrap(), Some(8));
    assert_eq!(blob_bytes(store, &digest, 0..8).await, b"manifest");
}

async fn removals_are_idempotent(store: &dyn BlobStore) {
    let digest = digest_of(b"gone");
    store.put_blob(&digest, Bytes::from_static(b"gone")).await.unwrap();
    store.delete_blob(&digest).await.unwrap();
    assert_eq!(store.blob_size(&digest).await.unwrap(), None);
    store.delete_blob(&digest).await.unwrap();
    store.create_upload("r1").await.unwrap();
    store.delete_upload("r1").await.unwrap();
    store.delete_upload("r1").await.unwrap();
    assert!(!store.list_uploads().await.unwrap().contains(&"r1".to_string()));
}

async fn uploads_are_listed(store: &dyn BlobStore) {
    for id in ["l-1", "l_2", "L3"] {
        store.create_upload(id).await.unwrap();
        append(store, id, 0, &[b"x"]).await.unwrap();
    }
    let mut listed = store.list_uploads().await.unwrap();
    listed.sort();
    assert_eq!(listed, ["L3", "l-1", "l_2"]);
}

async fn an_empty_blob_can_be_committed(store: &dyn BlobStore) {
    let digest = digest_of(b"");
    store.create_upload("e1").await.unwrap();
    store.commit_upload("e1", 0, &digest).await.unwrap();
    assert_eq!(store.blob_size(&digest).await.unwrap(), Some(0));
    assert!(blob_bytes(store, &digest, 0..0).await.is_empty());
}

/// A small blob given whole to an empty upload becomes the blob in one step; an existing
/// digest keeps its bytes.
async fn a_whole_upload_commits_in_one_step(store: &dyn BlobStore) {
    let digest = digest_of(b"whole");
    // The second upload claims the same digest with other bytes: the first bytes stay.
    for (id, bytes) in [("w1", b"whole"), ("w2", b"other")] {
        store.create_upload(id).await.unwrap();
        store
            .commit_whole_upload(id, Bytes::from_static(bytes), &digest)
            .await
            .unwrap();
        assert_eq!(blob_bytes(store, &digest, 0..5).await, b"whole");
        assert!(!store.list_uploads().await.unwrap().contains(&id.to_string()));
    }
}

/// A blob of several MiB (sent from memory maps by the file store) reads back whole and
/// in ranges that start and end off page and map boundaries.
async fn large_blobs_read_whole_and_in_ranges(store: &dyn BlobStore) {
    let data: Vec<u8> = (0..(9u64 << 20) + 4321).map(|i| (i * 7 % 251) as u8).collect();
    let digest = digest_of(&data);
    store.create_upload("big").await.unwrap();
    append(store, "big", 0, &[&data]).await.unwrap();
    store.commit_upload("big", data.len() as u64, &digest).await.unwrap();
    let len = data.len() as u64;
    for range in [
        0..len,
        4097..len,
        4097..(4 << 20) + 3,
        (4 << 20) - 1..(8 << 20) + 1,
        len - 5..len,
        10..(1 << 20) + 10,
    ] {
        let got = blob_bytes(store, &digest, range.clone()).await;
        assert!(got == data[range.start as usize..range.end as usize], "range {range:?}");
    }
}

/// Appends of every size, starting and ending inside blocks and on their edges, sent in
/// pieces that do not line up with anything, each followed by a read of the whole upload;
/// one of them fails halfway and one goes back into bytes already written: the upload
/// always holds exactly what was appended, and commits to it.
async fn appends_of_any_size_keep_every_byte(store: &dyn BlobStore) {
    let data: Vec<u8> = (0..(5u64 << 20)).map(|i| (i * 13 % 251) as u8).collect();
    store.create_upload("sizes").await.unwrap();
    let mut held = 0usize;
    for (n, size) in [1usize, 4095, 4096, 4097, (1 << 20) + 3, 5, 2 << 20, 4093, 8191]
        .into_iter()
        .enumerate()
    {
        let part = &data[held..held + size];
        let pieces: Vec<&[u8]> = part.chunks(if n % 2 == 0 { 7777 } else { 100_003 }).collect();
        if n == 5 {
            let failed = store
                .append_upload("sizes", held as u64, &mut source(&pieces, true))
                .await;
            assert!(failed.is_err());
            assert!(
                upload_bytes(store, "sizes").await == data[..held],
                "after the failed append"
            );
        }
        assert_eq!(append(store, "sizes", held as u64, &pieces).await.unwrap(), size as u64);
        held += size;
        assert!(
            upload_bytes(store, "sizes").await == data[..held],
            "after appending {size} bytes"
        );
    }
    // Back into the middle of a block written earlier, then on from there.
    let back = held - 6000;
    let tail = &data[back..back + 70_000];
    assert_eq!(
        append(store, "sizes", back as u64, &[tail]).await.unwrap(),
        tail.len() as u64
    );
    held = back + tail.len();
    assert!(upload_bytes(store, "sizes").await == data[..held], "after going back");
    let digest = digest_of(&data[..held]);
    store.commit_upload("sizes", held as u64, &digest).await.unwrap();
    assert!(blob_bytes(store, &digest, 0..held as u64).await == data[..held]);
}

/// Many commits at once into a fresh store, most of them the first of their shard and
/// some the same manifest twice, as concurrent pushes make them: every one succeeds.
async fn concurrent_commits_into_new_shards_all_succeed(store: &dyn BlobStore) {
    let contents: Vec<Vec<u8>> = (0..300u32).map(|i| format!("blob {i}").into_bytes()).collect();
    let puts = contents.iter().map(|data| async move {
        let digest = digest_of(data);
        let (first, second) = futures::join!(
            store.put_blob(&digest, Bytes::copy_from_slice(data)),
            store.put_blob(&digest, Bytes::copy_from_slice(data)),
        );
        first.and(second).map(|()| digest)
    });
    // Streamed uploads become files (small blobs given whole are packed instead), so they
    // are what races for new shard directories: as many as there are shards and more.
    let uploads = (0..300u32).map(|i| async move {
        let data = format!("upload {i}").into_bytes();
        let id = format!("cc{i}");
        store.create_upload(&id).await?;
        append(store, &id, 0, &[&data]).await?;
        let digest = digest_of(&data);
        store
            .commit_upload(&id, data.len() as u64, &digest)
            .await
            .map(|()| digest)
    });
    let (puts, uploads) = futures::join!(futures::future::join_all(puts), futures::future::join_all(uploads));
    for (data, put) in contents.iter().zip(puts) {
        let digest = put.expect("a concurrent put_blob succeeds");
        assert_eq!(blob_bytes(store, &digest, 0..data.len() as u64).await, *data);
    }
    for upload in uploads {
        let digest = upload.expect("a concurrent commit succeeds");
        assert!(store.blob_size(&digest).await.unwrap().is_some());
    }
}

/// One `#[tokio::test]` per check and adapter, so a failure names both.
async fn stored_blobs_are_listed(store: &dyn BlobStore) {
    let (small, large) = (Bytes::from_static(b"small"), Bytes::from(vec![7u8; 100_000]));
    let (ds, dl) = (Digest::sha256_of(&small), Digest::sha256_of(&large));
    store.put_blob(&ds, small).await.unwrap();
    store.put_blob(&dl, large).await.unwrap();
    let mut listed: Vec<(Digest, u64)> = store
        .list_blobs()
        .await
        .unwrap()
        .into_iter()
        .map(|b| (b.digest, b.size))
        .collect();
    listed.sort();
    let mut expected = vec![(ds.clone(), 5), (dl, 100_000)];
    expected.sort();
    assert_eq!(listed, expected);
    store.delete_blob(&ds).await.unwrap();
    assert_eq!(store.list_blobs().await.unwrap().len(), 1);
}

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
    };
}

on_every_blob_store!(
    stored_blobs_are_listed,
    appends_at_the_given_offset,
    an_append_discards_what_lies_past_its_offset,
    a_failed_append_leaves_the_upload_at_its_offset,
    appending_past_what_an_upload_holds_fails,
    a_commit_makes_the_blob_visible_whole,
    a_commit_takes_only_the_first_len_bytes,
    a_commit_under_an_existing_digest_keeps_the_stored_bytes,
    put_blob_stores_and_keeps_the_first_bytes,
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
