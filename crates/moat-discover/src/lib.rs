//! API discovery: what operations an API has, recovered from the traffic it
//! answers.
//!
//! - [`segment`]: what one path segment's value looks like (an integer, a
//!   UUID, a hex or ObjectId-like id, a date, an email, free text, or a
//!   word that may be a literal).
//! - [`template`]: observed paths → operations (method + path template),
//!   deciding per position which segments are parameters: id-like values
//!   always; words when many siblings share one shape, unless one of them
//!   stands out as its own operation (`/users/me` beside
//!   `/users/{username}`).
//! - [`drift`]: discovered operations against the API's document: shadow,
//!   zombie, orphan, matched with the gateway's own operation table.
//! - [`openapi`]: an OpenAPI 3.1 document of what was found, as YAML moat
//!   loads.
//! - [`inventory`]: everything found, as one serialisable value (the
//!   `--format json` output); [`report`] renders it as Markdown or HTML.
//! - [`profile`]: per operation, query parameters, JSON bodies by status
//!   and sensitive data, learned in a second pass over the traffic.
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

pub mod drift;
pub mod input;
pub mod inventory;
pub mod openapi;
pub mod profile;
pub mod report;
pub mod schema;
pub mod segment;
pub mod sensitive;
pub mod template;

pub use drift::{Drift, Judged, Standing, compare};
pub use schema::{ParamStats, SchemaBuilder, ValueType};
pub use segment::SegmentKind;
pub use sensitive::{Findings, SensitiveKind};
pub use template::{DiscoveredOperation, Part, Templater};
