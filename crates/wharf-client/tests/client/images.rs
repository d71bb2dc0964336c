//! Manifests, images, indexes, tags and copies, against wharf.

use crate::harness::*;
use std::collections::BTreeMap;
use std::sync::Arc;
use wharf_client::copy::{copy_image, CopyOptions, Store};
use wharf_client::image::artifact_manifest;
use wharf_client::layout::OciLayout;
use wharf_client::{
    BlobSource, BytesSource, Client, Descriptor, ImageIndex, ImageManifest, Manifest, Platform, Reference, Repository,
};
use wharf_oci::media_type;

/// Pushes a small image (config + two layers) and returns its manifest.
pub async fn push_small_image(client: &Client, repo: &Repository, seed: u8, tag: &str) -> Manifest {
    let config = format!(r#"{{"architecture":"amd64","os":"linux","seed":{seed}}}"#).into_bytes();
    let layers = [bytes(seed, 70_000), bytes(seed.wrapping_add(100), 1234)];
    let mut blobs: Vec<Arc<dyn BlobSource>> = vec![Arc::new(BytesSource::new(config.clone()))];
    let mut descriptors = Vec::new();
    for layer in &layers {
        descriptors.push(Descriptor::of(
            media_type::OCI_MANIFEST.replace("manifest.v1+json", "layer.v1.tar"),
            layer,
        ));
        blobs.push(Arc::new(BytesSource::new(layer.clone())));
    }
    let image = ImageManifest::new(Descriptor::of(media_type::OCI_CONFIG, &config), descriptors);
    let manifest = Manifest::new(media_type::OCI_MANIFEST, image.to_bytes());
    let tags = [tag.parse().unwrap()];
    let digest = client.push_image(repo, &manifest, blobs, &tags).await.unwrap();
    assert_eq!(digest, manifest.digest);
    manifest
}

/// Pushes two platform images and an index over them, tagged `tag`.
pub async fn push_two_platform_index(client: &Client, repo: &Repository, tag: &str) -> Manifest {
    let amd = push_small_image(client, repo, 10, "amd").await;
    let arm = push_small_image(client, repo, 20, "arm").await;
    let mut a = amd.descriptor();
    a.platform = Platform::parse("linux/amd64");
    let mut b = arm.descriptor();
    b.platform = Platform::parse("linux/arm64/v8");
    let index = Manifest::new(media_type::OCI_INDEX, ImageIndex::new(vec![a, b]).to_bytes());
    client.push_index(repo, &index, &[tag.parse().unwrap()]).await.unwrap();
    index
}

#[tokio::test]
async fn manifests_round_trip_by_tag_and_digest_with_their_media_type() {
    let wharf = Wharf::start().await;
    let client = client();
    let repo = wharf.repo("app");
    let pushed = push_small_image(&client, &repo, 1, "v1").await;
    let by_tag = client.get_manifest(&repo, &"v1".parse().unwrap()).await.unwrap();
    assert_eq!(by_tag, pushed);
    assert_eq!(by_tag.digest.to_string(), sha256(&pushed.bytes));
    let by_digest = client
        .get_manifest(&repo, &Reference::Digest(pushed.digest.clone()))
        .await
        .unwrap();
    assert_eq!(by_digest.bytes, pushed.bytes);
    let head = client
        .head_manifest(&repo, &"v1".parse().unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(head, pushed.descriptor());
    assert_eq!(
        client.head_manifest(&repo, &"nope".parse().unwrap()).await.unwrap(),
        None
    );
    let err = client.get_manifest(&repo, &"nope".parse().unwrap()).await.unwrap_err();
    assert!(err.is_not_found(), "{err}");
    assert!(err.to_string().contains("MANIFEST_UNKNOWN"), "{err}");
}

#[tokio::test]
async fn docker_schema2_and_manifest_lists_keep_their_media_types() {
    let wharf = Wharf::start().await;
    let client = client();
    let repo = wharf.repo("docker/app");
    let config = br#"{"architecture":"arm64","os":"linux"}"#.to_vec();
    let layer = bytes(7, 5000);
    let docker = serde_json::json!({
        "schemaVersion": 2, "mediaType": media_type::DOCKER_MANIFEST,
        "config": {"mediaType": media_type::DOCKER_CONFIG, "digest": sha256(&config), "size": config.len()},
        "layers": [{"mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip", "digest": sha256(&layer), "size": layer.len()}]
    });
    let manifest = Manifest::new(media_type::DOCKER_MANIFEST, serde_json::to_vec(&docker).unwrap());
    let blobs: Vec<Arc<dyn BlobSource>> = vec![Arc::new(BytesSource::new(config)), Arc::new(BytesSource::new(layer))];
    client.push_image(&repo, &manifest, blobs, &[]).await.unwrap();
    let list = serde_json::json!({
        "schemaVersion": 2, "mediaType": media_type::DOCKER_MANIFEST_LIST,
        "manifests": [{"mediaType": media_type::DOCKER_MANIFEST, "digest": manifest.digest.to_string(),
                       "size": manifest.bytes.len(), "platform": {"architecture": "arm64", "os": "linux", "variant": "v8"}}]
    });
    let list = Manifest::new(media_type::DOCKER_MANIFEST_LIST, serde_json::to_vec(&list).unwrap());
    client
        .push_index(&repo, &list, &["multi".parse().unwrap()])
        .await
        .unwrap();

    let back = client.get_manifest(&repo, &"multi".parse().unwrap()).await.unwrap();
    assert_eq!(back.media_type, media_type::DOCKER_MANIFEST_LIST);
    assert!(back.is_index());
    let index: ImageIndex = serde_json::from_slice(&back.bytes).unwrap();
    let child = index.select(&Platform::parse("linux/arm64").unwrap()).unwrap();
    let image = client
        .get_manifest(&repo, &Reference::Digest(child.digest.clone()))
        .await
        .unwrap();
    assert_eq!(image.media_type, media_type::DOCKER_MANIFEST);
    assert_eq!(image.bytes, manifest.bytes);
}

#[tokio::test]
async fn extra_tags_send_only_the_manifest_and_listing_follows_links() {
    let wharf = Wharf::start().await;
    let client = client();
    let repo = wharf.repo("tagged");
    let pushed = push_small_image(&client, &repo, 3, "v1").await;
    let uploads_before = wharf.hits("POST", "/v2/tagged/blobs/uploads");
    let tags: Vec<_> = ["a", "b", "c", "d"].iter().map(|t| t.parse().unwrap()).collect();
    let digest = client.tag(&repo, &"v1".parse().unwrap(), &tags).await.unwrap();
    assert_eq!(digest, pushed.digest);
    assert_eq!(
        wharf.hits("POST", "/v2/tagged/blobs/uploads"),
        uploads_before,
        "no blob re-sent"
    );
    assert_eq!(wharf.hits("HEAD", "/v2/tagged/blobs/"), 3, "not even checked again");

    let listed = client.list_tags(&repo, Some(2)).await.unwrap();
    assert_eq!(listed, ["a", "b", "c", "d", "v1"]);
    assert_eq!(wharf.hits("GET", "/v2/tagged/tags/list"), 3, "pages of 2 via Link");
    assert_eq!(client.list_tags(&repo, None).await.unwrap().len(), 5);
    assert!(client
        .catalog(&wharf.host, Some(1))
        .await
        .unwrap()
        .contains(&"tagged".to_string()));

    client.delete_manifest(&repo, &"a".parse().unwrap()).await.unwrap();
    assert_eq!(client.list_tags(&repo, None).await.unwrap(), ["b", "c", "d", "v1"]);
    client.delete_manifest(&repo, &Reference::Digest(digest)).await.unwrap();
    assert!(client
        .get_manifest(&repo, &"v1".parse().unwrap())
        .await
        .unwrap_err()
        .is_not_found());
}

#[tokio::test]
async fn artifacts_are_pushed_as_oras_writes_them() {
    let wharf = Wharf::start().await;
    let client = client();
    let repo = wharf.repo("artifacts");
    let file = b"hello artifact".to_vec();
    let mut layer = Descriptor::of("text/plain", &file);
    layer
        .annotations
        .insert(wharf_client::image::TITLE_ANNOTATION.into(), "hello.txt".into());
    let mut annotations = BTreeMap::new();
    annotations.insert("org.example.k".to_string(), "v".to_string());
    let manifest = artifact_manifest(
        Some("application/x.example"),
        None,
        vec![layer.clone()],
        annotations,
        None,
    );
    let blobs: Vec<Arc<dyn BlobSource>> = vec![
        Arc::new(BytesSource::new(wharf_client::document::EMPTY_JSON)),
        Arc::new(BytesSource::new(file.clone())),
    ];
    client
        .push_image(&repo, &manifest, blobs, &["v1".parse().unwrap()])
        .await
        .unwrap();
    let back = client.get_manifest(&repo, &"v1".parse().unwrap()).await.unwrap();
    let image: ImageManifest = serde_json::from_slice(&back.bytes).unwrap();
    assert_eq!(image.artifact_type.as_deref(), Some("application/x.example"));
    assert_eq!(image.config, Descriptor::empty_config());
    assert_eq!(image.layers, vec![layer.clone()]);
    let mut out = Vec::new();
    client
        .pull_blob(&repo, &layer.digest, Some(layer.size), &mut out)
        .await
        .unwrap();
    assert_eq!(out, file);
}

#[tokio::test]
async fn copies_keep_digests_between_repositories_and_through_an_oci_layout() {
    let wharf = Wharf::start().await;
    let client = client();
    let src = wharf.repo("src/app");
    let index = push_two_platform_index(&client, &src, "multi").await;
    let options = CopyOptions {
        all_platforms: true,
        concurrency: 4,
        ..CopyOptions::default()
    };
    let from = Store::Registry {
        client: client.clone(),
        repository: src.clone(),
    };
    let dst = wharf.repo("dst/app");
    let to = Store::Registry {
        client: client.clone(),
        repository: dst.clone(),
    };
    let report = copy_image(&from, Some(&"multi".parse().unwrap()), &to, Some("copied"), &options)
        .await
        .unwrap();
    assert_eq!(report.digest.as_ref(), Some(&index.digest));
    assert_eq!(report.manifests, 3);
    assert_eq!(report.bytes_copied, 0, "same registry: every blob mounted");
    assert_eq!(wharf.hits("PATCH", "/v2/dst/app/"), 0);
    assert_eq!(wharf.hits("PUT", "/v2/dst/app/blobs/"), 0);
    let copied = client.get_manifest(&dst, &"copied".parse().unwrap()).await.unwrap();
    assert_eq!(copied.bytes, index.bytes);

    // Out to a layout and back into a third repository.
    let dir = tempfile::tempdir().unwrap();
    let layout = Store::Layout {
        layout: OciLayout::create(dir.path()).await.unwrap(),
        client: client.clone(),
    };
    let out = copy_image(&to, Some(&"copied".parse().unwrap()), &layout, Some("v1"), &options)
        .await
        .unwrap();
    assert_eq!(out.digest.as_ref(), Some(&index.digest));
    assert_eq!(out.blobs_copied, 6);
    let back_repo = wharf.repo("back/app");
    let back = Store::Registry {
        client: client.clone(),
        repository: back_repo.clone(),
    };
    let report = copy_image(&layout, Some(&"v1".parse().unwrap()), &back, Some("again"), &options)
        .await
        .unwrap();
    assert_eq!(report.digest.as_ref(), Some(&index.digest));
    assert!(report.bytes_copied > 0);

    // One platform only: the destination tag names that platform's image.
    let single = CopyOptions {
        platform: Platform::parse("linux/arm64"),
        ..CopyOptions::default()
    };
    let one = wharf.repo("one/app");
    let report = copy_image(
        &from,
        Some(&"multi".parse().unwrap()),
        &Store::Registry {
            client: client.clone(),
            repository: one.clone(),
        },
        Some("arm"),
        &single,
    )
    .await
    .unwrap();
    let arm = client.get_manifest(&src, &"arm".parse().unwrap()).await.unwrap();
    assert_eq!(report.digest.as_ref(), Some(&arm.digest));
    let missing = CopyOptions {
        platform: Platform::parse("windows/amd64"),
        ..CopyOptions::default()
    };
    let err = copy_image(&from, Some(&"multi".parse().unwrap()), &to, Some("x"), &missing)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("linux/arm64/v8"), "{err}");
}
