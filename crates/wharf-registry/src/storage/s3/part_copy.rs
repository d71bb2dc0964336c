//! Server-side copies: `UploadPartCopy`, which object_store does not offer as a call but
//! signs (a presigned request with the copy's headers bound to the signature, sent by
//! wharf's own HTTP client), and object copies of any size built on it.

use super::{to_io, S3BlobStore};
use http::{HeaderName, HeaderValue, Method};
use object_store::multipart::{MultipartStore, PartId};
use object_store::path::Path;
use object_store::signer::{SignedUrlOptions, Signer};
use object_store::ObjectStoreExt;
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use std::io;
use std::ops::Range;
use std::time::Duration;

/// S3's largest single `CopyObject` (and `UploadPartCopy`).
const MAX_SINGLE_COPY: u64 = 5 << 30;

/// Parts of a large object copy.
const LARGE_COPY_PART: u64 = 1 << 30;

/// What stays unescaped in `x-amz-copy-source`: S3 wants the key URL-encoded, `/` kept.
const COPY_SOURCE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'/')
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

impl S3BlobStore {
    /// Copies bytes `range` of `source` into part `index` (0-based) of the multipart
    /// upload `upload_id` on `target`, on the server.
    pub(super) async fn copy_part(
        &self,
        target: &Path,
        upload_id: &str,
        index: usize,
        source: &Path,
        range: Range<u64>,
    ) -> io::Result<PartId> {
        let copy_source = format!("/{}/{}", self.bucket, utf8_percent_encode(source.as_ref(), COPY_SOURCE));
        let copy_range = format!("bytes={}-{}", range.start, range.end - 1);
        let header = |value: &str| HeaderValue::from_str(value).map_err(io::Error::other);
        let (source_name, range_name) = (
            HeaderName::from_static("x-amz-copy-source"),
            HeaderName::from_static("x-amz-copy-source-range"),
        );
        let options = SignedUrlOptions::new()
            .with_query([
                ("partNumber", (index + 1).to_string()),
                ("uploadId", upload_id.to_string()),
            ])
            .with_signed_header(source_name.clone(), header(&copy_source)?)
            .with_signed_header(range_name.clone(), header(&copy_range)?);
        let url = self
            .store
            .signed_url_opts(Method::PUT, target, Duration::from_secs(3600), &options)
            .await
            .map_err(to_io)?;
        let response = self
            .http
            .put(url.as_str())
            .header(source_name.as_str(), copy_source.as_str())
            .header(range_name.as_str(), copy_range.as_str())
            .send()
            .await
            .map_err(|e| io::Error::other(format!("copying {source} into a part of {target}: {e}")))?;
        let status = response.status();
        let body = response
            .text()
            .await
            .map_err(|e| io::Error::other(format!("copying {source} into a part of {target}: {e}")))?;
        // S3 may answer 200 and report the failure in the body.
        match (status.is_success(), etag_of(&body)) {
            (true, Some(etag)) if !body.contains("<Error>") => Ok(PartId { content_id: etag }),
            _ => Err(io::Error::other(format!(
                "copying {source} into a part of {target}: {status}: {}",
                body.chars().take(500).collect::<String>()
            ))),
        }
    }

    /// Copies object `from` (of `size` bytes) to `to`: one `CopyObject` up to 5 GiB, else
    /// a multipart upload of server-side part copies (S3 refuses larger single copies).
    pub(super) async fn copy_object(&self, from: &Path, size: u64, to: &Path) -> io::Result<()> {
        if size <= MAX_SINGLE_COPY {
            return self.store.copy(from, to).await.map_err(to_io);
        }
        let upload_id = self.store.create_multipart(to).await.map_err(to_io)?;
        let result = async {
            let mut parts = Vec::new();
            let mut start = 0;
            while start < size {
                let end = (start + LARGE_COPY_PART).min(size);
                let index = parts.len();
                parts.push(self.copy_part(to, &upload_id, index, from, start..end).await?);
                start = end;
            }
            self.store
                .complete_multipart(to, &upload_id, parts)
                .await
                .map_err(to_io)
        }
        .await;
        if result.is_err() {
            let _ = self.store.abort_multipart(to, &upload_id).await;
        }
        result.map(|_| ())
    }
}

/// The `<ETag>` of a `CopyPartResult` document, quotes unescaped.
fn etag_of(body: &str) -> Option<String> {
    let start = body.find("<ETag>")? + "<ETag>".len();
    let end = start + body[start..].find("</ETag>")?;
    Some(body[start..end].replace("&quot;", "\"").replace("&#34;", "\""))
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_etag_is_read_from_a_copy_result() {
        let body = r#"<?xml version="1.0"?><CopyPartResult><LastModified>x</LastModified><ETag>&quot;abc&quot;</ETag></CopyPartResult>"#;
        assert_eq!(super::etag_of(body).as_deref(), Some("\"abc\""));
        assert_eq!(super::etag_of("<Error><Code>NoSuchKey</Code></Error>"), None);
    }
}
