//! Property-based fuzzing of the TOML config (issue 19): arbitrary documents are loaded
//! or refused with a message, never a panic; generated valid configs load to the values
//! written.

use super::*;
use proptest::prelude::*;

const KEYS: [&str; 18] = [
    "listen",
    "data_dir",
    "durability",
    "log",
    "delete_blobs",
    "delete_manifests",
    "delete_tags",
    "max_manifest_size",
    "chunk_min_length",
    "chunk_max_length",
    "name_pattern",
    "upload_ttl",
    "body_timeout",
    "shutdown_timeout",
    "mount_without_from",
    "allow_sparse_manifests",
    "auth",
    "unknown",
];

fn toml_value() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<bool>().prop_map(|b| b.to_string()),
        any::<i64>().prop_map(|n| n.to_string()),
        Just("18446744073709551616".to_string()),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(|f| format!("{f:?}")),
        ".{0,12}".prop_map(|s| format!("{:?}", s)),
        prop::sample::select(vec![
            "\"127.0.0.1:5000\"",
            "\"[::1]:0\"",
            "\"durable\"",
            "\"relaxed\"",
            "\"30m\"",
            "\"0s\"",
            "\"1y\"",
            "\"-1s\"",
            "\"(\"",
            "\"^[a-z]+$\"",
            "[]",
            "{}",
            "{ mode = \"basic\" }",
            "{ mode = \"token\", token = { key = \"k.pem\" } }",
            "{ mode = \"none\" }",
            "{ mode = \"other\" }",
            "1979-05-27T07:32:00Z",
        ])
        .prop_map(str::to_string),
    ]
}

fn document() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => prop::collection::vec((prop::sample::select(KEYS.to_vec()), toml_value()), 0..6).prop_map(|kv| {
            kv.iter().map(|(k, v)| format!("{k} = {v}\n")).collect::<String>()
        }),
        1 => ".{0,60}",
        1 => "(\\[[a-z]{1,5}\\]\n)?([a-z_]{1,8} = [0-9\"a-z{}\\[\\]]{0,6}\n){0,4}",
    ]
}

/// One valid setting of each kind, with the TOML it is written as.
#[derive(Debug, Clone)]
struct Written {
    listen: Option<SocketAddr>,
    data_dir: Option<String>,
    durable: Option<bool>,
    delete_blobs: Option<bool>,
    max_manifest_size: Option<u64>,
    chunk_max_length: Option<u64>,
    upload_ttl_secs: Option<u64>,
    body_timeout_secs: Option<u64>,
    log: Option<String>,
}

fn written() -> impl Strategy<Value = Written> {
    (
        prop::option::of((any::<[u8; 4]>(), any::<u16>()).prop_map(|(ip, port)| SocketAddr::from((ip, port)))),
        prop::option::of("[a-zA-Z0-9_./ -]{1,20}"),
        prop::option::of(any::<bool>()),
        prop::option::of(any::<bool>()),
        prop::option::of(0u64..=i64::MAX as u64),
        prop::option::of(0u64..=i64::MAX as u64),
        (prop::option::of(1u64..10_000_000), prop::option::of(0u64..10_000_000)),
        prop::option::of("[a-z=,_]{1,12}"),
    )
        .prop_map(
            |(listen, data_dir, durable, delete_blobs, max, chunk, (ttl, body), log)| Written {
                listen,
                data_dir,
                durable,
                delete_blobs,
                max_manifest_size: max,
                chunk_max_length: chunk,
                upload_ttl_secs: ttl,
                body_timeout_secs: body,
                log,
            },
        )
}

fn render(w: &Written) -> String {
    let mut out = String::new();
    let mut line = |k: &str, v: Option<String>| {
        if let Some(v) = v {
            out.push_str(&format!("{k} = {v}\n"));
        }
    };
    line("listen", w.listen.map(|a| format!("\"{a}\"")));
    line("data_dir", w.data_dir.as_ref().map(|d| format!("{d:?}")));
    line(
        "durability",
        w.durable
            .map(|d| format!("\"{}\"", if d { "durable" } else { "relaxed" })),
    );
    line("delete_blobs", w.delete_blobs.map(|b| b.to_string()));
    line("max_manifest_size", w.max_manifest_size.map(|n| n.to_string()));
    line("chunk_max_length", w.chunk_max_length.map(|n| n.to_string()));
    line("upload_ttl", w.upload_ttl_secs.map(|s| format!("\"{s}s\"")));
    line("body_timeout", w.body_timeout_secs.map(|s| format!("\"{s}s\"")));
    line("log", w.log.as_ref().map(|l| format!("{l:?}")));
    out
}

proptest! {
    /// Any document is loaded or refused with a message; never a panic.
    #[test]
    fn arbitrary_toml_never_panics(text in document()) {
        if let Ok(file) = toml::from_str::<FileConfig>(&text) {
            if let Err(message) = ServeConfig::merge(ServeArgs::default(), file) {
                prop_assert!(!message.is_empty());
            }
        }
    }

    /// A config written from generated values loads to exactly those values, and the
    /// defaults fill in what was left out.
    #[test]
    fn valid_configs_load_to_the_values_written(w in written()) {
        let text = render(&w);
        let file: FileConfig = toml::from_str(&text).map_err(|e| TestCaseError::fail(format!("{text}: {e}")))?;
        let config = ServeConfig::merge(ServeArgs::default(), file).map_err(TestCaseError::fail)?;
        let defaults = RegistryConfig::default();
        prop_assert_eq!(config.listen, w.listen.unwrap_or_else(|| "127.0.0.1:5000".parse().unwrap()));
        prop_assert_eq!(config.data_dir, PathBuf::from(w.data_dir.clone().unwrap_or_else(|| "wharf-data".into())));
        prop_assert_eq!(config.durable, w.durable.unwrap_or(true));
        prop_assert_eq!(config.registry.delete_blobs, w.delete_blobs.unwrap_or(defaults.delete_blobs));
        prop_assert_eq!(config.registry.max_manifest_size, w.max_manifest_size.unwrap_or(defaults.max_manifest_size));
        prop_assert_eq!(config.registry.chunk_max_length, w.chunk_max_length.filter(|n| *n > 0));
        prop_assert_eq!(config.registry.upload_ttl, w.upload_ttl_secs.map_or(defaults.upload_ttl, Duration::from_secs));
        let body = w.body_timeout_secs.filter(|s| *s > 0).map_or(defaults.body_timeout, Duration::from_secs);
        prop_assert_eq!(config.registry.body_timeout, body);
        prop_assert_eq!(config.observe.log, w.log.clone().unwrap_or_else(|| "info".into()));
    }
}
