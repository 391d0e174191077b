//! Every public spec in `shared/specs` loads, and every one of its operations
//! is found again from a concrete request path.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};

use moat_spec::{ApiSpec, Match, Method, OpenApiVersion, OperationTable, load};

const SPECS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/specs");

fn specs_dir() -> PathBuf {
    let dir = Path::new(SPECS);
    assert!(
        dir.is_dir(),
        "the shared specs are missing: expected the directory {} (shared/ beside the checkout); \
         these tests need it and are never skipped",
        dir.display()
    );
    dir.to_path_buf()
}

fn spec_files() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(specs_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            matches!(
                p.extension().and_then(|e| e.to_str()),
                Some("yaml" | "yml" | "json")
            )
        })
        .collect();
    files.sort();
    assert!(
        files.len() >= 5,
        "expected at least 5 specs in {SPECS}, found {files:?}"
    );
    files
}

fn load_ok(path: &Path) -> ApiSpec {
    match load(path) {
        Ok(spec) => spec,
        Err(e) => panic!("{} failed to load:\n{e}", path.display()),
    }
}

fn load_named(name: &str) -> ApiSpec {
    load_ok(&specs_dir().join(name))
}

/// A concrete path for a template: every `{param}` replaced by a sample
/// value, split into segments after the server path.
fn concrete_segments(server: &str, template: &str) -> Vec<String> {
    let mut path = String::from(server);
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        path.push_str(&rest[..open]);
        let close = rest[open..].find('}').unwrap() + open;
        path.push_str("abc123");
        rest = &rest[close + 1..];
    }
    path.push_str(rest);
    // As the gateway's canonical path presents it: `/` has no segments.
    let rest = path.strip_prefix('/').unwrap();
    rest.split('/')
        .filter(|_| !rest.is_empty())
        .map(str::to_string)
        .collect()
}

#[test]
fn every_shared_spec_loads_and_every_operation_is_found() {
    let mut total = 0;
    for file in spec_files() {
        let spec = load_ok(&file);
        assert!(
            !spec.operations.is_empty(),
            "{} has no operations",
            file.display()
        );
        let table = OperationTable::new(spec);
        let spec = table.spec();
        for (index, op) in spec.operations.iter().enumerate() {
            let servers = op.server_paths.as_ref().unwrap_or(&spec.server_paths);
            for server in servers {
                let owned = concrete_segments(server, &op.path_template);
                let segments: Vec<&str> = owned.iter().map(String::as_str).collect();
                match table.find(op.method.as_str(), &segments) {
                    Match::Found {
                        operation,
                        index: found,
                        params,
                        ..
                    } => {
                        assert_eq!(
                            (operation.method, operation.path_template.as_str()),
                            (op.method, op.path_template.as_str()),
                            "{}: {} /{} found the wrong operation",
                            file.display(),
                            op.method,
                            owned.join("/")
                        );
                        assert_eq!(found, index);
                        let expected: Vec<(String, String)> = op
                            .path_template
                            .split('{')
                            .skip(1)
                            .map(|s| {
                                (
                                    s.split('}').next().unwrap().to_string(),
                                    "abc123".to_string(),
                                )
                            })
                            .collect();
                        assert_eq!(params, expected, "{}: {}", file.display(), op.id());
                    }
                    other => panic!(
                        "{}: {} /{} (operation {}) gave {other:?}",
                        file.display(),
                        op.method,
                        owned.join("/"),
                        op.id()
                    ),
                }
            }
            total += 1;
        }
    }
    assert!(total > 200, "only {total} operations in the shared specs");
}

#[test]
fn twilio_model() {
    let spec = load_named("twilio_api_v2010.yaml");
    assert_eq!(spec.openapi, OpenApiVersion::V3_0);
    assert_eq!(spec.title, "Twilio - Api");
    assert_eq!(spec.server_paths, [""]);
    assert!(spec.operations.len() > 190, "{}", spec.operations.len());
    assert!(
        spec.security_schemes
            .as_ref()
            .unwrap()
            .get("accountSid_authToken")
            .is_some()
    );
    assert!(spec.security.is_some());

    let op = spec.operation("FetchCall").expect("FetchCall");
    assert_eq!(op.method, Method::Get);
    assert_eq!(
        op.path_template,
        "/2010-04-01/Accounts/{AccountSid}/Calls/{Sid}.json"
    );
    assert_eq!(
        op.pointer,
        "/paths/~12010-04-01~1Accounts~1{AccountSid}~1Calls~1{Sid}.json/get"
    );
    assert_eq!(op.server_paths.as_deref(), Some(&[String::new()][..]));
    let names: Vec<&str> = op.parameters.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["AccountSid", "Sid"]);
    assert!(
        op.parameters
            .iter()
            .all(|p| p.required && p.schema.is_some())
    );
    assert!(op.responses.get("200").is_some());

    let create = spec.operation("CreateCall").expect("CreateCall");
    let body = create.request_body.as_ref().expect("CreateCall has a body");
    assert!(body.value.get("content").is_some());
}

#[test]
fn uspto_server_variables_and_root_path() {
    let spec = load_named("oai-uspto.yaml");
    assert_eq!(spec.server_paths, ["/ds-api"]);
    let table = OperationTable::new(spec);
    // `/` under the server path `/ds-api` is `/ds-api/`.
    match table.find("GET", &["ds-api", ""]) {
        Match::Found {
            operation, params, ..
        } => {
            assert_eq!(operation.id(), "list-data-sets");
            assert!(params.is_empty());
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(table.find("GET", &["ds-api"]), Match::NotFound);
    match table.find("POST", &["ds-api", "oa_citations", "v1", "records"]) {
        Match::Found {
            operation, params, ..
        } => {
            assert_eq!(operation.id(), "perform-search");
            assert_eq!(
                params,
                [
                    ("dataset".to_string(), "oa_citations".to_string()),
                    ("version".to_string(), "v1".to_string())
                ]
            );
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn petstore_negative_cases() {
    let table = OperationTable::new(load_named("oai-petstore.yaml"));
    assert_eq!(table.spec().server_paths, ["/v1"]);
    assert_eq!(table.find("GET", &["v1", "dogs"]), Match::NotFound);
    assert_eq!(
        table.find("GET", &["pets"]),
        Match::NotFound,
        "the server path is required"
    );
    assert_eq!(
        table.find("GET", &["v1", "pets", ""]),
        Match::NotFound,
        "trailing slash"
    );
    assert_eq!(
        table.find("GET", &["v1", "Pets"]),
        Match::NotFound,
        "case-sensitive"
    );
    assert_eq!(
        table.find("GET", &["v1", "pets", "1", "x"]),
        Match::NotFound
    );
    assert_eq!(
        table.find("DELETE", &["v1", "pets"]),
        Match::MethodNotAllowed {
            allowed: vec![Method::Get, Method::Post]
        }
    );
    assert_eq!(
        table.find("PUT", &["v1", "pets", "7"]),
        Match::MethodNotAllowed {
            allowed: vec![Method::Get]
        }
    );
    assert_eq!(
        table.find("HEAD", &["v1", "pets", "7"]),
        Match::MethodNotAllowed {
            allowed: vec![Method::Get]
        },
        "HEAD does not fall back to GET"
    );
    assert_eq!(
        table.find("get", &["v1", "pets"]),
        Match::MethodNotAllowed {
            allowed: vec![Method::Get, Method::Post]
        },
        "methods are case-sensitive"
    );
}

#[test]
fn twilio_negative_cases() {
    let table = OperationTable::new(load_named("twilio_api_v2010.yaml"));
    let find = |m: &str, p: &str| {
        let segments: Vec<&str> = p.strip_prefix('/').unwrap().split('/').collect();
        match table.find(m, &segments) {
            Match::Found { operation, .. } => Ok(operation.id().to_string()),
            Match::MethodNotAllowed { allowed } => Err(Some(allowed)),
            Match::NotFound => Err(None),
        }
    };
    assert_eq!(
        find("GET", "/2010-04-01/Accounts.json"),
        Ok("ListAccount".to_string())
    );
    assert_eq!(
        find("GET", "/2010-04-01/Accounts/AC1/Calls/CA1.json"),
        Ok("FetchCall".to_string())
    );
    assert_eq!(
        find("GET", "/2010-04-01/Accounts/AC1/Calls/CA1.xml"),
        Err(None)
    );
    assert_eq!(
        find("GET", "/2010-04-01/Accounts/AC1/Calls/.json"),
        Err(None),
        "params are never empty"
    );
    assert_eq!(find("GET", "/2010-04-01/Nope.json"), Err(None));
    assert_eq!(find("GET", "/2011-01-01/Accounts.json"), Err(None));
    assert_eq!(
        find("PATCH", "/2010-04-01/Accounts/AC1/Calls/CA1.json"),
        Err(Some(vec![Method::Get, Method::Post, Method::Delete]))
    );
}

#[test]
fn all_specs_have_the_expected_versions() {
    for file in spec_files() {
        let spec = load_ok(&file);
        assert_eq!(spec.openapi, OpenApiVersion::V3_0, "{}", file.display());
    }
}

#[test]
fn twilio_requires_http_basic_everywhere_and_petstore_nothing() {
    let twilio = load_named("twilio_api_v2010.yaml");
    assert_eq!(
        twilio.schemes["accountSid_authToken"].kind,
        moat_spec::SchemeKind::HttpBasic
    );
    assert!(twilio.operations.iter().all(|op| {
        op.policy.scheme_names() == ["accountSid_authToken"] && !op.policy.allows_anonymous()
    }));
    let petstore = load_named("oai-petstore.yaml");
    assert!(
        petstore
            .operations
            .iter()
            .all(|op| op.policy.allows_anonymous())
    );
}
