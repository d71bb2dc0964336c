//! `wharf delete REF`: a manifest (by digest, or the one a tag names), a tag alone
//! (`--tag-only`) or a blob (`--blob REPO@DIGEST`).

use super::exit::{Failure, Outcome};
use super::files;
use super::setup::Context;
use crate::cli::DeleteArgs;
use serde_json::json;
use wharf_client::Reference;

pub async fn run(ctx: &Context, args: DeleteArgs) -> Outcome {
    let reference = files::reference(&args.reference)?;
    let repo = &reference.repository;
    if args.blob {
        let digest = match (&reference.digest, &reference.tag) {
            (Some(d), None) => d.clone(),
            _ => return Err(Failure::usage("--blob takes REPO@DIGEST (a blob has no tag)")),
        };
        let session = ctx.session(&[reference.registry()])?;
        session.client.delete_blob(repo, &digest).await?;
        ctx.out.emit(
            json!({ "deleted": "blob", "repository": repo.to_string(), "digest": digest.to_string() }),
            || format!("Deleted blob {digest} from {repo}"),
        );
        return Ok(());
    }
    if reference.is_bare() {
        return Err(Failure::usage(format!(
            "{}: say what to delete, REPO:TAG or REPO@DIGEST",
            args.reference
        )));
    }
    let session = ctx.session(&[reference.registry()])?;
    let client = &session.client;
    if args.tag_only {
        let tag = match (&reference.tag, &reference.digest) {
            (Some(t), None) => t.clone(),
            _ => return Err(Failure::usage("--tag-only takes REPO:TAG")),
        };
        client.delete_manifest(repo, &Reference::Tag(tag.clone())).await?;
        ctx.out.emit(
            json!({ "deleted": "tag", "repository": repo.to_string(), "tag": tag.as_str() }),
            || format!("Deleted tag {repo}:{tag}"),
        );
        return Ok(());
    }
    let digest = super::referrers::resolve(&session, &reference).await?;
    client.delete_manifest(repo, &Reference::Digest(digest.clone())).await?;
    ctx.out.emit(
        json!({
            "deleted": "manifest",
            "repository": repo.to_string(),
            "digest": digest.to_string(),
            "tag": reference.tag.as_ref().map(|t| t.as_str()),
        }),
        || match &reference.tag {
            Some(t) => format!("Deleted manifest {digest} ({repo}:{t}) from {repo}"),
            None => format!("Deleted manifest {digest} from {repo}"),
        },
    );
    Ok(())
}
