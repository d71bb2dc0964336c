//! The client against a proxy that breaks things: dropped connections mid-blob, 503s,
//! 429 with Retry-After, wrong bytes, cut uploads, refused connections.

use crate::harness::*;
use std::time::{Duration, Instant};
use wharf_client::{BytesSource, ClientConfig, Credentials, PushedHow, Reference};
use wharf_testkit::{Fault, FaultProxy, FaultRule};

fn through(proxy: &FaultProxy, name: &str) -> wharf_client::Repository {
    repo_on(&proxy.host(), name)
}

fn statuses(proxy: &FaultProxy, method: &str, path: &str) -> Vec<Option<u16>> {
    proxy
        .requests()
        .iter()
        .filter(|r| r.method.as_str() == method && r.path_and_query.contains(path))
        .map(|r| r.status)
        .collect()
}

#[tokio::test]
async fn a_download_cut_off_midway_resumes_with_a_range_request() {
    let wharf = Wharf::start().await;
    let proxy = FaultProxy::start(&format!("http://{}", wharf.host));
    let client = client();
    let data = bytes(1, 3 * 1024 * 1024);
    let source = BytesSource::new(data.clone());
    let repo = through(&proxy, "app");
    client.push_blob(&repo, &source, None).await.unwrap();
    proxy
        .add(FaultRule::new("/blobs/sha256:", Fault::DropResponseAfter { bytes: 1_000_000 }).method(http::Method::GET));
    let mut back = Vec::new();
    use wharf_client::BlobSource;
    client
        .pull_blob(&repo, source.digest(), Some(data.len() as u64), &mut back)
        .await
        .unwrap();
    assert!(back == data);
    let gets = statuses(&proxy, "GET", "/blobs/sha256:");
    assert_eq!(gets, [Some(200), Some(206)], "the second request asked for the rest");
}

#[tokio::test]
async fn unavailable_answers_are_retried_and_other_client_errors_are_not() {
    let wharf = Wharf::start().await;
    let proxy = FaultProxy::start(&format!("http://{}", wharf.host));
    let client = client();
    let repo = through(&proxy, "app");
    crate::images::push_small_image(&client, &repo, 2, "v1").await;
    proxy.add(
        FaultRule::new(
            "/manifests/v1",
            Fault::Status {
                status: 503,
                retry_after: None,
            },
        )
        .method(http::Method::GET)
        .times(2),
    );
    client.get_manifest(&repo, &"v1".parse().unwrap()).await.unwrap();
    assert_eq!(
        statuses(&proxy, "GET", "/manifests/v1"),
        [Some(503), Some(503), Some(200)]
    );

    proxy.add(
        FaultRule::new(
            "/manifests/v2",
            Fault::Status {
                status: 400,
                retry_after: None,
            },
        )
        .times(5),
    );
    let err = client.get_manifest(&repo, &"v2".parse().unwrap()).await.unwrap_err();
    assert_eq!(err.status(), Some(400));
    assert_eq!(statuses(&proxy, "GET", "/manifests/v2").len(), 1, "a 400 is an answer");
    let err = client.get_manifest(&repo, &"v3".parse().unwrap()).await.unwrap_err();
    assert!(err.is_not_found());
    assert_eq!(statuses(&proxy, "GET", "/manifests/v3").len(), 1, "a 404 is an answer");

    // The budget: three attempts, then the last answer is the error.
    let limited = client_with(
        ClientConfig {
            retry: quick_retries(3),
            ..ClientConfig::default()
        },
        Credentials::new(),
    );
    proxy.add(
        FaultRule::new(
            "/tags/list",
            Fault::Status {
                status: 502,
                retry_after: None,
            },
        )
        .times(100),
    );
    let err = limited.list_tags(&repo, None).await.unwrap_err();
    assert_eq!(err.status(), Some(502), "{err}");
    assert_eq!(statuses(&proxy, "GET", "/tags/list").len(), 3);
}

#[tokio::test]
async fn too_many_requests_waits_as_long_as_retry_after_says() {
    let wharf = Wharf::start().await;
    let proxy = FaultProxy::start(&format!("http://{}", wharf.host));
    let client = client();
    let repo = through(&proxy, "app");
    crate::images::push_small_image(&client, &repo, 3, "v1").await;
    proxy.add(FaultRule::new(
        "/tags/list",
        Fault::Status {
            status: 429,
            retry_after: Some("1".into()),
        },
    ));
    let started = Instant::now();
    assert_eq!(client.list_tags(&repo, None).await.unwrap(), ["v1"]);
    let waited = started.elapsed();
    assert!(waited >= Duration::from_millis(950), "waited only {waited:?}");
    assert!(waited < Duration::from_secs(5), "waited {waited:?}");
    assert_eq!(statuses(&proxy, "GET", "/tags/list"), [Some(429), Some(200)]);
}

#[tokio::test]
async fn wrong_bytes_are_fetched_again_and_never_kept() {
    let wharf = Wharf::start().await;
    let proxy = FaultProxy::start(&format!("http://{}", wharf.host));
    let client = client();
    let repo = through(&proxy, "app");
    let data = bytes(4, 500_000);
    let source = BytesSource::new(data.clone());
    client.push_blob(&repo, &source, None).await.unwrap();
    use wharf_client::BlobSource;

    proxy.add(FaultRule::new("/blobs/sha256:", Fault::CorruptResponse).method(http::Method::GET));
    let mut back = Vec::new();
    client.pull_blob(&repo, source.digest(), None, &mut back).await.unwrap();
    assert!(back == data, "the second, intact download is what was kept");

    // A plain writer cannot start over: the mismatch is reported, not hidden.
    proxy.add(FaultRule::new("/blobs/sha256:", Fault::CorruptResponse).method(http::Method::GET));
    let mut plain: Vec<u8> = Vec::new();
    let err = client
        .pull_blob_to_writer(&repo, source.digest(), None, &mut plain)
        .await
        .unwrap_err();
    assert!(matches!(err, wharf_client::Error::DigestMismatch { .. }), "{err}");
    let mut plain: Vec<u8> = Vec::new();
    client
        .pull_blob_to_writer(&repo, source.digest(), None, &mut plain)
        .await
        .unwrap();
    assert!(plain == data);

    proxy.add(
        FaultRule::new("/blobs/sha256:", Fault::CorruptResponse)
            .method(http::Method::GET)
            .times(100),
    );
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("blob");
    let err = client
        .pull_blob_to_file(&repo, source.digest(), Some(data.len() as u64), &out)
        .await
        .unwrap_err();
    assert!(err.is_integrity(), "{err}");
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        0,
        "no file, partial or not"
    );

    let fresh = through(&proxy, "fresh");
    let manifest = crate::images::push_small_image(&client, &fresh, 5, "v1").await;
    proxy.add(FaultRule::new("/manifests/", Fault::CorruptResponse).method(http::Method::GET));
    let back = client
        .get_manifest(&fresh, &Reference::Digest(manifest.digest.clone()))
        .await
        .unwrap();
    assert_eq!(back.bytes, manifest.bytes);
}

#[tokio::test]
async fn a_cut_chunk_resumes_from_what_the_registry_kept() {
    let wharf = Wharf::start().await;
    let proxy = FaultProxy::start(&format!("http://{}", wharf.host));
    let client = client_with(
        ClientConfig {
            chunk_size: Some(1024 * 1024),
            ..ClientConfig::default()
        },
        Credentials::new(),
    );
    let repo = through(&proxy, "chunks");
    let data = bytes(6, 4 * 1024 * 1024 + 5);
    let source = BytesSource::new(data.clone());
    // The third chunk is cut off after 300 kB.
    proxy.add(
        FaultRule::new("/blobs/uploads/", Fault::Delay { millis: 0 })
            .method(http::Method::PATCH)
            .times(2),
    );
    proxy
        .add(FaultRule::new("/blobs/uploads/", Fault::DropRequestAfter { bytes: 300_000 }).method(http::Method::PATCH));
    let pushed = client.push_blob(&repo, &source, None).await.unwrap();
    assert_eq!(pushed.how, PushedHow::Uploaded);
    let patches = statuses(&proxy, "PATCH", "/blobs/uploads/");
    assert_eq!(
        patches.iter().filter(|s| s.is_none()).count(),
        1,
        "one chunk was cut: {patches:?}"
    );
    // The registry keeps what arrived of the cut chunk (up to 300 kB), so the rest of the
    // 4 MiB + 5 bytes goes in 1 MiB chunks from there: two more when it kept more than
    // 5 bytes, three when it kept (almost) nothing.
    let accepted = patches.iter().filter(|s| **s == Some(202)).count();
    assert!(
        (4..=5).contains(&accepted),
        "2 chunks, the cut one, then the rest from where the registry stood: {patches:?}"
    );
    assert!(
        !statuses(&proxy, "GET", "/blobs/uploads/").is_empty(),
        "asked the session where it stood"
    );
    let mut back = Vec::new();
    use wharf_client::BlobSource;
    client.pull_blob(&repo, source.digest(), None, &mut back).await.unwrap();
    assert!(back == data);

    // A monolithic PUT cut off goes on from what the registry kept of it (the rest in one
    // PATCH, then the closing PUT), or in a new session if it kept nothing.
    let whole = client_with(ClientConfig::default(), Credentials::new());
    let other = BytesSource::new(bytes(7, 800_000));
    let puts_before = statuses(&proxy, "PUT", "/blobs/uploads/").len();
    proxy.add(FaultRule::new("/blobs/uploads/", Fault::DropRequestAfter { bytes: 100_000 }).method(http::Method::PUT));
    assert_eq!(
        whole.push_blob(&repo, &other, None).await.unwrap().how,
        PushedHow::Uploaded
    );
    assert_eq!(statuses(&proxy, "PUT", "/blobs/uploads/").len(), puts_before + 2);
    let mut back = Vec::new();
    whole.pull_blob(&repo, other.digest(), None, &mut back).await.unwrap();
    assert_eq!(back.len(), 800_000);
}

#[tokio::test]
async fn an_unreachable_registry_fails_clearly_after_the_budget() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let client = client_with(
        ClientConfig {
            retry: quick_retries(3),
            ..ClientConfig::default()
        },
        Credentials::new(),
    );
    let started = Instant::now();
    let err = client
        .list_tags(&repo_on(&format!("127.0.0.1:{port}"), "app"), None)
        .await
        .unwrap_err();
    assert!(matches!(err, wharf_client::Error::Transport { .. }), "{err}");
    assert!(started.elapsed() < Duration::from_secs(10));
}

/// A source that takes its time: ten pieces, 150 ms apart.
struct SlowSource {
    bytes: Vec<u8>,
    digest: wharf_client::Digest,
}

impl wharf_client::BlobSource for SlowSource {
    fn digest(&self) -> &wharf_client::Digest {
        &self.digest
    }
    fn size(&self) -> u64 {
        self.bytes.len() as u64
    }
    fn open(
        &self,
        offset: u64,
    ) -> futures::future::BoxFuture<'_, wharf_client::Result<wharf_client::blobs::ByteStream>> {
        use futures::StreamExt;
        let rest = bytes::Bytes::from(self.bytes[offset as usize..].to_vec());
        let step = rest.len().div_ceil(10).max(1);
        let pieces: Vec<bytes::Bytes> = (0..rest.len())
            .step_by(step)
            .map(|at| rest.slice(at..rest.len().min(at + step)))
            .collect();
        Box::pin(async move {
            Ok(futures::stream::iter(pieces)
                .then(|p| async move {
                    tokio::time::sleep(Duration::from_millis(150)).await;
                    Ok(p)
                })
                .boxed())
        })
    }
}

#[tokio::test]
async fn silence_is_given_up_on_but_a_long_upload_is_not() {
    let wharf = Wharf::start().await;
    let proxy = FaultProxy::start(&format!("http://{}", wharf.host));
    let patient = |chunk| {
        client_with(
            ClientConfig {
                read_timeout: Duration::from_millis(400),
                chunk_size: chunk,
                ..ClientConfig::default()
            },
            Credentials::new(),
        )
    };
    let repo = through(&proxy, "slow");
    let data = bytes(9, 200_000);
    let slow = SlowSource {
        digest: wharf_client::Digest::sha256_of(&data),
        bytes: data.clone(),
    };
    // 1.5 s of sending with a 0.4 s limit on silence: the upload is not cut.
    for chunk in [None, Some(150_000)] {
        let client = patient(chunk);
        let started = Instant::now();
        let pushed = client.push_blob(&repo, &slow, None).await.unwrap();
        assert!(started.elapsed() > Duration::from_millis(1400));
        assert_eq!(pushed.how, PushedHow::Uploaded);
        client.delete_blob(&repo, &pushed.digest).await.unwrap();
    }
    // A registry silent for 2 s is given up on after 0.4 s, and the retry succeeds.
    let client = patient(None);
    proxy.add(FaultRule::new("/tags/list", Fault::Delay { millis: 2000 }));
    crate::images::push_small_image(&client, &repo, 8, "v1").await;
    let started = Instant::now();
    assert_eq!(client.list_tags(&repo, None).await.unwrap(), ["v1"]);
    assert!(
        started.elapsed() < Duration::from_millis(1900),
        "{:?}",
        started.elapsed()
    );
    use wharf_client::BlobSource;
    let mut back = Vec::new();
    client
        .push_blob(&repo, &BytesSource::new(data.clone()), None)
        .await
        .unwrap();
    proxy.add(FaultRule::new("/blobs/sha256:", Fault::Delay { millis: 2000 }).method(http::Method::GET));
    let started = Instant::now();
    client.pull_blob(&repo, slow.digest(), None, &mut back).await.unwrap();
    assert!(back == data);
    assert!(
        started.elapsed() < Duration::from_millis(1900),
        "{:?}",
        started.elapsed()
    );
}
