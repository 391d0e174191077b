//! Not implemented yet: finds nothing.

use super::{Context, Detector, DetectorKind, Hit};
use crate::normalize::Normalized;

/// The Ssrf detector.
pub struct Ssrf;

impl Detector for Ssrf {
    fn kind(&self) -> DetectorKind {
        DetectorKind::Ssrf
    }

    fn detect(&self, _value: &Normalized<'_>, _ctx: &Context<'_>) -> Option<Hit> {
        None
    }
}
