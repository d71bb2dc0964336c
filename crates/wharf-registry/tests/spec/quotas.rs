//! Quotas checked where the link is made: uploads racing into one repository never
//! take it past its limit together, and the registry's total quota counts each blob
//! once, whatever repositories link it.

use crate::client::{expect_error, header};
use crate::content::Blob;
use crate::harness::TestServer;
use reqwest::StatusCode;
use wharf_registry::registry::policy::{Policies, Quota};
use wharf_registry::RegistryConfig;

async fn server(policies: Policies) -> TestServer {
    TestServer::with_config(RegistryConfig {
        policies,
        ..RegistryConfig::default()
    })
    .await
}

/// Twelve uploads of 100 kB each into a repository of 500 kB: every one passes the
/// early check (its chunk is appended while the repository is empty), then all close
/// at once. Exactly five fit; the others get 403 DENIED, and the repository holds no
/// more than its limit.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn uploads_closing_together_never_pass_the_repository_quota() {
    let s = server(Policies {
        quotas: vec![Quota::new(&["small/*"], 500_000).unwrap()],
        ..Policies::default()
    })
    .await;
    let blobs: Vec<Blob> = (0..12).map(|i| Blob::random(100 + i, 100_000)).collect();
    let mut locations = Vec::new();
    for blob in &blobs {
        let location = s.start_upload("small/a").await;
        let appended = s.patch_chunk(&location, 0, &blob.bytes).await;
        assert_eq!(
            appended.status(),
            StatusCode::ACCEPTED,
            "the chunk fits an empty repository"
        );
        locations.push(header(&appended, "location").unwrap());
    }
    let closes = blobs
        .iter()
        .zip(&locations)
        .map(|(blob, location)| s.put_upload(location, &blob.digest, &[]));
    let responses = futures::future::join_all(closes).await;
    let mut created = 0;
    for response in responses {
        if response.status() == StatusCode::CREATED {
            created += 1;
        } else {
            let body = expect_error(response, 403, "DENIED").await;
            assert_eq!(body["errors"][0]["detail"]["limit"], 500_000, "{body}");
        }
    }
    assert_eq!(created, 5);
    let usage = s.registry.usage().await.unwrap();
    let small = usage.repositories.iter().find(|r| r.repository == "small/a").unwrap();
    assert_eq!(small.bytes, 500_000);
}

/// The total quota counts a blob once however many repositories link it: content the
/// registry holds is pushed or mounted anywhere; new content past the total is refused
/// (403 DENIED, saying the registry's usage and limit), in any repository.
#[tokio::test]
async fn the_total_quota_counts_each_blob_once_across_repositories() {
    let s = server(Policies {
        total_quota: Some(1000),
        ..Policies::default()
    })
    .await;
    let (base, other) = (Blob::random(200, 600), Blob::random(201, 600));
    s.push_blob("team/a", &base).await;
    s.push_blob("team/b", &base).await; // held already: adds nothing
    let mounted = s
        .post_upload("team/c", &format!("?mount={}&from=team/a", base.digest))
        .await;
    assert_eq!(mounted.status(), StatusCode::CREATED);

    let location = s.start_upload("team/d").await;
    let body = expect_error(
        s.put_upload(&location, &other.digest, &other.bytes).await,
        403,
        "DENIED",
    )
    .await;
    let text = body["errors"][0]["message"].as_str().unwrap().to_string();
    assert!(
        text.contains("total quota") && text.contains("600") && text.contains("1000"),
        "{text}"
    );
    assert_eq!(body["errors"][0]["detail"]["scope"], "total");
    assert_eq!(
        s.head_status(&format!("/v2/team/d/blobs/{}", other.digest)).await,
        StatusCode::NOT_FOUND
    );

    let usage = s.registry.usage().await.unwrap();
    assert_eq!(usage.linked_bytes, 600, "one blob, in three repositories");
    assert_eq!(usage.total_limit, Some(1000));
}
