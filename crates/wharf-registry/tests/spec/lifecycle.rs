//! The storage lifecycle's policies over files + SQLite: immutable tags (moves and
//! deletes refused, also when pushes race), quotas (uploads, chunks, mounts and
//! manifests over the limit refused; usage per repository), retention (what each rule
//! keeps, dry runs, then collection) and scrub (a flipped byte found and set aside).

use crate::client::expect_error;
use crate::content::{image_json, Blob, Image, Manifest};
use crate::harness::{files_under, TestServer};
use reqwest::StatusCode;
use std::time::Duration;
use wharf_registry::registry::gc::GcOptions;
use wharf_registry::registry::policy::{ImmutableTags, Policies, Quota, Retention, ScrubOptions};
use wharf_registry::RegistryConfig;

async fn server(policies: Policies) -> TestServer {
    TestServer::with_config(RegistryConfig {
        policies,
        ..RegistryConfig::default()
    })
    .await
}

fn immutable(repos: &str, tags: &str) -> Policies {
    Policies {
        immutable_tags: vec![ImmutableTags::new(&[repos], &[tags]).unwrap()],
        ..Policies::default()
    }
}

fn message(body: &serde_json::Value) -> String {
    body["errors"][0]["message"].as_str().unwrap().to_string()
}

async fn tagged_digest(s: &TestServer, repo: &str, tag: &str) -> String {
    let response = s.head(&format!("/v2/{repo}/manifests/{tag}")).await;
    assert_eq!(response.status(), StatusCode::OK, "{repo}:{tag}");
    crate::client::header(&response, "docker-content-digest").unwrap()
}

#[tokio::test]
async fn an_immutable_tag_cannot_move_or_go_but_the_same_manifest_can_be_pushed_again() {
    let s = server(immutable("prod/*", "v*")).await;
    let (one, two) = (Image::new(1), Image::new(2));
    s.push_image("prod/app", "v1", &one).await;
    s.push_image("prod/app", "v1", &one).await; // the same digest again: fine
    s.push_image("prod/app", "latest", &one).await;

    s.push_blob("prod/app", &two.config).await;
    s.push_blob("prod/app", &two.layer).await;
    let body = expect_error(s.put_manifest("prod/app", "v1", &two.manifest).await, 403, "DENIED").await;
    let text = message(&body);
    assert!(
        text.contains("v1") && text.contains("immutable") && text.contains("\"v*\""),
        "{text}"
    );
    assert!(text.contains("\"prod/*\""), "the message names the rule: {text}");
    assert_eq!(tagged_digest(&s, "prod/app", "v1").await, one.manifest.digest);

    let body = expect_error(s.delete("/v2/prod/app/manifests/v1").await, 403, "DENIED").await;
    assert!(message(&body).contains("immutable"));
    let by_digest = format!("/v2/prod/app/manifests/{}", one.manifest.digest);
    expect_error(s.delete(&by_digest).await, 403, "DENIED").await;
    assert_eq!(tagged_digest(&s, "prod/app", "v1").await, one.manifest.digest);

    // Tags the rule does not name move and go as usual, as does everything elsewhere.
    s.push_manifest("prod/app", "latest", &two.manifest).await;
    assert_eq!(
        s.delete("/v2/prod/app/manifests/latest").await.status(),
        StatusCode::ACCEPTED
    );
    s.push_image("dev/app", "v1", &one).await;
    s.push_image("dev/app", "v1", &two).await;
    assert_eq!(
        s.delete("/v2/dev/app/manifests/v1").await.status(),
        StatusCode::ACCEPTED
    );
    // A manifest no immutable tag points at can be deleted in a guarded repository.
    let other = format!("/v2/prod/app/manifests/{}", two.manifest.digest);
    assert_eq!(s.delete(&other).await.status(), StatusCode::ACCEPTED);
}

#[tokio::test]
async fn pushes_racing_for_a_new_immutable_tag_leave_exactly_one_winner() {
    let s = server(immutable("prod/**", "release-*")).await;
    let images: Vec<Image> = (10..18).map(Image::new).collect();
    for image in &images {
        s.push_blob("prod/app", &image.config).await;
        s.push_blob("prod/app", &image.layer).await;
    }
    let pushes = images
        .iter()
        .map(|image| s.put_manifest("prod/app", "release-1", &image.manifest));
    let statuses: Vec<u16> = futures::future::join_all(pushes)
        .await
        .iter()
        .map(|r| r.status().as_u16())
        .collect();
    assert_eq!(statuses.iter().filter(|s| **s == 201).count(), 1, "{statuses:?}");
    assert_eq!(
        statuses.iter().filter(|s| **s == 403).count(),
        images.len() - 1,
        "{statuses:?}"
    );
    let winner = tagged_digest(&s, "prod/app", "release-1").await;
    assert!(images.iter().any(|i| i.manifest.digest == winner));
}

fn quota(repos: &str, limit: u64) -> Policies {
    Policies {
        quotas: vec![Quota::new(&[repos], limit).unwrap()],
        ..Policies::default()
    }
}

#[tokio::test]
async fn a_push_over_the_quota_is_refused_before_it_is_stored_saying_usage_and_limit() {
    let s = server(quota("small/*", 1000)).await;
    let first = Blob::random(20, 600);
    s.push_blob("small/a", &first).await;
    s.push_blob("small/a", &first).await; // held already: not counted twice

    let second = Blob::random(21, 600);
    let location = s.start_upload("small/a").await;
    let body = expect_error(
        s.put_upload(&location, &second.digest, &second.bytes).await,
        403,
        "DENIED",
    )
    .await;
    let text = message(&body);
    assert!(text.contains("600") && text.contains("1000"), "usage and limit: {text}");
    assert_eq!(body["errors"][0]["detail"]["limit"], 1000);
    assert_eq!(
        s.head_status(&format!("/v2/small/a/blobs/{}", second.digest)).await,
        StatusCode::NOT_FOUND
    );

    // A chunk that would go over is refused too, before it is appended.
    let location = s.start_upload("small/a").await;
    expect_error(s.patch_chunk(&location, 0, &second.bytes).await, 403, "DENIED").await;

    // A mount, likewise; another repository under no quota takes anything.
    s.push_blob("big/b", &second).await;
    let mount = s
        .post_upload("small/a", &format!("?mount={}&from=big/b", second.digest))
        .await;
    expect_error(mount, 403, "DENIED").await;

    // A manifest that would go over.
    let config = Blob::config(22);
    s.push_blob("small/a", &config).await;
    let over = Manifest::new(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": config.descriptor("application/vnd.oci.image.config.v1+json"),
        "layers": [first.descriptor("application/vnd.oci.image.layer.v1.tar")],
        "annotations": { "padding": "x".repeat(400) },
    }));
    expect_error(s.put_manifest("small/a", "v1", &over).await, 403, "DENIED").await;

    let usage = s.registry.usage().await.unwrap();
    let small = usage.repositories.iter().find(|r| r.repository == "small/a").unwrap();
    assert_eq!(small.bytes, 600 + config.bytes.len() as u64);
    assert_eq!(small.limit, Some(1000));
    assert!(small.bytes <= 1000);
}

#[tokio::test]
async fn usage_counts_each_blob_once_per_repository_and_says_what_is_shared() {
    let s = TestServer::start().await;
    let base = Blob::random(30, 5000);
    let (own_a, own_b) = (Blob::random(31, 700), Blob::random(32, 900));
    s.push_blob("team/a", &base).await;
    s.push_blob("team/a", &own_a).await;
    s.push_blob("team/b", &base).await;
    s.push_blob("team/b", &own_b).await;
    let usage = s.registry.usage().await.unwrap();
    let a = usage.repositories.iter().find(|r| r.repository == "team/a").unwrap();
    let b = usage.repositories.iter().find(|r| r.repository == "team/b").unwrap();
    assert_eq!((a.blobs, a.bytes, a.exclusive_bytes), (2, 5700, 700));
    assert_eq!((b.blobs, b.bytes, b.exclusive_bytes), (2, 5900, 900));
    assert_eq!(usage.linked_bytes, 5000 + 700 + 900);
    assert_eq!(usage.stored_bytes, 5000 + 700 + 900);
}

fn retention(policy: Retention) -> Policies {
    Policies {
        retention: vec![policy],
        ..Policies::default()
    }
}

/// Pushes images tagged `tags`, oldest first (each pushed a little after the last).
async fn push_tags(s: &TestServer, repo: &str, tags: &[&str], seed: u64) -> Vec<Image> {
    let mut images = Vec::new();
    for (i, tag) in tags.iter().enumerate() {
        let image = Image::new(seed + i as u64);
        s.push_image(repo, tag, &image).await;
        tokio::time::sleep(Duration::from_millis(5)).await;
        images.push(image);
    }
    images
}

#[tokio::test]
async fn retention_keeps_the_newest_and_the_matching_tags_and_collection_takes_the_rest() {
    let policy = Retention::new(&["ci/*"])
        .unwrap()
        .keep_last(2)
        .keep_tags("^main$")
        .unwrap();
    let s = server(retention(policy)).await;
    let images = push_tags(&s, "ci/app", &["main", "t1", "t2", "t3", "t4"], 40).await;
    push_tags(&s, "other/app", &["o1", "o2", "o3"], 50).await;

    let dry = s.registry.apply_retention(true).await.unwrap();
    let mut would: Vec<&str> = dry.untagged.iter().map(|t| t.tag.as_str()).collect();
    would.sort();
    assert_eq!(would, ["t1", "t2"]);
    assert_eq!(
        s.tags("ci/app").await,
        ["main", "t1", "t2", "t3", "t4"],
        "a dry run changes nothing"
    );

    let report = s.registry.apply_retention(false).await.unwrap();
    assert_eq!(report.untagged.len(), 2);
    assert_eq!((report.repositories, report.tags_kept), (1, 3));
    assert_eq!(s.tags("ci/app").await, ["main", "t3", "t4"]);
    assert_eq!(
        s.tags("other/app").await,
        ["o1", "o2", "o3"],
        "no policy, nothing untagged"
    );

    tokio::time::sleep(Duration::from_millis(5)).await;
    let gc = GcOptions {
        grace: Duration::ZERO,
        ..GcOptions::default()
    };
    let collected = s.registry.collect_garbage(&gc).await.unwrap();
    assert_eq!(
        collected.manifests.count, 2,
        "the untagged images go with the next collection"
    );
    for (image, kept) in images.iter().zip([true, false, false, true, true]) {
        let status = s
            .head_status(&format!("/v2/ci/app/manifests/{}", image.manifest.digest))
            .await;
        assert_eq!(status == StatusCode::OK, kept, "{}", image.manifest.digest);
    }
}

#[tokio::test]
async fn retention_by_age_keeps_recent_tags_and_never_immutable_ones() {
    let policy = Retention::new(&["ci/**"])
        .unwrap()
        .keep_newer_than(Duration::from_millis(400));
    let mut policies = retention(policy);
    policies.immutable_tags = immutable("ci/*", "v*").immutable_tags;
    let s = server(policies).await;
    push_tags(&s, "ci/app", &["old", "v1"], 60).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    push_tags(&s, "ci/app", &["new"], 62).await;
    let report = s.registry.apply_retention(false).await.unwrap();
    let untagged: Vec<&str> = report.untagged.iter().map(|t| t.tag.as_str()).collect();
    assert_eq!(untagged, ["old"]);
    assert!(report.untagged[0].age_seconds < 60);
    assert_eq!(s.tags("ci/app").await, ["new", "v1"]);
}

/// `not_pulled_for`: a tag whose manifest was neither pulled (a GET, by tag or digest;
/// a HEAD is no pull) nor pushed within the window is untagged; the dry run says so
/// first; a signature of a kept image stays through the collection that follows.
#[tokio::test]
async fn retention_by_pulls_untags_what_nobody_pulled_and_keeps_the_signatures_of_kept_images() {
    let idle = Duration::from_secs(2);
    let policy = Retention::new(&["ci/**"]).unwrap().not_pulled_for(idle);
    let s = server(retention(policy)).await;
    let images = push_tags(&s, "ci/app", &["idle", "headed", "pulled", "by-digest"], 90).await;
    let (idle_image, pulled_image) = (&images[0], &images[2]);
    // A signature of the image that stays pulled: a referrer, untagged.
    let config = Blob::new(b"{}".to_vec());
    s.push_blob("ci/app", &config).await;
    let mut signature = image_json(&config, &[]);
    signature["artifactType"] = serde_json::json!("application/vnd.dev.cosign.artifact.sig.v1+json");
    signature["subject"] = pulled_image.manifest.descriptor();
    let signature = Manifest::new(&signature);
    s.push_manifest("ci/app", &signature.digest, &signature).await;

    tokio::time::sleep(idle + Duration::from_millis(300)).await;
    assert_eq!(s.get("/v2/ci/app/manifests/pulled").await.status(), StatusCode::OK);
    let by_digest = format!("/v2/ci/app/manifests/{}", images[3].manifest.digest);
    assert_eq!(s.get(&by_digest).await.status(), StatusCode::OK);
    assert_eq!(s.head_status("/v2/ci/app/manifests/headed").await, StatusCode::OK);
    push_tags(&s, "ci/app", &["fresh"], 95).await;

    let dry = s.registry.apply_retention(true).await.unwrap();
    let mut would: Vec<&str> = dry.untagged.iter().map(|t| t.tag.as_str()).collect();
    would.sort();
    assert_eq!(would, ["headed", "idle"], "{dry:?}");
    assert!(dry.untagged.iter().all(|t| t.unpulled_seconds >= 2), "{dry:?}");
    assert_eq!(s.tags("ci/app").await.len(), 5, "a dry run changes nothing");

    let report = s.registry.apply_retention(false).await.unwrap();
    let mut untagged: Vec<&str> = report.untagged.iter().map(|t| t.tag.as_str()).collect();
    untagged.sort();
    assert_eq!(untagged, ["headed", "idle"]);
    assert_eq!(s.tags("ci/app").await, ["by-digest", "fresh", "pulled"]);

    let gc = GcOptions {
        grace: Duration::ZERO,
        ..GcOptions::default()
    };
    s.registry.collect_garbage(&gc).await.unwrap();
    let status = |digest: &str| format!("/v2/ci/app/manifests/{digest}");
    assert_eq!(
        s.head_status(&status(&idle_image.manifest.digest)).await,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        s.head_status(&status(&pulled_image.manifest.digest)).await,
        StatusCode::OK
    );
    assert_eq!(
        s.head_status(&status(&signature.digest)).await,
        StatusCode::OK,
        "the signature of a kept image stays"
    );
}

/// Pull times are written in batches: none by the GET itself, all at the flush, and a
/// manifest never pulled has none (it counts from its push).
#[tokio::test]
async fn a_pull_is_noted_in_memory_and_written_by_the_flush() {
    let s = TestServer::start().await;
    let images = push_tags(&s, "app", &["a", "b"], 97).await;
    assert_eq!(s.get("/v2/app/manifests/a").await.status(), StatusCode::OK);
    assert_eq!(s.get("/v2/app/manifests/a").await.status(), StatusCode::OK);
    assert_eq!(s.registry.pending_pulls(), 1, "one entry however many GETs");
    let pulled_of = |snapshot: &wharf_registry::meta::GcSnapshot, digest: &str| {
        snapshot
            .links
            .iter()
            .find(|l| l.digest.to_string() == digest)
            .unwrap()
            .pulled
    };
    let before = s.meta.gc_snapshot().await.unwrap();
    assert_eq!(pulled_of(&before, &images[0].manifest.digest), None, "no write per GET");
    assert_eq!(s.registry.flush_pulls().await.unwrap(), 1);
    let after = s.meta.gc_snapshot().await.unwrap();
    assert!(pulled_of(&after, &images[0].manifest.digest).is_some());
    assert_eq!(pulled_of(&after, &images[1].manifest.digest), None);
    assert_eq!(s.registry.pending_pulls(), 0);
}

/// A blob large enough to be a file of its own (small ones are packed).
const LARGE: usize = 300 * 1024;

#[tokio::test]
async fn scrub_finds_a_flipped_byte_sets_the_blob_aside_and_names_the_manifest_that_needs_it() {
    let s = TestServer::start().await;
    let config = Blob::config(70);
    let layer = Blob::random(71, LARGE);
    let manifest = Manifest::new(&image_json(&config, &[&layer]));
    s.push_blob("app", &config).await;
    s.push_blob("app", &layer).await;
    s.push_manifest("app", "v1", &manifest).await;

    let clean = s.registry.scrub(&ScrubOptions::default()).await.unwrap();
    assert!(clean.is_clean(), "{clean:?}");
    assert_eq!(clean.blobs, 3);

    let hex = layer.digest.strip_prefix("sha256:").unwrap();
    let path = s.data_dir().join("blobs/sha256").join(&hex[..2]).join(hex);
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[1234] ^= 0x01;
    std::fs::write(&path, &bytes).unwrap();

    let report = s.registry.scrub(&ScrubOptions::default()).await.unwrap();
    assert_eq!(report.damaged.len(), 1, "{report:?}");
    assert_eq!(report.damaged[0].digest, layer.digest);
    assert!(report.damaged[0].why.contains("digest"), "{}", report.damaged[0].why);
    assert_eq!(report.missing_references.len(), 1);
    assert_eq!(report.missing_references[0].manifest, manifest.digest);
    assert_eq!(report.missing_references[0].missing, layer.digest);
    assert_eq!(files_under(&s.data_dir().join("quarantine")).len(), 1);
    let blob = format!("/v2/app/blobs/{}", layer.digest);
    expect_error(s.get(&blob).await, 404, "BLOB_UNKNOWN").await;

    s.push_blob("app", &layer).await;
    let repaired = s.registry.scrub(&ScrubOptions::default()).await.unwrap();
    assert!(repaired.is_clean(), "a push repairs it: {repaired:?}");
}

#[tokio::test]
async fn scrub_keeps_to_its_rate() {
    let s = TestServer::start().await;
    s.push_blob("app", &Blob::random(80, 2 * LARGE)).await;
    let started = std::time::Instant::now();
    let options = ScrubOptions {
        bytes_per_second: Some(1 << 20),
    };
    let report = s.registry.scrub(&options).await.unwrap();
    assert_eq!(report.bytes, 2 * LARGE as u64);
    let took = started.elapsed();
    assert!(took >= Duration::from_millis(500), "600 KiB at 1 MiB/s took {took:?}");
    assert!(took < Duration::from_secs(5), "{took:?}");
}
