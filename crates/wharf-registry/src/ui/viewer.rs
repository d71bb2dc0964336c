//! Who is looking at a page, and what the registry's access control lets them do.

use super::session::{cookie_value, Session};
use super::UiState;
use crate::auth::{Action, Actions, Identity};
use http::HeaderMap;
use wharf_oci::RepositoryName;

/// The person behind a request, from their session cookie.
pub struct Viewer {
    pub session: Session,
    /// Whether the request carried no valid session: the answer sets a new cookie.
    pub fresh: bool,
}

impl Viewer {
    /// The viewer a request's cookie names. A signed-in session that was signed out
    /// (on any replica: the record is in the metadata store) counts as none, so a copy
    /// of its cookie is useless from that moment. While the store cannot say, the
    /// viewer is anonymous and the cookie is left as it is.
    pub async fn from_headers(state: &UiState, headers: &HeaderMap) -> Viewer {
        let key = &state.config.session_key;
        let fresh = || Viewer {
            session: Session::new(None, Vec::new(), state.config.session_lifetime),
            fresh: true,
        };
        let Some(session) = cookie_value(headers).and_then(|v| Session::decode(v, key)) else {
            return fresh();
        };
        if session.user.is_none() {
            return Viewer { session, fresh: false };
        }
        match state.registry.ui_session_revoked(&session.id).await {
            Ok(false) => Viewer { session, fresh: false },
            Ok(true) => fresh(),
            Err(e) => {
                tracing::warn!(error = %e.message, "could not check whether a UI session was signed out");
                Viewer::anonymous(state)
            }
        }
    }

    /// A viewer with no session, whose answer sets no cookie.
    pub fn anonymous(state: &UiState) -> Viewer {
        Viewer {
            session: Session::new(None, Vec::new(), state.config.session_lifetime),
            fresh: false,
        }
    }

    pub fn identity(&self) -> Identity {
        match &self.session.user {
            Some(name) => Identity::user(name.clone(), self.session.groups.clone()),
            None => Identity::Anonymous,
        }
    }

    pub fn user(&self) -> Option<&str> {
        self.session.user.as_deref()
    }

    /// What the viewer may do to `repository`: everything on a registry without access
    /// control, else what its authorizer grants.
    pub async fn actions(&self, state: &UiState, repository: &RepositoryName) -> Actions {
        match &state.access {
            None => Actions::ALL,
            Some(access) => access.granted(&self.identity(), repository).await,
        }
    }

    pub async fn may_pull(&self, state: &UiState, repository: &RepositoryName) -> bool {
        self.actions(state, repository).await.contains(Action::Pull)
    }

    /// The `Set-Cookie` value a response must carry, when the request had no session.
    pub fn set_cookie(&self, state: &UiState) -> Option<String> {
        self.fresh.then(|| {
            self.session
                .set_cookie(&state.config.session_key, state.config.secure_cookies)
        })
    }

    pub fn form_token(&self, state: &UiState) -> String {
        self.session.form_token(&state.config.session_key)
    }
}
