//! The configuration reference (docs/configuration.md) against the config
//! model as `moat check` reads it: every key the model accepts is
//! documented, and every documented key is accepted. The model is asked
//! through the real loader: an unknown key placed in a section makes
//! `moat check` list the section's valid keys, so the test cannot drift
//! from the code.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Value, json};
use support::*;

/// The config path a heading's table is relative to (`None`: not a table
/// of config keys).
fn base_of(heading: &str) -> Option<&'static str> {
    let h = heading.trim_start_matches('#').trim();
    Some(match h {
        "Top level" => "",
        "`listeners`" => "listeners[]",
        "`listeners[].tls`" => "listeners[].tls",
        "`admin`" => "admin",
        "`upstreams`" => "upstreams.*",
        "`apis`" => "apis[]",
        "`consumers`" => "consumers[]",
        "`identity`" => "identity",
        "`lockout`" => "lockout",
        "anomaly" | "`state` and `keys`" => "",
        "`rate_limiting`" => "rate_limiting",
        "`proxy`" => "proxy",
        "`access_log`" => "access_log",
        "`reload`" => "reload",
        "`shutdown`" => "shutdown",
        "`events`" => "events",
        "`discovery`" => "discovery",
        "`outbound`" => "outbound",
        // Tables of verifier types, grant syntax, log fields and metrics.
        _ => return None,
    })
}

fn join(base: &str, key: &str) -> String {
    if base.is_empty() {
        key.to_string()
    } else {
        format!("{base}.{key}")
    }
}

/// Every documented key (full path, `[]` for list items, `*` for map
/// entries), with its type column.
fn documented() -> BTreeMap<String, String> {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../docs/configuration.md"
    ))
    .unwrap();
    let mut keys = BTreeMap::new();
    let mut base = None;
    for line in text.lines() {
        if line.starts_with('#') {
            base = base_of(line);
            continue;
        }
        let Some(base) = base else { continue };
        let Some(row) = line.strip_prefix("| `") else {
            continue;
        };
        let Some((key, rest)) = row.split_once('`') else {
            continue;
        };
        let kind = rest
            .split('|')
            .nth(1)
            .unwrap_or_default()
            .trim()
            .to_string();
        keys.insert(join(base, key), kind);
    }
    keys
}

/// A minimal valid config, as JSON (which YAML reads).
fn base_config() -> Value {
    json!({
        "listeners": [{"bind": "127.0.0.1:0"}],
        "admin": {"bind": "127.0.0.1:0", "token": ADMIN_TOKEN},
        "upstreams": {"u": {"targets": ["http://127.0.0.1:9"]}},
        "apis": [{"name": "a", "spec": "spec.yaml", "upstream": "u"}],
        "consumers": [{"id": "c"}],
        "reload": {"watch": false}
    })
}

/// The config with `{zz_probe: 1}` merged into the map at `path`.
fn probed(path: &str) -> Value {
    let mut root = base_config();
    let mut at = &mut root;
    for seg in path.split('.').filter(|s| !s.is_empty()) {
        let (name, item) = match seg.strip_suffix("[]") {
            Some(n) => (n, true),
            None => (seg, false),
        };
        at = if name == "*" {
            let obj = at.as_object_mut().unwrap();
            if obj.is_empty() {
                obj.insert("entry".into(), json!({}));
            }
            obj.values_mut().next().unwrap()
        } else {
            let obj = at.as_object_mut().unwrap();
            let default = if item { json!([{}]) } else { json!({}) };
            obj.entry(name).or_insert(default)
        };
        if item {
            at = at.as_array_mut().unwrap().get_mut(0).unwrap();
        }
    }
    at.as_object_mut()
        .unwrap()
        .insert("zz_probe".into(), json!(1));
    root
}

/// The keys `moat check` says are valid in the map at `path`.
fn model_keys(path: &str) -> Result<BTreeSet<String>, String> {
    let dir = tempdir();
    write(dir.path(), "spec.yaml", ECHO_SPEC);
    write(dir.path(), "moat.yaml", &probed(path).to_string());
    let out = std::process::Command::new(MOAT)
        .args(["check", "--config"])
        .arg(dir.path().join("moat.yaml"))
        .output()
        .unwrap();
    if out.status.success() {
        return Err(format!("`{path}` accepts an unknown key"));
    }
    let err = String::from_utf8_lossy(&out.stderr);
    let hint = err
        .lines()
        .find_map(|l| l.trim().strip_prefix("hint: valid keys here: "))
        .ok_or_else(|| format!("no list of valid keys for `{path}`:\n{err}"))?;
    Ok(hint.split(", ").map(str::to_string).collect())
}

#[test]
fn the_reference_documents_exactly_the_keys_of_the_model() {
    let docs = documented();
    // Every map the reference documents, and the list items and map
    // entries its tables are about.
    let mut sections: BTreeSet<String> = [
        "",
        "listeners[]",
        "upstreams.*",
        "apis[]",
        "consumers[]",
        "apis[].request_limits.operations.*",
        "events.webhooks[]",
    ]
    .into_iter()
    .map(str::to_string)
    .collect();
    for (key, kind) in &docs {
        if kind == "map" {
            sections.insert(key.clone());
        }
    }
    // The reference is read, not skipped: it documents well over a hundred
    // keys in a few dozen maps.
    assert!(
        docs.len() > 150,
        "only {} documented keys found",
        docs.len()
    );
    assert!(sections.len() > 20, "only {} sections", sections.len());
    let mut problems = Vec::new();
    for section in &sections {
        let model = match model_keys(section) {
            Ok(m) => m,
            Err(e) => {
                problems.push(e);
                continue;
            }
        };
        for key in &model {
            let plain = join(section, key);
            let items = format!("{plain}[]");
            if !docs.contains_key(&plain) && !docs.contains_key(&items) {
                problems.push(format!("`{plain}` is in the model but not documented"));
            }
        }
        let prefix = if section.is_empty() {
            String::new()
        } else {
            format!("{section}.")
        };
        for doc_key in docs.keys() {
            let Some(rest) = doc_key.strip_prefix(&prefix) else {
                continue;
            };
            let head = rest.trim_end_matches("[]");
            if !head.contains('.') && !head.contains("[]") && !model.contains(head) {
                problems.push(format!("`{doc_key}` is documented but not in the model"));
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[tokio::test]
async fn every_access_log_field_is_documented() {
    let up = upstream(None).await;
    let dir = tempdir();
    write(dir.path(), "spec.yaml", ECHO_SPEC);
    write(dir.path(), "moat.yaml", &config(&up.url(), ""));
    let moat = Moat::start(dir.path());
    assert_eq!(get_status(&client(), moat.url("/items")).await, 200);
    let line = moat.wait_log(|l| l["operation"] == "listItems").await;
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../docs/configuration.md"
    ))
    .unwrap();
    let section = text.split("## `access_log`").nth(1).unwrap();
    let fields = section
        .split("\nFields: ")
        .nth(1)
        .and_then(|rest| rest.split("\n\n").next())
        .unwrap();
    let logged = line.as_object().unwrap();
    assert!(logged.contains_key("consumer"), "{line}");
    for key in logged.keys() {
        assert!(
            fields.contains(&format!("`{key}`")),
            "access-log field `{key}` is not documented: {fields}"
        );
    }
}
