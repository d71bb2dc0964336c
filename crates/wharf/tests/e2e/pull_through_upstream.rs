//! Pull-through when the upstream misbehaves (429, 5xx: retried with backoff, never
//! cached; a cached tag served stale, with a log line and a metric), and what is
//! fetched through besides manifests and blobs (tag lists, referrers). CNCF
//! Distribution 2.8 is the upstream, behind the test kit's fault proxy. Loopback only.

use crate::harness::{assert_stored_blobs_match_names, http_client};
use crate::pull_through::{
    blob_gets, generated, get_blob, get_json, log_of, manifest_digest, push_blob, push_image, put_manifest, sha256,
    start_wharf,
};
use reqwest::Method;
use std::time::Duration;
use wharf_testkit::{Distribution, Fault, FaultProxy, FaultRule};

const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";

/// The value of the Prometheus sample `series` (name and labels, as printed) on
/// wharf's `/metrics`, 0 when absent.
async fn metric(base: &str, series: &str) -> f64 {
    let page = http_client()
        .get(format!("{base}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    page.lines()
        .find_map(|line| line.strip_prefix(series)?.trim().parse().ok())
        .unwrap_or(0.0)
}

fn rate_limited() -> Fault {
    Fault::Status {
        status: 429,
        retry_after: Some("0".into()),
    }
}

/// Past its TTL, a cached tag whose upstream answers 429 to every request is served as
/// cached: the HEAD was retried, the log says so and `wharf_pull_through_stale_total`
/// counts it; a tag never cached fails with 503 saying the upstream is unavailable.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cached_tag_is_served_stale_while_the_upstream_rate_limits() {
    let dir = tempfile::tempdir().unwrap();
    let upstream = Distribution::start();
    let proxy = FaultProxy::start(&upstream.url());
    let (manifest, _) = push_image(&upstream.url(), "team/app", "1", 21, 1000).await;
    push_image(&upstream.url(), "team/app", "2", 22, 1000).await;
    let wharf = start_wharf(dir.path(), "up", &proxy.url(), "tag_ttl = \"1s\"");
    let base = wharf.url();
    assert_eq!(manifest_digest(&base, "up/team/app", "1").await, Ok(manifest.clone()));
    let stale = "wharf_pull_through_stale_total{reason=\"unavailable\"}";
    assert_eq!(metric(&base, stale).await, 0.0);

    proxy.add(FaultRule::new("/manifests/", rate_limited()).times(u32::MAX));
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(manifest_digest(&base, "up/team/app", "1").await, Ok(manifest));
    let heads = proxy
        .requests()
        .iter()
        .filter(|r| r.method == Method::HEAD && r.path_and_query.ends_with("/manifests/1"))
        .count();
    assert!(heads >= 2, "the HEAD was retried ({heads})");
    assert_eq!(metric(&base, stale).await, 1.0);
    // The log is written by a background writer: give it a moment.
    let logged = || log_of(dir.path()).contains("serving a cached tag without checking it");
    for _ in 0..50 {
        if logged() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(logged(), "the log says the tag was served unchecked");

    let (status, message) = manifest_digest(&base, "up/team/app", "2").await.unwrap_err();
    assert_eq!(status, 503, "{message}");
    assert!(message.contains("unavailable"), "{message}");
    assert!(
        metric(
            &base,
            "wharf_pull_through_fetches_total{kind=\"manifest\",result=\"error\"}"
        )
        .await
            >= 1.0
    );
}

/// A blob GET answered 503, then 429, is retried and pulled whole; one rate-limited past
/// the retries gets a 503 and leaves nothing cached, and the next pull fetches it whole.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upstream_429_and_5xx_on_blobs_are_retried_and_never_cached() {
    let dir = tempfile::tempdir().unwrap();
    let upstream = Distribution::start();
    let proxy = FaultProxy::start(&upstream.url());
    let retried = push_blob(&upstream.url(), "team/app", generated(23, 1 << 20)).await;
    let refused = push_blob(&upstream.url(), "team/app", generated(24, 1 << 20)).await;
    let unavailable = Fault::Status {
        status: 503,
        retry_after: None,
    };
    proxy.add(FaultRule::new(format!("/blobs/{retried}"), unavailable).method(Method::GET));
    proxy.add(FaultRule::new(format!("/blobs/{retried}"), rate_limited()).method(Method::GET));
    proxy.add(
        FaultRule::new(format!("/blobs/{refused}"), rate_limited())
            .method(Method::GET)
            .times(3),
    );
    let wharf = start_wharf(dir.path(), "up", &proxy.url(), "");
    let base = wharf.url();

    assert_eq!(
        get_blob(&base, "up/team/app", &retried).await,
        (200, Some(retried.clone()))
    );
    assert_eq!(blob_gets(&proxy, &retried), 3, "503, 429, then the blob");

    let response = http_client()
        .get(format!("{base}/v2/up/team/app/blobs/{refused}"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 503);
    let message = response.text().await.unwrap();
    assert!(message.contains("unavailable"), "{message}");
    assert_eq!(blob_gets(&proxy, &refused), 3, "three attempts");
    assert_eq!(
        get_blob(&base, "up/team/app", &refused).await,
        (200, Some(refused.clone())),
        "nothing was cached: the next pull fetches it"
    );
    assert_eq!(blob_gets(&proxy, &refused), 4);
    assert_eq!(
        metric(
            &base,
            "wharf_pull_through_fetches_total{kind=\"blob\",result=\"error\"}"
        )
        .await,
        1.0
    );
    assert_eq!(
        metric(&base, "wharf_pull_through_fetches_total{kind=\"blob\",result=\"ok\"}").await,
        2.0
    );
    drop(wharf);
    assert_stored_blobs_match_names(&dir.path().join("data"));
}

/// The referrers of a cached manifest come from the upstream (here through the
/// referrers tag schema, which Distribution 2.8 clients use), and the referrer itself
/// pulls through by digest; the tag list is the upstream's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn referrers_and_tag_lists_are_fetched_through() {
    let dir = tempfile::tempdir().unwrap();
    let upstream = Distribution::start();
    let up = upstream.url();
    let (subject, _) = push_image(&up, "team/app", "1", 25, 1000).await;
    let subject_size = http_client()
        .get(format!("{up}/v2/team/app/manifests/{subject}"))
        .header("accept", OCI_MANIFEST)
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap()
        .len();
    let empty = push_blob(&up, "team/app", b"{}".to_vec()).await;
    let signature = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "artifactType": "application/vnd.example.signature",
        "config": {"mediaType": "application/vnd.oci.empty.v1+json", "digest": empty, "size": 2},
        "layers": [{"mediaType": "application/vnd.oci.empty.v1+json", "digest": empty, "size": 2}],
        "subject": {"mediaType": OCI_MANIFEST, "digest": subject, "size": subject_size},
    });
    let signature = serde_json::to_vec(&signature).unwrap();
    let size = signature.len();
    let referrer = put_manifest(&up, "team/app", &sha256(&signature), OCI_MANIFEST, signature).await;
    let index = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": OCI_INDEX,
        "manifests": [{
            "mediaType": OCI_MANIFEST, "digest": referrer, "size": size,
            "artifactType": "application/vnd.example.signature",
        }],
    });
    let schema_tag = subject.replace(':', "-");
    put_manifest(
        &up,
        "team/app",
        &schema_tag,
        OCI_INDEX,
        serde_json::to_vec(&index).unwrap(),
    )
    .await;
    let wharf = start_wharf(dir.path(), "up", &up, "");
    let base = wharf.url();

    assert_eq!(manifest_digest(&base, "up/team/app", "1").await, Ok(subject.clone()));
    let list = get_json(&format!("{base}/v2/up/team/app/referrers/{subject}")).await;
    let listed: Vec<&str> = list["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|d| d["digest"].as_str())
        .collect();
    assert_eq!(listed, [referrer.as_str()], "{list}");
    assert_eq!(
        list["manifests"][0]["artifactType"],
        "application/vnd.example.signature"
    );
    assert_eq!(manifest_digest(&base, "up/team/app", &referrer).await, Ok(referrer));

    let tags = get_json(&format!("{base}/v2/up/team/app/tags/list")).await;
    assert_eq!(tags["tags"], serde_json::json!(["1", schema_tag]));
}
