//! The behaviour the distribution spec asks for, endpoint by endpoint and error code by
//! error code, checked over real TCP against the registry library (fs + SQLite); and
//! the storage contracts, checked against every adapter.

mod client;
mod content;
mod harness;
mod raw;

mod adapters;
mod bad_manifests;
mod bad_names;
mod bad_paths;
mod bad_uploads;
mod base;
mod blobs_pull;
mod cache_size;
mod catalog;
mod concurrency;
mod damage;
mod deletes;
mod events;
mod full_disk;
mod gc;
mod gc_race;
mod gc_race_harness;
mod gc_replicas;
mod lifecycle;
mod manifests;
mod mounts;
mod quotas;
mod referrers;
mod replicas;
mod s3;
mod s3_parts;
mod tags;
mod uploads;
