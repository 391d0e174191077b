//! Not implemented yet: finds nothing.

use super::{Context, Detector, DetectorKind, Hit};
use crate::normalize::Normalized;

/// The Jndi detector.
pub struct JndiLookup;

impl Detector for JndiLookup {
    fn kind(&self) -> DetectorKind {
        DetectorKind::Jndi
    }

    fn detect(&self, _value: &Normalized<'_>, _ctx: &Context<'_>) -> Option<Hit> {
        None
    }
}
