//! `Range` of a blob GET and `Content-Range` of an upload PATCH, against a reference
//! model written here with exact arithmetic (numbers of any length).

use crate::harness::*;
use http::{Method, StatusCode};
use proptest::prelude::*;

/// A decimal number of any length, compared exactly against `size`: `None` if it is
/// not all digits.
fn number(s: &str) -> Option<u128> {
    let s = s.trim();
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    // Longer than u128 holds: larger than any size, so saturate.
    Some(s.parse::<u128>().unwrap_or(u128::MAX))
}

#[derive(Debug, PartialEq, Eq)]
enum Expect {
    Full,
    Partial(u64, u64),
    Unsatisfiable,
}

/// wharf's documented contract for `Range` (RFC 9110, section 14): other units and
/// multiple ranges send everything; one byte range is resolved against the size, the
/// last position clamped to the end; a malformed, backwards or out-of-range one is 416.
fn model(header: Option<&str>, size: u64) -> Expect {
    let Some(spec) = header.and_then(|h| h.trim().strip_prefix("bytes=")) else {
        return Expect::Full;
    };
    if spec.contains(',') {
        return Expect::Full;
    }
    let Some((first, last)) = spec.trim().split_once('-') else {
        return Expect::Unsatisfiable;
    };
    let size128 = size as u128;
    let range = match (first.trim().is_empty(), last.trim().is_empty()) {
        (true, false) => number(last)
            .filter(|n| *n > 0 && size > 0)
            .map(|n| (size128 - n.min(size128), size128)),
        (false, true) => number(first).filter(|a| *a < size128).map(|a| (a, size128)),
        (false, false) => match (number(first), number(last)) {
            (Some(a), Some(b)) if a <= b && a < size128 => Some((a, (b.saturating_add(1)).min(size128))),
            _ => None,
        },
        (true, true) => None,
    };
    match range {
        Some((a, b)) => Expect::Partial(a as u64, b as u64),
        None => Expect::Unsatisfiable,
    }
}

fn position() -> impl Strategy<Value = String> {
    prop_oneof![
        (0u64..40).prop_map(|n| n.to_string()),
        Just(u64::MAX.to_string()),
        Just((u64::MAX - 1).to_string()),
        Just("18446744073709551616".to_string()),
        "[0-9]{19,30}",
        Just("0000000000000000000000000000000001".to_string()),
        Just(String::new()),
        "[ a-z+-]{0,2}",
    ]
}

fn range_header() -> impl Strategy<Value = String> {
    prop_oneof![
        8 => (position(), position(), "[ ]{0,1}").prop_map(|(a, b, sp)| format!("bytes={sp}{a}-{b}")),
        1 => (position(), position(), position(), position()).prop_map(|(a, b, c, d)| format!("bytes={a}-{b},{c}-{d}")),
        1 => (position(), position()).prop_map(|(a, b)| format!("items={a}-{b}")),
        1 => "[ -~]{0,20}",
    ]
}

proptest! {
    /// A ranged GET of a blob answers as the model says, with the bytes, `Content-Range`
    /// and `Content-Length` that go with it.
    #[test]
    fn blob_ranges_agree_with_the_model(size in 0usize..40, header in prop::option::of(range_header())) {
        let content: Vec<u8> = (0..size).map(|i| (i * 7 % 251) as u8).collect();
        let (expected, answer) = block_on(async {
            let app = registry();
            let digest = push_blob(&app, "r", &content).await;
            let headers: Vec<(&str, &[u8])> = header.iter().map(|h| ("range", h.as_bytes())).collect();
            let answer = send(&app, Method::GET, &format!("/v2/r/blobs/{digest}"), &headers, Vec::new()).await;
            (model(header.as_deref(), size as u64), answer)
        });
        match expected {
            Expect::Full => {
                prop_assert_eq!(answer.status, StatusCode::OK, "{:?}", header);
                prop_assert_eq!(&answer.body[..], &content[..]);
            }
            Expect::Partial(a, b) => {
                prop_assert_eq!(answer.status, StatusCode::PARTIAL_CONTENT, "{:?}", header);
                prop_assert_eq!(&answer.body[..], &content[a as usize..b as usize]);
                let content_range = format!("bytes {}-{}/{}", a, b - 1, size);
                prop_assert_eq!(answer.header("content-range"), Some(content_range.as_str()));
            }
            Expect::Unsatisfiable => {
                prop_assert_eq!(answer.status, StatusCode::RANGE_NOT_SATISFIABLE, "{:?}", header);
                let content_range = format!("bytes */{size}");
                prop_assert_eq!(answer.header("content-range"), Some(content_range.as_str()));
            }
        }
        if answer.status.is_success() {
            let len = answer.body.len().to_string();
            prop_assert_eq!(answer.header("content-length"), Some(len.as_str()));
        }
    }
}

/// What a PATCH with this `Content-Range` and a body of `body_len` bytes must get, on a
/// fresh session (offset 0): `Ok(n)` accepted with n bytes held, `Err((status, code))`.
fn patch_model(header: &str, body_len: usize) -> Result<u64, (u16, &'static str)> {
    let invalid = Err((416, "BLOB_UPLOAD_INVALID"));
    let text = header.trim();
    let text = text.strip_prefix("bytes").map(str::trim_start).unwrap_or(text);
    let text = text.split('/').next().unwrap_or("").trim();
    let Some((first, last)) = text.split_once('-') else {
        return invalid;
    };
    let strict = |s: &str| {
        (!s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())).then(|| s.parse::<u128>().unwrap_or(u128::MAX))
    };
    let (Some(first), Some(last)) = (strict(first), strict(last)) else {
        return invalid;
    };
    if first > u64::MAX as u128 || last > u64::MAX as u128 {
        return invalid;
    }
    if first != 0 || last < first {
        return invalid;
    }
    let len = last - first + 1;
    if len != body_len as u128 {
        return Err((400, "SIZE_INVALID"));
    }
    Ok(len as u64)
}

fn content_range() -> impl Strategy<Value = String> {
    prop_oneof![
        8 => (position(), position(), prop::option::of("/[0-9*]{1,3}"), prop::option::of(Just("bytes "))).prop_map(|(a, b, total, unit)| {
            format!("{}{a}-{b}{}", unit.unwrap_or(""), total.unwrap_or_default())
        }),
        1 => "[ -~]{0,20}",
    ]
}

proptest! {
    /// A chunk's `Content-Range` is accepted or refused as the model says; a refusal is
    /// the spec's 416 BLOB_UPLOAD_INVALID (or 400 SIZE_INVALID for a length that
    /// disagrees with the body), never a 500 or a panic.
    #[test]
    fn upload_content_ranges_agree_with_the_model(header in content_range(), body_len in 0usize..8) {
        let answer = block_on(async {
            let app = registry();
            let started = send(&app, Method::POST, "/v2/r/blobs/uploads/", &[], Vec::new()).await;
            assert_eq!(started.status, StatusCode::ACCEPTED);
            let location = started.header("location").unwrap().to_string();
            let len = body_len.to_string();
            send(
                &app,
                Method::PATCH,
                &location,
                &[("content-range", header.as_bytes()), ("content-length", len.as_bytes()), ("content-type", b"application/octet-stream")],
                vec![b'x'; body_len],
            )
            .await
        });
        match patch_model(&header, body_len) {
            Ok(n) => {
                prop_assert_eq!(answer.status, StatusCode::ACCEPTED, "{:?}: {:?}", header, answer.body);
                let range = format!("0-{}", n.saturating_sub(1));
                prop_assert_eq!(answer.header("range"), Some(range.as_str()));
            }
            Err((status, code)) => {
                prop_assert_eq!(answer.status.as_u16(), status, "{:?}: {:?}", header, answer.body);
                prop_assert_eq!(answer.code(), code);
            }
        }
    }
}

/// Found by fuzzing (issue 19): a last position of u64::MAX overflowed when the range's
/// end was computed (a panic in a debug build; in a release build an empty 206), and a
/// position too long for u64 made a satisfiable range a 416.
#[test]
fn huge_last_positions_are_clamped_to_the_end() {
    let content = b"0123456789".to_vec();
    for (header, expected) in [
        ("bytes=1-18446744073709551615", &content[1..]),
        ("bytes=0-18446744073709551616", &content[..]),
        ("bytes=4-99999999999999999999999999999", &content[4..]),
        ("bytes=-99999999999999999999999999999", &content[..]),
    ] {
        let answer = block_on(async {
            let app = registry();
            let digest = push_blob(&app, "r", &content).await;
            send(
                &app,
                Method::GET,
                &format!("/v2/r/blobs/{digest}"),
                &[("range", header.as_bytes())],
                Vec::new(),
            )
            .await
        });
        assert_eq!(answer.status, StatusCode::PARTIAL_CONTENT, "{header}");
        assert_eq!(&answer.body[..], expected, "{header}");
    }
}

/// Found by fuzzing (issue 19): `Content-Range: 0-18446744073709551615` overflowed when
/// the chunk's length was computed (a panic in a debug build; in a release build a
/// length of 0, so an empty chunk was accepted as if it were 2^64 bytes).
#[test]
fn a_chunk_range_longer_than_u64_is_refused() {
    for len in [0usize, 1] {
        let answer = block_on(async {
            let app = registry();
            let started = send(&app, Method::POST, "/v2/r/blobs/uploads/", &[], Vec::new()).await;
            let location = started.header("location").unwrap().to_string();
            let cl = len.to_string();
            send(
                &app,
                Method::PATCH,
                &location,
                &[
                    ("content-range", b"0-18446744073709551615"),
                    ("content-length", cl.as_bytes()),
                ],
                vec![b'x'; len],
            )
            .await
        });
        assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{:?}", answer.body);
        assert_eq!(answer.code(), "SIZE_INVALID");
    }
}
