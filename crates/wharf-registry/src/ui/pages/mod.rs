//! The pages, one file each, and what they share: the layout, the answer with its
//! cookie, error pages.

pub mod delete;
pub mod manifest;
pub mod repositories;
pub mod repository;
pub mod sign_in;

use super::assets::{SCRIPT, STYLE};
use super::viewer::Viewer;
use super::{State, UiState};
use crate::auth::AccessControl;
use axum::extract::State as Shared;
use axum::response::{IntoResponse, Redirect, Response};
use http::{header, HeaderMap, StatusCode};
use maud::{html, Markup, DOCTYPE};
use std::collections::HashMap;
use wharf_oci::RepositoryName;

/// The query string of a page, as pairs.
pub type Params = axum::extract::Query<HashMap<String, String>>;

pub async fn to_ui() -> Redirect {
    Redirect::to("/ui/")
}

pub async fn not_found(Shared(state): Shared<State>, headers: HeaderMap) -> Response {
    let viewer = Viewer::from_headers(&state, &headers).await;
    error_page(&state, &viewer, StatusCode::NOT_FOUND, "There is no such page.")
}

/// A whole page around `body`.
pub fn layout(state: &UiState, viewer: &Viewer, title: &str, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · wharf" }
                link rel="stylesheet" href=(STYLE.href());
                script src=(SCRIPT.href()) defer {}
            }
            body {
                header.top {
                    a.brand href="/ui/" { "wharf" }
                    a href="/ui/" { "Repositories" }
                    div.who {
                        @if let Some(user) = viewer.user() {
                            span { "Signed in as " strong { (user) } }
                            form method="post" action="/ui/sign-out" {
                                input type="hidden" name="csrf" value=(viewer.form_token(state));
                                button type="submit" { "Sign out" }
                            }
                        } @else if state.access.is_some() {
                            span.muted { "Anonymous" }
                            a.button href="/ui/sign-in" { "Sign in" }
                        }
                    }
                }
                main { (body) }
            }
        }
    }
}

/// An HTML answer, never cached (it depends on who asks), with a new session cookie when
/// the request had none.
pub fn respond(state: &UiState, viewer: &Viewer, status: StatusCode, page: Markup) -> Response {
    let mut response = (
        status,
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        page.into_string(),
    )
        .into_response();
    if let Some(cookie) = viewer.set_cookie(state) {
        if let Ok(value) = http::HeaderValue::from_str(&cookie) {
            response.headers_mut().append(header::SET_COOKIE, value);
        }
    }
    response
}

pub fn error_page(state: &UiState, viewer: &Viewer, status: StatusCode, message: &str) -> Response {
    let body = html! {
        h1 { (status.canonical_reason().unwrap_or("Error")) }
        p.error { (message) }
        p { a href="/ui/" { "Back to the repositories" } }
    };
    respond(state, viewer, status, layout(state, viewer, "Error", body))
}

/// The repository a page is about, if the viewer may pull it. A name the viewer may not
/// pull is answered exactly like one that does not exist, so the UI tells nobody what
/// exists beyond what they may see.
pub async fn visible_repository(
    state: &UiState,
    viewer: &Viewer,
    params: &HashMap<String, String>,
) -> Result<RepositoryName, Response> {
    let unknown = || {
        error_page(
            state,
            viewer,
            StatusCode::NOT_FOUND,
            "No such repository, or you may not see it.",
        )
    };
    let Some(name) = params.get("name").and_then(|n| n.parse::<RepositoryName>().ok()) else {
        return Err(unknown());
    };
    if !viewer.may_pull(state, &name).await {
        return Err(unknown());
    }
    Ok(name)
}

/// The host name in pull commands.
pub fn registry_host(state: &UiState, headers: &HeaderMap) -> String {
    if let Some(host) = &state.config.registry_host {
        return host.clone();
    }
    headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("localhost:5000")
        .to_string()
}

/// The pull commands for `reference` (`name:tag` or `name@digest`), each with a copy
/// button.
pub fn pull_commands(host: &str, reference: &str) -> Markup {
    let full = format!("{host}/{reference}");
    let commands = [
        format!("docker pull {full}"),
        format!("podman pull {full}"),
        format!("oras pull {full}"),
    ];
    html! {
        div.pulls {
            @for command in &commands {
                div.pull {
                    code { (command) }
                    button type="button" data-copy=(command) { "Copy" }
                }
            }
        }
    }
}

/// Whether this registry has access control (sign-in is offered then).
pub fn access(state: &UiState) -> Option<&AccessControl> {
    state.access.as_deref()
}

/// The fields of a form POST (`application/x-www-form-urlencoded`); a repeated field
/// keeps its first value.
pub fn form_fields(body: &[u8]) -> HashMap<String, String> {
    let mut fields = HashMap::new();
    for (key, value) in form_urlencoded::parse(body) {
        fields.entry(key.into_owned()).or_insert_with(|| value.into_owned());
    }
    fields
}
