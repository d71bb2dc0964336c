//! End-to-end tests of the `wharf` binary: real processes, real TCP, real clients.

mod harness;

mod auth_clients;
mod cli_artifacts;
mod cli_bench;
mod cli_copy;
mod cli_credentials;
mod cli_errors;
mod cli_faults;
mod cli_harness;
mod cli_index;
mod cli_interop;
mod cli_login;
mod cli_mirror;
mod cli_referrers;
mod cli_resume;
mod cli_sign;
mod cli_tls;
mod cli_verify;
mod cluster;
mod connections;
mod crash;
mod crash_small;
mod embed;
mod gc;
mod gc_crash;
mod interop_buildah;
mod interop_docker;
mod interop_oci_client;
mod interop_oras_py;
mod interop_podman;
mod interop_skopeo;
mod lifecycle;
mod memory;
mod observability;
mod oci_layout;
#[cfg(feature = "otlp")]
mod otlp;
mod postgres;
mod pull_through;
mod s3_storage;
mod serve_tls;
mod shutdown;
mod soak;
