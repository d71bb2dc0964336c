//! The web UI as `wharf serve` mounts it: at /ui/, with / redirecting there, session
//! cookies signed with a key kept in the data directory (so sign-ins survive a restart).

use crate::config::ServeConfig;
use std::path::Path;
use std::sync::Arc;
use wharf_registry::auth::AccessControl;
use wharf_registry::axum::Router;
use wharf_registry::ui::{self, SessionKey, UiConfig};
use wharf_registry::Registry;

pub fn router(
    config: &ServeConfig,
    registry: Arc<Registry>,
    access: Option<Arc<AccessControl>>,
    tls: bool,
) -> Result<Router, String> {
    let key_file = config
        .ui
        .session_key_file
        .clone()
        .unwrap_or_else(|| config.data_dir.join("ui-session.key"));
    let ui_config = UiConfig {
        session_key: session_key(&key_file)?,
        secure_cookies: tls,
        ..UiConfig::default()
    };
    Ok(ui::router(registry, access, ui_config).merge(ui::root_redirect()))
}

/// The key in `path`, or a new one written there (readable by the owner only).
fn session_key(path: &Path) -> Result<SessionKey, String> {
    match std::fs::read_to_string(path) {
        Ok(text) => SessionKey::from_hex(&text)
            .ok_or_else(|| format!("{} does not hold a UI session key (64 hex digits)", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let key = SessionKey::random();
            write_private(path, &key.to_hex())
                .map_err(|e| format!("cannot write the UI session key {}: {e}", path.display()))?;
            Ok(key)
        }
        Err(e) => Err(format!("cannot read the UI session key {}: {e}", path.display())),
    }
}

fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    file.write_all(text.as_bytes())?;
    file.sync_all()
}
