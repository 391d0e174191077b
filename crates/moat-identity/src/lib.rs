//! moat's credential verifiers that need I/O: today JWTs, whose keys may
//! come from a JWKS URL or OIDC discovery.
//!
//! The guards stay pure: the gateway calls these verifiers while
//! identifying a request and hands the outcome (a [`jwt::VerifiedToken`]
//! or a [`jwt::JwtError`]) to the guards. Verifiers own their caches and
//! their network fetches, with timeouts, size caps and rate limits, so a
//! client cannot make moat hammer an identity provider.
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used))]

pub mod introspection;
pub mod jwt;
