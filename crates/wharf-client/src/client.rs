//! The client: its settings, and the one place requests are sent, authenticated and
//! retried.

use crate::auth::{AuthState, Credentials, Scopes};
use crate::error::{Error, Result};
use crate::progress::ProgressCallback;
use crate::reference::{api_host, is_loopback};
use crate::retry::{is_retryable_status, parse_retry_after, RetryPolicy};
use crate::tls::TlsConfig;
use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, Method};
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::Mutex;
use std::time::Duration;
use wharf_oci::Endpoint;

/// How the client behaves; `ClientConfig::default()` suits most uses.
#[derive(Clone)]
pub struct ClientConfig {
    pub retry: RetryPolicy,
    /// Blobs larger than this are pushed in chunks of this size (raised to the
    /// registry's `OCI-Chunk-Min-Length`); `None` pushes every blob in one request.
    pub chunk_size: Option<u64>,
    /// Blobs transferred at once when pushing or copying an image.
    pub concurrency: usize,
    /// Use plain HTTP for every registry (otherwise only for loopback ones).
    pub plain_http: bool,
    /// Registries (`host[:port]`) to reach over plain HTTP besides loopback ones.
    pub plain_http_hosts: Vec<String>,
    pub connect_timeout: Duration,
    /// A registry that sends nothing for this long is given up on (and retried): the
    /// whole answer for small requests, each piece of a blob download, and the answer
    /// after an upload (whose own time grows with its size).
    pub read_timeout: Duration,
    pub user_agent: String,
    pub progress: Option<ProgressCallback>,
    /// Which certificates to trust and present (see [`TlsConfig`]).
    pub tls: TlsConfig,
    /// Where unfinished uploads are recorded, so that a later process resumes them
    /// (see [`crate::ResumeStore`]); `None` (the default) resumes within a call only.
    pub resume: Option<crate::ResumeStore>,
}

impl Default for ClientConfig {
    fn default() -> Self {
        ClientConfig {
            retry: RetryPolicy::default(),
            chunk_size: None,
            concurrency: 4,
            plain_http: false,
            plain_http_hosts: Vec::new(),
            connect_timeout: Duration::from_secs(15),
            read_timeout: Duration::from_secs(60),
            user_agent: format!("wharf/{}", env!("CARGO_PKG_VERSION")),
            progress: None,
            tls: TlsConfig::default(),
            resume: None,
        }
    }
}

/// A registry client. Cheap to clone; clones share connections and tokens.
#[derive(Clone)]
pub struct Client {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    /// The connections to registries without a `certs.d` directory of their own.
    pub(crate) http: reqwest::Client,
    /// The connections to each registry that has one, made when first needed.
    per_registry: Mutex<HashMap<String, reqwest::Client>>,
    pub(crate) config: ClientConfig,
    pub(crate) auth: AuthState,
}

/// A request that can be sent again as it is: its body, if any, is in memory.
pub(crate) struct Call {
    pub(crate) registry: String,
    pub(crate) method: Method,
    pub(crate) url: url::Url,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Option<Bytes>,
    pub(crate) scopes: Scopes,
    pub(crate) limit: TimeLimit,
}

/// How long a request may take, by what kind of transfer it is.
#[derive(Clone, Copy)]
pub(crate) enum TimeLimit {
    /// A small request: the whole exchange within `read_timeout`.
    Whole,
    /// A download of any size: the answer's headers within `read_timeout`, then each
    /// piece of the body (the caller bounds the pieces).
    Download,
    /// An upload of this many bytes: `read_timeout` plus the time to send them at a
    /// slow but working 16 KiB/s, so a registry that never answers cannot hang it.
    Upload(u64),
}

/// The slowest upload rate allowed for before a streamed upload is given up.
const SLOWEST_UPLOAD: f64 = 16.0 * 1024.0;

impl Call {
    pub(crate) fn new(registry: &str, method: Method, url: url::Url, scopes: Scopes) -> Call {
        Call {
            registry: registry.to_string(),
            method,
            url,
            headers: HeaderMap::new(),
            body: None,
            scopes,
            limit: TimeLimit::Whole,
        }
    }

    pub(crate) fn limit(mut self, limit: TimeLimit) -> Call {
        self.limit = limit;
        self
    }

    pub(crate) fn header(mut self, name: HeaderName, value: &str) -> Call {
        if let Ok(v) = HeaderValue::from_str(value) {
            self.headers.append(name, v);
        }
        self
    }

    pub(crate) fn body(mut self, body: Bytes) -> Call {
        self.body = Some(body);
        self
    }
}

impl Client {
    pub fn new(config: ClientConfig, credentials: Credentials) -> Result<Client> {
        let http = build_http(&config, None)?;
        Ok(Client {
            inner: Arc::new(Inner {
                http,
                per_registry: Mutex::new(HashMap::new()),
                auth: AuthState::new(credentials),
                config,
            }),
        })
    }

    /// The connections for `registry`: its own when it has a `certs.d` directory (its
    /// CAs and client certificate), the shared ones otherwise.
    pub(crate) fn http_for(&self, registry: &str) -> Result<reqwest::Client> {
        let Some(dir) = self.inner.config.tls.registry_dir(registry) else {
            return Ok(self.inner.http.clone());
        };
        let mut clients = self.inner.per_registry.lock().expect("per-registry clients lock");
        if let Some(http) = clients.get(registry) {
            return Ok(http.clone());
        }
        let http = build_http(&self.inner.config, Some(&dir))?;
        clients.insert(registry.to_string(), http.clone());
        Ok(http)
    }

    pub fn config(&self) -> &ClientConfig {
        &self.inner.config
    }

    /// A client like this one, with another chunk size (its own connections and tokens).
    pub fn with_chunk_size(&self, chunk_size: Option<u64>) -> Client {
        self.reconfigured(ClientConfig {
            chunk_size,
            ..self.inner.config.clone()
        })
    }

    /// A client like this one, with another retry policy.
    pub fn with_retries(&self, retry: RetryPolicy) -> Client {
        self.reconfigured(ClientConfig {
            retry,
            ..self.inner.config.clone()
        })
    }

    fn reconfigured(&self, config: ClientConfig) -> Client {
        Client {
            inner: Arc::new(Inner {
                http: self.inner.http.clone(),
                per_registry: Mutex::new(
                    self.inner
                        .per_registry
                        .lock()
                        .expect("per-registry clients lock")
                        .clone(),
                ),
                auth: AuthState::new(self.inner.auth.credentials().clone()),
                config,
            }),
        }
    }

    /// `http://` or `https://` plus the host the registry's API answers on. Loopback
    /// registries are reached over plain HTTP unless TLS settings were given for every
    /// registry or the registry has a `certs.d` directory.
    pub fn base_url(&self, registry: &str) -> String {
        let c = &self.inner.config;
        let loopback_plain = is_loopback(registry) && !c.tls.is_customised() && c.tls.registry_dir(registry).is_none();
        let plain = c.plain_http || loopback_plain || c.plain_http_hosts.iter().any(|h| h == registry);
        let scheme = if plain { "http" } else { "https" };
        format!("{scheme}://{}", api_host(registry))
    }

    pub(crate) fn url(&self, registry: &str, endpoint: &Endpoint) -> url::Url {
        let base = self.base_url(registry);
        url::Url::parse(&format!("{base}{}", endpoint.path())).expect("endpoint paths form valid URLs")
    }

    /// Checks that `registry` answers its API (`GET /v2/`) and accepts the credentials
    /// at hand, fetching a token when it asks for one, as `docker login` does.
    pub async fn ping(&self, registry: &str) -> Result<()> {
        let call = Call::new(
            registry,
            Method::GET,
            self.url(registry, &Endpoint::Base),
            Scopes::none(),
        );
        let response = self.send(&call).await?;
        if !response.status().is_success() {
            return Err(self.error_from(&call, response).await);
        }
        Ok(())
    }

    /// Resolves a `Location` header (absolute or relative) against the request's URL.
    pub(crate) fn resolve_location(&self, from: &url::Url, location: &str) -> Result<url::Url> {
        from.join(location)
            .map_err(|e| Error::Protocol(format!("the registry sent an unusable Location {location:?}: {e}")))
    }

    /// Sends `call`, answering auth challenges and retrying connection errors, timeouts,
    /// 5xx and 429 with backoff. Returns the final response whatever its status.
    pub(crate) async fn send(&self, call: &Call) -> Result<reqwest::Response> {
        let policy = &self.inner.config.retry;
        let mut attempt = 0u32;
        let mut challenged = false;
        loop {
            attempt += 1;
            let sent_auth = self.inner.auth.authorization(&call.registry, &call.scopes);
            let outcome = self
                .send_with(call, call.body.clone().map(reqwest::Body::from), sent_auth.as_deref())
                .await;
            match outcome {
                Ok(response) if response.status() == 401 && !challenged => {
                    challenged = true;
                    attempt -= 1;
                    self.answer_unauthorized(call, &response, sent_auth.as_deref()).await?;
                }
                Ok(response) if is_retryable_status(response.status().as_u16()) && attempt < policy.max_attempts => {
                    let retry_after = retry_after_of(&response);
                    tracing::debug!(status = %response.status(), url = %call.url, attempt, "retrying");
                    tokio::time::sleep(policy.wait(attempt, retry_after)).await;
                }
                Ok(response) => return Ok(response),
                Err(e) if attempt < policy.max_attempts && !matches!(e, Error::Tls { .. }) => {
                    tracing::debug!(error = %e, url = %call.url, attempt, "retrying");
                    tokio::time::sleep(policy.backoff(attempt)).await;
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Sends once with whatever authorization is known, with a body that may be a stream;
    /// also returns the `Authorization` it sent, for [`Client::answer_unauthorized`].
    pub(crate) async fn send_raw(
        &self,
        call: &Call,
        body: Option<reqwest::Body>,
    ) -> Result<(reqwest::Response, Option<String>)> {
        let sent_auth = self.inner.auth.authorization(&call.registry, &call.scopes);
        let response = self.send_with(call, body, sent_auth.as_deref()).await?;
        Ok((response, sent_auth))
    }

    async fn send_with(
        &self,
        call: &Call,
        body: Option<reqwest::Body>,
        authorization: Option<&str>,
    ) -> Result<reqwest::Response> {
        let mut request = self
            .http_for(&call.registry)?
            .request(call.method.clone(), call.url.clone())
            .headers(call.headers.clone());
        if let Some(auth) = authorization {
            request = request.header(http::header::AUTHORIZATION, auth);
        }
        if let Some(body) = body {
            request = request.body(body);
        }
        let patience = self.inner.config.read_timeout;
        match call.limit {
            TimeLimit::Whole => request = request.timeout(patience),
            TimeLimit::Upload(bytes) => {
                request = request.timeout(patience + Duration::from_secs_f64(bytes as f64 / SLOWEST_UPLOAD))
            }
            TimeLimit::Download => {}
        }
        let sending = request.send();
        let response = match call.limit {
            TimeLimit::Download => tokio::time::timeout(patience, sending)
                .await
                .map_err(|_| Error::Transport {
                    method: call.method.to_string(),
                    url: call.url.to_string(),
                    message: format!("no answer within {patience:?}"),
                })?,
            _ => sending.await,
        };
        response.map_err(|e| transport_error(&call.method, &call.url, &e))
    }

    /// Learns from a 401 to a request that carried `sent` how to authenticate (fetching
    /// a token if needed); an error when the credentials at hand cannot satisfy it.
    pub(crate) async fn answer_unauthorized(
        &self,
        call: &Call,
        response: &reqwest::Response,
        sent: Option<&str>,
    ) -> Result<()> {
        let challenge = response
            .headers()
            .get(http::header::WWW_AUTHENTICATE)
            .and_then(|v| v.to_str().ok());
        self.inner
            .auth
            .answer_unauthorized(
                &self.http_for(&call.registry)?,
                &call.registry,
                challenge,
                &call.scopes,
                sent,
            )
            .await
    }

    /// Turns an unsuccessful response into an error carrying the spec's code and message.
    pub(crate) async fn error_from(&self, call: &Call, response: reqwest::Response) -> Error {
        let status = response.status().as_u16();
        if status == 401 {
            // A token that lacks the scope is answered `error="insufficient_scope"`: the
            // credentials were good, the permission is missing.
            let insufficient_scope = response
                .headers()
                .get(http::header::WWW_AUTHENTICATE)
                .and_then(|v| v.to_str().ok())
                .is_some_and(|challenge| challenge.contains("insufficient_scope"));
            let message = match (self.inner.auth.credential(&call.registry).is_some(), insufficient_scope) {
                (true, true) => "the registry accepted the credentials, but they lack the permission for this",
                (true, false) => "the registry refused the credentials",
                (false, _) => "the registry needs credentials (use `wharf login` or --username/--password)",
            };
            return Error::Auth {
                registry: call.registry.clone(),
                message: message.into(),
            };
        }
        let body = read_limited(response, 64 * 1024).await.unwrap_or_default();
        let (code, message) = parse_error_body(&body);
        Error::Registry {
            method: call.method.to_string(),
            url: call.url.to_string(),
            status,
            code,
            message,
        }
    }
}

/// The HTTP client for `config`, with a registry's `certs.d` directory if given.
fn build_http(config: &ClientConfig, registry_dir: Option<&std::path::Path>) -> Result<reqwest::Client> {
    // reqwest is built without a crypto provider of its own: use ring unless the
    // application installed another process-wide (an error here means one is installed).
    let _ = rustls::crypto::ring::default_provider().install_default();
    let builder = reqwest::Client::builder()
        .user_agent(config.user_agent.clone())
        .connect_timeout(config.connect_timeout)
        // Dead peers are noticed by TCP while a long transfer is under way.
        .tcp_keepalive(Duration::from_secs(30));
    config
        .tls
        .apply(builder, registry_dir)?
        .build()
        .map_err(|e| Error::Invalid(format!("cannot build the HTTP client: {e}")))
}

fn retry_after_of(response: &reqwest::Response) -> Option<Duration> {
    response
        .headers()
        .get(http::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(parse_retry_after)
}

pub(crate) fn transport_error(method: &Method, url: &url::Url, e: &reqwest::Error) -> Error {
    let mut message = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        message.push_str(": ");
        message.push_str(&s.to_string());
        source = s.source();
    }
    if let Some(hint) = tls_hint(&message) {
        return Error::Tls {
            url: url.to_string(),
            message: format!("{message} ({hint})"),
        };
    }
    Error::Transport {
        method: method.to_string(),
        url: url.to_string(),
        message,
    }
}

/// What to do about a failed TLS handshake, if `message` (an error's whole chain) is one.
fn tls_hint(message: &str) -> Option<&'static str> {
    let lower = message.to_ascii_lowercase();
    if lower.contains("certificaterequired") || lower.contains("certificate required") {
        Some("the registry wants a client certificate: give --client-cert and --client-key, or put NAME.cert and NAME.key in its certs.d directory")
    } else if lower.contains("invalid peer certificate")
        || lower.contains("unknownissuer")
        || lower.contains("certificate verify failed")
    {
        Some("the registry's certificate is not trusted: give its CA with --ca-cert, or put it in certs.d/HOST:PORT/ca.crt; --insecure accepts any certificate")
    } else {
        None
    }
}

/// The first error's code and message from a spec error body (`{"errors":[…]}`).
fn parse_error_body(body: &[u8]) -> (Option<String>, Option<String>) {
    #[derive(serde::Deserialize)]
    struct Body {
        errors: Vec<Item>,
    }
    #[derive(serde::Deserialize)]
    struct Item {
        code: Option<String>,
        message: Option<String>,
    }
    match serde_json::from_slice::<Body>(body) {
        Ok(b) => b
            .errors
            .into_iter()
            .next()
            .map(|i| (i.code, i.message))
            .unwrap_or((None, None)),
        Err(_) => {
            let text = String::from_utf8_lossy(body)
                .trim()
                .chars()
                .take(200)
                .collect::<String>();
            (None, (!text.is_empty()).then_some(text))
        }
    }
}

/// A response body of at most `limit` bytes; more is an error, so a hostile or broken
/// server cannot make the client hold an unbounded document.
pub(crate) async fn read_limited(response: reqwest::Response, limit: usize) -> Result<Bytes> {
    use futures::StreamExt;
    let url = response.url().clone();
    if response.content_length().is_some_and(|l| l > limit as u64) {
        return Err(Error::Protocol(format!(
            "{url}: the document is larger than {limit} bytes"
        )));
    }
    let mut body = bytes::BytesMut::new();
    let mut stream = response.bytes_stream();
    while let Some(piece) = stream.next().await {
        let piece = piece.map_err(|e| transport_error(&Method::GET, &url, &e))?;
        if body.len() + piece.len() > limit {
            return Err(Error::Protocol(format!(
                "{url}: the document is larger than {limit} bytes"
            )));
        }
        body.extend_from_slice(&piece);
    }
    Ok(body.freeze())
}

pub(crate) fn header_str<'a>(response: &'a reqwest::Response, name: &str) -> Option<&'a str> {
    response.headers().get(name).and_then(|v| v.to_str().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_http_for_loopback_and_named_hosts() {
        let config = ClientConfig {
            plain_http_hosts: vec!["registry.lan:5000".into()],
            ..ClientConfig::default()
        };
        let client = Client::new(config, Credentials::new()).unwrap();
        assert_eq!(client.base_url("127.0.0.1:5000"), "http://127.0.0.1:5000");
        assert_eq!(client.base_url("localhost"), "http://localhost");
        assert_eq!(client.base_url("registry.lan:5000"), "http://registry.lan:5000");
        assert_eq!(client.base_url("ghcr.io"), "https://ghcr.io");
        assert_eq!(client.base_url("docker.io"), "https://registry-1.docker.io");
    }

    #[test]
    fn error_bodies_give_code_and_message() {
        let (c, m) = parse_error_body(br#"{"errors":[{"code":"MANIFEST_UNKNOWN","message":"no such manifest"}]}"#);
        assert_eq!(c.as_deref(), Some("MANIFEST_UNKNOWN"));
        assert_eq!(m.as_deref(), Some("no such manifest"));
        let (c, m) = parse_error_body(b"404 page not found\n");
        assert_eq!(c, None);
        assert_eq!(m.as_deref(), Some("404 page not found"));
    }
}
