//! `/ui/`: the repositories the viewer may pull, searched by name, a page at a time,
//! with tag count, size and last push; and the garbage collector's last run.

use super::{layout, respond, Params};
use crate::meta::CollectionOutcome;
use crate::ui::format::{q, size, time};
use crate::ui::viewer::Viewer;
use crate::ui::{State, UiState};
use axum::extract::State as Shared;
use axum::response::Response;
use http::{HeaderMap, StatusCode};
use maud::{html, Markup};
use wharf_oci::RepositoryName;

/// Repositories on one page.
const PAGE: usize = 50;
/// Names read from the catalog per round while looking for visible matches.
const BATCH: usize = 1000;

struct Row {
    name: String,
    tags: u64,
    usage: u64,
    last_push: Option<std::time::SystemTime>,
}

pub async fn page(Shared(state): Shared<State>, headers: HeaderMap, params: Params) -> Response {
    let viewer = Viewer::from_headers(&state, &headers).await;
    let search = params.get("q").map(|s| s.trim().to_string()).unwrap_or_default();
    let after = params.get("after").cloned().filter(|a| !a.is_empty());
    let (names, next) = match matching(&state, &viewer, &search, after.as_deref()).await {
        Ok(found) => found,
        Err(message) => return super::error_page(&state, &viewer, StatusCode::SERVICE_UNAVAILABLE, &message),
    };
    let mut rows = Vec::with_capacity(names.len());
    for name in names {
        let (summary, usage) = futures::join!(
            state.registry.repository_summary(&name),
            state.registry.repository_usage(&name)
        );
        let summary = summary.unwrap_or_default();
        rows.push(Row {
            name: name.to_string(),
            tags: summary.tags,
            usage: usage.unwrap_or(0),
            last_push: summary.last_push,
        });
    }
    let gc = gc_status(&state).await;
    let body = body(&search, &rows, next.as_deref(), gc);
    respond(
        &state,
        &viewer,
        StatusCode::OK,
        layout(&state, &viewer, "Repositories", body),
    )
}

/// One page of the names containing `search` that the viewer may pull, after `after`,
/// and the cursor of the next page when more may follow.
async fn matching(
    state: &UiState,
    viewer: &Viewer,
    search: &str,
    after: Option<&str>,
) -> Result<(Vec<RepositoryName>, Option<String>), String> {
    let search = search.to_lowercase();
    let mut found = Vec::new();
    let mut cursor = after.map(str::to_string);
    loop {
        let listing = state
            .registry
            .catalog(Some(BATCH), cursor.as_deref())
            .await
            .map_err(|e| e.message)?;
        for raw in listing.items {
            cursor = Some(raw.clone());
            if !raw.to_lowercase().contains(&search) {
                continue;
            }
            let Ok(name) = raw.parse::<RepositoryName>() else {
                continue;
            };
            if viewer.may_pull(state, &name).await {
                found.push(name);
                if found.len() == PAGE {
                    return Ok((found, cursor));
                }
            }
        }
        if listing.next_n.is_none() {
            return Ok((found, None));
        }
    }
}

fn body(search: &str, rows: &[Row], next: Option<&str>, gc: Markup) -> Markup {
    html! {
        h1 { "Repositories" }
        form.bar method="get" action="/ui/" role="search" {
            input type="search" name="q" value=(search) placeholder="Search by name" aria-label="Search by name";
            button type="submit" { "Search" }
            @if !search.is_empty() { a href="/ui/" { "Clear" } }
        }
        @if rows.is_empty() {
            p.muted { @if search.is_empty() { "No repositories you may see." } @else { "No repository matches." } }
        } @else {
            table {
                thead { tr { th { "Repository" } th.num { "Tags" } th.num { "Size" } th { "Last push" } } }
                tbody {
                    @for row in rows {
                        tr {
                            td { a.mono href={ "/ui/repository?name=" (q(&row.name)) } { (row.name) } }
                            td.num { (row.tags) }
                            td.num { (size(row.usage)) }
                            td { (time(row.last_push)) }
                        }
                    }
                }
            }
        }
        @if let Some(next) = next {
            nav.pages { a href={ "/ui/?q=" (q(search)) "&after=" (q(next)) } { "Next page →" } }
        }
        (gc)
    }
}

/// The last garbage collection on these stores, run by any replica or by `wharf gc`,
/// as the metadata store recorded it.
async fn gc_status(state: &UiState) -> Markup {
    html! {
        h2 { "Garbage collection" }
        @match state.registry.last_collection().await {
            Err(e) => p.error { "The garbage collector's record could not be read: " (e.message) },
            Ok(None) => p.muted { "No garbage collection has run yet." },
            Ok(Some(run)) => {
                @match &run.ended {
                    None => p.note {
                        "A collection started " (time(Some(run.started)))
                        " has not ended: it is running, or the process running it stopped."
                    },
                    Some((ended, CollectionOutcome::Removed { manifests, blobs, bytes_freed })) => p {
                        "Last collection started " (time(Some(run.started))) ", ended " (time(Some(*ended)))
                        ": removed " (manifests) " manifests and " (blobs) " blobs, freeing " (size(*bytes_freed)) "."
                    },
                    Some((ended, CollectionOutcome::Failed(message))) => p.error {
                        "Last collection started " (time(Some(run.started))) " failed at " (time(Some(*ended))) ": " (message)
                    },
                }
            }
        }
    }
}
