//! Runs every check of a contract, each on a fresh store, and reports those that failed.

use super::{blob_store, meta_store};
use crate::meta::MetaStore;
use crate::storage::BlobStore;
use futures::future::BoxFuture;
use futures::FutureExt;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::time::Duration;

/// Longest a check may take before it counts as failed (a store that hangs).
const CHECK_TIME_LIMIT: Duration = Duration::from_secs(120);

/// One check of a contract: an async function that panics where a store of type `S`
/// breaks it.
pub struct Check<S: ?Sized + 'static> {
    pub name: &'static str,
    pub run: fn(&S) -> BoxFuture<'_, ()>,
}

/// The checks of a contract that a store failed, each with its panic message.
#[derive(Clone, PartialEq, Eq)]
pub struct ContractBroken {
    /// `BlobStore` or `MetaStore`.
    pub contract: &'static str,
    /// How many checks ran.
    pub checks: usize,
    /// `(check, message)` of each failed check, in the order they ran.
    pub failures: Vec<(&'static str, String)>,
}

impl std::fmt::Display for ContractBroken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "the {} contract is broken: {} of {} checks failed",
            self.contract,
            self.failures.len(),
            self.checks
        )?;
        for (check, message) in &self.failures {
            write!(f, "\n- {check}: {message}")?;
        }
        Ok(())
    }
}

/// As `Display`, so that `.unwrap()` in a test prints the list readably.
impl std::fmt::Debug for ContractBroken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Display::fmt(self, f)
    }
}

impl std::error::Error for ContractBroken {}

/// Runs every check of the [`BlobStore`] contract ([`blob_store::CHECKS`]), each on a
/// fresh, empty store `new_store` makes, and names those that failed. Needs a Tokio
/// runtime (a check that takes over two minutes fails).
pub async fn blob_store_contract<S, F, Fut>(new_store: F) -> Result<(), ContractBroken>
where
    S: BlobStore,
    F: FnMut() -> Fut,
    Fut: Future<Output = S>,
{
    run_all("BlobStore", blob_store::CHECKS, new_store, |store| store).await
}

/// Runs every check of the [`MetaStore`] contract ([`meta_store::CHECKS`]), each on a
/// fresh, empty store `new_store` makes, and names those that failed. Needs a Tokio
/// runtime (a check that takes over two minutes fails).
pub async fn meta_store_contract<S, F, Fut>(new_store: F) -> Result<(), ContractBroken>
where
    S: MetaStore,
    F: FnMut() -> Fut,
    Fut: Future<Output = S>,
{
    run_all("MetaStore", meta_store::CHECKS, new_store, |store| store).await
}

async fn run_all<S, T, F, Fut>(
    contract: &'static str,
    checks: &'static [Check<T>],
    mut new_store: F,
    as_dyn: fn(&S) -> &T,
) -> Result<(), ContractBroken>
where
    T: ?Sized + 'static,
    F: FnMut() -> Fut,
    Fut: Future<Output = S>,
{
    let mut failures = Vec::new();
    for check in checks {
        let store = new_store().await;
        let run = AssertUnwindSafe((check.run)(as_dyn(&store))).catch_unwind();
        match tokio::time::timeout(CHECK_TIME_LIMIT, run).await {
            Ok(Ok(())) => {}
            Ok(Err(panic)) => failures.push((check.name, panic_message(panic.as_ref()))),
            Err(_) => failures.push((check.name, format!("did not finish within {CHECK_TIME_LIMIT:?}"))),
        }
    }
    if failures.is_empty() {
        Ok(())
    } else {
        Err(ContractBroken {
            contract,
            checks: checks.len(),
            failures,
        })
    }
}

/// The text a check panicked with (`assert!`'s message).
fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    if let Some(text) = panic.downcast_ref::<String>() {
        text.clone()
    } else if let Some(text) = panic.downcast_ref::<&str>() {
        text.to_string()
    } else {
        "panicked".to_string()
    }
}
