//! Not implemented yet: finds nothing.

use super::{Context, Detector, DetectorKind, Hit};
use crate::normalize::Normalized;

/// The Ldap detector.
pub struct LdapInjection;

impl Detector for LdapInjection {
    fn kind(&self) -> DetectorKind {
        DetectorKind::Ldap
    }

    fn detect(&self, _value: &Normalized<'_>, _ctx: &Context<'_>) -> Option<Hit> {
        None
    }
}
