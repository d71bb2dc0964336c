//! The client commands: one file each, sharing how they set up a client
//! ([`setup`]), print ([`output`]), draw progress ([`progress`]) and fail ([`exit`]).

mod attach;
mod bench;
mod copy;
mod data_dir;
mod delete;
mod du;
pub mod exit;
mod files;
mod gc;
mod index;
mod inspect;
mod login;
mod mirrors;
mod output;
mod progress;
mod pull;
mod push;
mod referrers;
mod retention;
mod scrub;
mod setup;
mod sign;
mod tag;
mod tags;
mod verify;

use crate::cli::{Command, GlobalArgs};
use exit::Failure;
use setup::Context;
use std::process::ExitCode;

/// Runs a client command and prints its error, if any, as one line on stderr.
pub fn run(global: GlobalArgs, command: Command) -> ExitCode {
    init_logging();
    let is_login = matches!(command, Command::Login(_));
    let ctx = Context::new(global);
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(r) => r,
        Err(e) => return fail(Failure::other(format!("cannot start the async runtime: {e}"))),
    };
    let outcome = runtime.block_on(async {
        match command {
            Command::Serve(_) => unreachable!("serve is not a client command"),
            Command::Push(a) => push::run(&ctx, a).await,
            Command::Pull(a) => pull::run(&ctx, a).await,
            Command::Copy(a) => copy::run(&ctx, a).await,
            Command::Tag(a) => tag::run(&ctx, a).await,
            Command::Tags(a) => tags::run(&ctx, a).await,
            Command::Inspect(a) => inspect::run(&ctx, a).await,
            Command::Referrers(a) => referrers::run(&ctx, a).await,
            Command::Attach(a) => attach::run(&ctx, a).await,
            Command::Delete(a) => delete::run(&ctx, a).await,
            Command::Login(a) => login::login(&ctx, a).await,
            Command::Logout(a) => login::logout(&ctx, a).await,
            Command::Sign(a) => sign::run(&ctx, a).await,
            Command::Index(a) => index::run(&ctx, a).await,
            Command::Verify(a) => verify::run(&ctx, a).await,
            Command::Bench(a) => bench::run(&ctx, a).await,
            Command::Gc(a) => gc::run(&ctx, a).await,
            Command::Du(a) => du::run(&ctx, a).await,
            Command::Retention(a) => retention::run(&ctx, a).await,
            Command::Scrub(a) => scrub::run(&ctx, a).await,
        }
    });
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(mut f) => {
            if f.denied {
                // 403: signing in again changes nothing.
                f.message.push_str(
                    " (the registry accepted the credentials, but they lack the permission for this: \
                     ask its administrator for access)",
                );
            } else if f.exit == exit::Exit::Auth
                && !is_login
                && !f.message.contains("wharf login")
                && !f.message.contains("lack the permission")
            {
                f.message
                    .push_str(" (sign in with `wharf login REGISTRY`, or give --username and --password)");
            }
            fail(f)
        }
    }
}

pub fn fail(failure: Failure) -> ExitCode {
    eprintln!("wharf: {}", failure.one_line());
    failure.exit.into()
}

/// What the client library logs (a download fetched again, each retry, …) goes to
/// stderr only when asked for with `WHARF_LOG` (e.g. `warn`, `debug`), as for `serve`:
/// by default stderr carries progress bars and, on failure, the one error line.
fn init_logging() {
    use std::io::IsTerminal;
    let Ok(filter) = tracing_subscriber::EnvFilter::try_from_env("WHARF_LOG") else {
        return;
    };
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .without_time()
        .with_target(false)
        .try_init();
}
