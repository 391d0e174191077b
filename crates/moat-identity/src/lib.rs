//! moat's credential verifiers that need I/O: JWTs ([`jwt`]), whose keys may
//! come from a JWKS URL or OIDC discovery, and opaque tokens checked at an
//! OAuth2 introspection endpoint ([`introspection`]).
//!
//! The guards stay pure: the gateway calls these verifiers while
//! identifying a request and hands the outcome (a verified token or an
//! error saying whether the client or the provider is at fault) to the
//! guards. Verifiers own their caches and
//! their network fetches, with timeouts, size caps and rate limits, so a
//! client cannot make moat hammer an identity provider.
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used))]

pub mod http;
pub mod introspection;
mod json;
pub mod jwt;
pub mod trust;
