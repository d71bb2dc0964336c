//! An embedding application's own authenticator and authorizer decide: here, sessions
//! of the app map to users, and each user may push only under `apps/<user>/`.

use crate::harness::*;
use async_trait::async_trait;
use reqwest::StatusCode;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use wharf_oci::RepositoryName;
use wharf_registry::auth::throttle::LoginThrottle;
use wharf_registry::auth::{
    AccessControl, Action, Actions, AuthError, Authenticator, Authorizer, Challenge, Credentials, Identity,
};

/// The app's sessions: a bearer value is a session id the app knows.
struct AppSessions;

#[async_trait]
impl Authenticator for AppSessions {
    async fn authenticate(&self, credentials: &Credentials) -> Result<Option<Identity>, AuthError> {
        match credentials {
            Credentials::Bearer(session) => match session.as_str() {
                "session-of-alice" => Ok(Some(Identity::user("alice", vec![]))),
                "session-of-eve" => Ok(Some(Identity::user("eve", vec![]))),
                _ => Err(AuthError::BadToken("no such session".into())),
            },
            _ => Ok(None),
        }
    }
}

/// The app's rule: a user owns `apps/<name>/…`.
struct OwnAppsOnly;

#[async_trait]
impl Authorizer for OwnAppsOnly {
    async fn granted(&self, identity: &Identity, repository: &RepositoryName) -> Actions {
        match identity {
            Identity::User { name, .. } if repository.as_str().starts_with(&format!("apps/{name}/")) => {
                Actions::of([Action::Pull, Action::Push])
            }
            _ => Actions::NONE,
        }
    }
}

#[tokio::test]
async fn the_applications_own_code_decides() {
    let s = AuthServer::start(|_, _| {
        AccessControl::new(Challenge::Basic { realm: "my app".into() }, Arc::new(OwnAppsOnly))
            .with_authenticator(Arc::new(AppSessions))
    })
    .await;
    let alice = bearer("session-of-alice");
    let eve = bearer("session-of-eve");
    assert_eq!(
        s.push_image("apps/alice/web", "1", Some(&alice)).await,
        StatusCode::CREATED
    );
    assert_eq!(
        s.get("/v2/apps/alice/web/manifests/1", Some(&alice)).await.status(),
        StatusCode::OK
    );
    assert_eq!(
        s.push_image("apps/alice/web", "2", Some(&eve)).await,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        s.get("/v2/apps/alice/web/manifests/1", Some(&eve)).await.status(),
        StatusCode::FORBIDDEN
    );
    assert_eq!(s.push_image("apps/eve/web", "1", Some(&eve)).await, StatusCode::CREATED);
    let r = s.get("/v2/", Some(&bearer("stolen-session"))).await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        s.get("/v2/", Some(&basic("alice", "pw"))).await.status(),
        StatusCode::UNAUTHORIZED,
        "no authenticator takes passwords here"
    );
    let catalog: serde_json::Value = s.get("/v2/_catalog", Some(&eve)).await.json().await.unwrap();
    assert_eq!(catalog["repositories"], serde_json::json!(["apps/eve/web"]));
}

/// A log written to memory, for tests that read what was logged.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn served_without_connect_info_all_clients_share_one_login_limit_and_the_app_is_warned() {
    let log = Captured::default();
    let writer = log.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);
    let s = AuthServer::start_without_connect_info(|_, _| {
        AccessControl::new(Challenge::Basic { realm: "my app".into() }, rules())
            .with_authenticator(users())
            .with_throttle(Some(LoginThrottle::new(3, Duration::from_secs(60))))
    })
    .await;
    for _ in 0..3 {
        let r = s.get("/v2/", Some(&basic("alice", "guess"))).await;
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    }
    // Any client now: the registry cannot tell them apart.
    let r = s.get("/v2/", Some(&basic("admin", "admin-pw"))).await;
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    let log = String::from_utf8(log.0.lock().unwrap().clone()).unwrap();
    let warnings = log.matches("into_make_service_with_connect_info").count();
    assert_eq!(warnings, 1, "warned once:\n{log}");
    assert!(log.contains("WARN"), "{log}");
}
