//! GraphQL and XML checks on typical requests: a GraphQL query with a
//! fragment, variables and a directive, and a ~2 KB SOAP 1.1 envelope.

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use moat_inspect::{graphql, xml};

const QUERY: &str = r#"query GetUser($id: ID!, $withPosts: Boolean = true, $n: Int = 10) {
  user(id: $id) {
    ...UserFields
    posts(first: $n, orderBy: { field: CREATED_AT, direction: DESC }) @include(if: $withPosts) {
      id
      title
      createdAt
      tags
      ... on Article { body summary(length: 200) }
    }
  }
}

fragment UserFields on User {
  id
  name
  email
  avatar: profilePicture(size: 64)
  location { city country }
}
"#;

fn graphql_body() -> Vec<u8> {
    let body = format!(
        r#"{{"query":{},"operationName":"GetUser","variables":{{"id":"user-42","withPosts":true,"n":10}}}}"#,
        escape_json(QUERY)
    );
    body.into_bytes()
}

fn escape_json(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn soap_body() -> String {
    let mut items = String::new();
    for i in 0..12 {
        items.push_str(&format!(
            "        <ord:Item sku=\"SKU-{i:04}\" quantity=\"{}\"><ord:Description>Widget number {i} &amp; accessories</ord:Description></ord:Item>\n",
            i + 1
        ));
    }
    format!(
        r#"<?xml version="1.0" encoding="utf-8"?>
<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/" xmlns:ord="http://example.com/orders">
  <soap:Header>
    <ord:Auth><ord:Token>eyJhbGciOiJIUzI1NiJ9.e30.signature</ord:Token></ord:Auth>
  </soap:Header>
  <soap:Body>
    <ord:PlaceOrder>
      <ord:Customer id="C-1001"><ord:Name>Jane O&apos;Brien</ord:Name><ord:Email>jane@example.com</ord:Email></ord:Customer>
      <ord:Items>
{items}      </ord:Items>
      <ord:Note><![CDATA[Leave at the door, please.]]></ord:Note>
    </ord:PlaceOrder>
  </soap:Body>
</soap:Envelope>
"#
    )
}

fn bench(c: &mut Criterion) {
    let limits = graphql::GraphqlLimits::default();
    let body = graphql_body();
    assert!(graphql::check(&body, "application/json", &limits).is_ok());
    let mut group = c.benchmark_group("graphql");
    group.throughput(Throughput::Bytes(body.len() as u64));
    group.bench_function("check_typical_query", |b| {
        b.iter(|| graphql::check(black_box(&body), "application/json", &limits))
    });
    group.finish();

    let limits = xml::XmlLimits::default();
    let soap = soap_body();
    let doc = xml::check(soap.as_bytes(), &limits);
    assert!(
        doc.as_ref()
            .is_ok_and(|d| d.soap_operation().as_deref() == Some("PlaceOrder"))
    );
    let mut group = c.benchmark_group("xml");
    group.throughput(Throughput::Bytes(soap.len() as u64));
    group.bench_function(format!("check_soap_{}b", soap.len()), |b| {
        b.iter(|| xml::check(black_box(soap.as_bytes()), &limits))
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
