//! Which mirrors a pull asks first: the `--mirror` hosts (or `WHARF_MIRRORS`), else the
//! mirrors containers' `registries.conf` gives for the image, as podman, skopeo and
//! CRI-O read it, so one file configures them all.
//!
//! The file is the first of `$CONTAINERS_REGISTRIES_CONF`,
//! `$XDG_CONFIG_HOME/containers/registries.conf` (`~/.config/…` without the variable)
//! and `/etc/containers/registries.conf` that exists. Of its `[[registry]]` entries, the
//! one whose `prefix` (else `location`) is the longest match of `HOST/REPOSITORY` at a
//! `/` applies; its `[[registry.mirror]]` `location`s, in order, replace that prefix
//! (`prefix = "docker.io"`, mirror `registry.example.com/docker.io`: `docker.io/library/x`
//! is asked of `registry.example.com` as `docker.io/library/x`). A mirror marked
//! `pull-from-mirror = "digest-only"`, or all of them with `mirror-by-digest-only`, is
//! asked only for a pull by digest. Wildcard prefixes (`*.example.com`) and the
//! `registries.conf.d` drop-in directory are not read.

use super::exit::{Failure, Outcome};
use serde::Deserialize;
use std::path::{Path, PathBuf};
use wharf_client::{ImageReference, Repository};

#[derive(Debug, Default, Deserialize)]
struct RegistriesConf {
    #[serde(default)]
    registry: Vec<RegistryEntry>,
}

#[derive(Debug, Deserialize)]
struct RegistryEntry {
    prefix: Option<String>,
    location: Option<String>,
    #[serde(default)]
    mirror: Vec<MirrorEntry>,
    #[serde(default, rename = "mirror-by-digest-only")]
    mirror_by_digest_only: bool,
}

#[derive(Debug, Deserialize)]
struct MirrorEntry {
    location: String,
    #[serde(rename = "pull-from-mirror")]
    pull_from_mirror: Option<String>,
}

/// The repositories to ask before the origin, in order: the `--mirror` hosts (same
/// repository path) when any were given, else those of registries.conf.
pub fn for_pull(flags: &[String], reference: &ImageReference) -> Outcome<Vec<Repository>> {
    if !flags.is_empty() {
        return flags
            .iter()
            .map(|m| {
                let host = super::login::registry_name(m)?;
                Ok(Repository::new(host, reference.repository.name.clone()))
            })
            .collect();
    }
    let Some(path) = registries_conf() else {
        return Ok(Vec::new());
    };
    let text =
        std::fs::read_to_string(&path).map_err(|e| Failure::other(format!("cannot read {}: {e}", path.display())))?;
    let conf: RegistriesConf = toml::from_str(&text)
        .map_err(|e| Failure::usage(format!("{} is not a valid registries.conf: {e}", path.display())))?;
    mirrors_in(&conf, reference).map_err(|e| Failure::usage(format!("{}: {e}", path.display())))
}

/// The registries.conf to read, if any exists.
fn registries_conf() -> Option<PathBuf> {
    let env = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty()).map(PathBuf::from);
    if let Some(path) = env("CONTAINERS_REGISTRIES_CONF") {
        return Some(path);
    }
    let user = env("XDG_CONFIG_HOME")
        .or_else(|| env("HOME").map(|home| home.join(".config")))
        .map(|config| config.join("containers/registries.conf"));
    user.into_iter()
        .chain([PathBuf::from("/etc/containers/registries.conf")])
        .find(|p| Path::new(p).is_file())
}

fn mirrors_in(conf: &RegistriesConf, reference: &ImageReference) -> Result<Vec<Repository>, String> {
    let full = format!("{}/{}", reference.repository.registry, reference.repository.name);
    let matches = |prefix: &str| full == prefix || full.starts_with(&format!("{prefix}/"));
    let Some((entry, prefix)) = conf
        .registry
        .iter()
        .filter_map(|e| {
            let prefix = e.prefix.as_deref().or(e.location.as_deref())?.trim_end_matches('/');
            matches(prefix).then_some((e, prefix))
        })
        .max_by_key(|(_, prefix)| prefix.len())
    else {
        return Ok(Vec::new());
    };
    let by_digest = reference.digest.is_some();
    let rest = &full[prefix.len()..];
    let mut mirrors = Vec::new();
    for mirror in &entry.mirror {
        let digest_only = entry.mirror_by_digest_only || mirror.pull_from_mirror.as_deref() == Some("digest-only");
        if (digest_only && !by_digest) || mirror.pull_from_mirror.as_deref() == Some("tag-only") && by_digest {
            continue;
        }
        let rewritten = format!("{}{rest}", mirror.location.trim_end_matches('/'));
        let (host, name) = rewritten.split_once('/').ok_or_else(|| {
            format!(
                "mirror {:?} gives {rewritten:?}, which names no repository",
                mirror.location
            )
        })?;
        let name = name
            .parse()
            .map_err(|e| format!("mirror {:?} gives the repository name {name:?}: {e}", mirror.location))?;
        mirrors.push(Repository::new(host.to_string(), name));
    }
    Ok(mirrors)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mirrors(conf: &str, reference: &str) -> Vec<String> {
        let conf: RegistriesConf = toml::from_str(conf).unwrap();
        let reference: ImageReference = reference.parse().unwrap();
        mirrors_in(&conf, &reference)
            .unwrap()
            .iter()
            .map(|r| format!("{}/{}", r.registry, r.name))
            .collect()
    }

    const CONF: &str = r#"
unqualified-search-registries = ["docker.io"]

[[registry]]
prefix = "docker.io"
location = "docker.io"

[[registry.mirror]]
location = "registry.example.com/docker.io"

[[registry.mirror]]
location = "pinned.example.com"
pull-from-mirror = "digest-only"

[[registry]]
location = "quay.io/team"

[[registry.mirror]]
location = "mirror.example.com:5000/quay"
"#;

    #[test]
    fn the_longest_matching_prefix_gives_its_mirrors_in_order_with_the_prefix_replaced() {
        assert_eq!(
            mirrors(CONF, "docker.io/library/alpine:3"),
            ["registry.example.com/docker.io/library/alpine"]
        );
        let by_digest = format!("docker.io/library/alpine@sha256:{}", "a".repeat(64));
        assert_eq!(
            mirrors(CONF, &by_digest),
            [
                "registry.example.com/docker.io/library/alpine",
                "pinned.example.com/library/alpine"
            ]
        );
        assert_eq!(
            mirrors(CONF, "quay.io/team/app:1"),
            ["mirror.example.com:5000/quay/app"]
        );
        assert!(mirrors(CONF, "quay.io/teams/app:1").is_empty(), "a prefix ends at a /");
        assert!(mirrors(CONF, "ghcr.io/org/app:1").is_empty());
    }
}
