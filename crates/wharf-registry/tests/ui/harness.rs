//! A registry with the UI beside it, driven request by request (no socket), and a push
//! of small images through the API.

use axum::body::Body;
use axum::Router;
use http::{header, Method, Request, StatusCode};
use http_body_util::BodyExt;
use serde_json::{json, Value};
use sha2::{Digest as _, Sha256};
use std::sync::Arc;
use tower::ServiceExt;
use wharf_registry::auth::AccessControl;
use wharf_registry::meta::MemoryMetaStore;
use wharf_registry::storage::MemoryBlobStore;
use wharf_registry::ui::{self, UiConfig};
use wharf_registry::{Registry, RegistryConfig};

pub struct Ui {
    pub app: Router,
}

pub struct Answer {
    pub status: StatusCode,
    pub headers: http::HeaderMap,
    pub body: String,
}

impl Answer {
    /// The `wharf_ui=…` pair of the answer's Set-Cookie, to send back.
    pub fn cookie(&self) -> Option<String> {
        self.headers
            .get(header::SET_COOKIE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .map(str::to_string)
    }

    /// The value of the first `name="csrf"` hidden field.
    pub fn csrf(&self) -> String {
        let at = self.body.find("name=\"csrf\" value=\"").expect("a form with a token") + 19;
        self.body[at..at + self.body[at..].find('"').unwrap()].to_string()
    }
}

pub fn sha256(bytes: &[u8]) -> String {
    format!("sha256:{}", hex(&Sha256::digest(bytes)))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

impl Ui {
    pub fn open() -> Ui {
        Ui::new(None)
    }

    pub fn new(access: Option<AccessControl>) -> Ui {
        let registry = Arc::new(Registry::new(
            Arc::new(MemoryBlobStore::new()),
            Arc::new(MemoryMetaStore::new()),
            RegistryConfig::default(),
        ));
        Ui::over(registry, access)
    }

    pub fn over(registry: Arc<Registry>, access: Option<AccessControl>) -> Ui {
        Ui::with_config(registry, access, UiConfig::default())
    }

    /// A UI with `config` (replicas share its session key).
    pub fn with_config(registry: Arc<Registry>, access: Option<AccessControl>, config: UiConfig) -> Ui {
        let access = access.map(Arc::new);
        let api = match access.clone() {
            Some(access) => wharf_registry::router_with_shared_access(registry.clone(), access),
            None => wharf_registry::router(registry.clone()),
        };
        let app = api.merge(ui::router(registry, access, config));
        Ui { app }
    }

    pub async fn send(&self, request: Request<Body>) -> Answer {
        let response = self.app.clone().oneshot(request).await.unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let body = response.into_body().collect().await.unwrap().to_bytes();
        Answer {
            status,
            headers,
            body: String::from_utf8_lossy(&body).into_owned(),
        }
    }

    pub async fn get(&self, path: &str, cookie: Option<&str>) -> Answer {
        let mut request = Request::get(path);
        if let Some(cookie) = cookie {
            request = request.header(header::COOKIE, cookie);
        }
        self.send(request.body(Body::empty()).unwrap()).await
    }

    pub async fn post_form(&self, path: &str, cookie: Option<&str>, fields: &[(&str, &str)]) -> Answer {
        let body: String = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(fields)
            .finish();
        let mut request = Request::post(path).header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
        if let Some(cookie) = cookie {
            request = request.header(header::COOKIE, cookie);
        }
        self.send(request.body(Body::from(body)).unwrap()).await
    }

    /// `name` as a whole-blob upload through the API (admin credentials when given).
    pub async fn push_blob(&self, name: &str, bytes: &[u8], auth: Option<&str>) -> String {
        let digest = sha256(bytes);
        let mut request = Request::builder()
            .method(Method::POST)
            .uri(format!("/v2/{name}/blobs/uploads/?digest={digest}"));
        if let Some(auth) = auth {
            request = request.header(header::AUTHORIZATION, auth);
        }
        let answer = self.send(request.body(Body::from(bytes.to_vec())).unwrap()).await;
        assert_eq!(answer.status, StatusCode::CREATED, "{}", answer.body);
        digest
    }

    pub async fn push_manifest(&self, name: &str, reference: &str, manifest: &Value, auth: Option<&str>) -> String {
        let bytes = serde_json::to_vec(manifest).unwrap();
        let media_type = manifest["mediaType"].as_str().unwrap().to_string();
        let mut request =
            Request::put(format!("/v2/{name}/manifests/{reference}")).header(header::CONTENT_TYPE, media_type);
        if let Some(auth) = auth {
            request = request.header(header::AUTHORIZATION, auth);
        }
        let answer = self.send(request.body(Body::from(bytes.clone())).unwrap()).await;
        assert_eq!(answer.status, StatusCode::CREATED, "{}", answer.body);
        sha256(&bytes)
    }

    /// An image of one layer with `config` as its config and `annotations` on the
    /// manifest, tagged `tag`; its digest.
    pub async fn push_image(
        &self,
        name: &str,
        tag: &str,
        config: Value,
        annotations: Value,
        auth: Option<&str>,
    ) -> String {
        let config = serde_json::to_vec(&config).unwrap();
        let layer = format!("layer of {name}:{tag}").into_bytes();
        let config_digest = self.push_blob(name, &config, auth).await;
        let layer_digest = self.push_blob(name, &layer, auth).await;
        let manifest = json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": { "mediaType": "application/vnd.oci.image.config.v1+json", "digest": config_digest, "size": config.len() },
            "layers": [{ "mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": layer_digest, "size": layer.len() }],
            "annotations": annotations,
        });
        self.push_manifest(name, tag, &manifest, auth).await
    }

    pub async fn push_plain_image(&self, name: &str, tag: &str, auth: Option<&str>) -> String {
        let config = json!({ "architecture": "amd64", "os": "linux", "rootfs": { "type": "layers", "diff_ids": [] } });
        self.push_image(name, tag, config, json!({}), auth).await
    }
}
