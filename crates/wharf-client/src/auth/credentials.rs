//! Where user names and passwords come from: given directly (flags, environment), or
//! stored the ways docker and podman keep them: docker's `config.json` (`auths` entries,
//! a `credsStore` or per-registry `credHelpers`), and the containers `auth.json`.

use super::helper::CredentialHelper;
use base64::Engine;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// A user name and password (or identity token as password) for one registry.
#[derive(Clone, PartialEq, Eq)]
pub struct Credential {
    pub username: String,
    pub password: String,
}

impl std::fmt::Debug for Credential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Credential {{ username: {:?}, password: <hidden> }}", self.username)
    }
}

impl Credential {
    pub fn new(username: impl Into<String>, password: impl Into<String>) -> Credential {
        Credential {
            username: username.into(),
            password: password.into(),
        }
    }

    /// Docker's convention for an identity (OAuth2 refresh) token: the user name
    /// `<token>` with the token as the secret, as credential helpers return it.
    pub fn identity_token(token: impl Into<String>) -> Credential {
        Credential::new(IDENTITY_TOKEN_USER, token)
    }

    /// Whether the password is an identity token, to be traded for an access token with
    /// the OAuth2 refresh-token grant rather than sent as a password.
    pub fn is_identity_token(&self) -> bool {
        self.username == IDENTITY_TOKEN_USER
    }

    /// The value of an `Authorization: Basic …` header.
    pub fn basic_header(&self) -> String {
        let raw = format!("{}:{}", self.username, self.password);
        format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(raw))
    }
}

/// The user name docker's credential helpers give an identity token under.
const IDENTITY_TOKEN_USER: &str = "<token>";

/// Credentials per registry host. Lookups try the host as given, then the forms docker
/// writes for Docker Hub (`https://index.docker.io/v1/`) and with a scheme.
#[derive(Debug, Clone, Default)]
pub struct Credentials {
    by_host: HashMap<String, Credential>,
}

impl Credentials {
    pub fn new() -> Credentials {
        Credentials::default()
    }

    pub fn insert(&mut self, registry: impl Into<String>, credential: Credential) {
        self.by_host.insert(normalise_key(&registry.into()), credential);
    }

    pub fn get(&self, registry: &str) -> Option<&Credential> {
        self.by_host.get(&normalise_key(registry))
    }

    /// Credentials from docker's config.json; a missing file gives none.
    pub fn from_docker_config(path: &Path) -> Result<Credentials, String> {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Credentials::default()),
            Err(e) => return Err(format!("cannot read {}: {e}", path.display())),
        };
        let config: DockerConfig = serde_json::from_str(&text)
            .map_err(|e| format!("{} is not valid docker config JSON: {e}", path.display()))?;
        let mut credentials = Credentials::default();
        for (host, entry) in config.auths {
            if let Some(credential) = entry.credential() {
                credentials.insert(host, credential);
            }
        }
        Ok(credentials)
    }
}

/// `$DOCKER_CONFIG/config.json`, else `~/.docker/config.json`.
pub fn docker_config_path() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("DOCKER_CONFIG").filter(|d| !d.is_empty()) {
        return Some(PathBuf::from(dir).join("config.json"));
    }
    std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".docker").join("config.json"))
}

/// Writes (or with `None`, removes) the `auths` entry for `registry` in a docker
/// config.json, keeping every other setting in it. The file is replaced atomically and
/// readable by its owner only, as it holds a password.
pub fn store_in_docker_config(path: &Path, registry: &str, credential: Option<&Credential>) -> Result<bool, String> {
    let mut config: serde_json::Map<String, serde_json::Value> = match std::fs::read_to_string(path) {
        Ok(text) => serde_json::from_str(&text).map_err(|e| format!("{} is not valid JSON: {e}", path.display()))?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => serde_json::Map::new(),
        Err(e) => return Err(format!("cannot read {}: {e}", path.display())),
    };
    let auths = config
        .entry("auths")
        .or_insert_with(|| serde_json::Value::Object(Default::default()));
    let auths = auths
        .as_object_mut()
        .ok_or_else(|| format!("{}: \"auths\" is not an object", path.display()))?;
    let key = normalise_key(registry);
    let existed = auths.keys().any(|k| normalise_key(k) == key);
    auths.retain(|k, _| normalise_key(k) != key);
    if let Some(c) = credential {
        let auth = base64::engine::general_purpose::STANDARD.encode(format!("{}:{}", c.username, c.password));
        auths.insert(key, serde_json::json!({ "auth": auth }));
    }
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let text = serde_json::to_vec_pretty(&config).map_err(|e| e.to_string())?;
    let tmp = dir.join(format!(".config.json.{}.tmp", std::process::id()));
    write_private(&tmp, &text).map_err(|e| format!("cannot write {}: {e}", tmp.display()))?;
    std::fs::rename(&tmp, path).map_err(|e| format!("cannot replace {}: {e}", path.display()))?;
    Ok(existed)
}

fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path)?;
    file.write_all(bytes)?;
    file.sync_all()
}

/// `https://index.docker.io/v1/`, `index.docker.io` and `docker.io` are one registry;
/// a scheme or trailing path does not make another.
fn normalise_key(registry: &str) -> String {
    let host = registry
        .trim_start_matches("https://")
        .trim_start_matches("http://")
        .split('/')
        .next()
        .unwrap_or("");
    match host {
        "index.docker.io" | "registry-1.docker.io" | "docker.io" => "docker.io".to_string(),
        other => other.to_string(),
    }
}

#[derive(serde::Deserialize, Default)]
struct DockerConfig {
    #[serde(default)]
    auths: HashMap<String, DockerAuth>,
    #[serde(rename = "credsStore", default)]
    creds_store: Option<String>,
    #[serde(rename = "credHelpers", default)]
    cred_helpers: HashMap<String, String>,
}

impl DockerConfig {
    /// The file's settings; a missing file has none.
    fn read(path: &Path) -> Result<DockerConfig, String> {
        match std::fs::read_to_string(path) {
            Ok(text) => serde_json::from_str(&text)
                .map_err(|e| format!("{} is not valid credentials JSON: {e}", path.display())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(DockerConfig::default()),
            Err(e) => Err(format!("cannot read {}: {e}", path.display())),
        }
    }

    fn auth_for(&self, registry: &str) -> Option<Credential> {
        let key = normalise_key(registry);
        self.auths
            .iter()
            .filter(|(host, _)| normalise_key(host) == key)
            .find_map(|(_, entry)| entry.credential())
    }

    fn helper_for(&self, registry: &str) -> Option<CredentialHelper> {
        let key = normalise_key(registry);
        self.cred_helpers
            .iter()
            .find(|(host, _)| normalise_key(host) == key)
            .map(|(_, name)| name)
            .or(self.creds_store.as_ref())
            .filter(|name| !name.is_empty())
            .map(CredentialHelper::new)
    }
}

/// The stored credentials a client may use, looked up per registry in the order podman
/// and docker together imply: the file `REGISTRY_AUTH_FILE` names; docker's config.json
/// (its `credHelpers` entry for the registry, else its `credsStore`, else its `auths`);
/// then the containers `auth.json` (`$XDG_RUNTIME_DIR/containers/auth.json`, then
/// `~/.config/containers/auth.json`).
#[derive(Default)]
pub struct CredentialStore {
    explicit: Option<DockerConfig>,
    docker: DockerConfig,
    containers: Vec<DockerConfig>,
}

impl CredentialStore {
    /// The files the environment names (see the type's documentation).
    pub fn from_environment() -> Result<CredentialStore, String> {
        let env_path = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty()).map(PathBuf::from);
        let explicit = env_path("REGISTRY_AUTH_FILE");
        let mut containers = Vec::new();
        if let Some(runtime) = env_path("XDG_RUNTIME_DIR") {
            containers.push(runtime.join("containers").join("auth.json"));
        }
        let config_home = env_path("XDG_CONFIG_HOME").or_else(|| env_path("HOME").map(|h| h.join(".config")));
        if let Some(config) = config_home {
            containers.push(config.join("containers").join("auth.json"));
        }
        CredentialStore::open(explicit.as_deref(), docker_config_path().as_deref(), &containers)
    }

    /// The store made of these files (any may be missing).
    pub fn open(
        explicit: Option<&Path>,
        docker: Option<&Path>,
        containers: &[PathBuf],
    ) -> Result<CredentialStore, String> {
        Ok(CredentialStore {
            explicit: explicit.map(DockerConfig::read).transpose()?,
            docker: docker.map(DockerConfig::read).transpose()?.unwrap_or_default(),
            containers: containers
                .iter()
                .map(|p| DockerConfig::read(p))
                .collect::<Result<_, _>>()?,
        })
    }

    /// The credential helper docker's config.json names for `registry`, if any: where
    /// `wharf login` stores and `wharf logout` erases.
    pub fn helper_for(&self, registry: &str) -> Option<CredentialHelper> {
        self.docker.helper_for(registry)
    }

    /// The stored credential for `registry`, if any.
    pub fn lookup(&self, registry: &str) -> Result<Option<Credential>, String> {
        if let Some(found) = self.explicit.as_ref().and_then(|c| c.auth_for(registry)) {
            return Ok(Some(found));
        }
        if let Some(helper) = self.helper_for(registry) {
            if let Some(found) = helper.get(registry)? {
                return Ok(Some(found));
            }
        }
        Ok(self
            .docker
            .auth_for(registry)
            .or_else(|| self.containers.iter().find_map(|c| c.auth_for(registry))))
    }

    /// The stored credentials for each of `registries`.
    pub fn credentials_for(&self, registries: &[&str]) -> Result<Credentials, String> {
        let mut credentials = Credentials::new();
        for registry in registries {
            if let Some(found) = self.lookup(registry)? {
                credentials.insert(*registry, found);
            }
        }
        Ok(credentials)
    }
}

#[derive(serde::Deserialize, Default)]
struct DockerAuth {
    auth: Option<String>,
    username: Option<String>,
    password: Option<String>,
    identitytoken: Option<String>,
}

impl DockerAuth {
    fn credential(&self) -> Option<Credential> {
        // Docker writes an identity token beside an `auth` of the user name alone.
        if let Some(token) = self.identitytoken.as_deref().filter(|t| !t.is_empty()) {
            return Some(Credential::identity_token(token));
        }
        if let Some(auth) = self.auth.as_deref().filter(|a| !a.is_empty()) {
            let decoded = base64::engine::general_purpose::STANDARD.decode(auth.trim()).ok()?;
            let decoded = String::from_utf8(decoded).ok()?;
            let (user, pass) = decoded.split_once(':')?;
            return Some(Credential::new(user, pass));
        }
        match (&self.username, &self.password) {
            (Some(u), Some(p)) => Some(Credential::new(u, p)),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_docker_auths_entries() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.json");
        std::fs::write(
            &path,
            r#"{"auths": {"127.0.0.1:5000": {"auth": "YWxpY2U6czNjcjN0"},
                          "https://index.docker.io/v1/": {"auth": "Ym9iOnB3"},
                          "empty.example": {}},
                "credsStore": "desktop"}"#,
        )
        .unwrap();
        let creds = Credentials::from_docker_config(&path).unwrap();
        assert_eq!(creds.get("127.0.0.1:5000"), Some(&Credential::new("alice", "s3cr3t")));
        assert_eq!(creds.get("docker.io"), Some(&Credential::new("bob", "pw")));
        assert_eq!(creds.get("empty.example"), None);
        assert!(Credentials::from_docker_config(&dir.path().join("none.json"))
            .unwrap()
            .get("x")
            .is_none());
    }

    #[test]
    fn store_and_remove_keep_other_settings() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("d").join("config.json");
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, r#"{"credsStore": "x", "auths": {"other.io": {"auth": "YTpi"}}}"#).unwrap();
        assert!(!store_in_docker_config(&path, "127.0.0.1:5000", Some(&Credential::new("u", "p:w"))).unwrap());
        let creds = Credentials::from_docker_config(&path).unwrap();
        assert_eq!(creds.get("127.0.0.1:5000"), Some(&Credential::new("u", "p:w")));
        assert_eq!(creds.get("other.io"), Some(&Credential::new("a", "b")));
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.contains("credsStore"));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        }
        assert!(store_in_docker_config(&path, "127.0.0.1:5000", None).unwrap());
        assert!(Credentials::from_docker_config(&path)
            .unwrap()
            .get("127.0.0.1:5000")
            .is_none());
    }

    #[test]
    fn debug_output_hides_the_password() {
        assert!(!format!("{:?}", Credential::new("u", "hunter2")).contains("hunter2"));
    }
}
