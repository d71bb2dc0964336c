//! `wharf referrers REF`: the manifests whose subject is REF's manifest.

use super::exit::{Failure, Outcome};
use super::files;
use super::output::size;
use super::setup::{Context, Session};
use crate::cli::ReferrersArgs;
use serde_json::json;
use wharf_client::{Descriptor, Digest, ImageReference};

pub async fn run(ctx: &Context, args: ReferrersArgs) -> Outcome {
    let reference = files::reference(&args.reference)?;
    let session = ctx.session(&[reference.registry()])?;
    let repo = &reference.repository;
    let subject = resolve(&session, &reference).await?;
    let list = session
        .client
        .referrers(repo, &subject, args.artifact_type.as_deref())
        .await?;
    ctx.out.emit(
        json!({
            "subject": { "reference": reference.to_string(), "digest": subject.to_string() },
            "artifactType": args.artifact_type,
            "referrers": list,
        }),
        || {
            if list.is_empty() {
                return format!("No referrers of {repo}@{subject}");
            }
            let mut text = format!("Referrers of {repo}@{subject}:");
            for d in &list {
                text.push_str(&format!(
                    "\n  {}  {}  {}",
                    d.digest,
                    d.artifact_type.as_deref().unwrap_or("-"),
                    size(d.size)
                ));
                for (k, v) in &d.annotations {
                    text.push_str(&format!("\n      {k}={v}"));
                }
            }
            text
        },
    );
    Ok(())
}

/// The digest a reference names: its own, or what its tag resolves to now.
pub async fn resolve(session: &Session, reference: &ImageReference) -> Outcome<Digest> {
    if let Some(d) = &reference.digest {
        return Ok(d.clone());
    }
    Ok(subject(session, reference).await?.digest)
}

/// The descriptor of the manifest a reference names, as a referrer's `subject`.
pub async fn subject(session: &Session, reference: &ImageReference) -> Outcome<Descriptor> {
    session
        .client
        .head_manifest(&reference.repository, &reference.reference())
        .await?
        .ok_or_else(|| Failure::not_found(format!("{reference}: no such manifest")))
}
