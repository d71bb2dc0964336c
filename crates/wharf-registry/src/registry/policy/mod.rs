//! The storage lifecycle's policies, per repository glob: immutable tags
//! ([`ImmutableTags`]), quotas ([`Quota`]) and retention ([`Retention`]); and the
//! reports over the stored content they rest on: usage ([`UsageReport`]) and scrub
//! ([`ScrubReport`]).
//!
//! ```
//! use wharf_registry::registry::policy::{ImmutableTags, Policies, Quota, Retention};
//! use wharf_registry::RegistryConfig;
//!
//! let policies = Policies {
//!     immutable_tags: vec![ImmutableTags::new(&["prod/**"], &["v*"]).unwrap()],
//!     quotas: vec![Quota::new(&["team-a/**"], 10 << 30).unwrap()],
//!     retention: vec![Retention::new(&["ci/**"]).unwrap().keep_last(10).keep_tags("^(main|release-.*)$").unwrap()],
//!     total_quota: Some(500 << 30),
//! };
//! let config = RegistryConfig { policies, ..RegistryConfig::default() };
//! ```
//!
//! Globs match the whole name, as in the access rules: `*` matches any run of
//! characters, `/` included (`prod/*` and `prod/**` both match `prod/app` and
//! `prod/team/app`); `?`, `{a,b}` and `[a-z]` as usual. Tags take the same globs
//! (`v*`, `{latest,stable}`); retention's `keep_tags` is a regular expression.

mod glob;
mod immutable;
mod quota;
mod retention;
mod scrub;
mod usage;

pub use glob::Globs;
pub use immutable::ImmutableTags;
pub use quota::Quota;
pub use retention::{Retention, RetentionReport, UntaggedTag};
pub use scrub::{DamagedBlob, MissingReference, ScrubOptions, ScrubReport};
pub use usage::{RepositoryUsage, UsageReport};

/// Every lifecycle policy of a registry; empty (nothing immutable, no limits, nothing
/// retained away) by default.
#[derive(Debug, Clone, Default)]
pub struct Policies {
    pub immutable_tags: Vec<ImmutableTags>,
    pub quotas: Vec<Quota>,
    pub retention: Vec<Retention>,
    /// At most this many bytes in the whole registry (each blob counted once however
    /// many repositories link it); see [`Quota`] for how pushes are refused.
    pub total_quota: Option<u64>,
}
