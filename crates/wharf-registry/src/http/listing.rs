//! Listings: tags (end-8), the catalog, and referrers (end-12).

use super::headers::{value, OCI_FILTERS_APPLIED};
use super::query::Query;
use crate::registry::{Listing, Registry, RegistryError, RegistryResult};
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
    let listing = registry.list_tags(name, n, last).await?;
    let link = next_link(&format!("/v2/{name}/tags/list"), &listing);
    Ok(json_response(
        &json!({ "name": name.as_str(), "tags": listing.items }),
        link,
    ))
}

pub async fn catalog(registry: &Registry, query: &Query) -> RegistryResult<Response> {
    let (n, last) = pagination(query)?;
    let listing = registry.catalog(n, last).await?;
    let link = next_link("/v2/_catalog", &listing);
    Ok(json_response(&json!({ "repositories": listing.items }), link))
}

pub async fn referrers(
    registry: &Registry,
    name: &RepositoryName,
    digest: &Digest,
    query: &Query,
) -> RegistryResult<Response> {
    let artifact_type = query.get("artifactType").filter(|t| !t.is_empty());
    let found = registry.referrers(name, digest, artifact_type).await?;
    let manifests: Vec<Value> = found
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
    let body = json!({ "schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": manifests });
    let mut response = (StatusCode::OK, [(header::CONTENT_TYPE, OCI_INDEX)], body.to_string()).into_response();
    if artifact_type.is_some() {
        response
            .headers_mut()
            .insert(OCI_FILTERS_APPLIED, http::HeaderValue::from_static("artifactType"));
    }
    Ok(response)
}
