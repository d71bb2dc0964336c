//! One behavioural suite per storage trait, written once over `&dyn BlobStore` and
//! `&dyn MetaStore` (the contracts in their doc comments) and run against every
//! adapter: memory and files for blobs, memory, SQLite and PostgreSQL for metadata.

/// One `#[tokio::test]` per check and adapter, so a failure names both (the checks are
/// functions of the invoking module). With `kit:` first, also a test that the list is
/// every check of the kit's `CHECKS`, so that a check added to the kit runs here.
macro_rules! on_every_meta_store {
    (kit: $($check:ident),* $(,)?) => {
        on_every_meta_store!($($check),*);
        #[test]
        fn every_check_of_the_kit_runs_on_every_adapter() {
            let mut here = vec![$(stringify!($check)),*];
            let mut kit: Vec<&str> = CHECKS.iter().map(|check| check.name).collect();
            here.sort();
            kit.sort();
            assert_eq!(here, kit);
        }
    };
    ($($check:ident),* $(,)?) => {
        mod memory {
            use super::*;
            $(#[tokio::test]
            async fn $check() {
                super::$check(&MemoryMetaStore::new()).await;
            })*
        }
        mod sqlite {
            use super::*;
            $(#[tokio::test]
            async fn $check() {
                let dir = tempfile::tempdir().unwrap();
                let meta = SqliteMetaStore::open(dir.path().join("metadata.sqlite"), true).await.unwrap();
                super::$check(&meta).await;
            })*
        }
        mod postgres {
            $(#[tokio::test]
            async fn $check() {
                let meta = super::super::meta_store_postgres::fresh_store().await;
                super::$check(&meta).await;
            })*
        }
    };
}

mod blob_store;
mod login_limits_postgres;
mod meta_store;
mod meta_store_gc;
mod meta_store_postgres;
