//! The CLI over TLS, against wharf behind the test kit's TLS proxy (its own test CA):
//! an unknown CA is refused with a clear error and no retries; `--ca-cert`, a
//! `certs.d/HOST:PORT/ca.crt` directory (`WHARF_CERTS_D`) and `--insecure` each make it
//! work; a registry that requires a client certificate gets one from `--client-cert` or
//! from `certs.d` (`client.cert`/`client.key`), and refuses a client without one.

use crate::cli_harness::{Cli, Registry};
use std::time::{Duration, Instant};
use wharf_testkit::TlsProxy;

#[test]
fn unknown_ca_is_refused_and_ca_cert_certs_d_and_insecure_work() {
    let registry = Registry::wharf();
    let proxy = TlsProxy::start(&registry.host(), false);
    let host = proxy.host();
    let cli = Cli::new().with_env("WHARF_CERTS_D", "/nonexistent-certs.d");
    let file = cli.file("f.txt", b"over TLS\n");
    let app = format!("{host}/app:1");

    // --insecure says TLS and accepts the unknown CA's certificate.
    let pushed = cli.json(&["push", &app, &file, "--insecure"]);
    let digest = pushed["digest"].as_str().expect("a digest").to_string();

    // A CA that did not sign the proxy's certificate: refused at once, with what to do.
    let started = Instant::now();
    let line = cli.fails(
        &[
            "inspect",
            &app,
            "--ca-cert",
            &cli.file("other.pem", other_ca().as_bytes()),
        ],
        1,
    );
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "no retries for a TLS failure"
    );
    assert!(line.contains("TLS failed") && line.contains("--ca-cert"), "{line}");

    // --ca-cert FILE trusts the proxy's CA.
    let ca = cli.file("ca.pem", proxy.ca().cert_pem().as_bytes());
    let shown = cli.json(&["inspect", &app, "--ca-cert", &ca]);
    assert_eq!(shown["digest"], digest.as_str());

    // certs.d/HOST:PORT/ca.crt, as docker keeps it, trusts it too (and says HTTPS).
    let certs_d = cli.path("certs.d");
    std::fs::create_dir_all(certs_d.join(&host)).unwrap();
    std::fs::write(certs_d.join(&host).join("ca.crt"), proxy.ca().cert_pem()).unwrap();
    let with_dir = Cli::new().with_env("WHARF_CERTS_D", certs_d.to_str().unwrap());
    let out = with_dir.path("out");
    with_dir.ok(&["pull", &app, "-o", out.to_str().unwrap()]);
    assert_eq!(std::fs::read(out.join("f.txt")).unwrap(), b"over TLS\n");

    // A missing or unreadable --ca-cert is a clear error.
    let line = cli.fails(&["inspect", &app, "--ca-cert", "/nonexistent.pem"], 1);
    assert!(line.contains("/nonexistent.pem"), "{line}");
}

#[test]
fn mutual_tls_presents_the_client_certificate() {
    let registry = Registry::wharf();
    let proxy = TlsProxy::start(&registry.host(), true);
    let host = proxy.host();
    let cli = Cli::new().with_env("WHARF_CERTS_D", "/nonexistent-certs.d");
    let ca = cli.file("ca.pem", proxy.ca().cert_pem().as_bytes());
    let client = proxy.ca().client_cert("ci-runner");
    let cert = cli.file("client.cert", client.cert.as_bytes());
    let key = cli.file("client.key", client.key.as_bytes());
    let file = cli.file("f.txt", b"mtls\n");
    let app = format!("{host}/app:1");

    let line = cli.fails(&["push", &app, &file, "--ca-cert", &ca], 1);
    assert!(
        line.contains("TLS failed") && line.contains("client certificate"),
        "{line}"
    );
    assert_eq!(proxy.connections_with_client_cert(), 0);

    cli.ok(&[
        "push",
        &app,
        &file,
        "--ca-cert",
        &ca,
        "--client-cert",
        &cert,
        "--client-key",
        &key,
    ]);
    assert!(proxy.connections_with_client_cert() > 0);
    // --client-cert needs --client-key.
    cli.fails(&["inspect", &app, "--client-cert", &cert], 2);

    // certs.d: ca.crt plus client.cert and client.key.
    let certs_d = cli.path("certs.d");
    let dir = certs_d.join(&host);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("ca.crt"), proxy.ca().cert_pem()).unwrap();
    std::fs::write(dir.join("client.cert"), &client.cert).unwrap();
    std::fs::write(dir.join("client.key"), &client.key).unwrap();
    let before = proxy.connections_with_client_cert();
    let with_dir = Cli::new().with_env("WHARF_CERTS_D", certs_d.to_str().unwrap());
    with_dir.ok(&["inspect", &app]);
    assert!(proxy.connections_with_client_cert() > before);
}

/// Another test CA's certificate, which signed nothing the proxy presents.
fn other_ca() -> String {
    wharf_testkit::TestCa::new("someone else").cert_pem()
}
