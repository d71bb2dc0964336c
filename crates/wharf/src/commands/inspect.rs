//! `wharf inspect REF`: what a manifest or index holds and how big it all is;
//! `--raw` prints the manifest's exact bytes.

use super::exit::Outcome;
use super::files;
use super::output::size;
use super::setup::Context;
use crate::cli::InspectArgs;
use futures::StreamExt;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use wharf_client::{Client, Descriptor, ImageIndex, ImageManifest, Manifest, Reference, Repository};

pub async fn run(ctx: &Context, args: InspectArgs) -> Outcome {
    let reference = files::reference(&args.reference)?;
    let session = ctx.session(&[reference.registry()])?;
    let repo = &reference.repository;
    let manifest = session.client.get_manifest(repo, &reference.reference()).await?;
    if args.raw {
        ctx.out.raw(&manifest.bytes);
        return Ok(());
    }
    let name = reference.to_string();
    let mut doc = json!({
        "reference": name,
        "mediaType": manifest.media_type,
        "digest": manifest.digest.to_string(),
        "size": manifest.bytes.len(),
    });
    let mut text = vec![
        ("Reference", name.clone()),
        ("Media type", manifest.media_type.clone()),
        ("Digest", manifest.digest.to_string()),
    ];
    let mut lines = Vec::new();
    let (artifact_type, subject, annotations, total) = if manifest.is_index() {
        match serde_json::from_slice::<ImageIndex>(&manifest.bytes) {
            Ok(index) => {
                let children = child_totals(&session.client, repo, &index, ctx.global.concurrency as usize).await;
                let total = manifest.bytes.len() as u64 + children.iter().map(|(_, t)| t.unwrap_or(0)).sum::<u64>();
                doc["manifests"] = Value::Array(
                    children
                        .iter()
                        .map(|(d, t)| {
                            let mut v = serde_json::to_value(d).expect("descriptors serialise");
                            v["totalSize"] = json!(t);
                            v
                        })
                        .collect(),
                );
                lines.push(format!("Manifests ({}):", children.len()));
                for (d, t) in &children {
                    let platform = d.platform.as_ref().map(|p| p.to_string()).unwrap_or_else(|| "-".into());
                    let total = t.map(|t| format!(", {} in all", size(t))).unwrap_or_default();
                    lines.push(format!(
                        "  {platform:<16} {}  {}{total}  {}",
                        d.digest,
                        size(d.size),
                        d.artifact_type.as_deref().unwrap_or(&d.media_type)
                    ));
                }
                (index.artifact_type, index.subject, index.annotations, Some(total))
            }
            Err(_) => (None, None, BTreeMap::new(), None),
        }
    } else {
        match serde_json::from_slice::<ImageManifest>(&manifest.bytes) {
            Ok(image) => {
                let total = image_total(&manifest, &image);
                doc["config"] = serde_json::to_value(&image.config).expect("descriptors serialise");
                doc["layers"] = serde_json::to_value(&image.layers).expect("descriptors serialise");
                lines.push(format!(
                    "Config:\n  {}  {}  {}",
                    image.config.digest,
                    size(image.config.size),
                    image.config.media_type
                ));
                lines.push(format!("Layers ({}):", image.layers.len()));
                for l in &image.layers {
                    let title = l
                        .annotations
                        .get(wharf_client::image::TITLE_ANNOTATION)
                        .map(|t| format!("  {t}"))
                        .unwrap_or_default();
                    lines.push(format!("  {}  {}  {}{title}", l.digest, size(l.size), l.media_type));
                }
                (image.artifact_type, image.subject, image.annotations, Some(total))
            }
            // Another format (Docker schema 1, …): what it is, not what it holds.
            Err(_) => (None, None, BTreeMap::new(), None),
        }
    };
    doc["totalSize"] = json!(total);
    if let Some(t) = &artifact_type {
        doc["artifactType"] = json!(t);
        text.push(("Artifact type", t.clone()));
    }
    text.push(("Manifest size", size(manifest.bytes.len() as u64)));
    if let Some(t) = total {
        text.push(("Total size", format!("{} ({t} bytes)", size(t))));
    }
    if let Some(s) = &subject {
        doc["subject"] = serde_json::to_value(s).expect("descriptors serialise");
        text.push(("Subject", format!("{} ({})", s.digest, s.media_type)));
    }
    doc["annotations"] = json!(annotations);
    if !annotations.is_empty() {
        lines.push("Annotations:".into());
        lines.extend(annotations.iter().map(|(k, v)| format!("  {k}={v}")));
    }
    ctx.out.emit(doc, || {
        let mut out: Vec<String> = text
            .iter()
            .map(|(k, v)| format!("{:<15} {v}", format!("{k}:")))
            .collect();
        out.extend(lines);
        out.join("\n")
    });
    Ok(())
}

/// The manifest, its config and its layers in bytes.
fn image_total(manifest: &Manifest, image: &ImageManifest) -> u64 {
    manifest.bytes.len() as u64 + image.config.size + image.layers.iter().map(|l| l.size).sum::<u64>()
}

/// Each child of an index with the size of all it consists of (`None` for one that
/// cannot be read, or is itself an index).
async fn child_totals(
    client: &Client,
    repo: &Repository,
    index: &ImageIndex,
    concurrency: usize,
) -> Vec<(Descriptor, Option<u64>)> {
    futures::stream::iter(index.manifests.clone())
        .map(|d| async move {
            let total = match client.get_manifest(repo, &Reference::Digest(d.digest.clone())).await {
                Ok(m) if !m.is_index() => serde_json::from_slice::<ImageManifest>(&m.bytes)
                    .ok()
                    .map(|image| image_total(&m, &image)),
                _ => None,
            };
            (d, total)
        })
        .buffered(concurrency.max(1))
        .collect()
        .await
}
