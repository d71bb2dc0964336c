//! `wharf sign REF --key KEY`: a cosign-compatible signature of REF's manifest (the
//! simple-signing payload, signed with an ECDSA P-256 key), attached as its referrer.

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
    let digest = if args.tag_scheme {
        session
            .client
            .attach_signature_by_tag(repo, &subject, &payload, &signature)
            .await?
    } else {
        session
            .client
            .attach_signature(repo, &subject, &payload, &signature)
            .await?
    };
    let signed = Reference::Digest(subject.digest.clone());
    ctx.out.emit(
        json!({ "subject": format!("{repo}@{signed}"), "signature": digest.to_string(), "payloadSignature": signature }),
        || format!("Signed {repo}@{signed}\nSignature manifest {digest}"),
    );
    Ok(())
}
