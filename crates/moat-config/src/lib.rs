//! moat's configuration: the model, loading with positions, secrets and
//! diagnostics.
//!
//! Everything a user writes is read through [`source::Document`], so that any
//! problem — a YAML syntax error, an unknown key, a missing file, a bad value —
//! is reported as a [`diagnostic::Diagnostic`] with the file, line, column and
//! a hint.
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used))]

pub mod anomaly;
pub mod diagnostic;
pub mod discovery;
pub mod limit_key;
pub mod load;
pub mod model;
pub mod secret;
pub mod source;

pub use anomaly::{
    AnomalyConfig, AnomalyConfigError, CredentialStuffingConfig, EnumerationConfig,
    ErrorStormConfig, ScrapingConfig,
};
pub use diagnostic::{Diagnostic, Diagnostics, Position, Severity};
pub use discovery::{CaptureConfig, DiscoveryConfig};
pub use limit_key::{LimitKey, LimitStage};
pub use load::{LoadedConfig, deserialize_at, load, load_state};
pub use model::*;
pub use secret::Secret;
