//! Where the bucket is and how to reach it: [`S3Config`], turned into an object_store
//! client.

use object_store::aws::{AmazonS3, AmazonS3Builder};
use std::io;

/// How to reach an S3-compatible bucket. Credentials are not here: they come from the
/// usual AWS environment (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`,
/// `AWS_SESSION_TOKEN`; else `AWS_PROFILE`'s entry in `~/.aws/credentials`, or
/// `AWS_SHARED_CREDENTIALS_FILE`), as every AWS tool reads them.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct S3Config {
    /// The service's URL (`https://s3.eu-west-1.amazonaws.com`, `http://127.0.0.1:8333`);
    /// `None`: AWS itself, by region.
    pub endpoint: Option<String>,
    /// The region the requests are signed for (`us-east-1` when `None`).
    pub region: Option<String>,
    pub bucket: String,
    /// Every key wharf writes starts with this (`registry/`, or empty for the whole
    /// bucket).
    pub prefix: String,
    /// Path-style requests (`ENDPOINT/BUCKET/KEY`) instead of virtual-hosted ones
    /// (`BUCKET.ENDPOINT/KEY`): what most self-hosted servers want.
    pub path_style: bool,
    /// Allow plain HTTP endpoints (a server on loopback); HTTPS otherwise.
    pub allow_http: bool,
    /// An access key and its secret given by the embedding application (tests, a
    /// secret store); `None`: the environment's, as above.
    pub credentials: Option<(String, String)>,
}

/// As derived, but the secret is not printed.
impl std::fmt::Debug for S3Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3Config")
            .field("endpoint", &self.endpoint)
            .field("region", &self.region)
            .field("bucket", &self.bucket)
            .field("prefix", &self.prefix)
            .field("path_style", &self.path_style)
            .field("allow_http", &self.allow_http)
            .field("access_key_id", &self.credentials.as_ref().map(|(id, _)| id))
            .finish()
    }
}

impl S3Config {
    /// The object_store client for this bucket, with credentials from the environment.
    pub(super) fn client(&self) -> io::Result<AmazonS3> {
        // reqwest is built without a default TLS provider; wharf uses ring.
        let _ = rustls::crypto::ring::default_provider().install_default();
        // AWS_REGION / AWS_DEFAULT_REGION (else us-east-1) unless a region is given.
        let mut builder = AmazonS3Builder::from_env()
            .with_bucket_name(&self.bucket)
            .with_virtual_hosted_style_request(!self.path_style)
            .with_allow_http(self.allow_http);
        if let Some(region) = &self.region {
            builder = builder.with_region(region);
        }
        if let Some(endpoint) = &self.endpoint {
            builder = builder.with_endpoint(endpoint);
        }
        if let Some((key, secret)) = &self.credentials {
            builder = builder.with_access_key_id(key).with_secret_access_key(secret);
        } else if std::env::var_os("AWS_ACCESS_KEY_ID").is_none() {
            if let Some((key, secret, token)) = profile_credentials() {
                builder = builder.with_access_key_id(key).with_secret_access_key(secret);
                if let Some(token) = token {
                    builder = builder.with_token(token);
                }
            }
        }
        builder
            .build()
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, format!("S3 bucket {:?}: {e}", self.bucket)))
    }

    /// The prefix as keys use it: empty, or ending in one `/`.
    pub(super) fn key_prefix(&self) -> String {
        let trimmed = self.prefix.trim_matches('/');
        if trimmed.is_empty() {
            String::new()
        } else {
            format!("{trimmed}/")
        }
    }
}

/// The access key, secret and session token of `AWS_PROFILE` (else `default`) in the
/// shared credentials file (`AWS_SHARED_CREDENTIALS_FILE`, else `~/.aws/credentials`),
/// an INI file of `[profile]` sections with `key = value` lines.
fn profile_credentials() -> Option<(String, String, Option<String>)> {
    let path = match std::env::var_os("AWS_SHARED_CREDENTIALS_FILE") {
        Some(path) => std::path::PathBuf::from(path),
        None => std::path::PathBuf::from(std::env::var_os("HOME")?).join(".aws/credentials"),
    };
    let text = std::fs::read_to_string(path).ok()?;
    let profile = std::env::var("AWS_PROFILE").unwrap_or_else(|_| "default".into());
    parse_profile(&text, &profile)
}

fn parse_profile(text: &str, profile: &str) -> Option<(String, String, Option<String>)> {
    let (mut key, mut secret, mut token) = (None, None, None);
    let mut in_profile = false;
    for line in text.lines().map(str::trim) {
        if line.starts_with('[') && line.ends_with(']') {
            in_profile = line[1..line.len() - 1].trim() == profile;
        } else if let (true, Some((name, value))) = (in_profile, line.split_once('=')) {
            let value = value.trim().to_string();
            match name.trim() {
                "aws_access_key_id" => key = Some(value),
                "aws_secret_access_key" => secret = Some(value),
                "aws_session_token" => token = Some(value),
                _ => {}
            }
        }
    }
    Some((key?, secret?, token))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_profile_is_read_from_its_section_only() {
        let text = "[default]\naws_access_key_id = A\naws_secret_access_key = B\n\n[ci]\naws_access_key_id=C\naws_secret_access_key=D\naws_session_token=T\n";
        assert_eq!(parse_profile(text, "default"), Some(("A".into(), "B".into(), None)));
        assert_eq!(
            parse_profile(text, "ci"),
            Some(("C".into(), "D".into(), Some("T".into())))
        );
        assert_eq!(parse_profile(text, "other"), None);
    }

    #[test]
    fn the_prefix_ends_in_one_slash_or_is_empty() {
        let with = |prefix: &str| S3Config {
            prefix: prefix.into(),
            ..Default::default()
        };
        assert_eq!(with("").key_prefix(), "");
        assert_eq!(with("/").key_prefix(), "");
        assert_eq!(with("reg").key_prefix(), "reg/");
        assert_eq!(with("/a/b/").key_prefix(), "a/b/");
    }
}
