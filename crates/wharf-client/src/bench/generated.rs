//! Blob content made on the fly from a seed: any size, no memory held, the same bytes
//! every time a range is asked for (so a resumed push sends what the first try sent).

use crate::blobs::{BlobSource, ByteStream};
use crate::error::Result;
use bytes::Bytes;
use futures::future::BoxFuture;
use futures::StreamExt;
use wharf_oci::{Algorithm, Digest};

const PIECE: u64 = 256 * 1024;

/// `size` bytes of the stream `seed`.
pub struct GeneratedBlob {
    seed: u64,
    size: u64,
    digest: Digest,
}

impl GeneratedBlob {
    /// Makes the content once to learn its digest (not part of any timing).
    pub fn new(seed: u64, size: u64) -> GeneratedBlob {
        let mut hasher = Algorithm::Sha256.hasher();
        let mut at = 0;
        while at < size {
            let end = size.min(at + PIECE);
            hasher.update(&content(seed, at, end));
            at = end;
        }
        GeneratedBlob {
            seed,
            size,
            digest: hasher.finish(),
        }
    }
}

/// Bytes `start..end` of stream `seed`: each 8-byte word depends only on its index.
pub fn content(seed: u64, start: u64, end: u64) -> Vec<u8> {
    let first = start / 8;
    let last = end.div_ceil(8);
    let mut out = Vec::with_capacity(((last - first) * 8) as usize);
    for word in first..last {
        let mut z = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15).wrapping_add(word);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        out.extend_from_slice(&(z ^ (z >> 31)).to_le_bytes());
    }
    let skip = (start - first * 8) as usize;
    out.drain(..skip);
    out.truncate((end - start) as usize);
    out
}

impl BlobSource for GeneratedBlob {
    fn digest(&self) -> &Digest {
        &self.digest
    }
    fn size(&self) -> u64 {
        self.size
    }
    fn open(&self, offset: u64) -> BoxFuture<'_, Result<ByteStream>> {
        let (seed, size) = (self.seed, self.size);
        Box::pin(async move {
            let starts = (offset..size).step_by(PIECE as usize);
            Ok(futures::stream::iter(starts)
                .map(move |at| Ok(Bytes::from(content(seed, at, size.min(at + PIECE)))))
                .boxed())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_agree_with_the_whole() {
        let whole = content(7, 0, 1000);
        assert_eq!(content(7, 13, 501), whole[13..501]);
        assert_ne!(content(8, 0, 1000), whole);
    }

    #[tokio::test]
    async fn the_stream_hashes_to_the_digest_from_any_offset() {
        let blob = GeneratedBlob::new(3, 600_000);
        let mut stream = blob.open(100_001).await.unwrap();
        let mut rest = Vec::new();
        while let Some(p) = stream.next().await {
            rest.extend_from_slice(&p.unwrap());
        }
        assert_eq!(rest, content(3, 100_001, 600_000));
        let mut all = content(3, 0, 100_001);
        all.extend_from_slice(&rest);
        assert_eq!(&Digest::sha256_of(&all), blob.digest());
    }
}
