//! A Rust application that embeds the registry: its router mounted under a path prefix
//! (with and without access control), and running the registry's background work.

mod app;

mod maintenance;
mod nested;
