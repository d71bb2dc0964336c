//! The storage lifecycle's part of the config file: `[[immutable_tags]]`, `[[quotas]]`,
//! `[[retention]]` and `[scrub]`, turned into the registry's policy types.

use serde::Deserialize;
use std::time::Duration;
pub use wharf_registry::registry::policy::Policies;
use wharf_registry::registry::policy::{ImmutableTags, Quota, Retention, ScrubOptions};

/// A glob or a list of them: `repositories = "prod/*"` or `["prod/*", "stage/*"]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

impl OneOrMany {
    fn list(&self) -> Vec<String> {
        match self {
            OneOrMany::One(s) => vec![s.clone()],
            OneOrMany::Many(v) => v.clone(),
        }
    }
}

/// A byte count: a number, or text with a unit (`"10GiB"`, `"512M"`).
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum ByteCount {
    Number(u64),
    Text(String),
}

impl ByteCount {
    fn bytes(&self) -> Result<u64, String> {
        match self {
            ByteCount::Number(n) => Ok(*n),
            ByteCount::Text(t) => parse_bytes(t),
        }
    }
}

/// `123`, `64k`, `5MiB`, `10G`, `1T`: a byte count (units are powers of 1024).
pub fn parse_bytes(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (number, unit) = t.split_at(split);
    let n: u64 = number
        .parse()
        .map_err(|_| format!("{s:?} is not a byte count (e.g. 1048576, 512MiB, 10GiB)"))?;
    let factor: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" | "kib" => 1 << 10,
        "m" | "mb" | "mib" => 1 << 20,
        "g" | "gb" | "gib" => 1 << 30,
        "t" | "tb" | "tib" => 1 << 40,
        _ => return Err(format!("{s:?}: unknown unit (use k, M, G or T)")),
    };
    n.checked_mul(factor).ok_or_else(|| format!("{s:?} is too large"))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImmutableTagsFile {
    repositories: OneOrMany,
    tags: OneOrMany,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QuotaFile {
    repositories: OneOrMany,
    limit: ByteCount,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetentionFile {
    repositories: OneOrMany,
    keep_last: Option<usize>,
    #[serde(default, with = "humantime_serde")]
    keep_newer_than: Option<Duration>,
    /// Removes tags whose manifest was not pulled for this long (`30d`).
    #[serde(default, with = "humantime_serde")]
    not_pulled_for: Option<Duration>,
    keep_tags: Option<String>,
}

/// `[scrub]`: a periodic scrub (off unless `interval` is given) and its pace.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScrubFile {
    #[serde(default, with = "humantime_serde")]
    pub interval: Option<Duration>,
    pub rate: Option<ByteCount>,
}

/// When and how the server scrubs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ScrubSchedule {
    /// `None`: never on its own (`wharf scrub` runs one).
    pub interval: Option<Duration>,
    pub options: ScrubOptions,
}

impl ScrubFile {
    pub fn rate(&self) -> Result<Option<u64>, String> {
        self.rate.as_ref().map(ByteCount::bytes).transpose()
    }
}

/// The policies the file's sections describe, checked.
pub fn policies(
    immutable: &[ImmutableTagsFile],
    quotas: &[QuotaFile],
    retention: &[RetentionFile],
) -> Result<Policies, String> {
    let mut policies = Policies::default();
    for rule in immutable {
        let rule = ImmutableTags::new(&rule.repositories.list(), &rule.tags.list())
            .map_err(|e| format!("[[immutable_tags]]: {e}"))?;
        policies.immutable_tags.push(rule);
    }
    for quota in quotas {
        let limit = quota.limit.bytes().map_err(|e| format!("[[quotas]] limit: {e}"))?;
        let quota = Quota::new(&quota.repositories.list(), limit).map_err(|e| format!("[[quotas]]: {e}"))?;
        policies.quotas.push(quota);
    }
    for policy in retention {
        let mut r = Retention::new(&policy.repositories.list()).map_err(|e| format!("[[retention]]: {e}"))?;
        r.keep_last = policy.keep_last;
        r.keep_newer_than = policy.keep_newer_than;
        r.not_pulled_for = policy.not_pulled_for;
        if let Some(pattern) = &policy.keep_tags {
            r = r.keep_tags(pattern).map_err(|e| format!("[[retention]]: {e}"))?;
        }
        if !r.is_effective() {
            return Err(format!(
                "[[retention]] for {}: give keep_last, keep_newer_than and/or not_pulled_for (without one it would untag every tag keep_tags does not match)",
                r.repositories.describe()
            ));
        }
        policies.retention.push(r);
    }
    Ok(policies)
}

/// The registry's total quota: the flag (or `WHARF_TOTAL_QUOTA`), else the file's
/// `total_quota`; 0 is no limit.
pub fn total_quota(flag: Option<u64>, file: Option<&ByteCount>) -> Result<Option<u64>, String> {
    let limit = match flag {
        Some(limit) => Some(limit),
        None => file
            .map(ByteCount::bytes)
            .transpose()
            .map_err(|e| format!("total_quota: {e}"))?,
    };
    Ok(limit.filter(|l| *l > 0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_counts_with_units() {
        assert_eq!(parse_bytes("10GiB"), Ok(10 << 30));
        assert_eq!(parse_bytes("512k"), Ok(512 << 10));
        assert_eq!(parse_bytes("7"), Ok(7));
        assert!(parse_bytes("ten").is_err());
        assert!(parse_bytes("5 parsecs").is_err());
    }

    #[test]
    fn total_quota_from_the_flag_over_the_file_and_zero_is_none() {
        let file = ByteCount::Text("1GiB".into());
        assert_eq!(total_quota(None, Some(&file)), Ok(Some(1 << 30)));
        assert_eq!(total_quota(Some(4096), Some(&file)), Ok(Some(4096)));
        assert_eq!(total_quota(Some(0), Some(&file)), Ok(None));
        assert_eq!(total_quota(None, None), Ok(None));
        assert!(total_quota(None, Some(&ByteCount::Text("lots".into()))).is_err());
    }
}
