//! `wharf push REF FILE[:MEDIATYPE]…`: files as an artifact, the way oras pushes them.

use super::exit::{Failure, Outcome};
use super::files::{self, FileLayer};
use super::output::size;
use super::setup::{Context, Session};
use crate::cli::PushArgs;
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use wharf_client::document::EMPTY_JSON;
use wharf_client::image::artifact_manifest;
use wharf_client::{BlobSource, BytesSource, Descriptor, Digest, Manifest, Repository, Tag};

pub async fn run(ctx: &Context, args: PushArgs) -> Outcome {
    let reference = files::reference(&args.reference)?;
    if reference.digest.is_some() {
        return Err(Failure::usage(format!(
            "{}: push names a tag, not a digest (the digest is what the push makes)",
            args.reference
        )));
    }
    let tag = reference.tag.clone().unwrap_or_else(latest);
    let annotations = files::annotations(&args.annotations)?;
    let layers = files::file_layers(&args.files, ctx.global.concurrency as usize).await?;
    let session = ctx.session(&[reference.registry()])?;
    let artifact = Artifact {
        artifact_type: args.artifact_type.as_deref(),
        layers: &layers,
        annotations,
        subject: None,
    };
    let manifest = artifact
        .push(&session, &reference.repository, std::slice::from_ref(&tag))
        .await?;
    let pushed = format!("{}:{tag}", reference.repository);
    let total: u64 = layers.iter().map(|l| l.descriptor.size).sum();
    ctx.out.emit(
        json!({
            "reference": pushed,
            "digest": manifest.digest.to_string(),
            "mediaType": manifest.media_type,
            "size": manifest.bytes.len(),
            "artifactType": artifact_type_of(&manifest),
            "layers": layers.iter().map(FileLayer::to_json).collect::<Vec<_>>(),
        }),
        || {
            format!(
                "Pushed {pushed} ({} file{}, {})\nDigest: {}",
                layers.len(),
                if layers.len() == 1 { "" } else { "s" },
                size(total),
                manifest.digest
            )
        },
    );
    Ok(())
}

/// An artifact to push: files as layers under the empty config.
pub struct Artifact<'a> {
    pub artifact_type: Option<&'a str>,
    pub layers: &'a [FileLayer],
    pub annotations: BTreeMap<String, String>,
    pub subject: Option<Descriptor>,
}

impl Artifact<'_> {
    /// Pushes the blobs (each digest once) and the manifest under `tags` (by digest,
    /// through the referrers fallback where needed, when there are none).
    pub async fn push(&self, session: &Session, repo: &Repository, tags: &[Tag]) -> Outcome<Manifest> {
        let mut descriptors: Vec<Descriptor> = self.layers.iter().map(|l| l.descriptor.clone()).collect();
        if descriptors.is_empty() {
            // The image spec's advice for an artifact without files: one empty layer.
            descriptors.push(Descriptor::empty_config());
        }
        let manifest = artifact_manifest(
            self.artifact_type,
            None,
            descriptors,
            self.annotations.clone(),
            self.subject.clone(),
        );
        let mut seen: HashSet<Digest> = HashSet::new();
        let mut sources: Vec<Arc<dyn BlobSource>> = Vec::new();
        let config = BytesSource::new(EMPTY_JSON);
        session.label(config.digest(), "config");
        seen.insert(config.digest().clone());
        sources.push(Arc::new(config));
        for layer in self.layers {
            session.label(&layer.descriptor.digest, layer.title());
            if seen.insert(layer.descriptor.digest.clone()) {
                sources.push(Arc::new(layer.source.clone()));
            }
        }
        session.client.push_image(repo, &manifest, sources, tags).await?;
        Ok(manifest)
    }
}

/// The `artifactType` the pushed manifest carries.
pub fn artifact_type_of(manifest: &Manifest) -> Value {
    serde_json::from_slice::<Value>(&manifest.bytes)
        .ok()
        .and_then(|v| v.get("artifactType").cloned())
        .unwrap_or(Value::Null)
}

pub fn latest() -> Tag {
    "latest".parse().expect("latest is a valid tag")
}
