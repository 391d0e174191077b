use super::*;

fn limits() -> JsonLimits {
    JsonLimits {
        max_depth: 4,
        max_array_items: 3,
        max_string_bytes: 8,
        max_properties: 3,
    }
}

fn violation(body: &str) -> (&'static str, String) {
    violation_bytes(body.as_bytes(), &limits())
}

fn violation_bytes(body: &[u8], l: &JsonLimits) -> (&'static str, String) {
    let v = parse(body, l).expect_err("a violation");
    (v.rule.as_str(), v.pointer)
}

fn ok(body: &str) {
    assert!(parse(body.as_bytes(), &limits()).is_ok(), "{body}");
}

#[test]
fn accepts_json_within_limits() {
    for body in [
        "null",
        " true ",
        "false",
        "0",
        "-0.5e+10",
        "12E3",
        "\"12345678\"",
        "[]",
        "{}",
        "[1,2,3]",
        r#"{"a":1,"b":[true,false,null],"c":{"d":"e"}}"#,
        "[[[[]]]]",
        r#"{"k":"\u00e9\u00e9\u00e9\u00e9"}"#,
        r#"["\ud83d\ude00\ud83d\ude00"]"#,
        "\"caf\u{e9}\"",
        "\r\n\t [ 1 , { \"a\" : 2 } ] \n",
    ] {
        ok(body);
    }
}

#[test]
fn agrees_with_serde_json_on_validity() {
    for body in [
        "",
        " ",
        "[",
        "]",
        "[1,]",
        "{\"a\":1,}",
        "{\"a\" 1}",
        "{a:1}",
        "01",
        "1.",
        ".5",
        "-",
        "1e",
        "+1",
        "tru",
        "nul",
        "[1 2]",
        "{\"a\":1}}",
        "[]]",
        "1 2",
        "\"a",
        "\"\\x\"",
        "\"\\u12G4\"",
        "\"\\ud800\"",
        "\"\\udc00\"",
        "\"\\ud800\\u0041\"",
        "\"tab\there\"",
        "[\"a\"\"b\"]",
        "{\"a\":}",
        "{,}",
        "[,1]",
        "NaN",
        "\u{feff}1",
        "[1,2,3]",
        "{\"a\":[1,{\"b\":null}]}",
        "\"\\ud83d\\ude00\"",
        "-0",
        "1E-2",
    ] {
        let ours = parse(body.as_bytes(), &JsonLimits::default()).is_ok();
        let serde = serde_json::from_str::<serde_json::Value>(body).is_ok();
        assert_eq!(ours, serde, "{body:?}");
    }
}

#[test]
fn malformed_input_is_json_with_its_location() {
    assert_eq!(violation(""), ("json", String::new()));
    assert_eq!(violation("[1,]"), ("json", "/1".into()));
    assert_eq!(violation(r#"{"a":[1,x]}"#), ("json", "/a/1".into()));
    assert_eq!(violation(r#"{"a":1,}"#), ("json", String::new()));
    assert_eq!(violation("[1] [2]"), ("json", String::new()));
    assert_eq!(violation(r#"{"a":[1"#), ("json", "/a/1".into()));
}

#[test]
fn invalid_utf8_is_json() {
    for body in [
        &b"\"\xff\""[..],
        b"[\"ok\", \"\xc3\x28\"]",
        b"\"\xed\xa0\x80\"", // an encoded surrogate
        b"\"\xe2\x82\"",     // truncated sequence
        b"\xef\xbb\xbf{}",   // a BOM is not JSON
        b"[1,\xff]",
    ] {
        let v = parse(body, &JsonLimits::default()).unwrap_err();
        assert_eq!(v.rule, JsonRule::Syntax, "{body:?}");
    }
    let v = parse(b"{\"a\":[\"\xc3\x28\"]}", &JsonLimits::default()).unwrap_err();
    assert_eq!(v.pointer, "/a/0");
}

#[test]
fn depth_is_counted_in_containers() {
    ok("[[[[1]]]]");
    assert_eq!(violation("[[[[[1]]]]]"), ("max_depth", "/0/0/0/0".into()));
    assert_eq!(
        violation(r#"{"a":{"b":[{"c":{}}]}}"#),
        ("max_depth", "/a/b/0/c".into())
    );
}

#[test]
fn array_items_point_at_the_array() {
    ok("[1,2,3]");
    assert_eq!(violation("[1,2,3,4]"), ("max_array_items", String::new()));
    assert_eq!(
        violation(r#"{"x":[[],[1,2,3,[]]]}"#),
        ("max_array_items", "/x/1".into())
    );
}

#[test]
fn properties_point_at_the_object() {
    ok(r#"{"a":1,"b":2,"c":3}"#);
    assert_eq!(
        violation(r#"{"o":{"a":1,"b":2,"c":3,"d":4}}"#),
        ("max_properties", "/o".into())
    );
    // A duplicate is refused before it counts.
    assert_eq!(
        violation(r#"{"a":1,"a":2,"a":3,"a":4}"#),
        ("duplicate_key", "/a".into())
    );
}

#[test]
fn strings_are_measured_decoded() {
    ok(r#""12345678""#);
    assert_eq!(
        violation(r#"["123456789"]"#),
        ("max_string_bytes", "/0".into())
    );
    // Eight escaped characters are eight bytes, not 48.
    ok(r#""\u0041\u0041\u0041\u0041\u0041\u0041\u0041\u0041""#);
    assert_eq!(
        violation(r#"{"s":"\n\n\n\n\n\n\n\n\n"}"#),
        ("max_string_bytes", "/s".into())
    );
    // é is two bytes in UTF-8, whether raw or escaped.
    ok("\"\u{e9}\u{e9}\u{e9}\u{e9}\"");
    assert_eq!(
        violation("[\"\u{e9}\u{e9}\u{e9}\u{e9}\u{e9}\"]"),
        ("max_string_bytes", "/0".into())
    );
    assert_eq!(
        violation(r#"["\u00e9\u00e9\u00e9\u00e9\u00e9"]"#),
        ("max_string_bytes", "/0".into())
    );
    // A surrogate pair is one four-byte character.
    ok(r#""\ud83d\ude00\ud83d\ude00""#);
    assert_eq!(
        violation(r#"["\ud83d\ude00\ud83d\ude00a"]"#),
        ("max_string_bytes", "/0".into())
    );
    // A key that is too long points at its object.
    assert_eq!(
        violation(r#"{"a":{"123456789":1}}"#),
        ("max_string_bytes", "/a".into())
    );
}

#[test]
fn pointers_escape_keys() {
    assert_eq!(
        violation(r#"{"a/b":{"m~n":[1,2,3,4]}}"#),
        ("max_array_items", "/a~1b/m~0n".into())
    );
    // Keys are decoded before they are escaped.
    assert_eq!(
        violation(r#"{"\u002f\u007e\"":[1,2,3,4]}"#),
        ("max_array_items", "/~1~0\"".into())
    );
    assert_eq!(
        violation(r#"{"":{"\ud83d\ude00":[[[[]]]]}}"#),
        ("max_depth", "//\u{1f600}/0/0".into())
    );
}

#[test]
fn long_keys_are_cut_in_pointers() {
    let l = JsonLimits {
        max_string_bytes: 10_000,
        ..limits()
    };
    let key = "k".repeat(1000);
    let body = format!(r#"{{"{key}":[1,2,3,4]}}"#);
    let (rule, pointer) = violation_bytes(body.as_bytes(), &l);
    assert_eq!(rule, "max_array_items");
    assert_eq!(pointer, format!("/{}…", "k".repeat(POINTER_KEY_MAX)));
}

#[test]
fn deep_nesting_is_bounded() {
    let l = JsonLimits::default();
    let deep = "[".repeat(100_000) + &"]".repeat(100_000);
    let (rule, pointer) = violation_bytes(deep.as_bytes(), &l);
    assert_eq!(rule, "max_depth");
    assert_eq!(pointer, "/0".repeat(32));
    // Unclosed, and a megabyte of it, as objects.
    let deep = r#"{"a":"#.repeat(200_000);
    let (rule, _) = violation_bytes(deep.as_bytes(), &l);
    assert_eq!(rule, "max_depth");
    // Whatever the limit, serde_json's recursion limit keeps the stack safe.
    let huge = JsonLimits {
        max_depth: 1_000_000,
        ..l
    };
    let deep = "[".repeat(500_000) + &"]".repeat(500_000);
    assert_eq!(violation_bytes(deep.as_bytes(), &huge).0, "json");
    let within = "[".repeat(MAX_DEPTH_LIMIT) + &"]".repeat(MAX_DEPTH_LIMIT);
    assert!(parse(within.as_bytes(), &huge).is_ok());
}

#[test]
fn duplicate_keys_are_refused_at_the_key() {
    let l = JsonLimits::default();
    for (body, at) in [
        (r#"{"role":"user","role":"admin"}"#, "/role"),
        (r#"{"a":{"b":1,"c":2,"b":3}}"#, "/a/b"),
        (r#"[{"x":1},{"x":1,"x":1}]"#, "/1/x"),
        // Keys are compared decoded: these are both "role".
        (r#"{"role":"user","\u0072ole":"admin"}"#, "/role"),
    ] {
        let e = parse(body.as_bytes(), &l).unwrap_err();
        assert_eq!(
            (e.rule, e.pointer.as_str()),
            (JsonRule::DuplicateKey, at),
            "{body}"
        );
    }
    assert!(parse(br#"{"a":{"x":1},"b":{"x":1}}"#, &l).is_ok());
}

#[test]
fn huge_arrays_stop_at_the_limit() {
    let l = JsonLimits::default();
    let items = vec!["0"; 1_000_000].join(",");
    let body = format!("[{items}]");
    let (rule, pointer) = violation_bytes(body.as_bytes(), &l);
    assert_eq!((rule, pointer.as_str()), ("max_array_items", ""));
    let body = format!("[{}]", vec!["0"; 10_000].join(","));
    assert!(parse(body.as_bytes(), &l).is_ok());
    let props: Vec<String> = (0..1001).map(|i| format!("\"k{i}\":{i}")).collect();
    let body = format!("{{\"o\":{{{}}}}}", props.join(","));
    let (rule, pointer) = violation_bytes(body.as_bytes(), &l);
    assert_eq!((rule, pointer.as_str()), ("max_properties", "/o"));
}

#[test]
fn long_strings_with_escapes() {
    let l = JsonLimits::default();
    let at_limit = format!("\"{}\"", "\\\"".repeat(1024 * 1024));
    assert!(parse(at_limit.as_bytes(), &l).is_ok());
    let over = format!("[\"{}x\"]", "\\u00e9".repeat(512 * 1024));
    let (rule, pointer) = violation_bytes(over.as_bytes(), &l);
    assert_eq!((rule, pointer.as_str()), ("max_string_bytes", "/0"));
    // A backslash at the very end of the body.
    let cut = format!("\"{}\\", "a".repeat(100));
    assert_eq!(violation_bytes(cut.as_bytes(), &l).0, "json");
    let cut = "\"\\u12";
    assert_eq!(violation_bytes(cut.as_bytes(), &l).0, "json");
}

#[test]
fn violations_never_carry_values() {
    let body = r#"{"user":{"password":"hunter2-secret-value","x":[1,2,3,4]}}"#;
    let l = JsonLimits {
        max_string_bytes: 100,
        ..limits()
    };
    let v = parse(body.as_bytes(), &l).unwrap_err();
    assert_eq!(v.pointer, "/user/x");
    assert!(!v.to_string().contains("hunter2"));
    assert_eq!(v.to_string(), "max_array_items at /user/x");
}
