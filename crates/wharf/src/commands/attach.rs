//! `wharf attach REF --artifact-type T FILE…`: an artifact whose `subject` is REF's
//! manifest, found afterwards with `wharf referrers REF`.

use super::exit::{Failure, Outcome};
use super::files::{self, FileLayer};
use super::push::Artifact;
use super::setup::Context;
use crate::cli::AttachArgs;
use serde_json::json;

pub async fn run(ctx: &Context, args: AttachArgs) -> Outcome {
    let reference = files::reference(&args.reference)?;
    let annotations = files::annotations(&args.annotations)?;
    if args.files.is_empty() && annotations.is_empty() {
        return Err(Failure::usage(
            "attach needs at least one file or --annotation to attach",
        ));
    }
    let layers = files::file_layers(&args.files, ctx.global.concurrency as usize).await?;
    let session = ctx.session(&[reference.registry()])?;
    let repo = &reference.repository;
    let subject = super::referrers::subject(&session, &reference).await?;
    let artifact = Artifact {
        artifact_type: Some(&args.artifact_type),
        layers: &layers,
        annotations,
        subject: Some(subject.clone()),
    };
    let manifest = artifact.push(&session, repo, &[]).await?;
    ctx.out.emit(
        json!({
            "reference": format!("{repo}@{}", manifest.digest),
            "digest": manifest.digest.to_string(),
            "mediaType": manifest.media_type,
            "size": manifest.bytes.len(),
            "artifactType": args.artifact_type,
            "subject": {
                "reference": reference.to_string(),
                "digest": subject.digest.to_string(),
                "mediaType": subject.media_type,
                "size": subject.size,
            },
            "layers": layers.iter().map(FileLayer::to_json).collect::<Vec<_>>(),
        }),
        || {
            format!(
                "Attached {} to {reference} ({})\nDigest: {}",
                args.artifact_type, subject.digest, manifest.digest
            )
        },
    );
    Ok(())
}
