//! The events that describe a change, as CloudEvents ready to deliver.

use super::{actor, EventKind, EventsConfig};
use crate::meta::{Change, Condition, NewEvent};
use serde_json::{json, Map, Value};
use std::time::SystemTime;

/// The events `change` would cause that some endpoint wants, each with the condition
/// under which it holds (the store judges those in the change's transaction).
pub(crate) fn describe(config: &EventsConfig, change: &Change<'_>) -> Vec<NewEvent> {
    let repo = change.repository().as_str();
    let mut events = Vec::new();
    let mut add = |kind: EventKind, condition: Condition, subject: String, data: Vec<(&str, Value)>| {
        if config.wanted(kind, repo) {
            events.push(cloud_event(config, kind, repo, subject, data, condition));
        }
    };
    match change {
        Change::PutManifest { manifest, tags, .. } => {
            add(
                EventKind::RepositoryCreated,
                Condition::RepositoryIsNew,
                repo.to_string(),
                vec![],
            );
            let digest = manifest.digest.to_string();
            let described = |tag: Option<&str>| {
                let mut data = vec![
                    ("digest", json!(digest)),
                    ("mediaType", json!(manifest.media_type)),
                    ("size", json!(manifest.size)),
                ];
                if let Some(tag) = tag {
                    data.push(("tag", json!(tag)));
                }
                data
            };
            add(
                EventKind::ManifestPushed,
                Condition::Always,
                format!("{repo}@{digest}"),
                described(tags.first().map(|t| t.as_str())),
            );
            for tag in tags.iter() {
                let subject = format!("{repo}:{tag}");
                let data = described(Some(tag.as_str()));
                add(
                    EventKind::TagCreated,
                    Condition::TagIsNew(tag.clone()),
                    subject.clone(),
                    data.clone(),
                );
                add(EventKind::TagMoved, Condition::TagMoves(tag.clone()), subject, data);
            }
        }
        Change::DeleteManifest { digest, .. } => add(
            EventKind::ManifestDeleted,
            Condition::Always,
            format!("{repo}@{digest}"),
            vec![("digest", json!(digest.to_string()))],
        ),
        Change::DeleteTag { tag, at, .. } => {
            let mut data = vec![("tag", json!(tag.as_str()))];
            if let Some(digest) = at {
                data.push(("digest", json!(digest.to_string())));
            }
            add(EventKind::TagDeleted, Condition::Always, format!("{repo}:{tag}"), data)
        }
        Change::UnlinkBlob { digest, .. } => add(
            EventKind::BlobDeleted,
            Condition::Always,
            format!("{repo}@{digest}"),
            vec![("digest", json!(digest.to_string()))],
        ),
        Change::LinkBlob { .. } | Change::CompleteUpload { .. } => add(
            EventKind::RepositoryCreated,
            Condition::RepositoryIsNew,
            repo.to_string(),
            vec![],
        ),
    }
    events
}

fn cloud_event(
    config: &EventsConfig,
    kind: EventKind,
    repo: &str,
    subject: String,
    data: Vec<(&str, Value)>,
    condition: Condition,
) -> NewEvent {
    let id = uuid::Uuid::new_v4().to_string();
    let time = SystemTime::now();
    let mut fields = Map::new();
    fields.insert("repository".into(), json!(repo));
    for (k, v) in data {
        fields.insert(k.into(), v);
    }
    fields.insert("actor".into(), json!(actor::current()));
    let body = json!({
        "specversion": "1.0",
        "id": id,
        "type": kind.cloud_type(),
        "source": config.source,
        "subject": subject,
        "time": humantime::format_rfc3339_millis(time).to_string(),
        "datacontenttype": "application/json",
        "data": Value::Object(fields),
    });
    NewEvent {
        id,
        kind: kind.name().to_string(),
        repository: repo.to_string(),
        time,
        body: serde_json::to_vec(&body).unwrap_or_default(),
        condition,
    }
}
