//! Each `Fault` does what its documentation says, and `requests()` shows it.

use std::time::{Duration, Instant};

use futures::StreamExt;
use http::Method;
use wharf_testkit::{Distribution, Fault, FaultProxy, FaultRule, SeenRequest};

use crate::helpers::{client, content, push_blob, sha256};
use crate::stub::{Received, Stub};

fn status(status: u16, retry_after: Option<&str>) -> Fault {
    Fault::Status {
        status,
        retry_after: retry_after.map(str::to_string),
    }
}

/// The status of each request the proxy saw, and whether a fault fired on it.
fn outcomes(proxy: &FaultProxy) -> Vec<(Option<u16>, bool)> {
    proxy.requests().iter().map(|r| (r.status, r.fault.is_some())).collect()
}

/// The body bytes received before the body ended, and whether it ended in an error.
async fn read_until_error(response: reqwest::Response) -> (Vec<u8>, bool) {
    let mut stream = response.bytes_stream();
    let mut received = Vec::new();
    while let Some(chunk) = stream.next().await {
        match chunk {
            Ok(chunk) => received.extend_from_slice(&chunk),
            Err(_) => return (received, true),
        }
    }
    (received, false)
}

#[tokio::test]
async fn status_answers_its_status_n_times_then_forwards() {
    let registry = Distribution::start();
    let proxy = FaultProxy::start(&registry.url());
    proxy.add(
        FaultRule::new("/v2/", status(503, Some("1")))
            .method(Method::GET)
            .times(2),
    );
    proxy.add(FaultRule::new("/tags/list", status(429, None)));
    let client = client();
    let base = format!("{}/v2/", proxy.url());

    for _ in 0..2 {
        let response = client.get(&base).send().await.unwrap();
        assert_eq!(response.status(), 503);
        assert_eq!(response.headers()["retry-after"], "1");
        assert_eq!(response.headers()["content-type"], "application/json");
        let body: serde_json::Value = response.json().await.unwrap();
        assert_eq!(body["errors"][0]["code"], "UNAVAILABLE");
        assert!(body["errors"][0]["message"].is_string());
    }
    let response = client.get(&base).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["docker-distribution-api-version"], "registry/2.0");

    // The first rule is spent, so the second one fires.
    let tags = client.get(format!("{base}test/t/tags/list")).send().await.unwrap();
    assert_eq!(tags.status(), 429);
    assert!(tags.headers().get("retry-after").is_none());
    let body: serde_json::Value = tags.json().await.unwrap();
    assert_eq!(body["errors"][0]["code"], "TOOMANYREQUESTS");
    // Distribution's own answer for an unknown repository.
    let tags = client.get(format!("{base}test/t/tags/list")).send().await.unwrap();
    assert_eq!(tags.status(), 404);

    let requests = proxy.requests();
    assert_eq!(requests[0].fault, Some(status(503, Some("1"))));
    assert_eq!(
        outcomes(&proxy),
        vec![
            (Some(503), true),
            (Some(503), true),
            (Some(200), false),
            (Some(429), true),
            (Some(404), false)
        ]
    );
}

/// The client is still sending when the proxy decides to answer; it must see the
/// status, not a reset, and the upstream must see nothing.
#[tokio::test]
async fn status_on_a_large_upload_is_answered_not_reset() {
    let stub = Stub::start();
    let proxy = FaultProxy::start(&stub.url());
    proxy.add(FaultRule::new("/count", status(503, None)).method(Method::PUT));
    let client = client();
    let response = client
        .put(format!("{}/count", proxy.url()))
        .body(content(5, 16 << 20))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 503);
    let response = client
        .put(format!("{}/count", proxy.url()))
        .body("x")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 204);
    assert_eq!(
        stub.received(1),
        vec![Received {
            path: "/count".into(),
            bytes: 1,
            complete: true
        }],
        "the refused upload never reached the upstream"
    );
}

#[tokio::test]
async fn drop_response_after_gives_a_body_error_after_exactly_the_bytes() {
    let registry = Distribution::start();
    let proxy = FaultProxy::start(&registry.url());
    let client = client();
    let blob = content(6, 1 << 20);
    let digest = push_blob(&client, &registry.url(), "test/cut", blob.clone()).await;
    let url = format!("{}/v2/test/cut/blobs/{digest}", proxy.url());

    for bytes in [0, 1, 65_536, 300_001, (1 << 20) - 1] {
        proxy.add(FaultRule::new("/blobs/sha256:", Fault::DropResponseAfter { bytes }).method(Method::GET));
        let response = client.get(&url).send().await.unwrap();
        assert_eq!(response.status(), 200);
        assert_eq!(response.content_length(), Some(1 << 20), "Content-Length is kept");
        let (received, failed) = read_until_error(response).await;
        assert!(failed, "cut after {bytes} bytes: the body ends in an error");
        assert_eq!(received.len() as u64, bytes, "cut after {bytes} bytes");
        assert_eq!(received, blob[..bytes as usize]);
    }

    // A budget the body fits in: the response arrives whole.
    proxy.add(FaultRule::new("/blobs/", Fault::DropResponseAfter { bytes: 1 << 20 }));
    let (received, failed) = read_until_error(client.get(&url).send().await.unwrap()).await;
    assert!(!failed);
    assert_eq!(sha256(&received), digest);
    // No rule left: whole.
    let (received, failed) = read_until_error(client.get(&url).send().await.unwrap()).await;
    assert!(!failed);
    assert_eq!(received, blob);

    assert_eq!(
        outcomes(&proxy),
        [[(Some(200), true); 6].as_slice(), &[(Some(200), false)]].concat()
    );
}

#[tokio::test]
async fn corrupt_response_flips_one_bit_and_keeps_the_length() {
    let registry = Distribution::start();
    let proxy = FaultProxy::start(&registry.url());
    let client = client();
    let blob = content(7, 3 << 20);
    let digest = push_blob(&client, &registry.url(), "test/bad", blob.clone()).await;
    let url = format!("{}/v2/test/bad/blobs/{digest}", proxy.url());
    proxy.add(FaultRule::new("/blobs/", Fault::CorruptResponse));

    let response = client.get(&url).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["docker-content-digest"],
        digest.as_str(),
        "headers unchanged"
    );
    let corrupt = response.bytes().await.unwrap();
    assert_eq!(corrupt.len(), blob.len(), "same length");
    assert_ne!(sha256(&corrupt), digest);
    let differ: Vec<usize> = (0..blob.len()).filter(|&i| corrupt[i] != blob[i]).collect();
    assert_eq!(differ, vec![blob.len() / 2], "exactly the middle byte differs");
    assert_eq!(corrupt[blob.len() / 2] ^ blob[blob.len() / 2], 0x01, "by one bit");

    let whole = client.get(&url).send().await.unwrap().bytes().await.unwrap();
    assert_eq!(sha256(&whole), digest, "the rule fired once");
    assert_eq!(outcomes(&proxy), vec![(Some(200), true), (Some(200), false)]);
}

#[tokio::test]
async fn drop_request_after_truncates_the_request_and_closes_without_an_answer() {
    let stub = Stub::start();
    let proxy = FaultProxy::start(&stub.url());
    let client = client();
    let url = format!("{}/count", proxy.url());
    proxy.add(FaultRule::new("/count", Fault::DropRequestAfter { bytes: 1_000_000 }).method(Method::PATCH));

    let error = client.patch(&url).body(content(8, 4 << 20)).send().await.unwrap_err();
    assert!(error.status().is_none(), "a connection error, not an answer: {error}");
    assert_eq!(
        stub.received(1)[0],
        Received {
            path: "/count".into(),
            bytes: 1_000_000,
            complete: false
        },
        "the upstream got exactly the first bytes of a request it knows is incomplete"
    );

    // A body within the budget reaches the upstream whole, and the answer is lost.
    proxy.add(FaultRule::new("/count", Fault::DropRequestAfter { bytes: 1_000_000 }));
    let error = client.patch(&url).body(vec![1u8; 1000]).send().await.unwrap_err();
    assert!(error.status().is_none(), "a connection error, not an answer: {error}");
    assert_eq!(
        stub.received(2)[1],
        Received {
            path: "/count".into(),
            bytes: 1000,
            complete: true
        }
    );

    assert_eq!(client.patch(&url).body("x").send().await.unwrap().status(), 204);
    let requests = proxy.requests();
    assert_eq!(requests.len(), 3, "no retries behind the test's back: {requests:?}");
    assert_eq!(requests[0].fault, Some(Fault::DropRequestAfter { bytes: 1_000_000 }));
    assert_eq!(outcomes(&proxy), vec![(None, true), (None, true), (Some(204), false)]);
}

#[tokio::test]
async fn delay_waits_then_forwards() {
    let stub = Stub::start();
    let proxy = FaultProxy::start(&stub.url());
    proxy.add(FaultRule::new("/slow", Fault::Delay { millis: 400 }));
    let client = client();
    let started = Instant::now();
    let response = client.get(format!("{}/slow", proxy.url())).send().await.unwrap();
    assert!(
        started.elapsed() >= Duration::from_millis(400),
        "waited {:?}",
        started.elapsed()
    );
    assert_eq!(response.status(), 204);
    assert_eq!(stub.received(1)[0].path, "/slow");
    assert_eq!(outcomes(&proxy), vec![(Some(204), true)]);
}

#[tokio::test]
async fn rules_match_by_method_and_path_in_order() {
    let stub = Stub::start();
    let proxy = FaultProxy::start(&stub.url());
    proxy.add(FaultRule::new("/a", status(500, None)).method(Method::PUT));
    proxy.add(FaultRule::new("/a", status(502, None)));
    proxy.add(FaultRule::new("", status(503, None)));
    let client = client();
    let get = |path: &str| client.get(format!("{}{path}", proxy.url())).send();
    assert_eq!(
        get("/b").await.unwrap().status(),
        503,
        "the empty pattern matches anything"
    );
    assert_eq!(
        get("/a?x").await.unwrap().status(),
        502,
        "the PUT rule does not match a GET"
    );
    assert_eq!(get("/a").await.unwrap().status(), 204, "every GET rule is spent");
    let put = client.put(format!("{}/a", proxy.url())).send().await.unwrap();
    assert_eq!(put.status(), 500);
    let paths: Vec<String> = proxy
        .requests()
        .into_iter()
        .map(|r: SeenRequest| r.path_and_query)
        .collect();
    assert_eq!(paths, ["/b", "/a?x", "/a", "/a"]);
}

#[test]
#[should_panic(expected = "is not an HTTP status")]
fn an_invalid_status_is_refused_when_added() {
    let proxy = FaultProxy::start("http://127.0.0.1:9");
    proxy.add(FaultRule::new("", status(42, None)));
}

/// What a resuming client will meet behind a cut PATCH: Distribution received exactly
/// the bytes the rule let through, kept them, and soon refuses the session's old
/// `Location` (its `_state` token still says offset 0), so the client must start over.
#[tokio::test]
async fn a_cut_patch_reaches_distribution_truncated_and_spoils_its_session() {
    let registry = Distribution::start();
    let proxy = FaultProxy::start(&registry.url());
    let client = client();
    let upload = crate::helpers::start_upload(&client, &proxy.url(), "test/resume").await;
    proxy.add(FaultRule::new("/blobs/uploads/", Fault::DropRequestAfter { bytes: 300_000 }).method(Method::PATCH));
    let started = Instant::now();
    let error = client
        .patch(&upload)
        .header("content-type", "application/octet-stream")
        .body(content(9, 2 << 20))
        .send()
        .await
        .unwrap_err();
    assert!(error.status().is_none(), "a connection error: {error}");
    assert!(started.elapsed() < Duration::from_secs(10), "the cut is prompt");

    // Distribution notices the cut on its own time: a status request right after it
    // may still find the session (204), or find it spoilt (404 BLOB_UPLOAD_INVALID).
    let status = client.get(&upload).send().await.unwrap();
    match status.status().as_u16() {
        204 => {}
        404 => {
            let body: serde_json::Value = status.json().await.unwrap();
            assert_eq!(body["errors"][0]["code"], "BLOB_UPLOAD_INVALID");
        }
        other => panic!("status {other} after a cut PATCH:\n{}", registry.log_tail()),
    }
    let log = std::fs::read_to_string(registry.log_file()).unwrap();
    assert!(
        log.lines()
            .any(|line| line.contains("client disconnected during blob PATCH") && line.contains(" copied=300000 ")),
        "Distribution got exactly 300000 bytes:\n{}",
        registry.log_tail()
    );
}
