//! The OAuth2 refresh grant follows the user as they are now: a refresh token ends when
//! its user is removed or changes their password, and the access tokens it gets carry
//! the user's current groups.

use crate::harness::*;
use base64::Engine;
use reqwest::StatusCode;
use serde_json::Value;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use wharf_registry::auth::htpasswd::HtpasswdFile;
use wharf_registry::auth::password::{PasswordAuthenticator, PasswordEntry, PasswordSource};
use wharf_registry::auth::token::{SigningKey, TokenIssuer};
use wharf_registry::auth::{AccessControl, AuthError, Authenticator, Challenge};

const SERVICE: &str = "wharf-test";

/// Users an operator edits while the registry runs (as a reloaded htpasswd file would,
/// but with groups too).
#[derive(Default)]
struct EditableUsers(Mutex<Arc<Vec<PasswordEntry>>>);

impl EditableUsers {
    fn set(&self, entries: Vec<PasswordEntry>) {
        *self.0.lock().unwrap() = Arc::new(entries);
    }
}

impl PasswordSource for EditableUsers {
    fn entries(&self) -> Result<Arc<Vec<PasswordEntry>>, AuthError> {
        Ok(self.0.lock().unwrap().clone())
    }
}

async fn start(users: Arc<dyn Authenticator>) -> AuthServer {
    AuthServer::start(move |base, _| {
        AccessControl::new(
            Challenge::Bearer {
                realm: format!("{base}/token"),
                service: SERVICE.into(),
            },
            rules(),
        )
        .with_authenticator(users)
        .with_token_issuer(TokenIssuer::new(
            "wharf-test",
            SERVICE,
            SigningKey::generate().unwrap().0,
        ))
    })
    .await
}

async fn post(s: &AuthServer, pairs: &[(&str, &str)]) -> reqwest::Response {
    let form = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish();
    s.client
        .post(s.url("/token"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form)
        .send()
        .await
        .unwrap()
}

/// A refresh token from the password grant.
async fn refresh_token_of(s: &AuthServer, user: &str, password: &str) -> String {
    let r = post(
        s,
        &[
            ("grant_type", "password"),
            ("username", user),
            ("password", password),
            ("service", SERVICE),
            ("access_type", "offline"),
            ("scope", "repository:team-a/app:pull"),
        ],
    )
    .await;
    assert_eq!(r.status(), StatusCode::OK);
    let body: Value = r.json().await.unwrap();
    body["refresh_token"].as_str().expect("a refresh token").to_string()
}

/// The refresh grant's answer.
async fn refresh(s: &AuthServer, token: &str, scope: &str) -> reqwest::Response {
    post(
        s,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", token),
            ("service", SERVICE),
            ("scope", scope),
        ],
    )
    .await
}

fn htpasswd_line(user: &str, password: &str) -> String {
    let e = entry(user, password, &[]);
    format!("{}:{}\n", e.username, e.hash)
}

#[tokio::test]
async fn a_refresh_token_ends_when_its_user_is_removed() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("htpasswd");
    std::fs::write(
        &path,
        htpasswd_line("bob", "bob-pw") + &htpasswd_line("admin", "admin-pw"),
    )
    .unwrap();
    let file = HtpasswdFile::open(&path).unwrap().with_check_interval(Duration::ZERO);
    let s = start(Arc::new(file)).await;
    let token = refresh_token_of(&s, "bob", "bob-pw").await;
    assert_eq!(
        refresh(&s, &token, "repository:bob/app:pull").await.status(),
        StatusCode::OK
    );

    // bob leaves the file (a different length, so the reload sees the change).
    std::fs::write(&path, htpasswd_line("admin", "admin-pw")).unwrap();
    let r = refresh(&s, &token, "repository:bob/app:pull").await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(error_code(r).await, "UNAUTHORIZED");
}

#[tokio::test]
async fn a_password_change_ends_the_refresh_tokens_issued_before() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("htpasswd");
    std::fs::write(&path, htpasswd_line("bob", "bob-pw")).unwrap();
    let file = HtpasswdFile::open(&path).unwrap().with_check_interval(Duration::ZERO);
    let s = start(Arc::new(file)).await;
    let old = refresh_token_of(&s, "bob", "bob-pw").await;
    // The token holds a fingerprint of the password hash, never the hash.
    let payload = old.split('.').nth(1).unwrap();
    let claims = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .unwrap();
    let claims = String::from_utf8(claims).unwrap();
    let hash = std::fs::read_to_string(&path).unwrap();
    let hash = hash.trim().split_once(':').unwrap().1;
    assert!(!claims.contains(hash) && !claims.contains("$2"), "{claims}");

    std::fs::write(&path, htpasswd_line("bob", "bob-new-password!")).unwrap();
    let r = refresh(&s, &old, "repository:bob/app:pull").await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "the old refresh token is refused");
    let new = refresh_token_of(&s, "bob", "bob-new-password!").await;
    let r = refresh(&s, &new, "repository:bob/app:pull,push").await;
    assert_eq!(r.status(), StatusCode::OK, "a refresh token of the new password works");
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["scope"], "repository:bob/app:pull,push");
}

#[tokio::test]
async fn access_tokens_from_a_refresh_token_carry_the_users_current_groups() {
    let users = Arc::new(EditableUsers::default());
    users.set(vec![entry("alice", "alice-pw", &["team-a"])]);
    let s = start(Arc::new(PasswordAuthenticator::new(vec![users.clone()]))).await;
    let token = refresh_token_of(&s, "alice", "alice-pw").await;
    let r = refresh(&s, &token, "repository:team-a/app:pull,push").await;
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["scope"], "repository:team-a/app:pull,push");

    // alice leaves team-a; her password (its hash) stays the same.
    let same_hash = users.entries().unwrap()[0].hash.clone();
    users.set(vec![PasswordEntry {
        username: "alice".into(),
        hash: same_hash,
        groups: vec![],
    }]);
    let r = refresh(&s, &token, "repository:team-a/app:pull,push").await;
    assert_eq!(r.status(), StatusCode::OK);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["scope"], "", "team-a's grants went with the group");
    let access = body["access_token"].as_str().unwrap();
    let (r, _) = s.push_blob("team-a/app", b"layer", Some(&bearer(access))).await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn users_an_authenticator_cannot_look_up_get_no_refresh_token() {
    /// Signs alice in but cannot look anyone up (the trait's default).
    struct NoLookup;
    #[async_trait::async_trait]
    impl Authenticator for NoLookup {
        async fn authenticate(
            &self,
            credentials: &wharf_registry::auth::Credentials,
        ) -> Result<Option<wharf_registry::auth::Identity>, AuthError> {
            users().authenticate(credentials).await
        }
    }
    let s = start(Arc::new(NoLookup)).await;
    let r = post(
        &s,
        &[
            ("grant_type", "password"),
            ("username", "alice"),
            ("password", "alice-pw"),
            ("access_type", "offline"),
            ("scope", "repository:team-a/app:pull"),
        ],
    )
    .await;
    assert_eq!(r.status(), StatusCode::OK);
    let body: Value = r.json().await.unwrap();
    assert!(body["access_token"].is_string());
    assert!(body.get("refresh_token").is_none(), "{body}");
}
