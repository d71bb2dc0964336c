//! wharf-client: an async client for the OCI Distribution API, for wharf and for any
//! other conformant registry.
//!
//! Every blob and manifest it moves is streamed (never held whole in memory unless it
//! is a manifest) and verified against its digest; transient failures are retried with
//! backoff; interrupted transfers resume where the server says they stopped.
pub mod layout;
