//! `WWW-Authenticate` challenges (RFC 9110 §11.6.1), as registries send them:
//! `Basic realm="…"` or `Bearer realm="…",service="…",scope="…"`.

use std::collections::HashMap;

/// One challenge: its scheme (lowercased) and its parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Challenge {
    pub scheme: String,
    pub params: HashMap<String, String>,
}

impl Challenge {
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params.get(name).map(String::as_str)
    }
}

/// Every challenge in a header value (a server may offer several schemes).
pub fn parse_challenges(header: &str) -> Vec<Challenge> {
    let mut challenges = Vec::new();
    let mut rest = header.trim();
    while !rest.is_empty() {
        let scheme_end = rest.find(|c: char| c.is_whitespace() || c == ',').unwrap_or(rest.len());
        let scheme = rest[..scheme_end].to_ascii_lowercase();
        rest = rest[scheme_end..].trim_start();
        let mut params = HashMap::new();
        // Parameters are `name=value` or `name="quoted"`, separated by commas; a token
        // without `=` starts the next challenge.
        loop {
            rest = rest.trim_start_matches([',', ' ', '\t']);
            let Some(eq) = rest.find('=') else { break };
            let name = &rest[..eq];
            if name.is_empty() || name.contains(|c: char| c.is_whitespace() || c == ',') {
                break;
            }
            let after = &rest[eq + 1..];
            let (value, remainder) = if let Some(quoted) = after.strip_prefix('"') {
                read_quoted(quoted)
            } else {
                let end = after.find(',').unwrap_or(after.len());
                (after[..end].trim().to_string(), &after[end..])
            };
            params.insert(name.to_ascii_lowercase(), value);
            rest = remainder;
        }
        if !scheme.is_empty() {
            challenges.push(Challenge { scheme, params });
        }
        if rest.len() == header.len() {
            break;
        }
    }
    challenges
}

/// The value of a quoted string (backslash escapes undone) and what follows it.
fn read_quoted(s: &str) -> (String, &str) {
    let mut value = String::new();
    let mut chars = s.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '\\' => {
                if let Some((_, escaped)) = chars.next() {
                    value.push(escaped);
                }
            }
            '"' => return (value, &s[i + 1..]),
            other => value.push(other),
        }
    }
    (value, "")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_with_quoted_parameters() {
        let c = parse_challenges(
            r#"Bearer realm="https://auth.example.com/token",service="registry.example.com",scope="repository:a/b:pull,push""#,
        );
        assert_eq!(c.len(), 1);
        assert_eq!(c[0].scheme, "bearer");
        assert_eq!(c[0].param("realm"), Some("https://auth.example.com/token"));
        assert_eq!(c[0].param("service"), Some("registry.example.com"));
        assert_eq!(c[0].param("scope"), Some("repository:a/b:pull,push"));
    }

    #[test]
    fn basic_and_several_challenges() {
        let c = parse_challenges(r#"Basic realm="wharf", Bearer realm="http://x/token",error="insufficient_scope""#);
        assert_eq!(c.len(), 2);
        assert_eq!(c[0].scheme, "basic");
        assert_eq!(c[0].param("realm"), Some("wharf"));
        assert_eq!(c[1].param("error"), Some("insufficient_scope"));
    }

    #[test]
    fn unquoted_and_escaped_values() {
        let c = parse_challenges(r#"Bearer realm=http://h/t, service="a\"b""#);
        assert_eq!(c[0].param("realm"), Some("http://h/t"));
        assert_eq!(c[0].param("service"), Some("a\"b"));
        assert!(parse_challenges("").is_empty());
        assert_eq!(parse_challenges("Basic")[0].scheme, "basic");
    }
}
