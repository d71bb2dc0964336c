//! `wharf login REGISTRY` checks credentials against the registry and stores them where
//! docker would: through the credential helper docker's config.json names for the
//! registry (`credHelpers`, else `credsStore`), else base64 in its `auths`.
//! `wharf logout REGISTRY` removes them from the same place.

use super::exit::{Failure, Outcome};
use super::setup::Context;
use crate::cli::{LoginArgs, LogoutArgs};
use serde_json::json;
use std::io::BufRead;
use std::path::PathBuf;
use wharf_client::auth::{docker_config_path, store_in_docker_config, CredentialStore};
use wharf_client::{Credential, Credentials};

pub async fn login(ctx: &Context, args: LoginArgs) -> Outcome {
    let registry = registry_name(&args.registry)?;
    let username = ctx
        .global
        .username
        .clone()
        .ok_or_else(|| Failure::usage("login needs a user name: -u USER (or WHARF_USERNAME)"))?;
    let password = if args.password_stdin {
        read_password_line()?
    } else {
        ctx.global
            .password
            .clone()
            .ok_or_else(|| Failure::usage("login needs a password: --password-stdin, -p PASS or WHARF_PASSWORD"))?
    };
    let credential = Credential::new(username.clone(), password);
    let mut credentials = Credentials::new();
    credentials.insert(registry.clone(), credential.clone());
    let client = ctx.client_with(credentials, None)?;
    client
        .ping(&registry)
        .await
        .map_err(|e| Failure::from(e).context(format!("login to {registry}")))?;
    let path = config_path()?;
    let store = CredentialStore::open(None, Some(&path), &[]).map_err(Failure::other)?;
    let stored_in = match store.helper_for(&registry) {
        Some(helper) => {
            helper.store(&registry, &credential).map_err(Failure::other)?;
            // A password written into `auths` before the helper was set up goes.
            store_in_docker_config(&path, &registry, None).map_err(Failure::other)?;
            helper.program()
        }
        None => {
            store_in_docker_config(&path, &registry, Some(&credential)).map_err(Failure::other)?;
            path.display().to_string()
        }
    };
    ctx.out.emit(
        json!({ "registry": registry, "username": username, "configFile": path.display().to_string(),
                "storedIn": stored_in }),
        || format!("Login Succeeded: {username} at {registry}, stored in {stored_in}"),
    );
    Ok(())
}

pub async fn logout(ctx: &Context, args: LogoutArgs) -> Outcome {
    let registry = registry_name(&args.registry)?;
    let path = config_path()?;
    let store = CredentialStore::open(None, Some(&path), &[]).map_err(Failure::other)?;
    let (erased, place) = match store.helper_for(&registry) {
        Some(helper) => (helper.erase(&registry).map_err(Failure::other)?, helper.program()),
        None => (false, path.display().to_string()),
    };
    let removed = store_in_docker_config(&path, &registry, None).map_err(Failure::other)? || erased;
    ctx.out.emit(
        json!({ "registry": registry, "removed": removed, "configFile": path.display().to_string(),
                "storedIn": place }),
        || {
            if removed {
                format!("Removed the credentials for {registry} from {place}")
            } else {
                format!("No credentials for {registry} in {place}")
            }
        },
    );
    Ok(())
}

/// `HOST[:PORT]` from what a user may type: `https://host:5000/`, `host:5000/v2/`.
pub fn registry_name(input: &str) -> Outcome<String> {
    let host = input
        .trim()
        .trim_start_matches("https://")
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .trim_end_matches("/v2")
        .trim_end_matches('/');
    let valid = !host.is_empty()
        && !host.contains('/')
        && host.chars().all(|c| c.is_ascii_alphanumeric() || ".-:[]_".contains(c));
    if !valid {
        return Err(Failure::usage(format!(
            "invalid registry {input:?}: write it as HOST[:PORT]"
        )));
    }
    Ok(host.to_string())
}

fn config_path() -> Outcome<PathBuf> {
    docker_config_path()
        .ok_or_else(|| Failure::other("cannot tell where docker's config.json is: set DOCKER_CONFIG or HOME"))
}

/// The first line of standard input, without its line ending.
fn read_password_line() -> Outcome<String> {
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .map_err(|e| Failure::other(format!("cannot read the password from standard input: {e}")))?;
    let password = line.trim_end_matches(['\n', '\r']).to_string();
    if password.is_empty() {
        return Err(Failure::usage("--password-stdin read an empty password"));
    }
    Ok(password)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registry_names_lose_scheme_and_path() {
        assert_eq!(registry_name("https://r.example:5000/").unwrap(), "r.example:5000");
        assert_eq!(registry_name("127.0.0.1:5000/v2/").unwrap(), "127.0.0.1:5000");
        assert_eq!(registry_name("[::1]:5000").unwrap(), "[::1]:5000");
        assert!(registry_name("r.example/repo").is_err());
        assert!(registry_name("").is_err());
    }
}
