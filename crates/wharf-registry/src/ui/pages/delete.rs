//! `/ui/delete?name=…&ref=…`: a page that asks before a tag or a manifest is deleted
//! (so it works without script), and the POST that deletes, only with the session's
//! form token and the delete permission.

use super::{error_page, layout, respond, visible_repository};
use crate::auth::Action;
use crate::ui::format::q;
use crate::ui::viewer::Viewer;
use crate::ui::{State, UiState};
use axum::body::Bytes;
use axum::extract::State as Shared;
use axum::response::{IntoResponse, Redirect, Response};
use http::{HeaderMap, StatusCode};
use maud::html;
use std::collections::HashMap;
use wharf_oci::{Reference, RepositoryName};

/// The repository and reference to delete, if the viewer may delete there.
async fn target(
    state: &UiState,
    viewer: &Viewer,
    params: &HashMap<String, String>,
) -> Result<(RepositoryName, Reference), Response> {
    let name = visible_repository(state, viewer, params).await?;
    let Some(reference) = params.get("ref").and_then(|r| r.parse::<Reference>().ok()) else {
        return Err(error_page(
            state,
            viewer,
            StatusCode::NOT_FOUND,
            "That is not a tag or a digest.",
        ));
    };
    if !viewer.actions(state, &name).await.contains(Action::Delete) {
        return Err(error_page(
            state,
            viewer,
            StatusCode::FORBIDDEN,
            "You may not delete in this repository.",
        ));
    }
    Ok((name, reference))
}

pub async fn confirm(Shared(state): Shared<State>, headers: HeaderMap, params: super::Params) -> Response {
    let viewer = Viewer::from_headers(&state, &headers).await;
    let (name, reference) = match target(&state, &viewer, &params).await {
        Ok(target) => target,
        Err(response) => return response,
    };
    let what = match &reference {
        Reference::Tag(_) => "tag",
        Reference::Digest(_) => "manifest (and every tag pointing at it)",
    };
    let question = format!("Delete {what} {reference} from {name}?");
    let body = html! {
        h1 { "Delete?" }
        p.note { (question) }
        @if let Reference::Tag(_) = reference {
            p.muted { "The manifest stays, reachable by digest, until nothing else keeps it and the garbage collector removes it." }
        }
        form method="post" action="/ui/delete" data-confirm=(question) {
            input type="hidden" name="csrf" value=(viewer.form_token(&state));
            input type="hidden" name="name" value=(name.as_str());
            input type="hidden" name="ref" value=(reference.to_string());
            div.bar {
                button.danger type="submit" { "Delete" }
                a.button href={ "/ui/manifest?name=" (q(name.as_str())) "&ref=" (q(&reference.to_string())) } { "Cancel" }
            }
        }
    };
    respond(
        &state,
        &viewer,
        StatusCode::OK,
        layout(&state, &viewer, "Delete?", body),
    )
}

pub async fn delete(Shared(state): Shared<State>, headers: HeaderMap, body: Bytes) -> Response {
    let form = super::form_fields(&body);
    let viewer = match checked_form(&state, &headers, &form).await {
        Ok(viewer) => viewer,
        Err(response) => return *response,
    };
    let (name, reference) = match target(&state, &viewer, &form).await {
        Ok(target) => target,
        Err(response) => return response,
    };
    match state.registry.delete_manifest(&name, &reference).await {
        Ok(()) => Redirect::to(&format!("/ui/repository?name={}", q(name.as_str()))).into_response(),
        Err(e) => error_page(
            &state,
            &viewer,
            StatusCode::from_u16(e.status).unwrap_or(StatusCode::CONFLICT),
            &e.message,
        ),
    }
}

/// The viewer of a POST whose form token is the one their session cookie binds; a 403
/// page otherwise (no cookie, another session's token, none at all).
pub async fn checked_form(
    state: &UiState,
    headers: &HeaderMap,
    form: &HashMap<String, String>,
) -> Result<Viewer, Box<Response>> {
    let viewer = Viewer::from_headers(state, headers).await;
    let token = form.get("csrf").map(String::as_str).unwrap_or("");
    if viewer.fresh || !viewer.session.accepts_form_token(token, &state.config.session_key) {
        return Err(Box::new(error_page(
            state,
            &viewer,
            StatusCode::FORBIDDEN,
            "This form has expired or did not come from this site. Reload the page and try again.",
        )));
    }
    Ok(viewer)
}
