//! Every config key is documented: each public field of the config model
//! must appear as a key in docs/configuration.md.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[test]
fn every_config_key_is_in_the_reference() {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");
    let model = std::fs::read_to_string(format!("{root}/crates/moat-config/src/model.rs")).unwrap();
    let docs = std::fs::read_to_string(format!("{root}/docs/configuration.md")).unwrap();
    let mut missing = Vec::new();
    let mut seen = 0;
    for line in model.lines() {
        let Some(rest) = line.trim().strip_prefix("pub ") else {
            continue;
        };
        let Some((name, _)) = rest.split_once(':') else {
            continue;
        };
        if name.contains(' ') || name.contains('(') {
            continue; // `pub fn`, `pub struct`, …
        }
        seen += 1;
        let as_key = format!("`{name}`");
        let as_path = format!(".{name}`");
        if !docs.contains(&as_key) && !docs.contains(&as_path) {
            missing.push(name.to_string());
        }
    }
    assert!(seen > 30, "the model parse found only {seen} fields");
    assert!(missing.is_empty(), "undocumented config keys: {missing:?}");
}
