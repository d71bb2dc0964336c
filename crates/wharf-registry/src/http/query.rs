//! The query string of a request, decoded once, with repeated keys kept (`?tag=a&tag=b`).

use crate::registry::{RegistryError, RegistryResult};
use wharf_oci::ErrorCode;

pub struct Query(Vec<(String, String)>);

impl Query {
    pub fn parse(raw: Option<&str>) -> Query {
        Query(
            form_urlencoded::parse(raw.unwrap_or("").as_bytes())
                .into_owned()
                .collect(),
        )
    }

    /// The first value of `key`.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }

    /// Every value of `key`, in order.
    pub fn all<'a>(&'a self, key: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.0.iter().filter(move |(k, _)| k == key).map(|(_, v)| v.as_str())
    }

    /// `key` parsed as `T`, or a 400 with `code` naming what was wrong.
    pub fn parsed<T: std::str::FromStr>(&self, key: &str, code: ErrorCode) -> RegistryResult<Option<T>>
    where
        T::Err: std::fmt::Display,
    {
        match self.get(key) {
            None => Ok(None),
            Some(v) => v.parse().map(Some).map_err(|e| {
                RegistryError::new(code, format!("query parameter {key}={v:?} is invalid: {e}")).with_status(400)
            }),
        }
    }
}
