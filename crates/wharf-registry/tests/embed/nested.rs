//! The registry's router nested under a prefix (`Router::nest("/registry", …)`): axum
//! strips the prefix before the registry sees a request, and every path the registry
//! answers with (upload, blob and manifest `Location`s, the `Link` to the next page)
//! must lead back under it, or a client that follows them leaves the registry.

use crate::app::{header, location, with_query, App};
use reqwest::{Method, StatusCode};
use std::sync::Arc;
use wharf_oci::Digest;
use wharf_registry::auth::password::PasswordEntry;
use wharf_registry::auth::rules::{Rule, RuleAuthorizer, Who};
use wharf_registry::auth::token::{SigningKey, TokenIssuer};
use wharf_registry::auth::users::ConfigUsers;
use wharf_registry::auth::{AccessControl, Actions, Challenge};
use wharf_registry::RegistryConfig;

const PREFIX: &str = "/registry";

/// Asserts `target` is a path under the prefix, and returns it.
fn under_prefix(target: String) -> String {
    assert!(
        target.starts_with("/registry/v2/"),
        "{target} does not lead back under {PREFIX}"
    );
    target
}

fn manifest(config: &[u8], layer: &[u8]) -> String {
    serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {
            "mediaType": "application/vnd.oci.image.config.v1+json",
            "digest": Digest::sha256_of(config).to_string(),
            "size": config.len(),
        },
        "layers": [{
            "mediaType": "application/vnd.oci.image.layer.v1.tar",
            "digest": Digest::sha256_of(layer).to_string(),
            "size": layer.len(),
        }],
    })
    .to_string()
}

/// An HTTP client that knows only the registry's base URL and follows what it answers.
struct Pusher<'a> {
    app: &'a App,
    auth: Option<String>,
}

impl Pusher<'_> {
    fn request(&self, method: Method, target: &str) -> reqwest::RequestBuilder {
        let r = self.app.request(method, target);
        match &self.auth {
            Some(a) => r.header("authorization", a),
            None => r,
        }
    }

    /// A blob sent in chunks of `chunk` bytes, following each answer's `Location`;
    /// returns the blob's `Location`.
    async fn push_chunked(&self, repo: &str, blob: &[u8], chunk: usize) -> String {
        let r = self
            .request(Method::POST, &format!("{PREFIX}/v2/{repo}/blobs/uploads/"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::ACCEPTED);
        let mut next = under_prefix(location(&r));
        for (n, part) in blob.chunks(chunk).enumerate() {
            let first = n * chunk;
            let r = self
                .request(Method::PATCH, &next)
                .header("content-type", "application/octet-stream")
                .header("content-range", format!("{first}-{}", first + part.len() - 1))
                .body(part.to_vec())
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), StatusCode::ACCEPTED, "chunk {n} to {next}");
            next = under_prefix(location(&r));
        }
        let r = self.request(Method::GET, &next).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::NO_CONTENT, "upload status at {next}");
        assert_eq!(under_prefix(location(&r)), next);
        let digest = Digest::sha256_of(blob).to_string();
        let r = self
            .request(Method::PUT, &with_query(&next, "digest", &digest))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::CREATED);
        under_prefix(location(&r))
    }

    /// A manifest PUT; returns the manifest's `Location`.
    async fn push_manifest(&self, repo: &str, tag: &str, body: &str) -> String {
        let r = self
            .request(Method::PUT, &format!("{PREFIX}/v2/{repo}/manifests/{tag}"))
            .header("content-type", "application/vnd.oci.image.manifest.v1+json")
            .body(body.to_string())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::CREATED, "manifest {tag}");
        under_prefix(location(&r))
    }

    /// Every tag of `repo`, `n` a page, following `Link` from page to page.
    async fn tags_by_page(&self, repo: &str, n: usize) -> Vec<String> {
        let mut next = Some(format!("{PREFIX}/v2/{repo}/tags/list?n={n}"));
        let mut tags = Vec::new();
        while let Some(target) = next.take() {
            let r = self.request(Method::GET, &target).send().await.unwrap();
            assert_eq!(r.status(), StatusCode::OK, "{target}");
            next = header(&r, "link").map(|link| {
                let target = link
                    .strip_prefix('<')
                    .and_then(|l| l.split_once('>'))
                    .map(|(t, _)| t.to_string())
                    .unwrap_or_else(|| panic!("malformed Link {link}"));
                under_prefix(target)
            });
            let page: serde_json::Value = r.json().await.unwrap();
            let names = page["tags"].as_array().unwrap();
            assert!(names.len() <= n);
            tags.extend(names.iter().map(|t| t.as_str().unwrap().to_string()));
        }
        tags
    }

    /// A whole push: a layer in chunks, a config in one POST, and a manifest tagged
    /// with each of `tags`; each pulled back from where the registry said it is.
    async fn push_and_pull(&self, repo: &str, tags: &[&str]) {
        let layer: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
        let blob = self.push_chunked(repo, &layer, 64 * 1024).await;
        let r = self.request(Method::GET, &blob).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        assert!(
            r.bytes().await.unwrap() == layer[..],
            "the layer reads back from {blob}"
        );

        let config = br#"{"architecture":"amd64","os":"linux"}"#;
        let digest = Digest::sha256_of(config).to_string();
        let r = self
            .request(
                Method::POST,
                &format!("{PREFIX}/v2/{repo}/blobs/uploads/?digest={digest}"),
            )
            .header("content-type", "application/octet-stream")
            .body(config.to_vec())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::CREATED);
        assert_eq!(under_prefix(location(&r)), format!("{PREFIX}/v2/{repo}/blobs/{digest}"));

        let body = manifest(config, &layer);
        for tag in tags {
            let at = self.push_manifest(repo, tag, &body).await;
            let r = self.request(Method::GET, &at).send().await.unwrap();
            assert_eq!(r.status(), StatusCode::OK);
            assert_eq!(r.text().await.unwrap(), body);
        }
    }
}

#[tokio::test]
async fn a_nested_registry_answers_locations_and_links_under_its_prefix() {
    let app = App::nested(PREFIX, RegistryConfig::default()).await;
    let pusher = Pusher { app: &app, auth: None };
    assert_eq!(app.get("/health").await.text().await.unwrap(), "ok");
    let base = app.get(&format!("{PREFIX}/v2/")).await;
    assert_eq!(base.status(), StatusCode::OK);
    assert_eq!(
        header(&base, "docker-distribution-api-version").as_deref(),
        Some("registry/2.0")
    );

    pusher.push_and_pull("team/app", &["v1", "v2", "v3", "v4", "v5"]).await;
    assert_eq!(pusher.tags_by_page("team/app", 2).await, ["v1", "v2", "v3", "v4", "v5"]);

    // A mount answers with the blob's place in the target repository.
    let config = br#"{"architecture":"amd64","os":"linux"}"#;
    let digest = Digest::sha256_of(config).to_string();
    let r = pusher
        .request(
            Method::POST,
            &format!("{PREFIX}/v2/other/blobs/uploads/?mount={digest}&from=team/app"),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    assert_eq!(location(&r), format!("{PREFIX}/v2/other/blobs/{digest}"));

    // The catalog's next page, and the session a refused chunk points back to.
    let r = app.get(&format!("{PREFIX}/v2/_catalog?n=1")).await;
    assert_eq!(
        header(&r, "link").as_deref(),
        Some("</registry/v2/_catalog?n=1&last=other>; rel=\"next\"")
    );
    let r = pusher
        .request(Method::POST, &format!("{PREFIX}/v2/team/app/blobs/uploads/"))
        .send()
        .await
        .unwrap();
    let session = under_prefix(location(&r));
    let r = pusher
        .request(Method::PATCH, &session)
        .header("content-range", "5-9")
        .body(vec![0u8; 5])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::RANGE_NOT_SATISFIABLE);
    assert_eq!(
        location(&r),
        session,
        "a refused chunk names the session under the prefix"
    );
}

/// The prefix is taken from the request, so a mount point with a parameter (a tenant per
/// path) gets each request's own value back.
#[tokio::test]
async fn a_prefix_with_a_parameter_comes_back_as_requested() {
    let app = App::nested("/tenants/{tenant}/registry", RegistryConfig::default()).await;
    for tenant in ["acme", "globex"] {
        let r = app
            .request(
                Method::POST,
                &format!("/tenants/{tenant}/registry/v2/app/blobs/uploads/"),
            )
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::ACCEPTED);
        let at = location(&r);
        assert!(
            at.starts_with(&format!("/tenants/{tenant}/registry/v2/app/blobs/uploads/")),
            "{at}"
        );
    }
}

/// With access control in token mode, the challenge's realm is the token endpoint the
/// application serves under the same prefix; a client that follows the challenge gets a
/// token there and pushes through the prefix with it.
#[tokio::test]
async fn a_nested_registry_with_tokens_is_pushed_to_through_its_prefix() {
    let app = App::nested_with_access(PREFIX, |base| {
        let users = ConfigUsers::new(vec![PasswordEntry {
            username: "alice".into(),
            hash: bcrypt::hash("alice-pw", 4).unwrap(),
            groups: vec![],
        }])
        .unwrap();
        let rule = Rule::new(
            vec![Who::parse("user:alice").unwrap()],
            &["team/*".to_string()],
            Actions::parse("pull,push"),
        )
        .unwrap();
        let (key, _) = SigningKey::generate().unwrap();
        AccessControl::new(
            Challenge::Bearer {
                realm: format!("{base}{PREFIX}/token"),
                service: "nested".into(),
            },
            Arc::new(RuleAuthorizer::new(vec![rule])),
        )
        .with_authenticator(Arc::new(users))
        .with_token_issuer(TokenIssuer::new("nested", "nested", key))
    })
    .await;

    let r = app
        .request(Method::POST, &format!("{PREFIX}/v2/team/app/blobs/uploads/"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let challenge = header(&r, "www-authenticate").unwrap();
    let realm = challenge
        .split("realm=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap()
        .to_string();
    assert_eq!(realm, format!("{}{PREFIX}/token", app.base));

    let r = app
        .request(
            Method::GET,
            &format!("{realm}?service=nested&scope=repository:team/app:pull,push"),
        )
        .basic_auth("alice", Some("alice-pw"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK, "the token endpoint answers at the realm");
    let token: serde_json::Value = r.json().await.unwrap();
    let pusher = Pusher {
        app: &app,
        auth: Some(format!("Bearer {}", token["token"].as_str().unwrap())),
    };
    pusher.push_and_pull("team/app", &["a", "b", "c"]).await;
    assert_eq!(pusher.tags_by_page("team/app", 2).await, ["a", "b", "c"]);
}
