//! What only the PostgreSQL store has to show: replicas starting at once over one
//! database, and the fence holding between concurrent transactions (a push on one
//! connection, a collection on another), not just between calls made one after another.

use std::sync::Arc;
use std::time::{Duration, SystemTime};
use wharf_oci::{Digest, RepositoryName};
use wharf_registry::meta::{ManifestRecord, MetaStore, PostgresConfig, PostgresMetaStore, Refusal};
use wharf_testkit::Postgres;

/// A store over a new, empty database of the test binary's PostgreSQL server.
pub async fn fresh_store() -> PostgresMetaStore {
    let url = tokio::task::spawn_blocking(Postgres::fresh_database).await.unwrap();
    connect(&url).await
}

async fn connect(url: &str) -> PostgresMetaStore {
    let mut config = PostgresConfig::new(url);
    config.pool_size = 8;
    PostgresMetaStore::connect(&config).await.unwrap()
}

fn later() -> SystemTime {
    SystemTime::now() + Duration::from_secs(3600)
}

#[tokio::test]
async fn replicas_starting_at_once_migrate_the_database_once() {
    let url = tokio::task::spawn_blocking(Postgres::fresh_database).await.unwrap();
    let starts = (0..4).map(|_| connect(&url));
    let stores = futures::future::join_all(starts).await;
    let (app, d): (RepositoryName, Digest) = ("app".parse().unwrap(), Digest::sha256_of(b"x"));
    stores[0].claim_blob(&d, 1).await.unwrap();
    stores[1].link_blob(&app, &d, 1).await.unwrap();
    assert_eq!(stores[3].linked_blob(&app, &d).await.unwrap(), Some(1));
    drop(stores);
    // A replica started later finds the tables as they are.
    assert_eq!(connect(&url).await.linked_blob(&app, &d).await.unwrap(), Some(1));
}

/// A link and a collection's mark of the same blob, racing on two connections, many
/// times: afterwards the blob is either linked and kept, or marked and unlinked, never
/// linked while its bytes go.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_link_racing_a_mark_never_links_a_blob_being_deleted() {
    let meta = Arc::new(fresh_store().await);
    let app: RepositoryName = "app".parse().unwrap();
    let digests: Vec<Digest> = (0..150)
        .map(|i| Digest::sha256_of(format!("race {i}").as_bytes()))
        .collect();
    for d in &digests {
        meta.claim_blob(d, 5).await.unwrap();
    }
    let mut racers = Vec::new();
    for d in digests.clone() {
        let (m, a) = (meta.clone(), app.clone());
        let dd = d.clone();
        racers.push(tokio::spawn(async move {
            match m.link_blob(&a, &dd, 5).await {
                Ok(()) => {}
                Err(e) => assert_eq!(e.refusal(), Some(&Refusal::BlobGone(dd.clone())), "{e}"),
            }
        }));
        let m = meta.clone();
        racers.push(tokio::spawn(async move {
            m.mark_blobs_deleting(std::slice::from_ref(&d), later()).await.unwrap();
        }));
    }
    for r in racers {
        r.await.unwrap();
    }
    let snapshot = meta.gc_snapshot().await.unwrap();
    let (mut linked, mut marked) = (0, 0);
    for d in &digests {
        let is_linked = meta.linked_blob(&app, d).await.unwrap().is_some();
        let deleting = snapshot.blobs.iter().any(|b| &b.digest == d && b.deleting);
        assert!(!(is_linked && deleting), "{d} is linked while marked deleting");
        assert!(is_linked || deleting, "{d} is neither linked nor marked");
        linked += is_linked as usize;
        marked += deleting as usize;
    }
    eprintln!("{linked} linked first, {marked} marked first");
}

/// A manifest PUT requiring a link, racing the collector's removal of that link: the
/// manifest is stored with its link kept, or refused with the link gone.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_manifest_racing_the_removal_of_its_layer_link_never_loses_it() {
    let meta = Arc::new(fresh_store().await);
    let app: RepositoryName = "app".parse().unwrap();
    let mut racers = Vec::new();
    let mut cases = Vec::new();
    for i in 0..150 {
        let layer = Digest::sha256_of(format!("layer {i}").as_bytes());
        let manifest = ManifestRecord {
            digest: Digest::sha256_of(format!("manifest {i}").as_bytes()),
            media_type: "application/vnd.oci.image.manifest.v1+json".to_string(),
            size: 10,
            artifact_type: None,
            subject: None,
            annotations: None,
        };
        meta.claim_blob(&layer, 5).await.unwrap();
        meta.link_blob(&app, &layer, 5).await.unwrap();
        meta.claim_blob(&manifest.digest, 10).await.unwrap();
        let (m, a, l, rec) = (meta.clone(), app.clone(), layer.clone(), manifest.clone());
        racers.push(tokio::spawn(async move {
            if let Err(e) = m.put_manifest(&a, &rec, &[], std::slice::from_ref(&l), true).await {
                assert!(matches!(e.refusal(), Some(Refusal::ReferencesMissing(_))), "{e}");
            }
        }));
        let (m, a, l) = (meta.clone(), app.clone(), layer.clone());
        racers.push(tokio::spawn(async move {
            m.remove_unused_links(&[(a, l)], later()).await.unwrap();
        }));
        cases.push((layer, manifest.digest));
    }
    for r in racers {
        r.await.unwrap();
    }
    let (mut stored, mut refused) = (0, 0);
    for (layer, manifest) in &cases {
        let has_manifest = meta.manifest(&app, manifest).await.unwrap().is_some();
        let has_layer = meta.linked_blob(&app, layer).await.unwrap().is_some();
        assert!(
            !has_manifest || has_layer,
            "{manifest} was stored but its layer's link is gone"
        );
        stored += has_manifest as usize;
        refused += !has_manifest as usize;
    }
    eprintln!("{stored} stored first, {refused} refused");
}

/// An upload session's lease, held by one request at a time across replicas: a second
/// holder is told it is busy (and the holder's renewal learns that it is wanted); a
/// released lease, and one left to lapse (a dead replica), go to the next; and a holder
/// whose lease went to another can no longer record its chunk.
#[tokio::test]
async fn an_upload_lease_has_one_holder_at_a_time_and_lapses_when_not_renewed() {
    use wharf_oci::Algorithm;
    use wharf_registry::meta::{LeaseAttempt, LeaseRenewal, UploadSession};
    let url = tokio::task::spawn_blocking(Postgres::fresh_database).await.unwrap();
    let (a, b) = (connect(&url).await, connect(&url).await);
    let session = UploadSession {
        id: "s1".into(),
        repository: "app".parse().unwrap(),
        offset: 0,
        algorithm: Algorithm::Sha256,
        hasher_state: vec![1],
        updated: SystemTime::now(),
    };
    a.create_upload(&session).await.unwrap();
    let ttl = Duration::from_secs(30);
    assert_eq!(
        a.take_upload_lease("s1", "one", ttl).await.unwrap(),
        LeaseAttempt::Taken
    );
    assert_eq!(b.take_upload_lease("s1", "two", ttl).await.unwrap(), LeaseAttempt::Busy);
    assert_eq!(
        a.renew_upload_lease("s1", "one", ttl).await.unwrap(),
        LeaseRenewal::Kept { wanted: true }
    );
    a.release_upload_lease("s1", "one").await.unwrap();
    assert_eq!(
        b.take_upload_lease("s1", "two", ttl).await.unwrap(),
        LeaseAttempt::Taken
    );
    assert_eq!(
        a.renew_upload_lease("s1", "one", ttl).await.unwrap(),
        LeaseRenewal::Lost
    );

    // "two" dies holding a short lease; "three" gets it once it lapsed.
    assert_eq!(
        b.take_upload_lease("s1", "two", Duration::from_millis(200))
            .await
            .unwrap(),
        LeaseAttempt::Taken
    );
    assert_eq!(
        a.take_upload_lease("s1", "three", ttl).await.unwrap(),
        LeaseAttempt::Busy
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        a.take_upload_lease("s1", "three", ttl).await.unwrap(),
        LeaseAttempt::Taken
    );
    let moved = UploadSession {
        offset: 10,
        ..session.clone()
    };
    assert!(
        !b.advance_leased_upload(&moved, 0, Some("two")).await.unwrap(),
        "the lapsed holder records nothing"
    );
    assert!(a.advance_leased_upload(&moved, 0, Some("three")).await.unwrap());
    assert_eq!(a.upload("s1").await.unwrap().unwrap().offset, 10);
    // No session: nothing to wait for (the caller finds it unknown next).
    assert_eq!(
        b.take_upload_lease("gone", "x", ttl).await.unwrap(),
        LeaseAttempt::Taken
    );
}

fn record(name: &str) -> ManifestRecord {
    ManifestRecord {
        digest: Digest::sha256_of(name.as_bytes()),
        media_type: "application/vnd.oci.image.manifest.v1+json".to_string(),
        size: name.len() as u64,
        artifact_type: None,
        subject: None,
        annotations: None,
    }
}

/// Lookups asked at once (answered together, a group per query): each gets the answer
/// for its own key, found or not, in its own repository.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn lookups_asked_at_once_each_get_their_own_answer() {
    use wharf_oci::Tag;
    let meta = Arc::new(fresh_store().await);
    let repos: Vec<RepositoryName> = ["a", "b"].iter().map(|r| r.parse().unwrap()).collect();
    for (r, repo) in repos.iter().enumerate() {
        for i in 0..20 {
            let m = record(&format!("{r}/{i}"));
            meta.claim_blob(&m.digest, m.size).await.unwrap();
            let tag: Tag = format!("t{i}").parse().unwrap();
            meta.put_manifest(repo, &m, &[tag], &[], false).await.unwrap();
        }
    }
    let mut lookups = Vec::new();
    for round in 0..10 {
        for (r, repo) in repos.iter().enumerate() {
            for i in 0..25 {
                let (m, repo) = (meta.clone(), repo.clone());
                lookups.push(tokio::spawn(async move {
                    let expected = (i < 20).then(|| record(&format!("{r}/{i}")));
                    let tag: Tag = format!("t{i}").parse().unwrap();
                    assert_eq!(m.tagged_manifest(&repo, &tag).await.unwrap(), expected, "{repo}:{tag}");
                    let digest = Digest::sha256_of(format!("{r}/{i}").as_bytes());
                    assert_eq!(m.manifest(&repo, &digest).await.unwrap(), expected, "{repo}@{digest}");
                    let size = expected.as_ref().map(|e| e.size);
                    assert_eq!(
                        m.linked_blob(&repo, &digest).await.unwrap(),
                        size,
                        "link {repo}@{digest}"
                    );
                    round
                }));
            }
        }
    }
    for l in lookups {
        l.await.unwrap();
    }
}

/// A tag moved and a manifest deleted through one replica are read through another at
/// once, while that other is busy answering the same lookups in groups.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_busy_replica_reads_another_replicas_changes_at_once() {
    use wharf_oci::Tag;
    let url = tokio::task::spawn_blocking(Postgres::fresh_database).await.unwrap();
    let (writer, reader) = (connect(&url).await, Arc::new(connect(&url).await));
    let app: RepositoryName = "app".parse().unwrap();
    let latest: Tag = "latest".parse().unwrap();
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    // Background load on the reader: the same lookups, always in flight.
    let load: Vec<_> = (0..16)
        .map(|_| {
            let (reader, app, latest, stop) = (reader.clone(), app.clone(), latest.clone(), stop.clone());
            tokio::spawn(async move {
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    reader.tagged_manifest(&app, &latest).await.unwrap();
                }
            })
        })
        .collect();
    for i in 0..50 {
        let m = record(&format!("v{i}"));
        writer.claim_blob(&m.digest, m.size).await.unwrap();
        writer
            .put_manifest(&app, &m, std::slice::from_ref(&latest), &[], false)
            .await
            .unwrap();
        assert_eq!(reader.tagged_manifest(&app, &latest).await.unwrap(), Some(m.clone()));
        assert!(writer.delete_manifest(&app, &m.digest).await.unwrap());
        assert_eq!(reader.manifest(&app, &m.digest).await.unwrap(), None, "deleted {i}");
        assert_eq!(
            reader.tagged_manifest(&app, &latest).await.unwrap(),
            None,
            "untagged {i}"
        );
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for l in load {
        l.await.unwrap();
    }
}

/// Pushes of one stored manifest under new tags, several at once (one image tagged
/// many times): none waits for another's commit. Here another replica's push of it is
/// in the middle of its transaction, its writes to the manifest's row and link not yet
/// committed; a push of the same manifest with another tag is acknowledged meanwhile,
/// and both tags point at it once that transaction ends.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tag_push_does_not_wait_for_another_uncommitted_push_of_the_manifest() {
    use wharf_oci::Tag;
    let url = tokio::task::spawn_blocking(Postgres::fresh_database).await.unwrap();
    let meta = connect(&url).await;
    let app: RepositoryName = "app".parse().unwrap();
    let layer = Digest::sha256_of(b"layer");
    meta.claim_blob(&layer, 5).await.unwrap();
    meta.link_blob(&app, &layer, 5).await.unwrap();
    let m = record("image");
    let (a, b): (Tag, Tag) = ("a".parse().unwrap(), "b".parse().unwrap());
    meta.claim_blob(&m.digest, m.size).await.unwrap();
    let layers = std::slice::from_ref(&layer);
    meta.put_manifest(&app, &m, std::slice::from_ref(&a), layers, true)
        .await
        .unwrap();

    // The other replica's push, stopped before its commit: its row locks are those of
    // rewriting the manifest's row and link.
    let (mut other, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls).await.unwrap();
    let connection = tokio::spawn(connection);
    let open = other.transaction().await.unwrap();
    let d = m.digest.to_string();
    for sql in [
        "UPDATE links SET created_ms = created_ms WHERE repo = 'app' AND digest = $1",
        "UPDATE manifests SET created_ms = created_ms WHERE repo = 'app' AND digest = $1",
    ] {
        assert_eq!(open.execute(sql, &[&d]).await.unwrap(), 1, "{sql}");
    }

    let pushed = tokio::time::timeout(
        Duration::from_secs(20),
        meta.put_manifest(&app, &m, std::slice::from_ref(&b), layers, true),
    )
    .await;
    open.commit().await.unwrap();
    pushed
        .expect("the push waited for the other push's transaction to end")
        .unwrap();
    for t in [&a, &b] {
        assert_eq!(meta.tagged_manifest(&app, t).await.unwrap(), Some(m.clone()), "{t}");
    }
    drop(other);
    connection.await.unwrap().unwrap();
}

/// Pushes of a stored, untagged manifest under a tag, each racing the collector's
/// removal of that manifest, many times: every push is acknowledged, and afterwards
/// each tag points at its manifest, stored with its link (the collector saw the tag and
/// kept it, or removed it first and the push stored it again); never a tag left
/// pointing at a removed manifest.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_tag_push_racing_the_removal_of_its_manifest_never_loses_it() {
    use wharf_oci::Tag;
    let meta = Arc::new(fresh_store().await);
    let app: RepositoryName = "app".parse().unwrap();
    let mut racers = Vec::new();
    let mut cases = Vec::new();
    for i in 0..150 {
        let m = record(&format!("untagged {i}"));
        let tag: Tag = format!("t{i}").parse().unwrap();
        meta.claim_blob(&m.digest, m.size).await.unwrap();
        meta.put_manifest(&app, &m, &[], &[], false).await.unwrap();
        let (x, a, rec, t) = (meta.clone(), app.clone(), m.clone(), tag.clone());
        racers.push(tokio::spawn(async move {
            x.put_manifest(&a, &rec, std::slice::from_ref(&t), &[], false)
                .await
                .unwrap();
        }));
        let (x, a, d) = (meta.clone(), app.clone(), m.digest.clone());
        racers.push(tokio::spawn(async move {
            x.remove_unused_manifests(&[(a, d)], later()).await.unwrap();
        }));
        cases.push((tag, m));
    }
    for r in racers {
        r.await.unwrap();
    }
    for (tag, m) in &cases {
        assert_eq!(meta.tagged_manifest(&app, tag).await.unwrap(), Some(m.clone()), "{tag}");
        assert_eq!(meta.linked_blob(&app, &m.digest).await.unwrap(), Some(m.size), "{tag}");
    }
}
