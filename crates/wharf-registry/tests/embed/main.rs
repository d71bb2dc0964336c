//! A Rust application that embeds the registry: its router mounted under a path prefix
//! (with and without access control).

mod app;

mod nested;
