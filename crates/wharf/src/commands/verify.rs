//! `wharf verify REF --key PUB.pem`: checks REF's cosign-style signatures (referrers and
//! cosign's `sha256-<hex>.sig` tag) and prints who signed what; exit code 5 (integrity)
//! when none verifies.

use super::exit::{Exit, Failure, Outcome};
use super::files;
use super::setup::Context;
use crate::cli::VerifyArgs;
use serde_json::json;

pub async fn run(ctx: &Context, args: VerifyArgs) -> Outcome {
    let reference = files::reference(&args.reference)?;
    let key = std::fs::read_to_string(&args.key)
        .map_err(|e| Failure::other(format!("cannot read the key {}: {e}", args.key.display())))?;
    let session = ctx.session(&[reference.registry()])?;
    let repo = &reference.repository;
    let subject = super::referrers::subject(&session, &reference).await?;
    let checked = session
        .client
        .check_signatures(repo, &subject.digest, &key)
        .await
        .map_err(|e| match e {
            wharf_client::Error::Invalid(m) => Failure::usage(format!("{}: {m}", args.key.display())),
            other => Failure::from(other),
        })?;
    let valid = checked.iter().filter(|c| c.outcome.is_ok()).count();
    if valid == 0 {
        let why = match checked.first() {
            None => "it has no signatures".to_string(),
            Some(c) => format!(
                "{} signature(s), none verifies with the key ({})",
                checked.len(),
                c.outcome.as_ref().err().map(String::as_str).unwrap_or("")
            ),
        };
        return Err(Failure::new(
            Exit::Integrity,
            format!("{repo}@{}: no valid signature: {why}", subject.digest),
        ));
    }
    let rows: Vec<_> = checked
        .iter()
        .map(|c| {
            json!({
                "source": c.source,
                "signatureManifest": c.manifest.to_string(),
                "identity": c.identity,
                "valid": c.outcome.is_ok(),
                "error": c.outcome.as_ref().err(),
            })
        })
        .collect();
    ctx.out.emit(
        json!({ "subject": format!("{repo}@{}", subject.digest), "valid": valid, "signatures": rows }),
        || {
            let mut lines = vec![format!("{repo}@{}: {valid} valid signature(s)", subject.digest)];
            for c in &checked {
                let identity = c.identity.as_deref().unwrap_or("-");
                match &c.outcome {
                    Ok(()) => lines.push(format!("  valid    {identity} ({} {})", c.source, c.manifest)),
                    Err(e) => lines.push(format!("  INVALID  {identity} ({} {}): {e}", c.source, c.manifest)),
                }
            }
            lines.join("\n")
        },
    );
    Ok(())
}
