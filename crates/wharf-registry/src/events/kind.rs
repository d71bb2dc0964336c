//! The kinds of event, by the CloudEvents `type` each is sent as.

/// What happened. Sent as `type`: `io.wharf.<name>` (`io.wharf.manifest.pushed`); the
/// configuration names kinds by `<name>` (`manifest.pushed`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EventKind {
    ManifestPushed,
    ManifestDeleted,
    TagCreated,
    TagMoved,
    TagDeleted,
    BlobDeleted,
    RepositoryCreated,
}

impl EventKind {
    pub const ALL: [EventKind; 7] = [
        EventKind::ManifestPushed,
        EventKind::ManifestDeleted,
        EventKind::TagCreated,
        EventKind::TagMoved,
        EventKind::TagDeleted,
        EventKind::BlobDeleted,
        EventKind::RepositoryCreated,
    ];

    /// The name the configuration uses (`manifest.pushed`).
    pub fn name(self) -> &'static str {
        match self {
            EventKind::ManifestPushed => "manifest.pushed",
            EventKind::ManifestDeleted => "manifest.deleted",
            EventKind::TagCreated => "tag.created",
            EventKind::TagMoved => "tag.moved",
            EventKind::TagDeleted => "tag.deleted",
            EventKind::BlobDeleted => "blob.deleted",
            EventKind::RepositoryCreated => "repository.created",
        }
    }

    /// The CloudEvents `type` (`io.wharf.manifest.pushed`).
    pub fn cloud_type(self) -> String {
        format!("io.wharf.{}", self.name())
    }

    /// The kind a configured name (`manifest.pushed`, or the full `io.wharf.…` type)
    /// stands for.
    pub fn parse(name: &str) -> Result<EventKind, String> {
        let short = name.strip_prefix("io.wharf.").unwrap_or(name);
        EventKind::ALL.into_iter().find(|k| k.name() == short).ok_or_else(|| {
            let known: Vec<&str> = EventKind::ALL.iter().map(|k| k.name()).collect();
            format!("unknown event type {name:?} (known: {})", known.join(", "))
        })
    }
}
