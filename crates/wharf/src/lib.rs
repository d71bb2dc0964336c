//! The `wharf` command: `wharf serve` runs the registry; the other commands are a
//! client for any registry (see `commands`).
//!
//! All of the command lives in this library and `src/main.rs` only calls [`main`], so
//! that a first build finishes sooner: cargo starts compiling a library as soon as its
//! dependencies' metadata exists, while wharf-registry and wharf-client are still being
//! optimised, whereas a binary waits for their object code. The library is the
//! command's, not an API: applications embed `wharf-registry`.

mod auth;
mod cli;
mod commands;
mod config;
mod events_config;
pub mod features;
mod lifecycle;
mod listener;
mod login_limits;
mod memory;
mod metadata;
mod metrics;
mod observe_config;
#[cfg(feature = "otlp")]
mod otlp;
mod serve;
mod storage_config;
mod telemetry;
mod tls;
mod ui;
mod upstream;

use clap::parser::ValueSource;
use clap::FromArgMatches;
use std::process::ExitCode;

/// Runs the `wharf` command with the process's arguments; the exit code is the
/// command's (2 for a usage or configuration error).
pub fn main() -> ExitCode {
    memory::keep_freed_buffers();
    let matches = match cli::command().try_get_matches() {
        Ok(m) => m,
        Err(e) => return usage_error(e),
    };
    let cli = match cli::Cli::from_arg_matches(&matches) {
        Ok(cli) => cli,
        Err(e) => return usage_error(e),
    };
    if password_twice(&matches) {
        eprintln!("wharf: --password-stdin and --password cannot be used together");
        return ExitCode::from(2);
    }
    match cli.command {
        cli::Command::Serve(args) => {
            if cli.global.any_given() {
                eprintln!("wharf: --json, --plain-http, --retries, --chunk-size and --concurrency are client options; serve does not take them");
                return ExitCode::from(2);
            }
            serve(args)
        }
        command => commands::run(cli.global, command),
    }
}

fn serve(args: cli::ServeArgs) -> ExitCode {
    let config = match config::ServeConfig::load(args) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("wharf: {e}");
            return ExitCode::from(2);
        }
    };
    let _telemetry = match telemetry::init(&config.observe) {
        Ok(guard) => guard,
        Err(e) => {
            eprintln!("wharf: {e}");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("wharf: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(serve::run(config)) {
        Ok(serve::Stopped::Gracefully) => ExitCode::SUCCESS,
        Ok(serve::Stopped::AtOnce) => {
            // Not even blocking work in flight (a file write, an fsync) is waited for.
            runtime.shutdown_background();
            ExitCode::FAILURE
        }
        Err(e) => {
            tracing::error!("{e}");
            eprintln!("wharf: {e}");
            ExitCode::FAILURE
        }
    }
}

/// `login --password-stdin` with `--password` on the command line (WHARF_PASSWORD in
/// the environment is fine: standard input takes its place).
fn password_twice(matches: &clap::ArgMatches) -> bool {
    let Some(("login", login)) = matches.subcommand() else {
        return false;
    };
    let on_command_line = |m: &clap::ArgMatches| m.value_source("password") == Some(ValueSource::CommandLine);
    login.get_flag("password_stdin") && (on_command_line(login) || on_command_line(matches))
}

/// `--help` and `--version` print as clap writes them; a usage error becomes one line,
/// `wharf: <what is wrong> (usage: …)`, and exit code 2.
fn usage_error(e: clap::Error) -> ExitCode {
    use clap::error::ErrorKind;
    match e.kind() {
        ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => {
            let _ = e.print();
            return ExitCode::SUCCESS;
        }
        ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand | ErrorKind::MissingSubcommand => {
            let _ = e.print();
            return ExitCode::from(2);
        }
        _ => {}
    }
    eprintln!("wharf: {}", one_line_usage(&e.to_string()));
    ExitCode::from(2)
}

/// clap's error text (`error: …`, a blank line, tips, `Usage: …`) in one line.
fn one_line_usage(text: &str) -> String {
    let body = text.trim_start().strip_prefix("error: ").unwrap_or(text);
    let what = body.split("\n\n").next().unwrap_or(body);
    let what = what.split_whitespace().collect::<Vec<_>>().join(" ");
    match text.lines().find_map(|l| l.trim().strip_prefix("Usage: ")) {
        Some(usage) => format!("{what} (usage: {usage})"),
        None => what,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[test]
    fn the_command_line_is_consistent() {
        cli::command().debug_assert();
    }

    #[test]
    fn usage_errors_are_one_line() {
        let e = cli::Cli::try_parse_from(["wharf", "push", "127.0.0.1:5000/a:1"]).unwrap_err();
        let line = one_line_usage(&e.to_string());
        assert!(!line.contains('\n'), "{line}");
        assert!(line.contains("required arguments were not provided"), "{line}");
        assert!(line.contains("usage: wharf push"), "{line}");
        let e = cli::Cli::try_parse_from(["wharf", "tags", "r", "--bogus"]).unwrap_err();
        let line = one_line_usage(&e.to_string());
        assert!(line.starts_with("unexpected argument '--bogus' found"), "{line}");
    }

    #[test]
    fn a_password_comes_from_one_place() {
        let matches = |args: &[&str]| cli::command().try_get_matches_from(args).unwrap();
        assert!(password_twice(&matches(&[
            "wharf",
            "login",
            "r",
            "-p",
            "x",
            "--password-stdin"
        ])));
        assert!(password_twice(&matches(&[
            "wharf",
            "-p",
            "x",
            "login",
            "r",
            "--password-stdin"
        ])));
        assert!(!password_twice(&matches(&["wharf", "login", "r", "--password-stdin"])));
        assert!(!password_twice(&matches(&["wharf", "login", "r", "-p", "x"])));
    }

    #[test]
    fn global_options_go_before_or_after_the_command() {
        let cli = cli::Cli::try_parse_from(["wharf", "--json", "tags", "r", "--retries", "0"]).unwrap();
        assert!(cli.global.json);
        assert_eq!(cli.global.retries, 0);
        let cli = cli::Cli::try_parse_from(["wharf", "push", "r", "f", "--chunk-size", "5MiB"]).unwrap();
        assert_eq!(cli.global.chunk_size, Some(5 << 20));
        assert!(cli::Cli::try_parse_from(["wharf", "push", "r", "f", "--chunk-size", "0"]).is_err());
        assert!(cli::Cli::try_parse_from([
            "wharf",
            "copy",
            "a",
            "b",
            "--all-platforms",
            "--platform",
            "linux/amd64"
        ])
        .is_err());
    }
}
