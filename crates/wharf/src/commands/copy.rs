//! `wharf copy SRC DST`: an image or index from a registry or an OCI layout directory
//! to another, manifests byte for byte (digests kept), blobs streamed, skipped when the
//! destination has them and mounted within one registry.

use super::exit::{Exit, Failure, Outcome};
use super::files;
use super::output::size;
use super::setup::Context;
use crate::cli::CopyArgs;
use serde_json::json;
use wharf_client::copy::{copy_image, CopyOptions, Store};
use wharf_client::layout::{is_valid_ref_name, LayoutError, OciLayout};
use wharf_client::{Client, ImageLocation, Reference, Tag};

pub async fn run(ctx: &Context, args: CopyArgs) -> Outcome {
    let source = location(&args.source)?;
    let destination = location(&args.destination)?;
    let platform = args.platform.as_deref().map(files::platform).transpose()?;
    if let ImageLocation::Registry(r) = &destination {
        if r.digest.is_some() {
            return Err(Failure::usage(format!(
                "{}: the destination takes a tag or none, not a digest (the copy keeps the source's digest)",
                args.destination
            )));
        }
    }
    let registries: Vec<&str> = [&source, &destination]
        .into_iter()
        .filter_map(|l| match l {
            ImageLocation::Registry(r) => Some(r.registry()),
            ImageLocation::Layout { .. } => None,
        })
        .collect();
    let session = ctx.session(&registries)?;
    let client = &session.client;

    // What to read, and the tag it goes by (which the destination takes by default).
    let (from, reference, source_tag) = match &source {
        ImageLocation::Registry(r) => {
            let tag = match (&r.tag, &r.digest) {
                (Some(t), _) => Some(t.to_string()),
                (None, Some(_)) => None,
                (None, None) => Some("latest".to_string()),
            };
            let store = Store::Registry {
                client: client.clone(),
                repository: r.repository.clone(),
            };
            (store, Some(r.reference()), tag)
        }
        ImageLocation::Layout { path, tag } => {
            let layout = OciLayout::open(path).await.map_err(layout_failure)?;
            let reference = match tag {
                Some(t) => Some(Reference::Tag(t.parse::<Tag>().map_err(|e| {
                    Failure::usage(format!("{}: {t:?} cannot be read as a tag: {e}", args.source))
                })?)),
                None => None,
            };
            (store_of(layout, client), reference, tag.clone())
        }
    };
    let (to, tag, shown) = match &destination {
        ImageLocation::Registry(r) => {
            let tag = r.tag.as_ref().map(|t| t.to_string()).or(source_tag);
            if let Some(t) = &tag {
                t.parse::<Tag>()
                    .map_err(|e| Failure::usage(format!("{t:?} (the source's tag) cannot be a registry tag: {e}")))?;
            }
            let store = Store::Registry {
                client: client.clone(),
                repository: r.repository.clone(),
            };
            (store, tag, r.repository.to_string())
        }
        ImageLocation::Layout { path, tag } => {
            let tag = tag.clone().or(source_tag);
            if let Some(t) = &tag {
                if !is_valid_ref_name(t) {
                    return Err(Failure::usage(format!(
                        "{t:?} is not a valid ref name for an OCI layout"
                    )));
                }
            }
            let layout = OciLayout::create(path).await.map_err(layout_failure)?;
            (store_of(layout, client), tag, format!("oci:{}", path.display()))
        }
    };
    let options = CopyOptions {
        all_platforms: args.all_platforms,
        platform,
        concurrency: ctx.global.concurrency as usize,
    };
    let report = copy_image(&from, reference.as_ref(), &to, tag.as_deref(), &options).await?;
    let digest = report.digest.as_ref().map(|d| d.to_string()).unwrap_or_default();
    let copied_to = match &tag {
        Some(t) => format!("{shown}:{t}"),
        None => format!("{shown}@{digest}"),
    };
    ctx.out.emit(
        json!({
            "source": source.to_string(),
            "destination": copied_to,
            "digest": digest,
            "mediaType": report.media_type,
            "manifests": report.manifests,
            "blobsCopied": report.blobs_copied,
            "blobsSkipped": report.blobs_skipped,
            "bytesCopied": report.bytes_copied,
        }),
        || {
            format!(
                "Copied {source} to {copied_to}\nDigest: {digest}\n{} manifest{}, {} blob{} copied ({}), {} already there",
                report.manifests,
                plural(report.manifests),
                report.blobs_copied,
                plural(report.blobs_copied),
                size(report.bytes_copied),
                report.blobs_skipped
            )
        },
    );
    Ok(())
}

fn location(input: &str) -> Outcome<ImageLocation> {
    input.parse().map_err(Failure::bad_argument)
}

fn store_of(layout: OciLayout, client: &Client) -> Store {
    Store::Layout {
        layout,
        client: client.clone(),
    }
}

fn layout_failure(e: LayoutError) -> Failure {
    let exit = match e {
        LayoutError::NotALayout { .. } | LayoutError::TagNotFound { .. } | LayoutError::Empty { .. } => Exit::NotFound,
        LayoutError::DigestMismatch { .. } | LayoutError::SizeMismatch { .. } => Exit::Integrity,
        _ => Exit::Failure,
    };
    Failure::new(exit, e.to_string())
}

fn plural(n: u64) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}
