//! Command-line arguments. Every `serve` option can also come from a `WHARF_*`
//! environment variable or the TOML config file; a flag beats the variable, which beats
//! the file. The client commands share the global options of [`GlobalArgs`].

use clap::{ArgAction, Args, Parser, Subcommand};
use std::net::SocketAddr;
use std::path::PathBuf;

/// What `wharf --help` ends with: the exit codes every client command uses.
pub const EXIT_CODES_HELP: &str = "\
References are written as docker and oras write them: HOST[:PORT]/REPO[:TAG|@DIGEST];
OCI image layout directories as oci:PATH[:TAG]. Registries on localhost and 127.0.0.0/8
are reached over plain HTTP, others over HTTPS unless --plain-http is given.

Credentials: --username/--password, else WHARF_USERNAME/WHARF_PASSWORD, else the
stored ones: REGISTRY_AUTH_FILE, docker's config.json ($DOCKER_CONFIG/config.json or
~/.docker/config.json: credHelpers, credsStore, auths), the containers auth.json.

TLS: the system's trust store, plus --ca-cert, plus per-registry directories
/etc/docker/certs.d/HOST:PORT/ and /etc/containers/certs.d/HOST:PORT/ (*.crt CAs,
NAME.cert + NAME.key a client certificate; WHARF_CERTS_D=DIR[:DIR] looks elsewhere).
Loopback registries are reached over HTTPS when they have such a directory or a TLS
option is given.

Exit codes:
  0  success
  1  failure (the registry refused the request, an I/O error, ...)
  2  usage: a bad flag, argument or reference
  3  not found: no such manifest, tag, blob or repository
  4  authentication or permission refused
  5  integrity: content did not match its digest or size
  6  registry unreachable (connection refused or timed out, after retries)";

#[derive(Parser, Debug)]
#[command(
    name = "wharf",
    version,
    about = "wharf: an OCI Distribution v1.1 container registry, and a client for any registry",
    after_help = EXIT_CODES_HELP
)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,

    #[command(subcommand)]
    pub command: Command,
}

/// The command line as `wharf` parses it: [`Cli`], with the client options hidden from
/// `wharf serve --help` (they are global, so clap gives them to every subcommand; `serve`
/// refuses them).
pub fn command() -> clap::Command {
    use clap::CommandFactory;
    let command = Cli::command();
    // clap gives a global option to a subcommand only if it has none of that name: a
    // hidden copy on `serve` keeps it out of the help and still parses (to be refused).
    let hidden: Vec<clap::Arg> = command
        .get_arguments()
        .filter(|a| a.is_global_set())
        .map(|a| a.clone().hide(true))
        .collect();
    command.mut_subcommand("serve", |serve| serve.args(hidden))
}

/// Options of every client command (accepted before or after the command's name).
#[derive(Args, Debug, Clone, Default)]
#[command(next_help_heading = "Client options")]
pub struct GlobalArgs {
    /// Print one JSON document on stdout instead of text for people.
    #[arg(long, global = true)]
    pub json: bool,

    /// Use plain HTTP for every registry (localhost and 127.0.0.0/8 always use it).
    #[arg(long, global = true)]
    pub plain_http: bool,

    /// User name for the registries the command talks to.
    #[arg(long, short = 'u', global = true, env = "WHARF_USERNAME", value_name = "USER")]
    pub username: Option<String>,

    /// Password (or token) for the registries the command talks to.
    #[arg(
        long,
        short = 'p',
        global = true,
        env = "WHARF_PASSWORD",
        hide_env_values = true,
        value_name = "PASS"
    )]
    pub password: Option<String>,

    /// How often a failed request (connection error, timeout, 5xx, 429) is tried again.
    #[arg(long, global = true, value_name = "N", default_value_t = 4)]
    pub retries: u32,

    /// Push blobs larger than this in chunks of this size (e.g. 5MiB); by default each
    /// blob goes in one request.
    #[arg(long, global = true, value_name = "BYTES", value_parser = parse_chunk_size)]
    pub chunk_size: Option<u64>,

    /// Blobs transferred at once.
    #[arg(long, global = true, value_name = "N", default_value_t = 4,
          value_parser = clap::value_parser!(u32).range(1..=64))]
    pub concurrency: u32,

    /// Also trust the CA certificates in this PEM file (besides the system's).
    #[arg(long, global = true, value_name = "FILE")]
    pub ca_cert: Vec<PathBuf>,

    /// Present this PEM certificate to registries that ask for one (mutual TLS).
    #[arg(long, global = true, value_name = "FILE", requires = "client_key")]
    pub client_cert: Option<PathBuf>,

    /// The PEM private key of --client-cert.
    #[arg(long, global = true, value_name = "FILE", requires = "client_cert")]
    pub client_key: Option<PathBuf>,

    /// Accept any TLS certificate (self-signed, expired, another host's): for tests only.
    #[arg(long, global = true)]
    pub insecure: bool,
}

impl GlobalArgs {
    /// Whether any client option was given, which `serve` does not take.
    pub fn any_given(&self) -> bool {
        self.json
            || self.plain_http
            || self.retries != 4
            || self.chunk_size.is_some()
            || self.concurrency != 4
            || !self.ca_cert.is_empty()
            || self.client_cert.is_some()
            || self.insecure
    }
}

/// A chunk size: a byte count as `crate::lifecycle::parse_bytes` reads it (`5MiB`), of
/// at least 1 byte.
fn parse_chunk_size(s: &str) -> Result<u64, String> {
    match crate::lifecycle::parse_bytes(s)? {
        0 => Err("the chunk size must be at least 1 byte".into()),
        size => Ok(size),
    }
}

// Parsed once per run: the size of the largest variant (serve's options) costs nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run the registry server.
    Serve(ServeArgs),
    /// Push files as an artifact (one layer per file), as oras does.
    Push(PushArgs),
    /// Download an artifact's (or image's) layers into a directory.
    Pull(PullArgs),
    /// Copy an image or index between registries and OCI layout directories.
    Copy(CopyArgs),
    /// Put more tags on a manifest (nothing is uploaded again).
    Tag(TagArgs),
    /// List the tags of a repository.
    Tags(TagsArgs),
    /// Show a manifest or index: media type, digest, sizes, config, layers, platforms.
    Inspect(InspectArgs),
    /// List the manifests that refer to a manifest (signatures, SBOMs, attestations).
    Referrers(ReferrersArgs),
    /// Attach an artifact (a signature, an SBOM, ...) to a manifest as its referrer.
    Attach(AttachArgs),
    /// Delete a manifest, a tag or a blob.
    Delete(DeleteArgs),
    /// Check credentials against a registry and store them in docker's config.json.
    Login(LoginArgs),
    /// Remove a registry's credentials from docker's config.json.
    Logout(LogoutArgs),
    /// Sign a manifest cosign's way and attach the signature as its referrer.
    Sign(SignArgs),
    /// Check a manifest's cosign-style signatures (referrers and `sha256-<hex>.sig`)
    /// with a public key; exit code 5 when none verifies.
    Verify(VerifyArgs),
    /// Build a multi-platform image: an image index from manifests in the repository.
    #[command(subcommand)]
    Index(IndexCommand),
    /// Load-test a registry (any registry): pushes, pulls, manifest GETs, blob HEADs,
    /// small pushes and tags, with a table or --json of the figures.
    Bench(BenchArgs),
    /// Collect garbage in a data directory now (whether or not a server runs on it):
    /// untagged manifests, unreferenced links and the bytes nothing links any more.
    Gc(GcArgs),
    /// Storage used per repository (bytes linked, exclusive bytes, quota), from the
    /// metadata database of a data directory.
    Du(DuArgs),
    /// Apply the config file's retention policies to a data directory now.
    Retention(RetentionArgs),
    /// Read every stored blob back and verify it; damaged ones are set aside (exit 5).
    Scrub(ScrubArgs),
}

#[derive(Args, Debug)]
#[command(after_help = "Examples:\n  wharf du --data-dir /srv/wharf\n  wharf du --data-dir /srv/wharf --json")]
pub struct DuArgs {
    /// The data directory of the registry (as given to `wharf serve`) [default: the
    /// config file's data_dir; not needed when its stores are S3 and PostgreSQL].
    #[arg(long, env = "WHARF_DATA_DIR", value_name = "DIR")]
    pub data_dir: Option<PathBuf>,

    #[command(flatten)]
    pub stores: StoreArgs,
}

#[derive(Args, Debug)]
#[command(after_help = "Examples:\n  wharf retention --data-dir /srv/wharf --config /etc/wharf.toml --dry-run")]
pub struct RetentionArgs {
    /// The data directory of the registry (as given to `wharf serve`) [default: the
    /// config file's data_dir; not needed when its stores are S3 and PostgreSQL].
    #[arg(long, env = "WHARF_DATA_DIR", value_name = "DIR")]
    pub data_dir: Option<PathBuf>,

    /// Report what would be untagged; untag nothing.
    #[arg(long)]
    pub dry_run: bool,

    #[command(flatten)]
    pub stores: StoreArgs,
}

#[derive(Args, Debug)]
#[command(
    after_help = "Examples:\n  wharf scrub --data-dir /srv/wharf --rate 50MiB\n  wharf scrub --data-dir /srv/wharf --json"
)]
pub struct ScrubArgs {
    /// The data directory of the registry (as given to `wharf serve`) [default: the
    /// config file's data_dir; not needed when its stores are S3 and PostgreSQL].
    #[arg(long, env = "WHARF_DATA_DIR", value_name = "DIR")]
    pub data_dir: Option<PathBuf>,

    /// Bytes per second read at most, e.g. 50MiB [default: no limit].
    #[arg(long, env = "WHARF_SCRUB_RATE", value_name = "BYTES", value_parser = crate::lifecycle::parse_bytes)]
    pub rate: Option<u64>,

    #[command(flatten)]
    pub stores: StoreArgs,
}

#[derive(Args, Debug)]
#[command(after_help = "Examples:\n  wharf gc --data-dir /srv/wharf --dry-run\n  \
wharf gc --data-dir /srv/wharf --grace 10m --json")]
pub struct GcArgs {
    /// The data directory of the registry (as given to `wharf serve`) [default: the
    /// config file's data_dir; not needed when its stores are S3 and PostgreSQL].
    #[arg(long, env = "WHARF_DATA_DIR", value_name = "DIR")]
    pub data_dir: Option<PathBuf>,

    /// Only what is older than this goes, e.g. 0s, 10m, 1h [default: 1h].
    #[arg(long, value_name = "DURATION", value_parser = humantime::parse_duration)]
    pub grace: Option<std::time::Duration>,

    /// Keep untagged manifests [default: false].
    #[arg(long, action = ArgAction::Set, value_name = "BOOL")]
    pub keep_untagged: Option<bool>,

    /// Report what would be removed; remove nothing.
    #[arg(long)]
    pub dry_run: bool,

    #[command(flatten)]
    pub stores: StoreArgs,
}

/// Which stores a maintenance command (`wharf gc`, `du`, `retention`, `scrub`) opens:
/// those the server's config file names (`[storage]`, `[metadata]`, and its lifecycle
/// policies), with the same flags and `WHARF_*` variables over it as `wharf serve`.
#[derive(Args, Debug, Default, Clone)]
pub struct StoreArgs {
    /// The server's config file, for its stores, lifecycle policies, events and
    /// upstreams [default: ./wharf.toml if present].
    #[arg(long, env = "WHARF_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,

    #[command(flatten)]
    pub metadata: MetadataArgs,

    #[command(flatten)]
    pub storage: crate::storage_config::StorageArgs,
}

#[derive(Args, Debug)]
#[command(after_help = "The key is a PEM P-256 private key (PKCS#8), e.g. from \
`openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out key.pem`. \
`wharf referrers REF --artifact-type application/vnd.dev.cosign.artifact.sig.v1+json` lists the signatures.")]
pub struct SignArgs {
    /// The manifest to sign: HOST[:PORT]/REPO[:TAG|@DIGEST].
    #[arg(value_name = "REF")]
    pub reference: String,

    /// PEM file of the P-256 private key that signs.
    #[arg(long, value_name = "FILE")]
    pub key: std::path::PathBuf,

    /// Write the signature under cosign's tag scheme (`sha256-<hex>.sig`) instead of
    /// as a referrer, for verifiers that do not read referrers.
    #[arg(long)]
    pub tag_scheme: bool,
}

#[derive(Args, Debug)]
pub struct VerifyArgs {
    /// The manifest whose signatures are checked: HOST[:PORT]/REPO[:TAG|@DIGEST].
    #[arg(value_name = "REF")]
    pub reference: String,

    /// PEM file of the P-256 public key the signatures must verify with.
    #[arg(long, value_name = "FILE")]
    pub key: std::path::PathBuf,
}

#[derive(Args, Debug)]
#[command(
    after_help = "Examples:\n  wharf bench http://127.0.0.1:5000 --big-mib 1024 --server-pid 1234\n  \
wharf bench --compare target/bench/*.json   (medians per --label, side by side)"
)]
pub struct BenchArgs {
    /// The registry's base URL, e.g. http://127.0.0.1:5000 (or HOST[:PORT]).
    #[arg(value_name = "URL", required_unless_present = "compare")]
    pub url: Option<String>,

    /// Print the runs in these JSON files side by side (a Markdown table) and exit.
    #[arg(long, value_name = "FILE", num_args = 1.., conflicts_with = "url")]
    pub compare: Vec<std::path::PathBuf>,

    /// The repository under which the bench makes its own (one per workload and run).
    #[arg(long, value_name = "REPO", default_value = "wharf-bench")]
    pub repository: String,

    /// Name of this run in --compare tables [default: the URL's host].
    #[arg(long, value_name = "TEXT")]
    pub label: Option<String>,

    /// Also write the run as JSON to this file.
    #[arg(long, value_name = "FILE")]
    pub out: Option<std::path::PathBuf>,

    /// Size of the big blob pushed (monolithic and chunked) and pulled, in MiB.
    #[arg(long, value_name = "MIB", default_value_t = 256)]
    pub big_mib: u64,

    /// Chunk size of the chunked push, in MiB.
    #[arg(long, value_name = "MIB", default_value_t = 16)]
    pub chunk_mib: u64,

    /// How long manifest GETs and blob HEADs are sent for.
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = humantime::parse_duration)]
    pub duration: std::time::Duration,

    /// Requests in flight for manifest GETs and blob HEADs.
    #[arg(long, value_name = "N", default_value_t = 64)]
    pub connections: usize,

    /// Number of small blobs pushed.
    #[arg(long, value_name = "N", default_value_t = 2000)]
    pub small_count: usize,

    /// Size of each small blob, in bytes.
    #[arg(long, value_name = "BYTES", default_value_t = 4096)]
    pub small_size: usize,

    /// Small pushes in flight.
    #[arg(long, value_name = "N", default_value_t = 32)]
    pub small_concurrency: usize,

    /// Tags created on one manifest.
    #[arg(long, value_name = "N", default_value_t = 1000)]
    pub tag_count: usize,

    /// Page size of the tag walk.
    #[arg(long, value_name = "N", default_value_t = 100)]
    pub tag_page: u32,

    /// Only these workloads, comma-separated: push_monolithic, push_chunked, pull,
    /// manifest_get, blob_head, small_push, tags.
    #[arg(long, value_name = "LIST", value_delimiter = ',')]
    pub only: Vec<String>,

    /// The registry's process id, when it runs on this machine: its CPU seconds per
    /// workload and its memory are reported too.
    #[arg(long, value_name = "PID")]
    pub server_pid: Option<u32>,
}

#[derive(Args, Debug)]
#[command(
    after_help = "Example: wharf push 127.0.0.1:5000/docs:v1 README.md notes.txt:text/plain \
--artifact-type application/vnd.example.docs --annotation owner=me"
)]
pub struct PushArgs {
    /// Where to push: HOST[:PORT]/REPO[:TAG] (the tag defaults to latest).
    #[arg(value_name = "REF")]
    pub reference: String,

    /// Files, each pushed as one layer titled with its file name; `:MEDIATYPE` sets the
    /// layer's media type [default: application/vnd.oci.image.layer.v1.tar].
    #[arg(value_name = "FILE[:MEDIATYPE]", required = true)]
    pub files: Vec<String>,

    /// The manifest's artifactType [default: application/vnd.unknown.artifact.v1].
    #[arg(long, value_name = "TYPE")]
    pub artifact_type: Option<String>,

    /// An annotation of the manifest (repeatable).
    #[arg(long = "annotation", short = 'a', value_name = "KEY=VALUE")]
    pub annotations: Vec<String>,
}

#[derive(Args, Debug)]
pub struct PullArgs {
    /// What to pull: HOST[:PORT]/REPO[:TAG|@DIGEST].
    #[arg(value_name = "REF")]
    pub reference: String,

    /// Directory to write the files into (created if missing).
    #[arg(long, short = 'o', value_name = "DIR", default_value = ".")]
    pub output: PathBuf,

    /// The image to take from an index: os/arch[/variant] [default: this machine's].
    #[arg(long, value_name = "OS/ARCH[/VARIANT]")]
    pub platform: Option<String>,

    /// A mirror registry (HOST[:PORT]) tried first, in order, for the same repository
    /// path; the origin is used when no mirror has the image. Also WHARF_MIRRORS
    /// (comma-separated). Without it, the mirrors of containers' registries.conf
    /// ([[registry.mirror]]) for the image are used.
    #[arg(long = "mirror", value_name = "HOST", env = "WHARF_MIRRORS", value_delimiter = ',')]
    pub mirrors: Vec<String>,
}

#[derive(Args, Debug)]
#[command(after_help = "SRC and DST are HOST[:PORT]/REPO[:TAG|@DIGEST] or oci:PATH[:TAG]. \
A DST without a tag takes SRC's; an oci: DST directory is created if missing.")]
pub struct CopyArgs {
    /// What to copy.
    #[arg(value_name = "SRC")]
    pub source: String,

    /// Where to copy it.
    #[arg(value_name = "DST")]
    pub destination: String,

    /// Copy every image of an index and the index itself (its digest is kept).
    #[arg(long, conflicts_with = "platform")]
    pub all_platforms: bool,

    /// The image to copy from an index: os/arch[/variant] [default: this machine's].
    #[arg(long, value_name = "OS/ARCH[/VARIANT]")]
    pub platform: Option<String>,
}

#[derive(Subcommand, Debug)]
pub enum IndexCommand {
    /// Push an OCI image index (or Docker manifest list) of manifests already in the
    /// repository, each with its platform (read from its config unless given).
    #[command(
        after_help = "Example:\n  wharf index create 127.0.0.1:5000/app:1 \\\n    --manifest 127.0.0.1:5000/app:1-amd64 --manifest 127.0.0.1:5000/app@sha256:... --platform linux/amd64 --platform linux/arm64/v8"
    )]
    Create(IndexCreateArgs),
}

#[derive(Args, Debug)]
pub struct IndexCreateArgs {
    /// Where to push the index: HOST[:PORT]/REPO[:TAG] (tag `latest` without one).
    #[arg(value_name = "REF")]
    pub reference: String,

    /// A child manifest in the same repository: a full reference, a tag or a digest.
    #[arg(long = "manifest", short = 'm', value_name = "REF", required = true)]
    pub manifests: Vec<String>,

    /// The platforms of the children, in the order of --manifest (all or none);
    /// without them each is read from the image's config.
    #[arg(long = "platform", value_name = "OS/ARCH[/VARIANT]")]
    pub platforms: Vec<String>,

    /// Push a Docker manifest list instead of an OCI image index.
    #[arg(long)]
    pub docker: bool,

    /// An annotation of the index.
    #[arg(long = "annotation", value_name = "KEY=VALUE")]
    pub annotations: Vec<String>,
}

#[derive(Args, Debug)]
pub struct TagArgs {
    /// The manifest to tag: HOST[:PORT]/REPO[:TAG|@DIGEST].
    #[arg(value_name = "REF")]
    pub reference: String,

    /// The new tags, in the same repository.
    #[arg(value_name = "NEWTAG", required = true)]
    pub tags: Vec<String>,
}

#[derive(Args, Debug)]
pub struct TagsArgs {
    /// The repository: HOST[:PORT]/REPO.
    #[arg(value_name = "REPO")]
    pub repository: String,

    /// Tags asked for per page (the listing follows every page) [default: the registry's].
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub page_size: Option<u32>,
}

#[derive(Args, Debug)]
pub struct InspectArgs {
    /// The manifest or index: HOST[:PORT]/REPO[:TAG|@DIGEST].
    #[arg(value_name = "REF")]
    pub reference: String,

    /// Print the manifest's exact bytes, nothing else.
    #[arg(long, conflicts_with = "json")]
    pub raw: bool,
}

#[derive(Args, Debug)]
pub struct ReferrersArgs {
    /// The subject manifest: HOST[:PORT]/REPO[:TAG|@DIGEST].
    #[arg(value_name = "REF")]
    pub reference: String,

    /// Only referrers of this artifact type.
    #[arg(long, value_name = "TYPE")]
    pub artifact_type: Option<String>,
}

#[derive(Args, Debug)]
#[command(
    after_help = "Example: wharf attach 127.0.0.1:5000/app:v1 --artifact-type application/vnd.example.sbom \
sbom.json:application/json"
)]
pub struct AttachArgs {
    /// The manifest to attach to (its subject): HOST[:PORT]/REPO[:TAG|@DIGEST].
    #[arg(value_name = "REF")]
    pub reference: String,

    /// The artifact's artifactType.
    #[arg(long, value_name = "TYPE", required = true)]
    pub artifact_type: String,

    /// Files, each one layer titled with its file name; `:MEDIATYPE` sets its media type
    /// [default: application/vnd.oci.image.layer.v1.tar].
    #[arg(value_name = "FILE[:MEDIATYPE]")]
    pub files: Vec<String>,

    /// An annotation of the manifest (repeatable).
    #[arg(long = "annotation", short = 'a', value_name = "KEY=VALUE")]
    pub annotations: Vec<String>,
}

#[derive(Args, Debug)]
#[command(
    after_help = "By tag, the manifest the tag names is deleted (and with it every tag on it, \
on most registries); --tag-only deletes the tag alone."
)]
pub struct DeleteArgs {
    /// HOST[:PORT]/REPO:TAG or HOST[:PORT]/REPO@DIGEST; with --blob, REPO@DIGEST of a blob.
    #[arg(value_name = "REF")]
    pub reference: String,

    /// Delete only the tag, not the manifest it names.
    #[arg(long, conflicts_with = "blob")]
    pub tag_only: bool,

    /// Delete the blob REPO@DIGEST.
    #[arg(long)]
    pub blob: bool,
}

#[derive(Args, Debug)]
pub struct LoginArgs {
    /// The registry: HOST[:PORT].
    #[arg(value_name = "REGISTRY")]
    pub registry: String,

    /// Read the password from standard input (one line); it takes the place of
    /// WHARF_PASSWORD, and cannot go with --password.
    #[arg(long)]
    pub password_stdin: bool,
}

#[derive(Args, Debug)]
pub struct LogoutArgs {
    /// The registry: HOST[:PORT].
    #[arg(value_name = "REGISTRY")]
    pub registry: String,
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

    /// After SIGTERM or SIGINT, how long the server goes on serving (new connections
    /// too) while `/readyz` answers 503, so that load balancers stop sending to it
    /// before it closes its listener [default: 0s].
    #[arg(long, env = "WHARF_SHUTDOWN_DELAY", value_name = "DURATION", value_parser = humantime::parse_duration)]
    pub shutdown_delay: Option<std::time::Duration>,

    /// Whether the server collects garbage on its own, every --gc-interval
    /// [default: true].
    #[arg(long = "gc", env = "WHARF_GC", action = ArgAction::Set, value_name = "BOOL")]
    pub gc_enabled: Option<bool>,

    /// Time between two garbage collections, e.g. 30m, 1h [default: 1h].
    #[arg(long, env = "WHARF_GC_INTERVAL", value_name = "DURATION", value_parser = humantime::parse_duration)]
    pub gc_interval: Option<std::time::Duration>,

    /// Only what is older than this is collected: a blob pushed for a manifest not yet
    /// pushed, an untagged manifest about to be tagged [default: 1h].
    #[arg(long, env = "WHARF_GC_GRACE", value_name = "DURATION", value_parser = humantime::parse_duration)]
    pub gc_grace: Option<std::time::Duration>,

    /// Keep untagged manifests (and what they use) instead of collecting them
    /// [default: false].
    #[arg(long, env = "WHARF_GC_KEEP_UNTAGGED", action = ArgAction::Set, value_name = "BOOL")]
    pub gc_keep_untagged: Option<bool>,

    /// Scrub (read back and verify every stored blob) this often; off unless given.
    #[arg(long, env = "WHARF_SCRUB_INTERVAL", value_name = "DURATION", value_parser = humantime::parse_duration)]
    pub scrub_interval: Option<std::time::Duration>,

    /// Bytes per second a scrub reads at most, e.g. 50MiB [default: no limit].
    #[arg(long, env = "WHARF_SCRUB_RATE", value_name = "BYTES", value_parser = crate::lifecycle::parse_bytes)]
    pub scrub_rate: Option<u64>,

    /// Bytes the whole registry may hold, each blob counted once however many
    /// repositories link it, e.g. 500GiB; pushes past it get 403 DENIED [default: no
    /// limit].
    #[arg(long, env = "WHARF_TOTAL_QUOTA", value_name = "BYTES", value_parser = crate::lifecycle::parse_bytes)]
    pub total_quota: Option<u64>,
    /// How long a new connection may take to send its first request's headers before
    /// it is closed [default: 30s].
    #[arg(long, env = "WHARF_HEADER_TIMEOUT", value_name = "DURATION", value_parser = humantime::parse_duration)]
    pub header_timeout: Option<std::time::Duration>,

    /// How long a connection with no request in progress stays open after its last
    /// response [default: 60s].
    #[arg(long, env = "WHARF_IDLE_TIMEOUT", value_name = "DURATION", value_parser = humantime::parse_duration)]
    pub idle_timeout: Option<std::time::Duration>,

    /// Connections open at once, at most half the open-file limit; when all are taken,
    /// the longest idle one is closed for a new one [default: 4096].
    #[arg(long, env = "WHARF_MAX_CONNECTIONS", value_name = "N")]
    pub max_connections: Option<usize>,

    /// Reverse proxies whose X-Forwarded-For names the client (for the failed-login
    /// limit), comma-separated IP addresses or networks (10.0.0.0/8) [default: none].
    #[arg(long, env = "WHARF_TRUSTED_PROXIES", value_name = "LIST", value_delimiter = ',')]
    pub trusted_proxies: Option<Vec<String>>,

    /// Whether a mount without `from` links a blob the registry already holds
    /// [default: true].
    #[arg(long, env = "WHARF_MOUNT_WITHOUT_FROM", action = ArgAction::Set, value_name = "BOOL")]
    pub mount_without_from: Option<bool>,

    /// Accept manifests whose blobs or child manifests are not in the repository
    /// (sparse mirrors) [default: false].
    #[arg(long, env = "WHARF_ALLOW_SPARSE_MANIFESTS", action = ArgAction::Set, value_name = "BOOL")]
    pub allow_sparse_manifests: Option<bool>,

    /// Hash every whole-blob download as it streams and break the connection when the
    /// bytes do not match the digest (damage on disk); costs a hash of every byte served
    /// [default: false].
    #[arg(long, env = "WHARF_VERIFY_BLOB_READS", action = ArgAction::Set, value_name = "BOOL")]
    pub verify_blob_reads: Option<bool>,

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

    /// Count failed logins in the PostgreSQL metadata database, so that replicas share
    /// one limit (needs --metadata postgres); `--login-limit-shared` alone means true
    /// [default: false, each replica counts on its own].
    #[arg(
        long,
        env = "WHARF_LOGIN_LIMIT_SHARED",
        action = ArgAction::Set,
        value_name = "BOOL",
        num_args = 0..=1,
        default_missing_value = "true"
    )]
    pub login_limit_shared: Option<bool>,

    /// Log filter, in tracing's EnvFilter syntax, e.g. info, wharf=debug [default: info].
    #[arg(long, env = "WHARF_LOG", value_name = "FILTER")]
    pub log: Option<String>,

    /// Blob storage: --storage and the --s3-* options.
    #[command(flatten)]
    pub storage: crate::storage_config::StorageArgs,
    /// Serve HTTPS with this PEM certificate chain (the server's certificate first,
    /// then intermediates); needs --tls-key. Reloaded when the file changes.
    #[arg(long, env = "WHARF_TLS_CERT", value_name = "FILE")]
    pub tls_cert: Option<PathBuf>,

    /// The PEM private key of --tls-cert (PKCS#8, RSA PKCS#1 or EC SEC1).
    #[arg(long, env = "WHARF_TLS_KEY", value_name = "FILE")]
    pub tls_key: Option<PathBuf>,

    /// Verify client certificates against the CA certificates in this PEM file; a
    /// verified certificate's subject signs in as that user.
    #[arg(long, env = "WHARF_TLS_CLIENT_CA", value_name = "FILE")]
    pub tls_client_ca: Option<PathBuf>,

    /// With --tls-client-ca: whether a client certificate is `required` or `optional`
    /// [default: required].
    #[arg(long, env = "WHARF_TLS_CLIENT_AUTH", value_name = "MODE")]
    pub tls_client_auth: Option<crate::tls::ClientAuth>,
    /// Log lines as `text` (for people) or `json` (one JSON object a line, for log
    /// pipelines) [default: text].
    #[arg(long, env = "WHARF_LOG_FORMAT", value_name = "FORMAT")]
    pub log_format: Option<String>,

    /// Whether every request is logged (one line each, with its request id, subject,
    /// repository, endpoint, status, bytes and duration) [default: true].
    #[arg(long, env = "WHARF_LOG_REQUESTS", action = ArgAction::Set, value_name = "BOOL")]
    pub log_requests: Option<bool>,

    /// Whether Prometheus metrics are served at /metrics [default: true].
    #[arg(long = "metrics", env = "WHARF_METRICS", action = ArgAction::Set, value_name = "BOOL")]
    pub metrics_enabled: Option<bool>,

    /// Serve /metrics on this address instead of the main one (e.g. a private
    /// interface), so it need not be public [default: on the main address].
    #[arg(long, env = "WHARF_METRICS_LISTEN", value_name = "ADDR")]
    pub metrics_listen: Option<SocketAddr>,

    /// Send OpenTelemetry traces over OTLP/HTTP to this collector, e.g.
    /// http://127.0.0.1:4318 (spans go to its /v1/traces); needs a build with
    /// `--features otlp` [default: no traces].
    #[arg(long, env = "WHARF_OTLP_ENDPOINT", value_name = "URL")]
    pub otlp_endpoint: Option<String>,

    /// The service.name of the traces [default: wharf].
    #[arg(long, env = "WHARF_OTLP_SERVICE_NAME", value_name = "NAME")]
    pub otlp_service_name: Option<String>,

    /// The share of requests traced, from 0 to 1 [default: 1].
    #[arg(long, env = "WHARF_OTLP_SAMPLE_RATIO", value_name = "RATIO")]
    pub otlp_sample_ratio: Option<f64>,
    #[command(flatten)]
    pub metadata: MetadataArgs,

    /// Whether the web UI is served at /ui/ (and / redirects to it) [default: true].
    #[arg(long = "ui", env = "WHARF_UI", action = ArgAction::Set, value_name = "BOOL")]
    pub ui_enabled: Option<bool>,
}

/// Where the metadata lives (`wharf serve` and `wharf gc`).
#[derive(Args, Debug, Default, Clone)]
pub struct MetadataArgs {
    /// Metadata store: sqlite (a file in the data directory) or postgres (a database
    /// replicas share; in a build with --features postgres or full) [default: sqlite].
    #[arg(long, env = "WHARF_METADATA", value_name = "KIND")]
    pub metadata: Option<String>,

    /// PostgreSQL database URL, e.g. postgres://wharf:PASSWORD@db:5432/wharf.
    #[arg(long, env = "WHARF_POSTGRES_URL", hide_env_values = true, value_name = "URL")]
    pub postgres_url: Option<String>,

    /// Connections to PostgreSQL kept open at most [default: 16].
    #[arg(long, env = "WHARF_POSTGRES_POOL_SIZE", value_name = "N")]
    pub postgres_pool_size: Option<usize>,
}
