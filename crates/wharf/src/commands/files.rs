//! Arguments that several commands share: references, `FILE[:MEDIATYPE]` layers and
//! `KEY=VALUE` annotations.

use super::exit::{Failure, Outcome};
use futures::{StreamExt, TryStreamExt};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use wharf_client::image::TITLE_ANNOTATION;
use wharf_client::{BlobSource, Descriptor, FileSource, ImageReference, Platform};

/// The media type of a file layer when none is given, as oras uses.
pub const DEFAULT_LAYER_TYPE: &str = "application/vnd.oci.image.layer.v1.tar";

/// `HOST[:PORT]/REPO[:TAG|@DIGEST]`, or a usage error.
pub fn reference(input: &str) -> Outcome<ImageReference> {
    input.parse().map_err(Failure::bad_argument)
}

/// `os/arch[/variant]`, or a usage error.
pub fn platform(input: &str) -> Outcome<Platform> {
    Platform::parse(input).ok_or_else(|| {
        Failure::usage(format!(
            "invalid platform {input:?}: write it as os/arch[/variant], e.g. linux/arm64"
        ))
    })
}

/// `KEY=VALUE` pairs; a repeated key is an error rather than silently one of them.
pub fn annotations(pairs: &[String]) -> Outcome<BTreeMap<String, String>> {
    let mut map = BTreeMap::new();
    for pair in pairs {
        let (key, value) = pair
            .split_once('=')
            .filter(|(k, _)| !k.trim().is_empty())
            .ok_or_else(|| Failure::usage(format!("invalid annotation {pair:?}: write it as KEY=VALUE")))?;
        if map.insert(key.to_string(), value.to_string()).is_some() {
            return Err(Failure::usage(format!("annotation {key:?} is given twice")));
        }
    }
    Ok(map)
}

/// A file to be pushed as a layer.
pub struct FileLayer {
    pub path: PathBuf,
    pub source: FileSource,
    pub descriptor: Descriptor,
}

impl FileLayer {
    pub fn title(&self) -> &str {
        self.descriptor
            .annotations
            .get(TITLE_ANNOTATION)
            .map(String::as_str)
            .unwrap_or("")
    }

    pub fn to_json(&self) -> Value {
        json!({
            "file": self.path.display().to_string(),
            "title": self.title(),
            "mediaType": self.descriptor.media_type,
            "digest": self.descriptor.digest.to_string(),
            "size": self.descriptor.size,
        })
    }
}

/// Splits `FILE[:MEDIATYPE]`. A path that exists is a path whatever it contains; else
/// what follows the last `:` is a media type when it looks like one (`type/subtype`).
pub fn split_file_spec(spec: &str) -> (PathBuf, Option<String>) {
    if Path::new(spec).exists() {
        return (PathBuf::from(spec), None);
    }
    match spec.rsplit_once(':') {
        Some((path, media_type)) if !path.is_empty() && is_media_type(media_type) => {
            (PathBuf::from(path), Some(media_type.to_string()))
        }
        _ => (PathBuf::from(spec), None),
    }
}

/// `type/subtype[+suffix][;params]` without spaces: what a descriptor's mediaType holds.
fn is_media_type(s: &str) -> bool {
    let essence = s.split(';').next().unwrap_or("");
    let mut parts = essence.split('/');
    let ok = |p: Option<&str>| p.is_some_and(|p| !p.is_empty());
    ok(parts.next()) && ok(parts.next()) && parts.next().is_none() && !s.contains(char::is_whitespace)
}

/// Reads and hashes each file, at most `concurrency` at once, into a layer titled with
/// its file name. Directories, missing files and two files of one name are refused.
pub async fn file_layers(specs: &[String], concurrency: usize) -> Outcome<Vec<FileLayer>> {
    let mut planned = Vec::new();
    let mut titles = BTreeMap::new();
    for spec in specs {
        let (path, media_type) = split_file_spec(spec);
        let title = path
            .file_name()
            .and_then(|n| n.to_str())
            .map(str::to_string)
            .ok_or_else(|| Failure::usage(format!("{spec:?} does not name a file")))?;
        if let Some(first) = titles.insert(title.clone(), path.clone()) {
            return Err(Failure::usage(format!(
                "{} and {} have the same file name {title:?}; a pull could only write one",
                first.display(),
                path.display()
            )));
        }
        match std::fs::metadata(&path) {
            Ok(m) if m.is_dir() => {
                return Err(Failure::usage(format!(
                    "{} is a directory: push files (pack a directory with tar first)",
                    path.display()
                )))
            }
            Ok(_) => {}
            Err(e) => return Err(Failure::other(format!("cannot read {}: {e}", path.display()))),
        }
        planned.push((
            path,
            title,
            media_type.unwrap_or_else(|| DEFAULT_LAYER_TYPE.to_string()),
        ));
    }
    futures::stream::iter(planned)
        .map(|(path, title, media_type)| async move {
            let source = FileSource::hash(&path).await?;
            let mut descriptor = Descriptor::new(media_type, source.digest().clone(), source.size());
            descriptor.annotations.insert(TITLE_ANNOTATION.to_string(), title);
            Ok::<_, Failure>(FileLayer {
                path,
                source,
                descriptor,
            })
        })
        .buffered(concurrency.max(1))
        .try_collect()
        .await
}

/// A layer's title that is safe to write under a directory: one plain file name, not
/// a path, not `.` or `..`.
pub fn safe_title(title: &str) -> Result<&str, String> {
    let bad = |why: &str| Err(format!("refusing the layer title {title:?}: {why}"));
    if title.is_empty() {
        return bad("it is empty");
    }
    if title.starts_with('/') || title.starts_with('\\') {
        return bad("it is an absolute path");
    }
    if title.contains('/') || title.contains('\\') {
        return bad("it is a path, not a file name");
    }
    if title == "." || title == ".." {
        return bad("it names a directory");
    }
    if title.contains('\0') {
        return bad("it holds a NUL byte");
    }
    Ok(title)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_specs_split_at_a_media_type() {
        assert_eq!(
            split_file_spec("notes.txt:text/plain"),
            ("notes.txt".into(), Some("text/plain".into()))
        );
        assert_eq!(
            split_file_spec("a:b/c.json:application/vnd.x+json"),
            ("a:b/c.json".into(), Some("application/vnd.x+json".into()))
        );
        assert_eq!(split_file_spec("file:name"), ("file:name".into(), None));
        assert_eq!(split_file_spec("plain"), ("plain".into(), None));
        assert_eq!(split_file_spec(":text/plain"), (":text/plain".into(), None));
    }

    #[test]
    fn annotations_are_key_value_pairs() {
        let a = annotations(&["k=v".into(), "x=a=b".into(), "e=".into()]).unwrap();
        assert_eq!(a["k"], "v");
        assert_eq!(a["x"], "a=b");
        assert_eq!(a["e"], "");
        assert!(annotations(&["novalue".into()]).is_err());
        assert!(annotations(&["=v".into()]).is_err());
        assert!(annotations(&["k=1".into(), "k=2".into()]).is_err());
    }

    #[test]
    fn titles_must_be_plain_file_names() {
        assert!(safe_title("report.pdf").is_ok());
        assert!(safe_title("a..b").is_ok());
        for bad in ["", "/etc/passwd", "../x", "a/b", "..", ".", "a\\b", "x\0"] {
            assert!(safe_title(bad).is_err(), "{bad:?}");
        }
    }
}
