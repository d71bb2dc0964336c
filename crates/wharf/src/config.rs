//! The server's configuration: the TOML file, overridden by environment variables and
//! flags (which clap has already merged, flags first).

use crate::auth::AuthConfig;
use crate::cli::ServeArgs;
use crate::lifecycle::{ImmutableTagsFile, QuotaFile, RetentionFile, ScrubFile, ScrubSchedule};
use crate::metadata::{Metadata, MetadataFileConfig};
use crate::observe_config::{MetricsFileConfig, ObserveConfig, ObserveFileConfig, TracingFileConfig};
use crate::storage_config::{StorageChoice, StorageFileConfig};
use crate::tls::{TlsFileConfig, TlsFiles};
use serde::Deserialize;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;
use wharf_registry::http::forwarded::TrustedProxies;
use wharf_registry::registry::gc::GcOptions;
use wharf_registry::RegistryConfig;

/// Everything `wharf serve` runs with.
#[derive(Debug)]
pub struct ServeConfig {
    pub listen: SocketAddr,
    pub data_dir: PathBuf,
    pub durable: bool,
    pub registry: RegistryConfig,
    /// How long requests in flight may still run after SIGTERM or SIGINT.
    pub shutdown_timeout: Duration,
    /// How long it goes on serving, not ready, after SIGTERM or SIGINT, before it stops
    /// taking new connections.
    pub shutdown_delay: Duration,
    /// The `[auth]` section with `--auth-*` flags applied; mode none keeps it open.
    pub auth: AuthConfig,
    /// The `[gc]` section with `--gc-*` flags applied.
    pub gc: GcSchedule,
    pub connections: ConnectionLimits,
    /// `trusted_proxies`: whose `X-Forwarded-For` names the client (empty: nobody's).
    pub trusted_proxies: TrustedProxies,
    /// Where blobs live (`[storage]`, `--storage`, `--s3-*`).
    pub storage: StorageChoice,
    /// `[scrub]` with `--scrub-*` flags applied (the other lifecycle policies are in
    /// `registry.policies`; retention runs every `gc.interval`).
    pub scrub: ScrubSchedule,
    /// The `[[upstreams]]` entries: repositories filled from other registries.
    pub upstreams: Vec<crate::upstream::UpstreamConfig>,
    /// The `[tls]` section with `--tls-*` flags applied: `None` serves plain HTTP.
    pub tls: Option<TlsFiles>,
    /// Logs, metrics and traces (`log*`, `[metrics]`, `[tracing]`).
    pub observe: ObserveConfig,
    /// `[metadata]` with `--metadata` and `--postgres-*` applied.
    pub metadata: Metadata,
    /// `[ui]` with `--ui` applied.
    pub ui: UiSettings,
}

/// The web UI (`[ui]`, `--ui`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UiSettings {
    pub enabled: bool,
    /// The key that signs the UI's session cookies: `<data-dir>/ui-session.key` unless
    /// given (replicas behind one address share one).
    pub session_key_file: Option<PathBuf>,
}

/// The `[ui]` section of the config file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct UiFileConfig {
    enabled: Option<bool>,
    session_key_file: Option<PathBuf>,
}

/// When and how the server collects garbage.
#[derive(Debug, Clone, PartialEq)]
pub struct GcSchedule {
    pub enabled: bool,
    pub interval: Duration,
    pub options: GcOptions,
}

/// The `[gc]` section of the config file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct GcFileConfig {
    enabled: Option<bool>,
    #[serde(default, with = "humantime_serde")]
    interval: Option<Duration>,
    #[serde(default, with = "humantime_serde")]
    grace: Option<Duration>,
    keep_untagged: Option<bool>,
}

/// What a connection may hold without sending requests, and how many may be open.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectionLimits {
    pub header_timeout: Duration,
    pub idle_timeout: Duration,
    /// `None`: the default, [`DEFAULT_MAX_CONNECTIONS`] (both are bounded by the
    /// open-file limit when the server starts).
    pub max_connections: Option<usize>,
}

pub const DEFAULT_MAX_CONNECTIONS: usize = 4096;

/// The config file's keys; every one optional.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    listen: Option<SocketAddr>,
    data_dir: Option<PathBuf>,
    durability: Option<String>,
    log: Option<String>,
    delete_blobs: Option<bool>,
    delete_manifests: Option<bool>,
    delete_tags: Option<bool>,
    max_manifest_size: Option<u64>,
    chunk_min_length: Option<u64>,
    chunk_max_length: Option<u64>,
    name_pattern: Option<String>,
    #[serde(default, with = "humantime_serde")]
    upload_ttl: Option<Duration>,
    #[serde(default, with = "humantime_serde")]
    body_timeout: Option<Duration>,
    #[serde(default, with = "humantime_serde")]
    shutdown_timeout: Option<Duration>,
    #[serde(default, with = "humantime_serde")]
    shutdown_delay: Option<Duration>,
    #[serde(default, with = "humantime_serde")]
    header_timeout: Option<Duration>,
    #[serde(default, with = "humantime_serde")]
    idle_timeout: Option<Duration>,
    max_connections: Option<usize>,
    trusted_proxies: Option<Vec<String>>,
    mount_without_from: Option<bool>,
    allow_sparse_manifests: Option<bool>,
    verify_blob_reads: Option<bool>,
    auth: Option<AuthConfig>,
    gc: Option<GcFileConfig>,
    storage: Option<StorageFileConfig>,
    #[serde(default)]
    immutable_tags: Vec<ImmutableTagsFile>,
    #[serde(default)]
    quotas: Vec<QuotaFile>,
    #[serde(default)]
    retention: Vec<RetentionFile>,
    total_quota: Option<crate::lifecycle::ByteCount>,
    scrub: Option<ScrubFile>,
    upstreams: Option<Vec<crate::upstream::UpstreamConfig>>,
    tls: Option<TlsFileConfig>,
    // Observability (see observe_config.rs).
    log_format: Option<String>,
    log_requests: Option<bool>,
    metrics: Option<MetricsFileConfig>,
    tracing: Option<TracingFileConfig>,
    metadata: Option<MetadataFileConfig>,
    events: Option<crate::events_config::EventsFileConfig>,
    ui: Option<UiFileConfig>,
}

const DEFAULT_CONFIG_FILE: &str = "wharf.toml";

fn read_file(path: &Path) -> Result<FileConfig, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read config file {}: {e}", path.display()))?;
    toml::from_str(&text).map_err(|e| format!("config file {}: {e}", path.display()))
}

/// The config file `path` names, else `./wharf.toml` if present, else nothing.
fn read_file_or_default(path: Option<&Path>) -> Result<FileConfig, String> {
    match path {
        Some(path) => read_file(path),
        None if Path::new(DEFAULT_CONFIG_FILE).exists() => read_file(Path::new(DEFAULT_CONFIG_FILE)),
        None => Ok(FileConfig::default()),
    }
}

/// The stores and lifecycle policies a maintenance command uses: the config file's
/// (`path`, else `./wharf.toml` if present) with the flags and variables over it.
pub fn load_stores(args: &crate::cli::StoreArgs) -> Result<Stores, String> {
    let file = read_file_or_default(args.config.as_deref())?;
    let metadata = Metadata::merge(&args.metadata, file.metadata)?;
    let storage = StorageChoice::merge(args.storage.clone(), file.storage)?;
    let mut policies = crate::lifecycle::policies(&file.immutable_tags, &file.quotas, &file.retention)?;
    policies.total_quota = crate::lifecycle::total_quota(None, file.total_quota.as_ref())?;
    let events = file
        .events
        .unwrap_or_default()
        .resolve(event_source(None, file.listen))?;
    Ok(Stores {
        metadata,
        storage,
        policies,
        events,
        upstreams: file.upstreams.unwrap_or_default(),
        data_dir: file.data_dir,
    })
}

/// What a maintenance command (`wharf gc`, `retention`, ...) takes from the config file:
/// the stores, the policies, the events its removals are announced by (written to
/// the outbox the server's dispatcher delivers from, as the server's own would be), and
/// the upstreams.
pub struct Stores {
    pub metadata: Metadata,
    pub storage: StorageChoice,
    pub policies: wharf_registry::registry::policy::Policies,
    pub events: wharf_registry::events::EventsConfig,
    /// The `[[upstreams]]`: `wharf gc` enforces their caches' `max_size` as the
    /// server's collections do, and `wharf scrub` knows their repositories refetch
    /// what was evicted.
    pub upstreams: Vec<crate::upstream::UpstreamConfig>,
    /// The config file's `data_dir`, used when the command is given none.
    pub data_dir: Option<PathBuf>,
}

/// The events' default CloudEvents `source`: the server's listen address.
fn event_source(args: Option<std::net::SocketAddr>, file: Option<std::net::SocketAddr>) -> String {
    format!(
        "wharf://{}",
        args.or(file).map_or("127.0.0.1:5000".to_string(), |l| l.to_string())
    )
}

impl ServeConfig {
    pub fn load(args: ServeArgs) -> Result<ServeConfig, String> {
        let file = read_file_or_default(args.config.as_deref())?;
        ServeConfig::merge(args, file)
    }

    fn merge(args: ServeArgs, mut file: FileConfig) -> Result<ServeConfig, String> {
        let observe = ObserveConfig::merge(
            &args,
            ObserveFileConfig {
                log: file.log.take(),
                log_format: file.log_format.clone(),
                log_requests: file.log_requests,
                metrics: file.metrics.take(),
                tracing: file.tracing.take(),
            },
        )?;
        let defaults = RegistryConfig::default();
        let durability = args.durability.or(file.durability).unwrap_or_else(|| "durable".into());
        let durable = match durability.as_str() {
            "durable" => true,
            "relaxed" => false,
            other => return Err(format!("durability must be 'durable' or 'relaxed', not {other:?}")),
        };
        let name_pattern = match args.name_pattern.or(file.name_pattern) {
            Some(p) => Some(
                regex::Regex::new(&p).map_err(|e| format!("name_pattern is not a valid regular expression: {e}"))?,
            ),
            None => None,
        };
        let registry = RegistryConfig {
            delete_blobs: args.delete_blobs.or(file.delete_blobs).unwrap_or(defaults.delete_blobs),
            delete_manifests: args
                .delete_manifests
                .or(file.delete_manifests)
                .unwrap_or(defaults.delete_manifests),
            delete_tags: args.delete_tags.or(file.delete_tags).unwrap_or(defaults.delete_tags),
            max_manifest_size: args
                .max_manifest_size
                .or(file.max_manifest_size)
                .unwrap_or(defaults.max_manifest_size),
            chunk_min_length: args
                .chunk_min_length
                .or(file.chunk_min_length)
                .unwrap_or(defaults.chunk_min_length),
            chunk_max_length: args.chunk_max_length.or(file.chunk_max_length).filter(|l| *l > 0),
            name_pattern,
            upload_ttl: args.upload_ttl.or(file.upload_ttl).unwrap_or(defaults.upload_ttl),
            body_timeout: args
                .body_timeout
                .or(file.body_timeout)
                .filter(|t| !t.is_zero())
                .unwrap_or(defaults.body_timeout),
            mount_without_from: args
                .mount_without_from
                .or(file.mount_without_from)
                .unwrap_or(defaults.mount_without_from),
            allow_sparse_manifests: args
                .allow_sparse_manifests
                .or(file.allow_sparse_manifests)
                .unwrap_or(defaults.allow_sparse_manifests),
            verify_blob_reads: args
                .verify_blob_reads
                .or(file.verify_blob_reads)
                .unwrap_or(defaults.verify_blob_reads),
            policies: crate::lifecycle::Policies {
                total_quota: crate::lifecycle::total_quota(args.total_quota, file.total_quota.as_ref())?,
                ..crate::lifecycle::policies(&file.immutable_tags, &file.quotas, &file.retention)?
            },
            events: file
                .events
                .take()
                .unwrap_or_default()
                .resolve(event_source(args.listen, file.listen))?,
        };
        let scrub_file = file.scrub.unwrap_or_default();
        let scrub = ScrubSchedule {
            interval: args.scrub_interval.or(scrub_file.interval).filter(|i| !i.is_zero()),
            options: wharf_registry::registry::policy::ScrubOptions {
                bytes_per_second: match args.scrub_rate {
                    Some(rate) => Some(rate),
                    None => scrub_file.rate().map_err(|e| format!("[scrub] rate: {e}"))?,
                }
                .filter(|r| *r > 0),
            },
        };
        let mut auth = file.auth.unwrap_or_default();
        if let Some(mode) = &args.auth_mode {
            auth.mode = mode.parse()?;
        }
        auth.htpasswd = args.auth_htpasswd.or(auth.htpasswd);
        auth.realm = args.auth_realm.or(auth.realm);
        if let Some(key) = args.auth_token_key {
            auth.token.get_or_insert_with(Default::default).key = Some(key);
        }
        let gc_file = file.gc.unwrap_or_default();
        let gc_defaults = GcOptions::default();
        let interval = args
            .gc_interval
            .or(gc_file.interval)
            .unwrap_or(Duration::from_secs(3600));
        if interval.is_zero() {
            return Err("the garbage collection interval must be longer than 0s (to turn it off: --gc false)".into());
        }
        let gc = GcSchedule {
            enabled: args.gc_enabled.or(gc_file.enabled).unwrap_or(true),
            interval,
            options: GcOptions {
                grace: args.gc_grace.or(gc_file.grace).unwrap_or(gc_defaults.grace),
                keep_untagged: args
                    .gc_keep_untagged
                    .or(gc_file.keep_untagged)
                    .unwrap_or(gc_defaults.keep_untagged),
                dry_run: false,
            },
        };
        let connections = ConnectionLimits {
            header_timeout: positive(
                "header_timeout",
                args.header_timeout.or(file.header_timeout),
                Duration::from_secs(30),
            )?,
            idle_timeout: positive(
                "idle_timeout",
                args.idle_timeout.or(file.idle_timeout),
                Duration::from_secs(60),
            )?,
            max_connections: match args.max_connections.or(file.max_connections) {
                Some(0) => return Err("max_connections must be at least 1".into()),
                n => n,
            },
        };
        let trusted_proxies =
            TrustedProxies::parse(&args.trusted_proxies.or(file.trusted_proxies).unwrap_or_default())?;
        let storage = StorageChoice::merge(args.storage, file.storage)?;
        let upstreams = file.upstreams.unwrap_or_default();
        // Checked now, so that a bad entry stops the start with its message.
        crate::upstream::build(&upstreams)?;
        let tls_file = file.tls.unwrap_or_default();
        let tls = TlsFiles::merge(
            args.tls_cert.or(tls_file.cert),
            args.tls_key.or(tls_file.key),
            args.tls_client_ca.or(tls_file.client_ca),
            args.tls_client_auth.or(tls_file.client_auth),
        )?;
        let metadata = Metadata::merge(&args.metadata, file.metadata)?;
        auth.login_limit_shared = args.login_limit_shared.or(auth.login_limit_shared);
        crate::login_limits::check(&auth, &metadata)?;
        let ui_file = file.ui.unwrap_or_default();
        let ui = UiSettings {
            enabled: args.ui_enabled.or(ui_file.enabled).unwrap_or(true),
            session_key_file: ui_file.session_key_file,
        };
        Ok(ServeConfig {
            ui,
            storage,
            upstreams,
            tls,
            metadata,
            auth,
            gc,
            scrub,
            connections,
            trusted_proxies,
            shutdown_timeout: args
                .shutdown_timeout
                .or(file.shutdown_timeout)
                .unwrap_or(Duration::from_secs(30)),
            shutdown_delay: args.shutdown_delay.or(file.shutdown_delay).unwrap_or_default(),
            listen: args
                .listen
                .or(file.listen)
                .unwrap_or_else(|| "127.0.0.1:5000".parse().expect("a valid default address")),
            data_dir: args
                .data_dir
                .or(file.data_dir)
                .unwrap_or_else(|| PathBuf::from("wharf-data")),
            durable,
            registry,
            observe,
        })
    }
}

/// A timeout that was given, or the default; zero would close every connection at once.
fn positive(name: &str, given: Option<Duration>, default: Duration) -> Result<Duration, String> {
    match given {
        Some(t) if t.is_zero() => Err(format!("{name} must be longer than 0")),
        Some(t) => Ok(t),
        None => Ok(default),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_override_the_file_and_defaults_fill_the_rest() {
        let file: FileConfig = toml::from_str(
            "listen = \"127.0.0.1:6000\"\ndata_dir = \"/srv/wharf\"\ndelete_blobs = false\nupload_ttl = \"30m\"\nmax_manifest_size = 1000",
        )
        .unwrap();
        let args = ServeArgs {
            listen: Some("127.0.0.1:7000".parse().unwrap()),
            ..Default::default()
        };
        let config = ServeConfig::merge(args, file).unwrap();
        assert_eq!(config.listen.port(), 7000);
        assert_eq!(config.data_dir, PathBuf::from("/srv/wharf"));
        assert!(!config.registry.delete_blobs);
        assert!(config.registry.delete_manifests);
        assert_eq!(config.registry.upload_ttl, Duration::from_secs(1800));
        assert_eq!(config.registry.max_manifest_size, 1000);
        assert!(config.durable);
        assert_eq!(
            config.connections,
            ConnectionLimits {
                header_timeout: Duration::from_secs(30),
                idle_timeout: Duration::from_secs(60),
                max_connections: None
            }
        );
        let file: FileConfig =
            toml::from_str("header_timeout = \"5s\"\nidle_timeout = \"2m\"\nmax_connections = 100").unwrap();
        let args = ServeArgs {
            idle_timeout: Some(Duration::from_secs(7)),
            ..Default::default()
        };
        let connections = ServeConfig::merge(args, file).unwrap().connections;
        assert_eq!(connections.header_timeout, Duration::from_secs(5));
        assert_eq!(connections.idle_timeout, Duration::from_secs(7));
        assert_eq!(connections.max_connections, Some(100));
        assert!(config.gc.enabled);
        assert_eq!(config.gc.interval, Duration::from_secs(3600));
        assert_eq!(config.gc.options.grace, Duration::from_secs(3600));
    }

    #[test]
    fn the_ui_section_and_its_flag() {
        let on = ServeConfig::merge(ServeArgs::default(), FileConfig::default()).unwrap();
        assert!(on.ui.enabled, "on by default");
        let file: FileConfig =
            toml::from_str("[ui]\nenabled = false\nsession_key_file = \"/etc/wharf/ui.key\"").unwrap();
        let off = ServeConfig::merge(ServeArgs::default(), file).unwrap();
        assert!(!off.ui.enabled);
        assert_eq!(off.ui.session_key_file, Some(PathBuf::from("/etc/wharf/ui.key")));
        let file: FileConfig = toml::from_str("[ui]\nenabled = false").unwrap();
        let args = ServeArgs {
            ui_enabled: Some(true),
            ..Default::default()
        };
        assert!(
            ServeConfig::merge(args, file).unwrap().ui.enabled,
            "the flag beats the file"
        );
        assert!(
            toml::from_str::<FileConfig>("[ui]\nenable = true").is_err(),
            "unknown keys are refused"
        );
    }

    #[test]
    fn the_gc_section_and_its_flags() {
        let file: FileConfig =
            toml::from_str("[gc]\nenabled = false\ninterval = \"10m\"\ngrace = \"2h\"\nkeep_untagged = true").unwrap();
        let args = ServeArgs {
            gc_grace: Some(Duration::from_secs(60)),
            ..Default::default()
        };
        let config = ServeConfig::merge(args, file).unwrap();
        assert!(!config.gc.enabled);
        assert_eq!(config.gc.interval, Duration::from_secs(600));
        assert_eq!(
            config.gc.options.grace,
            Duration::from_secs(60),
            "the flag beats the file"
        );
        assert!(config.gc.options.keep_untagged);
        let zero = ServeArgs {
            gc_interval: Some(Duration::ZERO),
            ..Default::default()
        };
        assert!(ServeConfig::merge(zero, FileConfig::default()).is_err());
    }

    #[test]
    fn the_lifecycle_sections_and_the_scrub_flags() {
        let file: FileConfig = toml::from_str(
            r#"
            [[immutable_tags]]
            repositories = "prod/**"
            tags = ["v*", "release-*"]
            [[quotas]]
            repositories = ["team-a/*", "team-b/*"]
            limit = "10GiB"
            [[quotas]]
            repositories = "*"
            limit = 1000
            [[retention]]
            repositories = "ci/*"
            keep_last = 5
            keep_newer_than = "30d"
            keep_tags = "^main$"
            [[retention]]
            repositories = "cache/*"
            not_pulled_for = "90d"
            [scrub]
            interval = "7d"
            rate = "50MiB"
            "#,
        )
        .unwrap();
        let args = ServeArgs {
            scrub_rate: Some(1 << 20),
            ..Default::default()
        };
        let config = ServeConfig::merge(args, file).unwrap();
        let policies = &config.registry.policies;
        let prod: wharf_oci::RepositoryName = "prod/team/app".parse().unwrap();
        assert!(policies.immutable_rule(&prod, "release-2").is_some());
        assert!(policies.immutable_rule(&prod, "latest").is_none());
        let b: wharf_oci::RepositoryName = "team-b/app".parse().unwrap();
        let other: wharf_oci::RepositoryName = "other".parse().unwrap();
        assert_eq!(policies.quota_for(&b).map(|q| q.limit), Some(10 << 30));
        assert_eq!(
            policies.quota_for(&other).map(|q| q.limit),
            Some(1000),
            "the first that matches"
        );
        let retention = &policies.retention[0];
        assert_eq!(retention.keep_last, Some(5));
        assert_eq!(retention.keep_newer_than, Some(Duration::from_secs(30 * 86400)));
        assert!(retention.keep_tags.as_ref().unwrap().is_match("main"));
        assert_eq!(retention.not_pulled_for, None);
        let idle = &policies.retention[1];
        assert_eq!(idle.not_pulled_for, Some(Duration::from_secs(90 * 86400)));
        assert!(idle.is_effective(), "not_pulled_for alone is a policy");
        assert_eq!(config.scrub.interval, Some(Duration::from_secs(7 * 86400)));
        assert_eq!(
            config.scrub.options.bytes_per_second,
            Some(1 << 20),
            "the flag beats the file"
        );

        for bad in [
            "[[retention]]\nrepositories = \"ci/*\"\nkeep_tags = \"^main$\"",
            "[[retention]]\nrepositories = \"ci/*\"\nkeep_last = 1\nkeep_tags = \"(\"",
            "[[retention]]\nrepositories = \"ci/*\"\nnot_pulled_for = \"a while\"",
            "[[quotas]]\nrepositories = \"*\"\nlimit = \"lots\"",
            "[[immutable_tags]]\nrepositories = []\ntags = \"v*\"",
            "[[immutable_tags]]\nrepositories = \"a\"\ntags = \"v*\"\nmoves = true",
        ] {
            let parsed = toml::from_str::<FileConfig>(bad);
            let merged = parsed
                .map_err(|e| e.to_string())
                .and_then(|f| ServeConfig::merge(ServeArgs::default(), f));
            assert!(merged.is_err(), "{bad}");
        }
    }

    #[test]
    fn refuses_bad_values() {
        let args = ServeArgs {
            durability: Some("sometimes".into()),
            ..Default::default()
        };
        assert!(ServeConfig::merge(args, FileConfig::default()).is_err());
        let args = ServeArgs {
            name_pattern: Some("(".into()),
            ..Default::default()
        };
        assert!(ServeConfig::merge(args, FileConfig::default()).is_err());
        assert!(toml::from_str::<FileConfig>("no_such_key = 1").is_err());
        let args = ServeArgs {
            header_timeout: Some(Duration::ZERO),
            ..Default::default()
        };
        assert!(ServeConfig::merge(args, FileConfig::default()).is_err());
        let file: FileConfig = toml::from_str("max_connections = 0").unwrap();
        assert!(ServeConfig::merge(ServeArgs::default(), file).is_err());
    }

    #[test]
    fn trusted_proxies_from_the_file_or_the_flag_and_none_by_default() {
        let none = ServeConfig::merge(ServeArgs::default(), FileConfig::default()).unwrap();
        assert!(none.trusted_proxies.is_empty());
        let file: FileConfig = toml::from_str("trusted_proxies = [\"127.0.0.1\", \"10.0.0.0/8\"]").unwrap();
        let from_file = ServeConfig::merge(ServeArgs::default(), file).unwrap().trusted_proxies;
        assert!(from_file.contains("10.1.2.3".parse().unwrap()));
        let file: FileConfig = toml::from_str("trusted_proxies = [\"10.0.0.0/8\"]").unwrap();
        let args = ServeArgs {
            trusted_proxies: Some(vec!["192.0.2.1".into()]),
            ..Default::default()
        };
        let from_flag = ServeConfig::merge(args, file).unwrap().trusted_proxies;
        assert!(
            from_flag.contains("192.0.2.1".parse().unwrap()),
            "the flag beats the file"
        );
        assert!(!from_flag.contains("10.1.2.3".parse().unwrap()));
        let file: FileConfig = toml::from_str("trusted_proxies = [\"proxy.local\"]").unwrap();
        let error = ServeConfig::merge(ServeArgs::default(), file).unwrap_err();
        assert!(
            error.contains("trusted_proxies") && error.contains("proxy.local"),
            "{error}"
        );
    }
}

#[cfg(test)]
mod tls_tests {
    use super::*;
    use crate::tls::ClientAuth;

    #[test]
    fn the_tls_section_and_its_flags() {
        let file: FileConfig =
            toml::from_str("[tls]\ncert = \"/etc/wharf/cert.pem\"\nkey = \"/etc/wharf/key.pem\"\nclient_ca = \"/etc/wharf/ca.pem\"\nclient_auth = \"optional\"").unwrap();
        let args = ServeArgs {
            tls_cert: Some("/run/cert.pem".into()),
            ..Default::default()
        };
        let tls = ServeConfig::merge(args, file).unwrap().tls.unwrap();
        assert_eq!(tls.cert, PathBuf::from("/run/cert.pem"), "the flag beats the file");
        assert_eq!(tls.key, PathBuf::from("/etc/wharf/key.pem"));
        assert_eq!(tls.client_ca, Some(PathBuf::from("/etc/wharf/ca.pem")));
        assert_eq!(tls.client_auth, ClientAuth::Optional);
        assert!(ServeConfig::merge(ServeArgs::default(), FileConfig::default())
            .unwrap()
            .tls
            .is_none());
    }

    #[test]
    fn refuses_half_a_tls_setting() {
        let only_cert = ServeArgs {
            tls_cert: Some("c.pem".into()),
            ..Default::default()
        };
        assert!(ServeConfig::merge(only_cert, FileConfig::default()).is_err());
        let only_key: FileConfig = toml::from_str("[tls]\nkey = \"k.pem\"").unwrap();
        assert!(ServeConfig::merge(ServeArgs::default(), only_key).is_err());
        let ca_alone: FileConfig = toml::from_str("[tls]\nclient_ca = \"ca.pem\"").unwrap();
        assert!(ServeConfig::merge(ServeArgs::default(), ca_alone).is_err());
        assert!(toml::from_str::<FileConfig>("[tls]\nclient_auth = \"sometimes\"").is_err());
        assert!(toml::from_str::<FileConfig>("[tls]\nkeyfile = \"k.pem\"").is_err());
    }
}

#[cfg(test)]
#[path = "config_fuzz.rs"]
mod fuzz;
