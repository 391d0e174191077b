//! `moat_config::load` on the input as the text of `moat.yaml`, in a
//! folder of its own that also holds an `openapi.yaml` (so that a config
//! naming it passes the existence check), then the diagnostics rendered
//! as `moat check` prints them.
//!
//! Properties: an error always carries at least one diagnostic; every
//! diagnostic renders with its message;
//! a quoted line is a line of that file; loading the same text twice gives
//! the same diagnostics.
#![no_main]

use std::path::PathBuf;
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;

#[path = "scratch.rs"]
mod scratch;

fn folder() -> &'static PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = scratch::folder("config");
        std::fs::write(
            dir.join("openapi.yaml"),
            "openapi: 3.1.0\ninfo: {title: t, version: '1'}\npaths: {}\n",
        )
        .expect("openapi.yaml");
        dir
    })
}

fuzz_target!(|data: &[u8]| {
    let path = folder().join("moat.yaml");
    std::fs::write(&path, data).expect("moat.yaml");
    let first = moat_config::load(&path);
    let Err(diags) = &first else {
        return;
    };
    assert!(!diags.is_empty(), "an error without a diagnostic");
    let text = String::from_utf8_lossy(data);
    for d in &diags.0 {
        let shown = d.to_string();
        assert!(
            shown.contains(&d.message),
            "{shown:?} lacks {:?}",
            d.message
        );
        if let (Some(p), Some(line)) = (d.position, &d.line_text)
            && d.file == path
        {
            assert_eq!(
                (p.line as usize)
                    .checked_sub(1)
                    .and_then(|n| text.lines().nth(n)),
                Some(line.as_str())
            );
        }
    }
    let rendered = diags.to_string();
    assert!(rendered.ends_with(if diags.0.len() == 1 {
        " error"
    } else {
        " errors"
    }));
    let again = moat_config::load(&path);
    assert_eq!(again.err().as_ref(), Some(diags), "loading twice differs");
});
