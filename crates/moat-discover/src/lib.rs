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
//!
//! Paths are read with the gateway's own canonical-path parser, so
//! discovery sees exactly the segments the gateway routes on.
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used))]

pub mod segment;
pub mod sensitive;
pub mod template;

pub use segment::SegmentKind;
pub use sensitive::{Findings, SensitiveKind};
pub use template::{DiscoveredOperation, Part, Templater};
