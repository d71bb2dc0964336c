//! Garbage collection over files + SQLite: what goes after the grace period, what stays
//! (tags, an index's children, referrers of a present subject, blobs another repository
//! links), dry runs, bytes from before collection existed, and manifests stored before
//! references were recorded.

use crate::client::expect_error;
use crate::content::{image_json, index_json, Blob, Image, Manifest};
use crate::harness::{files_under, TestServer};
use reqwest::StatusCode;
use serde_json::json;
use std::time::{Duration, SystemTime};
use wharf_registry::registry::gc::{GcOptions, GcReport};
use wharf_registry::RegistryConfig;

/// Everything older than now goes (the tests' stand-in for "after the grace period").
async fn collect(s: &TestServer) -> GcReport {
    collect_with(
        s,
        GcOptions {
            grace: Duration::ZERO,
            ..GcOptions::default()
        },
    )
    .await
}

async fn collect_with(s: &TestServer, options: GcOptions) -> GcReport {
    // Timestamps are in milliseconds: let what was just made fall before the cutoff.
    tokio::time::sleep(Duration::from_millis(5)).await;
    s.registry.collect_garbage(&options).await.unwrap()
}

/// A blob's bytes are stored somewhere under the data directory (a file or a pack row).
async fn stored(s: &TestServer, repo: &str, blob: &Blob) -> bool {
    s.get(&format!("/v2/{repo}/blobs/{}", blob.digest)).await.status() == StatusCode::OK
}

/// Blob files under `blobs/` (the pack aside).
fn blob_files(s: &TestServer) -> Vec<String> {
    files_under(&s.data_dir().join("blobs"))
        .into_iter()
        .filter(|f| !f.contains("small.sqlite"))
        .collect()
}

#[tokio::test]
async fn an_untagged_manifest_goes_after_the_grace_period_with_what_only_it_used() {
    let s = TestServer::start().await;
    let image = Image::new(1);
    s.push_image("app", &image.manifest.digest, &image).await;

    let early = collect_with(&s, GcOptions::default()).await;
    assert_eq!((early.manifests.count, early.links.count, early.blobs.count), (0, 0, 0));
    assert_eq!(
        s.head_status(&format!("/v2/app/manifests/{}", image.manifest.digest))
            .await,
        StatusCode::OK
    );

    let report = collect(&s).await;
    assert_eq!(report.manifests.count, 1);
    assert_eq!(report.manifests.bytes, image.manifest.bytes.len() as u64);
    assert_eq!(report.links.count, 2, "the config's and the layer's links");
    assert_eq!(report.blobs.count, 3, "config, layer and manifest bytes");
    let path = format!("/v2/app/manifests/{}", image.manifest.digest);
    expect_error(s.get(&path).await, 404, "MANIFEST_UNKNOWN").await;
    assert!(!stored(&s, "app", &image.layer).await);
    assert!(blob_files(&s).is_empty(), "{:?}", blob_files(&s));
}

#[tokio::test]
async fn a_tagged_image_stays_and_goes_once_untagged() {
    let s = TestServer::start().await;
    let image = Image::new(2);
    s.push_image("app", "v1", &image).await;
    let report = collect(&s).await;
    assert_eq!(
        report,
        GcReport {
            took: report.took,
            ..GcReport::default()
        }
    );
    assert!(stored(&s, "app", &image.layer).await);

    assert_eq!(s.delete("/v2/app/manifests/v1").await.status(), StatusCode::ACCEPTED);
    let report = collect(&s).await;
    assert_eq!((report.manifests.count, report.blobs.count), (1, 3));
}

#[tokio::test]
async fn an_index_keeps_its_children_and_frees_them_when_it_goes() {
    let s = TestServer::start().await;
    let (a, b) = (Image::new(3), Image::new(4));
    s.push_image("app", &a.manifest.digest, &a).await;
    s.push_image("app", &b.manifest.digest, &b).await;
    let index = Manifest::new(&index_json(&[&a.manifest, &b.manifest]));
    s.push_manifest("app", "multi", &index).await;

    let report = collect(&s).await;
    assert_eq!(
        report.manifests.count + report.links.count + report.blobs.count,
        0,
        "{report:?}"
    );
    assert_eq!(
        s.head_status(&format!("/v2/app/manifests/{}", a.manifest.digest)).await,
        StatusCode::OK
    );

    assert_eq!(s.delete("/v2/app/manifests/multi").await.status(), StatusCode::ACCEPTED);
    let report = collect(&s).await;
    assert_eq!(
        report.manifests.count, 3,
        "the index, then both children, in one collection"
    );
    assert_eq!(report.blobs.count, 7);
}

#[tokio::test]
async fn referrers_stay_with_their_subject_and_go_with_it() {
    let s = TestServer::start().await;
    let image = Image::new(5);
    s.push_image("app", "v1", &image).await;
    let config = Blob::new(b"{}".to_vec());
    s.push_blob("app", &config).await;
    let mut sbom = image_json(&config, &[]);
    sbom["artifactType"] = json!("application/x.sbom");
    sbom["subject"] = image.manifest.descriptor();
    let sbom = Manifest::new(&sbom);
    s.push_manifest("app", &sbom.digest, &sbom).await;

    assert_eq!(collect(&s).await.manifests.count, 0, "the subject is there");
    let path = format!("/v2/app/manifests/{}", image.manifest.digest);
    assert_eq!(s.delete(&path).await.status(), StatusCode::ACCEPTED);
    let report = collect(&s).await;
    assert_eq!(report.manifests.count, 1, "the referrer of a deleted subject goes");
    let path = format!("/v2/app/manifests/{}", sbom.digest);
    expect_error(s.get(&path).await, 404, "MANIFEST_UNKNOWN").await;
}

#[tokio::test]
async fn keep_untagged_keeps_untagged_manifests_and_what_they_use() {
    let s = TestServer::start().await;
    let image = Image::new(6);
    s.push_image("app", &image.manifest.digest, &image).await;
    let options = GcOptions {
        grace: Duration::ZERO,
        keep_untagged: true,
        dry_run: false,
    };
    let report = collect_with(&s, options).await;
    assert_eq!(report.manifests.count + report.links.count + report.blobs.count, 0);
    assert!(stored(&s, "app", &image.layer).await);
}

#[tokio::test]
async fn a_blob_linked_but_not_yet_referenced_survives_the_grace_period() {
    let s = TestServer::start().await;
    let layer = Blob::random(7, 1000);
    s.push_blob("app", &layer).await;
    let report = collect_with(&s, GcOptions::default()).await;
    assert_eq!(report.links.count, 0);
    assert!(stored(&s, "app", &layer).await, "a manifest may still come for it");

    let report = collect(&s).await;
    assert_eq!(
        (report.links.count, report.blobs.count, report.blobs.bytes),
        (1, 1, 1000)
    );
    assert!(!stored(&s, "app", &layer).await);
}

#[tokio::test]
async fn bytes_go_only_when_no_repository_links_them() {
    let s = TestServer::start().await;
    let image = Image::new(8);
    s.push_image("a", "v1", &image).await;
    s.push_blob("b", &image.layer).await;
    let report = collect(&s).await;
    assert_eq!(
        (report.links.count, report.blobs.count),
        (1, 0),
        "b's link goes, a still uses the bytes"
    );
    assert!(!stored(&s, "b", &image.layer).await);
    assert!(stored(&s, "a", &image.layer).await);
}

#[tokio::test]
async fn a_dry_run_reports_what_a_collection_removes_and_removes_nothing() {
    let s = TestServer::start().await;
    let (a, b) = (Image::new(9), Image::new(10));
    s.push_image("app", &a.manifest.digest, &a).await;
    s.push_image("app", &b.manifest.digest, &b).await;
    let index = Manifest::new(&index_json(&[&a.manifest, &b.manifest]));
    s.push_manifest("app", &index.digest, &index).await;
    let dry = collect_with(
        &s,
        GcOptions {
            grace: Duration::ZERO,
            keep_untagged: false,
            dry_run: true,
        },
    )
    .await;
    assert!(dry.dry_run);
    assert_eq!(
        s.head_status(&format!("/v2/app/manifests/{}", index.digest)).await,
        StatusCode::OK
    );
    let real = collect(&s).await;
    assert_eq!(dry.manifests, real.manifests);
    assert_eq!(dry.links, real.links);
    assert_eq!(dry.blobs, real.blobs);
    assert_eq!(real.manifests.count, 3);
}

#[tokio::test]
async fn bytes_no_record_accounts_for_go_after_the_grace_period() {
    let s = TestServer::start().await;
    let image = Image::new(11);
    s.push_image("app", "v1", &image).await;
    // Bytes from before collection existed (or of a blob deleted through the API then).
    let stray = Blob::random(12, 100_000);
    let hex = stray.digest.trim_start_matches("sha256:");
    let shard = s.data_dir().join("blobs/sha256").join(&hex[..2]);
    std::fs::create_dir_all(&shard).unwrap();
    std::fs::write(shard.join(hex), &stray.bytes).unwrap();

    let report = collect_with(&s, GcOptions::default()).await;
    assert_eq!(report.stray_blobs.count, 0, "written within the grace period");
    let report = collect(&s).await;
    assert_eq!((report.stray_blobs.count, report.stray_blobs.bytes), (1, 100_000));
    assert!(!shard.join(hex).exists());
    assert!(stored(&s, "app", &image.layer).await);
}

#[tokio::test]
async fn upload_bytes_go_with_their_session_and_orphans_with_a_collection() {
    let s = TestServer::start().await;
    let loc = s.start_upload("app").await;
    assert_eq!(
        s.patch_chunk(&loc, 0, &[7u8; 5000]).await.status(),
        StatusCode::ACCEPTED
    );
    let uploads = s.data_dir().join("uploads");
    assert_eq!(files_under(&uploads).len(), 1);
    assert_eq!(
        collect(&s).await.orphan_uploads.count,
        0,
        "a live session keeps its bytes"
    );

    let later = SystemTime::now() + RegistryConfig::default().upload_ttl + Duration::from_secs(60);
    assert_eq!(s.registry.expire_uploads(later).await.unwrap(), 1);
    assert!(files_under(&uploads).is_empty(), "an expired session leaves no bytes");

    std::fs::write(uploads.join("left-by-a-crash"), b"abc").unwrap();
    assert_eq!(collect(&s).await.orphan_uploads.count, 1);
    assert!(files_under(&uploads).is_empty());
}

#[tokio::test]
async fn manifests_stored_before_references_were_recorded_are_read_first() {
    let s = TestServer::start().await;
    let image = Image::new(13);
    s.push_image("app", "v1", &image).await;
    let db = rusqlite::Connection::open(s.data_dir().join("metadata.sqlite")).unwrap();
    db.execute_batch("DELETE FROM manifest_refs; UPDATE manifests SET refs_recorded = 0;")
        .unwrap();
    let report = collect(&s).await;
    assert_eq!(report.backfilled, 1);
    assert_eq!(report.links.count + report.blobs.count, 0, "{report:?}");
    assert!(stored(&s, "app", &image.layer).await);
    let refs: i64 = db
        .query_row("SELECT count(*) FROM manifest_refs", [], |r| r.get(0))
        .unwrap();
    assert_eq!(refs, 2);
}

#[tokio::test]
async fn nothing_is_collected_while_a_manifest_cannot_be_read() {
    let s = TestServer::start().await;
    let image = Image::new(14);
    s.push_image("app", "v1", &image).await;
    s.push_blob("app", &Blob::random(15, 10)).await;
    let db = rusqlite::Connection::open(s.data_dir().join("metadata.sqlite")).unwrap();
    db.execute_batch("DELETE FROM manifest_refs; UPDATE manifests SET refs_recorded = 0, size = size + 1;")
        .unwrap();
    let report = collect(&s).await;
    assert!(report.skipped.is_some(), "{report:?}");
    assert_eq!(report.links.count + report.blobs.count, 0);
    assert!(stored(&s, "app", &image.layer).await);
}
