//! Not implemented yet: finds nothing.

use super::{Context, Detector, DetectorKind, Hit};
use crate::normalize::Normalized;

/// The Xxe detector.
pub struct ExternalEntities;

impl Detector for ExternalEntities {
    fn kind(&self) -> DetectorKind {
        DetectorKind::Xxe
    }

    fn detect(&self, _value: &Normalized<'_>, _ctx: &Context<'_>) -> Option<Hit> {
        None
    }
}
