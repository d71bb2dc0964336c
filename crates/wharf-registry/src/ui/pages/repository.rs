//! `/ui/repository?name=…`: a repository's tags, sorted by last push or by name, a page
//! at a time, each with its manifest's digest, media type, size and platforms; the
//! untagged manifests on request (`&untagged=1`).

use super::{layout, pull_commands, registry_host, respond, visible_repository, Params};
use crate::auth::Action;
use crate::meta::{ManifestRecord, TagCursor, TagDetail, TagOrder};
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
    let viewer = Viewer::from_headers(&state, &headers).await;
    let name = match visible_repository(&state, &viewer, &params).await {
        Ok(name) => name,
        Err(response) => return response,
    };
    let sort = match params.get("sort").map(String::as_str) {
        Some("name") => Sort::Name,
        _ => Sort::Pushed,
    };
    let untagged = params.get("untagged").is_some_and(|u| u == "1");
    // Untagged manifests page by offset (there are few); tags by keyset, after the
    // last tag of the page before (`after`, and `after_ms` its push time when sorted by
    // push), so a late page costs what the first does.
    let offset: usize = params.get("from").and_then(|f| f.parse().ok()).unwrap_or(0);
    let cursor = params.get("after").map(|tag| TagCursor {
        tag: tag.clone(),
        pushed_ms: params.get("after_ms").and_then(|ms| ms.parse().ok()).unwrap_or(0),
    });
    let registry = &state.registry;
    let mut next = None;
    let (total, rows) = if untagged {
        match registry.untagged_manifests(&name).await {
            Ok(found) => {
                let total = found.len();
                if offset + PAGE < total {
                    next = Some(format!("&from={}", offset + PAGE));
                }
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
        let order = match sort {
            Sort::Name => TagOrder::Name,
            Sort::Pushed => TagOrder::Pushed,
        };
        let (page, summary) = futures::join!(
            registry.tag_page(&name, order, cursor.as_ref(), PAGE + 1),
            registry.repository_summary(&name)
        );
        match page {
            Ok(mut tags) => {
                if tags.len() > PAGE {
                    tags.truncate(PAGE);
                    next = tags.last().map(|last| next_link(&TagCursor::after(last), order));
                }
                let total = summary.map(|s| s.tags as usize).unwrap_or(tags.len());
                (total, tags.into_iter().map(row).collect())
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
        first: offset == 0 && cursor.is_none(),
        next,
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

/// A tag's row (its platforms are filled in afterwards).
fn row(t: TagDetail) -> Row {
    Row {
        tag: Some(t.tag),
        manifest: t.manifest,
        pushed: t.pushed,
        platforms: Vec::new(),
    }
}

/// The query that continues after `cursor`.
fn next_link(cursor: &TagCursor, order: TagOrder) -> String {
    match order {
        TagOrder::Name => format!("&after={}", q(&cursor.tag)),
        TagOrder::Pushed => format!("&after={}&after_ms={}", q(&cursor.tag), cursor.pushed_ms),
    }
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
    /// Whether this is the first page.
    first: bool,
    /// The query of the next page, when there is one.
    next: Option<String>,
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
            @if !view.first {
                a href={ (base) (sort_param) (untagged_param) } { "← First page" }
            }
            @if let Some(next) = &view.next {
                a href={ (base) (sort_param) (untagged_param) (next) } { "Next →" }
            }
        }
    }
}
