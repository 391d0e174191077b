//! Not implemented yet: finds nothing.

use super::{Context, Detector, DetectorKind, Hit};
use crate::normalize::Normalized;

/// The Ssti detector.
pub struct TemplateInjection;

impl Detector for TemplateInjection {
    fn kind(&self) -> DetectorKind {
        DetectorKind::Ssti
    }

    fn detect(&self, _value: &Normalized<'_>, _ctx: &Context<'_>) -> Option<Hit> {
        None
    }
}
