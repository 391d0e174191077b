//! moat's attack detection engine: pure Rust, no I/O, no backtracking
//! regular expressions, linear in the size of its input.
//!
//! A request is taken apart by the caller (the gateway) into *values*, each
//! with a [`Location`] (`query:q`, `body:/items/0/note`, `header:referer`)
//! and a [`ValueKind`]. Each value is [normalised](normalize) into a few
//! bounded views (URL-decoded, entity-decoded, folded), and every enabled
//! [`Detector`](detect::Detector) looks at the views it cares about. A hit
//! carries a [`Severity`] and the lowest paranoia level at which it counts;
//! the [`Report`] adds up the scores of the hits that count at the
//! configured level (a hit from level 2 or above counts as critical once
//! the level reaches it: [`detect::Hit::counted_at`]), and the caller
//! blocks at the threshold.
//!
//! ```
//! use moat_inspect::{Inspector, InspectOptions, Location, ValueKind, Hints, Report};
//!
//! let inspector = Inspector::new(InspectOptions::default());
//! let mut report = Report::default();
//! inspector.inspect_value(
//!     &Location::query("id"),
//!     "1' OR '1'='1",
//!     ValueKind::Query,
//!     &Hints::default(),
//!     &mut report,
//! );
//! assert!(report.score() >= inspector.options().threshold);
//! ```
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used))]

pub mod base64;
pub mod detect;
mod engine;
pub mod graphql;
pub mod normalize;
mod report;
mod request;
mod seen;
pub mod tools;
pub mod xml;

pub use detect::DetectorKind;
pub use engine::{Hints, InspectOptions, Inspector};
pub use report::{Finding, Location, Report, Severity, ValueKind, snippet};
pub use request::{
    HeaderSelection, HintSource, NoHints, RawRequest, RequestParts, TRANSPORT_HEADERS,
};
pub use tools::ToolAction;
