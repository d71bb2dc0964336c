//! The failed-login limit shared through PostgreSQL, with two adapter instances on two
//! pools standing for two replicas: together they never hand out more places than the
//! limit, a window that passes frees the address (even of places a dead replica held),
//! a success forgives nothing, and a database out of reach refuses logins rather than
//! letting them through.

use std::net::IpAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use wharf_registry::auth::login_limits::{LoginLimits, Refused};
use wharf_registry::meta::{PostgresConfig, PostgresLoginLimits};
use wharf_testkit::Postgres;

async fn fresh_database() -> String {
    tokio::task::spawn_blocking(Postgres::fresh_database).await.unwrap()
}

/// One replica's limit on `url`, with a pool of its own.
async fn replica(url: &str, max: u32, window: Duration) -> PostgresLoginLimits {
    let mut config = PostgresConfig::new(url);
    config.pool_size = 4;
    PostgresLoginLimits::connect(&config, max, window).await.unwrap()
}

fn address(text: &str) -> Option<IpAddr> {
    Some(text.parse().unwrap())
}

fn retry_after(refused: Refused) -> Duration {
    match refused {
        Refused::TooMany(after) => after,
        other => panic!("refused for another reason: {other:?}"),
    }
}

/// 120 attempts from one address at once, spread over two replicas; each holds its
/// place a moment (a password check), the first three succeed and the rest fail.
/// Successes give their places back, so exactly 3 + MAX attempts are checked, never
/// more than MAX at a time, and every other attempt is refused with a retry time.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_replicas_together_never_hand_out_more_than_the_limit() {
    const MAX: u32 = 5;
    let url = fresh_database().await;
    let replicas: [Arc<dyn LoginLimits>; 2] = [
        Arc::new(replica(&url, MAX, Duration::from_secs(600)).await),
        Arc::new(replica(&url, MAX, Duration::from_secs(600)).await),
    ];
    let client = address("10.1.2.3");
    let checked = Arc::new(AtomicUsize::new(0));
    let in_flight = Arc::new(AtomicUsize::new(0));
    let peak = Arc::new(AtomicUsize::new(0));
    let mut attempts = Vec::new();
    for i in 0..120 {
        let limits = replicas[i % 2].clone();
        let (checked, in_flight, peak) = (checked.clone(), in_flight.clone(), peak.clone());
        attempts.push(tokio::spawn(async move {
            let attempt = match limits.attempt(client).await {
                Ok(attempt) => attempt,
                Err(refused) => return Err(retry_after(refused)),
            };
            let n = checked.fetch_add(1, Ordering::SeqCst);
            let now = in_flight.fetch_add(1, Ordering::SeqCst) + 1;
            peak.fetch_max(now, Ordering::SeqCst);
            tokio::time::sleep(Duration::from_millis(20)).await;
            in_flight.fetch_sub(1, Ordering::SeqCst);
            if n < 3 {
                attempt.succeeded().await;
            } else {
                attempt.failed().await;
            }
            Ok(())
        }));
    }
    let mut refused = 0;
    for attempt in attempts {
        if let Err(after) = attempt.await.unwrap() {
            assert!(
                after > Duration::from_secs(500) && after <= Duration::from_secs(600),
                "{after:?}"
            );
            refused += 1;
        }
    }
    let checked = checked.load(Ordering::SeqCst);
    assert_eq!(checked, 3 + MAX as usize, "checked on both replicas together");
    assert_eq!(refused, 120 - checked);
    assert!(peak.load(Ordering::SeqCst) <= MAX as usize, "{peak:?} checks at once");
    // Refused on either replica now, another address not.
    for limits in &replicas {
        assert!(matches!(limits.attempt(client).await, Err(Refused::TooMany(_))));
    }
    replicas[0]
        .attempt(address("10.1.2.4"))
        .await
        .unwrap()
        .succeeded()
        .await;
}

/// Failures on one replica count on the other, a success forgives none of them, and
/// once the window has passed the address may try again.
#[tokio::test]
async fn a_success_forgives_nothing_and_the_window_passing_frees_the_address() {
    let url = fresh_database().await;
    let window = Duration::from_millis(1500);
    let (a, b) = (replica(&url, 2, window).await, replica(&url, 2, window).await);
    let client = address("10.0.0.1");
    a.attempt(client).await.unwrap().failed().await;
    b.attempt(client).await.unwrap().succeeded().await;
    a.attempt(client).await.unwrap().succeeded().await;
    b.attempt(client).await.unwrap().failed().await;
    let after = retry_after(a.attempt(client).await.unwrap_err());
    assert!(after <= window.max(Duration::from_secs(1)), "{after:?}");
    assert!(
        b.attempt(client).await.is_err(),
        "two failures on two replicas: refused on both"
    );
    tokio::time::sleep(window + Duration::from_millis(100)).await;
    b.attempt(client).await.unwrap().failed().await;
    a.attempt(client).await.unwrap().failed().await;
    assert!(
        a.attempt(client).await.is_err(),
        "the new window has its own two failures"
    );
}

/// A replica that dies holding every place of an address (its checks never end) locks
/// the address out only until the window ends: another replica then gets a place.
#[tokio::test]
async fn places_of_a_replica_that_died_lapse_with_the_window() {
    let url = fresh_database().await;
    let window = Duration::from_secs(2);
    let (dying, alive) = (replica(&url, 2, window).await, replica(&url, 2, window).await);
    let client = address("10.0.0.9");
    let started = Instant::now();
    // Never ended, not even dropped: as if the process had died in the checks.
    std::mem::forget(dying.attempt(client).await.unwrap());
    std::mem::forget(dying.attempt(client).await.unwrap());
    drop(dying);
    let attempt = tokio::time::timeout(Duration::from_secs(8), alive.attempt(client))
        .await
        .expect("a place within the window, not after the wait gives up")
        .unwrap();
    let waited = started.elapsed();
    assert!(
        waited >= window - Duration::from_millis(200),
        "the places were held: {waited:?}"
    );
    assert!(
        waited < window + Duration::from_secs(2),
        "freed with the window: {waited:?}"
    );
    attempt.failed().await;
}

/// A dropped attempt (a cancelled request) gives its place back on the database too.
#[tokio::test]
async fn a_dropped_attempt_gives_its_place_back() {
    let url = fresh_database().await;
    let (a, b) = (
        replica(&url, 1, Duration::from_secs(600)).await,
        replica(&url, 1, Duration::from_secs(600)).await,
    );
    drop(a.attempt(None).await.unwrap());
    let attempt = tokio::time::timeout(Duration::from_secs(5), b.attempt(None))
        .await
        .expect("the place came back")
        .unwrap();
    attempt.failed().await;
    assert!(matches!(a.attempt(None).await, Err(Refused::TooMany(_))));
}

/// With the database out of reach, an attempt is refused as unavailable: not let
/// through, and not waited on for ever.
#[tokio::test]
async fn a_database_out_of_reach_refuses_logins() {
    let url = fresh_database().await;
    let limits = replica(&url, 3, Duration::from_secs(60)).await;
    limits.attempt(address("10.0.0.1")).await.unwrap().failed().await;
    let name = url.rsplit('/').next().unwrap().to_string();
    let admin_url = url.replace(&format!("/{name}"), "/postgres");
    let (admin, connection) = tokio_postgres::connect(&admin_url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(connection);
    admin
        .batch_execute(&format!(
            "ALTER DATABASE \"{name}\" WITH ALLOW_CONNECTIONS false;
             SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}';"
        ))
        .await
        .unwrap();
    let refused = tokio::time::timeout(Duration::from_secs(30), limits.attempt(address("10.0.0.1")))
        .await
        .expect("answered in time")
        .unwrap_err();
    assert!(matches!(refused, Refused::Unavailable(_)), "{refused:?}");
}
