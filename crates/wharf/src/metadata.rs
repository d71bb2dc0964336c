//! Where the server keeps its metadata: the embedded SQLite file in the data directory
//! (the default), or a PostgreSQL database that several replicas share. Chosen by
//! `[metadata] kind`, `--metadata` or `WHARF_METADATA`; `wharf serve` and `wharf gc`
//! open it the same way.
//!
//! The PostgreSQL store is compiled in by the `postgres` cargo feature; in a build
//! without it, a configuration that asks for it is refused when it is read.

use crate::cli::MetadataArgs;
use serde::Deserialize;
use std::path::Path;
use std::sync::Arc;
use wharf_registry::meta::{MetaStore, SqliteMetaStore};
#[cfg(feature = "postgres")]
use wharf_registry::meta::{PostgresConfig, PostgresMetaStore};

/// Connections to PostgreSQL a replica keeps at most, unless configured.
#[cfg(feature = "postgres")]
pub const DEFAULT_POOL_SIZE: usize = 16;

/// The metadata store to open.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Metadata {
    /// `metadata.sqlite` in the data directory.
    Sqlite,
    /// A PostgreSQL database, e.g. `postgres://wharf:secret@db:5432/wharf`.
    #[cfg(feature = "postgres")]
    Postgres { url: String, pool_size: usize },
}

/// The `[metadata]` section of the config file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetadataFileConfig {
    kind: Option<String>,
    #[cfg_attr(not(feature = "postgres"), allow(dead_code))]
    postgres: Option<PostgresFileConfig>,
}

/// `[metadata.postgres]` (read in every build, used only with the `postgres` feature).
#[derive(Debug, Default, Deserialize)]
#[cfg_attr(not(feature = "postgres"), allow(dead_code))]
#[serde(deny_unknown_fields)]
struct PostgresFileConfig {
    url: Option<String>,
    pool_size: Option<usize>,
}

impl Metadata {
    /// The flags (and their `WHARF_*` variables) over the file's section.
    pub fn merge(args: &MetadataArgs, file: Option<MetadataFileConfig>) -> Result<Metadata, String> {
        let file = file.unwrap_or_default();
        let kind = args.metadata.clone().or(file.kind).unwrap_or_else(|| "sqlite".into());
        match kind.as_str() {
            "sqlite" => Ok(Metadata::Sqlite),
            #[cfg(feature = "postgres")]
            "postgres" | "postgresql" => postgres(args, file.postgres.unwrap_or_default()),
            #[cfg(not(feature = "postgres"))]
            "postgres" | "postgresql" => Err(crate::features::missing("metadata kind \"postgres\"", "postgres")),
            other => Err(format!("metadata kind must be 'sqlite' or 'postgres', not {other:?}")),
        }
    }

    /// Whether the metadata lives in the data directory (SQLite) rather than a server.
    pub fn uses_data_dir(&self) -> bool {
        matches!(self, Metadata::Sqlite)
    }

    /// Opens the store (creating or migrating its tables).
    pub async fn open(&self, data_dir: &Path, durable: bool) -> Result<Arc<dyn MetaStore>, String> {
        match self {
            Metadata::Sqlite => {
                let meta = SqliteMetaStore::open(data_dir.join("metadata.sqlite"), durable)
                    .await
                    .map_err(|e| format!("cannot open metadata database in {}: {e}", data_dir.display()))?;
                Ok(Arc::new(meta))
            }
            #[cfg(feature = "postgres")]
            Metadata::Postgres { url, pool_size } => {
                let mut config = PostgresConfig::new(url.clone());
                config.pool_size = *pool_size;
                let meta = PostgresMetaStore::connect(&config)
                    .await
                    .map_err(|e| format!("cannot open the PostgreSQL metadata database: {e}"))?;
                Ok(Arc::new(meta))
            }
        }
    }

    /// For the start-up line (never the URL, which may hold a password).
    pub fn describe(&self) -> &'static str {
        match self {
            Metadata::Sqlite => "metadata in SQLite",
            #[cfg(feature = "postgres")]
            Metadata::Postgres { .. } => "metadata in PostgreSQL",
        }
    }
}

/// `[metadata.postgres]` with the `--postgres-*` flags over it.
#[cfg(feature = "postgres")]
fn postgres(args: &MetadataArgs, postgres: PostgresFileConfig) -> Result<Metadata, String> {
    let url = args.postgres_url.clone().or(postgres.url).ok_or(
        "metadata kind postgres needs a database URL: --postgres-url, WHARF_POSTGRES_URL \
         or [metadata.postgres] url",
    )?;
    let pool_size = args
        .postgres_pool_size
        .or(postgres.pool_size)
        .unwrap_or(DEFAULT_POOL_SIZE);
    if pool_size == 0 {
        return Err("the PostgreSQL pool size must be at least 1".into());
    }
    Ok(Metadata::Postgres { url, pool_size })
}

// Tests are built with every backend (the dev-dependency on this package).
#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_by_default_postgres_when_chosen_flags_over_the_file() {
        assert_eq!(Metadata::merge(&MetadataArgs::default(), None), Ok(Metadata::Sqlite));
        let file: MetadataFileConfig =
            toml::from_str("kind = \"postgres\"\n[postgres]\nurl = \"postgres://a@h/db\"\npool_size = 4").unwrap();
        assert_eq!(
            Metadata::merge(&MetadataArgs::default(), Some(file)),
            Ok(Metadata::Postgres {
                url: "postgres://a@h/db".into(),
                pool_size: 4
            })
        );
        let args = MetadataArgs {
            metadata: Some("postgres".into()),
            postgres_url: Some("postgres://b@h/db".into()),
            postgres_pool_size: None,
        };
        let file: MetadataFileConfig = toml::from_str("[postgres]\nurl = \"postgres://a@h/db\"").unwrap();
        assert_eq!(
            Metadata::merge(&args, Some(file)),
            Ok(Metadata::Postgres {
                url: "postgres://b@h/db".into(),
                pool_size: DEFAULT_POOL_SIZE
            })
        );
    }

    #[test]
    fn refuses_unknown_kinds_and_postgres_without_a_url() {
        let kind = |k: &str| MetadataArgs {
            metadata: Some(k.into()),
            ..Default::default()
        };
        assert!(Metadata::merge(&kind("mysql"), None)
            .unwrap_err()
            .contains("'sqlite' or 'postgres'"));
        assert!(Metadata::merge(&kind("postgres"), None)
            .unwrap_err()
            .contains("--postgres-url"));
        assert!(toml::from_str::<MetadataFileConfig>("[postgres]\nuri = \"x\"").is_err());
    }
}
