//! Test support shared by the integration tests and the benches.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

pub mod har;
