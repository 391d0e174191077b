//! Request matching: `OperationTable::find` on a small fixed spec, with
//! the method and path from the input (`METHOD path`, split at the first
//! space), the path canonicalised and split by `CanonicalPath` as the
//! gateway does before matching.
//!
//! Properties: a match's template, its parameters put back in and the
//! server path in front, is exactly the request path (so the parameters
//! are the request's own text and literals matched exactly); a method the
//! path does not document is told apart from an unknown path, every
//! method listed as allowed for the path matches it, and the refused one
//! is not among them; an unknown path is unknown whatever the method.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use moat_request::CanonicalPath;
use moat_spec::{Match, OperationTable};

const SPEC: &str = r#"
openapi: 3.1.0
info: {title: Routes, version: "1"}
servers: [{url: "https://api.example.com/v1"}, {url: "https://api.example.com/"}]
paths:
  /:
    get: {operationId: root, responses: {"200": {description: ok}}}
  /pets:
    get: {operationId: listPets, responses: {"200": {description: ok}}}
    post: {operationId: addPet, responses: {"201": {description: ok}}}
  /pets/:
    get: {operationId: listPetsSlash, responses: {"200": {description: ok}}}
  /pets/mine:
    get: {operationId: myPets, responses: {"200": {description: ok}}}
  /pets/{id}:
    parameters: [{name: id, in: path, required: true, schema: {type: string}}]
    get: {operationId: showPet, responses: {"200": {description: ok}}}
    delete: {operationId: deletePet, responses: {"204": {description: ok}}}
  /pets/{id}/photos/{photo}.{ext}:
    parameters:
      - {name: id, in: path, required: true, schema: {type: string}}
      - {name: photo, in: path, required: true, schema: {type: string}}
      - {name: ext, in: path, required: true, schema: {type: string}}
    get: {operationId: petPhoto, responses: {"200": {description: ok}}}
  /pets/{id}/photos/{photo}:
    parameters:
      - {name: id, in: path, required: true, schema: {type: string}}
      - {name: photo, in: path, required: true, schema: {type: string}}
    put: {operationId: putPhoto, responses: {"200": {description: ok}}}
  /users/{first}-{last}/keys:
    parameters:
      - {name: first, in: path, required: true, schema: {type: string}}
      - {name: last, in: path, required: true, schema: {type: string}}
    get: {operationId: userKeys, responses: {"200": {description: ok}}}
  /users/me:
    patch: {operationId: updateMe, responses: {"200": {description: ok}}}
  /files/{name}.json:
    parameters: [{name: name, in: path, required: true, schema: {type: string}}]
    get: {operationId: jsonFile, responses: {"200": {description: ok}}}
    head: {operationId: jsonFileHead, responses: {"200": {description: ok}}}
    options: {operationId: jsonFileOptions, responses: {"200": {description: ok}}}
    trace: {operationId: jsonFileTrace, responses: {"200": {description: ok}}}
"#;

fn table() -> &'static OperationTable {
    static TABLE: OnceLock<OperationTable> = OnceLock::new();
    TABLE.get_or_init(|| {
        OperationTable::new(moat_spec::load_text("routes.yaml", SPEC).expect("the spec loads"))
    })
}

/// The request path a match stands for: the template with its parameters
/// put back, under `server` (OpenAPI concatenates them: `/v1` and `/` is
/// `/v1/`).
fn expand(server: &str, template: &str, params: &[(String, String)]) -> String {
    let mut path = server.to_string();
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        path.push_str(&rest[..open]);
        let close = rest[open..]
            .find('}')
            .expect("a loaded template closes its braces")
            + open;
        let name = &rest[open + 1..close];
        let value = params
            .iter()
            .find(|(n, _)| n == name)
            .expect("a parameter of the template");
        path.push_str(&value.1);
        rest = &rest[close + 1..];
    }
    path.push_str(rest);
    path
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let (method, raw) = text.split_once(' ').unwrap_or(("GET", text));
    let Ok(path) = CanonicalPath::parse(raw) else {
        return;
    };
    let segments = path.segments();
    let table = table();
    let joined = format!("/{}", segments.join("/"));
    match table.find(method, segments) {
        Match::Found {
            operation, params, ..
        } => {
            assert_eq!(operation.method.as_str(), method);
            let servers = operation
                .server_paths
                .as_ref()
                .unwrap_or(&table.spec().server_paths);
            assert!(
                servers
                    .iter()
                    .any(|s| expand(s, &operation.path_template, &params) == joined),
                "{joined:?} matched {} with {params:?}",
                operation.path_template
            );
        }
        Match::MethodNotAllowed { allowed } => {
            assert!(!allowed.is_empty(), "{joined:?}: no method allowed");
            assert!(
                !allowed.iter().any(|m| m.as_str() == method),
                "{method} allowed and refused"
            );
            for m in allowed {
                assert!(
                    matches!(table.find(m.as_str(), segments), Match::Found { .. }),
                    "{joined:?}: {} allowed but not found",
                    m.as_str()
                );
            }
        }
        Match::NotFound => {
            for m in ["GET", "PATCH", "TRACE"] {
                assert_eq!(
                    table.find(m, segments),
                    Match::NotFound,
                    "{joined:?} with {m}"
                );
            }
        }
    }
});
