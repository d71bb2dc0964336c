//! The [`MetaStore`] contract: blob links per repository, manifests with their tags,
//! sorted and paginated listings, referrers by subject and type, and upload sessions
//! moved by compare-and-set. Each check takes a fresh, empty store and panics where
//! the store breaks the contract.

use crate::meta::{
    CollectionOutcome, Limits, ManifestRecord, MetaResult, MetaStore, Page, Pull, QuotaScope, Refusal, TagCursor,
    TagOrder, UploadSession,
};
use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};
use wharf_oci::{Algorithm, Digest, RepositoryName, Tag};

fn repo(name: &str) -> RepositoryName {
    name.parse().unwrap()
}

fn tag(name: &str) -> Tag {
    name.parse().unwrap()
}

fn digest(seed: &str) -> Digest {
    Digest::sha256_of(seed.as_bytes())
}

fn tags(names: &[&str]) -> Vec<Tag> {
    names.iter().map(|t| tag(t)).collect()
}

fn record(seed: &str) -> ManifestRecord {
    ManifestRecord {
        digest: digest(seed),
        media_type: "application/vnd.oci.image.manifest.v1+json".to_string(),
        size: 100 + seed.len() as u64,
        artifact_type: None,
        subject: None,
        annotations: None,
    }
}

fn referrer(seed: &str, subject: &Digest, artifact_type: &str) -> ManifestRecord {
    let annotations = BTreeMap::from([("seed".to_string(), seed.to_string())]);
    ManifestRecord {
        artifact_type: Some(artifact_type.to_string()),
        subject: Some(subject.clone()),
        annotations: Some(annotations),
        ..record(seed)
    }
}

fn session(id: &str, updated: SystemTime) -> UploadSession {
    UploadSession {
        id: id.to_string(),
        repository: repo("app"),
        offset: 0,
        algorithm: Algorithm::Sha256,
        hasher_state: vec![1, 2, 3],
        updated,
    }
}

/// Links a blob, claimed first as the registry does (a link needs the blob's row).
async fn link(meta: &dyn MetaStore, r: &RepositoryName, d: &Digest, size: u64) -> MetaResult<()> {
    meta.claim_blob(d, size).await?;
    meta.link_blob(r, d, size).await
}

/// Puts a manifest that references nothing, its blob claimed first as the registry does.
async fn put(meta: &dyn MetaStore, r: &RepositoryName, m: &ManifestRecord, tags: &[Tag]) -> MetaResult<()> {
    meta.claim_blob(&m.digest, m.size).await?;
    meta.put_manifest(r, m, tags, &[], false).await
}

fn page(items: &[&str], more: bool) -> Page {
    Page {
        items: items.iter().map(|i| i.to_string()).collect(),
        more,
    }
}

pub async fn blob_links_are_per_repository(meta: &dyn MetaStore) {
    let (a, b, d) = (repo("team/a"), repo("team/b"), digest("blob"));
    assert!(!meta.repository_exists(&a).await.unwrap());
    link(meta, &a, &d, 42).await.unwrap();
    assert!(meta.repository_exists(&a).await.unwrap());
    assert_eq!(meta.linked_blob(&a, &d).await.unwrap(), Some(42));
    assert_eq!(meta.linked_blob(&b, &d).await.unwrap(), None);
    assert_eq!(meta.known_blob(&d).await.unwrap(), Some(42));
    let found = meta.linked_blobs(&a, &[d.clone(), digest("other")]).await.unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(found.get(&d), Some(&42));

    link(meta, &b, &d, 42).await.unwrap();
    assert!(meta.unlink_blob(&a, &d).await.unwrap());
    assert!(!meta.unlink_blob(&a, &d).await.unwrap());
    assert_eq!(meta.linked_blob(&a, &d).await.unwrap(), None);
    assert!(meta.blob_is_linked_anywhere(&d).await.unwrap(), "b still links it");
    assert!(meta.unlink_blob(&b, &d).await.unwrap());
    assert!(!meta.blob_is_linked_anywhere(&d).await.unwrap());
    assert_eq!(meta.known_blob(&d).await.unwrap(), None);
}

pub async fn a_manifest_comes_with_its_tags_and_link(meta: &dyn MetaStore) {
    let app = repo("app");
    let m = record("m1");
    put(meta, &app, &m, &tags(&["v1", "latest"])).await.unwrap();
    assert!(meta.repository_exists(&app).await.unwrap());
    assert_eq!(meta.manifest(&app, &m.digest).await.unwrap(), Some(m.clone()));
    assert_eq!(meta.tagged_manifest(&app, &tag("v1")).await.unwrap(), Some(m.clone()));
    assert_eq!(meta.linked_blob(&app, &m.digest).await.unwrap(), Some(m.size));
    assert_eq!(meta.manifest(&repo("other"), &m.digest).await.unwrap(), None);
    assert_eq!(meta.tagged_manifest(&app, &tag("v2")).await.unwrap(), None);
}

pub async fn a_tag_moves_to_the_manifest_last_put(meta: &dyn MetaStore) {
    let app = repo("app");
    let (m1, m2) = (record("m1"), record("m2"));
    put(meta, &app, &m1, &tags(&["latest", "v1"])).await.unwrap();
    put(meta, &app, &m2, &tags(&["latest"])).await.unwrap();
    assert_eq!(meta.tagged_manifest(&app, &tag("latest")).await.unwrap(), Some(m2));
    assert_eq!(meta.tagged_manifest(&app, &tag("v1")).await.unwrap(), Some(m1));
}

/// A manifest put again under another tag counts as pushed anew: its record's and its
/// link's times (which the collector's grace period and retention's ages start from)
/// move to the later push, and its references stay recorded once.
pub async fn a_manifest_put_again_counts_from_its_last_push(meta: &dyn MetaStore) {
    let app = repo("app");
    let layer = digest("layer");
    meta.claim_blob(&layer, 10).await.unwrap();
    meta.link_blob(&app, &layer, 10).await.unwrap();
    let m = record("m");
    meta.claim_blob(&m.digest, m.size).await.unwrap();
    let references = std::slice::from_ref(&layer);
    meta.put_manifest(&app, &m, &tags(&["a"]), references, true)
        .await
        .unwrap();
    let first = push_times(meta, &app, &m.digest).await;
    // Times are kept to the millisecond.
    tokio::time::sleep(Duration::from_millis(20)).await;
    meta.put_manifest(&app, &m, &tags(&["b"]), references, true)
        .await
        .unwrap();
    let again = push_times(meta, &app, &m.digest).await;
    assert!(again.0 > first.0, "the record's time stayed at the first push");
    assert!(again.1 > first.1, "the link's time stayed at the first push");
    for t in ["a", "b"] {
        assert_eq!(meta.tagged_manifest(&app, &tag(t)).await.unwrap(), Some(m.clone()));
    }
    let snapshot = meta.gc_snapshot().await.unwrap();
    let recorded: Vec<&Digest> = (snapshot.references.iter())
        .filter(|(r, from, _)| r == &app && from == &m.digest)
        .map(|(_, _, to)| to)
        .collect();
    assert_eq!(recorded, vec![&layer]);
}

/// The times of manifest `d`'s record and of its link in `r`, as the collector reads them.
async fn push_times(meta: &dyn MetaStore, r: &RepositoryName, d: &Digest) -> (SystemTime, SystemTime) {
    let snapshot = meta.gc_snapshot().await.unwrap();
    let manifest = snapshot.manifests.iter().find(|m| &m.repository == r && &m.digest == d);
    let link = snapshot.links.iter().find(|l| &l.repository == r && &l.digest == d);
    (manifest.expect("the manifest").created, link.expect("its link").created)
}

pub async fn records_keep_every_field(meta: &dyn MetaStore) {
    let app = repo("app");
    let full = referrer("full", &digest("subject"), "application/x.sbom");
    put(meta, &app, &full, &[]).await.unwrap();
    assert_eq!(meta.manifest(&app, &full.digest).await.unwrap(), Some(full));
}

pub async fn deleting_a_manifest_removes_its_tags_and_link(meta: &dyn MetaStore) {
    let app = repo("app");
    let (m1, m2) = (record("m1"), record("m2"));
    put(meta, &app, &m1, &tags(&["a", "b"])).await.unwrap();
    put(meta, &app, &m2, &tags(&["c"])).await.unwrap();
    assert!(meta.delete_manifest(&app, &m1.digest).await.unwrap());
    assert!(!meta.delete_manifest(&app, &m1.digest).await.unwrap());
    assert_eq!(meta.manifest(&app, &m1.digest).await.unwrap(), None);
    assert_eq!(meta.tagged_manifest(&app, &tag("a")).await.unwrap(), None);
    assert_eq!(meta.linked_blob(&app, &m1.digest).await.unwrap(), None);
    assert_eq!(meta.list_tags(&app, None, None).await.unwrap(), page(&["c"], false));
}

pub async fn deleting_a_tag_leaves_the_manifest(meta: &dyn MetaStore) {
    let app = repo("app");
    let m = record("m1");
    put(meta, &app, &m, &tags(&["a", "b"])).await.unwrap();
    assert!(meta.delete_tag(&app, &tag("a")).await.unwrap());
    assert!(!meta.delete_tag(&app, &tag("a")).await.unwrap());
    assert!(!meta.delete_tag(&repo("other"), &tag("b")).await.unwrap());
    assert_eq!(meta.manifest(&app, &m.digest).await.unwrap(), Some(m.clone()));
    assert_eq!(meta.tagged_manifest(&app, &tag("b")).await.unwrap(), Some(m));
}

pub async fn tags_are_listed_in_byte_order_by_page(meta: &dyn MetaStore) {
    let app = repo("app");
    put(meta, &app, &record("m"), &tags(&["b", "a", "B", "_x", "1"]))
        .await
        .unwrap();
    put(meta, &repo("other"), &record("o"), &tags(&["zz"])).await.unwrap();
    let all = page(&["1", "B", "_x", "a", "b"], false);
    assert_eq!(meta.list_tags(&app, None, None).await.unwrap(), all);
    assert_eq!(
        meta.list_tags(&app, None, Some(2)).await.unwrap(),
        page(&["1", "B"], true)
    );
    assert_eq!(
        meta.list_tags(&app, Some("B"), Some(2)).await.unwrap(),
        page(&["_x", "a"], true)
    );
    assert_eq!(
        meta.list_tags(&app, Some("_x"), Some(2)).await.unwrap(),
        page(&["a", "b"], false)
    );
    assert_eq!(meta.list_tags(&app, Some("b"), None).await.unwrap(), page(&[], false));
    assert_eq!(
        meta.list_tags(&app, Some("A"), None).await.unwrap(),
        page(&["B", "_x", "a", "b"], false)
    );
    assert_eq!(
        meta.list_tags(&repo("none"), None, None).await.unwrap(),
        page(&[], false)
    );
}

pub async fn repositories_are_listed_in_byte_order_by_page(meta: &dyn MetaStore) {
    for name in ["b", "a/z", "a", "c"] {
        link(meta, &repo(name), &digest(name), 1).await.unwrap();
    }
    let list = |after, limit| meta.list_repositories(after, limit);
    assert_eq!(list(None, None).await.unwrap(), page(&["a", "a/z", "b", "c"], false));
    assert_eq!(list(None, Some(3)).await.unwrap(), page(&["a", "a/z", "b"], true));
    assert_eq!(list(Some("a/z"), Some(2)).await.unwrap(), page(&["b", "c"], false));
    assert_eq!(list(Some("c"), Some(2)).await.unwrap(), page(&[], false));
}

pub async fn referrers_match_subject_repository_and_type(meta: &dyn MetaStore) {
    let (app, other) = (repo("app"), repo("other"));
    let subject = digest("subject");
    let sbom = referrer("sbom", &subject, "application/x.sbom");
    let sig = referrer("sig", &subject, "application/x.sig");
    put(meta, &app, &sbom, &[]).await.unwrap();
    put(meta, &app, &sig, &[]).await.unwrap();
    put(
        meta,
        &app,
        &referrer("else", &digest("else"), "application/x.sbom"),
        &[],
    )
    .await
    .unwrap();
    put(meta, &other, &referrer("there", &subject, "application/x.sbom"), &[])
        .await
        .unwrap();
    put(meta, &app, &record("plain"), &[]).await.unwrap();

    let mut all = meta.referrers(&app, &subject, None).await.unwrap();
    all.sort_by(|a, b| a.digest.cmp(&b.digest));
    let mut expected = vec![sbom.clone(), sig];
    expected.sort_by(|a, b| a.digest.cmp(&b.digest));
    assert_eq!(all, expected);
    assert_eq!(
        meta.referrers(&app, &subject, Some("application/x.sbom"))
            .await
            .unwrap(),
        std::slice::from_ref(&sbom)
    );
    assert!(meta
        .referrers(&app, &subject, Some("application/x.none"))
        .await
        .unwrap()
        .is_empty());
    assert!(meta.referrers(&repo("none"), &subject, None).await.unwrap().is_empty());

    meta.delete_manifest(&app, &sbom.digest).await.unwrap();
    assert_eq!(meta.referrers(&app, &subject, None).await.unwrap().len(), 1);
}

pub async fn upload_sessions_advance_by_compare_and_set(meta: &dyn MetaStore) {
    let now = SystemTime::now();
    let s = session("s1", now);
    meta.create_upload(&s).await.unwrap();
    assert_eq!(
        meta.upload("s1").await.unwrap().map(|u| (u.offset, u.hasher_state)),
        Some((0, vec![1, 2, 3]))
    );

    let moved = UploadSession {
        offset: 10,
        hasher_state: vec![9; 8],
        ..s.clone()
    };
    assert!(meta.advance_upload(&moved, 0).await.unwrap());
    let stale = UploadSession {
        offset: 20,
        hasher_state: vec![7],
        ..s.clone()
    };
    assert!(
        !meta.advance_upload(&stale, 0).await.unwrap(),
        "the offset is no longer 0"
    );
    let stored = meta.upload("s1").await.unwrap().unwrap();
    assert_eq!((stored.offset, stored.hasher_state), (10, vec![9; 8]));
    assert_eq!(stored.repository, repo("app"));
    assert_eq!(stored.algorithm, Algorithm::Sha256);

    assert!(!meta.advance_upload(&session("never", now), 0).await.unwrap());
    assert!(meta.delete_upload("s1").await.unwrap());
    assert!(!meta.delete_upload("s1").await.unwrap());
    assert_eq!(meta.upload("s1").await.unwrap(), None);
}

pub async fn idle_uploads_are_those_not_moved_since_the_cutoff(meta: &dyn MetaStore) {
    let now = SystemTime::now();
    let hour = Duration::from_secs(3600);
    meta.create_upload(&session("old", now - 2 * hour)).await.unwrap();
    meta.create_upload(&session("fresh", now)).await.unwrap();
    assert_eq!(meta.idle_uploads(now - hour).await.unwrap(), ["old"]);

    // Moving a session refreshes it.
    let refreshed = UploadSession {
        offset: 5,
        updated: now,
        ..session("old", now)
    };
    assert!(meta.advance_upload(&refreshed, 0).await.unwrap());
    assert!(meta.idle_uploads(now - hour).await.unwrap().is_empty());
    let mut all = meta.idle_uploads(now + hour).await.unwrap();
    all.sort();
    assert_eq!(all, ["fresh", "old"]);
}

/// An immutable ("fixed") tag: put again at the manifest it names is fine, moved to
/// another is refused with `Refusal::TagImmutable` naming where it points, changing
/// nothing; tags not fixed move as usual.
pub async fn a_fixed_tag_never_moves_but_may_be_put_again(meta: &dyn MetaStore) {
    let (r, one, two) = (repo("prod/app"), record("one"), record("two"));
    put(meta, &r, &one, &tags(&["v1"])).await.unwrap();
    meta.claim_blob(&two.digest, two.size).await.unwrap();
    let fixed = tags(&["v1"]);
    meta.put_manifest_fixed_tags(&r, &one, &tags(&["v1", "also"]), &[], false, &fixed)
        .await
        .expect("the fixed tag put again at the same manifest");
    let refused = meta
        .put_manifest_fixed_tags(&r, &two, &tags(&["v1", "latest"]), &[], false, &fixed)
        .await
        .expect_err("a fixed tag moved");
    assert_eq!(
        refused.refusal(),
        Some(&Refusal::TagImmutable {
            tag: tag("v1"),
            current: one.digest.clone()
        })
    );
    assert_eq!(meta.tagged_manifest(&r, &tag("v1")).await.unwrap(), Some(one.clone()));
    assert_eq!(
        meta.tagged_manifest(&r, &tag("latest")).await.unwrap(),
        None,
        "nothing of the refused put"
    );
    assert_eq!(
        meta.manifest(&r, &two.digest).await.unwrap(),
        None,
        "nothing of the refused put"
    );
    meta.put_manifest_fixed_tags(&r, &two, &tags(&["also"]), &[], false, &[])
        .await
        .unwrap();
    assert_eq!(meta.tagged_manifest(&r, &tag("also")).await.unwrap(), Some(two));
}

/// A manifest a fixed tag points at is not deleted (with its tags); others are.
pub async fn a_manifest_a_fixed_tag_points_at_is_not_deleted(meta: &dyn MetaStore) {
    let (r, one, two) = (repo("prod/app"), record("one"), record("two"));
    put(meta, &r, &one, &tags(&["v1", "latest"])).await.unwrap();
    put(meta, &r, &two, &tags(&["dev"])).await.unwrap();
    let fixed: crate::meta::TagFilter = std::sync::Arc::new(|t: &str| t.starts_with('v'));
    let refused = meta
        .delete_manifest_fixed_tags(&r, &one.digest, fixed.clone())
        .await
        .expect_err("a manifest with a fixed tag deleted");
    assert_eq!(
        refused.refusal(),
        Some(&Refusal::TagImmutable {
            tag: tag("v1"),
            current: one.digest.clone()
        })
    );
    assert_eq!(
        meta.tagged_manifest(&r, &tag("latest")).await.unwrap(),
        Some(one.clone())
    );
    assert!(meta
        .delete_manifest_fixed_tags(&r, &two.digest, fixed.clone())
        .await
        .unwrap());
    assert_eq!(meta.manifest(&r, &two.digest).await.unwrap(), None);
    assert!(!meta.delete_manifest_fixed_tags(&r, &two.digest, fixed).await.unwrap());
}

/// `delete_tag_at` removes a tag only while it points at the digest given.
pub async fn a_tag_is_deleted_only_where_it_still_points(meta: &dyn MetaStore) {
    let (r, one, two) = (repo("ci/app"), record("one"), record("two"));
    put(meta, &r, &one, &tags(&["t"])).await.unwrap();
    put(meta, &r, &two, &tags(&["t"])).await.unwrap();
    assert!(
        !meta.delete_tag_at(&r, &tag("t"), &one.digest).await.unwrap(),
        "the tag moved on"
    );
    assert_eq!(meta.tagged_manifest(&r, &tag("t")).await.unwrap(), Some(two.clone()));
    assert!(meta.delete_tag_at(&r, &tag("t"), &two.digest).await.unwrap());
    assert_eq!(meta.tagged_manifest(&r, &tag("t")).await.unwrap(), None);
    assert!(!meta.delete_tag_at(&r, &tag("t"), &two.digest).await.unwrap());
    assert!(
        meta.manifest(&r, &two.digest).await.unwrap().is_some(),
        "the manifest stays"
    );
}

/// A repository's usage is the sum of its links' sizes, each blob once.
pub async fn usage_sums_the_links_of_a_repository(meta: &dyn MetaStore) {
    let (a, b) = (repo("team/a"), repo("team/b"));
    assert_eq!(meta.repository_usage(&a).await.unwrap(), 0);
    link(meta, &a, &digest("x"), 1000).await.unwrap();
    link(meta, &a, &digest("x"), 1000).await.unwrap();
    link(meta, &a, &digest("y"), 20).await.unwrap();
    link(meta, &b, &digest("x"), 1000).await.unwrap();
    let m = record("m");
    put(meta, &a, &m, &tags(&["v"])).await.unwrap();
    assert_eq!(meta.repository_usage(&a).await.unwrap(), 1020 + m.size);
    assert_eq!(meta.repository_usage(&b).await.unwrap(), 1000);
    meta.unlink_blob(&a, &digest("x")).await.unwrap();
    assert_eq!(meta.repository_usage(&a).await.unwrap(), 20 + m.size);
}

/// Pushes racing to set the same absent fixed tag at different manifests: exactly one
/// wins, the others are refused, and the tag points at the winner.
pub async fn racing_puts_set_a_fixed_tag_once(meta: &dyn MetaStore) {
    let r = repo("prod/app");
    let fixed = tags(&["v1"]);
    let manifests: Vec<ManifestRecord> = (0..8).map(|i| record(&format!("racer {i}"))).collect();
    for m in &manifests {
        meta.claim_blob(&m.digest, m.size).await.unwrap();
    }
    let puts = manifests
        .iter()
        .map(|m| meta.put_manifest_fixed_tags(&r, m, &fixed, &[], false, &fixed));
    let outcomes = futures::future::join_all(puts).await;
    let winners: Vec<&ManifestRecord> = manifests
        .iter()
        .zip(&outcomes)
        .filter(|(_, outcome)| outcome.is_ok())
        .map(|(m, _)| m)
        .collect();
    assert_eq!(winners.len(), 1, "{outcomes:?}");
    for outcome in &outcomes {
        if let Err(e) = outcome {
            assert!(matches!(e.refusal(), Some(Refusal::TagImmutable { .. })), "{e}");
        }
    }
    let tagged = meta.tagged_manifest(&r, &tag("v1")).await.unwrap();
    assert_eq!(tagged.as_ref(), Some(winners[0]));
}

/// Links racing into one repository with a quota: together they never pass it (each
/// is checked in the transaction that links); what the repository holds already is
/// linked again whatever its usage; a refused link or manifest changes nothing.
pub async fn racing_links_stay_within_a_repository_quota(meta: &dyn MetaStore) {
    let r = repo("team/a");
    let limits = Limits {
        repository: Some(1000),
        total: None,
    };
    let blobs: Vec<Digest> = (0..20).map(|i| digest(&format!("quota {i}"))).collect();
    for d in &blobs {
        meta.claim_blob(d, 100).await.unwrap();
    }
    let links = blobs.iter().map(|d| meta.link_blob_within(&r, d, 100, limits));
    let outcomes = futures::future::join_all(links).await;
    let linked = outcomes.iter().filter(|o| o.is_ok()).count();
    assert_eq!(linked, 10, "{outcomes:?}");
    for outcome in &outcomes {
        if let Err(e) = outcome {
            assert!(
                matches!(
                    e.refusal(),
                    Some(Refusal::OverQuota {
                        scope: QuotaScope::Repository,
                        limit: 1000,
                        incoming: 100,
                        ..
                    })
                ),
                "{e}"
            );
        }
    }
    assert_eq!(meta.repository_usage(&r).await.unwrap(), 1000);
    let held = blobs
        .iter()
        .zip(&outcomes)
        .find(|(_, o)| o.is_ok())
        .map(|(d, _)| d)
        .unwrap();
    meta.link_blob_within(&r, held, 100, limits)
        .await
        .expect("a link the repository holds already adds nothing");
    let m = record("over");
    meta.claim_blob(&m.digest, m.size).await.unwrap();
    let refused = meta
        .put_manifest_within(&r, &m, &tags(&["t"]), &[], false, &[], limits)
        .await
        .expect_err("a manifest over the quota");
    assert!(
        matches!(refused.refusal(), Some(Refusal::OverQuota { usage: 1000, .. })),
        "{refused}"
    );
    assert_eq!(meta.manifest(&r, &m.digest).await.unwrap(), None);
    assert_eq!(meta.tagged_manifest(&r, &tag("t")).await.unwrap(), None);
    let s = UploadSession {
        repository: r.clone(),
        ..session("over-quota", SystemTime::now())
    };
    meta.create_upload(&s).await.unwrap();
    let unlinked = blobs
        .iter()
        .zip(&outcomes)
        .find(|(_, o)| o.is_err())
        .map(|(d, _)| d)
        .unwrap();
    let refused = meta
        .complete_upload_within("over-quota", &r, unlinked, 100, limits)
        .await
        .expect_err("an upload over the quota");
    assert!(
        matches!(refused.refusal(), Some(Refusal::OverQuota { .. })),
        "{refused}"
    );
    assert_eq!(meta.linked_blob(&r, unlinked).await.unwrap(), None);
    assert!(meta.upload("over-quota").await.unwrap().is_some(), "the session stays");
    assert_eq!(meta.repository_usage(&r).await.unwrap(), 1000);
}

/// Links racing into several repositories under a total quota: the registry's usage
/// (each digest once, however many repositories link it) never passes it, and a blob
/// some repository holds already is linked into another whatever the total.
pub async fn racing_links_stay_within_the_total_quota(meta: &dyn MetaStore) {
    let limits = Limits {
        repository: None,
        total: Some(1000),
    };
    let repos: Vec<RepositoryName> = (0..4).map(|i| repo(&format!("team/r{i}"))).collect();
    let blobs: Vec<Digest> = (0..20).map(|i| digest(&format!("total {i}"))).collect();
    for d in &blobs {
        meta.claim_blob(d, 100).await.unwrap();
    }
    let links = blobs
        .iter()
        .enumerate()
        .map(|(i, d)| meta.link_blob_within(&repos[i % 4], d, 100, limits));
    let outcomes = futures::future::join_all(links).await;
    assert_eq!(outcomes.iter().filter(|o| o.is_ok()).count(), 10, "{outcomes:?}");
    for outcome in &outcomes {
        if let Err(e) = outcome {
            assert!(
                matches!(
                    e.refusal(),
                    Some(Refusal::OverQuota {
                        scope: QuotaScope::Total,
                        ..
                    })
                ),
                "{e}"
            );
        }
    }
    assert_eq!(meta.total_usage().await.unwrap(), 1000);
    let (i, held) = blobs.iter().enumerate().find(|(i, _)| outcomes[*i].is_ok()).unwrap();
    let other = &repos[(i + 1) % 4];
    meta.link_blob_within(other, held, 100, limits)
        .await
        .expect("a blob the registry holds already adds nothing to its total");
    assert_eq!(meta.total_usage().await.unwrap(), 1000, "counted once");
}

/// Pull times: recorded in one batch per link, the later time kept, pulls of links
/// that are gone ignored, read back by the snapshot; a link made after is unpulled.
pub async fn pull_times_keep_the_latest_per_link(meta: &dyn MetaStore) {
    let (a, b) = (repo("cache/a"), repo("cache/b"));
    let (layer, gone, m) = (digest("layer"), digest("gone"), record("pulled"));
    link(meta, &a, &layer, 10).await.unwrap();
    link(meta, &b, &layer, 10).await.unwrap();
    put(meta, &a, &m, &tags(&["v1"])).await.unwrap();
    let at = |secs: u64| SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000 + secs);
    let pull = |r: &RepositoryName, d: &Digest, secs| Pull {
        repository: r.clone(),
        digest: d.clone(),
        at: at(secs),
    };
    meta.record_pulls(&[pull(&a, &layer, 20), pull(&a, &m.digest, 5), pull(&a, &gone, 9)])
        .await
        .unwrap();
    meta.record_pulls(&[pull(&a, &layer, 10), pull(&a, &m.digest, 7)])
        .await
        .unwrap();
    meta.record_pulls(&[]).await.unwrap();
    let pulled = |snapshot: &crate::meta::GcSnapshot, r: &RepositoryName, d: &Digest| {
        snapshot
            .links
            .iter()
            .find(|l| &l.repository == r && &l.digest == d)
            .map(|l| l.pulled)
    };
    let snapshot = meta.gc_snapshot().await.unwrap();
    assert_eq!(
        pulled(&snapshot, &a, &layer),
        Some(Some(at(20))),
        "the later pull is kept"
    );
    assert_eq!(
        pulled(&snapshot, &a, &m.digest),
        Some(Some(at(7))),
        "a manifest's link too"
    );
    assert_eq!(pulled(&snapshot, &b, &layer), Some(None), "per repository");
    assert_eq!(pulled(&snapshot, &a, &gone), None, "a pull of no link makes none");
    assert!(meta.unlink_blob(&a, &layer).await.unwrap());
    meta.record_pulls(&[pull(&a, &layer, 30)]).await.unwrap();
    link(meta, &a, &layer, 10).await.unwrap();
    let snapshot = meta.gc_snapshot().await.unwrap();
    let relinked = snapshot
        .links
        .iter()
        .find(|l| l.repository == a && l.digest == layer)
        .unwrap();
    assert_eq!(relinked.pulled, None, "a pull of a removed link is not kept");
}

/// Every page of `repo`'s tags in `order`, `limit` at a time, following the cursor; `between`
/// runs after each page (to change the store while the listing goes on).
async fn every_page(
    meta: &dyn MetaStore,
    repo: &RepositoryName,
    order: TagOrder,
    limit: usize,
    mut between: impl FnMut(usize) -> Option<(ManifestRecord, Tag)>,
) -> Vec<String> {
    let mut seen = Vec::new();
    let mut cursor: Option<TagCursor> = None;
    for round in 0.. {
        let page = meta.tag_page(repo, order, cursor.as_ref(), limit).await.unwrap();
        assert!(page.len() <= limit, "a page of {} past its limit {limit}", page.len());
        let Some(last) = page.last() else { break };
        cursor = Some(TagCursor::after(last));
        seen.extend(page.iter().map(|t| t.tag.clone()));
        if let Some((m, t)) = between(round) {
            put(meta, repo, &m, &[t]).await.unwrap();
        }
        assert!(round < 1000, "the listing does not end");
    }
    seen
}

/// The push order is checked where the store records push times; a store whose tags
/// carry none (the default [`MetaStore::tag_page`]) is checked by name only.
pub async fn tags_page_by_keyset_by_name_and_by_push(meta: &dyn MetaStore) {
    let app = repo("app");
    // Pushed one after another, a millisecond or more apart, in an order that is not
    // the names' order.
    let names: Vec<String> = (0..23).map(|i| format!("v{:02}", (i * 7) % 23)).collect();
    for (i, name) in names.iter().enumerate() {
        put(meta, &app, &record(&format!("keyset-{i}")), &[tag(name)])
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(3)).await;
    }
    let mut by_name = names.clone();
    by_name.sort();
    let newest_first: Vec<String> = names.iter().rev().cloned().collect();

    let details = meta.tag_page(&app, TagOrder::Pushed, None, 100).await.unwrap();
    let push_times = details.iter().any(|t| t.pushed.is_some());
    assert!(
        details.iter().all(|t| t.pushed.is_some() == push_times),
        "push times for some tags and not others"
    );
    let expected_first = if push_times { &newest_first } else { &by_name };
    assert_eq!(
        details.iter().map(|t| t.tag.as_str()).collect::<Vec<_>>(),
        *expected_first,
        "newest push first (by name for a store without push times)"
    );
    let first = details.iter().find(|t| t.tag == newest_first[0]).unwrap();
    assert_eq!(first.manifest, record("keyset-22"), "each tag comes with its manifest");

    // Tags pushed while a person pages through neither repeat nor leave a gap in what
    // follows: newer ones sort before the cursor by push, and these names before it by name.
    let mut added = 0;
    if push_times {
        let mut add = |_round: usize| {
            added += 1;
            Some((record(&format!("keyset-new-{added}")), tag(&format!("a{added:02}"))))
        };
        assert_eq!(
            every_page(meta, &app, TagOrder::Pushed, 5, &mut add).await,
            newest_first
        );
    }
    let mut add_more = |_round: usize| {
        added += 1;
        Some((record(&format!("keyset-new-{added}")), tag(&format!("0n{added:02}"))))
    };
    let listed = every_page(meta, &app, TagOrder::Name, 4, &mut add_more).await;
    let mut expected: Vec<String> = if push_times {
        (1..=5).map(|i| format!("a{i:02}")).collect()
    } else {
        Vec::new()
    };
    expected.extend(by_name.iter().cloned());
    assert_eq!(listed, expected, "by name, every tag there at the start once, in order");

    if push_times {
        // A moved tag counts as pushed now (a millisecond or more after the last push).
        tokio::time::sleep(Duration::from_millis(3)).await;
        put(meta, &app, &record("keyset-0"), &[tag("v03")]).await.unwrap();
        let first = meta.tag_page(&app, TagOrder::Pushed, None, 1).await.unwrap();
        assert_eq!(first[0].tag, "v03");
    }
    assert!(meta
        .tag_page(&repo("none"), TagOrder::Name, None, 5)
        .await
        .unwrap()
        .is_empty());
}

fn at_ms(ms: u64) -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_millis(ms)
}

/// Skipped for a store that says it records no collections (the default).
pub async fn collections_are_recorded_and_the_last_begun_is_read(meta: &dyn MetaStore) {
    assert_eq!(meta.last_collection().await.unwrap(), None);
    if let Err(e) = meta.collection_started("first", at_ms(1_000_000)).await {
        assert!(e.is_unsupported(), "{e}");
        assert_eq!(meta.last_collection().await.unwrap(), None, "a store that records none");
        return;
    }
    let running = meta.last_collection().await.unwrap().expect("a collection");
    assert_eq!(
        (running.id.as_str(), running.started, running.ended.clone()),
        ("first", at_ms(1_000_000), None)
    );
    let removed = CollectionOutcome::Removed {
        manifests: 3,
        blobs: 7,
        bytes_freed: 1 << 40,
    };
    meta.collection_ended("first", at_ms(1_000_500), &removed)
        .await
        .unwrap();
    let done = meta.last_collection().await.unwrap().unwrap();
    assert_eq!(done.ended, Some((at_ms(1_000_500), removed)));

    meta.collection_started("second", at_ms(2_000_000)).await.unwrap();
    let failed = CollectionOutcome::Failed("blob store: gone".to_string());
    meta.collection_ended("second", at_ms(2_000_001), &failed)
        .await
        .unwrap();
    let last = meta.last_collection().await.unwrap().unwrap();
    assert_eq!(last.id, "second");
    assert_eq!(last.ended, Some((at_ms(2_000_001), failed)));

    // Only the last ones are kept, and the last begun is still the one read.
    for i in 0..crate::meta::KEPT_COLLECTIONS as u64 + 5 {
        meta.collection_started(&format!("many-{i:03}"), at_ms(3_000_000 + i))
            .await
            .unwrap();
    }
    let last = meta.last_collection().await.unwrap().unwrap();
    assert_eq!(last.id, format!("many-{:03}", crate::meta::KEPT_COLLECTIONS + 4));
    assert_eq!(last.ended, None);
}

/// Skipped for a store that says it cannot record signed-out sessions (the default).
pub async fn a_signed_out_session_is_refused(meta: &dyn MetaStore) {
    assert!(!meta.session_revoked("session-a").await.unwrap());
    let until = SystemTime::now() + Duration::from_secs(3600);
    if let Err(e) = meta.revoke_session("session-a", until).await {
        assert!(e.is_unsupported(), "{e}");
        return;
    }
    assert!(meta.session_revoked("session-a").await.unwrap());
    assert!(!meta.session_revoked("session-b").await.unwrap());
    meta.revoke_session("session-a", until).await.unwrap();
    assert!(meta.session_revoked("session-a").await.unwrap(), "signed out twice");
}

/// Every check above, in the order [`meta_store_contract`](super::meta_store_contract) runs them.
pub const CHECKS: &[super::Check<dyn MetaStore>] = checks![dyn MetaStore:
    blob_links_are_per_repository,
    a_manifest_comes_with_its_tags_and_link,
    a_tag_moves_to_the_manifest_last_put,
    a_manifest_put_again_counts_from_its_last_push,
    records_keep_every_field,
    deleting_a_manifest_removes_its_tags_and_link,
    deleting_a_tag_leaves_the_manifest,
    tags_are_listed_in_byte_order_by_page,
    repositories_are_listed_in_byte_order_by_page,
    referrers_match_subject_repository_and_type,
    upload_sessions_advance_by_compare_and_set,
    idle_uploads_are_those_not_moved_since_the_cutoff,
    a_fixed_tag_never_moves_but_may_be_put_again,
    a_manifest_a_fixed_tag_points_at_is_not_deleted,
    a_tag_is_deleted_only_where_it_still_points,
    usage_sums_the_links_of_a_repository,
    racing_puts_set_a_fixed_tag_once,
    racing_links_stay_within_a_repository_quota,
    racing_links_stay_within_the_total_quota,
    pull_times_keep_the_latest_per_link,
    tags_page_by_keyset_by_name_and_by_push,
    collections_are_recorded_and_the_last_begun_is_read,
    a_signed_out_session_is_refused,
];
