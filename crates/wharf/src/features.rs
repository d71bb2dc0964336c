//! The optional parts of the `wharf` binary, compiled in by cargo features: `s3` (blobs
//! in an S3-compatible bucket), `postgres` (metadata in PostgreSQL), `full` (both) and
//! `otlp` (OpenTelemetry traces). The default build has none of them, so that the first
//! `cargo run --release -- serve` compiles only what one machine needs (files and
//! SQLite). The package's tests turn `s3` and `postgres` on through a dev-dependency on
//! the package itself, so that `cargo test --workspace` builds the binary they run with
//! every backend.

/// The one-line error for a configuration that asks for `what` (`storage kind "s3"`)
/// in a build without the cargo `feature` that compiles it in: it names the feature
/// and the command that builds it.
pub fn missing(what: &str, feature: &str) -> String {
    format!(
        "{what} is not in this build of wharf: build it with the `{feature}` feature \
         (cargo build --release --features {feature}, or --features full for S3 and PostgreSQL)"
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_error_names_the_feature_and_the_command() {
        let message = super::missing("storage kind \"s3\"", "s3");
        assert!(
            message.starts_with("storage kind \"s3\" is not in this build"),
            "{message}"
        );
        assert!(message.contains("`s3` feature"), "{message}");
        assert!(message.contains("cargo build --release --features s3"), "{message}");
        assert!(message.contains("--features full"), "{message}");
        assert!(!message.contains('\n'), "one line: {message}");
    }
}
