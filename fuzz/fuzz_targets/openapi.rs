//! `moat_spec::load` on up to four documents: the input split at NUL
//! bytes is `openapi.yaml` (the document loaded), then `a.yaml`, `b.yaml`
//! and `c.yaml` beside it, which its `$ref`s may name (`a.yaml#/x`); a
//! document the input does not hold is absent, so references to missing
//! files are exercised too. A loaded spec is then indexed into the
//! gateway's operation table.
//!
//! Properties: an error always carries at least one diagnostic, and every
//! diagnostic renders with its message; every operation of a loaded spec
//! has an id, and the table keeps the spec's operations.
#![no_main]

use std::path::PathBuf;
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use moat_spec::OperationTable;

#[path = "scratch.rs"]
mod scratch;

const NAMES: [&str; 4] = ["openapi.yaml", "a.yaml", "b.yaml", "c.yaml"];

fn folder() -> &'static PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| scratch::folder("openapi"))
}

fuzz_target!(|data: &[u8]| {
    let dir = folder();
    let mut docs = data.split(|&b| b == 0);
    for name in NAMES {
        let path = dir.join(name);
        match docs.next() {
            Some(text) => std::fs::write(&path, text).expect("a document"),
            None => match std::fs::remove_file(&path) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => panic!("cannot remove {}: {e}", path.display()),
            },
        }
    }
    match moat_spec::load(&dir.join(NAMES[0])) {
        Ok(spec) => {
            let count = spec.operations.len();
            for op in &spec.operations {
                assert!(!op.id().is_empty(), "an operation without an id");
            }
            let table = OperationTable::new(spec);
            assert_eq!(table.spec().operations.len(), count);
        }
        Err(diags) => {
            assert!(!diags.is_empty(), "an error without a diagnostic");
            for d in &diags.0 {
                let shown = d.to_string();
                assert!(
                    shown.contains(&d.message),
                    "{shown:?} lacks {:?}",
                    d.message
                );
            }
            let _ = diags.to_string();
        }
    }
});
