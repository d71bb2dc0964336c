//! Access control over real TCP: Basic logins, wharf's own tokens, tokens of an external
//! issuer, an embedding application's own authenticator and authorizer, and one test per
//! way a request can be refused.
//!
//! `fixtures/` holds keys and a certificate made with openssl for these tests only.

mod harness;

mod basic;
mod embed;
mod external;
mod refresh;
mod tokens;
