//! `Authorization` headers (Basic, Bearer), scope strings, tokens and htpasswd lines.

use crate::harness::*;
use async_trait::async_trait;
use base64::Engine;
use http::{Method, StatusCode};
use proptest::prelude::*;
use std::path::Path;
use std::sync::{Arc, Mutex};
use wharf_oci::RepositoryName;
use wharf_registry::auth::token::{SigningKey, TokenIssuer, TokenVerifier};
use wharf_registry::auth::{
    Access, AccessControl, Actions, AuthError, Authenticator, Authorizer, Challenge, Credentials, Identity,
};

/// Signs in whoever presents credentials, and remembers what the header said.
#[derive(Default)]
struct Recorder(Mutex<Vec<Credentials>>);

#[async_trait]
impl Authenticator for Recorder {
    async fn authenticate(&self, credentials: &Credentials) -> Result<Option<Identity>, AuthError> {
        self.0.lock().unwrap().push(credentials.clone());
        Ok(match credentials {
            Credentials::None => None,
            _ => Some(Identity::user("someone", Vec::new())),
        })
    }
}

struct Everything;

#[async_trait]
impl Authorizer for Everything {
    async fn granted(&self, _: &Identity, _: &RepositoryName) -> Actions {
        Actions::ALL
    }
}

/// The credentials the registry read from `header`, and its answer.
fn read_header(header: &[u8]) -> (Vec<Credentials>, StatusCode) {
    let recorder = Arc::new(Recorder::default());
    let control = AccessControl::new(Challenge::Basic { realm: "fuzz".into() }, Arc::new(Everything))
        .with_authenticator(recorder.clone())
        .with_throttle(None);
    let registry = wharf_registry::Registry::new(
        Arc::new(wharf_registry::storage::MemoryBlobStore::new()),
        Arc::new(wharf_registry::meta::MemoryMetaStore::new()),
        Default::default(),
    );
    let app = wharf_registry::router_with_access(Arc::new(registry), control);
    let answer = block_on(send(
        &app,
        Method::GET,
        "/v2/",
        &[("authorization", header)],
        Vec::new(),
    ));
    let seen = recorder.0.lock().unwrap().clone();
    (seen, answer.status)
}

fn basic(user: &str, password: &str) -> String {
    let encoded = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
    format!("Basic {encoded}")
}

proptest! {
    /// A Basic header built from any user (without ':') and password reaches the
    /// authenticator as exactly that pair.
    #[test]
    fn basic_credentials_decode_to_what_was_encoded(user in "[^:]{1,12}", password in ".{0,16}", scheme in prop::sample::select(vec!["Basic", "basic", "BASIC"])) {
        let header = basic(&user, &password).replacen("Basic", scheme, 1);
        let (seen, status) = read_header(header.as_bytes());
        prop_assert_eq!(status, StatusCode::OK);
        prop_assert_eq!(seen, vec![Credentials::Basic { username: user, password }]);
    }

    /// A Bearer token of one word reaches the authenticator as it was sent.
    #[test]
    fn bearer_tokens_pass_unchanged(token in "[!-~]{1,60}") {
        let (seen, status) = read_header(format!("Bearer {token}").as_bytes());
        prop_assert_eq!(status, StatusCode::OK);
        prop_assert_eq!(seen, vec![Credentials::Bearer(token)]);
    }

    /// Any header value: 200 (the authenticator was asked with what it decoded) or 401
    /// without asking it; never a 400, 500 or a panic.
    #[test]
    fn any_authorization_header_is_read_or_refused(header in prop_oneof![
        // Every byte a header value may hold: visible ASCII, blanks and obs-text.
        prop::collection::vec(prop_oneof![0x20u8..0x7f, 0x80u8..=0xff, Just(b'\t')], 0..40),
        "(Basic|Bearer|basic|Digest|) {0,2}[A-Za-z0-9+/=:. ]{0,30}".prop_map(String::into_bytes),
    ]) {
        let (seen, status) = read_header(&header);
        match status {
            StatusCode::OK => prop_assert_eq!(seen.len(), 1),
            StatusCode::UNAUTHORIZED => prop_assert!(seen.iter().all(|c| *c == Credentials::None)),
            other => prop_assert!(false, "{other} for {header:?}"),
        }
    }
}

fn scope_string() -> impl Strategy<Value = String> {
    let kind = prop_oneof![
        Just("repository"),
        Just("repository(plugin)"),
        Just("registry"),
        Just("other"),
        Just("")
    ];
    let name = prop_oneof![
        "[a-z0-9]{1,5}(/[a-z0-9]{1,5}){0,2}",
        Just("catalog".to_string()),
        ".{0,8}"
    ];
    let actions = prop::collection::vec(
        prop::sample::select(vec!["pull", "push", "delete", "*", "", " pull", "x"]),
        0..4,
    )
    .prop_map(|a| a.join(","));
    prop_oneof![
        4 => (kind, name, actions).prop_map(|(k, n, a)| format!("{k}:{n}:{a}")),
        1 => ".{0,30}",
    ]
}

fn access() -> impl Strategy<Value = Access> {
    let name = "[a-z0-9]{1,5}(/[a-z0-9]{1,5}){0,2}".prop_map(|n| n.parse::<RepositoryName>().unwrap());
    prop_oneof![
        4 => (name, 1u8..8).prop_map(|(n, bits)| {
            let actions = Actions::of(
                wharf_registry::auth::Action::ALL.into_iter().enumerate().filter(|(i, _)| bits & (1 << i) != 0).map(|(_, a)| a),
            );
            Access::repository(n, actions)
        }),
        1 => Just(Access::catalog()),
    ]
}

proptest! {
    /// A scope wharf understands prints to a string that parses to the same scope; the
    /// rest are ignored, never a panic.
    #[test]
    fn scope_strings_round_trip(scope in scope_string()) {
        if let Some(access) = Access::parse_scope(&scope) {
            let printed = access.to_string();
            prop_assert_eq!(Access::parse_scope(&printed), Some(access), "{} printed as {}", scope, printed);
        }
        let _ = Access::parse_scopes([scope.as_str()]);
    }

    #[test]
    fn generated_scopes_round_trip(access in access()) {
        prop_assert_eq!(Access::parse_scope(&access.to_string()), Some(access));
    }

    /// A token issued for a set of scopes verifies to exactly those scopes.
    #[test]
    fn tokens_grant_exactly_what_they_were_issued_for(granted in prop::collection::vec(access(), 0..4), user in prop::option::of("[a-z]{1,8}")) {
        let issuer = TokenIssuer::new("wharf", "fuzz", key());
        let person = user.clone().map_or(Identity::Anonymous, |u| Identity::user(u, Vec::new()));
        let token = issuer.issue(&person, &granted).unwrap().token;
        let verifier = TokenVerifier::new(vec![issuer.trusted()]);
        let identity = block_on(verifier.authenticate(&Credentials::Bearer(token.clone()))).unwrap().unwrap();
        match identity {
            Identity::Token { subject, access, .. } => {
                prop_assert_eq!(subject, user);
                prop_assert_eq!(access, granted);
            }
            other => prop_assert!(false, "{other:?}"),
        }
        // A token with one character changed never verifies.
        let mut forged = token.into_bytes();
        let at = forged.len() / 2 + 3;
        forged[at] = if forged[at] == b'A' { b'B' } else { b'A' };
        let forged = String::from_utf8(forged).unwrap();
        prop_assert!(verifier.verify(&forged).is_err());
    }

    /// Arbitrary bearer tokens are refused, never a panic.
    #[test]
    fn arbitrary_tokens_are_refused(token in prop_oneof![".{0,80}", "[A-Za-z0-9_-]{1,30}\\.[A-Za-z0-9_-]{1,60}\\.[A-Za-z0-9_-]{0,30}"]) {
        let issuer = TokenIssuer::new("wharf", "fuzz", key());
        let verifier = TokenVerifier::new(vec![issuer.trusted()]);
        prop_assert!(verifier.verify(&token).is_err());
    }

    /// htpasswd lines: exactly the `user:$2[aby]$…` lines become entries, with the user
    /// and hash as written (blanks around the line aside); anything else is skipped.
    #[test]
    fn htpasswd_lines(lines in prop::collection::vec(prop_oneof![
        ("[a-z][a-z0-9._-]{0,8}", prop::sample::select(vec!["$2y$", "$2b$", "$2a$", "$apr1$", "{SHA}", ""]), "[A-Za-z0-9./$]{0,20}")
            .prop_map(|(u, p, h)| format!("{u}:{p}{h}")),
        "[ \t]{0,2}#.{0,10}",
        ".{0,20}",
    ], 0..8)) {
        let text = lines.join("\n");
        let entries = wharf_registry::auth::htpasswd::parse(&text, Path::new("fuzz"));
        let expected: Vec<(String, String)> = text
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .filter_map(|l| l.split_once(':'))
            .filter(|(u, h)| !u.is_empty() && ["$2y$", "$2b$", "$2a$"].iter().any(|p| h.starts_with(p)))
            .map(|(u, h)| (u.to_string(), h.to_string()))
            .collect();
        let got: Vec<(String, String)> = entries.into_iter().map(|e| (e.username, e.hash)).collect();
        prop_assert_eq!(got, expected);
    }
}

fn key() -> SigningKey {
    static PEM: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| SigningKey::generate().unwrap().1);
    SigningKey::from_pem(&PEM).unwrap()
}
