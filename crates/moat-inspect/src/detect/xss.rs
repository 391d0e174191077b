//! Not implemented yet: finds nothing.

use super::{Context, Detector, DetectorKind, Hit};
use crate::normalize::Normalized;

/// The Xss detector.
pub struct CrossSiteScripting;

impl Detector for CrossSiteScripting {
    fn kind(&self) -> DetectorKind {
        DetectorKind::Xss
    }

    fn detect(&self, _value: &Normalized<'_>, _ctx: &Context<'_>) -> Option<Hit> {
        None
    }
}
