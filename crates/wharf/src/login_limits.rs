//! Where `wharf serve` counts failed logins: in its own process (the default), or, with
//! `[auth] login_limit_shared = true` (`--login-limit-shared`,
//! `WHARF_LOGIN_LIMIT_SHARED`), in the PostgreSQL metadata database, so that replicas
//! behind a load balancer allow `max_failed_logins` per address between them rather than
//! each.

use crate::auth::AuthConfig;
use crate::metadata::Metadata;
use std::sync::Arc;
use wharf_registry::auth::login_limits::LoginLimits;

/// Connections the shared limit keeps to PostgreSQL at most, beside the metadata pool:
/// a login holds one for a statement.
#[cfg(feature = "postgres")]
const POOL_SIZE: usize = 4;

/// Refuses a shared limit without a database to share it in, when the config is read.
pub fn check(auth: &AuthConfig, metadata: &Metadata) -> Result<(), String> {
    if auth.login_limit_shared == Some(true) && metadata.uses_data_dir() {
        return Err(
            "auth.login_limit_shared (--login-limit-shared, WHARF_LOGIN_LIMIT_SHARED) needs the \
                    metadata in PostgreSQL, where the replicas share the count: set [metadata] kind = \
                    \"postgres\" (--metadata postgres), or leave the limit to each replica"
                .into(),
        );
    }
    Ok(())
}

/// The shared limit, when the config asks for one and has a limit at all; `None`
/// leaves the per-process limit `access_control_over` set.
pub async fn shared(auth: &AuthConfig, metadata: &Metadata) -> Result<Option<Arc<dyn LoginLimits>>, String> {
    check(auth, metadata)?;
    let (Some(true), Some((max, window))) = (auth.login_limit_shared, auth.login_limit()) else {
        return Ok(None);
    };
    open(metadata, max, window).await
}

#[cfg(feature = "postgres")]
async fn open(
    metadata: &Metadata,
    max: u32,
    window: std::time::Duration,
) -> Result<Option<Arc<dyn LoginLimits>>, String> {
    use wharf_registry::meta::{PostgresConfig, PostgresLoginLimits};
    let Metadata::Postgres { url, .. } = metadata else {
        return Ok(None);
    };
    let mut config = PostgresConfig::new(url.clone());
    config.pool_size = POOL_SIZE;
    let limits = PostgresLoginLimits::connect(&config, max, window)
        .await
        .map_err(|e| format!("cannot open the shared failed-login limit in PostgreSQL: {e}"))?;
    tracing::info!(
        "failed logins counted in PostgreSQL: at most {max} per address within {window:?}, for all replicas"
    );
    Ok(Some(Arc::new(limits)))
}

/// Without the `postgres` feature there is no PostgreSQL metadata, which [`check`]
/// already refused.
#[cfg(not(feature = "postgres"))]
async fn open(
    _metadata: &Metadata,
    _max: u32,
    _window: std::time::Duration,
) -> Result<Option<Arc<dyn LoginLimits>>, String> {
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_shared_limit_needs_postgres() {
        let auth: AuthConfig = toml::from_str("mode = \"basic\"\nlogin_limit_shared = true").unwrap();
        let refused = check(&auth, &Metadata::Sqlite).unwrap_err();
        assert!(refused.contains("[metadata] kind = \"postgres\""), "{refused}");
        let postgres = Metadata::Postgres {
            url: "postgres://a@h/db".into(),
            pool_size: 4,
        };
        assert_eq!(check(&auth, &postgres), Ok(()));
        let local: AuthConfig = toml::from_str("mode = \"basic\"\nlogin_limit_shared = false").unwrap();
        assert_eq!(check(&local, &Metadata::Sqlite), Ok(()));
    }
}
