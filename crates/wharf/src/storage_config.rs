//! Where `wharf serve` keeps blob bytes: `[storage] kind = "fs"` (files under the data
//! directory, the default) or `"s3"` (an S3-compatible bucket, `[storage.s3]`), with
//! `--storage`/`--s3-*` flags and `WHARF_STORAGE`/`WHARF_S3_*` variables over the file.
//!
//! The S3 store is compiled in by the `s3` cargo feature; in a build without it, a
//! configuration that asks for it is refused when it is read, before anything starts.

use clap::{ArgAction, Args};
use serde::Deserialize;
use std::path::Path;
use std::sync::Arc;
use wharf_registry::storage::{BlobStore, FsBlobStore};
#[cfg(feature = "s3")]
use wharf_registry::storage::{S3BlobStore, S3Config};

/// The `--storage` and `--s3-*` flags (flattened into `wharf serve`'s).
#[derive(Args, Debug, Default, Clone)]
pub struct StorageArgs {
    /// Where blobs live: fs (files under --data-dir) or s3 (a bucket, --s3-*; in a
    /// build with --features s3 or full) [default: fs].
    #[arg(long, env = "WHARF_STORAGE", value_name = "KIND")]
    pub storage: Option<String>,

    /// S3: the service's URL, e.g. http://127.0.0.1:8333 [default: AWS, by region].
    #[arg(long, env = "WHARF_S3_ENDPOINT", value_name = "URL")]
    pub s3_endpoint: Option<String>,

    /// S3: the region requests are signed for [default: AWS_REGION, else us-east-1].
    #[arg(long, env = "WHARF_S3_REGION", value_name = "REGION")]
    pub s3_region: Option<String>,

    /// S3: the bucket (it must exist).
    #[arg(long, env = "WHARF_S3_BUCKET", value_name = "BUCKET")]
    pub s3_bucket: Option<String>,

    /// S3: the prefix of every key wharf writes, e.g. registry/ [default: none].
    #[arg(long, env = "WHARF_S3_PREFIX", value_name = "PREFIX")]
    pub s3_prefix: Option<String>,

    /// S3: path-style requests (ENDPOINT/BUCKET/KEY) rather than virtual-hosted ones
    /// [default: true with --s3-endpoint, false for AWS].
    #[arg(long, env = "WHARF_S3_PATH_STYLE", action = ArgAction::Set, value_name = "BOOL")]
    pub s3_path_style: Option<bool>,

    /// S3: allow a plain-HTTP endpoint [default: true for a loopback endpoint only].
    #[arg(long, env = "WHARF_S3_ALLOW_HTTP", action = ArgAction::Set, value_name = "BOOL")]
    pub s3_allow_http: Option<bool>,

    /// S3: answer blob GETs with a 307 redirect to a presigned URL of the object
    /// instead of streaming it through wharf [default: false].
    #[arg(long, env = "WHARF_S3_REDIRECT", action = ArgAction::Set, value_name = "BOOL")]
    pub s3_redirect: Option<bool>,
}

/// The `[storage]` section of the config file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StorageFileConfig {
    kind: Option<String>,
    #[cfg_attr(not(feature = "s3"), allow(dead_code))]
    s3: Option<S3FileConfig>,
}

/// The `[storage.s3]` section (read in every build, used only with the `s3` feature).
#[derive(Debug, Default, Deserialize)]
#[cfg_attr(not(feature = "s3"), allow(dead_code))]
#[serde(deny_unknown_fields)]
struct S3FileConfig {
    endpoint: Option<String>,
    region: Option<String>,
    bucket: Option<String>,
    prefix: Option<String>,
    path_style: Option<bool>,
    allow_http: Option<bool>,
    redirect: Option<bool>,
}

/// The blob store `wharf serve` opens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StorageChoice {
    /// Files under the data directory.
    Fs,
    /// A bucket; `redirect`: blob GETs are answered with a presigned URL.
    #[cfg(feature = "s3")]
    S3 { config: S3Config, redirect: bool },
}

impl StorageChoice {
    /// Flags (or variables) over the file's `[storage]` section, defaults after.
    pub fn merge(args: StorageArgs, file: Option<StorageFileConfig>) -> Result<StorageChoice, String> {
        let file = file.unwrap_or_default();
        let kind = args.storage.clone().or(file.kind).unwrap_or_else(|| "fs".into());
        match kind.as_str() {
            "fs" => Ok(StorageChoice::Fs),
            #[cfg(feature = "s3")]
            "s3" => s3_choice(args, file.s3.unwrap_or_default()),
            #[cfg(not(feature = "s3"))]
            "s3" => Err(crate::features::missing("storage kind \"s3\"", "s3")),
            other => Err(format!("storage kind must be 'fs' or 's3', not {other:?}")),
        }
    }

    /// Whether the blobs live in the data directory (files) rather than a bucket.
    pub fn uses_data_dir(&self) -> bool {
        matches!(self, StorageChoice::Fs)
    }

    /// Where damaged blobs are set aside (see `BlobStore::quarantine_blob`), for messages:
    /// `DATA_DIR/quarantine`, or the bucket's `quarantine/` keys.
    pub fn quarantine_place(&self, data_dir: &Path) -> String {
        match self {
            StorageChoice::Fs => data_dir.join("quarantine").display().to_string(),
            #[cfg(feature = "s3")]
            StorageChoice::S3 { config, .. } => format!("s3://{}/{}quarantine/", config.bucket, config.prefix),
        }
    }

    /// Opens the blob store: files under `data_dir`, or the bucket (checked to answer
    /// now, so a wrong endpoint or credentials fail at start).
    pub async fn open(&self, data_dir: &Path, durable: bool) -> Result<Arc<dyn BlobStore>, String> {
        match self {
            StorageChoice::Fs => {
                let store = FsBlobStore::open(data_dir, durable)
                    .await
                    .map_err(|e| format!("cannot open blob storage in {}: {e}", data_dir.display()))?;
                Ok(Arc::new(store))
            }
            #[cfg(feature = "s3")]
            StorageChoice::S3 { config, redirect } => open_s3(config, *redirect).await,
        }
    }
}

/// `[storage.s3]` with the `--s3-*` flags over it.
#[cfg(feature = "s3")]
fn s3_choice(args: StorageArgs, s3: S3FileConfig) -> Result<StorageChoice, String> {
    let endpoint = args.s3_endpoint.or(s3.endpoint);
    let bucket = args
        .s3_bucket
        .or(s3.bucket)
        .filter(|b| !b.is_empty())
        .ok_or("storage kind s3 needs a bucket: [storage.s3] bucket, --s3-bucket or WHARF_S3_BUCKET")?;
    let loopback = endpoint.as_deref().is_some_and(is_loopback_http);
    Ok(StorageChoice::S3 {
        config: S3Config {
            path_style: args.s3_path_style.or(s3.path_style).unwrap_or(endpoint.is_some()),
            allow_http: args.s3_allow_http.or(s3.allow_http).unwrap_or(loopback),
            endpoint,
            region: args.s3_region.or(s3.region),
            bucket,
            prefix: args.s3_prefix.or(s3.prefix).unwrap_or_default(),
            credentials: None,
        },
        redirect: args.s3_redirect.or(s3.redirect).unwrap_or(false),
    })
}

/// How long a presigned URL of a blob GET redirect is valid: long enough for a slow
/// download to start, short enough that a leaked URL soon stops working.
#[cfg(feature = "s3")]
const REDIRECT_EXPIRY: std::time::Duration = std::time::Duration::from_secs(15 * 60);

/// The bucket's store, checked to answer.
#[cfg(feature = "s3")]
async fn open_s3(s3: &S3Config, redirect: bool) -> Result<Arc<dyn BlobStore>, String> {
    let mut store = S3BlobStore::open(s3)
        .await
        .map_err(|e| format!("cannot open S3 blob storage: {e}"))?;
    if redirect {
        store = store.with_redirects(REDIRECT_EXPIRY);
    }
    tracing::info!(
        "blobs in S3 bucket {:?}{}{}",
        s3.bucket,
        s3.endpoint.as_deref().map(|e| format!(" at {e}")).unwrap_or_default(),
        if redirect {
            ", blob GETs redirected to presigned URLs"
        } else {
            ""
        }
    );
    Ok(Arc::new(store))
}

/// Whether `url` is plain HTTP to this machine (127.0.0.0/8, ::1, localhost).
#[cfg(feature = "s3")]
fn is_loopback_http(url: &str) -> bool {
    let Some(rest) = url.strip_prefix("http://") else {
        return false;
    };
    let host = rest.split('/').next().unwrap_or_default();
    let host = match host.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or_default(),
        None => host.rsplit_once(':').map_or(host, |(h, _)| h),
    };
    host == "localhost" || host.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

// Tests are built with every backend (the dev-dependency on this package).
#[cfg(test)]
mod tests {
    use super::*;

    fn file(text: &str) -> Option<StorageFileConfig> {
        #[derive(Deserialize)]
        struct Doc {
            storage: Option<StorageFileConfig>,
        }
        toml::from_str::<Doc>(text).unwrap().storage
    }

    #[test]
    fn files_keep_damaged_blobs_in_the_data_directory() {
        assert!(StorageChoice::Fs.uses_data_dir());
        assert_eq!(
            StorageChoice::Fs.quarantine_place(std::path::Path::new("/srv/wharf")),
            "/srv/wharf/quarantine"
        );
    }

    #[test]
    fn files_are_the_default() {
        assert_eq!(
            StorageChoice::merge(StorageArgs::default(), None),
            Ok(StorageChoice::Fs)
        );
        assert_eq!(
            StorageChoice::merge(StorageArgs::default(), file("[storage]\nkind = \"fs\"")),
            Ok(StorageChoice::Fs)
        );
    }

    #[test]
    fn the_s3_section_and_flags_over_it() {
        let section = file(
            "[storage]\nkind = \"s3\"\n[storage.s3]\nendpoint = \"http://127.0.0.1:8333\"\nbucket = \"b\"\nprefix = \"reg/\"\nregion = \"eu-west-1\"\nredirect = true",
        );
        let args = StorageArgs {
            s3_bucket: Some("flag-bucket".into()),
            ..Default::default()
        };
        let chosen = StorageChoice::merge(args, section).unwrap();
        assert!(!chosen.uses_data_dir());
        assert_eq!(
            chosen.quarantine_place(std::path::Path::new("/srv/wharf")),
            "s3://flag-bucket/reg/quarantine/",
            "damaged blobs are set aside in the bucket, not the data directory"
        );
        let StorageChoice::S3 { config, redirect } = chosen else {
            panic!("s3 chosen");
        };
        assert_eq!(config.bucket, "flag-bucket", "the flag beats the file");
        assert_eq!(config.prefix, "reg/");
        assert_eq!(config.region.as_deref(), Some("eu-west-1"));
        assert!(config.path_style, "an endpoint means path style by default");
        assert!(config.allow_http, "a loopback endpoint may be plain HTTP");
        assert!(redirect);
        let aws = StorageArgs {
            storage: Some("s3".into()),
            s3_bucket: Some("b".into()),
            ..Default::default()
        };
        let StorageChoice::S3 { config, redirect } = StorageChoice::merge(aws, None).unwrap() else {
            panic!("s3 chosen");
        };
        assert!(!config.path_style && !config.allow_http && !redirect);
    }

    #[test]
    fn refuses_an_unknown_kind_a_missing_bucket_and_unknown_keys() {
        let kind = StorageArgs {
            storage: Some("tape".into()),
            ..Default::default()
        };
        assert!(StorageChoice::merge(kind, None).is_err());
        let no_bucket = StorageArgs {
            storage: Some("s3".into()),
            ..Default::default()
        };
        assert!(StorageChoice::merge(no_bucket, None).unwrap_err().contains("bucket"));
        assert!(toml::from_str::<StorageFileConfig>("[s3]\nbukket = \"x\"").is_err());
    }

    #[test]
    fn only_loopback_endpoints_are_plain_http_by_default() {
        for url in ["http://127.0.0.1:8333", "http://localhost:9000/", "http://[::1]:80"] {
            assert!(is_loopback_http(url), "{url}");
        }
        for url in [
            "https://127.0.0.1:8333",
            "http://s3.example.com",
            "http://10.0.0.1:9000",
        ] {
            assert!(!is_loopback_http(url), "{url}");
        }
    }
}
