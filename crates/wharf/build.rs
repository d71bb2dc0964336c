//! Places the functions `wharf serve` runs at start-up and for common requests side by
//! side in the binary, from `link-order.txt` (made by `scripts/link-order`).
//!
//! The kernel maps a program's code 64 KiB at a time around each page it touches, so
//! a server whose start-up and request code is spread over a binary that also holds the
//! client keeps several MiB of code resident that it never runs. Ordered together, the
//! code it runs fills few such windows. A function missing from the list (renamed
//! since the list was made) is simply placed as the linker would have placed it.

use std::env;
use std::path::Path;
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-changed=link-order.txt");
    println!("cargo:rerun-if-changed=build.rs");
    let list = Path::new(&env::var("CARGO_MANIFEST_DIR").expect("cargo sets it")).join("link-order.txt");
    if list.exists() && links_with_lld() {
        println!(
            "cargo:rustc-link-arg-bin=wharf=-Wl,--symbol-ordering-file={}",
            list.display()
        );
        println!("cargo:rustc-link-arg-bin=wharf=-Wl,--no-warn-symbol-ordering");
    }
}

/// Whether the binary is linked by rustc's own LLD, which reads a symbol ordering file:
/// the default for x86_64 Linux (GNU) since Rust 1.90, unless a linker is configured.
fn links_with_lld() -> bool {
    if env::var("TARGET").as_deref() != Ok("x86_64-unknown-linux-gnu") || env::var_os("RUSTC_LINKER").is_some() {
        return false;
    }
    let flags = env::var("CARGO_ENCODED_RUSTFLAGS").unwrap_or_default();
    if flags.contains("linker") || flags.contains("fuse-ld") || flags.contains("link-self-contained") {
        return false;
    }
    let rustc = env::var("RUSTC").unwrap_or_else(|_| "rustc".to_string());
    let version = Command::new(rustc)
        .arg("--version")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default();
    // "rustc 1.95.0 (…)": the minor version decides.
    let minor = version
        .split_whitespace()
        .nth(1)
        .and_then(|v| v.split('.').nth(1))
        .and_then(|m| m.parse::<u32>().ok());
    minor.is_some_and(|m| m >= 90)
}
