//! The registry's router as hyper's service for one connection: each request carries
//! the client's address (for the login throttle, as axum's `ConnectInfo`) and counts as
//! in progress on the connection until its response body is done. On a TLS connection
//! whose client certificate was verified, each request also carries its subject
//! ([`VerifiedClientCertificate`]), which the access control may sign in.

use super::activity::{Activity, InProgress};
use axum::body::{Body, Bytes};
use axum::extract::ConnectInfo;
use http_body::{Frame, SizeHint};
use hyper::body::Incoming;
use hyper::{Request, Response};
use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use wharf_registry::auth::client_cert::VerifiedClientCertificate;

#[derive(Clone)]
pub struct Tracked {
    pub app: axum::Router,
    pub remote: SocketAddr,
    pub client: Option<VerifiedClientCertificate>,
    pub activity: Arc<Activity>,
}

type Answer = Pin<Box<dyn Future<Output = Result<Response<TrackedBody>, Infallible>> + Send>>;

impl hyper::service::Service<Request<Incoming>> for Tracked {
    type Response = Response<TrackedBody>;
    type Error = Infallible;
    type Future = Answer;

    fn call(&self, request: Request<Incoming>) -> Answer {
        let in_progress = self.activity.begin();
        let mut request = request.map(Body::new);
        request.extensions_mut().insert(ConnectInfo(self.remote));
        if let Some(client) = &self.client {
            request.extensions_mut().insert(client.clone());
        }
        // A router is always ready, so it is called without `poll_ready`.
        let response = tower::Service::call(&mut self.app.clone(), request);
        Box::pin(async move {
            let response = response.await?;
            Ok(response.map(|body| TrackedBody {
                body,
                _in_progress: in_progress,
            }))
        })
    }
}

/// A response body that keeps its request in progress until hyper has sent or dropped it.
pub struct TrackedBody {
    body: Body,
    _in_progress: InProgress,
}

impl http_body::Body for TrackedBody {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        Pin::new(&mut self.body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}
