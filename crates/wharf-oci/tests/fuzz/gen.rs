//! Generators of strings from the spec's grammars, and of their near misses.

use proptest::prelude::*;

/// The spec's (opencontainers/distribution-spec, spec.md) regular expressions, written
/// out here rather than taken from wharf, so that the parsers are checked against the
/// spec and not against themselves.
pub const SPEC_NAME: &str = r"^[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*(\/[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*)*$";
pub const SPEC_TAG: &str = r"^[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}$";
/// The digest grammar of the image spec (descriptor.md): `algorithm ":" encoded`.
pub const SPEC_DIGEST: &str = r"^[a-z0-9]+([+._-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$";
pub const SPEC_SHA256: &str = r"^sha256:[a-f0-9]{64}$";
pub const SPEC_SHA512: &str = r"^sha512:[a-f0-9]{128}$";

pub fn matches(re: &str, s: &str) -> bool {
    regex::Regex::new(re).unwrap().is_match(s)
}

/// One path component of a repository name, by the grammar.
pub fn name_component() -> impl Strategy<Value = String> {
    let alnum = "[a-z0-9]{1,6}";
    let sep = prop_oneof![
        Just(".".to_string()),
        Just("_".to_string()),
        Just("__".to_string()),
        "-{1,3}"
    ];
    (alnum, prop::collection::vec((sep, alnum), 0..3)).prop_map(|(first, rest)| {
        let mut s = first;
        for (sep, part) in rest {
            s.push_str(&sep);
            s.push_str(&part);
        }
        s
    })
}

/// A repository name by the grammar (length not bounded: the 255 limit is a property).
pub fn valid_name() -> impl Strategy<Value = String> {
    prop::collection::vec(name_component(), 1..5).prop_map(|parts| parts.join("/"))
}

/// A very long name of the grammar, around wharf's 255-character limit.
pub fn long_name() -> impl Strategy<Value = String> {
    (250usize..260).prop_map(|n| {
        let mut s = "a/".repeat(n / 2);
        s.truncate(n);
        if s.ends_with('/') {
            s.pop();
            s.push_str("bb");
        }
        s
    })
}

/// Characters that are special somewhere: separators, traversal, encodings, control
/// and non-ASCII characters.
pub fn nasty_char() -> impl Strategy<Value = char> {
    prop_oneof![
        prop::sample::select(vec![
            '/', '.', '_', '-', ':', '@', '%', '\\', '\0', ' ', '\n', '+', '=', 'A', 'Z', 'é', '~', '?', '#', '*'
        ]),
        any::<char>(),
        "[a-z0-9]".prop_map(|s| s.chars().next().unwrap()),
    ]
}

/// `s` with a few characters inserted, replaced or removed.
pub fn mutate(s: impl Strategy<Value = String>) -> impl Strategy<Value = String> {
    (
        s,
        prop::collection::vec((0usize..3, any::<prop::sample::Index>(), nasty_char()), 1..4),
    )
        .prop_map(|(s, edits)| {
            let mut chars: Vec<char> = s.chars().collect();
            for (kind, at, c) in edits {
                let i = if chars.is_empty() { 0 } else { at.index(chars.len() + 1) };
                match kind {
                    0 => chars.insert(i, c),
                    1 if i < chars.len() => chars[i] = c,
                    _ if i < chars.len() => {
                        chars.remove(i);
                    }
                    _ => chars.push(c),
                }
            }
            chars.into_iter().collect()
        })
}

/// A tag by the grammar, up to a little over the length limit.
pub fn valid_tag() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-zA-Z0-9_][a-zA-Z0-9._-]{0,20}",
        "[a-zA-Z0-9_][a-zA-Z0-9._-]{120,130}",
    ]
}

/// Digests of the registered algorithms, and strings of the general digest grammar.
pub fn digest_like() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-f0-9]{64}".prop_map(|h| format!("sha256:{h}")),
        "[a-f0-9]{128}".prop_map(|h| format!("sha512:{h}")),
        "[a-fA-F0-9]{63,65}".prop_map(|h| format!("sha256:{h}")),
        "[a-f0-9]{64}".prop_map(|h| format!("sha512:{h}")),
        "[a-z0-9]{1,8}([+._-][a-z0-9]{1,4}){0,2}:[a-zA-Z0-9=_-]{1,70}",
    ]
}

/// Any of the above, or garbage.
pub fn any_reference() -> impl Strategy<Value = String> {
    prop_oneof![
        valid_tag(),
        mutate(valid_tag()),
        digest_like(),
        mutate(digest_like()),
        ".{0,40}",
    ]
}
