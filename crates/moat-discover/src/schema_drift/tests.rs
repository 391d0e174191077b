use serde_json::json;

use super::*;
use crate::input::{Body, Sample};
use crate::sensitive::BodySource;

const DOC: &str = r##"
openapi: 3.1.0
info: {title: shop, version: "1"}
components:
  securitySchemes:
    key: {type: apiKey, in: query, name: api_key}
  schemas:
    Base:
      type: object
      properties: {id: {type: integer}}
    Role:
      type: object
      properties: {name: {type: string}}
      additionalProperties: false
    User:
      allOf:
        - $ref: "#/components/schemas/Base"
        - type: object
          properties:
            name: {type: string}
            address: {type: object, properties: {city: {type: string}}}
            roles: {type: array, items: {$ref: "#/components/schemas/Role"}}
            prefs: {type: object}
security: [{key: []}]
paths:
  /users/{id}:
    parameters: [{name: id, in: path, required: true, schema: {type: integer}}]
    get:
      operationId: getUser
      parameters: [{name: fields, in: query, schema: {type: string}}]
      responses:
        "200":
          description: the user
          content:
            application/json:
              schema:
                anyOf: [{$ref: "#/components/schemas/User"}, {type: "null"}]
  /users:
    get:
      operationId: listUsers
      responses:
        2XX:
          description: users
          content:
            application/json: {schema: {type: array, items: {$ref: "#/components/schemas/User"}}}
    post:
      operationId: createUser
      requestBody:
        content:
          application/json: {schema: {type: object, properties: {name: {type: string}}}}
      responses:
        "201": {description: created}
        default:
          description: a problem
          content:
            application/problem+json: {schema: {type: object}}
  /stats:
    get:
      operationId: stats
      responses:
        "200":
          description: counts by day
          content:
            application/json:
              schema:
                type: object
                additionalProperties: {type: object, properties: {count: {type: integer}}}
  /closed:
    get:
      operationId: closed
      responses:
        "200":
          description: nothing
          content:
            application/json: {schema: {type: object, additionalProperties: false}}
  /report:
    get:
      operationId: report
      responses:
        "200":
          description: a PDF
          content:
            application/pdf: {}
"##;

fn spec() -> ApiSpec {
    moat_spec::load_text("shop.yaml", DOC).unwrap()
}

fn op<'a>(spec: &'a ApiSpec, id: &str) -> &'a Operation {
    spec.operation(id).unwrap()
}

fn builder(samples: &[Value]) -> SchemaBuilder {
    let mut b = SchemaBuilder::new();
    for s in samples {
        b.observe(s);
    }
    b
}

struct Traffic {
    params: Vec<(ParameterLocation, &'static str)>,
    request: SchemaBuilder,
    responses: Vec<(u16, SchemaBuilder)>,
    findings: Findings,
}

impl Traffic {
    fn new() -> Self {
        Traffic {
            params: Vec::new(),
            request: SchemaBuilder::new(),
            responses: Vec::new(),
            findings: Findings::new(),
        }
    }

    fn request(mut self, body: Value) -> Self {
        self.findings.record_json(BodySource::Request, &body);
        self.request.observe(&body);
        self
    }

    fn answer(mut self, status: u16, bodies: &[Value]) -> Self {
        for b in bodies {
            self.findings.record_json(BodySource::Response, b);
        }
        self.responses.push((status, builder(bodies)));
        self
    }

    fn compare(&self, spec: &ApiSpec, id: &str) -> SchemaDrift {
        let responses: Vec<(u16, &SchemaBuilder)> =
            self.responses.iter().map(|(s, b)| (*s, b)).collect();
        compare_operation(
            Observed {
                parameters: &self.params,
                request_body: &self.request,
                responses: &responses,
                findings: &self.findings,
            },
            op(spec, id),
            spec,
        )
    }
}

fn pointers(fields: &[UndocumentedField]) -> Vec<(BodyPart, &str)> {
    fields
        .iter()
        .map(|f| (f.body, f.pointer.as_str()))
        .collect()
}

#[test]
fn undocumented_query_parameters_are_reported_by_location_and_name() {
    let spec = spec();
    let mut t = Traffic::new();
    t.params = vec![
        (ParameterLocation::Query, "fields"),
        (ParameterLocation::Query, "api_key"),
        (ParameterLocation::Query, "debug"),
        (ParameterLocation::Query, "Fields"),
        (ParameterLocation::Header, "X-Debug"),
        (ParameterLocation::Header, "Authorization"),
        (ParameterLocation::Cookie, "fields"),
    ];
    let drift = t.compare(&spec, "getUser");
    let found: Vec<(&str, &str)> = drift
        .parameters
        .iter()
        .map(|p| (p.location.as_str(), p.name.as_str()))
        .collect();
    // `api_key` is the scheme's key; query names are case-sensitive;
    // `Authorization` is never a parameter.
    assert_eq!(
        found,
        [
            ("query", "Fields"),
            ("query", "debug"),
            ("header", "X-Debug"),
            ("cookie", "fields")
        ]
    );
    assert!(drift.has_drift());
    let mut t = Traffic::new();
    t.params = vec![(ParameterLocation::Query, "fields")];
    assert!(!t.compare(&spec, "getUser").has_drift());
}

#[test]
fn undocumented_request_properties_are_mass_assignment() {
    let spec = spec();
    let t = Traffic::new()
        .request(json!({"name": "carol", "is_admin": true, "profile": {"role": "root"}}))
        .request(json!({"name": "dan"}));
    let drift = t.compare(&spec, "createUser");
    assert_eq!(
        pointers(&drift.request_fields),
        [
            (BodyPart::Request, "/is_admin"),
            (BodyPart::Request, "/profile")
        ]
    );
    assert!(drift.answer_fields.is_empty());
}

#[test]
fn answer_fields_through_refs_all_of_any_of_nested_objects_and_arrays() {
    let spec = spec();
    let user = json!({
        "id": 1, "name": "alice",
        "address": {"city": "Paris", "geo": {"lat": 1.5}},
        "roles": [{"name": "admin", "granted_by": 7}],
        "prefs": {"theme": "dark"},
        "email": "alice@example.com",
        "internal": {"notes": "vip", "card": "4111 1111 1111 1111"}
    });
    let t = Traffic::new().answer(200, &[user, Value::Null]);
    let drift = t.compare(&spec, "getUser");
    assert_eq!(
        pointers(&drift.answer_fields),
        [
            (BodyPart::Response(200), "/address/geo"),
            (BodyPart::Response(200), "/email"),
            (BodyPart::Response(200), "/internal"),
            (BodyPart::Response(200), "/roles/*/granted_by"),
        ]
    );
    let kinds = |p: &str| {
        drift
            .answer_fields
            .iter()
            .find(|f| f.pointer == p)
            .unwrap()
            .sensitive
            .clone()
    };
    assert_eq!(kinds("/email"), [SensitiveKind::Email]);
    // Found below the undocumented field: it counts for it.
    assert_eq!(kinds("/internal"), [SensitiveKind::CardNumber]);
    assert!(kinds("/address/geo").is_empty());
    assert_eq!(drift.exposed().count(), 2);
    // `prefs` is `type: object` alone: documented, with nothing to compare.
    assert_eq!(
        drift.uncompared,
        [UncomparedField {
            body: BodyPart::Response(200),
            pointer: "/prefs".into(),
            reason: Uncompared::OpenSchema
        }]
    );
}

#[test]
fn answers_fall_back_to_ranges_and_default_and_maps_to_additional_properties() {
    let spec = spec();
    // 206 is documented by `2XX`: array items are users.
    let drift = Traffic::new()
        .answer(206, &[json!([{"id": 1, "salary": 10}])])
        .compare(&spec, "listUsers");
    assert_eq!(
        pointers(&drift.answer_fields),
        [(BodyPart::Response(206), "/*/salary")]
    );
    assert!(drift.undocumented_statuses.is_empty());
    // 201 has no content: every field is undocumented. 422 falls to
    // `default`, whose schema is open.
    let drift = Traffic::new()
        .answer(201, &[json!({"id": 3, "token": "x"})])
        .answer(422, &[json!({"title": "bad"})])
        .compare(&spec, "createUser");
    assert_eq!(
        pointers(&drift.answer_fields),
        [
            (BodyPart::Response(201), "/id"),
            (BodyPart::Response(201), "/token")
        ]
    );
    assert_eq!(
        drift.uncompared,
        [UncomparedField {
            body: BodyPart::Response(422),
            pointer: String::new(),
            reason: Uncompared::OpenSchema
        }]
    );
    // Keys that are dates are a map: its values follow
    // `additionalProperties`.
    let drift = Traffic::new()
        .answer(
            200,
            &[json!({"2024-01-01": {"count": 3, "by_user": {"alice": 3}}})],
        )
        .compare(&spec, "stats");
    assert_eq!(
        pointers(&drift.answer_fields),
        [(BodyPart::Response(200), "/*/by_user")]
    );
}

#[test]
fn closed_schemas_undocumented_statuses_and_non_json_bodies() {
    let spec = spec();
    let drift = Traffic::new()
        .answer(200, &[json!({"a": 1})])
        .answer(500, &[json!({"trace": "at db.rs:12", "query": "SELECT"})])
        .answer(404, &[])
        .compare(&spec, "closed");
    assert_eq!(drift.undocumented_statuses, [404, 500]);
    assert_eq!(
        pointers(&drift.answer_fields),
        [
            (BodyPart::Response(200), "/a"),
            (BodyPart::Response(500), "/query"),
            (BodyPart::Response(500), "/trace")
        ]
    );
    let drift = Traffic::new()
        .answer(200, &[json!({"a": 1})])
        .compare(&spec, "report");
    assert!(drift.answer_fields.is_empty());
    assert_eq!(drift.uncompared[0].reason, Uncompared::NotJson);
    assert!(!drift.has_drift());
}

#[test]
fn a_matching_answer_has_no_drift() {
    let spec = spec();
    let drift = Traffic::new()
        .answer(
            200,
            &[json!({"id": 1, "name": "a", "roles": [], "address": {"city": "x"}})],
        )
        .compare(&spec, "getUser");
    assert_eq!(drift, SchemaDrift::default());
}

#[test]
fn profiled_traffic_compares_with_the_operation_it_matched_and_keeps_no_value() {
    let json_body = |t: &str| Body {
        mime: Some("application/json".into()),
        text: t.into(),
    };
    let samples: Vec<Sample> = (1..=5)
        .map(|i| Sample {
            method: "GET".into(),
            url: format!("/users/{i}?fields=name&trace_id=abc{i}"),
            status: Some(200),
            request_headers: Vec::new(),
            response_headers: Vec::new(),
            request_body: None,
            response_body: Some(json_body(&format!(
                r#"{{"id":{i},"name":"user{i}","ssn":"078-05-112{i}","password_hash":"hunter{i}"}}"#
            ))),
        })
        .collect();
    let mut t = crate::Templater::new();
    for s in &samples {
        t.observe(&s.method, s.url.split('?').next().unwrap())
            .unwrap();
    }
    let ops = t.operations();
    let doc = crate::openapi::to_yaml(&crate::openapi::document("users", &ops));
    let found = moat_spec::OperationTable::new(moat_spec::load_text("d.yaml", &doc).unwrap());
    let mut profiler = crate::profile::Profiler::new(found);
    for s in &samples {
        profiler.observe(s);
    }
    let table = moat_spec::OperationTable::new(spec());
    let judged = crate::compare(&ops, &table);
    let (i, j) = judged
        .operations
        .iter()
        .enumerate()
        .find(|(_, j)| j.documented_as.as_deref() == Some("getUser"))
        .unwrap();
    let documented = &table.spec().operations[j.documented_index.unwrap()];
    let drift = compare_profile(profiler.profile(i).unwrap(), documented, table.spec());
    assert_eq!(
        drift
            .parameters
            .iter()
            .map(|p| p.name.as_str())
            .collect::<Vec<_>>(),
        ["trace_id"]
    );
    assert_eq!(
        pointers(&drift.answer_fields),
        [
            (BodyPart::Response(200), "/password_hash"),
            (BodyPart::Response(200), "/ssn")
        ]
    );
    let ssn = drift
        .answer_fields
        .iter()
        .find(|f| f.pointer == "/ssn")
        .unwrap();
    assert_eq!(ssn.sensitive, [SensitiveKind::NationalId]);
    let all = format!("{drift:?}");
    for value in ["abc1", "user1", "078-05-1121", "hunter1"] {
        assert!(!all.contains(value), "{value} in {all}");
    }
}

#[test]
fn recursive_schemas_are_followed_one_level_at_a_time() {
    let doc = r##"
openapi: 3.1.0
info: {title: tree, version: "1"}
components:
  schemas:
    Node:
      type: object
      properties:
        name: {type: string}
        children: {type: array, items: {$ref: "#/components/schemas/Node"}}
    Loop: {$ref: "#/components/schemas/Loop2"}
    Loop2: {allOf: [{$ref: "#/components/schemas/Loop"}]}
paths:
  /tree:
    get:
      operationId: tree
      responses:
        "200":
          description: a tree
          content: {application/json: {schema: {$ref: "#/components/schemas/Node"}}}
  /loop:
    get:
      operationId: loop
      responses:
        "200":
          description: a schema that is only itself
          content: {application/json: {schema: {$ref: "#/components/schemas/Loop"}}}
"##;
    let spec = moat_spec::load_text("tree.yaml", doc).unwrap();
    let deep =
        json!({"name": "a", "children": [{"name": "b", "children": [{"name": "c", "owner": 1}]}]});
    let drift = Traffic::new().answer(200, &[deep]).compare(&spec, "tree");
    assert_eq!(
        pointers(&drift.answer_fields),
        [(BodyPart::Response(200), "/children/*/children/*/owner")]
    );
    let drift = Traffic::new()
        .answer(200, &[json!({"a": 1})])
        .compare(&spec, "loop");
    assert!(drift.answer_fields.is_empty(), "{drift:?}");
    assert_eq!(drift.uncompared[0].reason, Uncompared::Unresolved);
}
