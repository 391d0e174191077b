//! The console's files, embedded in the binary (placeholder until the
//! console lands).

/// Headers for every console file.
pub(crate) const HEADERS: &[(&str, &str)] = &[
    (
        "content-security-policy",
        "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; connect-src 'self'; frame-ancestors 'none'",
    ),
    ("x-content-type-options", "nosniff"),
    ("referrer-policy", "no-referrer"),
];

/// The file at `path` (relative to `console/`): its content type and bytes.
pub(crate) fn asset(_path: &str) -> Option<(&'static str, &'static [u8])> {
    None
}
