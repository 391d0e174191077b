//! Not implemented yet: finds nothing.

use super::{Context, Detector, DetectorKind, Hit};
use crate::normalize::Normalized;

/// The CommandInjection detector.
pub struct CommandInjection;

impl Detector for CommandInjection {
    fn kind(&self) -> DetectorKind {
        DetectorKind::CommandInjection
    }

    fn detect(&self, _value: &Normalized<'_>, _ctx: &Context<'_>) -> Option<Hit> {
        None
    }
}
