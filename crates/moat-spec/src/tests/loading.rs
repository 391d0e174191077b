//! The version check, the model, and the checks on operations.

use super::{HEADER, at, errors, only, spec};
use crate::{Method, OpenApiVersion, ParameterLocation};

#[test]
fn a_missing_openapi_field_is_an_error() {
    let diags = errors("info: {title: T, version: '1'}\npaths: {}\n");
    let d = only(&diags);
    assert!(d.message.contains("no `openapi` field"), "{d}");
    assert_eq!(d.position, at(1, 1));
    assert!(d.hint.as_deref().unwrap().contains("openapi: 3.1.0"), "{d}");
}

#[test]
fn swagger_2_is_refused_with_a_hint() {
    let diags = errors("swagger: '2.0'\ninfo: {title: T, version: '1'}\npaths: {}\n");
    let d = only(&diags);
    assert_eq!(d.message, "Swagger 2.0 documents are not supported");
    assert_eq!(d.position, at(1, 10));
    assert!(
        d.hint.as_deref().unwrap().contains("swagger2openapi"),
        "{d}"
    );

    let d = errors("openapi: '2.0'\npaths: {}\n");
    assert!(only(&d).hint.as_deref().unwrap().contains("convert"), "{d}");
}

#[test]
fn unsupported_versions_are_refused() {
    let d = errors("openapi: 4.0.0\npaths: {}\n");
    assert_eq!(only(&d).message, "unsupported OpenAPI version `4.0.0`");
    assert_eq!(only(&d).position, at(1, 10));
    let d = errors("openapi: 3.1\npaths: {}\n");
    assert!(only(&d).message.contains("must be a string"), "{d}");
    assert!(only(&d).hint.as_deref().unwrap().contains("quote"), "{d}");
    let d = errors("openapi: '3.0'\npaths: {}\n");
    assert!(only(&d).message.contains("unsupported"), "{d}");
    let d = errors("- openapi\n");
    assert!(only(&d).message.contains("must be a mapping"), "{d}");
}

#[test]
fn openapi_3_1_without_paths() {
    let spec = spec(
        "openapi: 3.1.0\ninfo: {title: Hooks, version: '2'}\nwebhooks:\n  newPet:\n    post:\n      requestBody: {content: {application/json: {schema: {type: [object, 'null']}}}}\n",
    );
    assert_eq!(spec.openapi, OpenApiVersion::V3_1);
    assert_eq!(spec.openapi.to_string(), "3.1");
    assert_eq!((spec.title.as_str(), spec.version.as_str()), ("Hooks", "2"));
    assert!(spec.operations.is_empty());
    assert!(spec.warnings.is_empty(), "{:?}", spec.warnings);
    assert_eq!(spec.server_paths, [""]);
}

#[test]
fn missing_info_is_only_a_warning() {
    let spec = spec("openapi: 3.0.0\npaths: {}\n");
    assert_eq!(spec.title, "");
    assert_eq!(spec.warnings.len(), 2, "{:?}", spec.warnings);
    assert!(spec.warnings[0].message.contains("info.title"));
}

#[test]
fn operations_are_modelled() {
    let spec = spec(&format!(
        "{HEADER}servers:\n  - url: https://a.example.com/v1/\n  - url: /v1\n  - url: '{{scheme}}://b.example.com/{{base}}'\n    variables:\n      scheme: {{default: https}}\n      base: {{default: v2, enum: [v2, v3]}}\nsecurity: [{{key: []}}]\ncomponents:\n  securitySchemes:\n    key: {{type: apiKey, in: header, name: X-Key}}\npaths:\n  /pets:\n    parameters:\n      - {{name: limit, in: query}}\n      - {{name: X-Trace, in: header}}\n      - {{name: Accept, in: header}}\n    get:\n      tags: [pets, read]\n      deprecated: true\n      parameters:\n        - {{name: limit, in: query, required: true, schema: {{type: integer}}}}\n        - {{name: x-trace, in: header, content: {{text/plain: {{schema: {{type: string}}}}}}}}\n        - {{name: sid, in: cookie}}\n      responses: {{'200': {{description: ok}}}}\n    post:\n      operationId: addPet\n      security: []\n      servers: [{{url: 'https://upload.example.com/up'}}]\n      requestBody: {{content: {{application/json: {{}}}}}}\n      responses: {{}}\n"
    ));
    assert_eq!(spec.server_paths, ["/v1", "/v2"]);
    assert!(spec.security.is_some());
    assert!(spec.security_schemes.as_ref().unwrap().get("key").is_some());
    let get = &spec.operations[0];
    assert_eq!(get.method, Method::Get);
    assert_eq!(get.id(), "GET /pets");
    assert_eq!(get.operation_id, None);
    assert!(get.deprecated);
    assert_eq!(get.tags, ["pets", "read"]);
    assert_eq!(get.pointer, "/paths/~1pets/get");
    assert_eq!(get.server_paths, None);
    assert_eq!(get.security, None);
    assert!(get.request_body.is_none());
    assert_eq!(get.responses["200"]["description"], "ok");
    // `Accept` is ignored; operation parameters override path-item ones,
    // header names case-insensitively.
    let params: Vec<(&str, ParameterLocation, bool)> = get
        .parameters
        .iter()
        .map(|p| (p.name.as_str(), p.location, p.required))
        .collect();
    assert_eq!(
        params,
        [
            ("limit", ParameterLocation::Query, true),
            ("x-trace", ParameterLocation::Header, false),
            ("sid", ParameterLocation::Cookie, false),
        ]
    );
    assert_eq!(
        get.parameters[1].schema,
        Some(serde_json::json!({"type": "string"}))
    );
    let post = spec.operation("addPet").unwrap();
    assert_eq!(post.id(), "addPet");
    assert_eq!(post.security, Some(serde_json::json!([])));
    assert_eq!(post.server_paths.as_deref(), Some(&["/up".to_string()][..]));
    assert_eq!(
        post.request_body.as_ref().unwrap().pointer,
        "/paths/~1pets/post/requestBody"
    );
}

#[test]
fn undeclared_path_parameters_are_errors() {
    let diags = errors(&format!(
        "{HEADER}paths:\n  /pets/{{petId}}/toys/{{toy}}:\n    parameters: [{{name: petid, in: path, required: true}}]\n    get:\n      responses: {{}}\n"
    ));
    assert_eq!(diags.0.len(), 2, "{diags}");
    let d = &diags.0[0];
    assert_eq!(
        d.message,
        "`GET /pets/{petId}/toys/{toy}` has no path parameter `petId`"
    );
    assert_eq!(d.position, at(6, 5));
    assert!(
        d.hint.as_deref().unwrap().contains("`petid` may be meant"),
        "{d}"
    );
    assert!(
        diags.0[1]
            .hint
            .as_deref()
            .unwrap()
            .contains("name: toy, in: path"),
        "{}",
        diags.0[1]
    );
}

#[test]
fn unused_path_parameters_are_warnings() {
    let spec = spec(&format!(
        "{HEADER}paths:\n  /pets:\n    get:\n      parameters: [{{name: id, in: path}}]\n      responses: {{}}\n"
    ));
    assert_eq!(spec.warnings.len(), 2, "{:?}", spec.warnings);
    assert!(
        spec.warnings[0]
            .message
            .contains("not marked `required: true`")
    );
    assert!(
        spec.warnings[1]
            .message
            .contains("does not appear in the path")
    );
    assert!(spec.operations[0].parameters[0].required);
}

#[test]
fn duplicate_operation_ids_are_errors() {
    let diags = errors(&format!(
        "{HEADER}paths:\n  /a:\n    get: {{operationId: same, responses: {{}}}}\n  /b:\n    get: {{operationId: same, responses: {{}}}}\n"
    ));
    let d = only(&diags);
    assert_eq!(d.message, "operationId `same` is used more than once");
    assert_eq!(d.position, at(7, 24));
    assert!(d.hint.as_deref().unwrap().contains("`GET /a` at "), "{d}");
    assert!(
        d.hint.as_deref().unwrap().contains("openapi.yaml:5:11"),
        "{d}"
    );
}

#[test]
fn equivalent_templates_are_errors() {
    let diags = errors(&format!(
        "{HEADER}paths:\n  /a/{{x}}:\n    get: {{parameters: [{{name: x, in: path, required: true}}], responses: {{}}}}\n  /a/{{y}}:\n    get: {{parameters: [{{name: y, in: path, required: true}}], responses: {{}}}}\n    put: {{parameters: [{{name: y, in: path, required: true}}], responses: {{}}}}\n"
    ));
    let d = only(&diags);
    assert_eq!(
        d.message,
        "`GET /a/{y}` matches the same requests as `GET /a/{x}`"
    );
    assert_eq!(d.position, at(7, 5));

    // Different methods can be told apart, so that is only a warning.
    let spec = spec(&format!(
        "{HEADER}paths:\n  /a/{{x}}:\n    get: {{parameters: [{{name: x, in: path, required: true}}], responses: {{}}}}\n  /a/{{y}}:\n    put: {{parameters: [{{name: y, in: path, required: true}}], responses: {{}}}}\n"
    ));
    assert_eq!(spec.warnings.len(), 1, "{:?}", spec.warnings);
    assert!(
        spec.warnings[0]
            .message
            .contains("different parameter names")
    );
}

#[test]
fn server_paths_can_make_templates_collide() {
    let diags = errors(&format!(
        "{HEADER}servers: [{{url: /v1}}, {{url: /}}]\npaths:\n  /x:\n    get: {{responses: {{}}}}\n  /v1/x:\n    get: {{responses: {{}}}}\n"
    ));
    assert!(
        only(&diags)
            .message
            .contains("matches the same requests as `GET /x`"),
        "{diags}"
    );
}

#[test]
fn bad_templates_and_servers_are_errors() {
    let diags = errors(&format!(
        "{HEADER}servers: [{{url: 'https://{{region}}.example.com/v1'}}]\npaths:\n  /a/{{b:\n    get: {{responses: {{}}}}\n  c:\n    get: {{responses: {{}}}}\n  /d/{{x}}{{y}}:\n    get: {{responses: {{}}}}\n  x-extension: {{}}\n"
    ));
    assert_eq!(diags.0.len(), 4, "{diags}");
    assert!(diags.0[0].message.contains("`{region}`"), "{}", diags.0[0]);
    assert!(
        diags.0[1].message.contains("has no matching `}`"),
        "{}",
        diags.0[1]
    );
    assert!(
        diags.0[2].message.contains("must start with `/`"),
        "{}",
        diags.0[2]
    );
    assert!(
        diags.0[3].message.contains("cannot be told apart"),
        "{}",
        diags.0[3]
    );
}

#[test]
fn bad_parameters_are_errors() {
    let diags = errors(&format!(
        "{HEADER}paths:\n  /a:\n    get:\n      parameters:\n        - {{name: q, in: qurey}}\n        - {{in: query}}\n        - {{name: r, in: query}}\n        - {{name: r, in: query}}\n      responses: {{}}\n"
    ));
    assert_eq!(diags.0.len(), 3, "{diags}");
    assert_eq!(diags.0[0].hint.as_deref(), Some("did you mean `query`?"));
    assert_eq!(diags.0[0].position, at(7, 25));
    assert!(diags.0[1].message.contains("no string `name`"));
    assert!(diags.0[2].message.contains("listed twice"));
}

#[test]
fn all_problems_are_reported_together() {
    let diags = errors(&format!(
        "{HEADER}paths:\n  /a/{{id}}:\n    get: {{operationId: x, responses: {{}}}}\n  /b:\n    get: {{operationId: x, responses: {{'200': {{$ref: '#/components/responses/Nope'}}}}}}\n"
    ));
    assert_eq!(diags.0.len(), 3, "{diags}");
    assert!(diags.to_string().ends_with("3 errors"));
}

#[test]
fn upper_case_methods_are_refused_where_written() {
    let diags = errors(&format!(
        "{HEADER}paths:\n  /items:\n    GET: {{responses: {{'200': {{description: ok}}}}}}\n    Post: {{responses: {{'200': {{description: ok}}}}}}\n"
    ));
    assert_eq!(diags.0.len(), 2, "{diags}");
    let d = &diags.0[0];
    assert!(d.message.contains("`GET`"), "{d}");
    assert_eq!(d.position, at(5, 5));
    assert_eq!(d.hint.as_deref(), Some("use lower case: get"));
    assert_eq!(diags.0[1].position, at(6, 5));
    assert_eq!(diags.0[1].hint.as_deref(), Some("use lower case: post"));
}

#[test]
fn other_unknown_path_item_keys_are_warnings() {
    let spec = spec(&format!(
        "{HEADER}paths:\n  /items:\n    summary: s\n    x-owner: me\n    gett: {{responses: {{'200': {{description: ok}}}}}}\n    get: {{responses: {{'200': {{description: ok}}}}}}\n"
    ));
    assert_eq!(spec.operations.len(), 1);
    assert_eq!(spec.warnings.len(), 1, "{:?}", spec.warnings);
    let w = &spec.warnings[0];
    assert!(w.message.contains("unknown key `gett`"), "{w}");
    assert_eq!(w.position, at(7, 5));
    assert_eq!(w.hint.as_deref(), Some("did you mean `get`?"));
}
