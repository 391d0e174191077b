//! API discovery: what operations an API has, recovered from the traffic it
//! answers.
//!
//! - [`segment`]: what one path segment's value looks like (an integer, a
//!   UUID, a hex or ObjectId-like id, a date, an email, free text, or a
//!   word that may be a literal).
//! - [`template`]: observed paths → operations (method + path template),
//!   deciding per position which segments are parameters: id-like values
//!   always; words beside free text, when many siblings are each seen
//!   rarely, when they lead on to the same word, or below a plural
//!   collection name, unless one of them is its own operation (`/users/me`
//!   beside `/users/{username}`).
//! - [`auth`]: the security schemes requests carried (bearer JWTs with
//!   their algorithm and claim names, opaque bearer tokens, basic, API keys
//!   in headers, query parameters and cookies, none), per operation and
//!   over the API.
//! - [`headers`]: which request headers are API parameters rather than
//!   HTTP's, browsers', proxies' or tracing's own.
//! - [`drift`]: discovered operations against the API's document: shadow,
//!   zombie (deprecated, or an older version still used), orphan, matched
//!   with the gateway's own operation table.
//! - [`version`]: version segments in paths (`v1`, `v1.1`, `2023-10-01`),
//!   and the operations used in an older version beside a newer one.
//! - [`openapi`]: an OpenAPI 3.1 document of what was found, as YAML moat
//!   loads.
//! - [`inventory`]: everything found, as one serialisable value (the
//!   `--format json` output); [`report`] renders it as Markdown or HTML.
//! - [`profile`]: per operation, query, header and cookie parameters,
//!   the security schemes seen, JSON bodies by status and sensitive data,
//!   learned in a second pass over the traffic.
//! - [`schema_drift`]: per documented operation, what its traffic has
//!   that its document does not: parameters, request-body properties
//!   (mass assignment), answer fields (excessive data exposure).
//! - [`risk`]: a risk score per operation (0–100) and the typed factors
//!   that explain it, from a plain input both discovery and the gateway
//!   fill.
//! - [`input`]: traffic read as a stream of samples, with bounded memory:
//!   HAR files and JSON-lines logs.
//! - [`schema`]: parameter types and JSON schemas inferred from samples,
//!   merged, with caps, keeping no values but short enum words.
//! - [`sensitive`]: sensitive data (emails, cards, IBANs, tokens, keys,
//!   passwords, …) found in requests and answers, counted by location and
//!   kind, never kept.
//!
//! Paths are read with the gateway's own canonical-path parser, so
//! discovery sees exactly the segments the gateway routes on.
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used))]

pub mod auth;
pub mod drift;
pub mod headers;
pub mod input;
pub mod inventory;
pub mod openapi;
pub mod profile;
pub mod report;
pub mod risk;
pub mod schema;
pub mod schema_drift;
pub mod segment;
pub mod sensitive;
pub mod template;
pub mod version;

pub use drift::{Drift, Judged, Standing, ZombieReason, compare, version_zombies};
pub use schema::{ParamStats, SchemaBuilder, ValueType};
pub use segment::SegmentKind;
pub use sensitive::{Findings, SensitiveKind};
pub use template::{DiscoveredOperation, Part, Templater};
