//! `/ui/manifest?name=…&ref=…`: a manifest or index (by tag or digest): its layers, the
//! config's created date, labels and history, an index's platforms with links to each
//! child, annotations, and the tree of referrers (signatures, SBOMs, attestations).

use super::{layout, pull_commands, registry_host, respond, visible_repository, Params};
use crate::auth::Action;
use crate::meta::ManifestRecord;
use crate::registry::Registry;
use crate::ui::data::{artifact_kind, ConfigView, Descriptor, ManifestView, CONFIG_CAP};
use crate::ui::format::{q, safe_link, short_digest, size};
use crate::ui::viewer::Viewer;
use crate::ui::State;
use axum::extract::State as Shared;
use axum::response::Response;
use http::{HeaderMap, StatusCode};
use maud::{html, Markup};
use std::collections::BTreeMap;
use wharf_oci::{Digest, Reference, RepositoryName};

/// How deep the referrers tree goes (a signature of an SBOM of an image is depth 2).
const REFERRER_DEPTH: usize = 3;
/// Referrers shown at most per subject.
const REFERRERS_SHOWN: usize = 100;

/// A referrer and its own referrers.
pub struct Referrer {
    pub record: ManifestRecord,
    pub children: Vec<Referrer>,
}

pub async fn page(Shared(state): Shared<State>, headers: HeaderMap, params: Params) -> Response {
    let viewer = Viewer::from_headers(&state, &headers).await;
    let name = match visible_repository(&state, &viewer, &params).await {
        Ok(name) => name,
        Err(response) => return response,
    };
    let unknown = |message: &str| super::error_page(&state, &viewer, StatusCode::NOT_FOUND, message);
    let Some(reference) = params.get("ref").and_then(|r| r.parse::<Reference>().ok()) else {
        return unknown("That is not a tag or a digest.");
    };
    let stored = match state.registry.manifest(&name, &reference).await {
        Ok(stored) => stored,
        Err(e) => return unknown(&e.message),
    };
    let view = ManifestView::parse(&stored.bytes);
    let config = match view.config.as_ref().and_then(|c| c.digest.parse::<Digest>().ok()) {
        Some(digest) if !view.is_index => match state.registry.small_blob(&name, &digest, CONFIG_CAP).await {
            Ok(Some(bytes)) => Some(ConfigView::parse(&bytes)),
            _ => None,
        },
        _ => None,
    };
    let referrers = referrer_tree(&state.registry, &name, &stored.record.digest, REFERRER_DEPTH).await;
    let may_delete = viewer.actions(&state, &name).await.contains(Action::Delete);
    let host = registry_host(&state, &headers);
    let page = Page {
        name: &name,
        reference: &reference,
        record: &stored.record,
        view: &view,
        config: config.as_ref(),
        referrers: &referrers,
        may_delete,
        host: &host,
    };
    let title = format!("{name} {reference}");
    respond(
        &state,
        &viewer,
        StatusCode::OK,
        layout(&state, &viewer, &title, page.render()),
    )
}

/// The referrers of `subject`, and theirs, `depth` levels down.
pub async fn referrer_tree(
    registry: &Registry,
    name: &RepositoryName,
    subject: &Digest,
    depth: usize,
) -> Vec<Referrer> {
    if depth == 0 {
        return Vec::new();
    }
    let mut found = registry.referrers(name, subject, None).await.unwrap_or_default();
    found.truncate(REFERRERS_SHOWN);
    let mut tree = Vec::with_capacity(found.len());
    for record in found {
        let children = Box::pin(referrer_tree(registry, name, &record.digest, depth - 1)).await;
        tree.push(Referrer { record, children });
    }
    tree
}

struct Page<'a> {
    name: &'a RepositoryName,
    reference: &'a Reference,
    record: &'a ManifestRecord,
    view: &'a ManifestView,
    config: Option<&'a ConfigView>,
    referrers: &'a [Referrer],
    may_delete: bool,
    host: &'a str,
}

fn manifest_link(name: &str, digest: &str) -> String {
    format!("/ui/manifest?name={}&ref={}", q(name), q(digest))
}

impl Page<'_> {
    fn render(&self) -> Markup {
        let name = self.name.as_str();
        let digest = self.record.digest.to_string();
        let by_digest = format!("{name}@{digest}");
        html! {
            p { a.mono href={ "/ui/repository?name=" (q(name)) } { (name) } }
            h1.mono { (self.reference) }
            dl.kv {
                dt { "Digest" } dd.mono { (digest) }
                dt { "Media type" } dd.mono { (self.record.media_type) }
                dt { "Size" } dd { (size(self.record.size)) }
                @if let Some(t) = &self.view.artifact_type { dt { "Artifact type" } dd.mono { (t) } }
                @if let Some(config) = self.config {
                    @if let Some(created) = &config.created { dt { "Created" } dd { (created) } }
                    @if let Some(platform) = &config.platform { dt { "Platform" } dd { (platform) } }
                }
                @if let Some(subject) = &self.view.subject {
                    dt { "Subject" }
                    dd.mono { a href=(manifest_link(name, &subject.digest)) { (subject.digest) } }
                }
            }
            h2 { "Pull" }
            @match self.reference {
                Reference::Tag(tag) => (pull_commands(self.host, &format!("{name}:{tag}"))),
                Reference::Digest(_) => (pull_commands(self.host, &by_digest)),
            }
            @if self.view.is_index {
                h2 { "Platforms" }
                (children(name, &self.view.children))
            } @else {
                h2 { "Layers" }
                (layers(self.view.config.as_ref(), &self.view.layers))
            }
            @if let Some(config) = self.config {
                @if !config.labels.is_empty() { h2 { "Labels" } (key_values(&config.labels)) }
                @if !config.history.is_empty() {
                    h2 { "History" }
                    table {
                        thead { tr { th { "Created" } th { "Command" } } }
                        tbody {
                            @for entry in &config.history {
                                tr {
                                    td { (entry.created.as_deref().unwrap_or("—")) }
                                    td.mono { (entry.created_by) @if entry.empty_layer { " " span.pill { "no layer" } } }
                                }
                            }
                        }
                    }
                }
            }
            @if !self.view.annotations.is_empty() { h2 { "Annotations" } (key_values(&self.view.annotations)) }
            h2 { "Referrers" }
            @if self.referrers.is_empty() {
                p.muted { "Nothing refers to this manifest (no signature, SBOM or attestation)." }
            } @else {
                (tree(name, self.referrers))
            }
            @if self.may_delete {
                h2 { "Delete" }
                p {
                    @if let Reference::Tag(tag) = self.reference {
                        a href={ "/ui/delete?name=" (q(name)) "&ref=" (q(tag.as_str())) } { "Delete tag " (tag) "…" }
                        " · "
                    }
                    a href={ "/ui/delete?name=" (q(name)) "&ref=" (q(&digest)) } { "Delete manifest " (short_digest(&digest)) "…" }
                }
            }
        }
    }
}

fn children(name: &str, children: &[Descriptor]) -> Markup {
    html! {
        table {
            thead { tr { th { "Platform" } th { "Digest" } th { "Media type" } th.num { "Size" } } }
            tbody {
                @for child in children {
                    tr {
                        td { (child.platform.as_deref().unwrap_or("—")) }
                        td.mono { a href=(manifest_link(name, &child.digest)) title=(child.digest) { (short_digest(&child.digest)) } }
                        td.mono { (child.media_type) }
                        td.num { (size(child.size)) }
                    }
                }
            }
        }
    }
}

fn layers(config: Option<&Descriptor>, layers: &[Descriptor]) -> Markup {
    let total: u64 = layers.iter().map(|l| l.size).sum();
    html! {
        table {
            thead { tr { th { "#" } th { "Digest" } th { "Media type" } th.num { "Size" } } }
            tbody {
                @if let Some(config) = config {
                    tr { td { "config" } td.mono title=(config.digest) { (short_digest(&config.digest)) } td.mono { (config.media_type) } td.num { (size(config.size)) } }
                }
                @for (i, layer) in layers.iter().enumerate() {
                    tr { td { (i + 1) } td.mono title=(layer.digest) { (short_digest(&layer.digest)) } td.mono { (layer.media_type) } td.num { (size(layer.size)) } }
                }
                tr { td {} td { strong { "Total" } } td {} td.num { strong { (size(total)) } } }
            }
        }
    }
}

/// Keys and values as pushers wrote them (escaped); a value that is an http(s) URL is a
/// link that opens without telling the target where it came from.
pub fn key_values(values: &BTreeMap<String, String>) -> Markup {
    html! {
        dl.kv {
            @for (key, value) in values {
                dt.mono { (key) }
                dd {
                    @if let Some(url) = safe_link(value) {
                        a href=(url) rel="noopener noreferrer nofollow" target="_blank" { (value) }
                    } @else {
                        (value)
                    }
                }
            }
        }
    }
}

fn tree(name: &str, referrers: &[Referrer]) -> Markup {
    html! {
        ul.tree {
            @for r in referrers {
                @let digest = r.record.digest.to_string();
                @let artifact_type = r.record.artifact_type.as_deref();
                li {
                    span.pill { (artifact_kind(artifact_type)) }
                    a.mono.referrer href=(manifest_link(name, &digest)) { (short_digest(&digest)) }
                    " "
                    span.mono.muted { (artifact_type.unwrap_or(&r.record.media_type)) }
                    " · " (size(r.record.size))
                    @if !r.children.is_empty() { (tree(name, &r.children)) }
                }
            }
        }
    }
}
