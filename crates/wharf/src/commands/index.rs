//! `wharf index create REF --manifest CHILD… [--platform P…] [--docker]`: a
//! multi-platform image made of manifests already in the repository.

use super::exit::{Failure, Outcome};
use super::files;
use super::setup::Context;
use crate::cli::{IndexCommand, IndexCreateArgs};
use serde_json::json;
use wharf_client::{Digest, ImageReference, IndexChild, Platform, Reference, Tag};

pub async fn run(ctx: &Context, command: IndexCommand) -> Outcome {
    match command {
        IndexCommand::Create(args) => create(ctx, args).await,
    }
}

async fn create(ctx: &Context, args: IndexCreateArgs) -> Outcome {
    let target = files::reference(&args.reference)?;
    if target.digest.is_some() {
        return Err(Failure::usage(format!(
            "{}: the index's digest is not known before it is built; name a tag",
            args.reference
        )));
    }
    if !args.platforms.is_empty() && args.platforms.len() != args.manifests.len() {
        return Err(Failure::usage(format!(
            "{} --platform for {} --manifest: give one per manifest, in order, or none",
            args.platforms.len(),
            args.manifests.len()
        )));
    }
    let platforms = args
        .platforms
        .iter()
        .map(|p| files::platform(p).map(Some))
        .collect::<Outcome<Vec<Option<Platform>>>>()?;
    let children = args
        .manifests
        .iter()
        .enumerate()
        .map(|(i, m)| {
            Ok(IndexChild {
                reference: child_reference(&target, m)?,
                platform: platforms.get(i).cloned().flatten(),
            })
        })
        .collect::<Outcome<Vec<IndexChild>>>()?;
    let annotations = files::annotations(&args.annotations)?;
    let session = ctx.session(&[target.registry()])?;
    let repo = &target.repository;
    let index = session
        .client
        .build_index(repo, &children, args.docker, annotations)
        .await?;
    let tag = target
        .tag
        .clone()
        .unwrap_or_else(|| "latest".parse().expect("latest is a tag"));
    let digest = session
        .client
        .push_index(repo, &index, std::slice::from_ref(&tag))
        .await?;
    let parsed: wharf_client::ImageIndex = serde_json::from_slice(&index.bytes).expect("built just now");
    let platforms: Vec<String> = parsed
        .manifests
        .iter()
        .map(|d| d.platform.as_ref().map(|p| p.to_string()).unwrap_or_else(|| "-".into()))
        .collect();
    ctx.out.emit(
        json!({
            "reference": format!("{repo}:{tag}"),
            "digest": digest.to_string(),
            "mediaType": index.media_type,
            "manifests": parsed.manifests,
        }),
        || format!("{digest}\n  {} manifests: {}", platforms.len(), platforms.join(", ")),
    );
    Ok(())
}

/// A child named by a whole reference (in the index's repository), a tag or a digest.
fn child_reference(target: &ImageReference, input: &str) -> Outcome<Reference> {
    if let Ok(digest) = input.parse::<Digest>() {
        return Ok(Reference::Digest(digest));
    }
    if let Ok(tag) = input.parse::<Tag>() {
        return Ok(Reference::Tag(tag));
    }
    let reference = files::reference(input)?;
    if reference.repository != target.repository {
        return Err(Failure::usage(format!(
            "{input}: an index lists manifests of its own repository {}; copy it there first (wharf copy)",
            target.repository
        )));
    }
    Ok(reference.reference())
}
