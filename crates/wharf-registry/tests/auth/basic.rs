//! Basic mode: users from the config and an htpasswd file, rules per repository glob,
//! and every way a request is refused.

use crate::harness::*;
use base64::Engine;
use reqwest::{Method, StatusCode};
use std::sync::Arc;
use std::time::Duration;
use wharf_registry::auth::htpasswd::HtpasswdFile;
use wharf_registry::auth::login_limits::{Attempt, LoginLimits, Refused};
use wharf_registry::auth::password::PasswordEntry;
use wharf_registry::auth::throttle::LoginThrottle;
use wharf_registry::auth::token::{SigningKey, TokenIssuer};
use wharf_registry::auth::users::ConfigUsers;
use wharf_registry::auth::{AccessControl, Challenge};

fn basic_mode() -> AccessControl {
    AccessControl::new(
        Challenge::Basic {
            realm: "wharf test".into(),
        },
        rules(),
    )
    .with_authenticator(users())
}

async fn start() -> AuthServer {
    AuthServer::start(|_, _| basic_mode()).await
}

#[tokio::test]
async fn v2_challenges_callers_without_credentials() {
    let s = start().await;
    let r = s.get("/v2/", None).await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(challenge(&r), "Basic realm=\"wharf test\",charset=\"UTF-8\"");
    assert_eq!(error_code(r).await, "UNAUTHORIZED");
    assert_eq!(s.get("/v2/", Some(&alice())).await.status(), StatusCode::OK);
}

#[tokio::test]
async fn malformed_authorization_headers_are_401_with_a_challenge() {
    let s = start().await;
    let b64 = |t: &str| base64::engine::general_purpose::STANDARD.encode(t);
    for bad in [
        "Basic".to_string(),
        "Basic !!!notbase64".to_string(),
        format!("Basic {}", b64("no-colon")),
        format!("Basic {}", b64(":password-without-user")),
        "Bearer".to_string(),
        "Bearer two words".to_string(),
    ] {
        let r = s.get("/v2/", Some(&bad)).await;
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "{bad}");
        assert!(challenge(&r).starts_with("Basic realm="), "{bad}");
        assert_eq!(error_code(r).await, "UNAUTHORIZED", "{bad}");
    }
}

#[tokio::test]
async fn unknown_schemes_are_401() {
    let s = start().await;
    for scheme in [
        "Digest username=\"alice\"",
        "Negotiate YIIB",
        "Token abc",
        "AWS4-HMAC-SHA256 x",
    ] {
        let r = s.get("/v2/public/x/tags/list", Some(scheme)).await;
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "{scheme}");
        assert!(challenge(&r).starts_with("Basic "), "{scheme}");
        assert_eq!(error_code(r).await, "UNAUTHORIZED");
    }
}

#[tokio::test]
async fn wrong_passwords_and_unknown_users_get_the_same_answer() {
    let s = start().await;
    let wrong = s.get("/v2/", Some(&basic("alice", "not-her-password"))).await;
    let unknown = s.get("/v2/", Some(&basic("mallory", "alice-pw"))).await;
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(unknown.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(challenge(&wrong), challenge(&unknown));
    assert_eq!(wrong.text().await.unwrap(), unknown.text().await.unwrap());
}

#[tokio::test]
async fn push_to_a_pull_only_repository_is_403_denied() {
    let s = start().await;
    assert_eq!(
        s.push_image("readonly/app", "1", Some(&admin())).await,
        StatusCode::CREATED
    );
    let pulled = s.get("/v2/readonly/app/manifests/1", Some(&alice())).await;
    assert_eq!(pulled.status(), StatusCode::OK);

    let (denied, _) = s.push_blob("readonly/app", b"layer", Some(&alice())).await;
    assert_eq!(denied.status(), StatusCode::FORBIDDEN);
    assert_eq!(error_code(denied).await, "DENIED");
    let delete = s
        .request(Method::DELETE, "/v2/readonly/app/manifests/1", Some(&alice()))
        .send()
        .await
        .unwrap();
    assert_eq!(delete.status(), StatusCode::FORBIDDEN);

    // Push on one repository says nothing about another.
    assert_eq!(
        s.push_image("team-a/app", "1", Some(&alice())).await,
        StatusCode::CREATED
    );
    assert_eq!(
        s.push_image("team-a/app", "2", Some(&basic("bob", "bob-pw"))).await,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        s.push_image("team-b/app", "1", Some(&alice())).await,
        StatusCode::FORBIDDEN
    );
    let tags = s.get("/v2/team-a/app/tags/list", Some(&basic("bob", "bob-pw"))).await;
    assert_eq!(tags.status(), StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn anonymous_pull_follows_its_globs_and_nothing_else() {
    let s = start().await;
    assert_eq!(
        s.push_image("public/base", "1", Some(&admin())).await,
        StatusCode::CREATED
    );
    assert_eq!(
        s.push_image("private/base", "1", Some(&admin())).await,
        StatusCode::CREATED
    );
    assert_eq!(
        s.get("/v2/public/base/manifests/1", None).await.status(),
        StatusCode::OK
    );
    let r = s.get("/v2/private/base/manifests/1", None).await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert!(challenge(&r).starts_with("Basic "));
    assert_eq!(s.push_image("public/base", "2", None).await, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn a_mount_without_pull_on_the_source_becomes_a_plain_upload() {
    let s = start().await;
    let (r, secret) = s.push_blob("private/src", b"secret layer", Some(&admin())).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let (r, shared) = s.push_blob("readonly/src", b"shared layer", Some(&admin())).await;
    assert_eq!(r.status(), StatusCode::CREATED);

    let mount = |digest: &wharf_oci::Digest, from: Option<&str>| {
        let from = from.map(|f| format!("&from={f}")).unwrap_or_default();
        format!("/v2/team-a/dst/blobs/uploads/?mount={digest}{from}")
    };
    for path in [mount(&secret, Some("private/src")), mount(&secret, None)] {
        let r = s.request(Method::POST, &path, Some(&alice())).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::ACCEPTED, "{path}: no mount, an upload session");
        let head = s
            .request(Method::HEAD, &format!("/v2/team-a/dst/blobs/{secret}"), Some(&alice()))
            .send()
            .await
            .unwrap();
        assert_eq!(head.status(), StatusCode::NOT_FOUND);
    }
    let r = s
        .request(Method::POST, &mount(&shared, Some("readonly/src")), Some(&alice()))
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.status(),
        StatusCode::CREATED,
        "alice may pull readonly/src, so the mount happens"
    );
}

#[tokio::test]
async fn the_catalog_lists_only_what_the_caller_may_pull() {
    let s = start().await;
    for repo in [
        "bob/y",
        "private/x",
        "readonly/app",
        "team-a/one",
        "team-a/two",
        "zzz/last",
    ] {
        assert_eq!(s.push_image(repo, "1", Some(&admin())).await, StatusCode::CREATED);
    }
    let list = |r: reqwest::Response| async move {
        let link = r.headers().get("link").map(|l| l.to_str().unwrap().to_string());
        let body: serde_json::Value = r.json().await.unwrap();
        (body["repositories"].clone(), link)
    };
    let (all, link) = list(s.get("/v2/_catalog", Some(&alice())).await).await;
    assert_eq!(all, serde_json::json!(["readonly/app", "team-a/one", "team-a/two"]));
    assert_eq!(link, None);

    let (page, link) = list(s.get("/v2/_catalog?n=2", Some(&alice())).await).await;
    assert_eq!(page, serde_json::json!(["readonly/app", "team-a/one"]));
    let link = link.expect("a Link to the next page");
    assert!(link.contains("n=2&last=team-a%2Fone"), "{link}");
    let (page, link) = list(s.get("/v2/_catalog?n=2&last=team-a%2Fone", Some(&alice())).await).await;
    assert_eq!(page, serde_json::json!(["team-a/two"]));
    assert_eq!(link, None, "nothing alice may pull follows");

    let (bobs, _) = list(s.get("/v2/_catalog", Some(&basic("bob", "bob-pw"))).await).await;
    assert_eq!(bobs, serde_json::json!(["bob/y"]));
    let (admins, _) = list(s.get("/v2/_catalog", Some(&admin())).await).await;
    assert_eq!(admins.as_array().unwrap().len(), 6);
    assert_eq!(s.get("/v2/_catalog", None).await.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn repeated_failed_logins_are_throttled_with_retry_after() {
    let s = AuthServer::start(|_, _| basic_mode().with_throttle(Some(LoginThrottle::new(3, Duration::from_secs(60)))))
        .await;
    for _ in 0..3 {
        let r = s.get("/v2/", Some(&basic("alice", "guess"))).await;
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    }
    // Even the right password is not looked at while the address is throttled.
    let r = s.get("/v2/", Some(&alice())).await;
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    let retry: u64 = r.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=60).contains(&retry), "Retry-After {retry}");
    assert_eq!(error_code(r).await, "TOOMANYREQUESTS");
}

/// A user whose bcrypt check takes long enough (cost 10, tens of milliseconds) that
/// guesses sent together are all in flight at once.
fn slow_users() -> Arc<ConfigUsers> {
    let hash = bcrypt::hash("carol-pw", 10).unwrap().replacen("$2b$", "$2y$", 1);
    Arc::new(
        ConfigUsers::new(vec![PasswordEntry {
            username: "carol".into(),
            hash,
            groups: vec![],
        }])
        .unwrap(),
    )
}

#[tokio::test]
async fn guesses_sent_at_once_are_held_to_the_limit() {
    const LIMIT: u32 = 10;
    let s = AuthServer::start(|_, _| {
        AccessControl::new(Challenge::Basic { realm: "wharf".into() }, rules())
            .with_authenticator(slow_users())
            .with_token_issuer(TokenIssuer::new("wharf", "wharf", SigningKey::generate().unwrap().0))
            .with_throttle(Some(LoginThrottle::new(LIMIT, Duration::from_secs(60))))
    })
    .await;
    // 80 wrong guesses at once, half on the API and half on the token endpoint's
    // password grant: both sign in through the same throttle.
    let guesses = (0..80).map(|i| {
        let password = format!("guess-{i}");
        let request = if i % 2 == 0 {
            s.request(Method::GET, "/v2/", Some(&basic("carol", &password)))
        } else {
            let form = form_urlencoded::Serializer::new(String::new())
                .extend_pairs([
                    ("grant_type", "password"),
                    ("username", "carol"),
                    ("password", &password),
                ])
                .finish();
            s.request(Method::POST, "/token", None)
                .header("content-type", "application/x-www-form-urlencoded")
                .body(form)
        };
        async move { request.send().await.unwrap().status() }
    });
    let answers = futures::future::join_all(guesses).await;
    let checked = answers.iter().filter(|s| **s == StatusCode::UNAUTHORIZED).count();
    let throttled = answers.iter().filter(|s| **s == StatusCode::TOO_MANY_REQUESTS).count();
    assert_eq!(checked + throttled, 80, "{answers:?}");
    assert!(
        checked <= LIMIT as usize,
        "{checked} guesses were checked with a limit of {LIMIT}"
    );
    let r = s.get("/v2/", Some(&basic("carol", "carol-pw"))).await;
    assert_eq!(
        r.status(),
        StatusCode::TOO_MANY_REQUESTS,
        "the right password is not checked while the address is limited"
    );
}

#[tokio::test]
async fn right_passwords_sent_at_once_wait_for_a_place_and_are_all_accepted() {
    let s = AuthServer::start(|_, _| {
        AccessControl::new(Challenge::Basic { realm: "wharf".into() }, rules())
            .with_authenticator(slow_users())
            .with_throttle(Some(LoginThrottle::new(3, Duration::from_secs(60))))
    })
    .await;
    let logins = (0..30).map(|_| async { s.get("/v2/", Some(&basic("carol", "carol-pw"))).await.status() });
    let answers = futures::future::join_all(logins).await;
    assert!(answers.iter().all(|s| *s == StatusCode::OK), "{answers:?}");
}

/// A failed-login limit that cannot consult its count (a shared database out of reach).
struct Unreachable;

#[async_trait::async_trait]
impl LoginLimits for Unreachable {
    async fn attempt(&self, _client: Option<std::net::IpAddr>) -> Result<Attempt, Refused> {
        Err(Refused::Unavailable("the database is out of reach".into()))
    }
}

#[tokio::test]
async fn logins_are_refused_with_503_while_the_limit_cannot_be_consulted() {
    let s = AuthServer::start(|_, _| {
        basic_mode()
            .with_token_issuer(TokenIssuer::new("wharf", "wharf", SigningKey::generate().unwrap().0))
            .with_login_limits(Some(Arc::new(Unreachable)))
    })
    .await;
    // Not let through unlimited: even the right password is refused, on the API and on
    // the token endpoint, and the client is asked to come back.
    let r = s.get("/v2/", Some(&alice())).await;
    assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(r.headers().contains_key("retry-after"));
    let r = s.get("/token?service=wharf", Some(&alice())).await;
    assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
    // Requests without a password to check are answered as before.
    assert_eq!(s.get("/v2/", None).await.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn htpasswd_changes_are_picked_up_without_a_restart() {
    let line = |user: &str, pw: &str| {
        let e = entry(user, pw, &[]);
        format!("{}:{}\n", e.username, e.hash)
    };
    let s = AuthServer::start(|_, dir| {
        let path = dir.join("htpasswd");
        std::fs::write(&path, line("carol", "carol-pw")).unwrap();
        let file = HtpasswdFile::open(&path).unwrap();
        AccessControl::new(Challenge::Basic { realm: "wharf".into() }, rules()).with_authenticator(Arc::new(file))
    })
    .await;
    assert_eq!(
        s.get("/v2/", Some(&basic("carol", "carol-pw"))).await.status(),
        StatusCode::OK
    );
    assert_eq!(
        s.get("/v2/", Some(&basic("dave", "dave-pw"))).await.status(),
        StatusCode::UNAUTHORIZED
    );

    std::fs::write(s.dir.path().join("htpasswd"), line("dave", "dave-pw")).unwrap();
    tokio::time::sleep(Duration::from_millis(1200)).await;
    assert_eq!(
        s.get("/v2/", Some(&basic("dave", "dave-pw"))).await.status(),
        StatusCode::OK
    );
    assert_eq!(
        s.get("/v2/", Some(&basic("carol", "carol-pw"))).await.status(),
        StatusCode::UNAUTHORIZED,
        "carol was removed from the file"
    );
}
