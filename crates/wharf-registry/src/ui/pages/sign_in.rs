//! `/ui/sign-in` and `/ui/sign-out`: a user name and password checked by the registry's
//! own authenticators (the users of Basic and of token mode alike), minding the
//! failed-login limit as the API does; a new session (and so new form tokens) at each.

use super::delete::checked_form;
use super::{access, error_page, layout, respond};
use crate::auth::login_limits::Refused;
use crate::auth::{Credentials, Identity};
use crate::ui::session::Session;
use crate::ui::viewer::Viewer;
use crate::ui::{State, UiState};
use axum::body::Bytes;
use axum::extract::{ConnectInfo, State as Shared};
use axum::response::{IntoResponse, Redirect, Response};
use http::{header, HeaderMap, HeaderValue, StatusCode};
use maud::html;
use std::net::SocketAddr;
use std::time::{Duration, UNIX_EPOCH};

fn form_page(state: &UiState, viewer: &Viewer, status: StatusCode, error: Option<&str>, user: &str) -> Response {
    let body = html! {
        h1 { "Sign in" }
        @if let Some(error) = error { p.error { (error) } }
        @if access(state).is_none() {
            p.note { "This registry has no access control: everyone sees and may change everything." }
        } @else {
            form.stack method="post" action="/ui/sign-in" {
                input type="hidden" name="csrf" value=(viewer.form_token(state));
                label { "User name" br; input type="text" name="username" value=(user) autocomplete="username" required; }
                label { "Password" br; input type="password" name="password" autocomplete="current-password" required; }
                button type="submit" { "Sign in" }
            }
        }
    };
    respond(state, viewer, status, layout(state, viewer, "Sign in", body))
}

pub async fn form(Shared(state): Shared<State>, headers: HeaderMap) -> Response {
    let viewer = Viewer::from_headers(&state, &headers).await;
    form_page(&state, &viewer, StatusCode::OK, None, "")
}

pub async fn sign_in(Shared(state): Shared<State>, parts: http::request::Parts, body: Bytes) -> Response {
    let form = super::form_fields(&body);
    let headers = &parts.headers;
    let client = parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(addr)| addr.ip());
    let viewer = match checked_form(&state, headers, &form).await {
        Ok(viewer) => viewer,
        Err(response) => return *response,
    };
    let Some(access) = access(&state) else {
        return form_page(&state, &viewer, StatusCode::OK, None, "");
    };
    let username = form.get("username").cloned().unwrap_or_default();
    let password = form.get("password").cloned().unwrap_or_default();
    let attempt = match access.login_limits() {
        Some(limits) => match limits.attempt(client).await {
            Ok(attempt) => Some(attempt),
            Err(Refused::TooMany(retry_after)) => {
                let message = format!(
                    "Too many failed sign-ins: try again in {} s.",
                    retry_after.as_secs().max(1)
                );
                return error_page(&state, &viewer, StatusCode::TOO_MANY_REQUESTS, &message);
            }
            Err(Refused::Unavailable(why)) => {
                tracing::error!("sign-in refused: the failed-login limit could not be consulted: {why}");
                let message =
                    "Signing in is not possible now (the registry cannot reach its database); try again shortly.";
                return error_page(&state, &viewer, StatusCode::SERVICE_UNAVAILABLE, message);
            }
        },
        None => None,
    };
    let credentials = Credentials::Basic {
        username: username.clone(),
        password,
    };
    match access.authenticate(&credentials).await {
        Ok(Identity::User { name, groups }) => {
            if let Some(attempt) = attempt {
                attempt.succeeded().await;
            }
            let session = Session::new(Some(name), groups, state.config.session_lifetime);
            with_session(&state, &session, Redirect::to("/ui/").into_response())
        }
        Ok(_) | Err(crate::auth::AuthError::BadPassword) => {
            if let Some(attempt) = attempt {
                attempt.failed().await;
            }
            form_page(
                &state,
                &viewer,
                StatusCode::UNAUTHORIZED,
                Some("Wrong user name or password."),
                &username,
            )
        }
        Err(e) => form_page(
            &state,
            &viewer,
            StatusCode::SERVICE_UNAVAILABLE,
            Some(&e.to_string()),
            &username,
        ),
    }
}

/// Signs out: the session is recorded as signed out in the metadata store, so its
/// cookie, and any copy of it, is refused from now on by every replica; the browser
/// gets a new anonymous session.
pub async fn sign_out(Shared(state): Shared<State>, headers: HeaderMap, body: Bytes) -> Response {
    let form = super::form_fields(&body);
    let viewer = match checked_form(&state, &headers, &form).await {
        Ok(viewer) => viewer,
        Err(response) => return *response,
    };
    let anonymous = Session::new(None, Vec::new(), state.config.session_lifetime);
    let signed_out = &viewer.session;
    if signed_out.user.is_some() {
        let expires = UNIX_EPOCH + Duration::from_secs(signed_out.expires);
        if let Err(e) = state.registry.revoke_ui_session(&signed_out.id, expires).await {
            tracing::error!(error = %e.message, "a UI sign-out could not be recorded");
            let message = "You are signed out in this browser, but the registry could not record it: \
                           a copy of your session cookie stays valid until it expires.";
            let page = error_page(
                &state,
                &Viewer::anonymous(&state),
                StatusCode::SERVICE_UNAVAILABLE,
                message,
            );
            return with_session(&state, &anonymous, page);
        }
    }
    with_session(&state, &anonymous, Redirect::to("/ui/").into_response())
}

fn with_session(state: &UiState, session: &Session, mut response: Response) -> Response {
    let cookie = session.set_cookie(&state.config.session_key, state.config.secure_cookies);
    if let Ok(value) = HeaderValue::from_str(&cookie) {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
    response
}
