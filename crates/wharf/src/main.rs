//! The `wharf` binary: the command itself is the `wharf_cli` library (src/lib.rs).

fn main() -> std::process::ExitCode {
    wharf_cli::main()
}
