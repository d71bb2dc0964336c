//! The failed-login limit in the database the replicas share: an adapter of
//! [`LoginLimits`] whose counts are rows of `login_limits`, so that N replicas behind a
//! load balancer allow `max_failures` guesses per address between them, not N times it.
//!
//! **A place is taken in one statement**: an upsert of the address's row that adds one
//! place only `WHERE failures + in_flight < max` (or the window has passed, when it
//! starts a new one), `RETURNING` the window the place was taken in. PostgreSQL locks
//! the row for the upsert and evaluates the condition on its latest version, so two
//! replicas taking places at once are counted one after the other and together never
//! hand out more than `max_failures`.
//!
//! **A place belongs to the window it was taken in.** Its end (a failure counted, or the
//! place given back) is recorded only while that window lasts; once the window has
//! passed, the next attempt starts a new one with every count at zero. So a replica
//! that dies holding places (its checks never end) locks the address out until the end
//! of the window at most, and each window hands out at most `max_failures` places: a
//! guess is counted in the window it started in. Times are the database's clock, so
//! replicas' clocks need not agree.
//!
//! **When the database cannot be reached**, an attempt is refused
//! ([`Refused::Unavailable`], answered 503), never let through unlimited, and not
//! counted on this replica alone either: a limit that falls back to per-replica counts
//! whenever the database is out of reach multiplies the guesses by the number of
//! replicas exactly when someone may be provoking the outage (e.g. by using up its
//! connections). While the database is unreachable the registry cannot serve manifests
//! or blobs anyway, and bearer tokens already issued do not pass through the limit.

use super::{db_err, pool, schema, PostgresConfig};
use crate::auth::login_limits::{warn_if_address_unknown, Attempt, LoginLimits, Outcome, Place, Refused};
use crate::meta::MetaResult;
use async_trait::async_trait;
use deadpool_postgres::Pool;
use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The database's clock, in milliseconds since the epoch.
const NOW_MS: &str = "(extract(epoch FROM clock_timestamp()) * 1000)::bigint";

/// How long an attempt waits for a place held by checks in flight (which may be on a
/// replica that died) before it is refused until the window ends.
const MAX_WAIT: Duration = Duration::from_secs(10);

/// The first and the longest pause between two looks at a full address's count.
const FIRST_PAUSE: Duration = Duration::from_millis(5);
const LONGEST_PAUSE: Duration = Duration::from_millis(200);

/// Rows of windows that have passed are deleted once every this many places a replica
/// takes (they hold nothing: the next attempt would start afresh anyway).
const SWEEP_EVERY: u64 = 1024;

/// The failed-login limit shared through PostgreSQL (see the module's documentation).
/// Cloning it shares its pool.
#[derive(Clone)]
pub struct PostgresLoginLimits {
    shared: Arc<Shared>,
}

struct Shared {
    pool: Pool,
    max_failures: i32,
    window_ms: i64,
    /// Places taken by this replica, to sweep now and then.
    taken: AtomicU64,
    warned_no_address: AtomicBool,
}

impl std::fmt::Debug for PostgresLoginLimits {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresLoginLimits")
            .field("max_failures", &self.shared.max_failures)
            .field("window_ms", &self.shared.window_ms)
            .finish()
    }
}

/// What a look at an address's count found.
enum Taken {
    /// A place, in the window that started at this time (ms).
    Yes(i64),
    /// The failures alone reached the limit: refused for this long.
    Refused(Duration),
    /// The places are held by checks in flight; the window ends in this long.
    Wait(Duration),
}

impl PostgresLoginLimits {
    /// Connects with a pool of its own (`config.pool_size` connections at most; a login
    /// holds one for a statement) and brings the tables up to this build's version.
    /// At most `max_failures` (at least 1) failed logins per address within `window`.
    pub async fn connect(
        config: &PostgresConfig,
        max_failures: u32,
        window: Duration,
    ) -> MetaResult<PostgresLoginLimits> {
        let pool = pool(config)?;
        let mut client = pool.get().await.map_err(db_err)?;
        schema::migrate(&mut client).await.map_err(db_err)?;
        drop(client);
        Ok(PostgresLoginLimits {
            shared: Arc::new(Shared {
                pool,
                max_failures: max_failures.clamp(1, i32::MAX as u32) as i32,
                window_ms: window.as_millis().clamp(1, i64::MAX as u128) as i64,
                taken: AtomicU64::new(0),
                warned_no_address: AtomicBool::new(false),
            }),
        })
    }
}

#[async_trait]
impl LoginLimits for PostgresLoginLimits {
    /// Waits for a place held by checks in flight at most [`MAX_WAIT`]; refused
    /// [`Refused::Unavailable`] when the database cannot be reached.
    async fn attempt(&self, client: Option<IpAddr>) -> Result<Attempt, Refused> {
        warn_if_address_unknown(client, &self.shared.warned_no_address);
        // Clients without a known address share the empty key.
        let key = client.map(|ip| ip.to_string()).unwrap_or_default();
        let deadline = Instant::now() + MAX_WAIT;
        let mut pause = FIRST_PAUSE;
        loop {
            match self.shared.try_take(&key).await {
                Ok(Taken::Yes(window_start_ms)) => {
                    self.shared.sweep_now_and_then().await;
                    return Ok(Attempt::new(Box::new(SharedPlace {
                        shared: self.shared.clone(),
                        client: key,
                        window_start_ms,
                    })));
                }
                Ok(Taken::Refused(retry_after)) => return Err(Refused::TooMany(retry_after)),
                Ok(Taken::Wait(window_left)) if Instant::now() >= deadline => {
                    return Err(Refused::TooMany(window_left.max(Duration::from_secs(1))))
                }
                Ok(Taken::Wait(_)) => {
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(LONGEST_PAUSE);
                }
                Err(e) => return Err(Refused::Unavailable(e.to_string())),
            }
        }
    }
}

impl Shared {
    /// Takes a place for `client` if its window has room (one statement), else says why
    /// not from a second look at its row.
    async fn try_take(&self, client: &str) -> MetaResult<Taken> {
        let c = self.pool.get().await.map_err(db_err)?;
        let take = c
            .prepare_cached(&format!(
                "INSERT INTO login_limits AS l (client, window_start_ms, failures, in_flight)
                 VALUES ($1, {NOW_MS}, 0, 1)
                 ON CONFLICT (client) DO UPDATE SET
                     window_start_ms = CASE WHEN l.window_start_ms + $2 <= EXCLUDED.window_start_ms
                         THEN EXCLUDED.window_start_ms ELSE l.window_start_ms END,
                     failures = CASE WHEN l.window_start_ms + $2 <= EXCLUDED.window_start_ms
                         THEN 0 ELSE l.failures END,
                     in_flight = CASE WHEN l.window_start_ms + $2 <= EXCLUDED.window_start_ms
                         THEN 1 ELSE l.in_flight + 1 END
                 WHERE l.window_start_ms + $2 <= EXCLUDED.window_start_ms OR l.failures + l.in_flight < $3
                 RETURNING window_start_ms"
            ))
            .await
            .map_err(db_err)?;
        if let Some(row) = c
            .query_opt(&take, &[&client, &self.window_ms, &self.max_failures])
            .await
            .map_err(db_err)?
        {
            return Ok(Taken::Yes(row.get(0)));
        }
        let look = c
            .prepare_cached(&format!(
                "SELECT failures, window_start_ms + $2 - {NOW_MS} FROM login_limits WHERE client = $1"
            ))
            .await
            .map_err(db_err)?;
        let Some(row) = c.query_opt(&look, &[&client, &self.window_ms]).await.map_err(db_err)? else {
            // Swept in between: the next look takes a place.
            return Ok(Taken::Wait(Duration::ZERO));
        };
        let failures: i32 = row.get(0);
        let left = Duration::from_millis(row.get::<_, i64>(1).max(0) as u64);
        if failures >= self.max_failures && !left.is_zero() {
            return Ok(Taken::Refused(left.max(Duration::from_secs(1))));
        }
        Ok(Taken::Wait(left))
    }

    /// Ends a place taken in the window that started at `window_start_ms`: one place
    /// fewer in flight, and one failure more if `failed`. Nothing when that window has
    /// passed (its counts are gone with it).
    async fn finish(&self, client: &str, window_start_ms: i64, failed: bool) -> MetaResult<()> {
        let c = self.pool.get().await.map_err(db_err)?;
        let stmt = c
            .prepare_cached(
                "UPDATE login_limits SET in_flight = greatest(in_flight - 1, 0),
                     failures = failures + CASE WHEN $3 THEN 1 ELSE 0 END
                 WHERE client = $1 AND window_start_ms = $2",
            )
            .await
            .map_err(db_err)?;
        c.execute(&stmt, &[&client, &window_start_ms, &failed])
            .await
            .map_err(db_err)?;
        Ok(())
    }

    /// Deletes the rows of windows that have passed, once every [`SWEEP_EVERY`] places.
    async fn sweep_now_and_then(&self) {
        if !self.taken.fetch_add(1, Ordering::Relaxed).is_multiple_of(SWEEP_EVERY) {
            return;
        }
        let swept = async {
            let c = self.pool.get().await.map_err(db_err)?;
            c.execute(
                &format!("DELETE FROM login_limits WHERE window_start_ms <= {NOW_MS} - $1"),
                &[&self.window_ms],
            )
            .await
            .map_err(db_err)
        };
        if let Err(e) = swept.await {
            tracing::debug!("old failed-login counts not swept: {e}");
        }
    }
}

/// A place taken in the shared count.
struct SharedPlace {
    shared: Arc<Shared>,
    client: String,
    window_start_ms: i64,
}

impl SharedPlace {
    async fn end(self: Box<Self>, failed: bool) {
        if let Err(e) = self.shared.finish(&self.client, self.window_start_ms, failed).await {
            // Still counted: the place stays taken until its window ends.
            tracing::warn!(
                "the end of a login attempt could not be recorded in the shared failed-login limit \
                 (its place stays taken until the window ends): {e}"
            );
        }
    }
}

#[async_trait]
impl Place for SharedPlace {
    async fn finish(self: Box<Self>, outcome: Outcome) {
        self.end(outcome == Outcome::Failed).await;
    }

    /// Given back by a task of its own; outside a runtime, the place lapses with its
    /// window.
    fn abandon(self: Box<Self>) {
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(self.end(false));
        }
    }
}
