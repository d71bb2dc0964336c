//! Test support for wharf's client library and CLI tests (dev-only, never published):
//!
//! - [`Distribution`]: CNCF Distribution, the reference registry, as a private child
//!   process, to test the client against a registry that is not wharf.
//! - [`FaultProxy`]: a reverse proxy in front of any registry that injects the failures
//!   a client must survive (error statuses, cut and corrupted bodies, delays), and logs
//!   what it saw so that tests can assert that retries and resumes happened.
//!
//! - [`TlsProxy`]: a TLS-terminating proxy with its own test CA in front of a plain
//!   registry, for the client's TLS options (CAs, certs.d, mutual TLS, `--insecure`).
//!
//! - [`SeaweedFs`]: SeaweedFS, a real S3-compatible server, for the S3 blob store.
//! - [`Postgres`]: PostgreSQL from the Debian package, one private server per test
//!   binary with a fresh database per test, for the PostgreSQL metadata store.
//!
//! - [`RoundRobin`]: a per-request round-robin load balancer in front of replicas.
//!
//! - [`http_client_builder`]: the tests' HTTP clients, with the TLS crypto provider
//!   reqwest needs installed once.
//!
//! Everything listens on 127.0.0.1 only, and every wait is bounded.

mod background;
mod balancer;
mod distribution;
mod http;
mod postgres;
mod proxy;
mod seaweedfs;
mod tls;

pub use balancer::{RoundRobin, Routed};
pub use distribution::Distribution;
pub use http::{http_client_builder, install_crypto_provider};
pub use postgres::Postgres;
pub use proxy::{Fault, FaultProxy, FaultRule, SeenRequest, Traffic};
pub use seaweedfs::SeaweedFs;
pub use tls::{KeyKind, PemPair, TestCa, TlsProxy};
