//! end-8a (`GET /v2/<name>/tags/list`) and end-8b (`?n=` and `?last=`, `Link` to the
//! next page, `n=0`).

use crate::client::{expect_error, header};
use crate::content::{Blob, Image};
use crate::harness::TestServer;
use reqwest::StatusCode;
use serde_json::Value;

/// A repository `app` whose one image has `tags` (in that push order).
async fn server_with_tags(tags: &[&str]) -> TestServer {
    let s = TestServer::start().await;
    let image = Image::new(1);
    s.push_image("app", tags[0], &image).await;
    for tag in &tags[1..] {
        s.push_manifest("app", tag, &image.manifest).await;
    }
    s
}

/// GETs a tag list and returns its tags and `Link` header.
async fn list(s: &TestServer, path: &str) -> (Vec<String>, Option<String>) {
    let response = s.get(path).await;
    assert_eq!(response.status(), StatusCode::OK, "{path}");
    assert_eq!(header(&response, "content-type").as_deref(), Some("application/json"));
    let link = header(&response, "link");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["name"], "app");
    let tags = body["tags"].as_array().unwrap();
    (tags.iter().map(|t| t.as_str().unwrap().to_string()).collect(), link)
}

/// The target of a `Link: <target>; rel="next"` header.
fn next_target(link: &str) -> String {
    let (target, rel) = link.split_once(';').unwrap();
    assert_eq!(rel.trim(), "rel=\"next\"");
    target.trim().trim_start_matches('<').trim_end_matches('>').to_string()
}

#[tokio::test]
async fn tags_are_listed_in_byte_order() {
    let s = server_with_tags(&["v2", "latest", "TEST0", "v10", "Alpha", "1.0", "_x"]).await;
    let (tags, link) = list(&s, "/v2/app/tags/list").await;
    assert_eq!(tags, ["1.0", "Alpha", "TEST0", "_x", "latest", "v10", "v2"]);
    assert_eq!(link, None);
}

#[tokio::test]
async fn n_limits_the_page_and_link_leads_to_the_rest() {
    let s = server_with_tags(&["e", "d", "c", "b", "a"]).await;
    let (tags, link) = list(&s, "/v2/app/tags/list?n=2").await;
    assert_eq!(tags, ["a", "b"]);
    let next = next_target(&link.expect("a Link when more tags follow"));
    assert_eq!(next, "/v2/app/tags/list?n=2&last=b");

    let (tags, link) = list(&s, &next).await;
    assert_eq!(tags, ["c", "d"]);
    let (tags, link) = list(&s, &next_target(&link.unwrap())).await;
    assert_eq!(tags, ["e"]);
    assert_eq!(link, None, "no Link on the last page");

    let (tags, link) = list(&s, "/v2/app/tags/list?n=5").await;
    assert_eq!(tags.len(), 5);
    assert_eq!(link, None, "no Link when nothing follows");
}

#[tokio::test]
async fn last_is_exclusive_with_or_without_n() {
    let s = server_with_tags(&["a", "b", "c", "d"]).await;
    let (tags, _) = list(&s, "/v2/app/tags/list?last=b").await;
    assert_eq!(tags, ["c", "d"]);
    let (tags, _) = list(&s, "/v2/app/tags/list?n=1&last=b").await;
    assert_eq!(tags, ["c"]);
    let (tags, link) = list(&s, "/v2/app/tags/list?n=10&last=d").await;
    assert!(tags.is_empty());
    assert_eq!(link, None);
    // `last` need not be a tag that exists: the list continues after it.
    let (tags, _) = list(&s, "/v2/app/tags/list?last=bb").await;
    assert_eq!(tags, ["c", "d"]);
}

#[tokio::test]
async fn n_zero_is_an_empty_list_without_link() {
    let s = server_with_tags(&["a", "b"]).await;
    let (tags, link) = list(&s, "/v2/app/tags/list?n=0").await;
    assert!(tags.is_empty());
    assert_eq!(link, None);
}

#[tokio::test]
async fn a_repository_without_tags_lists_none() {
    let s = TestServer::start().await;
    s.push_blob("app", &Blob::random(1, 10)).await;
    let (tags, link) = list(&s, "/v2/app/tags/list").await;
    assert!(tags.is_empty());
    assert_eq!(link, None);
}

#[tokio::test]
async fn tags_of_an_unknown_repository_are_404_name_unknown() {
    let s = TestServer::start().await;
    expect_error(s.get("/v2/no/such/repo/tags/list").await, 404, "NAME_UNKNOWN").await;
}

#[tokio::test]
async fn a_non_numeric_n_is_400() {
    let s = server_with_tags(&["a"]).await;
    let response = s.get("/v2/app/tags/list?n=many").await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let body: Value = response.json().await.unwrap();
    assert!(!body["errors"][0]["message"].as_str().unwrap().is_empty());
}
