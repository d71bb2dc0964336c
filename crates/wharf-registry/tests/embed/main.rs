//! A Rust application that embeds the registry: its router mounted under a path prefix
//! (with and without access control), running the registry's background work, and
//! checking its own storage adapters with the public test kit.

mod app;

mod health;

mod maintenance;
mod nested;
mod testkit;
