//! The UI's session: a cookie that names the signed-in person (or nobody), with an
//! expiry and a random id, signed with HMAC-SHA-256 so it cannot be forged or altered;
//! and the form token (CSRF) derived from it, which a POST must echo.
//!
//! The cookie itself is not stored on the server, so any replica that has the same
//! [`SessionKey`] accepts it; signing out records the session's id in the metadata store
//! (see [`crate::meta::MetaStore::revoke_session`]), which every replica checks for a
//! signed-in session, so a copy of the cookie is refused from then on.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, KeyInit, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The cookie's name.
pub const COOKIE: &str = "wharf_ui";

/// The secret that signs sessions. `Debug` never prints it.
#[derive(Clone)]
pub struct SessionKey([u8; 32]);

impl SessionKey {
    pub fn new(bytes: [u8; 32]) -> SessionKey {
        SessionKey(bytes)
    }

    /// A key from the operating system's random source: sessions last as long as the
    /// process.
    pub fn random() -> SessionKey {
        SessionKey(random_bytes())
    }

    /// The key as 64 hex digits, to be kept in a file.
    pub fn to_hex(&self) -> String {
        self.0.iter().map(|b| format!("{b:02x}")).collect()
    }

    /// A key written by [`SessionKey::to_hex`] (surrounding whitespace ignored).
    pub fn from_hex(text: &str) -> Option<SessionKey> {
        let text = text.trim();
        if text.len() != 64 || !text.is_ascii() {
            return None;
        }
        let mut bytes = [0u8; 32];
        for (i, byte) in bytes.iter_mut().enumerate() {
            *byte = u8::from_str_radix(&text[2 * i..2 * i + 2], 16).ok()?;
        }
        Some(SessionKey(bytes))
    }

    fn mac(&self, purpose: &[u8], data: &[u8]) -> Hmac<Sha256> {
        let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(&self.0).expect("HMAC takes a key of any length");
        mac.update(purpose);
        mac.update(&[0]);
        mac.update(data);
        mac
    }
}

impl fmt::Debug for SessionKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SessionKey(<redacted>)")
    }
}

fn random_bytes() -> [u8; 32] {
    use rand_core::RngCore;
    let mut bytes = [0u8; 32];
    rand_core::OsRng.fill_bytes(&mut bytes);
    bytes
}

/// What the cookie says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Session {
    /// The signed-in user, `None` for an anonymous visitor.
    #[serde(rename = "u")]
    pub user: Option<String>,
    #[serde(rename = "g", default)]
    pub groups: Vec<String>,
    /// Seconds since the epoch after which the cookie is refused.
    #[serde(rename = "e")]
    pub expires: u64,
    /// Random, new at each sign-in and sign-out: what the form token is bound to.
    #[serde(rename = "n")]
    pub id: String,
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

impl Session {
    pub fn new(user: Option<String>, groups: Vec<String>, lifetime: Duration) -> Session {
        Session {
            user,
            groups,
            expires: now_secs() + lifetime.as_secs(),
            id: URL_SAFE_NO_PAD.encode(&random_bytes()[..18]),
        }
    }

    /// The cookie's value: the session as JSON, then its MAC, both in base64url.
    pub fn encode(&self, key: &SessionKey) -> String {
        let json = serde_json::to_vec(self).unwrap_or_default();
        let tag = key.mac(b"session", &json).finalize().into_bytes();
        format!("{}.{}", URL_SAFE_NO_PAD.encode(&json), URL_SAFE_NO_PAD.encode(tag))
    }

    /// The session a cookie value holds, if its MAC is right and it has not expired.
    pub fn decode(value: &str, key: &SessionKey) -> Option<Session> {
        let (payload, tag) = value.split_once('.')?;
        let json = URL_SAFE_NO_PAD.decode(payload).ok()?;
        let tag = URL_SAFE_NO_PAD.decode(tag).ok()?;
        key.mac(b"session", &json).verify_slice(&tag).ok()?;
        let session: Session = serde_json::from_slice(&json).ok()?;
        (session.expires > now_secs()).then_some(session)
    }

    /// The token every form of this session carries.
    pub fn form_token(&self, key: &SessionKey) -> String {
        URL_SAFE_NO_PAD.encode(key.mac(b"form", self.id.as_bytes()).finalize().into_bytes())
    }

    /// Whether `token` is this session's form token (compared in constant time).
    pub fn accepts_form_token(&self, token: &str, key: &SessionKey) -> bool {
        match URL_SAFE_NO_PAD.decode(token) {
            Ok(tag) => key.mac(b"form", self.id.as_bytes()).verify_slice(&tag).is_ok(),
            Err(_) => false,
        }
    }

    /// The `Set-Cookie` value: HttpOnly, SameSite=Strict, only under the UI's path,
    /// `Secure` when served over TLS.
    pub fn set_cookie(&self, key: &SessionKey, secure: bool) -> String {
        let max_age = self.expires.saturating_sub(now_secs());
        let secure = if secure { "; Secure" } else { "" };
        format!(
            "{COOKIE}={}; Path={}; Max-Age={max_age}; HttpOnly; SameSite=Strict{secure}",
            self.encode(key),
            super::PREFIX
        )
    }
}

/// The value of the session cookie in a `Cookie` header, if present.
pub fn cookie_value(headers: &http::HeaderMap) -> Option<&str> {
    headers
        .get_all(http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE)
        .map(|(_, value)| value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cookie_round_trips_and_an_altered_one_is_refused() {
        let key = SessionKey::random();
        let session = Session::new(Some("alice".into()), vec!["dev".into()], Duration::from_secs(60));
        let value = session.encode(&key);
        assert_eq!(Session::decode(&value, &key), Some(session.clone()));
        assert_eq!(Session::decode(&value, &SessionKey::random()), None, "another key");
        let (payload, tag) = value.split_once('.').unwrap();
        let forged = serde_json::to_vec(&Session {
            user: Some("admin".into()),
            ..session.clone()
        })
        .unwrap();
        let forged = format!("{}.{tag}", URL_SAFE_NO_PAD.encode(forged));
        assert_eq!(Session::decode(&forged, &key), None, "a changed user");
        assert_eq!(Session::decode(payload, &key), None, "no MAC");
    }

    #[test]
    fn a_key_survives_its_file_form() {
        let key = SessionKey::random();
        let again = SessionKey::from_hex(&format!("{}\n", key.to_hex())).unwrap();
        assert_eq!(again.0, key.0);
        assert!(SessionKey::from_hex("zz").is_none());
        assert!(SessionKey::from_hex(&"g".repeat(64)).is_none());
    }

    #[test]
    fn an_expired_cookie_is_refused() {
        let key = SessionKey::random();
        let mut session = Session::new(None, vec![], Duration::from_secs(60));
        session.expires = now_secs() - 1;
        assert_eq!(Session::decode(&session.encode(&key), &key), None);
    }

    #[test]
    fn the_form_token_is_bound_to_the_session() {
        let key = SessionKey::random();
        let one = Session::new(None, vec![], Duration::from_secs(60));
        let other = Session::new(None, vec![], Duration::from_secs(60));
        assert!(one.accepts_form_token(&one.form_token(&key), &key));
        assert!(!one.accepts_form_token(&other.form_token(&key), &key));
        assert!(!one.accepts_form_token("", &key));
        assert!(!one.accepts_form_token("not base64!", &key));
    }

    #[test]
    fn the_cookie_is_http_only_strict_and_scoped_to_the_ui() {
        let key = SessionKey::random();
        let session = Session::new(None, vec![], Duration::from_secs(60));
        let plain = session.set_cookie(&key, false);
        assert!(plain.starts_with("wharf_ui="), "{plain}");
        for attribute in ["; Path=/ui;", "; HttpOnly", "; SameSite=Strict", "; Max-Age="] {
            assert!(plain.contains(attribute), "{attribute} missing from {plain}");
        }
        assert!(!plain.contains("Secure"), "{plain}");
        assert!(session.set_cookie(&key, true).ends_with("; Secure"));
    }
}
