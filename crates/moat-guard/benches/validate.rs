//! Validating a typical ~1 KB JSON order body and a query string against a
//! small OpenAPI 3.0.3 document, and compiling that document's validators.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use http::HeaderMap;
use moat_guard::validate::{OperationValidator, ValidationOptions, compile_spec};
use moat_spec::ApiSpec;

const SPEC: &str = r#"
openapi: 3.0.3
info: {title: orders, version: "1"}
paths:
  /orders:
    get:
      operationId: listOrders
      parameters:
        - {name: limit, in: query, schema: {type: integer, minimum: 1, maximum: 100}}
        - {name: offset, in: query, schema: {type: integer, minimum: 0}}
        - {name: sort, in: query, schema: {type: string, enum: [name, created, total]}}
        - name: tags
          in: query
          explode: false
          schema: {type: array, maxItems: 10, items: {type: string, maxLength: 16}}
      responses: {"200": {description: ok}}
    post:
      operationId: createOrder
      requestBody:
        required: true
        content:
          application/json:
            schema: {$ref: '#/components/schemas/Order'}
      responses: {"201": {description: created}}
components:
  schemas:
    Address:
      type: object
      required: [street, city, postcode, country]
      properties:
        street: {type: string, maxLength: 100}
        city: {type: string, maxLength: 60}
        postcode: {type: string, pattern: "^[A-Z0-9 -]{3,10}$"}
        country: {type: string, minLength: 2, maxLength: 2}
    Customer:
      type: object
      required: [name, email, address]
      properties:
        id: {type: string, format: uuid}
        name: {type: string, maxLength: 80}
        email: {type: string, format: email, maxLength: 254}
        phone: {type: string, maxLength: 20}
        address: {$ref: '#/components/schemas/Address'}
    LineItem:
      type: object
      required: [sku, quantity, price]
      properties:
        sku: {type: string, pattern: "^[A-Z]{3}-[0-9]{4}$"}
        quantity: {type: integer, minimum: 1, maximum: 1000}
        price: {type: number, minimum: 0}
    Order:
      type: object
      required: [customer, items, currency]
      properties:
        orderRef: {type: string, maxLength: 32}
        customer: {$ref: '#/components/schemas/Customer'}
        items:
          type: array
          minItems: 1
          maxItems: 100
          items: {$ref: '#/components/schemas/LineItem'}
        currency: {type: string, enum: [EUR, USD, GBP]}
        status: {type: string, enum: [pending, paid, shipped]}
        giftWrap: {type: boolean}
        notes: {type: string, maxLength: 500}
        placedAt: {type: string, format: date-time}
        discount: {type: number, minimum: 0, maximum: 100}
"#;

const BODY: &str = r#"{
  "orderRef": "ORD-2026-000123",
  "customer": {
    "id": "3f2b8c1e-5d4a-4e6b-9c7d-1a2b3c4d5e6f",
    "name": "Ada Lovelace",
    "email": "ada.lovelace@example.com",
    "phone": "+44 20 7946 0958",
    "address": {
      "street": "12 Analytical Engine Lane",
      "city": "London",
      "postcode": "SW1A 1AA",
      "country": "GB"
    }
  },
  "items": [
    {"sku": "ABC-0001", "quantity": 2, "price": 19.99},
    {"sku": "ABC-0002", "quantity": 1, "price": 5.5},
    {"sku": "DEF-0103", "quantity": 4, "price": 12.0},
    {"sku": "GHI-2048", "quantity": 1, "price": 149.95},
    {"sku": "JKL-0007", "quantity": 10, "price": 0.99},
    {"sku": "MNO-4242", "quantity": 3, "price": 7.25},
    {"sku": "PQR-1000", "quantity": 1, "price": 64.0},
    {"sku": "STU-0815", "quantity": 6, "price": 2.49}
  ],
  "currency": "GBP",
  "status": "pending",
  "giftWrap": false,
  "notes": "Please leave the parcel with the concierge if nobody answers the door.",
  "placedAt": "2026-11-22T10:15:30Z",
  "discount": 5
}"#;

const QUERY: &str = "limit=20&offset=40&sort=name&tags=a,b,c";

/// Writes [`SPEC`] to a fresh temporary directory and loads it.
fn load_spec() -> ApiSpec {
    let dir = tempfile::Builder::new()
        .prefix("moat-guard-bench-")
        .tempdir_in(std::env::temp_dir())
        .unwrap();
    let path = dir.path().join("orders.yaml");
    std::fs::write(&path, SPEC).unwrap();
    moat_spec::load(&path).unwrap()
}

/// The validator of the operation with `operationId` `id`.
fn validator<'a>(
    spec: &ApiSpec,
    validators: &'a [OperationValidator],
    id: &str,
) -> &'a OperationValidator {
    let index = spec
        .operations
        .iter()
        .position(|op| op.operation_id.as_deref() == Some(id))
        .expect("operation in spec");
    &validators[index]
}

/// [`BODY`] with one property that no schema declares.
fn body_with_unknown_property() -> Vec<u8> {
    let mut value: serde_json::Value = serde_json::from_str(BODY).unwrap();
    value
        .as_object_mut()
        .unwrap()
        .insert("isAdmin".to_string(), serde_json::Value::Bool(true));
    serde_json::to_vec_pretty(&value).unwrap()
}

fn validate_body(c: &mut Criterion) {
    let spec = load_spec();
    let validators = compile_spec(&spec, &ValidationOptions::default()).unwrap();
    let create = validator(&spec, &validators, "createOrder");
    let ct = Some("application/json");

    let body = BODY.as_bytes();
    assert!(
        (900..1200).contains(&body.len()),
        "body is {} bytes",
        body.len()
    );
    create.validate_raw_body(ct, body).unwrap();

    let unknown = body_with_unknown_property();
    let violations = create
        .validate_raw_body(ct, &unknown)
        .expect_err("undeclared property is refused");
    assert!(
        format!("{violations:?}").contains("isAdmin"),
        "{violations:?}"
    );

    let mut group = c.benchmark_group("validate_body");
    group.bench_function("typical_1kb", |b| {
        b.iter(|| create.validate_raw_body(black_box(ct), black_box(body)))
    });
    group.bench_function("typical_1kb_unknown_property", |b| {
        b.iter(|| create.validate_raw_body(black_box(ct), black_box(&unknown)))
    });
    group.finish();
}

fn validate_params(c: &mut Criterion) {
    let spec = load_spec();
    let validators = compile_spec(&spec, &ValidationOptions::default()).unwrap();
    let list = validator(&spec, &validators, "listOrders");
    let headers = HeaderMap::new();
    list.validate_raw_params(&[], Some(QUERY), &headers)
        .unwrap();
    assert!(
        list.validate_raw_params(&[], Some("limit=0&sort=price"), &headers)
            .is_err(),
        "out-of-range query is refused"
    );

    let mut group = c.benchmark_group("validate_params");
    group.bench_function("query", |b| {
        b.iter(|| {
            list.validate_raw_params(black_box(&[]), black_box(Some(QUERY)), black_box(&headers))
        })
    });
    group.finish();
}

fn compile(c: &mut Criterion) {
    let spec = load_spec();
    let options = ValidationOptions::default();
    let mut group = c.benchmark_group("compile");
    group.sample_size(10);
    group.bench_function("spec", |b| {
        b.iter(|| compile_spec(black_box(&spec), black_box(&options)).unwrap())
    });
    group.finish();
}

criterion_group!(benches, validate_body, validate_params, compile);
criterion_main!(benches);
