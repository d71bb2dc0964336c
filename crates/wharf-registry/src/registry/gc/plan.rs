//! Mark: from one snapshot of the metadata, what a collection removes. Pure: the same
//! plan serves a dry run and a real one, whose removals re-check each item in the
//! metadata store (what changed since the snapshot is never removed by mistake).

use crate::meta::GcSnapshot;
use std::collections::{HashMap, HashSet, VecDeque};
use std::time::SystemTime;
use wharf_oci::{Digest, RepositoryName};

type Key = (RepositoryName, Digest);

/// What to remove, in the order to remove it.
#[derive(Debug, Default)]
pub struct Plan {
    /// Untagged manifests, each before those it frees (an index before its children,
    /// a subject before its referrers), with their sizes.
    pub manifests: Vec<(Key, u64)>,
    /// Links no remaining manifest needs, with sizes.
    pub links: Vec<(Key, u64)>,
    /// Blob rows to remove with their bytes: unlinked and unclaimed since the cutoff,
    /// or marked deleting by an earlier collection that did not finish.
    pub blobs: Vec<(Digest, u64)>,
}

/// The plan for `snapshot` with `cutoff` (now less the grace period). With
/// `keep_untagged` no manifest is removed. Every manifest's references must be recorded.
pub fn plan(snapshot: &GcSnapshot, cutoff: SystemTime, keep_untagged: bool) -> Plan {
    let manifests: HashMap<Key, usize> = snapshot
        .manifests
        .iter()
        .enumerate()
        .map(|(i, m)| ((m.repository.clone(), m.digest.clone()), i))
        .collect();
    // How many live manifests of the repository require each digest.
    let mut required: HashMap<Key, usize> = HashMap::new();
    let mut requires: HashMap<Key, Vec<Digest>> = HashMap::new();
    for (repo, manifest, digest) in &snapshot.references {
        *required.entry((repo.clone(), digest.clone())).or_default() += 1;
        requires
            .entry((repo.clone(), manifest.clone()))
            .or_default()
            .push(digest.clone());
    }
    let mut referrers: HashMap<Key, Vec<Digest>> = HashMap::new();
    for m in &snapshot.manifests {
        if let Some(subject) = &m.subject {
            referrers
                .entry((m.repository.clone(), subject.clone()))
                .or_default()
                .push(m.digest.clone());
        }
    }

    let mut removed: HashSet<Key> = HashSet::new();
    let mut plan = Plan::default();
    if !keep_untagged {
        let removable = |key: &Key, removed: &HashSet<Key>, required: &HashMap<Key, usize>| {
            let Some(&i) = manifests.get(key) else { return false };
            let m = &snapshot.manifests[i];
            let subject_held = m.subject.as_ref().is_some_and(|s| {
                let subject = (m.repository.clone(), s.clone());
                manifests.contains_key(&subject) && !removed.contains(&subject)
            });
            !removed.contains(key)
                && m.created < cutoff
                && !m.tagged
                && required.get(key).copied().unwrap_or(0) == 0
                && !subject_held
        };
        let mut queue: VecDeque<Key> = manifests.keys().cloned().collect();
        while let Some(key) = queue.pop_front() {
            if !removable(&key, &removed, &required) {
                continue;
            }
            removed.insert(key.clone());
            plan.manifests
                .push((key.clone(), snapshot.manifests[manifests[&key]].size));
            let repo = &key.0;
            for child in requires.get(&key).into_iter().flatten() {
                let child_key = (repo.clone(), child.clone());
                if let Some(n) = required.get_mut(&child_key) {
                    *n -= 1;
                }
                queue.push_back(child_key);
            }
            for referrer in referrers.get(&key).into_iter().flatten() {
                queue.push_back((repo.clone(), referrer.clone()));
            }
        }
    }

    let mut linked: HashSet<&Digest> = HashSet::new();
    for link in &snapshot.links {
        let key = (link.repository.clone(), link.digest.clone());
        if removed.contains(&key) {
            continue; // goes with its manifest
        }
        let needed = manifests.contains_key(&key) || required.get(&key).copied().unwrap_or(0) > 0;
        if !needed && link.created < cutoff {
            plan.links.push((key, link.size));
        } else {
            linked.insert(&link.digest);
        }
    }
    for blob in &snapshot.blobs {
        if blob.deleting || (blob.touched < cutoff && !linked.contains(&blob.digest)) {
            plan.blobs.push((blob.digest.clone(), blob.size));
        }
    }
    plan
}
