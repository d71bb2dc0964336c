//! The client library against real registries over loopback TCP: wharf in-process
//! (open, Basic and token modes), CNCF Distribution, and a fault-injecting proxy.

mod harness;

mod auth;
mod bench;
mod blobs;
mod distribution;
mod faults;
mod images;
mod referrers;
