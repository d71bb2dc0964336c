//! The workloads themselves.

use super::generated::GeneratedBlob;
use super::stats::{mib_per_s, millis, percentile, WorkloadResult};
use super::BenchConfig;
use crate::blobs::{BlobSink, BlobSource, BytesSource};
use crate::client::Client;
use crate::document::{Descriptor, ImageManifest};
use crate::manifests::Manifest;
use crate::reference::Repository;
use futures::StreamExt;
use std::sync::Arc;
use std::time::{Duration, Instant};
use wharf_oci::{media_type, Reference};

pub(super) fn repository(config: &BenchConfig, workload: &str, run_id: &str) -> Repository {
    let name = format!("{}/{}-{run_id}", config.repository.name, workload.replace('_', "-"));
    config
        .repository
        .sibling(name.parse().expect("a bench repository name is valid"))
}

/// One big blob pushed, in one request (`chunk` None) or in chunks.
pub(super) async fn push_big(
    client: &Client,
    config: &BenchConfig,
    repo: &Repository,
    chunk: Option<u64>,
    seed: u64,
) -> (WorkloadResult, Option<GeneratedBlob>) {
    let name = if chunk.is_some() {
        "push_chunked"
    } else {
        "push_monolithic"
    };
    let mut result = WorkloadResult::new(name);
    let blob = GeneratedBlob::new(fastrand::u64(..) ^ seed, config.big_size);
    let pusher = client.with_chunk_size(chunk);
    let started = Instant::now();
    match pusher.push_blob(repo, &blob, None).await {
        Ok(_) => {
            let elapsed = started.elapsed();
            result.set("seconds", elapsed.as_secs_f64());
            result.set("mib_s", mib_per_s(blob.size(), elapsed));
            (result, Some(blob))
        }
        Err(e) => (result.failed(e), None),
    }
}

/// A sink that keeps nothing: the client hashes what passes, which is the check.
struct Discard;

impl tokio::io::AsyncWrite for Discard {
    fn poll_write(
        self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        std::task::Poll::Ready(Ok(buf.len()))
    }
    fn poll_flush(
        self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::task::Poll::Ready(Ok(()))
    }
    fn poll_shutdown(
        self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::task::Poll::Ready(Ok(()))
    }
}

impl BlobSink for Discard {
    fn restart(&mut self) -> futures::future::BoxFuture<'_, std::io::Result<()>> {
        Box::pin(async { Ok(()) })
    }
}

pub(super) async fn pull_big(client: &Client, repo: &Repository, blob: &GeneratedBlob) -> WorkloadResult {
    let mut result = WorkloadResult::new("pull");
    let started = Instant::now();
    match client
        .pull_blob(repo, blob.digest(), Some(blob.size()), &mut Discard)
        .await
    {
        Ok(n) => {
            let elapsed = started.elapsed();
            result.set("seconds", elapsed.as_secs_f64());
            result.set("mib_s", mib_per_s(n, elapsed));
            result
        }
        Err(e) => result.failed(e),
    }
}

/// A small image (4 KiB layer, config, manifest tagged `latest`).
async fn small_image(client: &Client, repo: &Repository) -> crate::Result<(Manifest, Descriptor)> {
    let layer = super::generated::content(fastrand::u64(..), 0, 4096);
    let config = br#"{"architecture":"amd64","os":"linux"}"#.to_vec();
    let layer_descriptor = Descriptor::of("application/vnd.oci.image.layer.v1.tar", &layer);
    let image = ImageManifest::new(
        Descriptor::of(media_type::OCI_CONFIG, &config),
        vec![layer_descriptor.clone()],
    );
    let manifest = Manifest::new(media_type::OCI_MANIFEST, image.to_bytes());
    let blobs: Vec<Arc<dyn BlobSource>> = vec![Arc::new(BytesSource::new(config)), Arc::new(BytesSource::new(layer))];
    client
        .push_image(repo, &manifest, blobs, &["latest".parse().expect("latest is a tag")])
        .await?;
    Ok((manifest, layer_descriptor))
}

/// Manifest GETs by tag (or blob HEADs) from `connections` tasks for `duration`.
pub(super) async fn hammer(client: &Client, config: &BenchConfig, repo: &Repository, head: bool) -> WorkloadResult {
    let mut result = WorkloadResult::new(if head { "blob_head" } else { "manifest_get" });
    let (manifest, layer) = match small_image(client, repo).await {
        Ok(x) => x,
        Err(e) => return result.failed(e),
    };
    let client = client.with_retries(crate::retry::RetryPolicy::none());
    let deadline = Instant::now() + config.duration;
    let started = Instant::now();
    let tasks: Vec<_> = (0..config.connections.max(1))
        .map(|_| {
            let (client, repo, manifest, layer) = (client.clone(), repo.clone(), manifest.clone(), layer.clone());
            tokio::spawn(async move {
                let mut latencies = Vec::new();
                let mut errors = 0u64;
                let latest = Reference::Tag("latest".parse().expect("latest is a tag"));
                while Instant::now() < deadline {
                    let at = Instant::now();
                    let ok = if head {
                        matches!(client.blob_exists(&repo, &layer.digest).await, Ok(Some(n)) if n == layer.size)
                    } else {
                        matches!(client.get_manifest(&repo, &latest).await, Ok(m) if m.digest == manifest.digest)
                    };
                    latencies.push(at.elapsed());
                    errors += u64::from(!ok);
                }
                (latencies, errors)
            })
        })
        .collect();
    let mut latencies: Vec<Duration> = Vec::new();
    let mut errors = 0;
    for task in tasks {
        if let Ok((l, e)) = task.await {
            latencies.extend(l);
            errors += e;
        }
    }
    let elapsed = started.elapsed();
    result.set("rps", latencies.len() as f64 / elapsed.as_secs_f64());
    result.set("p50_ms", millis(percentile(&mut latencies, 0.50)));
    result.set("p99_ms", millis(percentile(&mut latencies, 0.99)));
    result.set("errors", errors as f64);
    if errors > 0 {
        return result.failed(format!("{errors} requests failed"));
    }
    result
}

/// `small_count` distinct small blobs, `small_concurrency` at a time.
pub(super) async fn small_pushes(client: &Client, config: &BenchConfig, repo: &Repository) -> WorkloadResult {
    let mut result = WorkloadResult::new("small_push");
    let client = client.with_retries(crate::retry::RetryPolicy::none());
    let seed = fastrand::u64(..);
    let size = config.small_size as u64;
    let started = Instant::now();
    let outcomes: Vec<bool> = futures::stream::iter(0..config.small_count as u64)
        .map(|i| {
            let (client, repo) = (client.clone(), repo.clone());
            async move {
                let blob = BytesSource::new(super::generated::content(seed ^ i.wrapping_mul(0x9E37), 0, size));
                client.push_blob(&repo, &blob, None).await.is_ok()
            }
        })
        .buffer_unordered(config.small_concurrency.max(1))
        .collect()
        .await;
    let elapsed = started.elapsed();
    let errors = outcomes.iter().filter(|ok| !**ok).count();
    result.set("blobs_s", outcomes.len() as f64 / elapsed.as_secs_f64());
    result.set("errors", errors as f64);
    if errors > 0 {
        return result.failed(format!("{errors} pushes failed"));
    }
    result
}

/// `tag_count` tags on one manifest (8 in flight), then the whole list in pages.
pub(super) async fn tags(client: &Client, config: &BenchConfig, repo: &Repository) -> WorkloadResult {
    let mut result = WorkloadResult::new("tags");
    let (manifest, _) = match small_image(client, repo).await {
        Ok(x) => x,
        Err(e) => return result.failed(e),
    };
    let names: Vec<String> = (0..config.tag_count).map(|i| format!("t{i:05}")).collect();
    let started = Instant::now();
    let failures = futures::stream::iter(names.clone())
        .map(|tag| {
            let manifest = manifest.clone();
            async move {
                let reference = Reference::Tag(tag.parse().expect("generated tags are valid"));
                client.put_manifest(repo, &reference, &manifest).await.is_err()
            }
        })
        .buffer_unordered(8)
        .filter(|failed| futures::future::ready(*failed))
        .count()
        .await;
    result.set("create_s", started.elapsed().as_secs_f64());
    if failures > 0 {
        return result.failed(format!("{failures} tags could not be created"));
    }
    let started = Instant::now();
    match client.list_tags(repo, Some(config.tag_page_size)).await {
        Ok(mut listed) => {
            result.set("walk_ms", millis(started.elapsed()));
            listed.sort();
            let mut expected = names;
            expected.push("latest".into());
            expected.sort();
            if listed != expected {
                return result.failed(format!(
                    "the walk returned {} tags, not the {} pushed",
                    listed.len(),
                    expected.len()
                ));
            }
            result.set("tags", listed.len() as f64);
            result
        }
        Err(e) => result.failed(e),
    }
}
