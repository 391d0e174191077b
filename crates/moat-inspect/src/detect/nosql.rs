//! Not implemented yet: finds nothing.

use super::{Context, Detector, DetectorKind, Hit};
use crate::normalize::Normalized;

/// The NoSql detector.
pub struct NoSqlInjection;

impl Detector for NoSqlInjection {
    fn kind(&self) -> DetectorKind {
        DetectorKind::NoSql
    }

    fn detect(&self, _value: &Normalized<'_>, _ctx: &Context<'_>) -> Option<Hit> {
        None
    }
}
