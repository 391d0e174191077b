use serde_json::json;

use super::field::{Field, parts};
use super::*;

use SensitiveKind::*;

/// Kinds in `value` with no field name.
fn kinds(value: &str) -> Vec<SensitiveKind> {
    scan_text(None, value)
}

/// Kinds in `value` under the field `name`.
fn named(name: &str, value: &str) -> Vec<SensitiveKind> {
    scan_text(Some(name), value)
}

/// Kinds found anywhere in a JSON document.
fn json_kinds(doc: &serde_json::Value) -> Vec<SensitiveKind> {
    let mut found = Vec::new();
    scan_json(doc, |_, kind| found.push(kind));
    found
}

fn assert_is(value: &str, kind: SensitiveKind) {
    assert_eq!(kinds(value), vec![kind], "{kind:?} expected");
}

fn assert_clean(value: &str) {
    assert_eq!(
        kinds(value),
        Vec::<SensitiveKind>::new(),
        "nothing expected"
    );
}

#[test]
fn emails() {
    assert_is("alice@example.com", Email);
    assert_is("a.b+tag@mail.example.co.uk", Email);
    assert_eq!(kinds("write to alice@example.com."), vec![Email]);
    assert_eq!(kinds("mailto:alice@example.com"), vec![Email]);
    for not in [
        "user@localhost",
        "pkg@1.2.3",
        "@scope/pkg",
        "a@b",
        ".alice@example.com",
        "alice@-example.com",
        "alice@example..com",
        "alice at example.com",
    ] {
        assert_clean(not);
    }
}

#[test]
fn phones() {
    for phone in [
        "+1 415 555 2671",
        "+14155552671",
        "+44 20 7946 0958",
        "+49 (0)30 1234567",
        "(415) 555-2671",
        "(415)555-2671",
        "415-555-2671",
        "415.555.2671",
        "415 555 2671",
    ] {
        assert_eq!(kinds(phone), vec![Phone], "{phone}");
    }
    // Order ids, bare digit runs, invalid area or exchange codes.
    for not in [
        "4155552671",
        "123-456-7890",
        "415-155-2671",
        "911-555-2671",
        "ORD-415-555-2671",
        "415-555-26710",
        "415-555.2671",
        "+0123456789",
        "+1.2.3",
        "+1234567",
        "+1 415 555 2671 ext",
        "2024-03-14",
    ] {
        assert_clean(not);
    }
}

#[test]
fn card_numbers() {
    for card in [
        "4111111111111111",
        "4111 1111 1111 1111",
        "4111-1111-1111-1111",
        "378282246310005",
        "5555555555554444",
        "2223003122003222",
        "6011111111111117",
        "3530111333300000",
        "30569309025904",
    ] {
        assert_eq!(kinds(card), vec![CardNumber], "{card}");
    }
    for not in [
        "4111111111111112",     // fails Luhn
        "4111 1111 1111 1112",  // fails Luhn
        "1234567812345670",     // passes Luhn, no issuer starts with 1
        "0000000000000000",     // one digit repeated
        "4111 1111-1111 1111",  // two separators
        "4111  1111 1111 1111", // double space
        "411111111111",         // 12 digits
        "41111111111111111111", // 20 digits
    ] {
        assert_clean(not);
    }
    assert_eq!(kinds(" 5555555555554444 "), vec![CardNumber]);
    // As a JSON integer too.
    assert_eq!(
        json_kinds(&json!({ "n": 4111111111111111u64 })),
        vec![CardNumber]
    );
    assert!(json_kinds(&json!({ "order_id": 4111111111111112u64 })).is_empty());
}

#[test]
fn ibans() {
    for iban in [
        "DE89370400440532013000",
        "DE89 3704 0044 0532 0130 00",
        "GB82 WEST 1234 5698 7654 32",
        "gb82west12345698765432",
        "FR1420041010050500013M02606",
        "NL91ABNA0417164300",
    ] {
        assert_eq!(kinds(iban), vec![Iban], "{iban}");
    }
    for not in [
        "DE89370400440532013001",      // bad checksum
        "GB82 WEST 1234 5698 7654 33", // bad checksum
        "XX89370400440532013000",      // no such country
        "DE8937040044053201300",       // wrong length for DE
        "DE89 3704  0044 0532 0130 00",
        "DEAB370400440532013000",
    ] {
        assert_clean(not);
    }
}

#[test]
fn national_ids() {
    assert_is("536-22-8714", NationalId);
    assert_eq!(named("ssn", "536228714"), vec![NationalId]);
    assert_eq!(
        named("socialSecurityNumber", "536 22 8714"),
        vec![NationalId]
    );
    assert_eq!(json_kinds(&json!({ "ssn": 536228714 })), vec![NationalId]);
    for not in [
        "000-12-3456",
        "666-12-3456",
        "912-34-5678",
        "536-00-8714",
        "536-22-0000",
        "078-05-1120",
        "123-45-6789",
        "536228714",
        "536 22 8714",
        "53-622-8714",
    ] {
        assert_clean(not);
    }
    assert!(json_kinds(&json!({ "count": 536228714 })).is_empty());
}

const JWT: &str = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U";

#[test]
fn jwts() {
    assert_is(JWT, Jwt);
    // Unsigned (`alg: none`): empty signature.
    assert_is("eyJhbGciOiJub25lIn0.eyJzdWIiOiIxIn0.", Jwt);
    // In an Authorization header: a JWT, not also a generic secret.
    assert_eq!(named("Authorization", &format!("Bearer {JWT}")), vec![Jwt]);
    for not in [
        "a.b.c",
        "1.2.3",
        "www.example.com",
        // Header `{"foo":"bar"}`: JSON, but no `alg`.
        "eyJmb28iOiJiYXIifQ.eyJzdWIiOiIxIn0.c2ln",
        // Two parts.
        "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0",
        // Four parts.
        "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2ln.c2ln",
    ] {
        assert_clean(not);
    }
}

#[test]
fn api_keys() {
    let moat = format!("moat_{}_{}", "AbCdEf012345", "x".repeat(30) + "Q1w2E3r4");
    for key in [
        "sk_live_4eC39HqLyjWDarjtT1zdp7dc",
        "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",
        "AKIAIOSFODNN7EXAMPLE",
        "xoxb-17653672481-19874698323-pdFZKVeTuE8sk7oOcBrzbqgy",
        "glpat-9zYh3sKx2QpLm8VtRw4n",
        "AIzaSyDaGmWKa4JsXZ-HjGw7ISLn_3namBGewQe",
        moat.as_str(),
    ] {
        assert_eq!(kinds(key), vec![ApiKey], "{key}");
    }
    assert_eq!(
        kinds("key=sk_live_4eC39HqLyjWDarjtT1zdp7dc&x=1"),
        vec![ApiKey]
    );
    for not in [
        "sk_test_4eC39HqLyjWDarjtT1zdp7dc",
        "sk_live_mode",
        "ghp_short",
        "AKIA1234",
        "akiaiosfodnn7example",
        "moat_requests_total",
        "AIzaTooShort",
    ] {
        assert_clean(not);
    }
}

#[test]
fn secrets() {
    let cases = [
        ("api_key", "f3A9kLm2Qz8RtX1vB7nW4yE6"),
        (
            "token",
            "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
        ),
        ("X-Api-Key", "f3A9kLm2Qz8RtX1vB7nW4yE6"),
        ("accessToken", "f3A9kLm2Qz8RtX1vB7nW4yE6"),
        ("session", "Zm9vYmFyYmF6cXV4MTIzNDU2Nzg5MA"),
        ("Authorization", "Bearer Zm9vYmFyYmF6cXV4MTIzNDU2Nzg5MA"),
    ];
    for (name, value) in cases {
        assert_eq!(named(name, value), vec![Secret], "{name}");
    }
    // The same under a name that says nothing about credentials.
    assert!(named("request_id", "f3A9kLm2Qz8RtX1vB7nW4yE6").is_empty());
    assert!(named("description", "f3A9kLm2Qz8RtX1vB7nW4yE6").is_empty());
    // UUIDs are identifiers, not secrets.
    assert!(named("token", "0b6e9d7c-6f1a-4d0e-9a3b-2c1d0e9f8a7b").is_empty());
    assert!(named("sessionId", "0b6e9d7c-6f1a-4d0e-9a3b-2c1d0e9f8a7b").is_empty());
    // Short, low-entropy, letters only, digits only, timestamps, metadata.
    assert!(named("token", "short1").is_empty());
    assert!(named("token", "aaaaaaaaaaaaaaaa1111").is_empty());
    assert!(named("token", "ThisIsJustAWordSequence").is_empty());
    assert!(named("token", "12345678901234567890").is_empty());
    assert!(named("token", "2024-03-14T09:26:53Z").is_empty());
    assert!(named("token_type", "Bearer").is_empty());
    assert!(named("session_expires_at", "2024-03-14T09:26:53Z").is_empty());
    assert!(named("token_url", "https://auth.example.com/oauth2/v1/token").is_empty());
    // Pagination state is not a credential.
    assert!(
        named(
            "nextPageToken",
            "CiAKGjBpNDd2Nmp2Zml2cXRwYjBpOXA3bTJiN3IQAA"
        )
        .is_empty()
    );
    assert!(named("continuation_token", "f3A9kLm2Qz8RtX1vB7nW4yE6").is_empty());
}

#[test]
fn passwords() {
    for name in [
        "password",
        "userPassword",
        "user_password",
        "UserPassword",
        "pwd",
        "new_passwd",
        "newpassword",
        "passphrase",
        "client_secret",
    ] {
        assert_eq!(named(name, "hunter2"), vec![Password], "{name}");
    }
    // A high-entropy value under a name that is both: the secret wins.
    assert_eq!(
        named("client_secret", "f3A9kLm2Qz8RtX1vB7nW4yE6"),
        vec![Secret]
    );
    assert_eq!(
        json_kinds(&json!({ "pin_password": 123456 })),
        vec![Password]
    );
    // HTTP Basic: alice:hunter2.
    assert_eq!(
        named("Authorization", "Basic YWxpY2U6aHVudGVyMg=="),
        vec![Password]
    );
    // Empty, masked, null, boolean, about the password, not a password.
    assert!(named("password", "").is_empty());
    assert!(named("password", "   ").is_empty());
    assert!(named("password", "********").is_empty());
    assert!(named("password", "••••").is_empty());
    assert_eq!(
        named("password", "x"),
        vec![Password],
        "too short to be a mask"
    );
    assert!(named("password_changed_at", "2024-03-14T09:26:53Z").is_empty());
    assert!(named("passwordHint", "first pet").is_empty());
    assert!(named("compass", "north").is_empty());
    assert!(named("bypass", "yes").is_empty());
    assert!(named("Authorization", "Basic YWxpY2U6").is_empty()); // alice:
    assert!(named("Authorization", "Basic !!!").is_empty());
    assert!(json_kinds(&json!({ "password": null, "has_password": true })).is_empty());
}

#[test]
fn ip_addresses() {
    for ip in [
        "203.0.113.7",
        "203.0.113.7:8080",
        "10.0.0.1",
        "2001:db8::1",
        "[2001:db8::1]:443",
        "::1",
    ] {
        assert_eq!(kinds(ip), vec![IpAddress], "{ip}");
    }
    assert_eq!(
        named("X-Forwarded-For", "203.0.113.7, 10.0.0.1"),
        vec![IpAddress]
    );
    for not in [
        "1.2.3",
        "1.2.3.4.5",
        "256.1.1.1",
        "01.2.3.4",
        "0.0.0.0",
        "::",
        "dead::beef",
        "12:30:45",
        "v1.2.3.4",
        "https://203.0.113.7/path",
    ] {
        assert_clean(not);
    }
    assert!(named("version", "1.2.3.4").is_empty());
    assert!(named("appVersion", "1.2.3.4").is_empty());
}

#[test]
fn dates_of_birth() {
    for (name, value) in [
        ("dob", "1990-04-12"),
        ("birthDate", "12/04/1990"),
        ("date_of_birth", "12.04.1990"),
        ("birthday", "1990/04/12"),
        ("DOB", "04/30/1990"),
    ] {
        assert_eq!(named(name, value), vec![DateOfBirth], "{name}");
    }
    // Timestamps, impossible dates, other dates, other fields.
    assert!(named("dob", "1990-04-12T10:00:00Z").is_empty());
    assert!(named("birthDate", "1990-02-30").is_empty());
    assert!(named("birthDate", "1990-13-01").is_empty());
    assert!(named("dob", "1850-04-12").is_empty());
    assert!(named("dob", "yesterday").is_empty());
    assert!(named("created_at", "1990-04-12").is_empty());
    assert!(named("date", "1990-04-12").is_empty());
    assert!(named("birth_place", "Paris").is_empty());
    assert!(kinds("1990-04-12").is_empty());
    assert!(json_kinds(&json!({ "dob": 639878400 })).is_empty());
}

#[test]
fn field_names_split_into_word_parts() {
    let cases: [(&str, &[&str]); 6] = [
        ("userPassword", &["user", "password"]),
        ("user_password", &["user", "password"]),
        ("X-Api-Key", &["x", "api", "key"]),
        ("APIKey", &["api", "key"]),
        ("dateOfBirth2", &["date", "of", "birth2"]),
        ("pwd", &["pwd"]),
    ];
    for (name, expected) in cases {
        assert_eq!(parts(name), expected, "{name}");
    }
    assert!(Field::of("USER_PASSWORD").password);
    assert!(!Field::of("passwordPolicy").password);
}

#[test]
fn each_kind_once_per_value_in_declaration_order() {
    let text = "alice@example.com from 203.0.113.7, bob@example.com";
    assert_eq!(kinds(text), vec![Email, IpAddress]);
    let names: Vec<&str> = SensitiveKind::ALL.iter().map(|k| k.as_str()).collect();
    assert_eq!(
        names,
        [
            "email",
            "phone",
            "card_number",
            "iban",
            "national_id",
            "jwt",
            "api_key",
            "secret",
            "password",
            "ip_address",
            "date_of_birth"
        ]
    );
}

#[test]
fn json_pointers_are_exact_and_escaped() {
    let doc = json!({
        "user": { "email": "alice@example.com", "password": "hunter2" },
        "items": [ { "card": "4111111111111111" }, { "card": "5555555555554444" } ],
        "a/b~c": "203.0.113.7",
        "emails": ["bob@example.com"],
        "notes": "nothing here",
    });
    let mut found = Vec::new();
    scan_json(&doc, |pointer, kind| {
        found.push((pointer.to_string(), kind))
    });
    found.sort();
    let expected = [
        ("/a~1b~0c", IpAddress),
        ("/emails/0", Email),
        ("/items/0/card", CardNumber),
        ("/items/1/card", CardNumber),
        ("/user/email", Email),
        ("/user/password", Password),
    ];
    let expected: Vec<(String, SensitiveKind)> =
        expected.iter().map(|(p, k)| (p.to_string(), *k)).collect();
    assert_eq!(found, expected);
}

#[test]
fn findings_count_by_generalised_location() {
    let mut findings = Findings::new();
    findings.record_json(
        BodySource::Request,
        &json!({ "user": { "email": "alice@example.com" } }),
    );
    findings.record_json(
        BodySource::Response,
        &json!({ "items": [ { "card": "4111111111111111" }, { "card": "5555555555554444" } ] }),
    );
    findings.record_text(TextSource::Query, "email", "carol@example.com");
    findings.record_text(
        TextSource::Header,
        "Authorization",
        &format!("Bearer {JWT}"),
    );
    findings.record_text(
        TextSource::Cookie,
        "session",
        "Zm9vYmFyYmF6cXV4MTIzNDU2Nzg5MA",
    );
    findings.record_text(TextSource::ResponseHeader, "X-Client-IP", "203.0.113.7");
    findings.record_text(TextSource::Query, "page", "2");

    let all: Vec<(String, SensitiveKind, u64)> = findings
        .iter()
        .map(|f| (f.location.to_string(), f.kind, f.count))
        .collect();
    let expected = [
        ("cookie.session", Secret, 1),
        ("header.authorization", Jwt, 1),
        ("query.email", Email, 1),
        ("request.body#/user/email", Email, 1),
        ("response.body#/items/*/card", CardNumber, 2),
        ("response.header.x-client-ip", IpAddress, 1),
    ];
    let expected: Vec<(String, SensitiveKind, u64)> = expected
        .iter()
        .map(|(l, k, c)| (l.to_string(), *k, *c))
        .collect();
    assert_eq!(all, expected);
    assert_eq!(findings.count("response.body#/items/*/card", CardNumber), 2);
    assert_eq!(findings.count("response.body#/items/*/card", Email), 0);

    let mut merged = findings.clone();
    merged.merge(&findings);
    assert_eq!(merged.count("response.body#/items/*/card", CardNumber), 4);
    assert!(Findings::new().is_empty());
}

#[test]
fn keys_that_are_data_are_masked_in_locations() {
    let mut findings = Findings::new();
    findings.record_json(
        BodySource::Response,
        &json!({
            "users": {
                "alice@example.com": { "phone": "+14155552671" },
                "12345": { "phone": "+14155552672" },
                "0b6e9d7c-6f1a-4d0e-9a3b-2c1d0e9f8a7b": { "phone": "+14155552673" },
            }
        }),
    );
    findings.record_text(TextSource::Query, "bob@example.com", "x");
    assert_eq!(findings.count("response.body#/users/*/phone", Phone), 3);
    assert_eq!(findings.count("response.body#/users/*", Email), 1);
    assert_eq!(
        findings.count("query.*", Email),
        0,
        "the value, not the name, is scanned"
    );
    assert_eq!(findings.iter().count(), 2);
}

#[test]
fn locations_are_bounded() {
    let mut findings = Findings::new();
    for i in 0..Findings::MAX_LOCATIONS + 10 {
        findings.record_text(
            TextSource::Query,
            &format!("email_{i}"),
            "alice@example.com",
        );
    }
    assert_eq!(findings.iter().count(), Findings::MAX_LOCATIONS);
    assert_eq!(findings.dropped(), 10);
    // Known locations still count.
    findings.record_text(TextSource::Query, "email_0", "alice@example.com");
    assert_eq!(findings.count("query.email_0", Email), 2);
}

#[test]
fn deep_documents_do_not_overflow() {
    let mut doc = json!("alice@example.com");
    for _ in 0..100_000 {
        doc = serde_json::Value::Array(vec![doc]);
    }
    assert!(
        json_kinds(&doc).is_empty(),
        "past the depth limit nothing is read"
    );
    // serde_json drops deeply nested values recursively; leak it rather than
    // overflow the test's stack.
    std::mem::forget(doc);
}

/// Every value the detectors find, with the field it sits under.
fn sensitive_samples() -> Vec<(&'static str, String)> {
    vec![
        ("email", "alice@example.com".into()),
        ("phone", "+14155552671".into()),
        ("card", "4111111111111111".into()),
        ("iban", "DE89370400440532013000".into()),
        ("ssn", "536-22-8714".into()),
        ("auth", JWT.into()),
        ("key", "sk_live_4eC39HqLyjWDarjtT1zdp7dc".into()),
        ("token", "f3A9kLm2Qz8RtX1vB7nW4yE6".into()),
        ("password", "hunter2-correct-horse".into()),
        ("ip", "203.0.113.7".into()),
        ("dob", "1990-04-12".into()),
    ]
}

#[test]
fn no_finding_or_debug_output_contains_a_scanned_value() {
    let samples = sensitive_samples();
    let mut body = serde_json::Map::new();
    for (name, value) in &samples {
        body.insert((*name).to_string(), json!(value));
    }
    // A key that is itself sensitive.
    body.insert("bob@example.com".into(), json!({ "n": 1 }));
    let body = serde_json::Value::Object(body);

    let mut findings = Findings::new();
    findings.record_json(BodySource::Request, &body);
    findings.record_json(BodySource::Response, &json!({ "list": [body.clone()] }));
    for (name, value) in &samples {
        findings.record_text(TextSource::Query, name, value);
        findings.record_text(TextSource::Header, name, value);
        findings.record_text(TextSource::Cookie, name, value);
    }
    let kinds: Vec<SensitiveKind> = findings.iter().map(|f| f.kind).collect();
    for kind in SensitiveKind::ALL {
        assert!(kinds.contains(&kind), "{kind:?} found");
    }

    let mut outputs = vec![format!("{findings:?}"), format!("{findings:#?}")];
    for finding in findings.iter() {
        outputs.push(format!("{finding:?}"));
        outputs.push(finding.location.to_string());
        outputs.push(finding.kind.to_string());
    }
    let secrets = samples
        .iter()
        .map(|(_, v)| v.clone())
        .chain(["bob@example.com".to_string()]);
    for secret in secrets {
        for output in &outputs {
            assert!(!output.contains(&secret), "{output} leaks a value");
        }
    }
}

#[test]
fn ordinary_documents_have_no_findings() {
    let doc = json!({
        "id": 4111111111111112u64,
        "uuid": "0b6e9d7c-6f1a-4d0e-9a3b-2c1d0e9f8a7b",
        "order_number": "ORD-2024-000123",
        "reference": "4155552671",
        "sha": "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b",
        "etag": "W/\"5e8d1c0f3b2a4d9e8f7c6b5a4d3c2b1a\"",
        "created_at": "2024-03-14T09:26:53Z",
        "updated": "2024-03-14",
        "version": "1.2.3",
        "build": "1.2.3.4567",
        "user_agent": "Mozilla/5.0 (X11; Linux x86_64) Chrome/120.0.6099.109 Safari/537.36",
        "url": "https://api.example.com/v1/items?page=2&sort=asc",
        "price": 1999.99,
        "amount_cents": 199999,
        "zip": "94107",
        "isbn": "978-0-306-40615-7",
        "coordinates": [37.7749, -122.4194],
        "status": "active",
        "nextPageToken": "CiAKGjBpNDd2Nmp2Zml2cXRwYjBpOXA3bTJiN3IQAA",
        "cursor": "eyJwYWdlIjoyfQ",
        "token_type": "Bearer",
        "expires_in": 3600,
        "password_policy": { "min_length": 12, "require_digits": true },
        "has_password": true,
        "author": { "name": "Ada Lovelace", "login": "ada" },
        "tags": ["v2.0.0", "release-2024-03", "10.0"],
        "time": "12:30:45",
        "mac": "00:1a:2b:3c:4d:5e",
    });
    let mut found = Vec::new();
    scan_json(&doc, |pointer, kind| {
        found.push((pointer.to_string(), kind))
    });
    assert!(found.is_empty(), "{found:?}");
}
