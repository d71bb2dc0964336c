//! Interoperability with `oci-client` (the Rust client of the ORAS project) against
//! `wharf serve` over plain HTTP: push and pull of a whole image, chunked and monolithic
//! blob uploads, streamed uploads (which, unlike `push`, never fall back to another
//! upload method and so cannot hide a failure), cross-repository mounts, manifests
//! pushed by digest, an image index, and tag listing.

use crate::harness::{content, sha256_of, WharfProcess};
use bytes::Bytes;
use oci_client::client::{ClientConfig, ClientProtocol, Config, ImageLayer};
use oci_client::manifest::{OciImageIndex, OciManifest, IMAGE_LAYER_MEDIA_TYPE, OCI_IMAGE_MEDIA_TYPE};
use oci_client::secrets::RegistryAuth;
use oci_client::{Client, Reference};
use serde_json::json;
use std::time::{Duration, Instant};

/// Every client operation of these tests completes within this.
const TIMEOUT: Duration = Duration::from_secs(120);
const AUTH: RegistryAuth = RegistryAuth::Anonymous;

/// `push` an image (config + 2 layers, one sent in several chunks), `pull` it back, and
/// read its manifest, digest and tags.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oci_client_pushes_and_pulls_an_image() {
    let started = Instant::now();
    let dir = tempfile::tempdir().unwrap();
    let wharf = WharfProcess::start(dir.path(), &[]);
    let client = client(false);
    let image = Reference::with_tag(wharf.host(), "interop/oci-client".into(), "v1".into());
    let (layers, config) = (layers(), config());

    let pushed = bounded(client.push(&image, &layers, config.clone(), &AUTH, None))
        .await
        .expect("push");
    let pulled = bounded(client.pull(&image, &AUTH, vec![IMAGE_LAYER_MEDIA_TYPE]))
        .await
        .expect("pull");
    // oci-client collects pulled layers as their downloads finish, so their order is
    // not the manifest's: compare them by digest. The manifest's order is checked below.
    let by_digest = |list: &[ImageLayer]| {
        let mut v: Vec<(String, Vec<u8>, String)> = list
            .iter()
            .map(|l| (l.sha256_digest(), l.data.to_vec(), l.media_type.clone()))
            .collect();
        v.sort();
        v
    };
    assert_eq!(
        by_digest(&pulled.layers),
        by_digest(&layers),
        "pulled layers (bytes, media types)"
    );
    assert_eq!(pulled.config.data, config.data, "pulled config");
    let digest = pulled.digest.expect("pull reports the manifest digest");
    assert!(
        pushed.manifest_url.ends_with(&digest),
        "{} names {digest}",
        pushed.manifest_url
    );

    let (manifest, manifest_digest) = bounded(client.pull_manifest(&image, &AUTH))
        .await
        .expect("pull_manifest");
    assert_eq!(manifest_digest, digest);
    let OciManifest::Image(manifest) = manifest else {
        panic!("an image manifest was pushed, not an index")
    };
    let layer_digests: Vec<String> = manifest.layers.iter().map(|l| l.digest.clone()).collect();
    assert_eq!(
        layer_digests,
        layers.iter().map(ImageLayer::sha256_digest).collect::<Vec<_>>()
    );
    assert_eq!(manifest.config.digest, sha256_of(&config.data));

    let (raw, raw_digest) = bounded(client.pull_manifest_raw(&image, &AUTH, &[OCI_IMAGE_MEDIA_TYPE]))
        .await
        .unwrap();
    assert_eq!(
        (sha256_of(&raw), raw_digest),
        (digest.clone(), digest.clone()),
        "raw manifest and its digest"
    );
    assert_eq!(
        bounded(client.fetch_manifest_digest(&image, &AUTH)).await.unwrap(),
        digest
    );
    let tags = bounded(client.list_tags(&image, &AUTH, None, None))
        .await
        .expect("list_tags");
    assert_eq!(
        (tags.name.as_str(), tags.tags),
        ("interop/oci-client", vec!["v1".to_string()])
    );
    eprintln!("oci-client interop: push and pull took {:.2?}", started.elapsed());
}

/// Monolithic `push`; blobs mounted into a second repository; the manifest pushed there
/// by digest (no tag); a streamed chunked upload; an index pushed under a tag.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oci_client_mounts_streams_and_pushes_manifests_by_digest() {
    let started = Instant::now();
    let dir = tempfile::tempdir().unwrap();
    let wharf = WharfProcess::start(dir.path(), &[]);
    let client = client(true);
    let source = Reference::with_tag(wharf.host(), "interop/source".into(), "v1".into());
    let (layers, config) = (layers(), config());
    bounded(client.push(&source, &layers, config.clone(), &AUTH, None))
        .await
        .expect("monolithic push");
    let (raw, digest) = bounded(client.pull_manifest_raw(&source, &AUTH, &[OCI_IMAGE_MEDIA_TYPE]))
        .await
        .unwrap();

    let target = Reference::with_digest(wharf.host(), "interop/target".into(), digest.clone());
    let blobs: Vec<String> = layers
        .iter()
        .map(ImageLayer::sha256_digest)
        .chain([sha256_of(&config.data)])
        .collect();
    for blob in &blobs {
        assert!(
            !bounded(client.blob_exists(&target, blob)).await.unwrap(),
            "{blob} is in the target before the mount"
        );
        bounded(client.mount_blob(&target, &source, blob))
            .await
            .expect("mount_blob");
        assert!(
            bounded(client.blob_exists(&target, blob)).await.unwrap(),
            "{blob} is in the target after the mount"
        );
    }
    let location = bounded(client.push_manifest_raw(&target, raw.clone(), OCI_IMAGE_MEDIA_TYPE.parse().unwrap()))
        .await
        .expect("push_manifest_raw by digest");
    assert!(location.ends_with(&digest), "{location} names {digest}");
    let (by_digest, _) = bounded(client.pull_manifest_raw(&target, &AUTH, &[OCI_IMAGE_MEDIA_TYPE]))
        .await
        .unwrap();
    assert_eq!(by_digest, raw, "manifest pulled by digest from the target");
    let tags = bounded(client.list_tags(&target, &AUTH, None, None))
        .await
        .expect("list_tags of the target");
    assert!(tags.tags.is_empty(), "a push by digest tags nothing: {:?}", tags.tags);

    push_streamed_blob(&client, &target).await;
    push_index(&client, &target, &raw, &digest).await;
    eprintln!(
        "oci-client interop: mounts, push by digest, index took {:.2?}",
        started.elapsed()
    );
}

/// `push_blob_stream_chunked`: a 9 MiB blob in 1 MiB PATCHes, its digest computed as it
/// goes; then read back whole.
async fn push_streamed_blob(client: &Client, image: &Reference) {
    let bytes = Bytes::from(content(23, 0..9 << 20));
    let pieces: Vec<oci_client::errors::Result<Bytes>> =
        bytes.chunks(1 << 20).map(|c| Ok(Bytes::copy_from_slice(c))).collect();
    let pushed = bounded(client.push_blob_stream_chunked(image, futures::stream::iter(pieces)))
        .await
        .expect("push_blob_stream_chunked");
    assert_eq!(
        (pushed.blob_digest.as_str(), pushed.size),
        (sha256_of(&bytes).as_str(), bytes.len() as u64)
    );
    let mut pulled = Vec::new();
    bounded(client.pull_blob(image, pushed.blob_digest.as_str(), &mut pulled))
        .await
        .expect("pull_blob");
    assert!(pulled == bytes, "the streamed blob pulled back differs");
}

/// `push_manifest_list`: an index over the image, tagged `all`, read back exactly.
async fn push_index(client: &Client, image: &Reference, manifest: &[u8], digest: &str) {
    let index: OciImageIndex = serde_json::from_value(json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [{
            "mediaType": OCI_IMAGE_MEDIA_TYPE,
            "digest": digest,
            "size": manifest.len(),
            "platform": { "architecture": "amd64", "os": "linux" },
        }],
    }))
    .unwrap();
    let tagged = Reference::with_tag(image.registry().into(), image.repository().into(), "all".into());
    bounded(client.push_manifest_list(&tagged, &AUTH, index.clone()))
        .await
        .expect("push_manifest_list");
    let (pulled, _) = bounded(client.pull_manifest(&tagged, &AUTH))
        .await
        .expect("pull_manifest of the index");
    let OciManifest::ImageIndex(pulled) = pulled else {
        panic!("an index was pushed")
    };
    assert_eq!(pulled.manifests.len(), 1);
    assert_eq!(pulled.manifests[0].digest, digest);
    let tags = bounded(client.list_tags(&tagged, &AUTH, None, None))
        .await
        .expect("list_tags");
    assert_eq!(tags.tags, ["all"]);
}

/// A client speaking plain HTTP to loopback, with chunked or monolithic blob uploads.
fn client(monolithic: bool) -> Client {
    wharf_testkit::install_crypto_provider();
    Client::new(ClientConfig {
        protocol: ClientProtocol::Http,
        use_monolithic_push: monolithic,
        connect_timeout: Some(Duration::from_secs(5)),
        read_timeout: Some(Duration::from_secs(60)),
        no_proxy: Some("127.0.0.1".into()),
        ..ClientConfig::default()
    })
}

/// Two layers: 300 KiB, and 9 MiB (three chunks of at most 4 MiB in a chunked push).
fn layers() -> Vec<ImageLayer> {
    [(21, 300 << 10), (22, 9 << 20)]
        .map(|(seed, len)| ImageLayer::oci_v1(content(seed, 0..len), None))
        .to_vec()
}

fn config() -> Config {
    let config = json!({ "architecture": "amd64", "os": "linux", "rootfs": { "type": "layers", "diff_ids": [] } });
    Config::oci_v1(serde_json::to_vec(&config).unwrap(), None)
}

/// `operation`, failing the test if it takes longer than [`TIMEOUT`].
async fn bounded<T>(operation: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(TIMEOUT, operation)
        .await
        .expect("the client operation finished in time")
}
