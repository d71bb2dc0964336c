//! `wharf tags REPO`: every tag, following the registry's pages to the end.

use super::exit::{Failure, Outcome};
use super::files;
use super::setup::Context;
use crate::cli::TagsArgs;
use serde_json::json;

pub async fn run(ctx: &Context, args: TagsArgs) -> Outcome {
    let reference = files::reference(&args.repository)?;
    if !reference.is_bare() {
        return Err(Failure::usage(format!(
            "{}: tags takes a repository, without :TAG or @DIGEST",
            args.repository
        )));
    }
    let session = ctx.session(&[reference.registry()])?;
    let repo = &reference.repository;
    let tags = session.client.list_tags(repo, args.page_size).await?;
    ctx.out
        .emit(json!({ "repository": repo.to_string(), "tags": tags }), || {
            tags.join("\n")
        });
    Ok(())
}
