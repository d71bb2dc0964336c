//! The client against CNCF Distribution (Debian's docker-registry), a registry nobody
//! here wrote, which has no referrers API: the tag-schema fallback is what works there.

use crate::harness::*;
use crate::images::{push_small_image, push_two_platform_index};
use std::collections::BTreeMap;
use std::sync::Arc;
use wharf_client::copy::{copy_image, CopyOptions, Store};
use wharf_client::image::artifact_manifest;
use wharf_client::referrers::referrers_tag;
use wharf_client::{BlobSource, BytesSource, ClientConfig, Credentials, Descriptor, PushedHow, Reference};
use wharf_testkit::Distribution;

#[tokio::test]
async fn images_blobs_and_tags_work_against_distribution() {
    let registry = Distribution::start();
    let client = client_with(
        ClientConfig {
            chunk_size: Some(1024 * 1024),
            ..ClientConfig::default()
        },
        Credentials::new(),
    );
    let repo = repo_on(&registry.host(), "org/app");
    let data = bytes(1, 3 * 1024 * 1024 + 1);
    let pushed = client
        .push_blob(&repo, &BytesSource::new(data.clone()), None)
        .await
        .unwrap();
    assert_eq!(pushed.how, PushedHow::Uploaded);
    let mut back = Vec::new();
    client
        .pull_blob(&repo, &pushed.digest, Some(data.len() as u64), &mut back)
        .await
        .unwrap();
    assert!(back == data);
    let other = repo_on(&registry.host(), "org/other");
    let mounted = client
        .push_blob(&other, &BytesSource::new(data.clone()), Some(&repo))
        .await
        .unwrap();
    assert_eq!(mounted.how, PushedHow::Mounted);

    let image = push_small_image(&client, &repo, 2, "v1").await;
    let tags: Vec<_> = ["a", "b", "c"].iter().map(|t| t.parse().unwrap()).collect();
    client.tag(&repo, &"v1".parse().unwrap(), &tags).await.unwrap();
    // Distribution 2.8 lists tags in no particular order; every one must come, once.
    let mut listed = client.list_tags(&repo, Some(2)).await.unwrap();
    listed.sort();
    assert_eq!(listed, ["a", "b", "c", "v1"]);
    let head = client
        .head_manifest(&repo, &"a".parse().unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(head.digest, image.digest);
    let index = push_two_platform_index(&client, &repo, "multi").await;
    let got = client.get_manifest(&repo, &"multi".parse().unwrap()).await.unwrap();
    assert_eq!(got.digest, index.digest);
    client
        .delete_manifest(&repo, &Reference::Digest(image.digest.clone()))
        .await
        .unwrap();
    assert!(client
        .get_manifest(&repo, &"v1".parse().unwrap())
        .await
        .unwrap_err()
        .is_not_found());
}

#[tokio::test]
async fn referrers_fall_back_to_the_tag_schema_on_distribution() {
    let registry = Distribution::start();
    let client = client();
    let repo = repo_on(&registry.host(), "signed");
    let image = push_small_image(&client, &repo, 3, "v1").await;
    let subject = image.descriptor();
    let mut pushed = Vec::new();
    for (kind, body) in [
        ("application/spdx+json", "sbom"),
        ("application/vnd.example.sig", "sig"),
    ] {
        let manifest = artifact_manifest(
            Some(kind),
            None,
            vec![Descriptor::of(kind, body.as_bytes())],
            BTreeMap::from([("kind".to_string(), body.to_string())]),
            Some(subject.clone()),
        );
        let blobs: Vec<Arc<dyn BlobSource>> = vec![
            Arc::new(BytesSource::new(wharf_client::document::EMPTY_JSON)),
            Arc::new(BytesSource::new(body.as_bytes().to_vec())),
        ];
        client.push_image(&repo, &manifest, blobs, &[]).await.unwrap();
        pushed.push(manifest.digest);
    }
    let all = client.referrers(&repo, &subject.digest, None).await.unwrap();
    assert_eq!(all.iter().map(|d| d.digest.clone()).collect::<Vec<_>>(), pushed);
    assert_eq!(all[0].annotations["kind"], "sbom");
    let sigs = client
        .referrers(&repo, &subject.digest, Some("application/vnd.example.sig"))
        .await
        .unwrap();
    assert_eq!(sigs.len(), 1);
    assert_eq!(sigs[0].digest, pushed[1]);
    let tags = client.list_tags(&repo, None).await.unwrap();
    assert!(tags.contains(&referrers_tag(&subject.digest).to_string()), "{tags:?}");
}

#[tokio::test]
async fn copies_from_wharf_to_distribution_keep_every_digest() {
    let wharf = Wharf::start().await;
    let registry = Distribution::start();
    let client = client();
    let src = wharf.repo("multi/app");
    let index = push_two_platform_index(&client, &src, "v1").await;
    let from = Store::Registry {
        client: client.clone(),
        repository: src,
    };
    let dst = repo_on(&registry.host(), "mirror/app");
    let to = Store::Registry {
        client: client.clone(),
        repository: dst.clone(),
    };
    let options = CopyOptions {
        all_platforms: true,
        concurrency: 3,
        ..Default::default()
    };
    let report = copy_image(&from, Some(&"v1".parse().unwrap()), &to, Some("v1"), &options)
        .await
        .unwrap();
    assert_eq!(report.digest.as_ref(), Some(&index.digest));
    assert_eq!(report.blobs_copied, 6);
    let back = client.get_manifest(&dst, &"v1".parse().unwrap()).await.unwrap();
    assert_eq!(back.bytes, index.bytes);
    // Again: everything is there already.
    let again = copy_image(&from, Some(&"v1".parse().unwrap()), &to, Some("v1"), &options)
        .await
        .unwrap();
    assert_eq!((again.blobs_copied, again.blobs_skipped), (0, 6));
}

#[tokio::test]
async fn basic_auth_on_distribution() {
    let registry = Distribution::start_with_basic_auth("carol", "carol-pw");
    let good = client_with(
        ClientConfig::default(),
        credentials(&registry.host(), "carol", "carol-pw"),
    );
    let repo = repo_on(&registry.host(), "private");
    push_small_image(&good, &repo, 4, "v1").await;
    assert_eq!(good.list_tags(&repo, None).await.unwrap(), ["v1"]);
    let bad = client_with(ClientConfig::default(), credentials(&registry.host(), "carol", "wrong"));
    assert!(bad.list_tags(&repo, None).await.unwrap_err().is_auth());
}
