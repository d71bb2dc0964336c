//! `wharf serve` over TLS (`--tls-cert`/`--tls-key`), against a test CA: chains through
//! an intermediate with RSA and ECDSA keys in every PEM encoding, HTTP/2 by ALPN, the
//! wharf client, skopeo and podman verifying the certificate (never `--tls-verify=false`),
//! certificates reloaded when the files change without dropping open connections, a
//! broken new pair refused, client certificates as the identity the access rules see,
//! and plain HTTP or silence on the TLS port costing no slot.

use crate::auth_clients::write_layout;
use crate::cli_harness::Cli;
use crate::harness::{expect_refusal, expect_success, run_bounded, skopeo_output, WharfProcess};
use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper::{StatusCode, Version};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::net::TcpStream;
use wharf_testkit::{KeyKind, PemPair, TestCa};

/// A server's TLS files in a scratch directory: the chain (server certificate, then the
/// intermediate that signed it) and the key, as `--tls-cert` and `--tls-key` take them.
struct ServerFiles {
    dir: tempfile::TempDir,
    root: TestCa,
    intermediate: TestCa,
}

impl ServerFiles {
    fn new(kind: KeyKind) -> ServerFiles {
        let root = TestCa::new("wharf test root CA");
        let intermediate = root.intermediate("wharf test intermediate CA");
        let files = ServerFiles {
            dir: tempfile::tempdir().unwrap(),
            root,
            intermediate,
        };
        files.write(&files.issue("wharf test registry", kind));
        files
    }

    fn issue(&self, name: &str, kind: KeyKind) -> PemPair {
        let server = self.intermediate.server_cert(name, kind);
        PemPair {
            cert: format!("{}{}", server.cert, self.intermediate.cert_pem()),
            key: server.key,
        }
    }

    /// Replaces the files (the certificate first, then the key, as an operator would).
    fn write(&self, pair: &PemPair) {
        std::fs::write(self.cert(), &pair.cert).unwrap();
        std::fs::write(self.key(), &pair.key).unwrap();
    }

    fn cert(&self) -> PathBuf {
        self.dir.path().join("chain.pem")
    }

    fn key(&self) -> PathBuf {
        self.dir.path().join("key.pem")
    }

    /// The root CA's certificate in a file, for clients to trust.
    fn ca_file(&self) -> PathBuf {
        let path = self.dir.path().join("ca.pem");
        std::fs::write(&path, self.root.cert_pem()).unwrap();
        path
    }

    fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn args(&self) -> Vec<String> {
        vec![
            "--tls-cert".into(),
            self.cert().display().to_string(),
            "--tls-key".into(),
            self.key().display().to_string(),
        ]
    }

    fn start(&self, extra: &[&str]) -> WharfProcess {
        let mut args = self.args();
        args.extend(extra.iter().map(|a| a.to_string()));
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        WharfProcess::start_logging_to(&self.data(), &args, &self.dir.path().join("wharf.log"))
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("wharf.log")).unwrap_or_default()
    }
}

/// One TLS connection to the server, HTTP/2 or HTTP/1.1 as ALPN chose.
struct Connection {
    alpn: Option<Vec<u8>>,
    /// The certificates the server sent, its own first.
    chain: Vec<CertificateDer<'static>>,
    sender: Sender,
}

enum Sender {
    H1(hyper::client::conn::http1::SendRequest<Empty<Bytes>>),
    H2(hyper::client::conn::http2::SendRequest<Empty<Bytes>>),
}

/// Connects to `127.0.0.1:port` trusting `ca_pem`, offering `alpn`, presenting `client`.
async fn connect(port: u16, ca_pem: &str, client: Option<&PemPair>, alpn: &[&str]) -> std::io::Result<Connection> {
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(CertificateDer::from_pem_slice(ca_pem.as_bytes()).unwrap())
        .unwrap();
    let builder = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots);
    let mut config = match client {
        Some(pair) => builder
            .with_client_auth_cert(
                CertificateDer::pem_slice_iter(pair.cert.as_bytes())
                    .collect::<Result<Vec<_>, _>>()
                    .unwrap(),
                PrivateKeyDer::from_pem_slice(pair.key.as_bytes()).unwrap(),
            )
            .unwrap(),
        None => builder.with_no_client_auth(),
    };
    config.alpn_protocols = alpn.iter().map(|p| p.as_bytes().to_vec()).collect();
    let tcp = TcpStream::connect(("127.0.0.1", port)).await?;
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let name = ServerName::try_from("127.0.0.1").unwrap();
    let tls = tokio::time::timeout(Duration::from_secs(10), connector.connect(name, tcp))
        .await
        .map_err(|_| std::io::Error::other("TLS handshake timed out"))??;
    let (_, session) = tls.get_ref();
    let alpn = session.alpn_protocol().map(<[u8]>::to_vec);
    let chain = session.peer_certificates().unwrap_or_default().to_vec();
    let io = hyper_util::rt::TokioIo::new(tls);
    let sender = if alpn.as_deref() == Some(b"h2") {
        let (sender, connection) = hyper::client::conn::http2::handshake(hyper_util::rt::TokioExecutor::new(), io)
            .await
            .map_err(std::io::Error::other)?;
        tokio::spawn(connection);
        Sender::H2(sender)
    } else {
        let (sender, connection) = hyper::client::conn::http1::handshake(io)
            .await
            .map_err(std::io::Error::other)?;
        tokio::spawn(connection);
        Sender::H1(sender)
    };
    Ok(Connection { alpn, chain, sender })
}

impl Connection {
    /// GET `path`: the status, the HTTP version and the body.
    async fn get(&mut self, path: &str) -> Result<(StatusCode, Version, Bytes), hyper::Error> {
        // HTTP/2 requests carry the scheme and authority in the URI.
        let uri = format!("https://127.0.0.1{path}");
        let request = |version| {
            hyper::Request::get(if version == Version::HTTP_2 { uri.as_str() } else { path })
                .version(version)
                .header("host", "127.0.0.1")
                .body(Empty::<Bytes>::new())
                .unwrap()
        };
        let response = match &mut self.sender {
            Sender::H1(sender) => {
                sender.ready().await?;
                sender.send_request(request(Version::HTTP_11)).await?
            }
            Sender::H2(sender) => {
                sender.ready().await?;
                sender.send_request(request(Version::HTTP_2)).await?
            }
        };
        let (status, version) = (response.status(), response.version());
        let body = response.into_body().collect().await?.to_bytes();
        Ok((status, version, body))
    }
}

/// GET `path` on a new connection; `Err` when the handshake or the request failed.
async fn get_once(port: u16, ca_pem: &str, client: Option<&PemPair>, path: &str) -> Result<StatusCode, String> {
    let mut connection = connect(port, ca_pem, client, &["h2", "http/1.1"])
        .await
        .map_err(|e| e.to_string())?;
    connection
        .get(path)
        .await
        .map(|(status, _, _)| status)
        .map_err(|e| e.to_string())
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

fn der_of(pem: &str) -> CertificateDer<'static> {
    CertificateDer::from_pem_slice(pem.as_bytes()).unwrap()
}

#[test]
fn serves_a_chain_with_rsa_and_ecdsa_keys_in_every_pem_encoding_and_http2_by_alpn() {
    let rt = runtime();
    for kind in [
        KeyKind::EcdsaPkcs8,
        KeyKind::EcdsaSec1,
        KeyKind::RsaPkcs8,
        KeyKind::RsaPkcs1,
    ] {
        let files = ServerFiles::new(kind);
        let server = files.start(&[]);
        let ca = files.root.cert_pem();
        rt.block_on(async {
            // Offered both, the client gets HTTP/2; the chain reaches the root through
            // the intermediate the server sends.
            let mut h2 = connect(server.port, &ca, None, &["h2", "http/1.1"]).await.unwrap();
            assert_eq!(h2.alpn.as_deref(), Some(&b"h2"[..]), "{kind:?}");
            assert_eq!(
                h2.chain.len(),
                2,
                "{kind:?}: the server sends its certificate and the intermediate"
            );
            assert_eq!(h2.chain[1], der_of(&files.intermediate.cert_pem()));
            let (status, version, _) = h2.get("/v2/").await.unwrap();
            assert_eq!((status, version), (StatusCode::OK, Version::HTTP_2), "{kind:?}");
            // HTTP/1.1 when the client offers only that, or nothing.
            for alpn in [&["http/1.1"][..], &[]] {
                let mut h1 = connect(server.port, &ca, None, alpn).await.unwrap();
                assert_ne!(h1.alpn.as_deref(), Some(&b"h2"[..]));
                let (status, version, _) = h1.get("/v2/").await.unwrap();
                assert_eq!(
                    (status, version),
                    (StatusCode::OK, Version::HTTP_11),
                    "{kind:?} {alpn:?}"
                );
            }
            // A client that trusts another CA refuses the server.
            let stranger = TestCa::new("another CA").cert_pem();
            assert!(connect(server.port, &stranger, None, &["h2"]).await.is_err());
        });
    }
}

#[test]
fn the_wharf_client_pushes_and_pulls_with_ca_cert() {
    let files = ServerFiles::new(KeyKind::EcdsaPkcs8);
    let server = files.start(&[]);
    let cli = Cli::new().with_env("WHARF_CERTS_D", "/nonexistent-certs.d");
    let ca = files.ca_file();
    let ca = ca.to_str().unwrap();
    let file = cli.file("f.txt", b"over wharf's own TLS\n");
    let app = format!("{}/app:1", server.host());
    cli.ok(&["push", &app, &file, "--ca-cert", ca]);
    let out = cli.path("out");
    cli.ok(&["pull", &app, "-o", out.to_str().unwrap(), "--ca-cert", ca]);
    assert_eq!(std::fs::read(out.join("f.txt")).unwrap(), b"over wharf's own TLS\n");
    // Trusting another CA instead, the certificate is refused at once, not retried.
    let other = cli.file("other.pem", TestCa::new("another CA").cert_pem().as_bytes());
    let line = cli.fails(&["inspect", &app, "--ca-cert", &other], 1);
    assert!(line.contains("TLS"), "{line}");
}

#[test]
fn skopeo_and_podman_push_and_pull_verifying_the_certificate() {
    let files = ServerFiles::new(KeyKind::RsaPkcs1);
    let server = files.start(&[]);
    let scratch = tempfile::tempdir().unwrap();
    // A certs directory as containers tools read it: `*.crt` files are CAs.
    let certs = scratch.path().join("certs");
    std::fs::create_dir_all(&certs).unwrap();
    std::fs::write(certs.join("ca.crt"), files.root.cert_pem()).unwrap();
    let certs = certs.to_str().unwrap();
    let layout = scratch.path().join("layout");
    write_layout(&layout);
    let source = format!("oci:{}:1", layout.display());
    let pushed = format!("docker://{}/tls/skopeo:1", server.host());

    // Without the CA skopeo refuses the certificate: it does verify.
    let refused = expect_refusal("skopeo", &[], skopeo_output(&["copy", &source, &pushed]));
    assert!(refused.contains("certificate"), "{refused}");
    let args = ["copy", "--dest-cert-dir", certs, &source, &pushed];
    expect_success("skopeo", &args, skopeo_output(&args));
    let out = format!("oci:{}:1", scratch.path().join("out").display());
    let args = ["copy", "--src-cert-dir", certs, &pushed, &out];
    expect_success("skopeo", &args, skopeo_output(&args));

    // podman: its own storage in the scratch directory, no containers run.
    let podman = |args: &[&str]| {
        let root = scratch.path().join("podman");
        std::fs::create_dir_all(&root).unwrap();
        std::fs::write(root.join("auth.json"), "{}").unwrap();
        let mut command = Command::new("podman");
        command
            .arg("--root")
            .arg(root.join("storage"))
            .arg("--runroot")
            .arg(root.join("run"))
            .args(["--storage-driver", "vfs", "--events-backend", "none"])
            .args(args)
            .env("REGISTRY_AUTH_FILE", root.join("auth.json"))
            .env("NO_PROXY", "127.0.0.1")
            .env("no_proxy", "127.0.0.1");
        run_bounded(command, Duration::from_secs(120))
    };
    let image = format!("{}/tls/skopeo:1", server.host());
    let args = ["pull", "--cert-dir", certs, image.as_str()];
    expect_success("podman", &args, podman(&args));
    let copy = format!("{}/tls/podman:1", server.host());
    let args = ["push", "--cert-dir", certs, image.as_str(), copy.as_str()];
    expect_success("podman", &args, podman(&args));
    let args = ["inspect", "--cert-dir", certs, &format!("docker://{copy}")];
    expect_success("skopeo", &args, skopeo_output(&args));
}

#[test]
fn a_changed_certificate_is_used_by_new_connections_while_open_ones_keep_working() {
    let files = ServerFiles::new(KeyKind::EcdsaPkcs8);
    let server = files.start(&[]);
    let ca = files.root.cert_pem();
    let first = files.issue("first", KeyKind::EcdsaPkcs8);
    files.write(&first);
    let rt = runtime();
    rt.block_on(async {
        let first_der = der_of(&first.cert);
        let mut old = wait_for_certificate(server.port, &ca, &first_der).await;
        assert_eq!(old.get("/v2/").await.unwrap().0, StatusCode::OK);

        // Rotation to an RSA certificate: new connections get it; the open one stays.
        let second = files.issue("second", KeyKind::RsaPkcs8);
        files.write(&second);
        let new = wait_for_certificate(server.port, &ca, &der_of(&second.cert)).await;
        assert_eq!(new.chain[0], der_of(&second.cert));
        assert_eq!(old.chain[0], first_der);
        assert_eq!(
            old.get("/v2/").await.unwrap().0,
            StatusCode::OK,
            "a connection opened before the reload is still served"
        );

        // A broken pair (the key of another certificate) is refused and logged; the
        // certificate in force stays.
        let stranger = files.issue("stranger", KeyKind::EcdsaPkcs8);
        std::fs::write(files.cert(), &files.issue("third", KeyKind::EcdsaPkcs8).cert).unwrap();
        std::fs::write(files.key(), &stranger.key).unwrap();
        let deadline = Instant::now() + Duration::from_secs(15);
        while !files.log().contains("were not loaded") {
            assert!(
                Instant::now() < deadline,
                "no log line for the broken pair:\n{}",
                files.log()
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        let mut after = connect(server.port, &ca, None, &["h2"]).await.unwrap();
        assert_eq!(after.chain[0], der_of(&second.cert), "the last good certificate stays");
        assert_eq!(after.get("/v2/").await.unwrap().0, StatusCode::OK);
        assert!(!files.log().contains("BEGIN"), "no key material in the log");
    });
}

/// A new connection once the server presents `wanted` (it polls its files every 2 s).
async fn wait_for_certificate(port: u16, ca: &str, wanted: &CertificateDer<'_>) -> Connection {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let connection = connect(port, ca, None, &["http/1.1"]).await.unwrap();
        if connection.chain[0] == *wanted {
            return connection;
        }
        assert!(
            Instant::now() < deadline,
            "the new certificate was not served within 15 s"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The config of a server whose client certificates sign in: `ci` may push and pull,
/// anyone signed in may pull.
fn mtls_config(files: &ServerFiles, clients: &TestCa, client_auth: &str) -> PathBuf {
    let client_ca = files.dir.path().join("client-ca.pem");
    std::fs::write(&client_ca, clients.cert_pem()).unwrap();
    let config = files.dir.path().join("wharf.toml");
    std::fs::write(
        &config,
        format!(
            r#"
[auth]
mode = "basic"

[[auth.rules]]
who = ["user:ci"]
repositories = ["*"]
actions = ["pull", "push"]

[[auth.rules]]
who = ["authenticated"]
repositories = ["*"]
actions = ["pull"]

[tls]
client_ca = "{}"
client_auth = "{client_auth}"
"#,
            client_ca.display()
        ),
    )
    .unwrap();
    config
}

fn write_pair(dir: &Path, name: &str, pair: &PemPair) -> (String, String) {
    let cert = dir.join(format!("{name}.cert"));
    let key = dir.join(format!("{name}.key"));
    std::fs::write(&cert, &pair.cert).unwrap();
    std::fs::write(&key, &pair.key).unwrap();
    (cert.display().to_string(), key.display().to_string())
}

#[test]
fn a_client_certificate_subject_is_the_identity_the_rules_see() {
    let files = ServerFiles::new(KeyKind::EcdsaPkcs8);
    let clients = TestCa::new("wharf test client CA");
    let config = mtls_config(&files, &clients, "required");
    let server = files.start(&["--config", config.to_str().unwrap()]);
    let ca_pem = files.root.cert_pem();
    let rt = runtime();

    // Required: no certificate, or one of another CA, gets no answer at all.
    rt.block_on(async {
        assert!(get_once(server.port, &ca_pem, None, "/v2/").await.is_err());
        let foreign = TestCa::new("another CA").client_cert("ci");
        assert!(get_once(server.port, &ca_pem, Some(&foreign), "/v2/").await.is_err());
    });

    // CN=ci pushes and pulls; CN=reader pulls but may not push.
    let cli = Cli::new().with_env("WHARF_CERTS_D", "/nonexistent-certs.d");
    let ca = files.ca_file();
    let ca = ca.to_str().unwrap();
    let (ci_cert, ci_key) = write_pair(files.dir.path(), "ci", &clients.client_cert("ci"));
    let (reader_cert, reader_key) = write_pair(files.dir.path(), "reader", &clients.client_cert("reader"));
    let file = cli.file("f.txt", b"pushed by ci\n");
    let app = format!("{}/team/app:1", server.host());
    let as_ci = ["--ca-cert", ca, "--client-cert", &ci_cert, "--client-key", &ci_key];
    let as_reader = [
        "--ca-cert",
        ca,
        "--client-cert",
        &reader_cert,
        "--client-key",
        &reader_key,
    ];
    cli.ok(&[&["push", &app, &file][..], &as_ci].concat());
    let out = cli.path("out");
    cli.ok(&[&["pull", &app, "-o", out.to_str().unwrap()][..], &as_reader].concat());
    assert_eq!(std::fs::read(out.join("f.txt")).unwrap(), b"pushed by ci\n");
    let other = format!("{}/team/other:1", server.host());
    let line = cli.fails(&[&["push", &other, &file][..], &as_reader].concat(), 4);
    assert!(line.to_lowercase().contains("denied") || line.contains("403"), "{line}");
}

#[test]
fn optional_client_certificates_sign_in_by_common_name_dns_name_or_email() {
    let files = ServerFiles::new(KeyKind::EcdsaPkcs8);
    let clients = TestCa::new("wharf test client CA");
    let config = mtls_config(&files, &clients, "optional");
    let server = files.start(&["--config", config.to_str().unwrap()]);
    let ca = files.root.cert_pem();
    runtime().block_on(async {
        // Without a certificate: anonymous, so /v2/ asks to sign in (and the probes
        // answer anyway).
        assert_eq!(
            get_once(server.port, &ca, None, "/v2/").await,
            Ok(StatusCode::UNAUTHORIZED)
        );
        assert_eq!(get_once(server.port, &ca, None, "/readyz").await, Ok(StatusCode::OK));
        for client in [
            clients.client_cert("ci"),
            clients.client_cert_without_cn("runner.example.org", false),
            clients.client_cert_without_cn("ops@example.org", true),
        ] {
            assert_eq!(
                get_once(server.port, &ca, Some(&client), "/v2/").await,
                Ok(StatusCode::OK)
            );
        }
        // A pull of a repository nobody pushed: signed in (404, not 401).
        let dns = clients.client_cert_without_cn("runner.example.org", false);
        assert_eq!(
            get_once(server.port, &ca, Some(&dns), "/v2/team/app/tags/list").await,
            Ok(StatusCode::NOT_FOUND)
        );
    });
}

#[test]
fn plain_http_or_silence_on_the_tls_port_holds_no_slot() {
    let files = ServerFiles::new(KeyKind::EcdsaPkcs8);
    let server = files.start(&["--max-connections", "1", "--header-timeout", "3s"]);
    let ca = files.root.cert_pem();
    let rt = runtime();

    // Plain HTTP: the connection is closed at once, with no HTTP answer.
    let started = Instant::now();
    let mut plain = std::net::TcpStream::connect(("127.0.0.1", server.port)).unwrap();
    plain.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    plain
        .write_all(b"GET /v2/ HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        .unwrap();
    let mut answer = Vec::new();
    let _ = plain.read_to_end(&mut answer);
    assert!(started.elapsed() < Duration::from_secs(2), "closed at once");
    assert!(!answer.starts_with(b"HTTP/"), "no HTTP answer: {answer:?}");
    // Its slot is free again: the only one there is.
    let status = rt.block_on(get_once(server.port, &ca, None, "/v2/"));
    assert_eq!(status, Ok(StatusCode::OK));

    // A silent connection holds the only slot; a TLS client still gets in (the silent
    // one, mid-handshake, makes room), and the silent one is closed.
    let mut silent = std::net::TcpStream::connect(("127.0.0.1", server.port)).unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let started = Instant::now();
    let status = rt.block_on(get_once(server.port, &ca, None, "/v2/"));
    assert_eq!(status, Ok(StatusCode::OK));
    assert!(started.elapsed() < Duration::from_secs(2), "{:?}", started.elapsed());
    silent.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut byte = [0u8; 1];
    assert!(
        matches!(silent.read(&mut byte), Ok(0) | Err(_)),
        "the silent connection was closed"
    );

    // Alone, a silent connection is closed after the header timeout.
    let started = Instant::now();
    let mut silent = std::net::TcpStream::connect(("127.0.0.1", server.port)).unwrap();
    silent.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    assert!(matches!(silent.read(&mut byte), Ok(0) | Err(_)));
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(2500) && waited < Duration::from_secs(6),
        "closed after {waited:?}, the header timeout is 3 s"
    );
}
