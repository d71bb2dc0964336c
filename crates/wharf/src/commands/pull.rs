//! `wharf pull REF [-o DIR]`: an artifact's (or image's) layers as files. Titled
//! layers become `DIR/<title>`, the others `DIR/<algorithm>-<hex>`; each is verified
//! against its digest and moved into place only then.

use super::exit::{Failure, Outcome};
use super::files;
use super::output::size;
use super::setup::{Context, Session};
use crate::cli::PullArgs;
use futures::{StreamExt, TryStreamExt};
use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::path::PathBuf;
use wharf_client::image::TITLE_ANNOTATION;
use wharf_client::{Descriptor, ImageIndex, ImageManifest, Manifest, Platform, Reference, Repository};

pub async fn run(ctx: &Context, args: PullArgs) -> Outcome {
    let reference = files::reference(&args.reference)?;
    let wanted = args.platform.as_deref().map(files::platform).transpose()?;
    let mirrors = super::mirrors::for_pull(&args.mirrors, &reference)?;
    let mut registries: Vec<&str> = mirrors.iter().map(|m| m.registry.as_str()).collect();
    registries.push(reference.registry());
    let session = ctx.session(&registries)?;
    let (source, top) = first_answering(&session, &mirrors, &reference).await?;
    let repo = &source;
    let (manifest, platform) = if top.is_index() {
        let (m, p) = select_child(&session, repo, &top, wanted.as_ref(), &reference.to_string()).await?;
        (m, Some(p))
    } else {
        (top, None)
    };
    let image: ImageManifest = serde_json::from_slice(&manifest.bytes)
        .map_err(|e| Failure::other(format!("{reference}: not an image manifest: {e}")))?;

    // Every name is checked before anything is written.
    let mut planned: Vec<(Descriptor, PathBuf, Option<String>)> = Vec::new();
    let mut skipped = Vec::new();
    let mut names = BTreeSet::new();
    for layer in &image.layers {
        if layer.is_external() {
            skipped.push(json!({
                "digest": layer.digest.to_string(),
                "reason": "external layer (fetched from its URLs, not the registry)",
            }));
            continue;
        }
        let title = layer.annotations.get(TITLE_ANNOTATION);
        let name = match title {
            Some(t) => files::safe_title(t).map_err(Failure::other)?.to_string(),
            None => format!("{}-{}", layer.digest.algorithm(), layer.digest.hex()),
        };
        if !names.insert(name.clone()) {
            if title.is_none() {
                continue; // the same untitled blob twice: one file holds it
            }
            return Err(Failure::other(format!("{reference}: two layers are titled {name:?}")));
        }
        session.label(&layer.digest, &name);
        planned.push((layer.clone(), args.output.join(&name), title.cloned()));
    }
    tokio::fs::create_dir_all(&args.output)
        .await
        .map_err(|e| Failure::other(format!("cannot create {}: {e}", args.output.display())))?;
    let client = &session.client;
    let origin = &reference.repository;
    let written: Vec<Value> = futures::stream::iter(planned)
        .map(|(layer, path, title)| async move {
            let (n, from) = pull_layer(client, repo, origin, &layer, &path).await?;
            Ok::<_, Failure>(json!({
                "path": path.display().to_string(),
                "title": title,
                "mediaType": layer.media_type,
                "digest": layer.digest.to_string(),
                "size": n,
                "source": from,
            }))
        })
        .buffered(ctx.global.concurrency as usize)
        .try_collect()
        .await?;

    ctx.out.emit(
        json!({
            "reference": reference.to_string(),
            "source": source.registry,
            "digest": manifest.digest.to_string(),
            "mediaType": manifest.media_type,
            "artifactType": image.artifact_type,
            "platform": platform.as_ref().map(|p| p.to_string()),
            "directory": args.output.display().to_string(),
            "files": written,
            "skipped": skipped,
        }),
        || {
            let mut text = format!("Pulled {reference} ({})", manifest.digest);
            if source.registry != reference.registry() {
                text.push_str(&format!(" from the mirror {}", source.registry));
            }
            if let Some(p) = &platform {
                text.push_str(&format!(" for {p}"));
            }
            for file in &written {
                text.push_str(&format!(
                    "\n  {}  {}",
                    file["path"].as_str().unwrap_or_default(),
                    size(file["size"].as_u64().unwrap_or(0))
                ));
            }
            for s in &skipped {
                text.push_str(&format!(
                    "\n  skipped {}: {}",
                    s["digest"].as_str().unwrap_or_default(),
                    s["reason"].as_str().unwrap_or_default()
                ));
            }
            text
        },
    );
    Ok(())
}

/// One layer into `path`, from `repo` (a mirror or the origin); a mirror that lacks it,
/// refuses it, or breaks off midway (after its retries) is passed over for the origin,
/// which continues the partial download where the bytes are still good (the blob is
/// the same by its digest wherever it comes from). Returns the size and the registry
/// that served it.
async fn pull_layer(
    client: &wharf_client::Client,
    repo: &Repository,
    origin: &Repository,
    layer: &Descriptor,
    path: &std::path::Path,
) -> Outcome<(u64, String)> {
    let from_mirror = client
        .pull_blob_to_file(repo, &layer.digest, Some(layer.size), path)
        .await;
    match from_mirror {
        Ok(n) => Ok((n, repo.registry.clone())),
        Err(e) if repo.registry != origin.registry => {
            tracing::warn!(mirror = %repo.registry, digest = %layer.digest, error = %e, "the mirror failed for a blob; pulling it from the origin");
            let n = client
                .pull_blob_to_file(origin, &layer.digest, Some(layer.size), path)
                .await?;
            Ok((n, origin.registry.clone()))
        }
        Err(e) => Err(e.into()),
    }
}

/// The repository to pull from and REF's manifest there: the first mirror (see
/// [`super::mirrors`]) that has it, else the origin. A mirror that fails in any way (down,
/// refusing, without the image) is passed over, as containers' registries.conf does; the
/// blobs then come from where the manifest came from, each from the origin where that
/// mirror fails for it ([`pull_layer`]).
async fn first_answering(
    session: &Session,
    mirrors: &[Repository],
    reference: &wharf_client::ImageReference,
) -> Outcome<(Repository, Manifest)> {
    // A mirror is asked once: a mirror that is down costs no backoff before the origin.
    let once = session.client.with_retries(wharf_client::RetryPolicy {
        max_attempts: 1,
        ..wharf_client::RetryPolicy::default()
    });
    for mirror in mirrors {
        match once.get_manifest(mirror, &reference.reference()).await {
            Ok(manifest) => return Ok((mirror.clone(), manifest)),
            Err(e) => tracing::info!(mirror = %mirror, error = %e, "mirror passed over"),
        }
    }
    let repo = reference.repository.clone();
    let manifest = session.client.get_manifest(&repo, &reference.reference()).await?;
    Ok((repo, manifest))
}

/// The image of an index for `wanted` (the host's platform by default), verified
/// against the index's descriptor. An index of one image gives that image.
pub async fn select_child(
    session: &Session,
    repo: &Repository,
    index: &Manifest,
    wanted: Option<&Platform>,
    name: &str,
) -> Outcome<(Manifest, Platform)> {
    let parsed: ImageIndex = serde_json::from_slice(&index.bytes)
        .map_err(|e| Failure::other(format!("{name}: not a valid image index: {e}")))?;
    let wanted = wanted.cloned().unwrap_or_else(Platform::host);
    let child = parsed.choose(&wanted).cloned().map_err(|available| {
        Failure::not_found(format!(
            "{name} has no image for {wanted} (it has: {}); choose one with --platform",
            available.join(", ")
        ))
    })?;
    let manifest = session
        .client
        .get_manifest(repo, &Reference::Digest(child.digest.clone()))
        .await?;
    if manifest.bytes.len() as u64 != child.size {
        return Err(Failure::new(
            super::exit::Exit::Integrity,
            format!(
                "{name}: manifest {} has {} bytes, the index says {}",
                child.digest,
                manifest.bytes.len(),
                child.size
            ),
        ));
    }
    let platform = child.platform.clone().unwrap_or(wanted);
    Ok((manifest, platform))
}
