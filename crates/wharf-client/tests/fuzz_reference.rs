//! Property-based fuzzing of image references (`HOST[:PORT]/REPO[:TAG|@DIGEST]`, issue
//! 19): what parses prints back to a string that parses to the same reference, and the
//! parts agree with the grammar of docker's reference strings.

use proptest::prelude::*;
use wharf_client::ImageReference;

const DOMAIN: &str = r"^(([a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])(\.([a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9]))*|\[[0-9a-fA-F:.]+\])(:[0-9]+)?$";
const NAME: &str = r"^[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*(/[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*)*$";
const TAG: &str = r"^[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}$";

fn matches(re: &str, s: &str) -> bool {
    regex::Regex::new(re).unwrap().is_match(s)
}

fn host() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-z0-9]{1,8}(\\.[a-z0-9]{1,5}){1,2}(:[0-9]{1,5})?",
        "localhost(:[0-9]{1,5})?",
        "\\[::1\\](:[0-9]{1,5})?",
        "[a-z0-9]{1,5}:[0-9]{1,5}",
        // Near misses: what a host may not hold.
        "[a-z]{1,4}[ #?%@\\\\!,;=]{1,2}[a-z]{0,3}\\.[a-z]{1,3}",
        "[a-z]{1,4}:[a-z]{1,4}",
        "\\.[a-z]{1,4}|[a-z]{1,4}\\.\\.[a-z]{1,4}|-[a-z]{1,3}\\.[a-z]{1,3}",
    ]
}

fn reference() -> impl Strategy<Value = String> {
    let name = "[a-z0-9]{1,6}([._-][a-z0-9]{1,4}){0,2}(/[a-z0-9]{1,6}){0,2}";
    let tag = prop::option::of("[a-zA-Z0-9_][a-zA-Z0-9._-]{0,10}");
    let digest = prop::option::of("[a-f0-9]{64}");
    let plain = (prop::option::of(host()), name, tag, digest).prop_map(|(h, n, t, d)| {
        let mut s = h.map(|h| format!("{h}/")).unwrap_or_default();
        s.push_str(&n);
        if let Some(t) = t {
            s.push(':');
            s.push_str(&t);
        }
        if let Some(d) = d {
            s.push_str("@sha256:");
            s.push_str(&d);
        }
        s
    });
    prop_oneof![4 => plain, 1 => ".{0,30}", 1 => "[a-z:/@.]{0,20}"]
}

proptest! {
    #[test]
    fn references_round_trip_and_agree_with_the_grammar(s in reference()) {
        if let Ok(r) = s.parse::<ImageReference>() {
            prop_assert!(matches(DOMAIN, r.registry()), "{s:?} gave the registry {:?}", r.registry());
            prop_assert!(matches(NAME, r.repository.name.as_str()));
            if let Some(t) = &r.tag {
                prop_assert!(matches(TAG, t.as_str()));
            }
            let printed = r.to_string();
            prop_assert_eq!(printed.parse::<ImageReference>().ok(), Some(r), "{} printed as {}", s, printed);
        }
    }
}
