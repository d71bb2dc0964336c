//! Pushing, pulling and deleting manifests.

use super::{Registry, RegistryError, RegistryResult};
use crate::meta::{ManifestRecord, MetaError, Refusal};
use bytes::Bytes;
use serde_json::json;
use wharf_oci::{Digest, ErrorCode, ParsedManifest, Reference, RepositoryName, Tag};

/// The outcome of a manifest push.
#[derive(Debug, Clone)]
pub struct ManifestPut {
    pub digest: Digest,
    /// Tags now pointing at the manifest (the URL's tag and every `?tag=`).
    pub tags: Vec<Tag>,
    /// The `subject` the registry recorded, for the `OCI-Subject` header.
    pub subject: Option<Digest>,
}

/// A manifest as stored: its record and exact bytes.
#[derive(Debug, Clone)]
pub struct StoredManifest {
    pub record: ManifestRecord,
    pub bytes: Bytes,
}

impl Registry {
    /// Validates and stores a manifest pushed to `/v2/<name>/manifests/<reference>`
    /// with extra `tags` from `?tag=` (end-7a, end-7b).
    pub async fn put_manifest(
        &self,
        name: &RepositoryName,
        reference: &Reference,
        extra_tags: Vec<Tag>,
        content_type: Option<&str>,
        bytes: Bytes,
    ) -> RegistryResult<ManifestPut> {
        self.admit_push(name)?;
        let parsed = ParsedManifest::parse(content_type, &bytes)?;
        let digest = match reference {
            Reference::Digest(expected) => {
                let actual = Digest::of(expected.algorithm(), &bytes);
                if &actual != expected {
                    return Err(RegistryError::new(
                        ErrorCode::DigestInvalid,
                        format!("the manifest's bytes have digest {actual}, not {expected} as the URL says"),
                    ));
                }
                actual
            }
            Reference::Tag(_) => Digest::sha256_of(&bytes),
        };
        self.check_references(name, &parsed).await?;

        let mut tags = extra_tags;
        if let Reference::Tag(tag) = reference {
            tags.insert(0, tag.clone());
        }
        let mut seen = std::collections::HashSet::new();
        tags.retain(|t| seen.insert(t.clone()));
        let require_linked = !self.config.allow_sparse_manifests;
        let subject = parsed.subject.as_ref().map(|s| s.digest.clone());
        self.store_manifest(name, digest.clone(), &parsed, bytes, &tags, require_linked)
            .await?;
        super::error::space_available();
        Ok(ManifestPut { digest, tags, subject })
    }

    /// Stores manifest bytes already checked against `digest` and records them in
    /// `name` with `tags`; with `require_linked`, only while every blob and child it
    /// references is linked into `name` (MANIFEST_BLOB_UNKNOWN otherwise).
    pub(super) async fn store_manifest(
        &self,
        name: &RepositoryName,
        digest: Digest,
        parsed: &ParsedManifest,
        bytes: Bytes,
        tags: &[Tag],
        require_linked: bool,
    ) -> RegistryResult<()> {
        let record = ManifestRecord {
            digest: digest.clone(),
            media_type: parsed.kind.media_type().to_string(),
            size: bytes.len() as u64,
            artifact_type: parsed.artifact_type.clone(),
            subject: parsed.subject.as_ref().map(|s| s.digest.clone()),
            annotations: parsed.annotations.clone(),
        };
        self.refuse_moving_immutable_tags(name, &digest, tags).await?;
        self.admit_bytes(name, Some(&digest), record.size).await?;
        // A manifest pushed again (a new tag for it) is stored already: its bytes are
        // kept in memory once stored or pulled, so they are not stored again, nor is its
        // blob row claimed in a transaction of its own: recording the manifest checks
        // that row in its own transaction, and refuses (BlobGone) if a collection
        // elsewhere removed or is removing the bytes; they are then stored again.
        let kept = self.content.contains(&digest);
        if !kept {
            self.store_manifest_bytes(&digest, &bytes).await?;
        }
        // The references are checked again in the metadata store's transaction: the
        // collector may have removed one since `check_references`.
        let references: Vec<Digest> = parsed.required_references().map(|d| d.digest.clone()).collect();
        let fixed: Vec<Tag> = tags
            .iter()
            .filter(|t| self.config.policies.immutable_rule(name, t.as_str()).is_some())
            .cloned()
            .collect();
        let limits = self.config.policies.limits_for(name);
        let change = || crate::meta::Change::PutManifest {
            repo: name,
            manifest: &record,
            tags,
            references: &references,
            require_linked,
            fixed: &fixed,
            limits,
        };
        let put = match self.apply(change()).await {
            Err(e) if kept && matches!(e.refusal(), Some(Refusal::BlobGone(_))) => {
                self.content.forget(&digest);
                self.store_manifest_bytes(&digest, &bytes).await?;
                self.apply(change()).await
            }
            put => put,
        };
        put.map_err(|e| match e.refusal() {
            Some(Refusal::OverQuota { .. }) => self.quota_answer(name, e),
            _ => self.immutable_answer(name, e),
        })?;
        super::error::space_available();
        Ok(())
    }

    /// Stores a manifest's bytes under its blob row, claimed first (see
    /// [`Registry::claim_blob`]), and keeps them in memory.
    async fn store_manifest_bytes(&self, digest: &Digest, bytes: &Bytes) -> RegistryResult<()> {
        self.claim_blob(digest, bytes.len() as u64).await?;
        self.blobs.put_blob(digest, bytes.clone()).await?;
        self.content.keep(digest, bytes);
        self.damage.repaired(digest);
        Ok(())
    }

    /// 403 DENIED before anything is stored when a tag of `tags` is immutable and points
    /// at another manifest already (the metadata store checks again as it moves them).
    async fn refuse_moving_immutable_tags(
        &self,
        name: &RepositoryName,
        digest: &Digest,
        tags: &[Tag],
    ) -> RegistryResult<()> {
        for tag in tags {
            if self.config.policies.immutable_rule(name, tag.as_str()).is_none() {
                continue;
            }
            if let Some(current) = self.meta.tagged_manifest(name, tag).await? {
                if &current.digest != digest {
                    return Err(self.config.policies.immutable_refusal(name, tag, Some(&current.digest)));
                }
            }
        }
        Ok(())
    }

    /// The metadata store's refusal to move an immutable tag, answered naming the rule.
    fn immutable_answer(&self, name: &RepositoryName, e: MetaError) -> RegistryError {
        match e.refusal() {
            Some(Refusal::TagImmutable { tag, current }) => {
                self.config.policies.immutable_refusal(name, tag, Some(current))
            }
            _ => e.into(),
        }
    }

    /// MANIFEST_BLOB_UNKNOWN for every referenced blob or manifest `name` lacks;
    /// MANIFEST_INVALID when a descriptor's size disagrees with the stored content.
    async fn check_references(&self, name: &RepositoryName, manifest: &ParsedManifest) -> RegistryResult<()> {
        let wanted: Vec<Digest> = manifest.required_references().map(|d| d.digest.clone()).collect();
        if wanted.is_empty() {
            return Ok(());
        }
        let present = self.meta.linked_blobs(name, &wanted).await?;
        let missing: Vec<String> = wanted
            .iter()
            .filter(|d| !present.contains_key(d))
            .map(|d| d.to_string())
            .collect();
        if !missing.is_empty() && !self.config.allow_sparse_manifests {
            return Err(missing_references(name, missing));
        }
        for descriptor in manifest.required_references() {
            let Some(&stored) = present.get(&descriptor.digest) else {
                continue;
            };
            if stored != descriptor.size {
                return Err(RegistryError::new(
                    ErrorCode::ManifestInvalid,
                    format!(
                        "descriptor {} gives size {}, but the stored content has {stored} bytes",
                        descriptor.digest, descriptor.size
                    ),
                ));
            }
        }
        Ok(())
    }

    /// The record of the manifest `reference` names, without its bytes (HEAD).
    pub async fn manifest_record(
        &self,
        name: &RepositoryName,
        reference: &Reference,
    ) -> RegistryResult<ManifestRecord> {
        let found = match reference {
            Reference::Digest(d) => self.meta.manifest(name, d).await?,
            Reference::Tag(t) => self.meta.tagged_manifest(name, t).await?,
        };
        match found {
            Some(record) => Ok(record),
            None => {
                self.require_repository(name).await?;
                Err(RegistryError::new(
                    ErrorCode::ManifestUnknown,
                    format!("manifest {reference} is not in repository {name}"),
                ))
            }
        }
    }

    /// The manifest `reference` names, with its exact bytes (GET).
    pub async fn manifest(&self, name: &RepositoryName, reference: &Reference) -> RegistryResult<StoredManifest> {
        let record = self.manifest_record(name, reference).await?;
        let bytes = self
            .kept_content(&record.digest, record.size)
            .await?
            .map_err(|super::blobs::Damaged(why)| {
                RegistryError::new(
                    ErrorCode::ManifestUnknown,
                    format!(
                        "manifest {} is damaged in this registry's storage ({why}) and was set aside; push it again to repair it",
                        record.digest
                    ),
                )
            })?;
        Ok(StoredManifest { record, bytes })
    }

    /// Deletes a tag, or a manifest with every tag pointing at it (end-9).
    pub async fn delete_manifest(&self, name: &RepositoryName, reference: &Reference) -> RegistryResult<()> {
        let deleted = match reference {
            Reference::Tag(tag) => {
                if !self.config.delete_tags {
                    return Err(RegistryError::unsupported("tag deletion is disabled on this registry"));
                }
                if self.config.policies.immutable_rule(name, tag.as_str()).is_some() {
                    return Err(self.config.policies.immutable_refusal(name, tag, None));
                }
                self.apply(crate::meta::Change::DeleteTag {
                    repo: name,
                    tag,
                    at: None,
                })
                .await?
            }
            Reference::Digest(digest) => {
                if !self.config.delete_manifests {
                    return Err(RegistryError::unsupported(
                        "manifest deletion is disabled on this registry",
                    ));
                }
                let fixed = (self.config.policies.has_immutable_tags(name))
                    .then(|| self.config.policies.immutable_filter(name));
                let deleted = self
                    .apply(crate::meta::Change::DeleteManifest {
                        repo: name,
                        digest,
                        fixed,
                    })
                    .await;
                deleted.map_err(|e| self.immutable_answer(name, e))?
            }
        };
        if deleted {
            return Ok(());
        }
        self.require_repository(name).await?;
        Err(RegistryError::new(
            ErrorCode::ManifestUnknown,
            format!("manifest {reference} is not in repository {name}"),
        ))
    }
}

/// Most missing digests an error names: a manifest may list thousands, and the answer
/// must stay small whatever the request held.
const MISSING_LISTED: usize = 10;

/// MANIFEST_BLOB_UNKNOWN naming the first [`MISSING_LISTED`] of `missing` and counting
/// the rest; the detail lists the same few (`missing`) and the total (`missing_count`).
fn missing_references(name: &RepositoryName, mut missing: Vec<String>) -> RegistryError {
    let total = missing.len();
    missing.truncate(MISSING_LISTED);
    let more = match total - missing.len() {
        0 => String::new(),
        n => format!(" and {n} more"),
    };
    let message = format!(
        "the manifest references {} not pushed to repository {name}: {}{more}",
        plural(total),
        missing.join(", ")
    );
    RegistryError::new(ErrorCode::ManifestBlobUnknown, message)
        .with_detail(json!({ "missing": missing, "missing_count": total }))
}

fn plural(n: usize) -> String {
    if n == 1 {
        "1 blob or manifest".to_string()
    } else {
        format!("{n} blobs or manifests")
    }
}
