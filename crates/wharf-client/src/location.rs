//! Where an image is: in a registry (`HOST/REPO[:TAG|@DIGEST]`) or in an OCI image
//! layout directory (`oci:PATH[:TAG]`, as skopeo names them).

use crate::error::{Error, Result};
use crate::reference::ImageReference;
use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImageLocation {
    Registry(ImageReference),
    Layout { path: PathBuf, tag: Option<String> },
}

impl FromStr for ImageLocation {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        let Some(rest) = s.strip_prefix("oci:") else {
            return s.parse().map(ImageLocation::Registry);
        };
        // The tag follows the last ':' unless that ':' is part of a path segment.
        let (path, tag) = match rest.rsplit_once(':') {
            Some((path, tag)) if !tag.contains('/') && !path.is_empty() => (path, Some(tag)),
            _ => (rest, None),
        };
        if path.is_empty() {
            return Err(Error::InvalidReference {
                input: s.to_string(),
                reason: "an OCI layout needs a directory: oci:PATH[:TAG]".into(),
            });
        }
        Ok(ImageLocation::Layout {
            path: PathBuf::from(path),
            tag: tag.filter(|t| !t.is_empty()).map(str::to_string),
        })
    }
}

impl fmt::Display for ImageLocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ImageLocation::Registry(r) => r.fmt(f),
            ImageLocation::Layout { path, tag } => {
                write!(f, "oci:{}", path.display())?;
                if let Some(t) = tag {
                    write!(f, ":{t}")?;
                }
                Ok(())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layouts_and_registries() {
        assert_eq!(
            "oci:/tmp/img:v1".parse::<ImageLocation>().unwrap(),
            ImageLocation::Layout {
                path: "/tmp/img".into(),
                tag: Some("v1".into())
            }
        );
        assert_eq!(
            "oci:dir".parse::<ImageLocation>().unwrap(),
            ImageLocation::Layout {
                path: "dir".into(),
                tag: None
            }
        );
        assert!(matches!(
            "127.0.0.1:5000/a:b".parse::<ImageLocation>().unwrap(),
            ImageLocation::Registry(_)
        ));
        assert!("oci:".parse::<ImageLocation>().is_err());
    }
}
