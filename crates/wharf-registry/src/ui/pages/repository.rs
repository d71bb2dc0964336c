//! `/ui/repository?name=…`: a repository's tags, sorted by last push or by name, a page
//! at a time, each with its manifest's digest, media type, size and platforms; the
//! untagged manifests on request (`&untagged=1`).

use super::{layout, pull_commands, registry_host, respond, visible_repository, Params};
use crate::auth::Action;
use crate::meta::{ManifestRecord, TagDetail};
use crate::registry::Registry;
use crate::ui::data::{ConfigView, ManifestView, CONFIG_CAP};
use crate::ui::format::{q, short_digest, size, time};
use crate::ui::viewer::Viewer;
use crate::ui::State;
use axum::extract::State as Shared;
use axum::response::Response;
use http::{HeaderMap, StatusCode};
use maud::{html, Markup};
use std::time::SystemTime;
use wharf_oci::{Reference, RepositoryName};

/// Tags on one page.
pub const PAGE: usize = 50;

/// One row: a tag (or none, for an untagged manifest) and its manifest.
pub struct Row {
    pub tag: Option<String>,
    pub manifest: ManifestRecord,
    pub pushed: Option<SystemTime>,
    pub platforms: Vec<String>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Sort {
    Pushed,
    Name,
}

pub async fn page(Shared(state): Shared<State>, headers: HeaderMap, params: Params) -> Response {
    let viewer = Viewer::from_headers(&state, &headers);
    let name = match visible_repository(&state, &viewer, &params).await {
        Ok(name) => name,
        Err(response) => return response,
    };
    let sort = match params.get("sort").map(String::as_str) {
        Some("name") => Sort::Name,
        _ => Sort::Pushed,
    };
    let offset: usize = params.get("from").and_then(|f| f.parse().ok()).unwrap_or(0);
    let untagged = params.get("untagged").is_some_and(|u| u == "1");
    let registry = &state.registry;
    let (total, rows) = if untagged {
        match registry.untagged_manifests(&name).await {
            Ok(found) => {
                let total = found.len();
                let page: Vec<Row> = found
                    .into_iter()
                    .skip(offset)
                    .take(PAGE)
                    .map(|m| Row {
                        tag: None,
                        manifest: m.manifest,
                        pushed: m.pushed,
                        platforms: Vec::new(),
                    })
                    .collect();
                (total, page)
            }
            Err(e) => return super::error_page(&state, &viewer, StatusCode::NOT_FOUND, &e.message),
        }
    } else {
        match registry.tag_details(&name).await {
            Ok(tags) => {
                let total = tags.len();
                (total, tag_page(tags, sort, offset))
            }
            Err(e) => return super::error_page(&state, &viewer, StatusCode::NOT_FOUND, &e.message),
        }
    };
    let mut rows = rows;
    for row in &mut rows {
        row.platforms = platforms(registry, &name, &row.manifest).await;
    }
    let may_delete = viewer.actions(&state, &name).await.contains(Action::Delete);
    let usage = registry.repository_usage(&name).await.unwrap_or(0);
    let view = View {
        name: &name,
        host: registry_host(&state, &headers),
        sort,
        offset,
        total,
        untagged,
        may_delete,
        usage,
    };
    let body = body(&view, &rows);
    respond(
        &state,
        &viewer,
        StatusCode::OK,
        layout(&state, &viewer, name.as_str(), body),
    )
}

/// The rows of one page of `tags`, sorted (newest push first, ties by name; or by name).
pub fn tag_page(mut tags: Vec<TagDetail>, sort: Sort, offset: usize) -> Vec<Row> {
    if sort == Sort::Pushed {
        // Stable: tags come in name order, so equal times stay in name order.
        tags.sort_by_key(|t| std::cmp::Reverse(t.pushed));
    }
    tags.into_iter()
        .skip(offset)
        .take(PAGE)
        .map(|t| Row {
            tag: Some(t.tag),
            manifest: t.manifest,
            pushed: t.pushed,
            platforms: Vec::new(),
        })
        .collect()
}

/// The platforms a manifest is for: an index's children's, or an image config's (read
/// only when small). Nothing when they cannot be read.
pub async fn platforms(registry: &Registry, name: &RepositoryName, manifest: &ManifestRecord) -> Vec<String> {
    let Ok(stored) = registry
        .manifest(name, &Reference::Digest(manifest.digest.clone()))
        .await
    else {
        return Vec::new();
    };
    let view = ManifestView::parse(&stored.bytes);
    if view.is_index {
        return view.platforms();
    }
    let Some(config) = view.config.and_then(|c| c.digest.parse().ok()) else {
        return Vec::new();
    };
    match registry.small_blob(name, &config, CONFIG_CAP).await {
        Ok(Some(bytes)) => ConfigView::parse(&bytes).platform.into_iter().collect(),
        _ => Vec::new(),
    }
}

struct View<'a> {
    name: &'a RepositoryName,
    host: String,
    sort: Sort,
    offset: usize,
    total: usize,
    untagged: bool,
    may_delete: bool,
    usage: u64,
}

fn body(view: &View<'_>, rows: &[Row]) -> Markup {
    let name = view.name.as_str();
    let base = format!("/ui/repository?name={}", q(name));
    let sort_param = if view.sort == Sort::Name { "&sort=name" } else { "" };
    let untagged_param = if view.untagged { "&untagged=1" } else { "" };
    html! {
        h1.mono { (name) }
        p.muted {
            (size(view.usage)) " stored · " (view.total)
            @if view.untagged { " untagged manifests" } @else { " tags" }
        }
        @if let Some(first) = rows.iter().find_map(|r| r.tag.as_deref()) {
            (pull_commands(&view.host, &format!("{name}:{first}")))
        }
        div.bar {
            @if view.untagged {
                a href=(base) { "Show tags" }
            } @else {
                span { "Sort by: " }
                @if view.sort == Sort::Name { a href=(base) { "last push" } " · " strong { "name" } }
                @else { strong { "last push" } " · " a href={ (base) "&sort=name" } { "name" } }
                a href={ (base) "&untagged=1" } { "Show untagged manifests" }
            }
        }
        @if rows.is_empty() {
            p.muted { "Nothing here." }
        } @else {
            table {
                thead { tr {
                    @if !view.untagged { th { "Tag" } }
                    th { "Digest" } th { "Media type" } th.num { "Size" } th { "Platforms" } th { "Pushed" }
                    @if view.may_delete { th {} }
                } }
                tbody {
                    @for row in rows {
                        @let digest = row.manifest.digest.to_string();
                        @let link = format!("/ui/manifest?name={}&ref={}", q(name), q(&digest));
                        tr {
                            @if let Some(tag) = &row.tag {
                                td.mono { a href={ "/ui/manifest?name=" (q(name)) "&ref=" (q(tag)) } { (tag) } }
                            }
                            td.mono { a href=(link) title=(digest) { (short_digest(&digest)) } }
                            td.mono { (row.manifest.media_type) }
                            td.num { (size(row.manifest.size)) }
                            td { @for p in &row.platforms { span.pill { (p) } } }
                            td { (time(row.pushed)) }
                            @if view.may_delete {
                                td {
                                    @let target = row.tag.clone().unwrap_or_else(|| digest.clone());
                                    a href={ "/ui/delete?name=" (q(name)) "&ref=" (q(&target)) } { "Delete…" }
                                }
                            }
                        }
                    }
                }
            }
        }
        nav.pages {
            @if view.offset > 0 {
                a href={ (base) (sort_param) (untagged_param) "&from=" (view.offset.saturating_sub(PAGE)) } { "← Previous" }
            }
            @if view.offset + PAGE < view.total {
                a href={ (base) (sort_param) (untagged_param) "&from=" (view.offset + PAGE) } { "Next →" }
            }
        }
    }
}
