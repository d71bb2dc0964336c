//! How values are shown: sizes, times, short digests, and which annotation values may
//! become links.

use std::time::SystemTime;

/// `1.5 MiB`: bytes in binary units, one decimal above a KiB.
pub fn size(bytes: u64) -> String {
    const UNITS: [&str; 6] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

/// `2026-12-07 01:02 UTC`, or `—` when unknown.
pub fn time(at: Option<SystemTime>) -> String {
    match at {
        Some(at) => {
            let text = humantime::format_rfc3339_seconds(at).to_string();
            // 2026-12-07T01:02:03Z -> 2026-12-07 01:02 UTC
            format!("{} {} UTC", &text[..10], &text[11..16])
        }
        None => "—".to_string(),
    }
}

/// The first 12 hex digits of a digest, as people quote them.
pub fn short_digest(digest: &str) -> &str {
    match digest.split_once(':') {
        Some((_, hex)) if hex.len() > 12 => &hex[..12],
        Some((_, hex)) => hex,
        None => digest,
    }
}

/// `value` as a link target when it is an absolute `http:` or `https:` URL and nothing
/// else (no `javascript:`, `data:`, relative or scheme-relative URL, no whitespace or
/// control characters a browser would strip before reading the scheme).
pub fn safe_link(value: &str) -> Option<&str> {
    if value.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return None;
    }
    let lower = value.get(..8).unwrap_or(value).to_ascii_lowercase();
    let rest = if lower.starts_with("https://") {
        &value[8..]
    } else if lower.starts_with("http://") {
        &value[7..]
    } else {
        return None;
    };
    (!rest.is_empty() && !rest.starts_with('/')).then_some(value)
}

/// A query string value, percent-encoded.
pub fn q(value: &str) -> String {
    form_urlencoded::byte_serialize(value.as_bytes()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_http_and_https_urls_become_links() {
        assert_eq!(safe_link("https://example.com/src"), Some("https://example.com/src"));
        assert_eq!(safe_link("HTTP://example.com"), Some("HTTP://example.com"));
        for hostile in [
            "javascript:alert(1)",
            "JavaScript:alert(1)",
            " javascript:alert(1)",
            "java\tscript:alert(1)",
            "data:text/html,<script>alert(1)</script>",
            "//evil.example/x",
            "/relative",
            "https:///x",
            "https://",
            "vbscript:msgbox",
            "https://ok.example/\u{0}",
        ] {
            assert_eq!(safe_link(hostile), None, "{hostile:?}");
        }
    }

    #[test]
    fn sizes_and_times_read_well() {
        assert_eq!(size(512), "512 B");
        assert_eq!(size(1536), "1.5 KiB");
        assert_eq!(size(3 * 1024 * 1024 * 1024), "3.0 GiB");
        assert_eq!(time(None), "—");
        let at = std::time::UNIX_EPOCH + std::time::Duration::from_secs(86_400 + 3_723);
        assert_eq!(time(Some(at)), "1970-01-02 01:02 UTC");
        assert_eq!(short_digest("sha256:0123456789abcdef"), "0123456789ab");
    }
}
