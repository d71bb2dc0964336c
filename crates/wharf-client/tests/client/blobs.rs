//! Blob pushes (monolithic, chunked, skipped, mounted) and verified pulls, against wharf.

use crate::harness::*;
use std::sync::{Arc, Mutex};
use wharf_client::{BytesSource, ClientConfig, Credentials, FileSource, ProgressState, PushedHow};

#[tokio::test]
async fn a_monolithic_push_comes_back_identical_and_a_second_push_is_skipped() {
    let wharf = Wharf::start().await;
    let client = client();
    let repo = wharf.repo("org/app");
    let data = bytes(1, 3 * 1024 * 1024 + 17);
    let source = BytesSource::new(data.clone());
    let pushed = client.push_blob(&repo, &source, None).await.unwrap();
    assert_eq!(pushed.how, PushedHow::Uploaded);
    assert_eq!(pushed.digest.to_string(), sha256(&data));
    assert_eq!(
        wharf.hits("PATCH", "/v2/org/app/blobs/uploads/"),
        0,
        "one PUT, no chunks"
    );

    let mut back = Vec::new();
    let n = client
        .pull_blob(&repo, &pushed.digest, Some(data.len() as u64), &mut back)
        .await
        .unwrap();
    assert_eq!(n, data.len() as u64);
    assert!(back == data);

    assert_eq!(
        client.blob_exists(&repo, &pushed.digest).await.unwrap(),
        Some(data.len() as u64)
    );
    let again = client.push_blob(&repo, &source, None).await.unwrap();
    assert_eq!(again.how, PushedHow::Existed);
    assert_eq!(
        wharf.hits("POST", "/v2/org/app/blobs/uploads"),
        1,
        "no second upload session"
    );
}

#[tokio::test]
async fn chunked_pushes_send_chunks_of_the_configured_size_and_report_progress() {
    let wharf = Wharf::start().await;
    let events = Arc::new(Mutex::new(Vec::new()));
    let seen = events.clone();
    let config = ClientConfig {
        chunk_size: Some(1024 * 1024),
        progress: Some(Arc::new(move |e: &wharf_client::ProgressEvent| {
            seen.lock().unwrap().push((e.state.clone(), e.done, e.total))
        })),
        ..ClientConfig::default()
    };
    let client = client_with(config, Credentials::new());
    let repo = wharf.repo("chunky");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("blob");
    let data = bytes(2, 5 * 1024 * 1024 + 3);
    std::fs::write(&path, &data).unwrap();
    let source = FileSource::hash(&path).await.unwrap();
    assert_eq!(source.size(), data.len() as u64);
    let pushed = client.push_blob(&repo, &source, None).await.unwrap();
    assert_eq!(pushed.how, PushedHow::Uploaded);
    assert_eq!(
        wharf.hits("PATCH", "/v2/chunky/blobs/uploads/"),
        6,
        "5 full chunks and the rest"
    );

    let out = dir.path().join("out");
    client
        .pull_blob_to_file(&repo, &pushed.digest, Some(source.size()), &out)
        .await
        .unwrap();
    assert!(std::fs::read(&out).unwrap() == data);

    let events = events.lock().unwrap();
    let total = data.len() as u64;
    assert!(events
        .iter()
        .any(|(s, d, t)| *s == ProgressState::Transferring && *d < total && *t == total));
    assert!(events
        .iter()
        .any(|(s, d, _)| *s == ProgressState::Finished && *d == total));
    let done: Vec<u64> = events
        .iter()
        .filter(|(s, _, _)| *s == ProgressState::Transferring)
        .map(|(_, d, _)| *d)
        .collect();
    assert!(
        done.windows(2).filter(|w| w[1] < w[0]).count() <= 2,
        "progress moves forward within each transfer"
    );
}

use wharf_client::BlobSource;

#[tokio::test]
async fn the_registrys_minimum_chunk_length_is_honoured() {
    let config = wharf_registry::RegistryConfig {
        chunk_min_length: 2 * 1024 * 1024,
        ..Default::default()
    };
    let wharf = Wharf::with(Mode::Open, config).await;
    let client = client_with(
        ClientConfig {
            chunk_size: Some(256 * 1024),
            ..ClientConfig::default()
        },
        Credentials::new(),
    );
    let repo = wharf.repo("minimum");
    let data = bytes(3, 5 * 1024 * 1024);
    let pushed = client
        .push_blob(&repo, &BytesSource::new(data.clone()), None)
        .await
        .unwrap();
    assert_eq!(pushed.how, PushedHow::Uploaded);
    assert_eq!(
        wharf.hits("PATCH", "/v2/minimum/blobs/uploads/"),
        3,
        "2 MiB, 2 MiB, 1 MiB"
    );
}

#[tokio::test]
async fn a_blob_known_to_another_repository_is_mounted_not_sent() {
    let wharf = Wharf::start().await;
    let client = client();
    let from = wharf.repo("source/app");
    let to = wharf.repo("target/app");
    let data = bytes(4, 200_000);
    let source = BytesSource::new(data.clone());
    client.push_blob(&from, &source, None).await.unwrap();
    let pushed = client.push_blob(&to, &source, Some(&from)).await.unwrap();
    assert_eq!(pushed.how, PushedHow::Mounted);
    assert_eq!(wharf.hits("PUT", "/v2/target/app/blobs/uploads/"), 0);
    let mut back = Vec::new();
    client.pull_blob(&to, source.digest(), None, &mut back).await.unwrap();
    assert!(back == data);
}

#[tokio::test]
async fn a_missing_blob_is_not_found_and_a_wrong_size_is_refused() {
    let wharf = Wharf::start().await;
    let client = client();
    let repo = wharf.repo("app");
    let data = bytes(5, 1000);
    let source = BytesSource::new(data.clone());
    let err = client
        .pull_blob(&repo, source.digest(), None, &mut Vec::new())
        .await
        .unwrap_err();
    assert!(err.is_not_found(), "{err}");
    client.push_blob(&repo, &source, None).await.unwrap();
    let mut sink = Vec::new();
    let err = client
        .pull_blob(&repo, source.digest(), Some(999), &mut sink)
        .await
        .unwrap_err();
    assert!(err.is_integrity(), "{err}");
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("x");
    let err = client
        .pull_blob_to_file(&repo, source.digest(), Some(1001), &out)
        .await
        .unwrap_err();
    assert!(err.is_integrity(), "{err}");
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0, "nothing left behind");
    client.delete_blob(&repo, source.digest()).await.unwrap();
    assert_eq!(client.blob_exists(&repo, source.digest()).await.unwrap(), None);
}

/// What an earlier, interrupted download left beside the file is continued: the right
/// first bytes are kept and only the rest asked for; wrong ones (the digest check at the
/// end fails) are thrown away and the blob fetched whole.
#[tokio::test]
async fn a_partial_download_left_beside_the_file_is_continued_or_replaced() {
    let wharf = Wharf::start().await;
    let client = client_with(
        ClientConfig {
            retry: quick_retries(3),
            ..ClientConfig::default()
        },
        Credentials::new(),
    );
    let repo = wharf.repo("partial");
    let data = bytes(4, 2 * 1024 * 1024 + 5);
    let source = BytesSource::new(data.clone());
    let pushed = client.push_blob(&repo, &source, None).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("blob.bin");
    let hex = pushed.digest.hex().to_string();
    let partial = dir.path().join(format!(".blob.bin.{}.partial", &hex[..16]));
    let size = Some(data.len() as u64);

    std::fs::write(&partial, &data[..1_000_000]).unwrap();
    client
        .pull_blob_to_file(&repo, &pushed.digest, size, &target)
        .await
        .unwrap();
    assert!(std::fs::read(&target).unwrap() == data);
    assert!(!partial.exists());

    let mut wrong = data[..1_000_000].to_vec();
    wrong[10] ^= 1;
    std::fs::write(&partial, &wrong).unwrap();
    std::fs::remove_file(&target).unwrap();
    client
        .pull_blob_to_file(&repo, &pushed.digest, size, &target)
        .await
        .unwrap();
    assert!(std::fs::read(&target).unwrap() == data, "the wrong start was replaced");
    assert!(!partial.exists());

    // Longer than the blob: not the blob's start, so emptied first.
    std::fs::write(&partial, vec![0u8; data.len() + 1]).unwrap();
    std::fs::remove_file(&target).unwrap();
    client
        .pull_blob_to_file(&repo, &pushed.digest, size, &target)
        .await
        .unwrap();
    assert!(std::fs::read(&target).unwrap() == data);
}

/// An upload recorded by an earlier client (with a `ResumeStore`) is continued by the
/// next one from what the session holds, and its record removed.
#[tokio::test]
async fn an_upload_recorded_by_an_earlier_client_is_continued() {
    let wharf = Wharf::start().await;
    let cache = tempfile::tempdir().unwrap();
    let config = ClientConfig {
        chunk_size: Some(1024 * 1024),
        resume: Some(wharf_client::ResumeStore::new(cache.path())),
        ..ClientConfig::default()
    };
    let repo = wharf.repo("resumed");
    let data = bytes(5, 3 * 1024 * 1024 + 9);
    // The first client sends one chunk, then stops (as if killed): a source that fails
    // after its first megabyte.
    let first = client_with(
        ClientConfig {
            retry: quick_retries(1),
            ..config.clone()
        },
        Credentials::new(),
    );
    let failing = FailingSource {
        inner: BytesSource::new(data.clone()),
        fail_from: 1024 * 1024,
    };
    first.push_blob(&repo, &failing, None).await.unwrap_err();
    assert_eq!(std::fs::read_dir(cache.path()).unwrap().count(), 1, "recorded");

    let patches = wharf.hits("PATCH", "/v2/resumed/blobs/uploads/");
    let second = client_with(config, Credentials::new());
    let source = BytesSource::new(data.clone());
    assert_eq!(
        second.push_blob(&repo, &source, None).await.unwrap().how,
        PushedHow::Uploaded
    );
    assert_eq!(
        wharf.hits("PATCH", "/v2/resumed/blobs/uploads/") - patches,
        3,
        "the three chunks after the first"
    );
    assert_eq!(wharf.hits("POST", "/v2/resumed/blobs/uploads"), 1, "one session");
    assert_eq!(std::fs::read_dir(cache.path()).unwrap().count(), 0, "forgotten");
    let mut back = Vec::new();
    second.pull_blob(&repo, source.digest(), None, &mut back).await.unwrap();
    assert!(back == data);
}

/// A source whose stream fails from byte `fail_from` on.
struct FailingSource {
    inner: BytesSource,
    fail_from: u64,
}

impl wharf_client::BlobSource for FailingSource {
    fn digest(&self) -> &wharf_client::Digest {
        self.inner.digest()
    }
    fn size(&self) -> u64 {
        self.inner.size()
    }
    fn open(
        &self,
        offset: u64,
    ) -> futures::future::BoxFuture<'_, wharf_client::Result<wharf_client::blobs::ByteStream>> {
        Box::pin(async move {
            if offset >= self.fail_from {
                return Err(wharf_client::Error::Protocol("the source is gone".into()));
            }
            let stream = self.inner.open(offset).await?;
            let fail_from = self.fail_from;
            Ok(futures::StreamExt::boxed(futures::stream::unfold(
                (stream, offset),
                move |(mut stream, at)| async move {
                    use futures::StreamExt;
                    if at >= fail_from {
                        return Some((Err(std::io::Error::other("the source is gone")), (stream, at)));
                    }
                    let piece = stream.next().await?;
                    let next = at + piece.as_ref().map_or(0, |p| p.len() as u64);
                    Some((piece, (stream, next)))
                },
            )))
        })
    }
}
