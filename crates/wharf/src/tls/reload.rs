//! The server's TLS configuration, swapped for a new one when its files change.
//!
//! A watcher reads the files every [`POLL_EVERY`] (they are small) and compares their
//! bytes with those the configuration in force was made from; when they differ and make
//! a valid configuration, new handshakes use it. Connections already open keep the
//! configuration they were accepted with, so nothing is dropped. When the new files do
//! not make one (a key that is not the certificate's, a file half written, one missing),
//! the old configuration stays, and the reason is logged once for those bytes; the next
//! change is tried again (a certificate and its key are rarely replaced at the same
//! instant: the first poll may see the new certificate with the old key).

use super::files::{server_config, Material, TlsFiles};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;
use tokio_rustls::TlsAcceptor;

/// How often the watcher reads the files.
pub const POLL_EVERY: Duration = Duration::from_secs(2);

/// The TLS configuration new connections are accepted with.
pub struct ServerTls {
    files: TlsFiles,
    current: RwLock<TlsAcceptor>,
    /// The bytes last read: those of the configuration in force, or of a refused one
    /// (so it is refused, and logged, once).
    seen: Mutex<Material>,
}

/// What a look at the files found.
#[derive(Debug, PartialEq, Eq)]
pub enum Reload {
    Unchanged,
    Reloaded,
    /// The files changed but do not make a valid configuration: the old one stays.
    Refused(String),
}

impl ServerTls {
    /// Reads the files and makes the first configuration: an error here stops the
    /// server from starting.
    pub fn load(files: TlsFiles) -> Result<Arc<ServerTls>, String> {
        let material = Material::read(&files)?;
        let config = server_config(&files, &material)?;
        Ok(Arc::new(ServerTls {
            current: RwLock::new(TlsAcceptor::from(Arc::new(config))),
            seen: Mutex::new(material),
            files,
        }))
    }

    /// The acceptor for a new connection, with the configuration in force now.
    pub fn acceptor(&self) -> TlsAcceptor {
        self.current.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Reads the files (blocking) and swaps in a new configuration if they changed and
    /// make a valid one.
    pub fn reload_if_changed(&self) -> Reload {
        let read = Material::read(&self.files);
        let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        let material = match read {
            Ok(material) if material == *seen => return Reload::Unchanged,
            Ok(material) => material,
            // A file missing for a moment (replaced by a rename) is not a change yet.
            Err(e) => return Reload::Refused(e),
        };
        let made = server_config(&self.files, &material);
        *seen = material;
        match made {
            Ok(config) => {
                *self.current.write().unwrap_or_else(|e| e.into_inner()) = TlsAcceptor::from(Arc::new(config));
                Reload::Reloaded
            }
            Err(e) => Reload::Refused(e),
        }
    }

    /// Watches the files until the runtime stops, logging each reload and each refusal.
    pub fn watch(self: &Arc<Self>, every: Duration) -> tokio::task::JoinHandle<()> {
        let tls = self.clone();
        tokio::spawn(async move {
            let mut last_refusal = None;
            let mut ticks = tokio::time::interval(every);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            ticks.tick().await;
            loop {
                ticks.tick().await;
                let checking = tls.clone();
                let Ok(reload) = tokio::task::spawn_blocking(move || checking.reload_if_changed()).await else {
                    continue;
                };
                match reload {
                    Reload::Unchanged => {}
                    Reload::Reloaded => {
                        last_refusal = None;
                        tracing::info!(
                            "TLS certificate reloaded from {}: new connections use it",
                            tls.files.cert.display()
                        );
                    }
                    Reload::Refused(why) => {
                        if last_refusal.as_ref() != Some(&why) {
                            tracing::error!(
                                "TLS files changed but were not loaded, the current certificate stays: {why}"
                            );
                            last_refusal = Some(why);
                        }
                    }
                }
            }
        })
    }
}
