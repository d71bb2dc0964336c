//! The layout as a whole, on real directories.

use std::path::{Path, PathBuf};

use serde_json::Value;
use tokio::io::AsyncWriteExt;
use wharf_oci::media_type::{OCI_INDEX, OCI_MANIFEST};
use wharf_oci::{Algorithm, Digest};

use super::*;

/// Every file below `dir`, temporary ones included.
fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let e = e.unwrap();
            if e.file_type().unwrap().is_dir() {
                todo.push(e.path());
            } else {
                out.push(e.path());
            }
        }
    }
    out.sort();
    out
}

/// Stores `content` as a manifest blob and returns its entry, tagged `tag`.
async fn manifest(layout: &OciLayout, content: &[u8], tag: Option<&str>) -> LayoutEntry {
    let digest = Digest::sha256_of(content);
    layout.write_blob(&digest, content).await.unwrap();
    let mut e = LayoutEntry::new(OCI_MANIFEST, digest, content.len() as u64);
    e.ref_name = tag.map(str::to_string);
    e
}

#[tokio::test]
async fn create_then_open() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("a/b");
    let layout = OciLayout::create(&root).await.unwrap();
    assert_eq!(layout.root(), root);
    assert!(root.join("blobs").is_dir());
    let marker: Value = serde_json::from_slice(&std::fs::read(root.join("oci-layout")).unwrap()).unwrap();
    assert_eq!(marker, serde_json::json!({"imageLayoutVersion": "1.0.0"}));
    assert!(layout.index().await.unwrap().is_empty());

    // Creating over an existing layout keeps what it holds.
    let e = manifest(&layout, b"{}", Some("v1")).await;
    layout.set_ref(e.clone()).await.unwrap();
    let again = OciLayout::create(&root).await.unwrap();
    assert_eq!(again.index().await.unwrap(), vec![e.clone()]);
    let opened = OciLayout::open(&root).await.unwrap();
    assert_eq!(opened.resolve(Some("v1")).await.unwrap(), e);
}

#[tokio::test]
async fn open_refuses_what_is_not_a_layout() {
    let dir = tempfile::tempdir().unwrap();
    let err = OciLayout::open(dir.path()).await.unwrap_err();
    assert!(matches!(err, LayoutError::NotALayout { .. }), "{err}");
    assert!(err.to_string().contains(&dir.path().display().to_string()), "{err}");
    let missing = OciLayout::open(dir.path().join("nope")).await.unwrap_err();
    assert!(matches!(missing, LayoutError::NotALayout { .. }), "{missing}");
    std::fs::write(dir.path().join("file"), b"x").unwrap();
    let file = OciLayout::open(dir.path().join("file")).await.unwrap_err();
    assert!(matches!(file, LayoutError::NotALayout { .. }), "{file}");

    std::fs::write(dir.path().join("oci-layout"), br#"{"imageLayoutVersion":"2.0.0"}"#).unwrap();
    let err = OciLayout::open(dir.path()).await.unwrap_err();
    assert!(matches!(err, LayoutError::UnsupportedVersion { .. }), "{err}");
    // create neither papers over a layout it cannot read nor writes into it.
    let err = OciLayout::create(dir.path()).await.unwrap_err();
    assert!(matches!(err, LayoutError::UnsupportedVersion { .. }), "{err}");
    assert!(!dir.path().join("index.json").exists());
    assert!(!dir.path().join("blobs").exists());

    std::fs::write(dir.path().join("oci-layout"), br#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
    let err = OciLayout::open(dir.path()).await.unwrap_err();
    assert!(matches!(err, LayoutError::BadIndex { .. }), "{err}");
    std::fs::write(dir.path().join("index.json"), br#"{"schemaVersion":2,"manifests":"#).unwrap();
    let err = OciLayout::open(dir.path()).await.unwrap_err();
    assert!(matches!(err, LayoutError::BadIndex { .. }), "{err}");
    assert!(err.to_string().contains("index.json"), "{err}");
}

#[tokio::test]
async fn blob_written_in_pieces_reads_back() {
    let dir = tempfile::tempdir().unwrap();
    let layout = OciLayout::create(dir.path()).await.unwrap();
    let content: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
    for algorithm in [Algorithm::Sha256, Algorithm::Sha512] {
        let digest = Digest::of(algorithm, &content);
        assert_eq!(layout.blob_size(&digest).await.unwrap(), None);
        let mut w = layout.blob_writer(&digest, content.len() as u64).await.unwrap();
        for piece in content.chunks(7_777) {
            w.write_all(piece).await.unwrap();
        }
        assert_eq!(w.bytes_written(), content.len() as u64);
        w.commit().await.unwrap();

        let path = dir.path().join("blobs").join(algorithm.as_str()).join(digest.hex());
        assert_eq!(std::fs::read(&path).unwrap(), content);
        assert_eq!(layout.blob_size(&digest).await.unwrap(), Some(content.len() as u64));
        assert_eq!(layout.read_blob(&digest, 1 << 20).await.unwrap(), content);
        let (_file, size) = layout.open_blob(&digest).await.unwrap();
        assert_eq!(size, content.len() as u64);
    }
    // Only the two blobs: no temporary file was left beside them.
    assert_eq!(files_under(&dir.path().join("blobs")).len(), 2);
}

#[tokio::test]
async fn wrong_digest_or_size_is_refused_and_leaves_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let layout = OciLayout::create(dir.path()).await.unwrap();
    let blobs = dir.path().join("blobs");
    let claimed = Digest::sha256_of(b"the real thing");

    let mut w = layout.blob_writer(&claimed, 14).await.unwrap();
    w.write_all(b"a fake thing!!").await.unwrap();
    let err = w.commit().await.unwrap_err();
    match &err {
        LayoutError::DigestMismatch { expected, actual, .. } => {
            assert_eq!(expected, &claimed);
            assert_eq!(actual, &Digest::sha256_of(b"a fake thing!!"));
        }
        other => panic!("{other}"),
    }
    assert!(files_under(&blobs).is_empty(), "{:?}", files_under(&blobs));

    let mut w = layout.blob_writer(&claimed, 15).await.unwrap();
    w.write_all(b"the real thing").await.unwrap();
    let err = w.commit().await.unwrap_err();
    assert!(
        matches!(
            err,
            LayoutError::SizeMismatch {
                expected: 15,
                actual: 14,
                ..
            }
        ),
        "{err}"
    );
    assert!(files_under(&blobs).is_empty(), "{:?}", files_under(&blobs));

    // More than declared is refused as it is written, before it reaches the disk.
    let mut w = layout.blob_writer(&claimed, 5).await.unwrap();
    assert!(w.write_all(b"the real thing").await.is_err());
    assert!(w.commit().await.is_err());
    assert!(files_under(&blobs).is_empty(), "{:?}", files_under(&blobs));

    let err = layout.write_blob(&claimed, b"something else").await.unwrap_err();
    assert!(matches!(err, LayoutError::DigestMismatch { .. }), "{err}");
    assert!(files_under(&blobs).is_empty(), "{:?}", files_under(&blobs));
    assert_eq!(layout.blob_size(&claimed).await.unwrap(), None);
}

#[tokio::test]
async fn dropped_writer_leaves_no_temp_file() {
    let dir = tempfile::tempdir().unwrap();
    let layout = OciLayout::create(dir.path()).await.unwrap();
    let digest = Digest::sha256_of(b"0123456789");
    let mut w = layout.blob_writer(&digest, 10).await.unwrap();
    w.write_all(b"01234").await.unwrap();
    w.flush().await.unwrap();
    let blobs = dir.path().join("blobs");
    assert_eq!(files_under(&blobs).len(), 1, "the writer has a temporary file");
    drop(w);
    assert!(files_under(&blobs).is_empty(), "{:?}", files_under(&blobs));
}

#[tokio::test]
async fn commit_over_an_existing_blob() {
    let dir = tempfile::tempdir().unwrap();
    let layout = OciLayout::create(dir.path()).await.unwrap();
    let digest = Digest::sha256_of(b"same");
    layout.write_blob(&digest, b"same").await.unwrap();
    layout.write_blob(&digest, b"same").await.unwrap();
    let mut w = layout.blob_writer(&digest, 4).await.unwrap();
    w.write_all(b"same").await.unwrap();
    w.commit().await.unwrap();
    // Still verified although the blob is there.
    let mut w = layout.blob_writer(&digest, 4).await.unwrap();
    w.write_all(b"diff").await.unwrap();
    assert!(matches!(w.commit().await, Err(LayoutError::DigestMismatch { .. })));
    assert_eq!(files_under(&dir.path().join("blobs")).len(), 1);
    assert_eq!(layout.read_blob(&digest, 4).await.unwrap(), b"same");

    // A truncated file under the name (left by some other tool) is replaced.
    let path = dir.path().join("blobs/sha256").join(digest.hex());
    std::fs::write(&path, b"sa").unwrap();
    layout.write_blob(&digest, b"same").await.unwrap();
    assert_eq!(std::fs::read(&path).unwrap(), b"same");
}

#[tokio::test]
async fn read_blob_checks_cap_and_content() {
    let dir = tempfile::tempdir().unwrap();
    let layout = OciLayout::create(dir.path()).await.unwrap();
    let digest = Digest::sha256_of(b"manifest bytes");
    let err = layout.read_blob(&digest, 100).await.unwrap_err();
    assert!(matches!(err, LayoutError::BlobMissing { .. }), "{err}");
    assert!(matches!(
        layout.open_blob(&digest).await,
        Err(LayoutError::BlobMissing { .. })
    ));

    layout.write_blob(&digest, b"manifest bytes").await.unwrap();
    let err = layout.read_blob(&digest, 13).await.unwrap_err();
    assert!(matches!(err, LayoutError::TooLarge { size: 14, max: 13, .. }), "{err}");
    assert_eq!(layout.read_blob(&digest, 14).await.unwrap(), b"manifest bytes");

    // Damaged on disk behind the module's back.
    std::fs::write(dir.path().join("blobs/sha256").join(digest.hex()), b"manifest bytez").unwrap();
    let err = layout.read_blob(&digest, 100).await.unwrap_err();
    assert!(matches!(err, LayoutError::DigestMismatch { .. }), "{err}");
}

#[tokio::test]
async fn tags_set_replace_and_resolve() {
    let dir = tempfile::tempdir().unwrap();
    let layout = OciLayout::create(dir.path()).await.unwrap();
    assert!(matches!(layout.resolve(None).await, Err(LayoutError::Empty { .. })));

    let one = manifest(&layout, b"{\"n\":1}", Some("v1")).await;
    layout.set_ref(one.clone()).await.unwrap();
    assert_eq!(layout.resolve(None).await.unwrap(), one);
    assert_eq!(layout.resolve(Some("v1")).await.unwrap(), one);

    let two = manifest(&layout, b"{\"n\":2}", Some("v1")).await;
    layout.set_ref(two.clone()).await.unwrap();
    assert_eq!(layout.index().await.unwrap(), vec![two.clone()]);
    assert_eq!(layout.resolve(Some("v1")).await.unwrap().digest, two.digest);

    let latest = manifest(&layout, b"{\"n\":1}", Some("latest")).await;
    layout.set_ref(latest.clone()).await.unwrap();
    assert_eq!(
        layout.tags().await.unwrap(),
        vec!["v1".to_string(), "latest".to_string()]
    );
    match layout.resolve(None).await {
        Err(LayoutError::Ambiguous { count: 2, tags, .. }) => assert_eq!(tags, vec!["v1", "latest"]),
        other => panic!("{other:?}"),
    }
    let err = layout.resolve(Some("v3")).await.unwrap_err();
    assert!(err.to_string().contains("v1, latest"), "{err}");
    assert_eq!(layout.resolve(Some("latest")).await.unwrap(), latest);
}

#[tokio::test]
async fn set_ref_refuses_bad_names_and_missing_blobs() {
    let dir = tempfile::tempdir().unwrap();
    let layout = OciLayout::create(dir.path()).await.unwrap();
    let bad = manifest(&layout, b"{}", Some("../v1")).await;
    assert!(matches!(
        layout.set_ref(bad).await,
        Err(LayoutError::InvalidRefName { .. })
    ));
    let absent = LayoutEntry::new(OCI_MANIFEST, Digest::sha256_of(b"absent"), 6).with_ref_name("v1");
    assert!(matches!(
        layout.set_ref(absent).await,
        Err(LayoutError::BlobMissing { .. })
    ));
    let mut wrong_size = manifest(&layout, b"{}", Some("v1")).await;
    wrong_size.size = 3;
    assert!(matches!(
        layout.set_ref(wrong_size).await,
        Err(LayoutError::SizeMismatch { .. })
    ));
    assert!(layout.index().await.unwrap().is_empty());
}

#[tokio::test]
async fn index_json_on_disk_follows_the_spec() {
    let dir = tempfile::tempdir().unwrap();
    let layout = OciLayout::create(dir.path()).await.unwrap();
    let mut e = manifest(&layout, b"{\"schemaVersion\":2}", Some("v1.0")).await;
    e.platform = Some(serde_json::json!({"architecture": "amd64", "os": "linux"}));
    e.annotations.insert("com.example.note".into(), "hi".into());
    layout.set_ref(e.clone()).await.unwrap();
    let untagged = manifest(&layout, b"{}", None).await;
    layout.set_ref(untagged.clone()).await.unwrap();

    let v: Value = serde_json::from_slice(&std::fs::read(dir.path().join("index.json")).unwrap()).unwrap();
    assert_eq!(v["schemaVersion"], 2);
    assert_eq!(v["mediaType"], OCI_INDEX);
    let manifests = v["manifests"].as_array().unwrap();
    assert_eq!(manifests.len(), 2);
    let m = &manifests[0];
    assert_eq!(m["mediaType"], OCI_MANIFEST);
    assert_eq!(m["digest"], e.digest.to_string());
    assert_eq!(m["size"], e.size);
    assert_eq!(m["platform"]["os"], "linux");
    assert_eq!(
        m["annotations"],
        serde_json::json!({"org.opencontainers.image.ref.name": "v1.0", "com.example.note": "hi"})
    );
    assert_eq!(manifests[1]["digest"], untagged.digest.to_string());
    assert!(manifests[1].get("annotations").is_none());
    // Every digest in it is a blob of the layout, of the size it says.
    for m in manifests {
        let d: Digest = m["digest"].as_str().unwrap().parse().unwrap();
        assert_eq!(layout.blob_size(&d).await.unwrap(), m["size"].as_u64());
    }
    // Only the final files: no temporary index left behind.
    let mut top: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    top.sort();
    assert_eq!(top, vec!["blobs", "index.json", "oci-layout"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_set_refs_through_clones_all_land() {
    let dir = tempfile::tempdir().unwrap();
    let layout = OciLayout::create(dir.path()).await.unwrap();
    let mut tasks = Vec::new();
    for i in 0..16 {
        let layout = layout.clone();
        tasks.push(tokio::spawn(async move {
            let e = manifest(&layout, format!("{{\"n\":{i}}}").as_bytes(), Some(&format!("t{i}"))).await;
            layout.set_ref(e).await.unwrap();
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let mut tags = layout.tags().await.unwrap();
    tags.sort();
    let mut want: Vec<_> = (0..16).map(|i| format!("t{i}")).collect();
    want.sort();
    assert_eq!(tags, want);
}
