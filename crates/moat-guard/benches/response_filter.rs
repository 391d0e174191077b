//! Filtering a ~10 KB JSON list response (30 users) against a small OpenAPI
//! 3.0.3 document: one body that leaks undeclared properties and card numbers,
//! one that is already clean, and compiling that document's filters.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use moat_guard::response_filter::{FilterOptions, ResponseFilter, compile_filters};
use moat_spec::ApiSpec;
use serde_json::{Value, json};

const SPEC: &str = r#"
openapi: 3.0.3
info: {title: users, version: "1"}
paths:
  /users:
    get:
      operationId: listUsers
      responses:
        "200":
          description: ok
          content:
            application/json:
              schema:
                type: array
                items: {$ref: '#/components/schemas/User'}
components:
  schemas:
    Address:
      type: object
      properties:
        street: {type: string}
        city: {type: string}
        postcode: {type: string}
        country: {type: string}
    User:
      type: object
      required: [id, username, email]
      properties:
        id: {type: integer}
        username: {type: string}
        email: {type: string, format: email}
        displayName: {type: string}
        createdAt: {type: string, format: date-time}
        active: {type: boolean}
        paymentReference: {type: string}
        address: {$ref: '#/components/schemas/Address'}
        password: {type: string, writeOnly: true}
"#;

/// Number of users in each body.
const USERS: usize = 30;

/// Writes [`SPEC`] to a fresh temporary directory and loads it.
fn load_spec() -> ApiSpec {
    let dir = tempfile::Builder::new()
        .prefix("moat-guard-bench-")
        .tempdir_in(std::env::temp_dir())
        .unwrap();
    let path = dir.path().join("users.yaml");
    std::fs::write(&path, SPEC).unwrap();
    moat_spec::load(&path).unwrap()
}

/// The filter of the only operation, `GET /users`.
fn list_users_filter(spec: &ApiSpec) -> ResponseFilter {
    let mut filters = compile_filters(spec, &FilterOptions::default());
    assert_eq!(filters.len(), 1, "one operation in spec");
    filters.pop().unwrap()
}

/// User `i` with only declared, non-sensitive data.
fn clean_user(i: usize) -> Value {
    json!({
        "id": 1000 + i,
        "username": format!("user{i:03}"),
        "email": format!("user{i:03}@example.com"),
        "displayName": format!("User {i}"),
        "createdAt": format!("2026-01-{:02}T10:15:30Z", 1 + i % 28),
        "active": !i.is_multiple_of(3),
        "paymentReference": format!("REF-{i:06}"),
        "address": {
            "street": format!("{} Main St", 10 + i),
            "city": "London",
            "postcode": "SW1A 1AA",
            "country": "GB"
        }
    })
}

/// User `i` with two undeclared properties and a card number.
fn leaky_user(i: usize) -> Value {
    let mut user = clean_user(i);
    let map = user.as_object_mut().unwrap();
    map.insert(
        "paymentReference".to_string(),
        Value::String("4111 1111 1111 1111".to_string()),
    );
    map.insert(
        "passwordHash".to_string(),
        Value::String(format!("$2b$12$R9h/cIPz0gi.URNNX3kh2O{i:03}PST9/PgBkqquzi")),
    );
    map.insert(
        "internalNotes".to_string(),
        Value::String(format!("Refund review #{i}, flagged.")),
    );
    user
}

fn body(user: fn(usize) -> Value) -> Vec<u8> {
    serde_json::to_vec(&Value::Array((0..USERS).map(user).collect())).unwrap()
}

fn filter(c: &mut Criterion) {
    let spec = load_spec();
    let filter = list_users_filter(&spec);
    assert!(filter.wants_body(200, Some("application/json")));

    let leaky = body(leaky_user);
    assert!(
        (9 * 1024..12 * 1024).contains(&leaky.len()),
        "leaky body is {} bytes",
        leaky.len()
    );
    let (filtered, report) = filter.filter(200, &leaky).expect("leaky body is filtered");
    assert_eq!(report.removed.len(), 2 * USERS, "{report:?}");
    assert_eq!(report.masked.len(), USERS, "{report:?}");
    assert!(
        report.removed.iter().any(|p| p == "/0/passwordHash"),
        "{report:?}"
    );
    assert!(
        report.removed.iter().any(|p| p == "/29/internalNotes"),
        "{report:?}"
    );
    assert!(
        report.masked.iter().any(|p| p == "/0/paymentReference"),
        "{report:?}"
    );
    assert!(filtered.len() < leaky.len());

    let clean = body(clean_user);
    assert!(
        filter.filter(200, &clean).is_none(),
        "clean body is left alone"
    );

    let mut group = c.benchmark_group("filter");
    group.bench_function("10kb_leaky", |b| {
        b.iter(|| filter.filter(black_box(200), black_box(&leaky)))
    });
    group.bench_function("10kb_clean", |b| {
        b.iter(|| filter.filter(black_box(200), black_box(&clean)))
    });
    group.finish();
}

fn compile(c: &mut Criterion) {
    let spec = load_spec();
    let options = FilterOptions::default();
    let mut group = c.benchmark_group("compile");
    group.sample_size(10);
    group.bench_function("filters", |b| {
        b.iter(|| compile_filters(black_box(&spec), black_box(&options)))
    });
    group.finish();
}

criterion_group!(benches, filter, compile);
criterion_main!(benches);
