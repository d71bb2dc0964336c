//! Listings: tags (end-8), the catalog, and referrers (end-12).

use super::authorize::Caller;
use super::headers::{value, OCI_FILTERS_APPLIED};
use super::query::Query;
use crate::registry::{Listing, Registry, RegistryError, RegistryResult, MAX_PAGE};
use axum::response::{IntoResponse, Response};
use http::{header, StatusCode};
use serde_json::{json, Map, Value};
use wharf_oci::media_type::OCI_INDEX;
use wharf_oci::{Digest, ErrorCode, RepositoryName};

/// `n` and `last` of a paginated listing.
fn pagination(query: &Query) -> RegistryResult<(Option<usize>, Option<&str>)> {
    let n = match query.get("n") {
        None => None,
        Some(raw) => Some(raw.parse::<usize>().map_err(|_| {
            RegistryError::new(
                ErrorCode::Unsupported,
                format!("n={raw:?} is not a non-negative integer"),
            )
            .with_status(400)
        })?),
    };
    Ok((n, query.get("last")))
}

fn json_response(body: &Value, link: Option<String>) -> Response {
    let mut response = (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response();
    if let Some(link) = link {
        response.headers_mut().insert(header::LINK, value(link));
    }
    response
}

/// `Link: <path?n=N&last=LAST>; rel="next"` when another page follows.
fn next_link(path: &str, listing: &Listing) -> Option<String> {
    let n = listing.next_n?;
    let last = listing.items.last()?;
    let last: String = form_urlencoded::byte_serialize(last.as_bytes()).collect();
    Some(format!("<{path}?n={n}&last={last}>; rel=\"next\""))
}

pub async fn tags(registry: &Registry, name: &RepositoryName, query: &Query) -> RegistryResult<Response> {
    let (n, last) = pagination(query)?;
    let listing = registry.list_tags_or_pull(name, n, last).await?;
    let link = next_link(&format!("/v2/{name}/tags/list"), &listing);
    Ok(json_response(
        &json!({ "name": name.as_str(), "tags": listing.items }),
        link,
    ))
}

/// The catalog; behind access control, only the repositories the caller may pull.
pub async fn catalog(registry: &Registry, query: &Query, caller: Option<&Caller>) -> RegistryResult<Response> {
    let (n, last) = pagination(query)?;
    let listing = match caller {
        None => registry.catalog(n, last).await?,
        Some(caller) => visible_catalog(registry, caller, n, last).await?,
    };
    let link = next_link("/v2/_catalog", &listing);
    Ok(json_response(&json!({ "repositories": listing.items }), link))
}

/// One page of the repositories `caller` may pull. Pages of the whole catalog are read
/// until `n` visible names are found or the catalog ends, so a page is as full as `n`
/// allows and its `Link` leads to more only when more visible names follow.
async fn visible_catalog(
    registry: &Registry,
    caller: &Caller,
    n: Option<usize>,
    last: Option<&str>,
) -> RegistryResult<Listing> {
    let want = n.unwrap_or(MAX_PAGE).min(MAX_PAGE);
    let mut items = Vec::new();
    if want == 0 {
        return Ok(Listing { items, next_n: None });
    }
    let mut cursor = last.map(str::to_string);
    let mut full = false;
    loop {
        let page = registry.catalog(Some(want), cursor.as_deref()).await?;
        for name in page.items {
            let visible = visible(caller, &name).await;
            cursor = Some(name.clone());
            if visible && full {
                return Ok(Listing {
                    items,
                    next_n: Some(want),
                });
            }
            if visible {
                items.push(name);
                full = items.len() == want;
            }
        }
        if page.next_n.is_none() {
            return Ok(Listing { items, next_n: None });
        }
    }
}

async fn visible(caller: &Caller, name: &str) -> bool {
    match name.parse::<RepositoryName>() {
        Ok(name) => caller.may_list(&name).await,
        Err(_) => false,
    }
}

pub async fn referrers(
    registry: &Registry,
    name: &RepositoryName,
    digest: &Digest,
    query: &Query,
) -> RegistryResult<Response> {
    let artifact_type = query.get("artifactType").filter(|t| !t.is_empty());
    let found = registry.referrers(name, digest, artifact_type).await?;
    let mut manifests: Vec<Value> = found
        .into_iter()
        .map(|m| {
            let mut d = Map::new();
            d.insert("mediaType".into(), json!(m.media_type));
            d.insert("digest".into(), json!(m.digest.to_string()));
            d.insert("size".into(), json!(m.size));
            if let Some(t) = m.artifact_type {
                d.insert("artifactType".into(), json!(t));
            }
            if let Some(a) = m.annotations {
                d.insert("annotations".into(), json!(a));
            }
            Value::Object(d)
        })
        .collect();
    if let Some(upstream) = registry.upstream_referrers(name, digest).await {
        let stored: std::collections::HashSet<String> = manifests.iter().map(|d| d["digest"].to_string()).collect();
        manifests.extend(upstream.into_iter().filter(|d| {
            !stored.contains(&d["digest"].to_string()) && artifact_type.is_none_or(|t| d["artifactType"] == t)
        }));
    }
    let body = json!({ "schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": manifests });
    let mut response = (StatusCode::OK, [(header::CONTENT_TYPE, OCI_INDEX)], body.to_string()).into_response();
    if artifact_type.is_some() {
        response
            .headers_mut()
            .insert(OCI_FILTERS_APPLIED, http::HeaderValue::from_static("artifactType"));
    }
    Ok(response)
}
