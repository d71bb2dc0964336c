//! `wharf tag REF NEWTAG…`: more tags on a manifest; only its bytes are sent again.

use super::exit::{Failure, Outcome};
use super::files;
use super::setup::Context;
use crate::cli::TagArgs;
use serde_json::json;
use wharf_client::{ImageReference, Tag};

pub async fn run(ctx: &Context, args: TagArgs) -> Outcome {
    let reference = files::reference(&args.reference)?;
    let tags = args
        .tags
        .iter()
        .map(|t| new_tag(&reference, t))
        .collect::<Outcome<Vec<Tag>>>()?;
    let session = ctx.session(&[reference.registry()])?;
    let repo = &reference.repository;
    let digest = session.client.tag(repo, &reference.reference(), &tags).await?;
    let names: Vec<String> = tags.iter().map(|t| format!("{repo}:{t}")).collect();
    ctx.out.emit(
        json!({
            "repository": repo.to_string(),
            "source": reference.to_string(),
            "digest": digest.to_string(),
            "tags": tags.iter().map(|t| t.as_str()).collect::<Vec<_>>(),
        }),
        || format!("Tagged {digest} as {}", names.join(", ")),
    );
    Ok(())
}

/// A tag, or a whole reference in the same repository whose tag is taken.
fn new_tag(source: &ImageReference, input: &str) -> Outcome<Tag> {
    if let Ok(tag) = input.parse::<Tag>() {
        return Ok(tag);
    }
    match input.parse::<ImageReference>() {
        Ok(r) if r.repository == source.repository && r.digest.is_none() && r.tag.is_some() => {
            Ok(r.tag.expect("checked"))
        }
        Ok(r) if r.repository != source.repository => Err(Failure::usage(format!(
            "{input}: tag adds tags in {} only; to put the image elsewhere use wharf copy",
            source.repository
        ))),
        _ => Err(Failure::usage(format!(
            "invalid tag {input:?}: up to 128 of [A-Za-z0-9_.-], not starting with . or -"
        ))),
    }
}
