//! Paths under a repository that go on past a resource word without naming one of its
//! resources (a digest with `..` or `/` in it, a tag with a `/`, a session id with a
//! `/`): every method gets the addressed resource's error, never NAME_UNKNOWN for a
//! repository that exists, and nothing is written.

use crate::content::Image;
use crate::harness::TestServer;
use crate::raw;

const METHODS: [&str; 6] = ["GET", "HEAD", "PUT", "PATCH", "POST", "DELETE"];

/// A status and an error code.
type Answer = (u16, &'static str);

/// (path under `/v2/<repo>/`, what every method but PUT gets, what PUT gets).
fn cases() -> Vec<(&'static str, Answer, Answer)> {
    let digest_invalid = (400, "DIGEST_INVALID");
    vec![
        ("blobs/sha256:../../x", digest_invalid, digest_invalid),
        ("blobs/sha256:%2e%2e/%2e%2e/x", digest_invalid, digest_invalid),
        ("blobs/x/y", digest_invalid, digest_invalid),
        ("referrers/sha256:../x", digest_invalid, digest_invalid),
        ("manifests/sha256:../../x", digest_invalid, digest_invalid),
        ("manifests/v1/../v2", (404, "MANIFEST_UNKNOWN"), (400, "TAG_INVALID")),
        ("manifests/a/b", (404, "MANIFEST_UNKNOWN"), (400, "TAG_INVALID")),
        (
            "blobs/uploads/abc/../def",
            (404, "BLOB_UPLOAD_UNKNOWN"),
            (404, "BLOB_UPLOAD_UNKNOWN"),
        ),
    ]
}

#[tokio::test]
async fn every_method_on_a_path_that_names_no_resource_gets_that_resources_error() {
    let s = TestServer::start().await;
    let image = Image::new(81);
    s.push_image("team/app", "v1", &image).await;
    for (rest, others, put) in cases() {
        for method in METHODS {
            let path = format!("/v2/team/app/{rest}");
            let body = image.manifest.bytes.clone();
            let length = body.len().to_string();
            let headers = [
                ("Content-Type", image.manifest.media_type.as_str()),
                ("Content-Length", length.as_str()),
            ];
            let answer = raw::send(s.addr, method, &path, &headers, &body)
                .await
                .expect("an answer");
            let (status, code) = if method == "PUT" { put } else { others };
            assert_eq!(answer.status, status, "{method} {path}: {answer:?}");
            if method != "HEAD" {
                assert_eq!(answer.error_code(), code, "{method} {path}");
            }
        }
    }
    // Nothing was stored under any of those paths: the repository holds its one tag.
    assert_eq!(s.tags("team/app").await, ["v1"]);
}
