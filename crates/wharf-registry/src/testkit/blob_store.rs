//! The [`BlobStore`] contract: appends at an offset (of what the source yielded, up to
//! its failure), atomic and deduplicating commits, quarantine, ranged reads, idempotent removals. Each check takes a fresh,
//! empty store and panics where the store breaks the contract.

use crate::storage::BlobStore;
use bytes::Bytes;
use futures::{stream, Stream, TryStreamExt};
use std::io;
use wharf_oci::Digest;

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

async fn collect(s: crate::storage::ByteStream) -> Vec<u8> {
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

pub async fn appends_at_the_given_offset(store: &dyn BlobStore) {
    store.create_upload("u1").await.unwrap();
    assert_eq!(append(store, "u1", 0, &[b"hello ", b"wor"]).await.unwrap(), 9);
    assert_eq!(append(store, "u1", 9, &[b"ld"]).await.unwrap(), 2);
    assert_eq!(append(store, "u1", 11, &[]).await.unwrap(), 0);
    assert_eq!(upload_bytes(store, "u1").await, b"hello world");
    assert_eq!(collect(store.read_upload("u1", 5).await.unwrap()).await, b"hello");
}

pub async fn an_append_discards_what_lies_past_its_offset(store: &dyn BlobStore) {
    store.create_upload("u2").await.unwrap();
    append(store, "u2", 0, &[b"0123456789"]).await.unwrap();
    // A crashed append may have left bytes the session never recorded.
    assert_eq!(append(store, "u2", 4, &[b"abc"]).await.unwrap(), 3);
    assert_eq!(upload_bytes(store, "u2").await, b"0123abc");
}

/// A source that fails (a body cut off or stalled) ends the append: what it yielded
/// before is appended and counted, so the session can resume from there.
pub async fn a_failing_source_appends_what_it_yielded_before(store: &dyn BlobStore) {
    store.create_upload("u3").await.unwrap();
    append(store, "u3", 0, &[b"kept"]).await.unwrap();
    let appended = store
        .append_upload("u3", 4, &mut source(&[b" and ", b"arrived"], true))
        .await
        .unwrap();
    assert_eq!(appended, 12);
    assert_eq!(upload_bytes(store, "u3").await, b"kept and arrived");
    assert_eq!(store.upload_len("u3").await.unwrap(), 16);
    append(store, "u3", 16, &[b"!"]).await.unwrap();
    assert_eq!(upload_bytes(store, "u3").await, b"kept and arrived!");
    // A failure before anything arrived appends nothing.
    let appended = store.append_upload("u3", 17, &mut source(&[], true)).await.unwrap();
    assert_eq!(appended, 0);
    assert_eq!(store.upload_len("u3").await.unwrap(), 17);
}

/// An upload holds nothing until appended to, so an append that claims earlier bytes
/// fails, whether or not the upload was ever started, and leaves it empty.
pub async fn appending_past_what_an_upload_holds_fails(store: &dyn BlobStore) {
    store.create_upload("p1").await.unwrap();
    assert!(append(store, "p1", 3, &[b"x"]).await.is_err());
    assert!(upload_bytes(store, "p1").await.is_empty());
    assert!(append(store, "never-created", 3, &[b"x"]).await.is_err());
}

pub async fn a_commit_makes_the_blob_visible_whole(store: &dyn BlobStore) {
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

/// Appends that need be durable only once committed (a pull-through fetch's) read
/// back, continue at their offset and commit like any other.
pub async fn appends_until_commit_read_back_and_commit(store: &dyn BlobStore) {
    let data = b"pulled through, stored once".to_vec();
    let digest = digest_of(&data);
    store.create_upload("t1").await.unwrap();
    let first = store
        .append_upload_until_commit("t1", 0, &mut source(&[&data[..7], &data[7..15]], false))
        .await
        .unwrap();
    assert_eq!(first, 15);
    let rest = store
        .append_upload_until_commit("t1", 15, &mut source(&[&data[15..]], false))
        .await
        .unwrap();
    assert_eq!(rest as usize, data.len() - 15);
    assert_eq!(
        collect(store.read_upload_range("t1", 8..14).await.unwrap()).await,
        &data[8..14]
    );
    store.commit_upload("t1", data.len() as u64, &digest).await.unwrap();
    assert_eq!(blob_bytes(store, &digest, 0..data.len() as u64).await, data);
}

pub async fn a_commit_takes_only_the_first_len_bytes(store: &dyn BlobStore) {
    store.create_upload("c2").await.unwrap();
    append(store, "c2", 0, &[b"abcdef"]).await.unwrap();
    let digest = digest_of(b"abc");
    store.commit_upload("c2", 3, &digest).await.unwrap();
    assert_eq!(store.blob_size(&digest).await.unwrap(), Some(3));
    assert_eq!(blob_bytes(store, &digest, 0..3).await, b"abc");
}

pub async fn a_commit_under_an_existing_digest_keeps_the_stored_bytes(store: &dyn BlobStore) {
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

/// A blob set aside as damaged reads as absent; the next commit of its digest stores it
/// again, as does a put.
pub async fn a_quarantined_blob_reads_as_absent_and_is_stored_again(store: &dyn BlobStore) {
    for data in [&b"small quarantined"[..], &vec![9u8; 100 * 1024][..]] {
        let digest = digest_of(data);
        store.create_upload("q1").await.unwrap();
        append(store, "q1", 0, &[data]).await.unwrap();
        store.commit_upload("q1", data.len() as u64, &digest).await.unwrap();
        assert!(store.quarantine_blob(&digest).await.unwrap(), "something was set aside");
        assert_eq!(store.blob_size(&digest).await.unwrap(), None);
        assert!(
            !store.quarantine_blob(&digest).await.unwrap(),
            "nothing left to set aside"
        );
        store.create_upload("q2").await.unwrap();
        append(store, "q2", 0, &[data]).await.unwrap();
        store.commit_upload("q2", data.len() as u64, &digest).await.unwrap();
        assert_eq!(blob_bytes(store, &digest, 0..data.len() as u64).await, data);
        store.quarantine_blob(&digest).await.unwrap();
        store.put_blob(&digest, Bytes::copy_from_slice(data)).await.unwrap();
        assert_eq!(blob_bytes(store, &digest, 0..data.len() as u64).await, data);
    }
}

pub async fn put_blob_stores_and_keeps_the_first_bytes(store: &dyn BlobStore) {
    let digest = digest_of(b"manifest");
    store.put_blob(&digest, Bytes::from_static(b"manifest")).await.unwrap();
    store.put_blob(&digest, Bytes::from_static(b"changed!")).await.unwrap();
    assert_eq!(store.blob_size(&digest).await.unwrap(), Some(8));
    assert_eq!(blob_bytes(store, &digest, 0..8).await, b"manifest");
}

pub async fn removals_are_idempotent(store: &dyn BlobStore) {
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

pub async fn uploads_are_listed(store: &dyn BlobStore) {
    for id in ["l-1", "l_2", "L3"] {
        store.create_upload(id).await.unwrap();
        append(store, id, 0, &[b"x"]).await.unwrap();
    }
    let mut listed = store.list_uploads().await.unwrap();
    listed.sort();
    assert_eq!(listed, ["L3", "l-1", "l_2"]);
}

pub async fn an_empty_blob_can_be_committed(store: &dyn BlobStore) {
    let digest = digest_of(b"");
    store.create_upload("e1").await.unwrap();
    store.commit_upload("e1", 0, &digest).await.unwrap();
    assert_eq!(store.blob_size(&digest).await.unwrap(), Some(0));
    assert!(blob_bytes(store, &digest, 0..0).await.is_empty());
}

/// A small blob given whole to an empty upload becomes the blob in one step; an existing
/// digest keeps its bytes.
pub async fn a_whole_upload_commits_in_one_step(store: &dyn BlobStore) {
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
pub async fn large_blobs_read_whole_and_in_ranges(store: &dyn BlobStore) {
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
pub async fn appends_of_any_size_keep_every_byte(store: &dyn BlobStore) {
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
            let cut_off = store
                .append_upload("sizes", held as u64, &mut source(&pieces, true))
                .await
                .unwrap();
            assert_eq!(cut_off, size as u64);
            assert!(
                upload_bytes(store, "sizes").await == data[..held + size],
                "after the append whose source failed"
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
pub async fn concurrent_commits_into_new_shards_all_succeed(store: &dyn BlobStore) {
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

/// Every stored blob is listed with its size, and a deleted one no longer.
pub async fn stored_blobs_are_listed(store: &dyn BlobStore) {
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

/// Every check above, in the order [`blob_store_contract`](super::blob_store_contract) runs them.
pub const CHECKS: &[super::Check<dyn BlobStore>] = checks![dyn BlobStore:
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
    a_whole_upload_commits_in_one_step,
    large_blobs_read_whole_and_in_ranges,
    appends_of_any_size_keep_every_byte,
    concurrent_commits_into_new_shards_all_succeed,
    stored_blobs_are_listed,
];
