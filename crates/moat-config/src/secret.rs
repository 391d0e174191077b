//! Secrets in config: referenced, never written inline in logs or debug output.
//!
//! A config value may say `${env:NAME}` (an environment variable) or
//! `${file:PATH}` (a file's content, trailing newline removed; relative paths
//! are resolved from the config file's directory). `$${` writes a literal `${`.

use std::fmt;
use std::path::Path;

use serde::Deserialize;
use serde_json::Value;
use zeroize::Zeroizing;

use crate::diagnostic::Diagnostics;
use crate::source::{Document, push_pointer};

/// A secret value: its `Debug` and `Display` never show the content, and
/// its memory is zeroed when it is dropped (`zeroize`).
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(Zeroizing<String>);

impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d).map(Secret::new)
    }
}

impl Secret {
    /// Wraps a secret value.
    pub fn new(value: impl Into<String>) -> Self {
        Self(Zeroizing::new(value.into()))
    }

    /// The secret itself; call only where it is used, never to log it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// Replaces every `${env:…}` and `${file:…}` in the string values of `doc`,
/// reporting each one that cannot be resolved at its position.
pub fn resolve_references(doc: &mut Document, base_dir: &Path) -> Result<(), Diagnostics> {
    resolve_references_under(doc, base_dir, "")
}

/// [`resolve_references`] for the part of `doc` at `root` (a JSON pointer)
/// only: the rest of the document is left as written, and references there
/// need not resolve.
pub fn resolve_references_under(
    doc: &mut Document,
    base_dir: &Path,
    root: &str,
) -> Result<(), Diagnostics> {
    let mut errors = Diagnostics::default();
    let mut value = std::mem::take(&mut doc.value);
    if let Some(part) = value.pointer_mut(root) {
        let mut pointer = root.to_string();
        walk(
            part,
            &mut pointer,
            &mut |s, ptr| match interpolate(s, base_dir) {
                Ok(Some(new)) => *s = new,
                Ok(None) => {}
                Err((message, hint)) => errors.push(doc.error_at(ptr, message).with_hint(hint)),
            },
        );
    }
    doc.value = value;
    errors.into_result(())
}

fn walk(value: &mut Value, pointer: &mut String, f: &mut impl FnMut(&mut String, &str)) {
    match value {
        Value::String(s) => f(s, pointer),
        Value::Array(items) => {
            for (i, item) in items.iter_mut().enumerate() {
                let len = pointer.len();
                push_pointer(pointer, &i.to_string());
                walk(item, pointer, f);
                pointer.truncate(len);
            }
        }
        Value::Object(map) => {
            for (k, v) in map.iter_mut() {
                let len = pointer.len();
                push_pointer(pointer, k);
                walk(v, pointer, f);
                pointer.truncate(len);
            }
        }
        _ => {}
    }
}

type InterpolationError = (String, &'static str);

/// `Ok(None)` when the string holds no reference (the common case: no copy).
fn interpolate(s: &str, base_dir: &Path) -> Result<Option<String>, InterpolationError> {
    if !s.contains("${") {
        return Ok(None);
    }
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find("${") {
        if rest[..i].ends_with('$') {
            // `$${` is an escaped literal `${`
            out.push_str(&rest[..i - 1]);
            out.push_str("${");
            rest = &rest[i + 2..];
            continue;
        }
        out.push_str(&rest[..i]);
        let after = &rest[i + 2..];
        let Some(end) = after.find('}') else {
            return Err((
                "unterminated `${` reference".into(),
                "write `${env:NAME}` or `${file:PATH}`; use `$${` for a literal `${`",
            ));
        };
        let reference = &after[..end];
        out.push_str(&resolve(reference, base_dir)?);
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(Some(out))
}

fn resolve(reference: &str, base_dir: &Path) -> Result<String, InterpolationError> {
    if let Some(name) = reference.strip_prefix("env:") {
        return std::env::var(name).map_err(|_| {
            (
                format!("environment variable `{name}` is not set (or not UTF-8)"),
                "set it in moat's environment, or reference a file with `${file:PATH}`",
            )
        });
    }
    if let Some(path) = reference.strip_prefix("file:") {
        let full = base_dir.join(path);
        return read_secret_file(&full).map_err(|e| {
            (
                format!("cannot read secret file `{}`: {e}", full.display()),
                "relative paths are resolved from the config file's directory",
            )
        });
    }
    Err((
        format!("unknown reference `${{{reference}}}`"),
        "references are `${env:NAME}` or `${file:PATH}`; use `$${` for a literal `${`",
    ))
}

/// The most a `${file:…}` reference reads: a secret (a key, a token, a
/// password, a PEM bundle) is far smaller, and a path such as `/dev/zero`
/// or a log file named by mistake must not be read into memory forever.
pub const MAX_SECRET_FILE_BYTES: u64 = 1 << 20;

/// `path`'s text, trailing newlines removed; at most
/// [`MAX_SECRET_FILE_BYTES`].
fn read_secret_file(path: &Path) -> std::io::Result<String> {
    use std::io::Read;
    let mut bytes = Vec::new();
    std::fs::File::open(path)?
        .take(MAX_SECRET_FILE_BYTES + 1)
        .read_to_end(&mut bytes)?;
    if bytes.len() as u64 > MAX_SECRET_FILE_BYTES {
        return Err(std::io::Error::other(format!(
            "larger than {} KiB, too large for a secret",
            MAX_SECRET_FILE_BYTES / 1024
        )));
    }
    let text = String::from_utf8(bytes)
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::InvalidData, "not UTF-8 text"))?;
    Ok(text.trim_end_matches(['\n', '\r']).to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_secret_file_is_read_up_to_a_bound() {
        let dir = tempfile::tempdir().unwrap();
        let err = interpolate("${file:/dev/zero}", dir.path()).unwrap_err();
        assert!(err.0.contains("too large for a secret"), "{}", err.0);
        std::fs::write(dir.path().join("bin"), [0xff, 0xfe]).unwrap();
        let err = interpolate("${file:bin}", dir.path()).unwrap_err();
        assert!(err.0.contains("not UTF-8"), "{}", err.0);
    }

    #[test]
    fn env_file_and_escape() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("tok"), "s3cret\n").unwrap();
        let path = std::env::var("PATH").unwrap();
        assert_eq!(
            interpolate("x${env:PATH}y", dir.path()).unwrap(),
            Some(format!("x{path}y"))
        );
        assert_eq!(
            interpolate("${file:tok}", dir.path()).unwrap(),
            Some("s3cret".into())
        );
        assert_eq!(
            interpolate("$${env:X}", dir.path()).unwrap(),
            Some("${env:X}".into())
        );
        assert_eq!(interpolate("plain", dir.path()).unwrap(), None);
        assert!(interpolate("${env:MOAT_TEST_UNSET_VAR}", dir.path()).is_err());
        assert!(interpolate("${vault:x}", dir.path()).is_err());
        assert!(interpolate("${env:X", dir.path()).is_err());
    }

    #[test]
    fn debug_never_shows_the_value() {
        let s = Secret::new("hunter2");
        assert_eq!(format!("{s:?} {s}"), "Secret(***) ***");
    }
}
