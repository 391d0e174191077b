//! Not implemented yet: finds nothing.

use super::{Context, Detector, DetectorKind, Hit};
use crate::normalize::Normalized;

/// The Crlf detector.
pub struct CrlfInjection;

impl Detector for CrlfInjection {
    fn kind(&self) -> DetectorKind {
        DetectorKind::Crlf
    }

    fn detect(&self, _value: &Normalized<'_>, _ctx: &Context<'_>) -> Option<Hit> {
        None
    }
}
