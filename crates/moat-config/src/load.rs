//! Reading a config file: parse, resolve secrets, deserialize, validate.
//!
//! Every step reports problems as diagnostics positioned in the file. Checks
//! that need other files (the OpenAPI documents, certificates) are limited
//! here to "does it exist"; their content is validated by whoever uses them,
//! positioned in their own files.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

use serde_path_to_error::Segment;

use crate::diagnostic::{Diagnostic, Diagnostics, did_you_mean};
use crate::model::{Config, StateConfig};
use crate::secret::{resolve_references, resolve_references_under};
use crate::source::{Document, pointer_of, push_pointer};

/// A config that parsed and passed validation.
#[derive(Debug, Clone)]
pub struct LoadedConfig {
    /// The config, with every relative path made absolute.
    pub config: Config,
    /// The parsed file, for positioning later diagnostics (e.g. spec errors
    /// that should point back at the `spec:` line).
    pub document: Document,
}

impl LoadedConfig {
    /// Every file whose change should trigger a reload: the config itself and
    /// the documents and certificates it names.
    pub fn watched_files(&self) -> Vec<PathBuf> {
        let mut files = vec![self.document.path().to_path_buf()];
        for api in &self.config.apis {
            files.push(api.spec.clone());
        }
        for l in &self.config.listeners {
            if let Some(tls) = &l.tls {
                files.push(tls.cert.clone());
                files.push(tls.key.clone());
            }
        }
        files
    }
}

/// Loads and validates a config file.
///
/// Reports every problem it can in one go: a file that cannot be read as
/// YAML stops at that problem, since nothing after it can be read; otherwise
/// every reference that does not resolve, every unknown key and misplaced
/// or mistyped value, and, once the structure is sound, every value that
/// fails validation.
pub fn load(path: &Path) -> Result<LoadedConfig, Diagnostics> {
    let mut document = Document::load(path)?;
    let base_dir = base_dir(path);
    let mut errors = resolve_references(&mut document, &base_dir)
        .err()
        .unwrap_or_default();
    // A value whose reference did not resolve is reported once, as that.
    let unresolved: Vec<_> = errors.0.iter().map(|d| d.position).collect();
    let fresh = |found: Diagnostics| {
        found
            .0
            .into_iter()
            .filter(|d| !unresolved.contains(&d.position))
    };
    let mut config = match deserialize::<Config>(&document, "") {
        Ok(config) => config,
        Err(found) => {
            errors.0.extend(fresh(found));
            return Err(errors);
        }
    };
    absolutize(&mut config, &base_dir);
    share_cluster_counters(&mut config, &document);
    if let Err(found) = validate(&config, &document) {
        errors.0.extend(fresh(found));
    }
    errors.into_result(LoadedConfig { config, document })
}

/// Loads only the `state` section of a config file: what the commands that
/// work on the state database need. The rest of the file is not validated,
/// and its `${env:…}`/`${file:…}` references need not resolve, so an
/// operator's shell needs none of the gateway's secrets.
pub fn load_state(path: &Path) -> Result<StateConfig, Diagnostics> {
    let mut document = Document::load(path)?;
    let base_dir = base_dir(path);
    resolve_references_under(&mut document, &base_dir, "/state")?;
    let mut state = match document.value.get("state") {
        None | Some(serde_json::Value::Null) => StateConfig::default(),
        Some(_) => deserialize::<StateConfig>(&document, "/state")?,
    };
    absolutize_state(&mut state, &base_dir);
    let mut errors = Diagnostics::default();
    let mut err = |pointer: &str, message: String, hint: &str| {
        errors.push(document.error_at(pointer, message).with_hint(hint));
    };
    validate_state(&state, &mut err);
    errors.into_result(state)
}

/// In a cluster, rate limits and quotas count on the cluster's Redis unless
/// `rate_limiting` names its own: counters kept per node would let each
/// node allow the whole limit. An explicit `backend: memory` is refused by
/// [`validate_state`]'s caller rather than overridden.
fn share_cluster_counters(config: &mut Config, doc: &Document) {
    if config.state.backend != crate::model::StateBackend::Cluster
        || doc.value.pointer("/rate_limiting/backend").is_some()
    {
        return;
    }
    config.rate_limiting.backend = crate::model::LimitBackend::Redis;
    if config.rate_limiting.redis.is_none() {
        config.rate_limiting.redis = config.state.redis.clone();
    }
}

fn absolutize_state(state: &mut StateConfig, base: &Path) {
    if state.sqlite.is_relative() {
        state.sqlite = base.join(&state.sqlite);
    }
    if let Some(ca) = state.redis.as_mut().and_then(|r| r.ca.as_mut())
        && ca.is_relative()
    {
        *ca = base.join(&*ca);
    }
}

/// The `state` section alone: what `moat serve` and the commands that open
/// the state both check.
fn validate_state(state: &StateConfig, err: &mut impl FnMut(&str, String, &str)) {
    use crate::model::StateBackend;
    match state.backend {
        StateBackend::Embedded => {
            check_directory(err, "/state/sqlite", &state.sqlite, "the state file");
            for (section, pointer) in [
                (state.postgres.is_some(), "/state/postgres"),
                (state.redis.is_some(), "/state/redis"),
            ] {
                if section {
                    err(
                        pointer,
                        format!("`{}` is read only with `backend: cluster`", &pointer[7..]),
                        "set `state.backend: cluster`, or remove the section",
                    );
                }
            }
        }
        StateBackend::Cluster => {
            for (missing, what, example) in [
                (
                    state.postgres.is_none(),
                    "postgres",
                    "postgres: {url: ${env:MOAT_POSTGRES_URL}}",
                ),
                (
                    state.redis.is_none(),
                    "redis",
                    "redis: {url: ${env:MOAT_REDIS_URL}}",
                ),
            ] {
                if missing {
                    err(
                        "/state/backend",
                        format!("`backend: cluster` needs a `{what}` section"),
                        &format!("add `{example}` under `state`"),
                    );
                }
            }
            if let Some(pg) = &state.postgres {
                if pg.max_connections == 0 {
                    err(
                        "/state/postgres/max_connections",
                        "`max_connections` is 0".into(),
                        "each node needs at least one connection; 16 is the default",
                    );
                }
                if pg.timeout.is_zero() {
                    err(
                        "/state/postgres/timeout",
                        "`timeout` is zero".into(),
                        "write a duration above zero, like `2s`",
                    );
                }
            }
            if let Some(redis) = &state.redis {
                if redis.timeout.is_zero() {
                    err(
                        "/state/redis/timeout",
                        "`timeout` is zero".into(),
                        "write a duration above zero, like `100ms`",
                    );
                }
                if let Some(ca) = &redis.ca {
                    check_file(err, "/state/redis/ca", ca, "the Redis CA file");
                }
            }
        }
    }
    let cache = &state.key_cache;
    if cache.revalidate.is_zero() || cache.revalidate > std::time::Duration::from_secs(60) {
        err(
            "/state/key_cache/revalidate",
            format!(
                "`revalidate` is {}; it must be above zero and at most 1m",
                humantime::format_duration(cache.revalidate)
            ),
            "a revoked key stays usable on a node that missed the notice for up to this long; 1s is the default",
        );
    }
    if cache.max_entries == 0 {
        err(
            "/state/key_cache/max_entries",
            "`max_entries` is 0".into(),
            "the cache needs room for the keys in use; 100000 is the default",
        );
    }
}

fn base_dir(config: &Path) -> PathBuf {
    config
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."))
}

/// The most structural problems reported in one run.
const MAX_STRUCTURE_ERRORS: usize = 100;

/// Deserializes the value at `root` in `doc` (a JSON pointer, `""` for the
/// whole document), reporting every structural problem with its position:
/// what other commands' config files (`moat scan`'s) use too.
pub fn deserialize_at<T: serde::de::DeserializeOwned>(
    doc: &Document,
    root: &str,
) -> Result<T, Diagnostics> {
    deserialize(doc, root)
}

/// Deserializes the value at `root` in `doc`, reporting every structural
/// problem: after each one the offending key is set aside and the
/// rest read again, so that ten typos take one run to find, not ten. A
/// problem whose removal would shift what follows (a list item) or hide
/// a required key stops there.
fn deserialize<T: serde::de::DeserializeOwned>(
    doc: &Document,
    root: &str,
) -> Result<T, Diagnostics> {
    let Some(value) = doc.value.pointer(root) else {
        return Err(doc.error_at(root, "missing section").into());
    };
    let first = match serde_path_to_error::deserialize::<_, T>(value) {
        Ok(v) => return Ok(v),
        Err(e) => e,
    };
    let mut value = value.clone();
    let mut errors = Diagnostics::default();
    let mut removed: Vec<String> = Vec::new();
    let mut next = Some(first);
    while let Some(e) = next.take() {
        let mut pointer = root.to_string();
        for segment in e.path().iter() {
            match segment {
                Segment::Seq { index } => push_pointer(&mut pointer, &index.to_string()),
                Segment::Map { key } => push_pointer(&mut pointer, key),
                Segment::Enum { .. } | Segment::Unknown => {}
            }
        }
        let message = e.inner().to_string();
        if let Some(field) = between(&message, "missing field `", "`") {
            let mut missing = pointer.clone();
            push_pointer(&mut missing, field);
            if removed.contains(&missing) {
                // Set aside by an earlier pass: already reported.
                break;
            }
        }
        let mut target = pointer.clone();
        if let Some(field) = between(&message, "unknown field `", "`")
            && !target.ends_with(&format!("/{field}"))
        {
            push_pointer(&mut target, field);
        }
        errors.push(serde_error(doc, pointer, &message));
        if errors.0.len() >= MAX_STRUCTURE_ERRORS {
            break;
        }
        let Some(relative) = target.strip_prefix(root) else {
            break;
        };
        if !remove(&mut value, relative) {
            break;
        }
        removed.push(target);
        next = serde_path_to_error::deserialize::<_, T>(&value).err();
    }
    Err(errors)
}

/// Removes the mapping entry at `pointer`; false when it is not one (the
/// root, a list item, or nothing).
fn remove(value: &mut serde_json::Value, pointer: &str) -> bool {
    let Some((parent, last)) = pointer.rsplit_once('/') else {
        return false;
    };
    let key = last.replace("~1", "/").replace("~0", "~");
    match value.pointer_mut(parent) {
        Some(serde_json::Value::Object(map)) => map.remove(&key).is_some(),
        _ => false,
    }
}

/// Turns serde's message into a positioned diagnostic with a hint.
fn serde_error(doc: &Document, mut pointer: String, message: &str) -> Diagnostic {
    if let Some(field) = between(message, "unknown field `", "`") {
        if !pointer.ends_with(&format!("/{field}")) {
            push_pointer(&mut pointer, field);
        }
        let expected = expected_names(message);
        let hint = match did_you_mean(field, expected.iter().copied()) {
            Some(name) => format!("did you mean `{name}`?"),
            None if expected.is_empty() => "remove it".to_string(),
            None => format!("valid keys here: {}", expected.join(", ")),
        };
        return doc
            .error_at_key(&pointer, format!("unknown key `{field}`"))
            .with_hint(hint);
    }
    if let Some(field) = between(message, "missing field `", "`") {
        return doc
            .error_at(&pointer, format!("missing key `{field}`"))
            .with_hint(format!("add `{field}:`; see docs/configuration.md"));
    }
    if let Some(variant) = between(message, "unknown variant `", "`") {
        let expected = expected_names(message);
        let hint = match did_you_mean(variant, expected.iter().copied()) {
            Some(name) => format!("did you mean `{name}`?"),
            None => format!("expected one of: {}", expected.join(", ")),
        };
        return doc
            .error_at(&pointer, format!("unknown value `{variant}`"))
            .with_hint(hint);
    }
    doc.error_at(&pointer, message.to_string())
        .with_hint("see docs/configuration.md for the expected form")
}

fn between<'a>(s: &'a str, start: &str, end: &str) -> Option<&'a str> {
    let rest = &s[s.find(start)? + start.len()..];
    Some(&rest[..rest.find(end)?])
}

/// The names serde lists after "expected one of" / "expected".
fn expected_names(message: &str) -> Vec<&str> {
    let Some(i) = message.find("expected") else {
        return Vec::new();
    };
    message[i..].split('`').skip(1).step_by(2).collect()
}

fn absolutize(config: &mut Config, base: &Path) {
    let abs = |p: &mut PathBuf| {
        if p.is_relative() {
            *p = base.join(&*p);
        }
    };
    for api in &mut config.apis {
        abs(&mut api.spec);
        for dir in &mut api.spec_ref_dirs {
            abs(dir);
        }
        for verifier in api.security.values_mut() {
            if let crate::model::VerifierConfig::Jwt(jwt) = verifier
                && let Some(key) = &mut jwt.public_key
            {
                abs(key);
            }
        }
    }
    for l in &mut config.listeners {
        if let Some(tls) = &mut l.tls {
            abs(&mut tls.cert);
            abs(&mut tls.key);
            if let Some(client) = &mut tls.client_auth {
                abs(&mut client.ca);
            }
        }
    }
    for u in config.upstreams.values_mut() {
        if let Some(ca) = &mut u.tls.ca {
            abs(ca);
        }
    }
    if let Some(ca) = &mut config.outbound.ca {
        abs(ca);
    }
    absolutize_state(&mut config.state, base);
    if let Some(tls) = config.admin.as_mut().and_then(|a| a.tls.as_mut()) {
        abs(&mut tls.cert);
        abs(&mut tls.key);
    }
    if let Some(file) = &mut config.events.file
        && file.target != "stdout"
        && Path::new(&file.target).is_relative()
    {
        file.target = base.join(&file.target).to_string_lossy().into_owned();
    }
    let target = &config.access_log.target;
    if target != "stdout" && target != "stderr" && Path::new(target).is_relative() {
        config.access_log.target = base.join(target).to_string_lossy().into_owned();
    }
}

/// The deepest JSON nesting a limit may allow: the parser behind the
/// request view refuses deeper documents whatever the limit.
pub const MAX_JSON_DEPTH: usize = 127;

fn validate(config: &Config, doc: &Document) -> Result<(), Diagnostics> {
    let mut errors = Diagnostics::default();
    let mut err = |pointer: &str, message: String, hint: &str| {
        // Lines holding secret values are never quoted.
        let d = if is_secret_pointer(pointer) {
            doc.secret_error_at(pointer, message)
        } else {
            doc.error_at(pointer, message)
        };
        errors.push(d.with_hint(hint));
    };

    if config.listeners.is_empty() {
        err(
            "/listeners",
            "no listeners".into(),
            "add one, e.g. `listeners: [{bind: \"127.0.0.1:8080\"}]`",
        );
    }
    let mut binds = HashSet::new();
    for (i, l) in config.listeners.iter().enumerate() {
        let p = format!("/listeners/{i}");
        // Port 0 asks the OS for a free port: never a collision.
        if l.bind.port() != 0 && !binds.insert(l.bind) {
            err(
                &format!("{p}/bind"),
                format!("two listeners bind {}", l.bind),
                "give each listener its own address or port",
            );
        }
        if let Some(tls) = &l.tls {
            check_file(&mut err, &format!("{p}/tls/cert"), &tls.cert, "certificate");
            check_file(&mut err, &format!("{p}/tls/key"), &tls.key, "private key");
            if let Some(client) = &tls.client_auth {
                check_file(
                    &mut err,
                    &format!("{p}/tls/client_auth/ca"),
                    &client.ca,
                    "client CA bundle",
                );
            }
            if l.redirect_to_https.is_some() {
                err(
                    &format!("{p}/redirect_to_https"),
                    "a TLS listener cannot redirect to HTTPS".into(),
                    "use `redirect_to_https` on a plain HTTP listener",
                );
            }
        }
        if l.max_connections == 0 {
            err(
                &format!("{p}/max_connections"),
                "max_connections must be at least 1".into(),
                "the default is 10000",
            );
        }
        if !(1..=65_535).contains(&l.backlog) {
            err(
                &format!("{p}/backlog"),
                format!("backlog must be between 1 and 65535, not {}", l.backlog),
                "the default is 1024; Linux caps it at net.core.somaxconn",
            );
        }
        if l.max_connections_per_client == 0 {
            err(
                &format!("{p}/max_connections_per_client"),
                "max_connections_per_client must be at least 1".into(),
                "the default is 256; connections from trusted proxies are not counted",
            );
        }
        if !(1..=10_000).contains(&l.max_header_count) {
            err(
                &format!("{p}/max_header_count"),
                format!(
                    "max_header_count is {}; it must be 1 to 10000",
                    l.max_header_count
                ),
                "the default is 100",
            );
        }
        if !(1024..=1024 * 1024).contains(&l.max_header_bytes) {
            err(
                &format!("{p}/max_header_bytes"),
                format!(
                    "max_header_bytes is {}; it must be 1024 to 1048576",
                    l.max_header_bytes
                ),
                "the default is 16384 (16 KiB)",
            );
        }
        if l.max_url_bytes == 0 || l.max_url_bytes > l.max_header_bytes {
            err(
                &format!("{p}/max_url_bytes"),
                format!(
                    "max_url_bytes is {}; it must be at least 1 and at most max_header_bytes ({})",
                    l.max_url_bytes, l.max_header_bytes
                ),
                "the request target is part of the request head; the default is 8192 (8 KiB)",
            );
        }
        for (key, value, default) in [
            (
                "http2_keep_alive_interval",
                l.http2_keep_alive_interval,
                "30s",
            ),
            (
                "http2_keep_alive_timeout",
                l.http2_keep_alive_timeout,
                "20s",
            ),
            ("http2_idle_timeout", l.http2_idle_timeout, "2m"),
        ] {
            if value.is_zero() {
                err(
                    &format!("{p}/{key}"),
                    format!("{key} must be longer than 0s"),
                    &format!("the default is {default}"),
                );
            }
        }
    }

    if let Some(admin) = &config.admin {
        if admin
            .token
            .as_ref()
            .is_some_and(|t| t.expose().chars().count() < 16)
        {
            err(
                "/admin/token",
                "the admin token is shorter than 16 characters".into(),
                "generate one, e.g. `openssl rand -hex 24`, and reference it with ${env:MOAT_ADMIN_TOKEN}; or leave it out and use `moat admin token create`",
            );
        }
        if !admin.bind.ip().is_loopback() && admin.tls.is_none() && !admin.allow_plaintext_remote {
            err(
                "/admin/bind",
                format!(
                    "the admin listener binds {}, which is not a loopback address, without TLS",
                    admin.bind.ip()
                ),
                "add `admin.tls` (cert and key), bind 127.0.0.1, or set `admin.allow_plaintext_remote: true` if a trusted network protects it",
            );
        }
        if let Some(tls) = &admin.tls {
            check_file(&mut err, "/admin/tls/cert", &tls.cert, "certificate");
            check_file(&mut err, "/admin/tls/key", &tls.key, "private key");
        }
        if admin.bind.port() != 0 && binds.contains(&admin.bind) {
            err(
                "/admin/bind",
                format!("the admin listener and a listener both bind {}", admin.bind),
                "the admin listener needs its own port",
            );
        }
    }

    for (name, u) in &config.upstreams {
        let mut p = String::from("/upstreams");
        push_pointer(&mut p, name);
        if u.targets.is_empty() {
            err(
                &format!("{p}/targets"),
                format!("upstream `{name}` has no targets"),
                "add at least one base URL, e.g. `http://127.0.0.1:9000`",
            );
        }
        for (i, t) in u.targets.iter().enumerate() {
            if let Err(why) = check_target(t) {
                err(
                    &format!("{p}/targets/{i}"),
                    format!("invalid upstream target `{t}`: {why}"),
                    "write `http://host:port` or `https://host:port/prefix`",
                );
            }
        }
        if let Some(ca) = &u.tls.ca {
            check_file(&mut err, &format!("{p}/tls/ca"), ca, "CA bundle");
        }
        if u.body_timeout.is_zero() {
            err(
                &format!("{p}/body_timeout"),
                "`body_timeout` is zero".into(),
                "write a duration, e.g. `60s`",
            );
        }
        if u.retries > MAX_UPSTREAM_RETRIES {
            err(
                &format!("{p}/retries"),
                format!("{} retries: at most {MAX_UPSTREAM_RETRIES}", u.retries),
                "a request is sent at most once per retry; a few are enough to pass a failed target",
            );
        }
        if let Some(h) = &u.health {
            check_health(&mut err, &format!("{p}/health"), h);
        }
    }
    match &config.outbound.ca {
        Some(ca) => check_file(&mut err, "/outbound/ca", ca, "CA bundle"),
        None if !config.outbound.system_roots => err(
            "/outbound/system_roots",
            "no CA would be trusted: `system_roots` is off and `ca` is not set".into(),
            "set `outbound.ca` to a PEM bundle, or leave `system_roots` on",
        ),
        None => {}
    }

    if config.apis.is_empty() {
        err(
            "/apis",
            "no APIs".into(),
            "add an API with a `name`, a `spec` and an `upstream`",
        );
    }
    let mut names = HashSet::new();
    let mut mounts: HashMap<(Option<String>, String), usize> = HashMap::new();
    for (i, api) in config.apis.iter().enumerate() {
        let p = format!("/apis/{i}");
        let depth = api.request_limits.json.max_depth;
        if !(1..=MAX_JSON_DEPTH).contains(&depth) {
            err(
                &format!("{p}/request_limits/json/max_depth"),
                format!("max_depth is {depth}; it must be 1 to {MAX_JSON_DEPTH}"),
                "JSON bodies are parsed with bounded recursion; the default is 32",
            );
        }
        if !names.insert(api.name.as_str()) {
            err(
                &format!("{p}/name"),
                format!("two APIs are named `{}`", api.name),
                "API names must be unique: they label logs and metrics",
            );
        }
        if !config.upstreams.contains_key(&api.upstream) {
            let hint =
                match did_you_mean(&api.upstream, config.upstreams.keys().map(String::as_str)) {
                    Some(n) => format!("did you mean `{n}`?"),
                    None => "define it under `upstreams:`".to_string(),
                };
            err(
                &format!("{p}/upstream"),
                format!("unknown upstream `{}`", api.upstream),
                &hint,
            );
        }
        check_file(
            &mut err,
            &format!("{p}/spec"),
            &api.spec,
            "OpenAPI document",
        );
        for (k, dir) in api.spec_ref_dirs.iter().enumerate() {
            if !dir.is_dir() {
                err(
                    &format!("{p}/spec_ref_dirs/{k}"),
                    format!("`{}` is not a directory", dir.display()),
                    "list directories the document's `$ref`s may read files from; relative paths are resolved from the directory of the config file",
                );
            }
        }
        let base = api.base_path.clone().unwrap_or_default();
        if let Some(bp) = &api.base_path
            && (!bp.starts_with('/') || bp.ends_with('/') || bp.contains("//") || bp.contains("/."))
        {
            err(
                &format!("{p}/base_path"),
                format!("invalid base_path `{bp}`"),
                "write it like `/shop` or `/api/v2`: a leading slash, no trailing slash, no dot segments",
            );
        }
        let host = api.host.as_ref().map(|h| h.to_ascii_lowercase());
        if let Some(prev) = mounts.insert((host, base), i) {
            err(
                &format!("{p}/base_path"),
                format!(
                    "API `{}` has the same host and base_path as `{}`",
                    api.name, config.apis[prev].name
                ),
                "give one of them a different `host` or `base_path`",
            );
        }
    }

    validate_identity(config, &mut err);
    for (i, api) in config.apis.iter().enumerate() {
        let Some(cors) = &api.cors else { continue };
        let p = format!("/apis/{i}/cors");
        let wildcard = cors.allowed_origins.iter().any(|o| o == "*");
        if wildcard && cors.allow_credentials {
            err(
                &format!("{p}/allow_credentials"),
                "`*` origins together with credentials would let any site act as the user".into(),
                "list the exact origins that may send credentials",
            );
        }
        if cors.allowed_origins.is_empty() {
            err(
                &format!("{p}/allowed_origins"),
                "no origins".into(),
                "list origins like `https://app.example.com`",
            );
        }
        for (k, o) in cors.allowed_origins.iter().enumerate() {
            let valid = o == "*"
                || ((o.starts_with("https://") || o.starts_with("http://"))
                    && !o
                        .trim_end_matches('/')
                        .split_once("://")
                        .is_some_and(|(_, rest)| rest.contains('/'))
                    && !o.ends_with('/'));
            if !valid {
                err(
                    &format!("{p}/allowed_origins/{k}"),
                    format!("`{o}` is not an origin"),
                    "an origin is `scheme://host[:port]`, without a path or trailing slash",
                );
            }
        }
    }
    if let Some(keys) = &config.keys
        && keys.pepper.expose().len() < 32
    {
        err(
            "/keys/pepper",
            format!(
                "the key pepper is {} bytes; at least 32 are needed",
                keys.pepper.expose().len()
            ),
            "generate one, e.g. `openssl rand -base64 48`, and reference it with ${env:MOAT_KEY_PEPPER}",
        );
    }
    let uses_keys = config.apis.iter().any(|a| {
        a.security
            .values()
            .any(|v| matches!(v, crate::model::VerifierConfig::ApiKey))
    });
    if uses_keys && config.keys.is_none() {
        err(
            "/apis",
            "an API uses an `api_key` verifier but `keys` is not configured".into(),
            "add `keys: {pepper: ${env:MOAT_KEY_PEPPER}}`",
        );
    }

    if http_header_name_invalid(&config.proxy.request_id_header) {
        err(
            "/proxy/request_id_header",
            format!(
                "`{}` is not a valid header name",
                config.proxy.request_id_header
            ),
            "use letters, digits and dashes, e.g. `x-request-id`",
        );
    }
    validate_start_up(config, &mut err);
    errors.into_result(())
}

/// The most failures a lockout threshold may be; the same bound as
/// `moat_state::lockout::MAX_FAILURE_THRESHOLD`, which the store enforces.
pub const MAX_LOCKOUT_FAILURES: u32 = 100;

/// What the gateway builds once at start-up and keeps across reloads: the
/// lockout and anomaly tables, the rate-limit backend, the state file and
/// the access log. Checked here so that `moat check` refuses what
/// `moat serve` could not start with, without opening anything.
fn validate_start_up(config: &Config, err: &mut impl FnMut(&str, String, &str)) {
    let lockout = &config.lockout;
    if lockout.enabled {
        for (name, value) in [
            ("max_failures", lockout.max_failures),
            ("credential_max_failures", lockout.credential_max_failures),
        ] {
            if !(1..=MAX_LOCKOUT_FAILURES).contains(&value) {
                err(
                    &format!("/lockout/{name}"),
                    format!(
                        "lockout `{name}` is {value}; it must be between 1 and {MAX_LOCKOUT_FAILURES}"
                    ),
                    "0 would lock everyone out at once; the defaults are 10 per address and 5 per credential",
                );
            }
        }
        for (name, value) in [
            ("window", lockout.window),
            ("base_lockout", lockout.base_lockout),
            ("max_lockout", lockout.max_lockout),
        ] {
            if value < std::time::Duration::from_millis(1) {
                err(
                    &format!("/lockout/{name}"),
                    format!("lockout `{name}` must be at least one millisecond"),
                    "write a duration like `1m`, or set `lockout.enabled: false`",
                );
            }
        }
        if lockout.max_lockout < lockout.base_lockout {
            err(
                "/lockout/max_lockout",
                format!(
                    "lockout `max_lockout` ({}) is shorter than `base_lockout` ({})",
                    humantime::format_duration(lockout.max_lockout),
                    humantime::format_duration(lockout.base_lockout)
                ),
                "lockouts double from `base_lockout` up to `max_lockout`, which must be at least as long",
            );
        }
    }

    for problem in config.anomaly.problems() {
        err(
            &pointer_of(std::iter::once("anomaly").chain(problem.field().split('.'))),
            problem.to_string(),
            "thresholds and windows must be above zero; see the `anomaly` section of docs/configuration.md",
        );
    }

    for problem in config.discovery.capture.problems() {
        err(
            &format!("/discovery/capture/{}", problem.key),
            problem.message,
            problem.hint,
        );
    }

    let limiting = &config.rate_limiting;
    if limiting.backend == crate::model::LimitBackend::Redis && limiting.redis.is_none() {
        err(
            "/rate_limiting/backend",
            "`backend: redis` needs a `redis` section".into(),
            "add `redis: {url: ${env:MOAT_REDIS_URL}}` (redis://host:port/db)",
        );
    }

    validate_state(&config.state, err);
    if config.state.backend == crate::model::StateBackend::Cluster
        && config.rate_limiting.backend == crate::model::LimitBackend::Memory
    {
        err(
            "/rate_limiting/backend",
            "`backend: memory` counts on each node alone, but `state.backend` is `cluster`".into(),
            "remove `rate_limiting.backend` (a cluster counts in `state.redis`) or set it to `redis`",
        );
    }
    let log = &config.access_log;
    if log.enabled && log.target != "stdout" && log.target != "stderr" {
        check_directory(
            err,
            "/access_log/target",
            Path::new(&log.target),
            "the access log",
        );
    }
    if let Some(file) = config
        .events
        .file
        .as_ref()
        .filter(|_| config.events.enabled)
        && file.target != "stdout"
    {
        check_directory(
            err,
            "/events/file/target",
            Path::new(&file.target),
            "the events file",
        );
    }
    if config.events.queue == 0 {
        err(
            "/events/queue",
            "the event queue holds no event".into(),
            "the default is 10000; to record no events, set `events.enabled: false`",
        );
    }
}

fn validate_identity(config: &Config, err: &mut impl FnMut(&str, String, &str)) {
    let mut ids = HashSet::new();
    let mut users = HashSet::new();
    for (i, c) in config.consumers.iter().enumerate() {
        let p = format!("/consumers/{i}");
        if !ids.insert(c.id.as_str()) {
            err(
                &format!("{p}/id"),
                format!("two consumers have the id `{}`", c.id),
                "consumer ids must be unique",
            );
        }
        for (k, m) in c.certificates.iter().enumerate() {
            if m.fingerprint.is_none() && m.subject_cn.is_none() && m.san.is_none() {
                err(
                    &format!("{p}/certificates/{k}"),
                    "a certificate match needs `fingerprint`, `subject_cn` or `san`".into(),
                    "e.g. `{subject_cn: billing-service}`",
                );
            }
            if let Some(f) = &m.fingerprint {
                let hex: String = f.chars().filter(|c| *c != ':').collect();
                if hex.len() != 64 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
                    err(
                        &format!("{p}/certificates/{k}/fingerprint"),
                        "a fingerprint is the SHA-256 of the certificate: 64 hex digits".into(),
                        "`openssl x509 -in cert.pem -noout -fingerprint -sha256`",
                    );
                }
            }
        }
        if let Some(b) = &c.basic {
            if !users.insert(b.username.as_str()) {
                err(
                    &format!("{p}/basic/username"),
                    format!("two consumers have the user name `{}`", b.username),
                    "user names must be unique",
                );
            }
            if !b.password_hash.expose().starts_with("$argon2id$") {
                err(
                    &format!("{p}/basic/password_hash"),
                    "`password_hash` is not an argon2id hash".into(),
                    "store the output of `moat hash-password`, never the password itself",
                );
            }
        }
    }
    for (name, header) in [
        ("consumer_header", &config.identity.consumer_header),
        ("scopes_header", &config.identity.scopes_header),
        ("roles_header", &config.identity.roles_header),
    ] {
        if http_header_name_invalid(header) {
            err(
                &format!("/identity/{name}"),
                format!("`{header}` is not a valid header name"),
                "use letters, digits and dashes, e.g. `x-moat-consumer`",
            );
        }
    }
    for (i, api) in config.apis.iter().enumerate() {
        for (scheme, verifier) in &api.security {
            let mut p = format!("/apis/{i}/security");
            push_pointer(&mut p, scheme);
            if let crate::model::VerifierConfig::Jwt(jwt) = verifier {
                validate_jwt(jwt, &p, err);
            }
        }
    }
}

fn validate_jwt(
    jwt: &crate::model::JwtVerifierConfig,
    p: &str,
    err: &mut impl FnMut(&str, String, &str),
) {
    let sources = [
        jwt.secret.is_some(),
        jwt.public_key.is_some(),
        jwt.jwk.is_some(),
        jwt.jwks_url.is_some(),
        jwt.oidc_issuer.is_some(),
    ]
    .iter()
    .filter(|s| **s)
    .count();
    if sources != 1 {
        err(
            p,
            format!("a jwt verifier needs exactly one key source, found {sources}"),
            "set one of `secret`, `public_key`, `jwk`, `jwks_url` or `oidc_issuer`",
        );
    }
    if jwt.algorithms.is_empty() {
        err(
            &format!("{p}/algorithms"),
            "no algorithms are allowed".into(),
            "list what the issuer signs with, e.g. `[RS256]`",
        );
    }
    for (k, alg) in jwt.algorithms.iter().enumerate() {
        if alg.eq_ignore_ascii_case("none") {
            err(
                &format!("{p}/algorithms/{k}"),
                "`none` is never accepted: it means an unsigned token".into(),
                "remove it",
            );
        }
    }
}

impl LoadedConfig {
    /// The config as written (references resolved), with every value that
    /// holds a secret replaced by `"[redacted]"`: for showing the effective
    /// config to operators.
    pub fn redacted(&self) -> serde_json::Value {
        let mut value = self.document.value.clone();
        redact(&mut value, &mut String::new());
        value
    }
}

fn redact(value: &mut serde_json::Value, pointer: &mut String) {
    if is_secret_pointer(pointer) && !value.is_null() {
        *value = serde_json::Value::String("[redacted]".into());
        return;
    }
    let len = pointer.len();
    match value {
        serde_json::Value::Object(map) => {
            for (k, v) in map.iter_mut() {
                push_pointer(pointer, k);
                redact(v, pointer);
                pointer.truncate(len);
            }
        }
        serde_json::Value::Array(items) => {
            for (i, v) in items.iter_mut().enumerate() {
                pointer.push_str(&format!("/{i}"));
                redact(v, pointer);
                pointer.truncate(len);
            }
        }
        _ => {}
    }
}

/// Values that hold secrets: diagnostics about them do not quote the line,
/// and the effective config shown to operators redacts them.
pub(crate) fn is_secret_pointer(pointer: &str) -> bool {
    pointer == "/admin/token"
        || pointer == "/rate_limiting/redis/url"
        || pointer == "/state/redis/url"
        || pointer == "/state/postgres/url"
        || (pointer.starts_with("/events/webhooks/") && pointer.ends_with("/url"))
        || pointer == "/keys/pepper"
        || pointer.ends_with("/secret")
        || pointer.ends_with("/password_hash")
        || pointer.ends_with("/client_secret")
}

/// Most retries of an upstream request.
const MAX_UPSTREAM_RETRIES: u32 = 10;

/// `upstreams.*.health`: a path the targets can be asked, a status a
/// target can answer, counts and times that are not zero.
fn check_health(
    err: &mut impl FnMut(&str, String, &str),
    pointer: &str,
    h: &crate::model::HealthConfig,
) {
    if let Some(path) = &h.path
        && (!path.starts_with('/') || !path.bytes().all(|b| b.is_ascii_graphic() && b != b'#'))
    {
        err(
            &format!("{pointer}/path"),
            format!("invalid health check path `{path}`"),
            "write an absolute path, e.g. `/healthz`",
        );
    }
    if !(100..=599).contains(&h.expected_status) {
        err(
            &format!("{pointer}/expected_status"),
            format!("{} is not an HTTP status", h.expected_status),
            "write a status between 100 and 599, e.g. 200",
        );
    }
    for (key, n) in [("down_after", h.down_after), ("up_after", h.up_after)] {
        if n == 0 {
            err(
                &format!("{pointer}/{key}"),
                format!("`{key}` is 0"),
                "count at least one failure or check",
            );
        }
    }
    for (key, d) in [
        ("interval", h.interval),
        ("timeout", h.timeout),
        ("retry_after", h.retry_after),
    ] {
        if d.is_zero() {
            err(
                &format!("{pointer}/{key}"),
                format!("`{key}` is zero"),
                "write a duration, e.g. `5s`",
            );
        }
    }
}

fn check_file(err: &mut impl FnMut(&str, String, &str), pointer: &str, path: &Path, what: &str) {
    match std::fs::metadata(path) {
        Ok(m) if m.is_file() => {}
        Ok(_) => err(
            pointer,
            format!("{what} `{}` is not a file", path.display()),
            "point it at a file",
        ),
        Err(e) => err(
            pointer,
            format!("cannot read {what} `{}`: {e}", path.display()),
            "relative paths are resolved from the directory of the config file",
        ),
    }
}

/// A file moat creates when missing (the state file, the access log):
/// it must not be a directory, and its directory must exist, since moat
/// does not create directories. Nothing is created here.
fn check_directory(
    err: &mut impl FnMut(&str, String, &str),
    pointer: &str,
    path: &Path,
    what: &str,
) {
    if path.is_dir() {
        err(
            pointer,
            format!("{what} `{}` is a directory", path.display()),
            "name a file in it, e.g. `/var/lib/moat/moat.db`",
        );
        return;
    }
    let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) else {
        return;
    };
    match std::fs::metadata(dir) {
        Ok(m) if m.is_dir() => {}
        Ok(_) => err(
            pointer,
            format!(
                "the directory of {what} `{}` is not a directory",
                dir.display()
            ),
            "point it into a directory",
        ),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => err(
            pointer,
            format!("the directory of {what} `{}` does not exist", dir.display()),
            "create it first: moat creates the file, not its directory; relative paths are resolved from the directory of the config file",
        ),
        Err(e) => err(
            pointer,
            format!(
                "cannot read the directory of {what} `{}`: {e}",
                dir.display()
            ),
            "moat needs to create or open the file there",
        ),
    }
}

fn check_target(t: &str) -> Result<(), &'static str> {
    let rest = t
        .strip_prefix("http://")
        .or_else(|| t.strip_prefix("https://"))
        .ok_or("the scheme must be http or https")?;
    let authority = rest.split('/').next().unwrap_or_default();
    if authority.is_empty() {
        return Err("no host");
    }
    if authority.contains('@') {
        return Err("credentials in the URL are not supported");
    }
    if t.contains(['?', '#']) {
        return Err("a query or fragment is not allowed");
    }
    Ok(())
}

fn http_header_name_invalid(name: &str) -> bool {
    name.is_empty()
        || !name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diagnostic::Position;

    fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
        let p = dir.join(name);
        std::fs::write(&p, text).unwrap();
        p
    }

    const GOOD: &str = "\
listeners:
  - bind: 127.0.0.1:8080
upstreams:
  shop:
    targets: [\"http://127.0.0.1:9000\"]
apis:
  - name: shop
    spec: shop.yaml
    upstream: shop
";

    #[test]
    fn good_config_loads_with_defaults_and_absolute_paths() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "shop.yaml", "openapi: 3.0.3\n");
        let cfg = load(&write(dir.path(), "moat.yaml", GOOD)).unwrap().config;
        assert_eq!(cfg.apis[0].spec, dir.path().join("shop.yaml"));
        assert_eq!(cfg.mode, crate::model::Mode::Enforce);
        assert_eq!(
            cfg.upstreams["shop"].connect_timeout,
            std::time::Duration::from_secs(5)
        );
    }

    #[test]
    fn unknown_key_is_positioned_with_suggestion() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "shop.yaml", "openapi: 3.0.3\n");
        let text = GOOD.replace("    spec: shop.yaml", "    spec: shop.yaml\n    upstrem: x");
        let err = load(&write(dir.path(), "moat.yaml", &text)).unwrap_err();
        let d = &err.0[0];
        assert_eq!(d.message, "unknown key `upstrem`");
        assert_eq!(d.position, Some(Position::new(9, 5)));
        assert_eq!(d.hint.as_deref(), Some("did you mean `upstream`?"));
    }

    #[test]
    fn missing_spec_and_unknown_upstream_are_both_reported() {
        let dir = tempfile::tempdir().unwrap();
        let text = GOOD.replace("upstream: shop", "upstream: shp");
        let err = load(&write(dir.path(), "moat.yaml", &text)).unwrap_err();
        let messages: Vec<_> = err.0.iter().map(|d| d.message.as_str()).collect();
        assert!(
            messages
                .iter()
                .any(|m| m.starts_with("unknown upstream `shp`")),
            "{err}"
        );
        let spec = err
            .0
            .iter()
            .find(|d| d.message.contains("OpenAPI document"))
            .unwrap();
        assert_eq!(spec.position, Some(Position::new(8, 11)));
    }

    #[test]
    fn bad_duration_and_bad_value() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "shop.yaml", "openapi: 3.0.3\n");
        let text = GOOD.replace("    targets:", "    connect_timeout: soon\n    targets:");
        let err = load(&write(dir.path(), "moat.yaml", &text)).unwrap_err();
        assert!(
            err.0[0].message.contains("invalid duration `soon`"),
            "{err}"
        );
        assert_eq!(err.0[0].position, Some(Position::new(5, 22)));
        let text = GOOD.replace("listeners:", "mode: enforced\nlisteners:");
        let err = load(&write(dir.path(), "moat.yaml", &text)).unwrap_err();
        assert_eq!(err.0[0].hint.as_deref(), Some("did you mean `enforce`?"));
    }

    #[test]
    fn missing_env_secret_is_positioned() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "shop.yaml", "openapi: 3.0.3\n");
        let text = format!("admin:\n  token: ${{env:MOAT_SURELY_UNSET_1234}}\n{GOOD}");
        let err = load(&write(dir.path(), "moat.yaml", &text)).unwrap_err();
        assert!(err.0[0].message.contains("MOAT_SURELY_UNSET_1234"), "{err}");
        assert_eq!(err.0[0].position, Some(Position::new(2, 10)));
    }

    #[test]
    fn identity_sections_are_validated() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "shop.yaml", "openapi: 3.0.3\n");
        let text = format!(
            "{GOOD}    security:\n      Bearer: {{type: jwt, algorithms: [none, RS256]}}\n      Key: {{type: api_key}}\n\
             consumers:\n  - id: a\n    basic: {{username: u, password_hash: plaintext}}\n  - id: a\n"
        );
        let err = load(&write(dir.path(), "moat.yaml", &text)).unwrap_err();
        let messages: Vec<&str> = err.0.iter().map(|d| d.message.as_str()).collect();
        assert!(
            messages.contains(&"a jwt verifier needs exactly one key source, found 0"),
            "{err}"
        );
        assert!(
            messages
                .iter()
                .any(|m| m.starts_with("`none` is never accepted")),
            "{err}"
        );
        assert!(
            messages.contains(&"`password_hash` is not an argon2id hash"),
            "{err}"
        );
        assert!(messages.contains(&"two consumers have the id `a`"), "{err}");
        let none = err
            .0
            .iter()
            .find(|d| d.message.starts_with("`none`"))
            .unwrap();
        assert_eq!(none.position, Some(Position::new(11, 40)));
    }

    #[test]
    fn start_up_sections_are_validated_all_at_once() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "shop.yaml", "openapi: 3.0.3\n");
        let text = format!(
            "{GOOD}lockout: {{max_failures: 0, credential_max_failures: 101, base_lockout: 1m, max_lockout: 1s}}\n\
             anomaly: {{max_subjects: 0, error_storm: {{window: 2d}}}}\n\
             rate_limiting: {{backend: redis}}\n\
             state: {{sqlite: no/such/dir/moat.db}}\n\
             access_log: {{target: nodir/access.log}}\n"
        );
        let err = load(&write(dir.path(), "moat.yaml", &text)).unwrap_err();
        let found: Vec<(&str, Option<Position>)> = err
            .0
            .iter()
            .map(|d| (d.message.as_str(), d.position))
            .collect();
        let at = |line, column| Some(Position::new(line, column));
        assert_eq!(found.len(), 8, "{err}");
        assert_eq!(
            found[0],
            (
                "lockout `max_failures` is 0; it must be between 1 and 100",
                at(10, 25)
            )
        );
        assert_eq!(found[1].1, at(10, 53), "{err}");
        assert_eq!(
            found[2],
            (
                "lockout `max_lockout` (1s) is shorter than `base_lockout` (1m)",
                at(10, 89)
            )
        );
        assert_eq!(
            found[3],
            (
                "`anomaly.max_subjects` is 0; it must be between 1 and 10000000",
                at(11, 25)
            )
        );
        assert_eq!(
            found[4],
            (
                "`anomaly.error_storm.window` must be between 1s and 1d",
                at(11, 50)
            )
        );
        assert_eq!(
            found[5],
            ("`backend: redis` needs a `redis` section", at(12, 26))
        );
        assert!(found[6].0.starts_with("the directory of the state file"));
        assert!(found[6].0.ends_with("does not exist"), "{err}");
        assert_eq!(found[6].1, at(13, 17));
        assert!(found[7].0.starts_with("the directory of the access log"));
        assert_eq!(found[7].1, at(14, 22));
        // Nothing was created.
        assert!(!dir.path().join("no").exists() && !dir.path().join("nodir").exists());

        // A disabled lockout is not checked: the store is not built.
        let text = format!("{GOOD}lockout: {{enabled: false, max_failures: 0}}\n");
        load(&write(dir.path(), "moat.yaml", &text)).unwrap();
    }

    #[test]
    fn unknown_verifier_type_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "shop.yaml", "openapi: 3.0.3\n");
        let text = format!("{GOOD}    security:\n      Key: {{type: apikey}}\n");
        let err = load(&write(dir.path(), "moat.yaml", &text)).unwrap_err();
        assert_eq!(err.0[0].message, "unknown value `apikey`", "{err}");
        assert_eq!(err.0[0].hint.as_deref(), Some("did you mean `api_key`?"));
    }
}
