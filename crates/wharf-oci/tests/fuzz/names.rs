//! Repository names, tags, digests and references against the spec's grammar.

use crate::gen::*;
use proptest::prelude::*;
use wharf_oci::name::{MAX_NAME_LEN, MAX_TAG_LEN};
use wharf_oci::{Algorithm, Digest, DigestError, NameError, Reference, RepositoryName, Tag};

fn name_strings() -> impl Strategy<Value = String> {
    prop_oneof![valid_name(), long_name(), mutate(valid_name()), ".{0,30}"]
}

proptest! {
    /// A name is accepted exactly when the spec's expression matches it and it fits
    /// wharf's limit; an accepted name prints back as it was written.
    #[test]
    fn names_agree_with_the_spec(s in name_strings()) {
        let expected = matches(SPEC_NAME, &s) && s.len() <= MAX_NAME_LEN;
        match s.parse::<RepositoryName>() {
            Ok(name) => {
                prop_assert!(expected, "{s:?} accepted against the spec");
                prop_assert_eq!(name.to_string(), s.clone());
                prop_assert_eq!(name.to_string().parse::<RepositoryName>().unwrap(), name.clone());
                // What the type promises the storage layers: safe as a path.
                for segment in name.as_str().split('/') {
                    prop_assert!(!segment.is_empty() && segment != "." && segment != "..");
                    prop_assert!(!segment.contains(['%', '\\', '\0']));
                }
            }
            Err(e) => {
                prop_assert!(!expected, "{s:?} refused: {e}");
                let too_long = s.len() > MAX_NAME_LEN;
                prop_assert_eq!(matches!(e, NameError::NameTooLong), too_long);
            }
        }
    }

    /// A tag is accepted exactly when the spec's expression matches it.
    #[test]
    fn tags_agree_with_the_spec(s in prop_oneof![valid_tag(), mutate(valid_tag()), ".{0,20}"]) {
        let expected = matches(SPEC_TAG, &s);
        match s.parse::<Tag>() {
            Ok(tag) => {
                prop_assert!(expected, "{s:?} accepted against the spec");
                prop_assert!(tag.as_str().len() <= MAX_TAG_LEN);
                prop_assert_eq!(tag.to_string(), s);
            }
            Err(e) => prop_assert!(!expected, "{s:?} refused: {e}"),
        }
    }

    /// A digest is accepted exactly when it is of the spec's grammar and of a registered
    /// algorithm with its encoding (sha256, sha512); a digest of the grammar with another
    /// algorithm is refused as unsupported, not as malformed.
    #[test]
    fn digests_agree_with_the_spec(s in prop_oneof![digest_like(), mutate(digest_like()), ".{0,20}"]) {
        let expected = matches(SPEC_DIGEST, &s) && (matches(SPEC_SHA256, &s) || matches(SPEC_SHA512, &s));
        match s.parse::<Digest>() {
            Ok(d) => {
                prop_assert!(expected, "{s:?} accepted against the spec");
                prop_assert_eq!(d.to_string(), s.clone());
                prop_assert_eq!(d.hex().len(), d.algorithm().hex_len());
                prop_assert!(d.hex().bytes().all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()));
            }
            Err(e) => {
                prop_assert!(!expected, "{s:?} refused: {e}");
                let algorithm = s.split_once(':').map(|(a, _)| a).unwrap_or("");
                if matches(SPEC_DIGEST, &s) && algorithm.parse::<Algorithm>().is_err() {
                    prop_assert!(matches!(e, DigestError::UnsupportedAlgorithm(_)), "{s:?}: {e:?}");
                }
            }
        }
    }

    /// A reference is a digest when it holds a `:` and a tag otherwise; it prints back
    /// as written.
    #[test]
    fn references_are_tags_or_digests(s in any_reference()) {
        let parsed = s.parse::<Reference>();
        if s.contains(':') {
            prop_assert_eq!(parsed.is_ok(), s.parse::<Digest>().is_ok());
            if let Ok(r) = &parsed {
                prop_assert!(matches!(r, Reference::Digest(_)));
            }
        } else {
            prop_assert_eq!(parsed.is_ok(), matches(SPEC_TAG, &s));
        }
        if let Ok(r) = parsed {
            prop_assert_eq!(r.to_string(), s.clone());
            prop_assert_eq!(r.to_string().parse::<Reference>().unwrap(), r);
        }
    }

    /// The digest of any bytes prints as a digest that parses back to itself, and a
    /// hasher saved and restored at any split point gives the same digest.
    #[test]
    fn computed_digests_round_trip(bytes in prop::collection::vec(any::<u8>(), 0..300), split in any::<prop::sample::Index>(), sha512 in any::<bool>()) {
        let algorithm = if sha512 { Algorithm::Sha512 } else { Algorithm::Sha256 };
        let d = Digest::of(algorithm, &bytes);
        prop_assert_eq!(d.to_string().parse::<Digest>().unwrap(), d.clone());
        let at = split.index(bytes.len() + 1);
        let mut first = algorithm.hasher();
        first.update(&bytes[..at]);
        let mut resumed = wharf_oci::DigestHasher::restore_state(algorithm, &first.save_state()).unwrap();
        resumed.update(&bytes[at..]);
        prop_assert_eq!(resumed.finish(), d);
    }

    /// Damaged hasher states are refused, never a panic.
    #[test]
    fn damaged_hasher_states_are_refused_or_resumed(state in prop::collection::vec(any::<u8>(), 0..300)) {
        for algorithm in [Algorithm::Sha256, Algorithm::Sha512] {
            let _ = wharf_oci::DigestHasher::restore_state(algorithm, &state).map(|h| h.finish());
        }
    }
}
