//! Not implemented yet: finds nothing.

use super::{Context, Detector, DetectorKind, Hit};
use crate::normalize::Normalized;

/// The PathTraversal detector.
pub struct PathTraversal;

impl Detector for PathTraversal {
    fn kind(&self) -> DetectorKind {
        DetectorKind::PathTraversal
    }

    fn detect(&self, _value: &Normalized<'_>, _ctx: &Context<'_>) -> Option<Hit> {
        None
    }
}
