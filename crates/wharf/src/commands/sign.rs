//! `wharf sign REF --key KEY`: a cosign-compatible signature of REF's manifest (the
//! simple-signing payload, signed with an ECDSA P-256 key), attached as its referrer;
//! on a registry without the referrers API (where referrers live only under the
//! referrers tag schema, which cosign does not read), also under cosign's tag scheme
//! (`sha256-<hex>.sig`). `--tag-scheme` writes the tag scheme only.

use super::exit::{Failure, Outcome};
use super::files;
use super::setup::Context;
use crate::cli::SignArgs;
use serde_json::json;
use wharf_client::signature::{sign_payload, simple_signing_payload};
use wharf_client::Reference;

pub async fn run(ctx: &Context, args: SignArgs) -> Outcome {
    let reference = files::reference(&args.reference)?;
    let key = std::fs::read_to_string(&args.key)
        .map_err(|e| Failure::other(format!("cannot read the key {}: {e}", args.key.display())))?;
    let session = ctx.session(&[reference.registry()])?;
    let repo = &reference.repository;
    let subject = super::referrers::subject(&session, &reference).await?;
    let identity = reference.repository.to_string();
    let payload = simple_signing_payload(&identity, &subject.digest);
    let signature = sign_payload(&key, &payload).map_err(|e| Failure::usage(e.to_string()))?;
    let client = &session.client;
    let (digest, by_tag) = if args.tag_scheme {
        let digest = client
            .attach_signature_by_tag(repo, &subject, &payload, &signature)
            .await?;
        (digest.clone(), Some(digest))
    } else {
        let digest = client.attach_signature(repo, &subject, &payload, &signature).await?;
        let by_tag = if client.has_referrers_api(repo, &subject.digest).await? {
            None
        } else {
            Some(
                client
                    .attach_signature_by_tag(repo, &subject, &payload, &signature)
                    .await?,
            )
        };
        (digest, by_tag)
    };
    let signed = Reference::Digest(subject.digest.clone());
    let tag = wharf_client::verify::signature_tag(&subject.digest);
    ctx.out.emit(
        json!({
            "subject": format!("{repo}@{signed}"),
            "signature": digest.to_string(),
            "tagScheme": by_tag.as_ref().map(|d| json!({ "tag": tag.to_string(), "digest": d.to_string() })),
            "payloadSignature": signature,
        }),
        || {
            let mut text = format!("Signed {repo}@{signed}\nSignature manifest {digest}");
            if let Some(d) = &by_tag {
                text.push_str(&format!("\nUnder cosign's tag {repo}:{tag} ({d})"));
            }
            text
        },
    );
    Ok(())
}
