//! The `Range` header of a blob GET (RFC 9110, section 14), so pulls can resume.

use std::ops::Range;

/// What to send for a GET of a blob of a known size.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RangeAnswer {
    /// 200 with the whole blob.
    Full,
    /// 206 with these bytes (end exclusive).
    Partial(Range<u64>),
    /// 416 with `Content-Range: bytes */SIZE`.
    Unsatisfiable,
}

/// Resolves a `Range` header against a blob of `size` bytes. Other units and multiple
/// ranges are ignored (the whole blob is sent, as RFC 9110 permits); a single byte range
/// that is malformed, backwards or beyond the end is unsatisfiable.
pub fn resolve(header: Option<&str>, size: u64) -> RangeAnswer {
    let Some(spec) = header.and_then(|h| h.trim().strip_prefix("bytes=")) else {
        return RangeAnswer::Full;
    };
    if spec.contains(',') {
        return RangeAnswer::Full;
    }
    let Some((first, last)) = spec.trim().split_once('-') else {
        return RangeAnswer::Unsatisfiable;
    };
    // A position too long for u64 is past the end of any blob: it saturates, so that
    // `bytes=0-99999999999999999999` is the whole blob as RFC 9110 reads it.
    let number = |s: &str| -> Option<u64> {
        let s = s.trim();
        (!s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())).then(|| s.parse().unwrap_or(u64::MAX))
    };
    let range = match (first.trim().is_empty(), last.trim().is_empty()) {
        // bytes=-N: the last N bytes.
        (true, false) => number(last)
            .filter(|n| *n > 0 && size > 0)
            .map(|n| size.saturating_sub(n)..size),
        // bytes=A-: from A to the end.
        (false, true) => number(first).filter(|a| *a < size).map(|a| a..size),
        // bytes=A-B, B clamped to the end.
        (false, false) => match (number(first), number(last)) {
            (Some(a), Some(b)) if a <= b && a < size => Some(a..b.saturating_add(1).min(size)),
            _ => None,
        },
        (true, true) => None,
    };
    match range {
        Some(r) => RangeAnswer::Partial(r),
        None => RangeAnswer::Unsatisfiable,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolves_ranges() {
        assert_eq!(resolve(None, 10), RangeAnswer::Full);
        assert_eq!(resolve(Some("items=0-1"), 10), RangeAnswer::Full);
        assert_eq!(resolve(Some("bytes=0-1,3-4"), 10), RangeAnswer::Full);
        assert_eq!(resolve(Some("bytes=0-4"), 10), RangeAnswer::Partial(0..5));
        assert_eq!(resolve(Some("bytes=5-"), 10), RangeAnswer::Partial(5..10));
        assert_eq!(resolve(Some("bytes=-3"), 10), RangeAnswer::Partial(7..10));
        assert_eq!(resolve(Some("bytes=-30"), 10), RangeAnswer::Partial(0..10));
        assert_eq!(resolve(Some("bytes=8-100"), 10), RangeAnswer::Partial(8..10));
        // Found by fuzzing (issue 19): the end overflowed, and long numbers were a 416.
        assert_eq!(
            resolve(Some("bytes=1-18446744073709551615"), 10),
            RangeAnswer::Partial(1..10)
        );
        assert_eq!(
            resolve(Some("bytes=0-99999999999999999999"), 10),
            RangeAnswer::Partial(0..10)
        );
        assert_eq!(
            resolve(Some("bytes=-99999999999999999999"), 10),
            RangeAnswer::Partial(0..10)
        );
        assert_eq!(
            resolve(Some("bytes=99999999999999999999-"), 10),
            RangeAnswer::Unsatisfiable
        );
    }

    #[test]
    fn refuses_unsatisfiable_ranges() {
        for bad in [
            "bytes=500-0",
            "bytes=10-",
            "bytes=10-20",
            "bytes=-0",
            "bytes=a-b",
            "bytes=-",
            "bytes=5",
        ] {
            assert_eq!(resolve(Some(bad), 10), RangeAnswer::Unsatisfiable, "{bad}");
        }
        assert_eq!(resolve(Some("bytes=0-0"), 0), RangeAnswer::Unsatisfiable);
    }
}
