//! The registry's background work as an embedding application runs it: one
//! [`Maintenance`] spawned beside the server expires idle upload sessions (and removes
//! their bytes) and removes upload bytes that no session owns.

use crate::app::{location, App};
use reqwest::{Method, StatusCode};
use std::time::{Duration, Instant};
use wharf_registry::maintenance::{Maintenance, RemoveOrphanUploads};
use wharf_registry::storage::BlobStore;
use wharf_registry::RegistryConfig;

/// Waits up to `limit` for `done` to hold, checking every 50 ms.
async fn eventually<F: std::future::Future<Output = bool>>(limit: Duration, mut done: impl FnMut() -> F) -> bool {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if done().await {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    done().await
}

/// Opens a session and sends it `bytes`; returns its location.
async fn session_with(app: &App, repo: &str, bytes: &[u8]) -> String {
    let r = app
        .request(Method::POST, &format!("/v2/{repo}/blobs/uploads/"))
        .send()
        .await
        .unwrap();
    let at = location(&r);
    let r = app
        .request(Method::PATCH, &at)
        .header("content-type", "application/octet-stream")
        .body(bytes.to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    location(&r)
}

fn id_of(location: &str) -> String {
    location.rsplit('/').next().unwrap().to_string()
}

#[tokio::test]
async fn spawned_maintenance_expires_idle_uploads_and_their_bytes() {
    let app = App::at_root(RegistryConfig {
        upload_ttl: Duration::from_secs(2),
        ..RegistryConfig::default()
    })
    .await;
    let _maintenance = Maintenance::new(app.registry.clone()).spawn();
    let idle = session_with(&app, "app", b"left behind").await;
    let busy = session_with(&app, "app", b"0123").await;
    assert!(app.blobs.list_uploads().await.unwrap().contains(&id_of(&idle)));

    // The busy session gets a chunk every 200 ms, so it never sits idle for the TTL (a
    // margin of ten times for a loaded machine).
    let client = app.client.clone();
    let busy_url = format!("{}{busy}", app.base);
    let keep_busy = tokio::spawn(async move {
        for offset in 4u64.. {
            tokio::time::sleep(Duration::from_millis(200)).await;
            let r = client
                .patch(&busy_url)
                .header("content-range", format!("{offset}-{offset}"))
                .body(vec![b'x'])
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), StatusCode::ACCEPTED, "the busy session lives on");
        }
    });
    let gone = eventually(Duration::from_secs(10), || async {
        app.request(Method::GET, &idle).send().await.unwrap().status() == StatusCode::NOT_FOUND
    })
    .await;
    assert!(gone, "the idle session expired");
    let uploads = app.blobs.list_uploads().await.unwrap();
    assert!(!uploads.contains(&id_of(&idle)), "its bytes are removed");
    assert!(!keep_busy.is_finished(), "the busy session was never refused");
    keep_busy.abort();
    assert!(uploads.contains(&id_of(&busy)), "the busy session's bytes stay");
}

/// Upload bytes without a session (left by a crash between the two writes that open
/// an upload) are removed once two passes found them so; a session's bytes, even one
/// opened between the passes, never are.
#[tokio::test]
async fn orphan_upload_bytes_are_removed_and_sessions_bytes_kept() {
    let app = App::at_root(RegistryConfig::default()).await;
    app.blobs.create_upload("orphan").await.unwrap();
    let mut bytes = futures::stream::iter([Ok(bytes::Bytes::from_static(b"orphaned"))]);
    app.blobs.append_upload("orphan", 0, &mut bytes).await.unwrap();
    let kept = session_with(&app, "app", b"kept").await;

    let maintenance = Maintenance::without_jobs(app.registry.clone())
        .with_job(RemoveOrphanUploads::every(Duration::from_millis(100)))
        .spawn();
    let removed = eventually(Duration::from_secs(5), || async {
        !app.blobs.list_uploads().await.unwrap().contains(&"orphan".to_string())
    })
    .await;
    assert!(removed, "the orphan's bytes are removed");
    let later = session_with(&app, "app", b"later").await;
    tokio::time::sleep(Duration::from_millis(350)).await;
    let uploads = app.blobs.list_uploads().await.unwrap();
    assert!(uploads.contains(&id_of(&kept)) && uploads.contains(&id_of(&later)));
    tokio::time::timeout(Duration::from_secs(5), maintenance.stop())
        .await
        .expect("stopping waits only for a pass in progress");
    let r = app
        .request(
            Method::PUT,
            &format!("{later}?digest={}", wharf_oci::Digest::sha256_of(b"later")),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED, "the session still completes");
}
