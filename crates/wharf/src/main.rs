//! The `wharf` command.

mod auth;
mod cli;
mod config;
mod serve;

use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    match cli.command {
        cli::Command::Serve(args) => {
            let config = match config::ServeConfig::load(args) {
                Ok(c) => c,
                Err(e) => {
                    eprintln!("wharf: {e}");
                    return ExitCode::from(2);
                }
            };
            let _log_flush = serve::init_logging(&config.log);
            let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
                Ok(r) => r,
                Err(e) => {
                    eprintln!("wharf: cannot start the async runtime: {e}");
                    return ExitCode::FAILURE;
                }
            };
            match runtime.block_on(serve::run(config)) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    tracing::error!("{e}");
                    eprintln!("wharf: {e}");
                    ExitCode::FAILURE
                }
            }
        }
    }
}
