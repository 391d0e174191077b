//! The operation table: priorities, backtracking, patterns, servers.

use super::{HEADER, spec};
use crate::{Match, Method, OperationTable};

/// A table for `paths` (YAML lines under `paths:`), every operation a GET
/// unless written otherwise, path parameters declared for every `{name}`.
fn table(servers: &str, templates: &[(&str, &str)]) -> OperationTable {
    let mut text = format!("{HEADER}{servers}paths:\n");
    let mut by_path: Vec<(&str, Vec<&str>)> = Vec::new();
    for (method, template) in templates {
        match by_path.iter_mut().find(|(t, _)| t == template) {
            Some((_, methods)) => methods.push(method),
            None => by_path.push((template, vec![method])),
        }
    }
    for (template, methods) in by_path {
        text.push_str(&format!("  '{template}':\n"));
        let params: Vec<String> = template
            .split('{')
            .skip(1)
            .map(|s| {
                format!(
                    "{{name: '{}', in: path, required: true}}",
                    s.split('}').next().unwrap()
                )
            })
            .collect();
        text.push_str(&format!("    parameters: [{}]\n", params.join(", ")));
        for method in methods {
            text.push_str(&format!("    {method}: {{responses: {{}}}}\n"));
        }
    }
    OperationTable::new(spec(&text))
}

/// `Ok((template, params))`, `Err(Some(allowed))` or `Err(None)`.
type Outcome<'t> = Result<(&'t str, Vec<(String, String)>), Option<Vec<Method>>>;

fn find<'t>(table: &'t OperationTable, method: &str, path: &str) -> Outcome<'t> {
    // As the gateway's canonical path presents it: `/` has no segments.
    let rest = path.strip_prefix('/').unwrap();
    let segments: Vec<&str> = rest.split('/').filter(|_| !rest.is_empty()).collect();
    match table.find(method, &segments) {
        Match::Found {
            operation, params, ..
        } => Ok((operation.path_template.as_str(), params)),
        Match::MethodNotAllowed { allowed } => Err(Some(allowed)),
        Match::NotFound => Err(None),
    }
}

fn template_of<'t>(table: &'t OperationTable, path: &str) -> Option<&'t str> {
    find(table, "GET", path).ok().map(|(t, _)| t)
}

fn params(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(n, v)| (n.to_string(), v.to_string()))
        .collect()
}

#[test]
fn literals_beat_templates_with_backtracking() {
    let t = table(
        "",
        &[
            ("get", "/users/me"),
            ("get", "/users/{id}"),
            ("get", "/users/{id}/keys"),
            ("get", "/users/me/settings"),
            ("get", "/{any}/me/keys"),
        ],
    );
    assert_eq!(template_of(&t, "/users/me"), Some("/users/me"));
    assert_eq!(
        find(&t, "GET", "/users/42"),
        Ok(("/users/{id}", params(&[("id", "42")])))
    );
    assert_eq!(
        template_of(&t, "/users/me/settings"),
        Some("/users/me/settings")
    );
    // `/users/me` has no `keys` child: back up and take `{id}`.
    assert_eq!(
        find(&t, "GET", "/users/me/keys"),
        Ok(("/users/{id}/keys", params(&[("id", "me")])))
    );
    // The literal `users` branch has no `x/me/keys`: back up to `{any}`.
    assert_eq!(
        find(&t, "GET", "/x/me/keys"),
        Ok(("/{any}/me/keys", params(&[("any", "x")])))
    );
    assert_eq!(template_of(&t, "/users/42/settings"), None);
}

#[test]
fn the_path_is_matched_before_the_method() {
    let t = table("", &[("get", "/users/me"), ("delete", "/users/{id}")]);
    // `/users/me` is the resource; it has no DELETE, even though the less
    // specific `/users/{id}` does.
    assert_eq!(
        find(&t, "DELETE", "/users/me"),
        Err(Some(vec![Method::Get]))
    );
    assert_eq!(
        find(&t, "DELETE", "/users/7"),
        Ok(("/users/{id}", params(&[("id", "7")])))
    );
    assert_eq!(
        find(&t, "PROPFIND", "/users/7"),
        Err(Some(vec![Method::Delete]))
    );
}

#[test]
fn head_is_not_get() {
    let t = table("", &[("get", "/a"), ("head", "/b"), ("get", "/b")]);
    assert_eq!(find(&t, "HEAD", "/a"), Err(Some(vec![Method::Get])));
    assert!(find(&t, "HEAD", "/b").is_ok());
    assert_eq!(
        find(&t, "POST", "/b"),
        Err(Some(vec![Method::Get, Method::Head]))
    );
}

#[test]
fn parameters_with_literal_suffixes_and_prefixes() {
    let t = table(
        "",
        &[
            ("get", "/2010-04-01/Accounts/{AccountSid}/Calls/{Sid}.json"),
            ("get", "/2010-04-01/Accounts/{AccountSid}/Calls.json"),
            ("get", "/files/{name}.json"),
            ("get", "/files/{name}"),
            ("get", "/r/v{n}"),
        ],
    );
    assert_eq!(
        find(&t, "GET", "/2010-04-01/Accounts/AC1/Calls/CA2.json"),
        Ok((
            "/2010-04-01/Accounts/{AccountSid}/Calls/{Sid}.json",
            params(&[("AccountSid", "AC1"), ("Sid", "CA2")])
        ))
    );
    assert_eq!(
        template_of(&t, "/2010-04-01/Accounts/AC1/Calls.json"),
        Some("/2010-04-01/Accounts/{AccountSid}/Calls.json")
    );
    assert_eq!(template_of(&t, "/2010-04-01/Accounts/AC1/Calls/CA2"), None);
    assert_eq!(
        find(&t, "GET", "/files/a.b.json"),
        Ok(("/files/{name}.json", params(&[("name", "a.b")])))
    );
    assert_eq!(
        find(&t, "GET", "/files/a.xml"),
        Ok(("/files/{name}", params(&[("name", "a.xml")])))
    );
    // `{name}.json` cannot take an empty name, so `.json` is a `{name}`.
    assert_eq!(
        find(&t, "GET", "/files/.json"),
        Ok(("/files/{name}", params(&[("name", ".json")])))
    );
    assert_eq!(
        find(&t, "GET", "/files/é.json"),
        Ok(("/files/{name}.json", params(&[("name", "é")])))
    );
    assert_eq!(
        find(&t, "GET", "/r/v12"),
        Ok(("/r/v{n}", params(&[("n", "12")])))
    );
    assert_eq!(template_of(&t, "/r/v"), None);
    assert_eq!(template_of(&t, "/r/12"), None);
}

#[test]
fn several_parameters_in_one_segment() {
    let t = table(
        "",
        &[
            ("get", "/v/{major}.{minor}"),
            ("get", "/d/{a}-{b}.{c}"),
            ("get", "/v/{all}"),
        ],
    );
    assert_eq!(
        find(&t, "GET", "/v/1.2.3"),
        Ok((
            "/v/{major}.{minor}",
            params(&[("major", "1"), ("minor", "2.3")])
        ))
    );
    assert_eq!(
        find(&t, "GET", "/v/.2"),
        Ok(("/v/{all}", params(&[("all", ".2")]))),
        "`{{major}}` never matches empty"
    );
    assert_eq!(
        find(&t, "GET", "/v/1."),
        Ok(("/v/{all}", params(&[("all", "1.")])))
    );
    assert_eq!(
        find(&t, "GET", "/d/x-y-z.tar.gz"),
        Ok((
            "/d/{a}-{b}.{c}",
            params(&[("a", "x"), ("b", "y-z"), ("c", "tar.gz")])
        ))
    );
    assert_eq!(template_of(&t, "/d/x-.y"), None);
}

#[test]
fn parameters_never_span_segments() {
    let t = table("", &[("get", "/a/{x}"), ("get", "/b/{x}.json")]);
    assert_eq!(template_of(&t, "/a/b/c"), None);
    assert_eq!(template_of(&t, "/b/c/d.json"), None);
    // A decoded `%2F` is part of one segment, and may be captured.
    let segments = ["a", "b/c"];
    assert!(matches!(t.find("GET", &segments), Match::Found { .. }));
}

#[test]
fn trailing_slashes_and_the_root() {
    let t = table("", &[("get", "/"), ("get", "/pets"), ("post", "/pets/")]);
    assert_eq!(template_of(&t, "/"), Some("/"));
    assert_eq!(template_of(&t, "/pets"), Some("/pets"));
    assert_eq!(find(&t, "GET", "/pets/"), Err(Some(vec![Method::Post])));
    // The root is the request with no segments (`GET /` used to be filed
    // under one empty segment, which no request has).
    assert!(matches!(t.find::<&str>("GET", &[]), Match::Found { .. }));
    assert_eq!(t.find("GET", &[""]), Match::NotFound);
    assert_eq!(template_of(&t, "/pets//"), None);
}

#[test]
fn matching_is_case_sensitive_and_decoded_literals_match() {
    let t = table("", &[("get", "/Pets"), ("get", "/a%20b")]);
    assert_eq!(template_of(&t, "/pets"), None);
    assert_eq!(template_of(&t, "/Pets"), Some("/Pets"));
    assert_eq!(template_of(&t, "/a b"), Some("/a%20b"));
}

#[test]
fn every_server_path_is_a_prefix() {
    let t = table(
        "servers: [{url: 'https://x.example.com/v1/'}, {url: /v2}]\n",
        &[("get", "/pets")],
    );
    assert_eq!(template_of(&t, "/v1/pets"), Some("/pets"));
    assert_eq!(template_of(&t, "/v2/pets"), Some("/pets"));
    assert_eq!(template_of(&t, "/pets"), None);
    assert_eq!(template_of(&t, "/v3/pets"), None);
}

#[test]
fn operation_servers_override_the_root_ones() {
    let t = OperationTable::new(spec(&format!(
        "{HEADER}servers: [{{url: /api}}]\npaths:\n  /files:\n    servers: [{{url: /upload}}]\n    get: {{responses: {{}}}}\n    post:\n      servers: [{{url: /big}}, {{url: /huge/}}]\n      responses: {{}}\n  /pets:\n    get: {{responses: {{}}}}\n"
    )));
    assert_eq!(template_of(&t, "/upload/files"), Some("/files"));
    assert_eq!(template_of(&t, "/api/files"), None);
    assert_eq!(find(&t, "POST", "/big/files").map(|r| r.0), Ok("/files"));
    assert_eq!(find(&t, "POST", "/huge/files").map(|r| r.0), Ok("/files"));
    assert_eq!(
        find(&t, "POST", "/upload/files"),
        Err(Some(vec![Method::Get]))
    );
    assert_eq!(template_of(&t, "/api/pets"), Some("/pets"));
}

#[test]
fn found_says_which_segments_hold_parameters() {
    let t = table(
        "servers: [{url: /v1}]\n",
        &[("get", "/a/{x}/c/{y}.json"), ("get", "/files/{name}")],
    );
    let captured = |segments: &[&str]| match t.find("GET", segments) {
        Match::Found { captured, .. } => captured,
        other => panic!("{other:?}"),
    };
    // A segment with a parameter and literal text around it holds one.
    assert_eq!(captured(&["v1", "a", "1", "c", "2.json"]), 0b10100);
    assert_eq!(captured(&["v1", "files", "a.txt"]), 0b100);
}

#[test]
fn found_carries_the_index_and_the_spec_stays_reachable() {
    let t = table("", &[("get", "/a"), ("put", "/b/{id}")]);
    match t.find("PUT", &["b", "9"]) {
        Match::Found {
            operation,
            index,
            params,
            captured,
        } => {
            assert_eq!(index, 1);
            assert_eq!(&t.spec().operations[index], operation);
            assert_eq!(params, [("id".to_string(), "9".to_string())]);
            // `b` is the template's literal, `9` the parameter.
            assert_eq!(captured, 0b10);
        }
        other => panic!("{other:?}"),
    }
    let spec = t.into_spec();
    assert_eq!(spec.operations.len(), 2);
}

#[test]
fn the_table_can_be_shared_between_threads() {
    fn shareable<T: Send + Sync + 'static>() {}
    shareable::<OperationTable>();
    shareable::<crate::ApiSpec>();
}
