//! End-to-end tests of the `wharf` binary: real processes, real TCP, real clients.

mod harness;

mod auth_clients;
mod crash;
mod crash_small;
mod embed;
mod interop_oci_client;
mod interop_podman;
mod interop_skopeo;
mod memory;
mod oci_layout;
mod shutdown;
