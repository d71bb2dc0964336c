//! What pushers wrote (annotations, labels, history, artifact types) is shown as text:
//! never markup, and never a link unless it is an http(s) URL.

use crate::harness::*;
use http::StatusCode;
use serde_json::json;

const SCRIPT: &str = "<script>alert(1)</script>";

#[tokio::test]
async fn hostile_annotations_labels_and_history_stay_text() {
    let ui = Ui::open();
    let config = json!({
        "architecture": "amd64", "os": "linux",
        "created": format!("2026-01-01T00:00:00Z\"><script>alert('created')</script>"),
        "config": { "Labels": { "x\"onmouseover=\"alert(1)": SCRIPT, "img": "<img src=x onerror=alert(2)>" } },
        "history": [{ "created_by": "/bin/sh -c '\"><script>alert(3)</script>'" }],
        "rootfs": { "type": "layers", "diff_ids": [] }
    });
    let annotations = json!({
        "org.opencontainers.image.source": "javascript:alert(4)",
        "org.opencontainers.image.url": "JaVaScRiPt:alert(5)",
        "org.opencontainers.image.documentation": "data:text/html,<script>alert(6)</script>",
        "homepage": "https://example.com/?a=1&b=\"x\"",
        "'><script>alert(7)</script>": "'single' \"double\"",
    });
    let digest = ui.push_image("hostile/app", "v1", config, annotations, None).await;

    for path in [
        "/ui/manifest?name=hostile/app&ref=v1".to_string(),
        format!("/ui/manifest?name=hostile/app&ref={digest}"),
        "/ui/repository?name=hostile/app".to_string(),
        "/ui/?q=%3Cscript%3E".to_string(),
        "/ui/repository?name=%3Cscript%3E".to_string(),
        "/ui/manifest?name=hostile/app&ref=%3Cscript%3E".to_string(),
    ] {
        let page = ui.get(&path, None).await;
        let body = &page.body;
        assert!(!body.contains("<script>alert"), "{path}: unescaped script in {body}");
        assert!(!body.contains("<img src=x"), "{path}: unescaped img in {body}");
        assert!(
            !body.contains("onmouseover=\"alert"),
            "{path}: attribute broken out of in {body}"
        );
        assert!(!body.to_ascii_lowercase().contains("href=\"javascript:"), "{path}");
        assert!(!body.contains("href=\"data:"), "{path}");
    }
    let page = ui.get("/ui/manifest?name=hostile/app&ref=v1", None).await;
    assert_eq!(page.status, StatusCode::OK);
    // Shown, escaped, and only the https URL is a link (with its quotes escaped).
    assert!(
        page.body.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
        "{}",
        page.body
    );
    assert!(page.body.contains("javascript:alert(4)"), "shown as text");
    assert!(
        page.body
            .contains("href=\"https://example.com/?a=1&amp;b=&quot;x&quot;\""),
        "{}",
        page.body
    );
    assert_eq!(page.body.matches("rel=\"noopener noreferrer nofollow\"").count(), 1);
}

#[tokio::test]
async fn every_page_forbids_inline_script_and_framing() {
    let ui = Ui::open();
    ui.push_plain_image("app", "v1", None).await;
    for path in [
        "/ui/",
        "/ui/repository?name=app",
        "/ui/manifest?name=app&ref=v1",
        "/ui/sign-in",
        "/ui/nothing",
    ] {
        let page = ui.get(path, None).await;
        let csp = page.headers["content-security-policy"].to_str().unwrap();
        assert!(csp.contains("script-src 'self'"), "{path}: {csp}");
        assert!(csp.contains("default-src 'none'"), "{path}: {csp}");
        assert!(csp.contains("frame-ancestors 'none'"), "{path}: {csp}");
        assert!(!csp.contains("unsafe-inline"), "{path}: {csp}");
        assert_eq!(page.headers["x-content-type-options"], "nosniff", "{path}");
        assert!(page.headers.contains_key("referrer-policy"), "{path}");
        // No inline script: every <script> element has a src.
        for (at, _) in page.body.match_indices("<script") {
            assert!(
                page.body[at..].starts_with("<script src=\"/ui/assets/"),
                "{path}: inline script"
            );
        }
        assert!(!page.body.contains(" style=\""), "{path}: inline style");
    }
}

#[tokio::test]
async fn assets_are_served_with_long_caching_under_hashed_names() {
    let ui = Ui::open();
    let page = ui.get("/ui/", None).await;
    let at = page.body.find("/ui/assets/ui-").unwrap();
    let href = &page.body[at..at + page.body[at..].find('"').unwrap()];
    let asset = ui.get(href, None).await;
    assert_eq!(asset.status, StatusCode::OK, "{href}");
    assert!(asset.headers["cache-control"].to_str().unwrap().contains("immutable"));
    assert!(asset.headers.contains_key("etag"));
    assert_eq!(
        ui.get("/ui/assets/ui-0000.css", None).await.status,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn the_root_of_the_ui_redirects_and_unknown_pages_are_404() {
    let ui = Ui::open();
    let answer = ui.get("/ui", None).await;
    assert!(answer.status.is_redirection());
    assert_eq!(answer.headers["location"], "/ui/");
    assert_eq!(ui.get("/ui/no/such/page", None).await.status, StatusCode::NOT_FOUND);
}
