//! Security schemes seen in traffic: which credential each request
//! carried, tallied per operation and over the API.
//!
//! - [`credential`]: one request's credentials: `Authorization: Bearer`
//!   (a JWT or an opaque token), `Basic` or another scheme word; API keys
//!   in headers, query parameters and cookies (session cookies included),
//!   found by name or, for any other name, by the sensitive-data
//!   detection's JWT, service-key and secret rules.
//! - [`jwt`]: a JWT's algorithm and claim names, decoded without checking
//!   the signature; claim values are never read out.
//! - [`seen`]: per operation, how many requests carried each scheme or
//!   none ([`AuthSeen`], always / sometimes / never authenticated); over
//!   the API, the schemes with their JWTs' algorithms and claim names
//!   ([`SchemesSeen`]).
//! - [`openapi`]: `components.securitySchemes` and each operation's
//!   `security`.
//!
//! No credential is kept: schemes are named by where they were sent
//! (header, parameter or cookie name), and JWTs by algorithm and claim
//! names, all capped.

pub mod credential;
pub mod jwt;
pub mod openapi;
pub mod seen;

#[cfg(test)]
mod tests;

pub use credential::{Credential, KeyLocation, Scheme, credentials};
pub use jwt::{JwtInfo, JwtSeen};
pub use seen::{AuthPresence, AuthSeen, SchemeSeen, SchemesSeen};
