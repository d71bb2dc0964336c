//! Two replicas of the UI over one metadata store (one SQLite file, as two processes on
//! one host share it; PostgreSQL answers the same calls, see the adapter contract):
//! what one records, the other shows and enforces.

use crate::access::{admin, policy, sign_in};
use crate::harness::*;
use http::StatusCode;
use std::path::Path;
use std::sync::Arc;
use wharf_registry::meta::SqliteMetaStore;
use wharf_registry::registry::gc::GcOptions;
use wharf_registry::storage::FsBlobStore;
use wharf_registry::ui::{SessionKey, UiConfig};
use wharf_registry::{Registry, RegistryConfig};

async fn replica(dir: &Path) -> Arc<Registry> {
    let meta = SqliteMetaStore::open(dir.join("meta.sqlite"), false).await.unwrap();
    let blobs = FsBlobStore::open(dir.join("blobs"), false).await.unwrap();
    Arc::new(Registry::new(
        Arc::new(blobs),
        Arc::new(meta),
        RegistryConfig::default(),
    ))
}

fn config(key: &SessionKey) -> UiConfig {
    UiConfig {
        session_key: key.clone(),
        ..UiConfig::default()
    }
}

#[tokio::test]
async fn a_copied_cookie_is_refused_on_every_replica_once_its_session_signs_out() {
    let dir = tempfile::tempdir().unwrap();
    let key = SessionKey::random();
    let one = Ui::with_config(replica(dir.path()).await, Some(policy()), config(&key));
    let two = Ui::with_config(replica(dir.path()).await, Some(policy()), config(&key));
    one.push_plain_image("alice/app", "v1", Some(&admin())).await;

    let signed_in = sign_in(&one, "alice", "alice-pw").await;
    assert_eq!(signed_in.status, StatusCode::SEE_OTHER, "{}", signed_in.body);
    let cookie = signed_in.cookie().unwrap();
    let copy = cookie.clone();
    for ui in [&one, &two] {
        let page = ui.get("/ui/", Some(&copy)).await;
        assert!(page.body.contains("Signed in as"), "{}", page.body);
        assert!(page.body.contains("alice/app"));
    }
    // Another sign-in of the same user (another browser) is a session of its own.
    let elsewhere = sign_in(&two, "alice", "alice-pw").await.cookie().unwrap();

    let token = one.get("/ui/", Some(&cookie)).await.csrf();
    let out = one.post_form("/ui/sign-out", Some(&cookie), &[("csrf", &token)]).await;
    assert_eq!(out.status, StatusCode::SEE_OTHER, "{}", out.body);

    for (name, ui) in [("the replica signed out on", &one), ("the other replica", &two)] {
        let page = ui.get("/ui/", Some(&copy)).await;
        assert!(!page.body.contains("Signed in as"), "{name}: {}", page.body);
        assert!(
            !page.body.contains("alice/app"),
            "{name}: the copy still sees alice's repository"
        );
        assert!(page.cookie().is_some(), "{name}: the copy is replaced by a new session");
        let hidden = ui.get("/ui/repository?name=alice/app", Some(&copy)).await;
        assert_eq!(hidden.status, StatusCode::NOT_FOUND, "{name}");
        // Nor does the copy's form token work any more.
        let delete = ui
            .post_form(
                "/ui/delete",
                Some(&copy),
                &[("csrf", &token), ("name", "alice/app"), ("ref", "v1")],
            )
            .await;
        assert_eq!(delete.status, StatusCode::FORBIDDEN, "{name}");
    }
    let still = one.get("/ui/", Some(&elsewhere)).await;
    assert!(still.body.contains("Signed in as"), "the other browser's session stays");
}

#[tokio::test]
async fn every_replica_shows_the_last_collection_whoever_ran_it() {
    let dir = tempfile::tempdir().unwrap();
    let serving = replica(dir.path()).await;
    let one = Ui::over(serving.clone(), None);
    let two = Ui::over(replica(dir.path()).await, None);
    for ui in [&one, &two] {
        let page = ui.get("/ui/", None).await;
        assert!(
            page.body.contains("No garbage collection has run yet."),
            "{}",
            page.body
        );
    }
    one.push_plain_image("app", "v1", None).await;
    one.push_plain_image("app", "v2", None).await;

    // A collection by another process on the same stores (as `wharf gc` is).
    let collector = replica(dir.path()).await;
    let options = GcOptions {
        grace: std::time::Duration::ZERO,
        ..GcOptions::default()
    };
    let untag = one.send(
        http::Request::delete("/v2/app/manifests/v1")
            .body(axum::body::Body::empty())
            .unwrap(),
    );
    assert_eq!(untag.await.status, StatusCode::ACCEPTED);
    let report = collector.collect_garbage(&options).await.unwrap();
    assert!(report.blobs.count > 0, "{report:?}");
    let expected = format!(
        "removed {} manifests and {} blobs",
        report.manifests.count,
        report.blobs.count + report.stray_blobs.count
    );
    for ui in [&one, &two] {
        let page = ui.get("/ui/", None).await;
        assert!(page.body.contains("Last collection started"), "{}", page.body);
        assert!(page.body.contains(&expected), "{expected}: {}", page.body);
    }
    let last = serving.last_collection().await.unwrap().expect("recorded");
    assert!(last.ended.is_some());

    // A dry run is not recorded.
    let dry = GcOptions {
        dry_run: true,
        ..options.clone()
    };
    collector.collect_garbage(&dry).await.unwrap();
    assert_eq!(serving.last_collection().await.unwrap().unwrap().id, last.id);
}
