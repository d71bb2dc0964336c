//! Tokens from an external token server: wharf checks them with the issuer's
//! certificate (ES256) or public key (RS256) and serves no `/token` of its own.

use crate::harness::*;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};
use wharf_registry::auth::token::{TokenVerifier, TrustedIssuer, VerifyingKey};
use wharf_registry::auth::{AccessControl, Challenge};

const ISSUER: &str = "https://auth.example.test";
const SERVICE: &str = "registry.example.test";

fn fixture(name: &str) -> String {
    std::fs::read_to_string(format!("{}/tests/auth/fixtures/{name}", env!("CARGO_MANIFEST_DIR"))).unwrap()
}

async fn start() -> AuthServer {
    AuthServer::start(|_, _| {
        let trusted = |pem: &str| TrustedIssuer {
            issuer: ISSUER.into(),
            audience: SERVICE.into(),
            key: VerifyingKey::from_pem(pem).unwrap(),
        };
        let verifier = TokenVerifier::new(vec![
            trusted(&fixture("external-ec.cert.pem")),
            trusted(&fixture("external-rsa.pub.pem")),
        ]);
        AccessControl::new(
            Challenge::Bearer {
                realm: format!("{ISSUER}/token"),
                service: SERVICE.into(),
            },
            rules(),
        )
        .with_authenticator(Arc::new(verifier))
    })
    .await
}

fn claims(overrides: Value) -> Value {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs();
    let mut c = json!({
        "iss": ISSUER, "sub": "ci-bot", "aud": [SERVICE, "other"],
        "exp": now + 300,
        "access": [
            {"type": "repository", "name": "ext/app", "actions": ["pull", "push"]},
            {"type": "repository", "name": "ext/readonly", "actions": ["pull"]},
        ],
    });
    for (k, v) in overrides.as_object().unwrap() {
        c[k] = v.clone();
    }
    c
}

fn es256(claims: &Value) -> String {
    let key = EncodingKey::from_ec_pem(fixture("external-ec.key.pem").as_bytes()).unwrap();
    jsonwebtoken::encode(&Header::new(Algorithm::ES256), claims, &key).unwrap()
}

fn rs256(claims: &Value) -> String {
    let key = EncodingKey::from_rsa_pem(fixture("external-rsa.key.pem").as_bytes()).unwrap();
    jsonwebtoken::encode(&Header::new(Algorithm::RS256), claims, &key).unwrap()
}

#[tokio::test]
async fn tokens_of_the_external_issuer_grant_what_they_say() {
    let s = start().await;
    let r = s.get("/v2/ext/app/tags/list", None).await;
    assert_eq!(
        challenge(&r),
        format!("Bearer realm=\"{ISSUER}/token\",service=\"{SERVICE}\",scope=\"repository:ext/app:pull\"")
    );
    let t = es256(&claims(json!({})));
    assert_eq!(
        s.push_image("ext/app", "1", Some(&bearer(&t))).await,
        StatusCode::CREATED
    );
    let t = rs256(&claims(json!({})));
    assert_eq!(
        s.get("/v2/ext/app/manifests/1", Some(&bearer(&t))).await.status(),
        StatusCode::OK
    );
    let (r, _) = s.push_blob("ext/readonly", b"x", Some(&bearer(&t))).await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert!(challenge(&r).ends_with("error=\"insufficient_scope\""));
    assert_eq!(
        s.get("/token", None).await.status(),
        StatusCode::NOT_FOUND,
        "no token endpoint of its own"
    );
}

#[tokio::test]
async fn external_tokens_with_wrong_claims_or_keys_are_refused() {
    let s = start().await;
    let (_, own_pem) = wharf_registry::auth::token::SigningKey::generate().unwrap();
    let forged = jsonwebtoken::encode(
        &Header::new(Algorithm::ES256),
        &claims(json!({})),
        &EncodingKey::from_ec_pem(own_pem.as_bytes()).unwrap(),
    )
    .unwrap();
    for (what, t) in [
        ("wrong issuer", es256(&claims(json!({"iss": "https://evil.test"})))),
        ("wrong audience", rs256(&claims(json!({"aud": "another-registry"})))),
        ("expired", es256(&claims(json!({"exp": 1_000_000})))),
        ("forged", forged),
    ] {
        let r = s.get("/v2/ext/app/tags/list", Some(&bearer(&t))).await;
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "{what}");
        assert!(challenge(&r).ends_with("error=\"invalid_token\""), "{what}");
    }
}
