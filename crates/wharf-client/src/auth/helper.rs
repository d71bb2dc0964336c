//! Docker credential helpers: `docker-credential-NAME get|store|erase`, run with the
//! protocol docker uses. `get` and `erase` read the server URL on stdin; `store` reads
//! `{"ServerURL","Username","Secret"}`; `get` answers with that JSON, or fails with
//! "credentials not found" on stdout when it has nothing for the server.

use super::Credential;
use std::io::Write;
use std::process::{Command, Stdio};

/// A credential helper, named as in docker's config.json (`desktop`, `pass`, `ecr-login`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CredentialHelper {
    name: String,
}

#[derive(serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "PascalCase")]
struct HelperCredential {
    #[serde(rename = "ServerURL", default)]
    server_url: String,
    #[serde(default)]
    username: String,
    #[serde(default)]
    secret: String,
}

impl CredentialHelper {
    pub fn new(name: impl Into<String>) -> CredentialHelper {
        CredentialHelper { name: name.into() }
    }

    /// `docker-credential-NAME`
    pub fn program(&self) -> String {
        format!("docker-credential-{}", self.name)
    }

    /// The helper's credential for `registry`; `None` when it has none.
    pub fn get(&self, registry: &str) -> Result<Option<Credential>, String> {
        let output = self.run("get", server_url(registry).as_bytes())?;
        if !output.status.success() {
            let said = said(&output);
            if said.to_ascii_lowercase().contains("credentials not found") {
                return Ok(None);
            }
            return Err(format!("{} get for {registry} failed: {said}", self.program()));
        }
        let found: HelperCredential = serde_json::from_slice(&output.stdout)
            .map_err(|e| format!("{} get for {registry} answered no credential JSON: {e}", self.program()))?;
        if found.username.is_empty() && found.secret.is_empty() {
            return Ok(None);
        }
        Ok(Some(Credential::new(found.username, found.secret)))
    }

    /// Stores `credential` for `registry` in the helper.
    pub fn store(&self, registry: &str, credential: &Credential) -> Result<(), String> {
        let input = serde_json::to_vec(&HelperCredential {
            server_url: server_url(registry),
            username: credential.username.clone(),
            secret: credential.password.clone(),
        })
        .map_err(|e| e.to_string())?;
        let output = self.run("store", &input)?;
        if !output.status.success() {
            return Err(format!(
                "{} store for {registry} failed: {}",
                self.program(),
                said(&output)
            ));
        }
        Ok(())
    }

    /// Removes the helper's credential for `registry`; `false` when it had none.
    pub fn erase(&self, registry: &str) -> Result<bool, String> {
        let output = self.run("erase", server_url(registry).as_bytes())?;
        if output.status.success() {
            return Ok(true);
        }
        let said = said(&output);
        if said.to_ascii_lowercase().contains("not found") {
            return Ok(false);
        }
        Err(format!("{} erase for {registry} failed: {said}", self.program()))
    }

    fn run(&self, action: &str, input: &[u8]) -> Result<std::process::Output, String> {
        let program = self.program();
        let mut child = Command::new(&program)
            .arg(action)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| match e.kind() {
                std::io::ErrorKind::NotFound => {
                    format!("the credential helper {program} (named in docker's config.json) is not on PATH")
                }
                _ => format!("cannot run the credential helper {program}: {e}"),
            })?;
        if let Some(mut stdin) = child.stdin.take() {
            // A helper that exits without reading its input is judged by its status.
            let _ = stdin.write_all(input);
        }
        child
            .wait_with_output()
            .map_err(|e| format!("the credential helper {program} failed: {e}"))
    }
}

/// What a helper names a registry by: docker's Docker Hub URL, else the host as given.
fn server_url(registry: &str) -> String {
    match registry {
        "docker.io" | "index.docker.io" | "registry-1.docker.io" => "https://index.docker.io/v1/".to_string(),
        other => other.to_string(),
    }
}

/// A failed helper's message: its stdout (where helpers write it), else its stderr.
fn said(output: &std::process::Output) -> String {
    let out = String::from_utf8_lossy(&output.stdout).trim().to_string();
    if !out.is_empty() {
        return out;
    }
    let err = String::from_utf8_lossy(&output.stderr).trim().to_string();
    if err.is_empty() {
        format!("exit status {}", output.status)
    } else {
        err
    }
}
