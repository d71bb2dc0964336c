//! The two kinds of place an image can be copied from and to, behind one interface.

use crate::blobs::{BlobSource, FileSource, PushedHow, RemoteBlob};
use crate::client::Client;
use crate::document::Descriptor;
use crate::error::{Error, Result};
use crate::layout::{LayoutEntry, LayoutError, OciLayout};
use crate::manifests::{media_type_of, Manifest, MAX_MANIFEST_SIZE};
use crate::progress::{ProgressState, Reporter};
use crate::reference::Repository;
use futures::StreamExt;
use std::sync::Arc;
use tokio::io::AsyncWriteExt;
use wharf_oci::{Reference, Tag};

/// A repository of a registry, or an OCI image layout directory.
#[derive(Clone)]
pub enum Store {
    Registry { client: Client, repository: Repository },
    Layout { layout: OciLayout, client: Client },
}

impl Store {
    pub(crate) fn describe(&self, reference: Option<&Reference>) -> String {
        match (self, reference) {
            (Store::Registry { repository, .. }, Some(r)) => format!("{repository}:{r}"),
            (Store::Registry { repository, .. }, None) => format!("{repository}:latest"),
            (Store::Layout { layout, .. }, Some(r)) => format!("oci:{}:{r}", layout.root().display()),
            (Store::Layout { layout, .. }, None) => format!("oci:{}", layout.root().display()),
        }
    }

    /// The manifest a reference names: a tag or digest in a registry, a ref name (or
    /// the only image) in a layout.
    pub(crate) async fn get_manifest(&self, reference: Option<&Reference>) -> Result<Manifest> {
        match self {
            Store::Registry { client, repository } => {
                let latest = Reference::Tag("latest".parse::<Tag>().expect("latest is a tag"));
                client.get_manifest(repository, reference.unwrap_or(&latest)).await
            }
            Store::Layout { layout, .. } => {
                let descriptor = match reference {
                    Some(Reference::Digest(d)) => {
                        let bytes = layout
                            .read_blob(d, MAX_MANIFEST_SIZE as u64)
                            .await
                            .map_err(layout_error)?;
                        return Ok(Manifest {
                            media_type: media_type_of(None, &bytes),
                            digest: d.clone(),
                            bytes: bytes.into(),
                        });
                    }
                    Some(Reference::Tag(t)) => layout.resolve(Some(t.as_str())).await,
                    None => layout.resolve(None).await,
                }
                .map_err(layout_error)?;
                let bytes = layout
                    .read_blob(&descriptor.digest, MAX_MANIFEST_SIZE as u64)
                    .await
                    .map_err(layout_error)?;
                Ok(Manifest {
                    media_type: descriptor.media_type,
                    digest: descriptor.digest,
                    bytes: bytes.into(),
                })
            }
        }
    }

    /// A manifest an index lists, verified against the index's descriptor.
    pub(crate) async fn get_child_manifest(&self, child: &Descriptor) -> Result<Manifest> {
        let mut manifest = self
            .get_manifest(Some(&Reference::Digest(child.digest.clone())))
            .await?;
        if manifest.bytes.len() as u64 != child.size {
            return Err(Error::SizeMismatch {
                what: format!("manifest {}", child.digest),
                expected: child.size,
                actual: manifest.bytes.len() as u64,
            });
        }
        manifest.media_type = child.media_type.clone();
        Ok(manifest)
    }

    fn blob_source(&self, blob: &Descriptor) -> Arc<dyn BlobSource> {
        match self {
            Store::Registry { client, repository } => Arc::new(RemoteBlob::new(
                client.clone(),
                repository.clone(),
                blob.digest.clone(),
                blob.size,
            )),
            Store::Layout { layout, .. } => Arc::new(FileSource::with_digest(
                layout.blob_path(&blob.digest),
                blob.digest.clone(),
                blob.size,
            )),
        }
    }

    /// Copies one blob here from `from`; the bytes sent (0 when it was here already or
    /// was mounted).
    pub(crate) async fn put_blob(&self, from: &Store, blob: &Descriptor) -> Result<u64> {
        let source = from.blob_source(blob);
        match self {
            Store::Registry { client, repository } => {
                let mount_from = match from {
                    Store::Registry { repository: r, .. } if r.registry == repository.registry => Some(r),
                    _ => None,
                };
                let pushed = client.push_blob(repository, source.as_ref(), mount_from).await?;
                Ok(match pushed.how {
                    PushedHow::Uploaded => pushed.size,
                    PushedHow::Existed | PushedHow::Mounted => 0,
                })
            }
            Store::Layout { layout, client } => write_to_layout(client, layout, source.as_ref()).await,
        }
    }

    /// Stores a manifest, under `tag` when given; a top-level manifest without a tag is
    /// still listed in a layout's index (untagged), children only stored.
    pub(crate) async fn put_manifest(&self, manifest: &Manifest, tag: Option<&str>, top: bool) -> Result<()> {
        match self {
            Store::Registry { client, repository } => {
                let reference = match tag {
                    Some(t) => Reference::Tag(
                        t.parse()
                            .map_err(|e: wharf_oci::NameError| Error::Invalid(e.to_string()))?,
                    ),
                    None => Reference::Digest(manifest.digest.clone()),
                };
                client.put_manifest(repository, &reference, manifest).await?;
                Ok(())
            }
            Store::Layout { layout, .. } => {
                layout
                    .write_blob(&manifest.digest, &manifest.bytes)
                    .await
                    .map_err(layout_error)?;
                if tag.is_some() || top {
                    let mut entry = LayoutEntry::new(
                        manifest.media_type.clone(),
                        manifest.digest.clone(),
                        manifest.bytes.len() as u64,
                    );
                    if let Some(t) = tag {
                        entry = entry.with_ref_name(t);
                    }
                    layout.set_ref(entry).await.map_err(layout_error)?;
                }
                Ok(())
            }
        }
    }
}

/// Streams a blob into a layout, starting over when what arrived fails verification.
async fn write_to_layout(client: &Client, layout: &OciLayout, source: &dyn BlobSource) -> Result<u64> {
    let digest = source.digest();
    let size = source.size();
    let reporter = Reporter::new(client.config().progress.clone(), digest, size);
    if layout.blob_size(digest).await.map_err(layout_error)? == Some(size) {
        reporter.report(ProgressState::Skipped, size);
        return Ok(0);
    }
    let policy = &client.config().retry;
    let mut attempt = 1;
    loop {
        reporter.report(ProgressState::Started, 0);
        let outcome = async {
            let mut writer = layout.blob_writer(digest, size).await.map_err(layout_error)?;
            let mut stream = source.open(0).await?;
            let mut done = 0u64;
            while let Some(piece) = stream.next().await {
                let piece = piece.map_err(|e| Error::Transport {
                    method: "GET".into(),
                    url: format!("blob {digest}"),
                    message: e.to_string(),
                })?;
                writer
                    .write_all(&piece)
                    .await
                    .map_err(|e| Error::io(format!("cannot write blob {digest}"), e))?;
                done += piece.len() as u64;
                reporter.report(ProgressState::Transferring, done);
            }
            writer.commit().await.map_err(layout_error)
        }
        .await;
        match outcome {
            Ok(()) => {
                reporter.report(ProgressState::Finished, size);
                return Ok(size);
            }
            Err(e) if (e.is_integrity() || matches!(e, Error::Transport { .. })) && attempt < policy.max_attempts => {
                tracing::warn!("{e}; copying it again");
                tokio::time::sleep(policy.backoff(attempt)).await;
                attempt += 1;
            }
            Err(e) => return Err(e),
        }
    }
}

/// Layout errors in the client's terms, so callers match on one error type.
pub(crate) fn layout_error(e: LayoutError) -> Error {
    match e {
        LayoutError::DigestMismatch { path, expected, actual } => Error::DigestMismatch {
            what: path.display().to_string(),
            expected,
            actual,
        },
        LayoutError::SizeMismatch {
            path, expected, actual, ..
        } => Error::SizeMismatch {
            what: path.display().to_string(),
            expected,
            actual,
        },
        e @ (LayoutError::NotALayout { .. }
        | LayoutError::TagNotFound { .. }
        | LayoutError::Empty { .. }
        | LayoutError::BlobMissing { .. }) => Error::NotFound(e.to_string()),
        LayoutError::Io { path, source } => Error::io(path.display().to_string(), source),
        other => Error::Invalid(other.to_string()),
    }
}
