//! With no rule, `FaultProxy` is a faithful proxy: bodies both ways, HEAD, ranges, the
//! statuses a registry answers, and `Location` pointing at the proxy.

use std::time::Duration;

use bytes::Bytes;
use wharf_testkit::{Distribution, FaultProxy, SeenRequest};

use crate::helpers::{absolute, client, content, push_blob, sha256, start_upload};
use crate::stub::{Received, Stub};

fn seen(method: &str, path_and_query: &str, status: u16) -> SeenRequest {
    SeenRequest {
        method: method.parse().unwrap(),
        path_and_query: path_and_query.to_string(),
        status: Some(status),
        fault: None,
    }
}

/// The path and query of `url` (which must be on `base`).
fn path_of<'a>(base: &str, url: &'a str) -> &'a str {
    url.strip_prefix(base)
        .unwrap_or_else(|| panic!("{url} is not on {base}"))
}

#[tokio::test]
async fn a_20_mib_push_and_pull_pass_unchanged_and_location_points_at_the_proxy() {
    let registry = Distribution::start();
    let proxy = FaultProxy::start(&registry.url());
    assert_eq!(proxy.url(), format!("http://{}", proxy.host()));
    let client = client();
    let blob = content(20, 20 << 20);
    let digest = sha256(&blob);

    let location = start_upload(&client, &proxy.url(), "test/big").await;
    assert!(
        location.starts_with(&format!("{}/v2/test/big/blobs/uploads/", proxy.url())),
        "Location {location} points at the proxy"
    );
    // Streamed (chunked) on the way in, so no Content-Length helps the proxy.
    let pieces: Vec<std::io::Result<Bytes>> = blob.chunks(1 << 20).map(|c| Ok(Bytes::copy_from_slice(c))).collect();
    let put = format!("{location}&digest={digest}");
    let response = client
        .put(&put)
        .body(reqwest::Body::wrap_stream(futures::stream::iter(pieces)))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    let blob_location = response.headers()["location"].to_str().unwrap().to_string();
    assert_eq!(blob_location, format!("{}/v2/test/big/blobs/{digest}", proxy.url()));

    let response = client.get(&blob_location).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.content_length(), Some(blob.len() as u64));
    let pulled = response.bytes().await.unwrap();
    assert_eq!(pulled.len(), blob.len());
    assert_eq!(sha256(&pulled), digest, "the pulled blob is the pushed one");

    let blob_path = format!("/v2/test/big/blobs/{digest}");
    assert_eq!(
        proxy.requests(),
        vec![
            seen("POST", "/v2/test/big/blobs/uploads/", 202),
            seen("PUT", path_of(&proxy.url(), &put), 201),
            seen("GET", &blob_path, 200),
        ]
    );
}

#[tokio::test]
async fn head_ranges_and_upload_statuses_pass_through() {
    let registry = Distribution::start();
    let proxy = FaultProxy::start(&registry.url());
    let client = client();
    let blob = content(3, 100 * 1024);
    let digest = push_blob(&client, &registry.url(), "test/range", blob.clone()).await;
    let url = format!("{}/v2/test/range/blobs/{digest}", proxy.url());

    let head = client.head(&url).send().await.unwrap();
    assert_eq!(head.status(), 200);
    assert_eq!(head.headers()["content-length"], "102400");
    assert_eq!(head.headers()["docker-content-digest"], digest.as_str());
    assert!(head.bytes().await.unwrap().is_empty());

    let ranged = client
        .get(&url)
        .header("range", "bytes=1000-1999")
        .send()
        .await
        .unwrap();
    assert_eq!(ranged.status(), 206);
    assert_eq!(ranged.headers()["content-range"], "bytes 1000-1999/102400");
    assert_eq!(ranged.bytes().await.unwrap(), blob[1000..2000]);

    let beyond = client.get(&url).header("range", "bytes=200000-").send().await.unwrap();
    assert_eq!(beyond.status(), 416);

    let upload = absolute(&proxy.url(), &start_upload(&client, &proxy.url(), "test/range").await);
    assert_eq!(client.get(&upload).send().await.unwrap().status(), 204);
    let patched = client
        .patch(&upload)
        .header("content-type", "application/octet-stream")
        .body(vec![7u8; 5000])
        .send()
        .await
        .unwrap();
    assert_eq!(patched.status(), 202);
    assert_eq!(patched.headers()["range"], "0-4999");
    let upload = patched.headers()["location"].to_str().unwrap().to_string();
    assert!(
        upload.starts_with(&proxy.url()),
        "PATCH's Location {upload} points at the proxy"
    );
    assert_eq!(client.delete(&upload).send().await.unwrap().status(), 204);

    assert_eq!(client.delete(&url).send().await.unwrap().status(), 202);
    assert_eq!(client.get(&url).send().await.unwrap().status(), 404);
    let statuses: Vec<Option<u16>> = proxy.requests().iter().map(|r| r.status).collect();
    let expected = [200, 206, 416, 202, 204, 202, 204, 202, 404];
    assert_eq!(statuses, expected.map(Some));
}

#[tokio::test]
async fn redirects_relative_locations_and_bodies_to_another_upstream() {
    let stub = Stub::start();
    let proxy = FaultProxy::start(&stub.url());
    let client = client();

    let redirect = client.get(format!("{}/redirect", proxy.url())).send().await.unwrap();
    assert_eq!(redirect.status(), 307);
    assert_eq!(
        redirect.headers()["location"],
        format!("{}/v2/elsewhere?x=1", proxy.url()).as_str()
    );

    let relative = client.post(format!("{}/relative", proxy.url())).send().await.unwrap();
    assert_eq!(relative.status(), 201);
    assert_eq!(relative.headers()["location"], "/v2/r/blobs/uploads/1");

    let teapot = client.get(format!("{}/status/418", proxy.url())).send().await.unwrap();
    assert_eq!(teapot.status(), 418);

    let body = client
        .patch(format!("{}/count", proxy.url()))
        .body(content(4, 5 << 20))
        .send()
        .await
        .unwrap();
    assert_eq!(body.status(), 204);
    let received = stub.received(4);
    assert_eq!(
        received[3],
        Received {
            path: "/count".into(),
            bytes: 5 << 20,
            complete: true
        }
    );
}

#[tokio::test]
async fn an_unreachable_upstream_is_a_502() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let proxy = FaultProxy::start(&format!("http://127.0.0.1:{port}"));
    let response = client().get(format!("{}/v2/", proxy.url())).send().await.unwrap();
    assert_eq!(response.status(), 502);
    assert_eq!(proxy.requests(), vec![seen("GET", "/v2/", 502)]);
}

#[test]
#[should_panic(expected = "must be http://HOST:PORT")]
fn an_upstream_that_is_not_host_and_port_is_refused() {
    FaultProxy::start("http://127.0.0.1/v2");
}

/// From a plain `#[test]` (here with a runtime of its own for reqwest), and nothing
/// listens once the proxy is dropped.
#[test]
fn works_from_a_plain_test_and_stops_on_drop() {
    let stub = Stub::start();
    let proxy = FaultProxy::start(&stub.url());
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let status = runtime.block_on(async {
        client()
            .get(format!("{}/anything", proxy.url()))
            .send()
            .await
            .unwrap()
            .status()
    });
    assert_eq!(status, 204);
    let host = proxy.host();
    drop(proxy);
    let refused = std::net::TcpStream::connect_timeout(&host.parse().unwrap(), Duration::from_secs(2));
    assert!(refused.is_err(), "nothing listens on {host} after drop");
}
