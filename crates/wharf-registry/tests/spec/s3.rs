//! The S3 blob store over a real S3 server (SeaweedFS, which refuses parts under 5 MiB
//! and checks every signature as AWS does): what only it promises (segments staged into
//! parts, uploads continued by another instance, appends cut off or crashed, commits of
//! a digest already stored), and the registry's pushes and pulls over S3 + SQLite. The
//! public contract runs over it in `adapters::blob_store::s3`.

use crate::client::{header, location, with_query, OCTET_STREAM};
use crate::content::{bytes, Blob, Image};
use crate::harness::TestServer;
use bytes::Bytes;
use futures::{stream, Stream, StreamExt, TryStreamExt};
use reqwest::{Method, StatusCode};
use std::io;
use std::sync::Arc;
use std::time::Duration;
use wharf_oci::Digest;
use wharf_registry::storage::{BlobStore, S3BlobStore, S3Config};
use wharf_registry::RegistryConfig;
use wharf_testkit::SeaweedFs;

const MIB: usize = 1 << 20;

/// The configuration of a store on the shared server, under `prefix`.
fn config(prefix: &str) -> S3Config {
    let server = SeaweedFs::shared();
    S3Config {
        endpoint: Some(server.endpoint()),
        region: Some(server.region().into()),
        bucket: server.bucket().into(),
        prefix: prefix.into(),
        path_style: true,
        allow_http: true,
        credentials: Some((server.credentials().0.into(), server.credentials().1.into())),
    }
}

/// Two stores on one fresh key prefix: what two replicas sharing a bucket hold.
pub async fn shared_prefix_stores() -> (S3BlobStore, S3BlobStore) {
    let prefix = SeaweedFs::shared().fresh_prefix();
    let a = S3BlobStore::open(&config(&prefix)).await.unwrap();
    (a, S3BlobStore::open(&config(&prefix)).await.unwrap())
}

/// A store of its own (a fresh key prefix) on the shared server.
pub async fn fresh_store() -> S3BlobStore {
    let prefix = SeaweedFs::shared().fresh_prefix();
    S3BlobStore::open(&config(&prefix)).await.unwrap()
}

fn source(chunks: Vec<Bytes>) -> impl Stream<Item = io::Result<Bytes>> + Send + Unpin {
    stream::iter(chunks.into_iter().map(Ok).collect::<Vec<_>>())
}

async fn collect(stream: wharf_registry::storage::ByteStream) -> Vec<u8> {
    stream
        .try_fold(Vec::new(), |mut all, piece| async move {
            all.extend_from_slice(&piece);
            Ok(all)
        })
        .await
        .unwrap()
}

#[tokio::test]
async fn chunks_under_and_over_five_mib_commit_and_read_back_in_ranges() {
    let store = fresh_store().await;
    let data = Bytes::from(bytes(1, 23 * MIB + 12_345));
    // 1 MiB, 3 MiB (the staged tail grows), 9 MiB (a segment fills), 100 KiB, 10 MiB...
    let sizes = [MIB, 3 * MIB, 9 * MIB, 100 * 1024, 10 * MIB - 100 * 1024 + 12_345];
    store.create_upload("mixed").await.unwrap();
    let mut held = 0usize;
    for size in sizes {
        let piece = data.slice(held..held + size);
        // Each body arrives in uneven pieces, as a network delivers it.
        let pieces: Vec<Bytes> = (0..size)
            .step_by(700_001)
            .map(|at| piece.slice(at..(at + 700_001).min(size)))
            .collect();
        let appended = store
            .append_upload("mixed", held as u64, &mut source(pieces))
            .await
            .unwrap();
        assert_eq!(appended, size as u64);
        held += size;
        assert_eq!(store.upload_len("mixed").await.unwrap(), held as u64);
    }
    assert_eq!(held, data.len());
    let digest = Digest::sha256_of(&data);
    store.commit_upload("mixed", held as u64, &digest).await.unwrap();
    assert_eq!(store.blob_size(&digest).await.unwrap(), Some(held as u64));
    let len = held as u64;
    for range in [
        0..len,
        0..1,
        (5 << 20) - 3..(5 << 20) + 3,
        (8 << 20) - 1..(17 << 20) + 1,
        len - 7..len,
    ] {
        let got = collect(store.read_blob(&digest, range.clone()).await.unwrap()).await;
        assert!(got == data[range.start as usize..range.end as usize], "range {range:?}");
    }
    assert!(store.list_uploads().await.unwrap().is_empty(), "the upload is gone");
}

/// A second instance (another replica, or this one restarted) continues an upload from
/// what the bucket holds: nothing of it lives in the first instance's memory.
#[tokio::test]
async fn an_upload_continues_on_a_second_instance() {
    let prefix = SeaweedFs::shared().fresh_prefix();
    let first = S3BlobStore::open(&config(&prefix)).await.unwrap();
    let second = S3BlobStore::open(&config(&prefix)).await.unwrap();
    let data = Bytes::from(bytes(2, 14 * MIB + 3));
    first.create_upload("moved").await.unwrap();
    first
        .append_upload("moved", 0, &mut source(vec![data.slice(..2 * MIB)]))
        .await
        .unwrap();
    assert_eq!(second.upload_len("moved").await.unwrap(), 2 * MIB as u64);
    second
        .append_upload("moved", 2 * MIB as u64, &mut source(vec![data.slice(2 * MIB..9 * MIB)]))
        .await
        .unwrap();
    first
        .append_upload("moved", 9 * MIB as u64, &mut source(vec![data.slice(9 * MIB..)]))
        .await
        .unwrap();
    assert!(collect(second.read_upload("moved", u64::MAX).await.unwrap()).await == data);
    let digest = Digest::sha256_of(&data);
    second.commit_upload("moved", data.len() as u64, &digest).await.unwrap();
    assert!(collect(first.read_blob(&digest, 0..data.len() as u64).await.unwrap()).await == data);
}

/// Two replicas appending at the same offset of one upload at once, which the
/// registry's lease in the metadata store prevents unless a holder outlives its lease
/// (a stalled process whose renewals failed): the upload's record is written with a
/// conditional PUT (If-Match on the ETag it was read at), so the append that read it
/// first and finishes last fails instead of overwriting the record the other stored.
/// Whatever returned success is what the upload holds: never a lost update.
#[tokio::test]
async fn two_appends_at_one_offset_at_once_never_lose_the_acknowledged_one() {
    let (first, second) = shared_prefix_stores().await;
    let head = Bytes::from(bytes(30, 6 * MIB));
    let (slow, fast) = (Bytes::from(bytes(31, 2 * MIB)), Bytes::from(bytes(32, 3 * MIB)));
    first.create_upload("raced").await.unwrap();
    first
        .append_upload("raced", 0, &mut source(vec![head.clone()]))
        .await
        .unwrap();
    let at = head.len() as u64;
    // The first append has read the record and taken its first bytes, then stalls
    // until the second append has finished.
    let (go_on, wait) = tokio::sync::oneshot::channel::<()>();
    let stalled = stream::iter([Ok(slow.slice(..MIB))])
        .chain(stream::once(async move {
            let _ = wait.await;
            Ok(slow.slice(MIB..))
        }))
        .boxed();
    let mut stalled = stalled;
    let through_first = first.append_upload("raced", at, &mut stalled);
    let through_second = async {
        // Long enough for the first append to have read the record.
        tokio::time::sleep(Duration::from_millis(500)).await;
        let done = second.append_upload("raced", at, &mut source(vec![fast.clone()])).await;
        let _ = go_on.send(());
        done
    };
    let (from_first, from_second) = tokio::join!(through_first, through_second);
    assert_eq!(
        from_second.unwrap(),
        fast.len() as u64,
        "the second append finished first"
    );
    assert!(
        from_first.is_err(),
        "the append that read the record before the other's write must not overwrite it"
    );
    let held = collect(first.read_upload("raced", u64::MAX).await.unwrap()).await;
    assert!(
        held == [head, fast].concat(),
        "the upload holds the acknowledged append"
    );
}

/// A source that yields `pieces`, then fails (a body cut off) or never ends (a process
/// that dies mid-append, modelled by dropping the append).
fn cut_source(pieces: Vec<Bytes>, hang: bool) -> impl Stream<Item = io::Result<Bytes>> + Send + Unpin {
    let end = if hang {
        stream::pending().boxed()
    } else {
        stream::iter([Err(io::Error::new(io::ErrorKind::ConnectionReset, "cut off"))]).boxed()
    };
    stream::iter(pieces.into_iter().map(Ok).collect::<Vec<_>>()).chain(end)
}

#[tokio::test]
async fn an_append_cut_off_or_crashed_resumes_at_the_recorded_offset() {
    let store = fresh_store().await;
    let data = Bytes::from(bytes(3, 30 * MIB));
    store.create_upload("cut").await.unwrap();
    store
        .append_upload("cut", 0, &mut source(vec![data.slice(..MIB)]))
        .await
        .unwrap();
    // A body cut off after 10 MiB: what arrived is kept and counted.
    let appended = store
        .append_upload(
            "cut",
            MIB as u64,
            &mut cut_source(vec![data.slice(MIB..11 * MIB)], false),
        )
        .await
        .unwrap();
    assert_eq!(appended, 10 * MIB as u64);
    assert_eq!(store.upload_len("cut").await.unwrap(), 11 * MIB as u64);
    // The process dies mid-append (segments stored, the record not): the upload is as
    // it was, and an append at the recorded offset goes on from there.
    let mut hanging = cut_source(vec![data.slice(11 * MIB..25 * MIB)], true);
    let crashed = store.append_upload("cut", 11 * MIB as u64, &mut hanging);
    assert!(tokio::time::timeout(Duration::from_secs(3), crashed).await.is_err());
    assert_eq!(store.upload_len("cut").await.unwrap(), 11 * MIB as u64);
    // An append the registry never recorded (it died before): the next append at the
    // recorded offset discards it, even across segments.
    store
        .append_upload(
            "cut",
            11 * MIB as u64,
            &mut source(vec![Bytes::from(vec![0u8; 12 * MIB])]),
        )
        .await
        .unwrap();
    store
        .append_upload("cut", 11 * MIB as u64, &mut source(vec![data.slice(11 * MIB..)]))
        .await
        .unwrap();
    assert!(collect(store.read_upload("cut", u64::MAX).await.unwrap()).await == data);
    let digest = Digest::sha256_of(&data);
    store.commit_upload("cut", data.len() as u64, &digest).await.unwrap();
    assert!(collect(store.read_blob(&digest, 0..data.len() as u64).await.unwrap()).await == data);
    // Removing the upload took the crashed append's unrecorded segments with it.
    assert!(store.list_uploads().await.unwrap().is_empty());
}

/// A commit of a digest already stored copies nothing: the stored object stays (the
/// second upload's bytes, different on purpose, are not what is read back).
#[tokio::test]
async fn a_commit_of_a_stored_digest_does_not_copy_again() {
    let store = fresh_store().await;
    let data = Bytes::from(bytes(4, 17 * MIB));
    let digest = Digest::sha256_of(&data);
    store.create_upload("one").await.unwrap();
    store
        .append_upload("one", 0, &mut source(vec![data.clone()]))
        .await
        .unwrap();
    store.commit_upload("one", data.len() as u64, &digest).await.unwrap();
    let written = store.list_blobs().await.unwrap()[0].written;
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let other = Bytes::from(bytes(5, 17 * MIB));
    store.create_upload("two").await.unwrap();
    store.append_upload("two", 0, &mut source(vec![other])).await.unwrap();
    store.commit_upload("two", data.len() as u64, &digest).await.unwrap();
    let listed = store.list_blobs().await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].written, written, "the object was not written again");
    assert!(collect(store.read_blob(&digest, 0..data.len() as u64).await.unwrap()).await == data);
    assert!(store.list_uploads().await.unwrap().is_empty());
}

/// A registry on S3 + SQLite.
async fn server() -> TestServer {
    TestServer::with_store(RegistryConfig::default(), Arc::new(fresh_store().await)).await
}

#[tokio::test]
async fn the_registry_pushes_and_pulls_over_s3() {
    let s = server().await;
    // Monolithic, small and large.
    for (seed, size) in [(10, 5000), (11, 6 * MIB + 1)] {
        let blob = Blob::random(seed, size);
        s.push_blob("s3/app", &blob).await;
        let response = s.get(&format!("/v2/s3/app/blobs/{}", blob.digest)).await;
        assert_eq!(response.status(), StatusCode::OK);
        assert!(response.bytes().await.unwrap() == blob.bytes);
    }
    // Chunked, chunks on both sides of 5 MiB.
    let blob = Blob::random(12, 14 * MIB + 77);
    let location_0 = s.start_upload("s3/app").await;
    let mut at = 0usize;
    let mut loc = location_0;
    for size in [2 * MIB, 6 * MIB, MIB, blob.bytes.len() - 9 * MIB] {
        let response = s.patch_chunk(&loc, at as u64, &blob.bytes[at..at + size]).await;
        assert_eq!(response.status(), StatusCode::ACCEPTED);
        at += size;
        assert_eq!(header(&response, "range"), Some(format!("0-{}", at - 1)));
        loc = location(&response);
    }
    let response = s
        .request(Method::PUT, &with_query(&loc, "digest", &blob.digest))
        .header("content-type", OCTET_STREAM)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    // A ranged pull.
    let response = s
        .request(Method::GET, &format!("/v2/s3/app/blobs/{}", blob.digest))
        .header("range", "bytes=5242870-5242889")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::PARTIAL_CONTENT);
    assert!(response.bytes().await.unwrap() == blob.bytes[5_242_870..5_242_890]);
    // A mount into another repository, an image, a delete.
    let response = s
        .post_upload("s3/other", &format!("?mount={}&from=s3/app", blob.digest))
        .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let image = Image::new(13);
    s.push_image("s3/other", "v1", &image).await;
    assert_eq!(s.get("/v2/s3/other/manifests/v1").await.status(), StatusCode::OK);
    assert_eq!(
        s.delete(&format!("/v2/s3/app/blobs/{}", blob.digest)).await.status(),
        StatusCode::ACCEPTED
    );
    assert_eq!(
        s.head_status(&format!("/v2/s3/app/blobs/{}", blob.digest)).await,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        s.head_status(&format!("/v2/s3/other/blobs/{}", blob.digest)).await,
        StatusCode::OK
    );
}
