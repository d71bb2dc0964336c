//! Token mode with wharf's own issuer: the challenge, the token endpoint (GET and the
//! OAuth2 POST form), subsets of requested scopes, refresh tokens, and every kind of
//! bad token.

use crate::harness::*;
use base64::Engine;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use std::time::{SystemTime, UNIX_EPOCH};
use wharf_registry::auth::token::{SigningKey, TokenIssuer};
use wharf_registry::auth::{AccessControl, Challenge};

const ISSUER: &str = "wharf-test-issuer";
const SERVICE: &str = "wharf-test";

/// A server in token mode, and the PEM of its signing key (to forge tokens with).
async fn start() -> (AuthServer, String) {
    let (_, pem) = SigningKey::generate().unwrap();
    start_with_key(pem).await
}

/// A server in token mode signing with the private key `pem`.
async fn start_with_key(pem: String) -> (AuthServer, String) {
    let key_pem = pem.clone();
    let s = AuthServer::start(move |base, _| {
        let issuer = TokenIssuer::new(ISSUER, SERVICE, SigningKey::from_pem(&key_pem).unwrap());
        AccessControl::new(
            Challenge::Bearer {
                realm: format!("{base}/token"),
                service: SERVICE.into(),
            },
            rules(),
        )
        .with_authenticator(users())
        .with_token_issuer(issuer)
    })
    .await;
    (s, pem)
}

async fn token(s: &AuthServer, scope: &str, auth: Option<&str>) -> String {
    let r = s.get(&format!("/token?service={SERVICE}&scope={scope}"), auth).await;
    assert_eq!(r.status(), StatusCode::OK);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["token"], body["access_token"]);
    assert!(body["expires_in"].as_u64().unwrap() > 0);
    assert!(body["issued_at"].as_str().unwrap().ends_with('Z'));
    body["token"].as_str().unwrap().to_string()
}

/// The `access` claim of a token, read without checking it.
fn access_of(token: &str) -> Value {
    let payload = token.split('.').nth(1).unwrap();
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .unwrap();
    serde_json::from_slice::<Value>(&bytes).unwrap()["access"].clone()
}

fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs()
}

fn claims(overrides: Value) -> Value {
    let mut c = json!({
        "iss": ISSUER, "sub": "alice", "aud": SERVICE,
        "exp": now() + 300, "nbf": now(), "iat": now(), "jti": "t1",
        "access": [{"type": "repository", "name": "team-a/app", "actions": ["pull", "push"]}],
    });
    for (k, v) in overrides.as_object().unwrap() {
        c[k] = v.clone();
    }
    c
}

fn sign(claims: &Value, pem: &str) -> String {
    jsonwebtoken::encode(
        &Header::new(Algorithm::ES256),
        claims,
        &EncodingKey::from_ec_pem(pem.as_bytes()).unwrap(),
    )
    .unwrap()
}

#[tokio::test]
async fn the_challenge_names_the_token_endpoint_service_and_scope() {
    let (s, _) = start().await;
    let r = s.get("/v2/team-a/app/manifests/1", None).await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        challenge(&r),
        format!(
            "Bearer realm=\"{}/token\",service=\"{SERVICE}\",scope=\"repository:team-a/app:pull\"",
            s.base
        )
    );
    assert_eq!(error_code(r).await, "UNAUTHORIZED");
    let (r, _) = s.push_blob("team-a/app", b"x", None).await;
    assert!(challenge(&r).ends_with("scope=\"repository:team-a/app:pull,push\""));
    let r = s.get("/v2/", None).await;
    assert_eq!(
        challenge(&r),
        format!("Bearer realm=\"{}/token\",service=\"{SERVICE}\"", s.base)
    );
}

#[tokio::test]
async fn a_token_from_the_endpoint_pushes_and_pulls() {
    let (s, _) = start().await;
    let t = token(&s, "repository:team-a/app:pull,push", Some(&alice())).await;
    assert_eq!(
        s.push_image("team-a/app", "1", Some(&bearer(&t))).await,
        StatusCode::CREATED
    );
    let pulled = s.get("/v2/team-a/app/manifests/1", Some(&bearer(&t))).await;
    assert_eq!(pulled.status(), StatusCode::OK);
    assert_eq!(s.get("/v2/", Some(&bearer(&t))).await.status(), StatusCode::OK);
    // The token grants team-a/app only.
    let other = s.get("/v2/team-a/other/tags/list", Some(&bearer(&t))).await;
    assert_eq!(other.status(), StatusCode::UNAUTHORIZED);
    assert!(challenge(&other).ends_with(",error=\"insufficient_scope\""));
}

#[tokio::test]
async fn an_rsa_key_from_a_file_signs_rs256_tokens() {
    let path = format!(
        "{}/tests/auth/fixtures/external-rsa.key.pem",
        env!("CARGO_MANIFEST_DIR")
    );
    let key = SigningKey::load_or_generate(std::path::Path::new(&path)).unwrap();
    assert_eq!(key.algorithm, Algorithm::RS256);
    let (s, _) = start_with_key(std::fs::read_to_string(&path).unwrap()).await;
    let t = token(&s, "repository:team-a/app:pull,push", Some(&alice())).await;
    assert_eq!(jsonwebtoken::decode_header(&t).unwrap().alg, Algorithm::RS256);
    assert_eq!(
        s.push_image("team-a/app", "1", Some(&bearer(&t))).await,
        StatusCode::CREATED
    );
    let pulled = s.get("/v2/team-a/app/manifests/1", Some(&bearer(&t))).await;
    assert_eq!(pulled.status(), StatusCode::OK);
}

#[tokio::test]
async fn the_token_endpoint_grants_only_the_subset_the_caller_may_have() {
    let (s, _) = start().await;
    let scopes = "repository:readonly/app:pull,push,delete&scope=repository:private/x:pull \
                  repository:team-a/app:pull,push,delete&scope=registry:catalog:*";
    let t = token(&s, &scopes.replace(' ', "%20"), Some(&alice())).await;
    assert_eq!(
        access_of(&t),
        json!([
            {"type": "repository", "name": "readonly/app", "actions": ["pull"]},
            {"type": "repository", "name": "team-a/app", "actions": ["pull", "push"]},
            {"type": "registry", "name": "catalog", "actions": ["*"]},
        ])
    );
    // Anonymous callers get a token too, with only what anonymous may do.
    let anon = token(
        &s,
        "repository:team-a/app:pull,push&scope=repository:public/x:pull,push",
        None,
    )
    .await;
    assert_eq!(
        access_of(&anon),
        json!([{"type": "repository", "name": "public/x", "actions": ["pull"]}])
    );
    // A push with a pull-only token asks for more scope.
    let (r, _) = s.push_blob("readonly/app", b"layer", Some(&bearer(&t))).await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert!(challenge(&r).contains("scope=\"repository:readonly/app:pull,push\",error=\"insufficient_scope\""));
    // Bad credentials at the endpoint are refused, and a foreign service too.
    let r = s
        .get(&format!("/token?service={SERVICE}"), Some(&basic("alice", "wrong")))
        .await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        s.get("/token?service=other", None).await.status(),
        StatusCode::BAD_REQUEST
    );
}

/// Does what a client does with a 401: asks the realm for a token with the challenge's
/// scope, as `user` (Basic) — the scope parameter passed on as it came, spaces and all.
async fn follow(s: &AuthServer, refused: &reqwest::Response, auth: &str) -> String {
    assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);
    let realm = challenge_param(refused, "realm").unwrap();
    let service = challenge_param(refused, "service").unwrap();
    let scope = challenge_param(refused, "scope").expect("the challenge names a scope");
    let r = s
        .client
        .get(realm)
        .query(&[("service", service), ("scope", scope)])
        .header("authorization", auth)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let body: Value = r.json().await.unwrap();
    body["token"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn a_mount_challenge_names_the_source_and_a_client_following_it_mounts() {
    let (s, _) = start().await;
    let admin_token = token(&s, "repository:readonly/src:pull,push", Some(&admin())).await;
    let (r, digest) = s
        .push_blob("readonly/src", b"shared layer", Some(&bearer(&admin_token)))
        .await;
    assert_eq!(r.status(), StatusCode::CREATED);

    let mount = format!("/v2/team-a/dst/blobs/uploads/?mount={digest}&from=readonly/src");
    let refused = s.request(Method::POST, &mount, None).send().await.unwrap();
    assert_eq!(
        challenge_param(&refused, "scope").unwrap(),
        "repository:team-a/dst:pull,push repository:readonly/src:pull"
    );
    let t = follow(&s, &refused, &alice()).await;
    let r = s.request(Method::POST, &mount, Some(&bearer(&t))).send().await.unwrap();
    assert_eq!(
        r.status(),
        StatusCode::CREATED,
        "the blob is mounted, not uploaded again"
    );
    let head = s
        .request(
            Method::HEAD,
            &format!("/v2/team-a/dst/blobs/{digest}"),
            Some(&bearer(&t)),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(head.status(), StatusCode::OK);

    // Where alice may not pull the source, the token leaves it out and the mount is a
    // plain upload, as before.
    let (r, secret) = s
        .push_blob("private/src", b"secret", Some(&basic("admin", "admin-pw")))
        .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let mount = format!("/v2/team-a/dst/blobs/uploads/?mount={secret}&from=private/src");
    let refused = s.request(Method::POST, &mount, None).send().await.unwrap();
    let t = follow(&s, &refused, &alice()).await;
    let r = s.request(Method::POST, &mount, Some(&bearer(&t))).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::ACCEPTED);
}

#[tokio::test]
async fn a_token_without_the_catalog_scope_is_asked_to_get_it() {
    let (s, _) = start().await;
    let admin_token = token(&s, "repository:team-a/one:push", Some(&admin())).await;
    assert_eq!(
        s.push_image("team-a/one", "1", Some(&bearer(&admin_token))).await,
        StatusCode::CREATED
    );
    // podman search: a token for no scope at all.
    let t = token(&s, "", Some(&alice())).await;
    let r = s.get("/v2/_catalog", Some(&bearer(&t))).await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(challenge_param(&r, "scope").as_deref(), Some("registry:catalog:*"));
    assert_eq!(challenge_param(&r, "error").as_deref(), Some("insufficient_scope"));
    let t = follow(&s, &r, &alice()).await;
    let body: Value = s.get("/v2/_catalog", Some(&bearer(&t))).await.json().await.unwrap();
    assert_eq!(body["repositories"], json!(["team-a/one"]));
}

#[tokio::test]
async fn a_blob_head_asks_for_pull_and_push_and_a_reader_still_gets_pull() {
    let (s, _) = start().await;
    let admin_token = token(&s, "repository:readonly/app:pull,push", Some(&admin())).await;
    let (r, digest) = s.push_blob("readonly/app", b"layer", Some(&bearer(&admin_token))).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    // What oras-py does: HEAD the blob, get a token for the challenge's scope, and keep
    // that token for the upload that follows.
    let head = |path: String, auth: Option<String>| {
        let r = s.request(Method::HEAD, &path, auth.as_deref());
        async move { r.send().await.unwrap() }
    };
    let new_blob = wharf_oci::Digest::sha256_of(b"new layer");
    let refused = head(format!("/v2/team-a/app/blobs/{new_blob}"), None).await;
    assert_eq!(
        challenge_param(&refused, "scope").as_deref(),
        Some("repository:team-a/app:pull,push")
    );
    let t = follow(&s, &refused, &alice()).await;
    let r = head(format!("/v2/team-a/app/blobs/{new_blob}"), Some(bearer(&t))).await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let (r, _) = s.push_blob("team-a/app", b"new layer", Some(&bearer(&t))).await;
    assert_eq!(r.status(), StatusCode::CREATED, "the same token uploads");

    // alice may only pull readonly/: the token she gets lets her HEAD, not push.
    let refused = head(format!("/v2/readonly/app/blobs/{digest}"), None).await;
    let t = follow(&s, &refused, &alice()).await;
    assert_eq!(
        access_of(&t),
        json!([{"type": "repository", "name": "readonly/app", "actions": ["pull"]}])
    );
    let r = head(format!("/v2/readonly/app/blobs/{digest}"), Some(bearer(&t))).await;
    assert_eq!(r.status(), StatusCode::OK);
    // A GET (a pull) still asks for pull only.
    let r = s.get(&format!("/v2/readonly/app/blobs/{digest}"), None).await;
    assert_eq!(
        challenge_param(&r, "scope").as_deref(),
        Some("repository:readonly/app:pull")
    );
}

#[tokio::test]
async fn the_catalog_with_a_token_lists_what_its_subject_may_pull() {
    let (s, _) = start().await;
    let admin_token = token(
        &s,
        "repository:team-a/one:push&scope=repository:private/x:push",
        Some(&admin()),
    )
    .await;
    for repo in ["team-a/one", "private/x"] {
        assert_eq!(
            s.push_image(repo, "1", Some(&bearer(&admin_token))).await,
            StatusCode::CREATED
        );
    }
    let t = token(&s, "registry:catalog:*", Some(&alice())).await;
    let body: Value = s.get("/v2/_catalog", Some(&bearer(&t))).await.json().await.unwrap();
    assert_eq!(body["repositories"], json!(["team-a/one"]));
}

#[tokio::test]
async fn refresh_tokens_get_new_access_tokens() {
    let (s, _) = start().await;
    let form = |pairs: &[(&str, &str)]| {
        form_urlencoded::Serializer::new(String::new())
            .extend_pairs(pairs)
            .finish()
    };
    let post = |body: String| {
        s.client
            .post(s.url("/token"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
    };
    let r = post(form(&[
        ("grant_type", "password"),
        ("username", "alice"),
        ("password", "alice-pw"),
        ("service", SERVICE),
        ("client_id", "test"),
        ("access_type", "offline"),
        ("scope", "repository:team-a/app:pull"),
    ]))
    .await
    .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["scope"], "repository:team-a/app:pull");
    let refresh = body["refresh_token"].as_str().unwrap().to_string();
    let access = body["access_token"].as_str().unwrap().to_string();

    let r = post(form(&[
        ("grant_type", "refresh_token"),
        ("refresh_token", &refresh),
        ("service", SERVICE),
        ("client_id", "test"),
        ("scope", "repository:team-a/app:pull,push repository:private/x:pull"),
    ]))
    .await
    .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["scope"], "repository:team-a/app:pull,push");
    let renewed = body["access_token"].as_str().unwrap();
    assert_eq!(
        s.push_image("team-a/app", "1", Some(&bearer(renewed))).await,
        StatusCode::CREATED
    );

    // The two kinds of token cannot stand in for each other.
    let r = post(form(&[("grant_type", "refresh_token"), ("refresh_token", &access)]))
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let r = s.get("/v2/", Some(&bearer(&refresh))).await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let r = post(form(&[
        ("grant_type", "password"),
        ("username", "alice"),
        ("password", "x"),
    ]))
    .await
    .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let r = post(form(&[("grant_type", "client_credentials")])).await.unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
}

/// Asserts a token is refused as invalid on a request it would otherwise allow.
async fn assert_refused(s: &AuthServer, token: &str, what: &str) {
    let r = s.get("/v2/team-a/app/tags/list", Some(&bearer(token))).await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "{what}");
    assert!(
        challenge(&r).ends_with(",error=\"invalid_token\""),
        "{what}: {}",
        challenge(&r)
    );
    assert_eq!(error_code(r).await, "UNAUTHORIZED", "{what}");
}

#[tokio::test]
async fn a_well_formed_token_is_accepted() {
    let (s, pem) = start().await;
    assert_eq!(
        s.push_image("team-a/app", "1", Some(&bearer(&sign(&claims(json!({})), &pem))))
            .await,
        StatusCode::CREATED
    );
}

#[tokio::test]
async fn expired_tokens_are_refused() {
    let (s, pem) = start().await;
    let t = sign(
        &claims(json!({"exp": now() - 3600, "iat": now() - 4000, "nbf": now() - 4000})),
        &pem,
    );
    assert_refused(&s, &t, "expired").await;
}

#[tokio::test]
async fn not_yet_valid_tokens_are_refused() {
    let (s, pem) = start().await;
    assert_refused(&s, &sign(&claims(json!({"nbf": now() + 3600})), &pem), "not yet valid").await;
}

#[tokio::test]
async fn forged_tokens_are_refused() {
    let (s, _) = start().await;
    let (_, other_key) = SigningKey::generate().unwrap();
    assert_refused(&s, &sign(&claims(json!({})), &other_key), "signed with another key").await;
}

#[tokio::test]
async fn tampered_tokens_are_refused() {
    let (s, pem) = start().await;
    let t = sign(&claims(json!({})), &pem);
    let parts: Vec<&str> = t.split('.').collect();
    let more = claims(json!({"access": [{"type": "repository", "name": "private/x", "actions": ["pull"]}]}));
    let payload = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(more.to_string());
    assert_refused(&s, &format!("{}.{payload}.{}", parts[0], parts[2]), "tampered claims").await;
    assert_refused(&s, "not.a.jwt", "garbage").await;
}

#[tokio::test]
async fn tokens_of_another_issuer_are_refused() {
    let (s, pem) = start().await;
    assert_refused(&s, &sign(&claims(json!({"iss": "someone-else"})), &pem), "wrong issuer").await;
}

#[tokio::test]
async fn tokens_for_another_audience_are_refused() {
    let (s, pem) = start().await;
    assert_refused(
        &s,
        &sign(&claims(json!({"aud": "other-service"})), &pem),
        "wrong audience",
    )
    .await;
    assert_refused(&s, &sign(&claims(json!({"aud": null})), &pem), "no audience").await;
}

#[tokio::test]
async fn unsigned_alg_none_tokens_are_refused() {
    let (s, _) = start().await;
    let enc = |v: Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string());
    let header = enc(json!({"alg": "none", "typ": "JWT"}));
    let body = enc(claims(json!({})));
    assert_refused(&s, &format!("{header}.{body}."), "alg none").await;
    let header = enc(json!({"alg": "None", "typ": "JWT"}));
    assert_refused(&s, &format!("{header}.{body}."), "alg None").await;
}

#[tokio::test]
async fn tokens_with_a_swapped_algorithm_are_refused() {
    let (s, pem) = start().await;
    // The classic confusion: HMAC with the public key as the shared secret.
    let public = {
        use p256::pkcs8::{DecodePrivateKey, EncodePublicKey, LineEnding};
        p256::SecretKey::from_pkcs8_pem(&pem)
            .unwrap()
            .public_key()
            .to_public_key_pem(LineEnding::LF)
            .unwrap()
    };
    let t = jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &claims(json!({})),
        &EncodingKey::from_secret(public.as_bytes()),
    )
    .unwrap();
    assert_refused(&s, &t, "HS256 with the public key").await;
    let r = s
        .request(Method::GET, "/v2/team-a/app/tags/list", Some("Bearer a.b.c"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
}
