//! What a running scan tells whoever watches it: the terminal view, or
//! nothing.

use crate::finding::Finding;

/// Told of each step of a scan. Every method has a default that does
/// nothing.
pub trait Observer: Send + Sync {
    /// A phase began: `identities`, `harvest`, or a check's name, as the
    /// `index`th of `total`.
    fn phase(&self, _name: &str, _index: usize, _total: usize) {}
    /// A request was sent; `sent` in the whole scan so far.
    fn request(&self, _sent: u64) {}
    /// A finding was made.
    fn finding(&self, _finding: &Finding) {}
    /// The scan is over.
    fn done(&self) {}
}

/// Watches nothing.
pub struct Silent;

impl Observer for Silent {}
