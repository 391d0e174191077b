//! Parameter types and JSON Schemas inferred from samples.
//!
//! - [`value`]: the scalar type of one textual value ([`ValueType`]:
//!   integer, number, boolean, UUID, email, date-time, date, IPv4, IPv6,
//!   URI or string), and how two types widen into one.
//! - [`param`]: a query, header, cookie or path parameter over an
//!   operation's requests ([`ParamStats`]): the type all its values
//!   share, whether every request had it, its enumeration.
//! - [`json`]: JSON bodies merged into one JSON Schema 2020-12
//!   ([`SchemaBuilder`]), bounded whatever the input.
//! - [`enums`]: when values are an enumeration, the only raw values kept.
//!
//! Nothing here keeps a raw value, except the few short words of an
//! enumeration: no examples, no defaults.

pub mod enums;
pub mod json;
pub mod param;
pub mod value;

pub use json::{FieldStep, SchemaBuilder, field_pointer};
pub use param::{ParamStats, ParamSummary};
pub use value::ValueType;

#[cfg(test)]
mod tests;
