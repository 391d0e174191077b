//! `moat check` is the compile `moat serve` runs: it refuses what serve
//! refuses, with the same positioned diagnostics, reports every problem of
//! every section in one run, and creates no file and opens no connection.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::io::ErrorKind;
use std::net::TcpListener;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use support::*;

const UPSTREAM: &str = "http://127.0.0.1:9";

/// Runs `moat serve` and expects it to refuse the config (killing it if it
/// starts instead); returns what it printed on stderr.
fn serve_refuses(dir: &Path) -> String {
    let mut child = Command::new(MOAT)
        .args(["serve", "--config"])
        .arg(dir.join("moat.yaml"))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            child.kill().unwrap();
            let out = child.wait_with_output().unwrap();
            panic!(
                "moat serve started with a config check refuses:\n{}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// The diagnostic lines (`file:line:col: error: …`) of an output.
fn errors(stderr: &str) -> Vec<&str> {
    stderr.lines().filter(|l| l.contains(": error: ")).collect()
}

#[test]
fn check_refuses_what_serve_refuses_with_the_same_diagnostics() {
    let cases = [
        (
            "lockout:\n  max_failures: 0\n",
            "moat.yaml:19:17: error: lockout `max_failures` is 0; it must be between 1 and 100",
        ),
        (
            "anomaly:\n  max_subjects: 0\n",
            "moat.yaml:19:17: error: `anomaly.max_subjects` is 0; it must be between 1 and 10000000",
        ),
        (
            "rate_limiting:\n  backend: redis\n",
            "moat.yaml:19:12: error: `backend: redis` needs a `redis` section",
        ),
        (
            // Credentials in a URL the Redis client cannot parse are never
            // printed (checked below for every case).
            "rate_limiting:\n  backend: redis\n  redis: {url: \"redis://moat:hunter2@cache:notaport/0\"}\n",
            "moat.yaml:20:16: error: the Redis URL is invalid",
        ),
        (
            "access_log:\n  target: missing/access.log\n",
            "moat.yaml:19:11: error: the directory of the access log",
        ),
        (
            "state:\n  sqlite: missing/state.sqlite\n",
            "moat.yaml:19:11: error: the directory of the state file",
        ),
    ];
    for (section, expected) in cases {
        let dir = tempdir();
        write(dir.path(), "spec.yaml", ECHO_SPEC);
        write(
            dir.path(),
            "moat.yaml",
            &format!("{}{section}", config(UPSTREAM, "")),
        );
        let err = check_fails(dir.path());
        assert!(err.contains(expected), "{section}: {err}");
        assert!(err.contains("hint: "), "{section}: {err}");
        assert!(!err.contains("hunter2"), "{section}: {err}");
        assert!(err.trim_end().ends_with("1 error"), "{section}: {err}");
        // serve refuses with exactly the same diagnostics, before anything
        // starts
        let served = serve_refuses(dir.path());
        assert!(served.starts_with(err.as_str()), "{section}: {served}");
        assert!(!dir.path().join("missing").exists(), "{section}");
    }
}

#[test]
fn check_reports_every_problem_of_every_section_in_one_run() {
    let dir = tempdir();
    write(dir.path(), "spec.yaml", ECHO_SPEC);
    let text = format!(
        "{}lockout:\n  max_failures: 0\n  base_lockout: 1m\n  max_lockout: 10s\n\
         anomaly:\n  max_subjects: 0\n  scraping: {{window: 0s}}\n\
         rate_limiting:\n  backend: redis\n",
        config(UPSTREAM, "")
    );
    write(dir.path(), "moat.yaml", &text);
    let err = check_fails(dir.path());
    let found = errors(&err);
    for expected in [
        "moat.yaml:19:17: error: lockout `max_failures` is 0",
        "moat.yaml:21:16: error: lockout `max_lockout` (10s) is shorter than `base_lockout` (1m)",
        "moat.yaml:23:17: error: `anomaly.max_subjects` is 0",
        "moat.yaml:24:22: error: `anomaly.scraping.window` must be between 1s and 1d",
        "moat.yaml:26:12: error: `backend: redis` needs a `redis` section",
    ] {
        assert!(
            found.iter().any(|l| l.contains(expected)),
            "{expected}: {err}"
        );
    }
    assert!(err.trim_end().ends_with("5 errors"), "{err}");
}

#[test]
fn an_upstream_that_fails_to_compile_does_not_hide_its_apis_problems() {
    let dir = tempdir();
    write(dir.path(), "spec.yaml", ECHO_SPEC);
    write(dir.path(), "ca.pem", "not a certificate\n");
    let text = config(
        UPSTREAM,
        "    request_limits:\n      operations:\n        nope: {max_body_bytes: 10}\n",
    )
    .replace(
        "    response_timeout: 2s\n",
        "    response_timeout: 2s\n    tls: {ca: ca.pem}\n",
    );
    write(dir.path(), "moat.yaml", &text);
    let err = check_fails(dir.path());
    assert!(err.contains("ca.pem"), "{err}");
    assert!(
        err.contains("error: no operation has the operationId `nope`"),
        "{err}"
    );
    assert!(err.trim_end().ends_with("2 errors"), "{err}");
}

const KEYS: &str = "keys:\n  pepper: check-test-pepper-0123456789abcdef-0123456789\n";

const LEARN: &str = "    security:\n      Basic: {type: basic}\n    object_access:\n      learn:\n        - kind: item\n          create: createItem\n          id_pointer: /id\n          parameter: id\n          operations: [getItem]\n";

const BASIC_SPEC_TAIL: &str = "security: [{Basic: []}]\ncomponents:\n  securitySchemes:\n    Basic: {type: http, scheme: basic}\n";

#[test]
fn check_creates_no_state_file() {
    let dir = tempdir();
    write(
        dir.path(),
        "spec.yaml",
        &format!("{ECHO_SPEC}{BASIC_SPEC_TAIL}"),
    );
    // API keys and learned owners are the parts of the compile that use the
    // state file.
    let text = format!(
        "{}{KEYS}state:\n  sqlite: state.sqlite\n",
        config(UPSTREAM, LEARN)
    );
    write(dir.path(), "moat.yaml", &text);
    let (ok, out, err) = check(dir.path());
    assert!(ok, "{err}");
    assert!(out.contains("OK (1 API, 8 operations)"), "{out}");
    let mut left: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    left.sort();
    assert_eq!(left, ["moat.yaml", "spec.yaml"]);

    // A state file in a directory that does not exist: serve cannot open
    // it, so check refuses it too, and creates neither.
    let text = text.replace("sqlite: state.sqlite", "sqlite: var/moat/state.sqlite");
    write(dir.path(), "moat.yaml", &text);
    let err = check_fails(dir.path());
    assert!(
        err.contains("error: the directory of the state file"),
        "{err}"
    );
    assert!(!dir.path().join("var").exists());
}

#[test]
fn check_connects_nowhere() {
    // A listener that would see any connection; check must not make one.
    let idp = TcpListener::bind("127.0.0.1:0").unwrap();
    let redis = TcpListener::bind("127.0.0.1:0").unwrap();
    let (idp_port, redis_port) = (
        idp.local_addr().unwrap().port(),
        redis.local_addr().unwrap().port(),
    );
    let spec = format!(
        "{ECHO_SPEC}security: [{{Bearer: []}}, {{Oidc: []}}]\ncomponents:\n  securitySchemes:\n    \
         Bearer: {{type: http, scheme: bearer}}\n    \
         Oidc: {{type: openIdConnect, openIdConnectUrl: \"http://127.0.0.1:{idp_port}/.well-known/openid-configuration\"}}\n"
    );
    let dir = tempdir();
    write(dir.path(), "spec.yaml", &spec);
    let security = format!(
        "    security:\n      \
         Bearer: {{type: jwt, algorithms: [RS256], jwks_url: \"http://127.0.0.1:{idp_port}/jwks.json\"}}\n      \
         Oidc: {{type: jwt, algorithms: [RS256], oidc_issuer: \"http://127.0.0.1:{idp_port}\"}}\n"
    );
    let text = format!(
        "{}rate_limiting:\n  backend: redis\n  redis: {{url: \"redis://127.0.0.1:{redis_port}\"}}\n",
        config(UPSTREAM, &security)
    );
    write(dir.path(), "moat.yaml", &text);
    let started = Instant::now();
    let (ok, out, err) = check(dir.path());
    assert!(ok, "{err}");
    assert!(out.contains(": OK (1 API"), "{out}");
    assert!(started.elapsed() < Duration::from_secs(10));
    for (what, l) in [("identity provider", &idp), ("Redis", &redis)] {
        l.set_nonblocking(true).unwrap();
        match l.accept() {
            Err(e) if e.kind() == ErrorKind::WouldBlock => {}
            other => panic!("moat check connected to the {what}: {other:?}"),
        }
    }

    // Closed ports: nothing to wait for either.
    let text = text
        .replace(&idp_port.to_string(), &closed_port().to_string())
        .replace(&redis_port.to_string(), &closed_port().to_string());
    write(dir.path(), "moat.yaml", &text);
    let started = Instant::now();
    let (ok, _, err) = check(dir.path());
    assert!(ok, "{err}");
    assert!(started.elapsed() < Duration::from_secs(10));
}

#[test]
fn a_state_file_serve_cannot_open_is_reported_with_the_other_problems() {
    let dir = tempdir();
    write(dir.path(), "spec.yaml", ECHO_SPEC);
    write(
        dir.path(),
        "state.sqlite",
        "not a database, and not empty either\n",
    );
    let text = format!(
        "{}{KEYS}state:\n  sqlite: state.sqlite\n",
        config(
            UPSTREAM,
            "    request_limits:\n      operations:\n        nope: {max_body_bytes: 10}\n"
        )
    );
    write(dir.path(), "moat.yaml", &text);
    let unknown = "error: no operation has the operationId `nope`";
    let served = serve_refuses(dir.path());
    assert!(
        served.contains("error: cannot open the state store"),
        "{served}"
    );
    assert!(served.contains(unknown), "{served}");
    assert!(served.trim_end().ends_with("2 errors"), "{served}");
    // check reads no state: it finds the config's own problem only, and
    // leaves the file as it was.
    let err = check_fails(dir.path());
    assert!(err.contains(unknown), "{err}");
    assert!(err.trim_end().ends_with("1 error"), "{err}");
    assert_eq!(
        std::fs::read_to_string(dir.path().join("state.sqlite")).unwrap(),
        "not a database, and not empty either\n"
    );
}

/// `moat check` refuses the config in `dir`, and `moat serve` refuses it
/// with the same diagnostics; returns them.
fn refused_alike(dir: &Path) -> String {
    let err = check_fails(dir);
    let served = serve_refuses(dir);
    assert!(served.starts_with(err.as_str()), "{err}\n---\n{served}");
    assert!(!err.contains("panicked"), "{err}");
    err
}

#[test]
fn document_problems_are_positioned_in_the_document_all_at_once() {
    let dir = tempdir();
    let api = dir.path().join("api");
    std::fs::create_dir(&api).unwrap();
    write(
        dir.path(),
        "pepper.yaml",
        "pepper: {name: do-not-print, in: query, schema: {type: string}}\n",
    );
    write(
        &api,
        "spec.yaml",
        "openapi: 3.0.3\ninfo: {title: t, version: '1'}\npaths:\n  /items:\n    GET: {responses: {'200': {description: ok}}}\n  /other:\n    get:\n      responses: {'200': {description: ok}}\n      parameters:\n        - $ref: '../pepper.yaml#/pepper'\n",
    );
    write(
        dir.path(),
        "moat.yaml",
        &config(UPSTREAM, "").replace("spec: spec.yaml", "spec: api/spec.yaml"),
    );
    let err = refused_alike(dir.path());
    let spec = api.join("spec.yaml").display().to_string();
    let found = errors(&err);
    assert!(
        found
            .iter()
            .any(|l| l.starts_with(&format!("{spec}:5:5: error: `GET`"))),
        "{err}"
    );
    assert!(err.contains("hint: use lower case: get"), "{err}");
    assert!(
        found.iter().any(|l| l.starts_with(&format!(
            "{spec}:10:17: error: `$ref` names `../pepper.yaml#/pepper`"
        )) || l.starts_with(&format!(
            "{spec}:10:17: error: `$ref` names `../pepper.yaml`"
        ))),
        "{err}"
    );
    assert!(!err.contains("do-not-print"), "{err}");
    assert!(err.trim_end().ends_with("2 errors"), "{err}");

    // Listed in `spec_ref_dirs`, the directory may be read.
    write(
        dir.path(),
        "moat.yaml",
        &config(UPSTREAM, "    spec_ref_dirs: [.]\n")
            .replace("spec: spec.yaml", "spec: api/spec.yaml"),
    );
    let err = refused_alike(dir.path());
    assert!(!err.contains("$ref"), "{err}");
    assert!(err.trim_end().ends_with("1 error"), "{err}");
}

#[test]
fn unsupported_patterns_are_reported_at_their_pattern_keys() {
    let dir = tempdir();
    write(
        dir.path(),
        "spec.yaml",
        "openapi: 3.0.3\ninfo: {title: t, version: '1'}\npaths:\n  /items:\n    post:\n      requestBody:\n        content:\n          application/json:\n            schema:\n              type: object\n              properties:\n                code: {type: string, pattern: '^(?=a).*$'}\n      responses: {'200': {description: ok}}\ncomponents:\n  schemas:\n    Unused:\n      type: string\n      pattern: '(a)\\1'\n    Fine: {type: string, pattern: '^[a-z]+$'}\n",
    );
    write(dir.path(), "moat.yaml", &config(UPSTREAM, ""));
    let err = refused_alike(dir.path());
    let spec = dir.path().join("spec.yaml").display().to_string();
    let found = errors(&err);
    assert!(
        found.iter().any(|l| l.starts_with(&format!(
            "{spec}:12:38: error: pattern \"^(?=a).*$\" uses a lookahead"
        ))),
        "{err}"
    );
    assert!(
        found.iter().any(|l| l.starts_with(&format!(
            "{spec}:18:7: error: pattern \"(a)\\1\" uses a back-reference"
        ))),
        "{err}"
    );
    assert!(err.contains("linear time"), "{err}");
    assert!(!err.contains("moat.yaml:"), "{err}");
    assert!(err.trim_end().ends_with("2 errors"), "{err}");

    // With validation off, patterns are not compiled: nothing to refuse.
    write(
        dir.path(),
        "moat.yaml",
        &config(UPSTREAM, "    validation: {enabled: false}\n"),
    );
    let (ok, _, stderr) = check(dir.path());
    assert!(ok, "{stderr}");
}

#[test]
fn every_structural_problem_of_the_config_is_reported_in_one_run() {
    let dir = tempdir();
    write(dir.path(), "spec.yaml", ECHO_SPEC);
    let text = config(UPSTREAM, "    mdoe: monitor\n")
        .replace(
            "    response_timeout: 2s\n",
            "    response_timeout: soon\n    retires: 3\n",
        )
        .replace(ADMIN_TOKEN, "${env:MOAT_CHECK_TEST_UNSET_TOKEN}");
    let text = format!("{text}lockuot: {{}}\nkeys:\n  pepper: short\n");
    write(dir.path(), "moat.yaml", &text);
    let err = refused_alike(dir.path());
    let found = errors(&err);
    for expected in [
        "error: environment variable `MOAT_CHECK_TEST_UNSET_TOKEN` is not set",
        "error: unknown key `mdoe`",
        "error: unknown key `retires`",
        "error: unknown key `lockuot`",
        "moat.yaml:9:23: error: invalid duration `soon`",
    ] {
        assert!(
            found.iter().any(|l| l.contains(expected)),
            "{expected}: {err}"
        );
    }
    // Structure first: values are validated once the structure is sound.
    assert!(!err.contains("pepper is"), "{err}");
    assert!(err.trim_end().ends_with("5 errors"), "{err}");
}

#[test]
fn unreadable_files_are_positioned() {
    for (text, expected) in [
        (
            b"listeners:\n  - bind: !include other.yaml\n".to_vec(),
            "moat.yaml:2:11: error: unknown YAML tag `!include`",
        ),
        (
            b"listeners:\n  - bind: \"127.0.0.1:0\" # caf\xe9\n".to_vec(),
            "moat.yaml:2:30: error: the file is not valid UTF-8",
        ),
    ] {
        let dir = tempdir();
        std::fs::write(dir.path().join("moat.yaml"), text).unwrap();
        let err = refused_alike(dir.path());
        assert!(err.contains(expected), "{err}");
        assert!(err.contains("hint: "), "{err}");
    }
    // A minified document nested too deep: the depth, a short excerpt.
    let dir = tempdir();
    write(dir.path(), "moat.yaml", &config(UPSTREAM, ""));
    let deep = format!(
        "{{\"openapi\": \"3.1.0\", \"x\": {}1{}}}{}",
        "[".repeat(5000),
        "]".repeat(5000),
        " ".repeat(400_000)
    );
    write(dir.path(), "spec.yaml", &deep);
    let err = refused_alike(dir.path());
    assert!(err.contains("nested more than 255 levels deep"), "{err}");
    assert!(!err.contains("invalid YAML"), "{err}");
    assert!(err.len() < 2000, "{} bytes", err.len());
}

#[test]
fn a_cluster_config_is_checked_without_connecting() {
    let pg = TcpListener::bind("127.0.0.1:0").unwrap();
    let redis = TcpListener::bind("127.0.0.1:0").unwrap();
    let (pg_port, redis_port) = (
        pg.local_addr().unwrap().port(),
        redis.local_addr().unwrap().port(),
    );
    let dir = tempdir();
    write(dir.path(), "spec.yaml", ECHO_SPEC);
    let text = format!(
        "{}state:\n  backend: cluster\n  postgres: {{url: \"postgres://moat:pw@127.0.0.1:{pg_port}/moat\"}}\n  redis: {{url: \"redis://127.0.0.1:{redis_port}/\"}}\n",
        config(UPSTREAM, "")
    );
    write(dir.path(), "moat.yaml", &text);
    let (ok, out, err) = check(dir.path());
    assert!(ok, "{err}");
    assert!(out.contains(": OK (1 API"), "{out}");
    for (what, l) in [("PostgreSQL", &pg), ("Redis", &redis)] {
        l.set_nonblocking(true).unwrap();
        match l.accept() {
            Err(e) if e.kind() == ErrorKind::WouldBlock => {}
            other => panic!("moat check connected to {what}: {other:?}"),
        }
    }
}

#[test]
fn cluster_state_problems_are_reported_and_serve_refuses_them_alike() {
    let dir = tempdir();
    write(dir.path(), "spec.yaml", ECHO_SPEC);
    // The section's own problems, at once.
    let state = "state:\n  backend: cluster\n  postgres: {url: \"mysql://moat:hunter2@db/moat\"}\n  redis: {url: \"redis://:hunter2@cache:6379/\", prefix: \"a{b\"}\n";
    let text = format!(
        "{}{state}  key_cache: {{revalidate: 0s}}\nrate_limiting:\n  backend: memory\n",
        config(UPSTREAM, "")
    );
    write(dir.path(), "moat.yaml", &text);
    let err = check_fails(dir.path());
    let found = errors(&err);
    let expected = [
        "moat.yaml:22:27: error: `revalidate` is 0s; it must be above zero and at most 1m",
        "moat.yaml:24:12: error: `backend: memory` counts on each node alone, but `state.backend` is `cluster`",
    ];
    assert_eq!(found.len(), expected.len(), "{err}");
    for (line, expected) in found.iter().zip(expected) {
        assert!(line.ends_with(expected), "{line:?} is not {expected:?}");
    }
    assert_eq!(errors(&serve_refuses(dir.path())), found);

    // Then the URLs and the prefix, as the clients will read them.
    write(
        dir.path(),
        "moat.yaml",
        &format!("{}{state}", config(UPSTREAM, "")),
    );
    let err = check_fails(dir.path());
    let found = errors(&err);
    for expected in [
        "moat.yaml:20:19: error: invalid PostgreSQL URL: it does not start with postgres:// or postgresql://",
        "moat.yaml:21:56: error: the key prefix `a{b` must not contain `{` or `}`",
    ] {
        assert!(
            found.iter().any(|l| l.ends_with(expected)),
            "missing {expected:?} in:\n{err}"
        );
    }
    assert!(!err.contains("hunter2"), "a password was printed:\n{err}");
    assert_eq!(errors(&serve_refuses(dir.path())), found);
}
