//! `GET /v2/_catalog`: every repository in byte order, paginated with `n`, `last` and
//! a `Link` to the next page.

use crate::client::header;
use crate::content::Blob;
use crate::harness::TestServer;
use reqwest::StatusCode;
use serde_json::Value;

async fn server_with_repositories(names: &[&str]) -> TestServer {
    let s = TestServer::start().await;
    for (i, name) in names.iter().enumerate() {
        s.push_blob(name, &Blob::random(i as u64, 10)).await;
    }
    s
}

async fn catalog(s: &TestServer, path: &str) -> (Vec<String>, Option<String>) {
    let response = s.get(path).await;
    assert_eq!(response.status(), StatusCode::OK, "{path}");
    assert_eq!(header(&response, "content-type").as_deref(), Some("application/json"));
    let link = header(&response, "link");
    let body: Value = response.json().await.unwrap();
    let names = body["repositories"].as_array().unwrap();
    (names.iter().map(|n| n.as_str().unwrap().to_string()).collect(), link)
}

#[tokio::test]
async fn an_empty_registry_has_an_empty_catalog() {
    let s = TestServer::start().await;
    let (names, link) = catalog(&s, "/v2/_catalog").await;
    assert!(names.is_empty());
    assert_eq!(link, None);
}

#[tokio::test]
async fn the_catalog_lists_repositories_in_byte_order() {
    let s = server_with_repositories(&["zeta", "alpha/b", "alpha", "m0/x/y"]).await;
    // A session alone does not make a repository.
    s.start_upload("only/a/session").await;
    let (names, link) = catalog(&s, "/v2/_catalog").await;
    assert_eq!(names, ["alpha", "alpha/b", "m0/x/y", "zeta"]);
    assert_eq!(link, None);
}

#[tokio::test]
async fn the_catalog_pages_with_n_last_and_link() {
    let s = server_with_repositories(&["a", "b/c", "d", "e"]).await;
    let (names, link) = catalog(&s, "/v2/_catalog?n=2").await;
    assert_eq!(names, ["a", "b/c"]);
    let link = link.expect("a Link when more follow");
    assert_eq!(link, "</v2/_catalog?n=2&last=b%2Fc>; rel=\"next\"");

    let (names, link) = catalog(&s, "/v2/_catalog?n=2&last=b%2Fc").await;
    assert_eq!(names, ["d", "e"]);
    assert_eq!(link, None);

    let (names, _) = catalog(&s, "/v2/_catalog?last=a").await;
    assert_eq!(names, ["b/c", "d", "e"]);
    let (names, link) = catalog(&s, "/v2/_catalog?n=0").await;
    assert!(names.is_empty());
    assert_eq!(link, None);
}
