//! Turning the global options into a client: its settings, credentials and progress bars.

use super::exit::{Failure, Outcome};
use super::output::Output;
use super::progress::Bars;
use crate::cli::GlobalArgs;
use std::sync::Arc;
use wharf_client::auth::CredentialStore;
use wharf_client::{Client, ClientConfig, Credential, Credentials, RetryPolicy, TlsConfig};

/// What every client command runs with.
pub struct Context {
    pub global: GlobalArgs,
    pub out: Output,
}

/// A client, and the progress bars its transfers draw (none when stderr is no terminal).
pub struct Session {
    pub client: Client,
    pub bars: Option<Arc<Bars>>,
}

impl Session {
    /// Names a blob's progress bar.
    pub fn label(&self, digest: &wharf_client::Digest, label: &str) {
        if let Some(bars) = &self.bars {
            bars.label(digest, label);
        }
    }
}

impl Context {
    pub fn new(global: GlobalArgs) -> Context {
        let out = Output { json: global.json };
        Context { global, out }
    }

    /// A client for a command that talks to `registries`, with progress bars.
    pub fn session(&self, registries: &[&str]) -> Outcome<Session> {
        let bars = Bars::for_stderr();
        let credentials = self.credentials(registries)?;
        let client = self.client_with(credentials, bars.as_ref().map(|b| b.callback()))?;
        Ok(Session { client, bars })
    }

    /// A client with the given credentials and no progress bars.
    pub fn client_with(
        &self,
        credentials: Credentials,
        progress: Option<wharf_client::ProgressCallback>,
    ) -> Outcome<Client> {
        let g = &self.global;
        let config = ClientConfig {
            retry: RetryPolicy {
                max_attempts: g.retries.saturating_add(1),
                ..RetryPolicy::default()
            },
            chunk_size: g.chunk_size,
            concurrency: g.concurrency as usize,
            plain_http: g.plain_http,
            progress,
            tls: self.tls(),
            // A push killed midway is resumed by the next run from the user's cache.
            resume: wharf_client::ResumeStore::in_user_cache(),
            ..ClientConfig::default()
        };
        Client::new(config, credentials).map_err(Failure::from)
    }

    /// The TLS options; `WHARF_CERTS_D` (directories separated by `:`) replaces the
    /// `certs.d` directories docker and containers use.
    fn tls(&self) -> TlsConfig {
        let g = &self.global;
        let certs_dirs = match std::env::var_os("WHARF_CERTS_D").filter(|v| !v.is_empty()) {
            Some(dirs) => std::env::split_paths(&dirs).collect(),
            None => wharf_client::tls::default_certs_dirs(),
        };
        TlsConfig {
            ca_certs: g.ca_cert.clone(),
            client_cert: g.client_cert.clone().zip(g.client_key.clone()),
            insecure: g.insecure,
            certs_dirs,
        }
    }

    /// The flags' (or environment's) user name and password for each of `registries`,
    /// else the stored ones: docker's config.json (its credential helpers or `auths`)
    /// and the containers auth.json (see [`CredentialStore`]).
    pub fn credentials(&self, registries: &[&str]) -> Outcome<Credentials> {
        if let Some(credential) = self.flag_credential()? {
            let mut credentials = Credentials::new();
            for registry in registries {
                credentials.insert(*registry, credential.clone());
            }
            return Ok(credentials);
        }
        CredentialStore::from_environment()
            .and_then(|store| store.credentials_for(registries))
            .map_err(Failure::other)
    }

    /// `--username` with `--password` (or WHARF_USERNAME with WHARF_PASSWORD).
    pub fn flag_credential(&self) -> Outcome<Option<Credential>> {
        match (&self.global.username, &self.global.password) {
            (Some(u), Some(p)) => Ok(Some(Credential::new(u, p))),
            (None, None) => Ok(None),
            (Some(_), None) => Err(Failure::usage("--username needs --password too (or WHARF_PASSWORD)")),
            (None, Some(_)) => Err(Failure::usage("--password needs --username too (or WHARF_USERNAME)")),
        }
    }
}
