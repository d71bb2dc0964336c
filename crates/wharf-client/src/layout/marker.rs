//! The `oci-layout` file: what tells a layout from any other directory, and which
//! version of the layout spec it follows.

use std::path::Path;

use super::error::LayoutError;

pub(crate) const FILE_NAME: &str = "oci-layout";

/// The version this module writes: the only one the image spec has defined so far.
pub(crate) const CONTENTS: &[u8] = br#"{"imageLayoutVersion":"1.0.0"}"#;

/// Checks the contents of an `oci-layout` file read from `path`. Any 1.x is accepted: the
/// version follows the image spec's, whose minor releases only add to the layout.
pub(crate) fn check(bytes: &[u8], path: &Path) -> Result<(), LayoutError> {
    let bad = |reason: String| LayoutError::BadLayoutFile {
        path: path.to_path_buf(),
        reason,
    };
    let value: serde_json::Value = serde_json::from_slice(bytes).map_err(|e| bad(e.to_string()))?;
    let object = value.as_object().ok_or_else(|| bad("not a JSON object".into()))?;
    let version = match object.get("imageLayoutVersion") {
        Some(serde_json::Value::String(v)) => v,
        Some(other) => return Err(bad(format!("imageLayoutVersion is {other}, not a string"))),
        None => return Err(bad("imageLayoutVersion is missing".into())),
    };
    if version.split('.').next() != Some("1") {
        return Err(LayoutError::UnsupportedVersion {
            path: path.to_path_buf(),
            version: version.clone(),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_1_x_only() {
        let p = Path::new("/l/oci-layout");
        check(CONTENTS, p).unwrap();
        check(br#"{"imageLayoutVersion":"1.1.0","extra":true}"#, p).unwrap();
        assert!(matches!(
            check(br#"{"imageLayoutVersion":"2.0.0"}"#, p),
            Err(LayoutError::UnsupportedVersion { .. })
        ));
        assert!(matches!(
            check(br#"{"imageLayoutVersion":"10.0.0"}"#, p),
            Err(LayoutError::UnsupportedVersion { .. })
        ));
        for bad in [&b"{}"[..], b"[]", b"{", br#"{"imageLayoutVersion":1}"#] {
            assert!(
                matches!(check(bad, p), Err(LayoutError::BadLayoutFile { .. })),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
    }
}
