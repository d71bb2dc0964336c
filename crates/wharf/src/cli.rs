//! Command-line arguments. Every `serve` option can also come from a `WHARF_*`
//! environment variable or the TOML config file; a flag beats the variable, which beats
//! the file.

use clap::{ArgAction, Args, Parser, Subcommand};
use std::net::SocketAddr;
use std::path::PathBuf;

#[derive(Parser, Debug)]
#[command(
    name = "wharf",
    version,
    about = "wharf: an OCI Distribution v1.1 container registry"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run the registry server.
    Serve(ServeArgs),
}

#[derive(Args, Debug, Default)]
pub struct ServeArgs {
    /// TOML config file. Without it, ./wharf.toml is read if present.
    #[arg(long, env = "WHARF_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// Address to listen on [default: 127.0.0.1:5000].
    #[arg(long, env = "WHARF_LISTEN", value_name = "ADDR")]
    pub listen: Option<SocketAddr>,

    /// Directory for blobs and the metadata database [default: ./wharf-data].
    #[arg(long, env = "WHARF_DATA_DIR", value_name = "DIR")]
    pub data_dir: Option<PathBuf>,

    /// `durable`: fsync blobs, their directories and metadata before answering;
    /// `relaxed`: leave it to the OS (faster; a power cut may lose recent pushes)
    /// [default: durable].
    #[arg(long, env = "WHARF_DURABILITY", value_name = "MODE")]
    pub durability: Option<String>,

    /// Allow DELETE of blobs [default: true].
    #[arg(long, env = "WHARF_DELETE_BLOBS", action = ArgAction::Set, value_name = "BOOL")]
    pub delete_blobs: Option<bool>,

    /// Allow DELETE of manifests by digest [default: true].
    #[arg(long, env = "WHARF_DELETE_MANIFESTS", action = ArgAction::Set, value_name = "BOOL")]
    pub delete_manifests: Option<bool>,

    /// Allow DELETE of tags [default: true].
    #[arg(long, env = "WHARF_DELETE_TAGS", action = ArgAction::Set, value_name = "BOOL")]
    pub delete_tags: Option<bool>,

    /// Largest manifest accepted, in bytes [default: 4194304].
    #[arg(long, env = "WHARF_MAX_MANIFEST_SIZE", value_name = "BYTES")]
    pub max_manifest_size: Option<u64>,

    /// Smallest chunk clients should send, advertised as OCI-Chunk-Min-Length; 0 for
    /// none [default: 0].
    #[arg(long, env = "WHARF_CHUNK_MIN_LENGTH", value_name = "BYTES")]
    pub chunk_min_length: Option<u64>,

    /// Largest chunk accepted in one PATCH or PUT, in bytes (413 above); 0 for no limit
    /// [default: 0].
    #[arg(long, env = "WHARF_CHUNK_MAX_LENGTH", value_name = "BYTES")]
    pub chunk_max_length: Option<u64>,

    /// A regular expression every repository name must also match, e.g. '^(team-a|team-b)/'.
    #[arg(long, env = "WHARF_NAME_PATTERN", value_name = "REGEX")]
    pub name_pattern: Option<String>,

    /// How long an idle upload session lives before the server removes it, e.g. 30m,
    /// 24h [default: 24h].
    #[arg(long, env = "WHARF_UPLOAD_TTL", value_name = "DURATION", value_parser = humantime::parse_duration)]
    pub upload_ttl: Option<std::time::Duration>,

    /// How long a request body may send nothing before the request is given up; the
    /// upload session keeps what arrived, so the client can resume [default: 60s].
    #[arg(long, env = "WHARF_BODY_TIMEOUT", value_name = "DURATION", value_parser = humantime::parse_duration)]
    pub body_timeout: Option<std::time::Duration>,

    /// After SIGTERM or SIGINT, how long requests in flight may still run before the
    /// server stops without them [default: 30s].
    #[arg(long, env = "WHARF_SHUTDOWN_TIMEOUT", value_name = "DURATION", value_parser = humantime::parse_duration)]
    pub shutdown_timeout: Option<std::time::Duration>,

    /// Whether a mount without `from` links a blob the registry already holds
    /// [default: true].
    #[arg(long, env = "WHARF_MOUNT_WITHOUT_FROM", action = ArgAction::Set, value_name = "BOOL")]
    pub mount_without_from: Option<bool>,

    /// Accept manifests whose blobs or child manifests are not in the repository
    /// (sparse mirrors) [default: false].
    #[arg(long, env = "WHARF_ALLOW_SPARSE_MANIFESTS", action = ArgAction::Set, value_name = "BOOL")]
    pub allow_sparse_manifests: Option<bool>,

    /// Access control: none (open), basic (user name and password) or token (bearer
    /// tokens); the rest of it is set in the config file's [auth] section [default: none].
    #[arg(long, env = "WHARF_AUTH_MODE", value_name = "MODE")]
    pub auth_mode: Option<String>,

    /// htpasswd file with bcrypt entries (htpasswd -B), re-read when it changes.
    #[arg(long, env = "WHARF_AUTH_HTPASSWD", value_name = "FILE")]
    pub auth_htpasswd: Option<PathBuf>,

    /// Basic: the realm's name. Token: the token endpoint's public URL
    /// [default: http://<listen>/token].
    #[arg(long, env = "WHARF_AUTH_REALM", value_name = "TEXT")]
    pub auth_realm: Option<String>,

    /// PEM private key (P-256 or RSA) that signs tokens [default: <data-dir>/token-key.pem,
    /// generated on first start].
    #[arg(long, env = "WHARF_AUTH_TOKEN_KEY", value_name = "FILE")]
    pub auth_token_key: Option<PathBuf>,

    /// Log filter, in tracing's EnvFilter syntax, e.g. info, wharf=debug [default: info].
    #[arg(long, env = "WHARF_LOG", value_name = "FILTER")]
    pub log: Option<String>,
}
