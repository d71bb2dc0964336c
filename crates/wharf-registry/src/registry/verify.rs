//! Whole-blob reads checked against their digest as they stream (opt-in:
//! [`RegistryConfig::verify_blob_reads`](super::RegistryConfig::verify_blob_reads)).
//!
//! Every piece is hashed on its way out, and the last piece is held back until the
//! digest is known: on a match it is sent and the body ends; on a mismatch the body
//! ends in an error instead, which breaks the connection before the announced length
//! is reached, so the client sees a failed download, never a complete-looking body of
//! wrong bytes. The blob is then set aside as damaged.

use super::damage::Damage;
use crate::storage::ByteStream;
use bytes::Bytes;
use futures::StreamExt;
use std::io;
use std::sync::Arc;
use wharf_oci::{Digest, DigestHasher};

struct Verifying {
    inner: ByteStream,
    hasher: DigestHasher,
    held: Option<Bytes>,
    digest: Digest,
    damage: Arc<Damage>,
}

/// `stream`, the whole blob `digest`, checked against it as it passes.
pub(crate) fn verified(stream: ByteStream, digest: Digest, damage: Arc<Damage>) -> ByteStream {
    let state = Verifying {
        inner: stream,
        hasher: digest.algorithm().hasher(),
        held: None,
        digest,
        damage,
    };
    futures::stream::unfold(Some(state), |state| async move {
        let mut state = state?;
        loop {
            match state.inner.next().await {
                Some(Ok(piece)) => {
                    state.hasher.update(&piece);
                    if let Some(previous) = state.held.replace(piece) {
                        return Some((Ok(previous), Some(state)));
                    }
                }
                Some(Err(e)) => return Some((Err(e), None)),
                None => {
                    let Verifying {
                        hasher,
                        held,
                        digest,
                        damage,
                        ..
                    } = state;
                    let computed = hasher.finish();
                    if computed == digest {
                        return held.map(|last| (Ok(last), None));
                    }
                    let why = format!("its bytes have digest {computed}");
                    damage.found(&digest, &why).await;
                    let error = io::Error::new(
                        io::ErrorKind::InvalidData,
                        format!("blob {digest} is damaged in storage ({why}); the download was cut off"),
                    );
                    return Some((Err(error), None));
                }
            }
        }
    })
    .boxed()
}
