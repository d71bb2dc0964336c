//! The [`MetaStore`] contract for garbage collection: the fence a push's claim and link
//! check, a manifest's references checked at commit, and removals that re-check their
//! condition; checked on every adapter.

#![allow(clippy::cloned_ref_to_slice_refs)] // `&[d.clone()]` reads as the list it is
use std::time::{Duration, SystemTime};
use wharf_oci::{Digest, RepositoryName, Tag};
use wharf_registry::meta::{BlobClaim, ManifestRecord, MemoryMetaStore, MetaStore, Refusal, SqliteMetaStore};

fn repo(name: &str) -> RepositoryName {
    name.parse().unwrap()
}

fn digest(seed: &str) -> Digest {
    Digest::sha256_of(seed.as_bytes())
}

fn record(seed: &str) -> ManifestRecord {
    ManifestRecord {
        digest: digest(seed),
        media_type: "application/vnd.oci.image.manifest.v1+json".to_string(),
        size: 10,
        artifact_type: None,
        subject: None,
        annotations: None,
    }
}

/// A cutoff after everything done so far (timestamps are in milliseconds).
async fn now() -> SystemTime {
    tokio::time::sleep(Duration::from_millis(3)).await;
    let cutoff = SystemTime::now();
    tokio::time::sleep(Duration::from_millis(3)).await;
    cutoff
}

async fn put(meta: &dyn MetaStore, r: &RepositoryName, m: &ManifestRecord, tags: &[&str], refs: &[Digest]) {
    meta.claim_blob(&m.digest, m.size).await.unwrap();
    let tags: Vec<Tag> = tags.iter().map(|t| t.parse().unwrap()).collect();
    meta.put_manifest(r, m, &tags, refs, true).await.unwrap();
}

async fn link(meta: &dyn MetaStore, r: &RepositoryName, d: &Digest) {
    meta.claim_blob(d, 5).await.unwrap();
    meta.link_blob(r, d, 5).await.unwrap();
}

async fn a_claim_makes_the_row_and_a_link_needs_it(meta: &dyn MetaStore) {
    let (app, d) = (repo("app"), digest("layer"));
    let refused = meta.link_blob(&app, &d, 5).await.unwrap_err();
    assert_eq!(
        refused.refusal(),
        Some(&Refusal::BlobGone(d.clone())),
        "no row: nothing to link"
    );
    assert_eq!(meta.claim_blob(&d, 5).await.unwrap(), BlobClaim::New);
    assert_eq!(meta.claim_blob(&d, 5).await.unwrap(), BlobClaim::Held);
    meta.link_blob(&app, &d, 5).await.unwrap();
    assert_eq!(meta.linked_blob(&app, &d).await.unwrap(), Some(5));
}

async fn a_blob_being_deleted_can_be_neither_claimed_nor_linked(meta: &dyn MetaStore) {
    let (app, d) = (repo("app"), digest("layer"));
    meta.claim_blob(&d, 5).await.unwrap();
    let cutoff = now().await;
    assert_eq!(
        meta.mark_blobs_deleting(std::slice::from_ref(&d), cutoff)
            .await
            .unwrap(),
        [d.clone()]
    );
    assert_eq!(meta.claim_blob(&d, 5).await.unwrap(), BlobClaim::Deleting);
    let refused = meta.link_blob(&app, &d, 5).await.unwrap_err();
    assert_eq!(refused.refusal(), Some(&Refusal::BlobGone(d.clone())));
    meta.claim_blob(&record("m").digest, 10).await.unwrap();
    let refused = meta
        .put_manifest(&app, &record("m"), &[], std::slice::from_ref(&d), false)
        .await;
    assert!(refused.is_ok(), "a sparse manifest does not need its references");
    meta.forget_deleted_blobs(std::slice::from_ref(&d)).await.unwrap();
    assert_eq!(
        meta.claim_blob(&d, 5).await.unwrap(),
        BlobClaim::New,
        "gone: claimed afresh"
    );
}

async fn a_blob_linked_or_claimed_since_the_cutoff_is_not_marked(meta: &dyn MetaStore) {
    let (app, linked, fresh) = (repo("app"), digest("linked"), digest("fresh"));
    link(meta, &app, &linked).await;
    let cutoff = now().await;
    meta.claim_blob(&fresh, 5).await.unwrap();
    let marked = meta
        .mark_blobs_deleting(&[linked.clone(), fresh.clone()], cutoff)
        .await
        .unwrap();
    assert!(marked.is_empty(), "{marked:?}");
}

async fn a_manifest_needs_its_references_linked_at_commit(meta: &dyn MetaStore) {
    let (app, layer) = (repo("app"), digest("layer"));
    let m = record("m");
    meta.claim_blob(&m.digest, m.size).await.unwrap();
    let refused = meta
        .put_manifest(&app, &m, &[], &[layer.clone()], true)
        .await
        .unwrap_err();
    assert_eq!(
        refused.refusal(),
        Some(&Refusal::ReferencesMissing(vec![layer.clone()]))
    );
    assert_eq!(
        meta.manifest(&app, &m.digest).await.unwrap(),
        None,
        "nothing was stored"
    );
    link(meta, &app, &layer).await;
    meta.put_manifest(&app, &m, &[], &[layer.clone()], true).await.unwrap();
    let snapshot = meta.gc_snapshot().await.unwrap();
    assert_eq!(snapshot.references, [(app.clone(), m.digest.clone(), layer)]);
    assert!(snapshot.manifests[0].references_recorded);
}

async fn unused_manifests_go_and_used_ones_stay(meta: &dyn MetaStore) {
    let app = repo("app");
    let (child, index, tagged, subject_held) = (record("child"), record("index"), record("tagged"), record("referrer"));
    put(meta, &app, &child, &[], &[]).await;
    put(meta, &app, &index, &[], &[child.digest.clone()]).await;
    put(meta, &app, &tagged, &["v1"], &[]).await;
    let referrer = ManifestRecord {
        subject: Some(tagged.digest.clone()),
        ..subject_held
    };
    put(meta, &app, &referrer, &[], &[]).await;
    let cutoff = now().await;
    let late = record("late");
    put(meta, &app, &late, &[], &[]).await;
    let all: Vec<_> = [&child, &index, &tagged, &referrer, &late]
        .iter()
        .map(|m| (app.clone(), m.digest.clone()))
        .collect();
    let removed = meta.remove_unused_manifests(&all, cutoff).await.unwrap();
    assert_eq!(
        removed,
        [(app.clone(), index.digest.clone())],
        "the child was listed before its index"
    );
    let removed = meta.remove_unused_manifests(&all, cutoff).await.unwrap();
    assert_eq!(removed, [(app.clone(), child.digest.clone())]);
    assert_eq!(
        meta.linked_blob(&app, &child.digest).await.unwrap(),
        None,
        "its link goes with it"
    );
    assert!(meta.delete_manifest(&app, &tagged.digest).await.unwrap());
    let removed = meta.remove_unused_manifests(&all, cutoff).await.unwrap();
    assert_eq!(removed, [(app.clone(), referrer.digest.clone())], "its subject is gone");
    assert!(meta.gc_snapshot().await.unwrap().references.is_empty());
}

async fn unreferenced_links_go(meta: &dyn MetaStore) {
    let app = repo("app");
    let (used, unused) = (digest("used"), digest("unused"));
    link(meta, &app, &used).await;
    link(meta, &app, &unused).await;
    let m = record("m");
    put(meta, &app, &m, &["v1"], &[used.clone()]).await;
    let cutoff = now().await;
    let items: Vec<_> = [&used, &unused, &m.digest]
        .iter()
        .map(|d| (app.clone(), (*d).clone()))
        .collect();
    let removed = meta.remove_unused_links(&items, cutoff).await.unwrap();
    assert_eq!(removed, [(app.clone(), unused.clone())]);
    link(meta, &app, &unused).await;
    assert!(
        meta.remove_unused_links(&items, cutoff).await.unwrap().is_empty(),
        "linked again since"
    );
}

async fn stray_bytes_are_fenced_only_without_a_row(meta: &dyn MetaStore) {
    let (rowed, stray) = (digest("rowed"), digest("stray"));
    meta.claim_blob(&rowed, 5).await.unwrap();
    let fenced = meta
        .fence_stray_blobs(&[(rowed.clone(), 5), (stray.clone(), 7)])
        .await
        .unwrap();
    assert_eq!(fenced, [stray.clone()]);
    assert_eq!(meta.claim_blob(&stray, 7).await.unwrap(), BlobClaim::Deleting);
    meta.forget_deleted_blobs(&[rowed.clone(), stray.clone()])
        .await
        .unwrap();
    let rows: Vec<Digest> = meta
        .gc_snapshot()
        .await
        .unwrap()
        .blobs
        .into_iter()
        .map(|b| b.digest)
        .collect();
    assert_eq!(rows, [rowed], "only rows marked deleting are forgotten");
}

on_every_meta_store!(
    a_claim_makes_the_row_and_a_link_needs_it,
    a_blob_being_deleted_can_be_neither_claimed_nor_linked,
    a_blob_linked_or_claimed_since_the_cutoff_is_not_marked,
    a_manifest_needs_its_references_linked_at_commit,
    unused_manifests_go_and_used_ones_stay,
    unreferenced_links_go,
    stray_bytes_are_fenced_only_without_a_row,
);

/// A database written before garbage collection existed is migrated in place: its links
/// count as made now and each linked digest gets its fence row.
#[tokio::test]
async fn a_database_from_before_collection_is_migrated() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("metadata.sqlite");
    let old = rusqlite::Connection::open(&path).unwrap();
    old.execute_batch(
        "CREATE TABLE repositories (name TEXT PRIMARY KEY) WITHOUT ROWID;
         CREATE TABLE links (repo TEXT NOT NULL, digest TEXT NOT NULL, size INTEGER NOT NULL,
             PRIMARY KEY (repo, digest)) WITHOUT ROWID;
         CREATE TABLE manifests (repo TEXT NOT NULL, digest TEXT NOT NULL, media_type TEXT NOT NULL,
             size INTEGER NOT NULL, artifact_type TEXT, subject TEXT, annotations TEXT,
             PRIMARY KEY (repo, digest)) WITHOUT ROWID;",
    )
    .unwrap();
    let (layer, m) = (digest("layer"), digest("m"));
    old.execute("INSERT INTO repositories VALUES ('app')", []).unwrap();
    for (d, size) in [(&layer, 5), (&m, 10)] {
        old.execute(
            "INSERT INTO links VALUES ('app', ?1, ?2)",
            rusqlite::params![d.to_string(), size],
        )
        .unwrap();
    }
    old.execute(
        "INSERT INTO manifests (repo, digest, media_type, size) VALUES ('app', ?1, 'application/vnd.oci.image.manifest.v1+json', 10)",
        [m.to_string()],
    )
    .unwrap();
    drop(old);

    let before = SystemTime::now() - Duration::from_secs(1);
    let meta = SqliteMetaStore::open(&path, false).await.unwrap();
    let snapshot = meta.gc_snapshot().await.unwrap();
    let mut rows: Vec<_> = snapshot
        .blobs
        .iter()
        .map(|b| (b.digest.clone(), b.size, b.deleting))
        .collect();
    rows.sort();
    let mut expected = vec![(layer.clone(), 5, false), (m.clone(), 10, false)];
    expected.sort();
    assert_eq!(rows, expected);
    assert!(
        snapshot.links.iter().all(|l| l.created > before),
        "the grace period runs from the upgrade"
    );
    assert!(!snapshot.manifests[0].references_recorded);
    drop(meta);
    // Opening again migrates nothing twice.
    SqliteMetaStore::open(&path, false).await.unwrap();
}
