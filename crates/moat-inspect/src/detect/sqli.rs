//! Not implemented yet: finds nothing.

use super::{Context, Detector, DetectorKind, Hit};
use crate::normalize::Normalized;

/// The Sqli detector.
pub struct SqlInjection;

impl Detector for SqlInjection {
    fn kind(&self) -> DetectorKind {
        DetectorKind::Sqli
    }

    fn detect(&self, _value: &Normalized<'_>, _ctx: &Context<'_>) -> Option<Hit> {
        None
    }
}
