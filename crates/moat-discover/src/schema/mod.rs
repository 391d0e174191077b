//! Parameter types and JSON Schemas inferred from samples.
//!
//! - [`value`]: the scalar type of one textual value ([`ValueType`]:
//!   integer, number, boolean, UUID, email, date-time, date, IPv4, IPv6,
//!   URI or string), and how two types widen into one.

pub mod value;

pub use value::ValueType;
