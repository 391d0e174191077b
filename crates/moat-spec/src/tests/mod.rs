//! Tests that load small specs written to a temporary directory.

mod loading;
mod matching;
mod references;
mod security;

use std::path::PathBuf;

use moat_config::diagnostic::{Diagnostic, Diagnostics, Position};

use crate::{ApiSpec, load};

/// A temporary directory of spec files.
pub(crate) struct Files {
    dir: tempfile::TempDir,
}

impl Files {
    pub(crate) fn new() -> Self {
        Self {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    pub(crate) fn write(&self, name: &str, text: &str) -> PathBuf {
        let path = self.dir.path().join(name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).unwrap();
        }
        std::fs::write(&path, text).unwrap();
        path
    }
}

/// Loads a single-file spec that must be valid.
pub(crate) fn spec(text: &str) -> ApiSpec {
    let files = Files::new();
    let path = files.write("openapi.yaml", text);
    match load(&path) {
        Ok(spec) => spec,
        Err(e) => panic!("expected the spec to load:\n{e}"),
    }
}

/// Loads a single-file spec that must fail.
pub(crate) fn errors(text: &str) -> Diagnostics {
    let files = Files::new();
    let path = files.write("openapi.yaml", text);
    match load(&path) {
        Ok(spec) => panic!("expected errors, got {} operations", spec.operations.len()),
        Err(e) => e,
    }
}

/// The only diagnostic, checked to be the only one.
pub(crate) fn only(diags: &Diagnostics) -> &Diagnostic {
    assert_eq!(diags.0.len(), 1, "expected one diagnostic:\n{diags}");
    &diags.0[0]
}

pub(crate) fn at(line: u32, column: u32) -> Option<Position> {
    Some(Position::new(line, column))
}

/// A minimal valid document around some `paths` and `components` text.
pub(crate) const HEADER: &str = "openapi: 3.0.3\ninfo: {title: T, version: '1'}\n";
