//! What each discovered operation carries: query, header and cookie
//! parameters and their types, the security schemes its requests used,
//! JSON request and response bodies' schemas by status, and the sensitive
//! data seen, learned in a second pass over the traffic once the
//! operations are known.
//!
//! A sample is matched to its operation with the gateway's matcher, on the
//! document built from the discovered operations; its query and cookies
//! are read with the gateway's parsers and its JSON bodies with
//! `serde_json` (an unparseable body only teaches nothing). Headers that
//! are HTTP's own ([`crate::headers`]) are not parameters; neither is
//! whatever carried a credential: that is a security scheme
//! ([`crate::auth`]). No value is kept: parameter statistics keep short
//! enum words only, schemas no examples, findings counts, schemes names.

use std::collections::BTreeMap;

use moat_request::{CanonicalPath, Cookies, MediaType, Query};
use moat_spec::{Match, OperationTable, ParameterLocation};
use serde_json::{Value, json};

use crate::auth::{AuthSeen, Credential, KeyLocation, SchemesSeen};
use crate::input::Sample;
use crate::schema::{ParamStats, ParamSummary, SchemaBuilder};
use crate::sensitive::{BodySource, Findings, TextSource};

/// Query, header and cookie parameters tracked per operation, each; more
/// are ignored (a client that sends random names must not grow memory).
const MAX_PARAMS: usize = 100;

/// Response statuses tracked per operation.
const MAX_STATUSES: usize = 32;

/// Answer media types tracked per operation.
const MAX_CONTENT_TYPES: usize = 16;

/// One operation's profile.
#[derive(Debug, Default, Clone, serde::Serialize, serde::Deserialize)]
pub struct Profile {
    /// Requests matched to it.
    pub requests: u64,
    params: BTreeMap<String, ParamStats>,
    #[serde(default)]
    headers: BTreeMap<String, ParamStats>,
    #[serde(default)]
    cookies: BTreeMap<String, ParamStats>,
    /// Not kept when a profile is stored: the gateway records the kind of
    /// credential it verified itself, which says more than what a request
    /// carried.
    #[serde(skip)]
    auth: AuthSeen,
    request_body: SchemaBuilder,
    responses: BTreeMap<u16, SchemaBuilder>,
    /// Answers by media type (`application/json`: lower case, without
    /// parameters such as a charset).
    #[serde(default)]
    content_types: BTreeMap<String, u64>,
    /// Sensitive data seen in its requests and answers.
    pub findings: Findings,
}

impl Profile {
    /// The parameters seen, by location and name: query, header and
    /// cookie parameters (credentials are schemes, not parameters).
    pub fn parameters(&self) -> impl Iterator<Item = (ParameterLocation, &str)> {
        [
            (ParameterLocation::Query, &self.params),
            (ParameterLocation::Header, &self.headers),
            (ParameterLocation::Cookie, &self.cookies),
        ]
        .into_iter()
        .flat_map(|(location, params)| params.keys().map(move |n| (location, n.as_str())))
    }

    /// Its JSON request bodies, merged.
    pub fn request_body(&self) -> &SchemaBuilder {
        &self.request_body
    }

    /// Its answers by status; a builder with no sample saw no JSON body.
    pub fn responses(&self) -> impl Iterator<Item = (u16, &SchemaBuilder)> {
        self.responses.iter().map(|(s, b)| (*s, b))
    }

    /// Its query, header and cookie parameters, by location and name,
    /// with what their values looked like.
    pub fn parameter_summaries(
        &self,
    ) -> impl Iterator<Item = (ParameterLocation, &str, ParamSummary)> {
        [
            (ParameterLocation::Query, &self.params),
            (ParameterLocation::Header, &self.headers),
            (ParameterLocation::Cookie, &self.cookies),
        ]
        .into_iter()
        .flat_map(|(location, params)| {
            params
                .iter()
                .map(move |(n, s)| (location, n.as_str(), s.summary()))
        })
    }

    /// Its query, header and cookie parameters as OpenAPI parameter
    /// objects (`name`, `in`, `required`, `schema`).
    pub fn parameter_objects(&self) -> impl Iterator<Item = Value> + '_ {
        self.parameter_summaries().map(|(location, name, summary)| {
            json!({
                "name": name, "in": location.as_str(), "required": summary.required,
                "schema": summary.to_schema(),
            })
        })
    }

    /// The response statuses seen, in order.
    pub fn statuses(&self) -> impl Iterator<Item = u16> + '_ {
        self.responses.keys().copied()
    }

    /// Its answers by media type (lower case, without parameters).
    pub fn content_types(&self) -> &BTreeMap<String, u64> {
        &self.content_types
    }

    /// The credentials its requests carried: each scheme's count, and
    /// whether it was always, sometimes or never authenticated.
    pub fn auth(&self) -> &AuthSeen {
        &self.auth
    }

    /// Learns from one sample of this operation; `query` is its URL's
    /// query string. Returns the credentials the request carried.
    pub fn observe(&mut self, sample: &Sample, query: Option<&str>) -> Vec<Credential> {
        let p = self;
        p.requests += 1;
        let query = query.map(Query::parse).unwrap_or_default();
        let cookies = cookies_of(&sample.request_headers);
        let credentials =
            crate::auth::credentials(&sample.request_headers, query.pairs(), cookies.pairs());
        p.auth.observe(&credentials);
        let is_key = |at: KeyLocation, name: &str| {
            credentials
                .iter()
                .any(|c: &Credential| c.scheme.api_key_at(at) == Some(name))
        };
        let query_params: Vec<(&str, &str)> = query
            .pairs()
            .iter()
            .filter(|(n, _)| !is_key(KeyLocation::Query, n))
            .map(|(n, v)| (n.as_str(), v.as_str()))
            .collect();
        observe_params(&mut p.params, p.requests, &query_params);
        let headers: Vec<(String, &str)> = sample
            .request_headers
            .iter()
            .map(|(n, v)| (n.to_ascii_lowercase(), v.as_str()))
            .filter(|(n, _)| !crate::headers::is_standard(n) && !is_key(KeyLocation::Header, n))
            .collect();
        let headers: Vec<(&str, &str)> = headers.iter().map(|(n, v)| (n.as_str(), *v)).collect();
        observe_params(&mut p.headers, p.requests, &headers);
        let cookie_params: Vec<(&str, &str)> = cookies
            .pairs()
            .iter()
            .filter(|(n, _)| !is_key(KeyLocation::Cookie, n))
            .map(|(n, v)| (n.as_str(), v.as_str()))
            .collect();
        observe_params(&mut p.cookies, p.requests, &cookie_params);
        for (name, value) in query.pairs() {
            p.findings.record_text(TextSource::Query, name, value);
        }
        for (name, value) in &sample.request_headers {
            // Cookies are counted one by one, under their own names.
            if !name.eq_ignore_ascii_case("cookie") {
                p.findings.record_text(TextSource::Header, name, value);
            }
        }
        for (name, value) in cookies.pairs() {
            p.findings.record_text(TextSource::Cookie, name, value);
        }
        for (name, value) in &sample.response_headers {
            p.findings
                .record_text(TextSource::ResponseHeader, name, value);
        }
        if let Some(body) = json_body(sample.request_body.as_ref()) {
            p.request_body.observe(&body);
            p.findings.record_json(BodySource::Request, &body);
        }
        if let (Some(status), Some(body)) =
            (sample.status, json_body(sample.response_body.as_ref()))
        {
            if p.responses.contains_key(&status) || p.responses.len() < MAX_STATUSES {
                p.responses.entry(status).or_default().observe(&body);
            }
            p.findings.record_json(BodySource::Response, &body);
        } else if let Some(status) = sample.status
            && (p.responses.contains_key(&status) || p.responses.len() < MAX_STATUSES)
        {
            p.responses.entry(status).or_default();
        }
        let declared = sample
            .response_body
            .as_ref()
            .and_then(|b| b.mime.as_deref())
            .or_else(|| {
                sample
                    .response_headers
                    .iter()
                    .find(|(n, _)| n.eq_ignore_ascii_case("content-type"))
                    .map(|(_, v)| v.as_str())
            });
        // A value that is not a media type teaches nothing (and cannot
        // grow the map with junk).
        if let Some(media) = declared.and_then(|d| MediaType::parse(d).ok())
            && (p.content_types.contains_key(media.essence())
                || p.content_types.len() < MAX_CONTENT_TYPES)
        {
            *p.content_types
                .entry(media.essence().to_string())
                .or_default() += 1;
        }
        credentials
    }
}

/// Profiles of every operation of a document.
#[derive(Debug)]
pub struct Profiler {
    table: OperationTable,
    profiles: Vec<Profile>,
    schemes: SchemesSeen,
}

impl Profiler {
    /// Profiles for the operations of `table`.
    pub fn new(table: OperationTable) -> Self {
        let profiles = (0..table.spec().operations.len())
            .map(|_| Profile::default())
            .collect();
        Self {
            table,
            profiles,
            schemes: SchemesSeen::default(),
        }
    }

    /// Learns from one sample; one no operation matches teaches nothing.
    pub fn observe(&mut self, sample: &Sample) {
        let (path, query) = match sample.url.split_once('?') {
            Some((p, q)) => (p, Some(q)),
            None => (sample.url.as_str(), None),
        };
        let Ok(path) = CanonicalPath::parse(path) else {
            return;
        };
        let Match::Found { index, .. } = self.table.find(&sample.method, path.segments()) else {
            return;
        };
        if let Some(p) = self.profiles.get_mut(index) {
            let credentials = p.observe(sample, query);
            self.schemes.observe(&credentials);
        }
    }

    /// The security schemes seen over the whole API.
    pub fn schemes(&self) -> &SchemesSeen {
        &self.schemes
    }

    /// The profile of the operation at `index` in the document.
    pub fn profile(&self, index: usize) -> Option<&Profile> {
        self.profiles.get(index)
    }

    /// The profile of the operation a request with this method and these
    /// path segments reaches.
    pub fn profile_of<S: AsRef<str>>(&self, method: &str, segments: &[S]) -> Option<&Profile> {
        match self.table.find(method, segments) {
            Match::Found { index, .. } => self.profiles.get(index),
            _ => None,
        }
    }

    /// Adds what was learned to the document the table was built from
    /// (the same operations, in the same order): query, header and cookie
    /// parameters, `security`, the request body, responses by status, and
    /// `x-moat-sensitive`; and `components.securitySchemes`.
    pub fn annotate(&self, document: &mut Value) {
        let scheme_names = crate::auth::openapi::component_names(&self.schemes);
        if !self.schemes.is_empty()
            && let Some(root) = document.as_object_mut()
        {
            let components = root
                .entry("components")
                .or_insert_with(|| Value::Object(serde_json::Map::new()));
            if let Some(components) = components.as_object_mut() {
                components.insert(
                    "securitySchemes".to_string(),
                    Value::Object(crate::auth::openapi::security_schemes(
                        &self.schemes,
                        &scheme_names,
                    )),
                );
            }
        }
        for (op, profile) in self.table.spec().operations.iter().zip(&self.profiles) {
            let Some(entry) = document
                .get_mut("paths")
                .and_then(|p| p.get_mut(&op.path_template))
                .and_then(|p| p.get_mut(op.method.as_str().to_ascii_lowercase()))
            else {
                continue;
            };
            let mut parameters: Vec<Value> = entry
                .get("parameters")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            parameters.extend(profile.parameter_objects());
            if !parameters.is_empty() {
                entry["parameters"] = Value::Array(parameters);
            }
            if let Some(security) = crate::auth::openapi::security(&profile.auth, &scheme_names) {
                entry["security"] = security;
            }
            if profile.request_body.samples() > 0 {
                entry["requestBody"] = json!({
                    "content": {"application/json": {"schema": profile.request_body.to_schema()}}
                });
            }
            if !profile.responses.is_empty() {
                let mut responses = serde_json::Map::new();
                for (status, schema) in &profile.responses {
                    let mut r = json!({"description": "Seen in traffic."});
                    if schema.samples() > 0 {
                        r["content"] = json!({"application/json": {"schema": schema.to_schema()}});
                    }
                    responses.insert(status.to_string(), r);
                }
                entry["responses"] = Value::Object(responses);
            }
            let sensitive: Vec<Value> = profile
                .findings
                .iter()
                .map(|f| json!({"location": f.location, "kind": f.kind.as_str(), "count": f.count}))
                .collect();
            if !sensitive.is_empty() {
                entry["x-moat-sensitive"] = Value::Array(sensitive);
            }
        }
    }
}

/// Learns one request's parameters of one location: names seen before
/// and absent now count as absent; a new name counts as absent from the
/// `requests - 1` requests before.
fn observe_params(
    params: &mut BTreeMap<String, ParamStats>,
    requests: u64,
    pairs: &[(&str, &str)],
) {
    let mut names: Vec<&str> = pairs.iter().map(|(n, _)| *n).collect();
    names.sort_unstable();
    names.dedup();
    for name in &names {
        if !params.contains_key(*name) && params.len() < MAX_PARAMS {
            let mut stats = ParamStats::new(name);
            for _ in 1..requests {
                stats.observe_request(std::iter::empty());
            }
            params.insert((*name).to_string(), stats);
        }
    }
    for (name, stats) in params.iter_mut() {
        let values = pairs.iter().filter(|(n, _)| n == name).map(|(_, v)| *v);
        stats.observe_request(values);
    }
}

/// The request's cookies, read with the gateway's parser from every
/// `Cookie` field (a field that is not visible ASCII gives none).
fn cookies_of(headers: &[(String, String)]) -> Cookies {
    let mut fields = http::HeaderMap::new();
    for (name, value) in headers {
        if name.eq_ignore_ascii_case("cookie")
            && let Ok(value) = http::HeaderValue::from_str(value)
        {
            fields.append(http::header::COOKIE, value);
        }
    }
    Cookies::parse(&fields)
}

fn json_body(body: Option<&crate::input::Body>) -> Option<Value> {
    let body = body?;
    let json = body
        .mime
        .as_deref()
        .is_none_or(|m| m.to_ascii_lowercase().contains("json"));
    if !json || body.text.trim().is_empty() {
        return None;
    }
    serde_json::from_str(&body.text).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::AuthPresence;
    use crate::input::Body;
    use crate::template::Templater;

    fn sample(
        method: &str,
        url: &str,
        status: u16,
        req: Option<&str>,
        resp: Option<&str>,
    ) -> Sample {
        let body = |t: &str| Body {
            mime: Some("application/json".into()),
            text: t.into(),
        };
        Sample {
            method: method.into(),
            url: url.into(),
            status: Some(status),
            request_headers: vec![(
                "authorization".into(),
                "Basic YWxpY2U6d29uZGVybGFuZA==".into(),
            )],
            response_headers: Vec::new(),
            request_body: req.map(body),
            response_body: resp.map(body),
        }
    }

    #[test]
    fn parameters_bodies_statuses_and_sensitive_data_are_learned_without_values() {
        let samples = vec![
            sample(
                "GET",
                "/users?page=1&sort=name",
                200,
                None,
                Some(r#"[{"id":1,"email":"alice@example.com"}]"#),
            ),
            sample(
                "GET",
                "/users?page=2&sort=name",
                200,
                None,
                Some(r#"[{"id":2,"email":"bob@example.com"}]"#),
            ),
            sample("GET", "/users?page=3", 200, None, Some("[]")),
            sample(
                "POST",
                "/users",
                201,
                Some(r#"{"name":"carol","password":"s3cret-Pass"}"#),
                Some(r#"{"id":3}"#),
            ),
            sample(
                "POST",
                "/users",
                422,
                Some(r#"{"name":""}"#),
                Some(r#"{"error":"name"}"#),
            ),
        ];
        let mut t = Templater::new();
        for s in &samples {
            t.observe(&s.method, s.url.split('?').next().unwrap())
                .unwrap();
        }
        let ops = t.operations();
        let mut doc = crate::openapi::document("users", &ops);
        let text = crate::openapi::to_yaml(&doc);
        let table = OperationTable::new(moat_spec::load_text("d.yaml", &text).unwrap());
        let mut profiler = Profiler::new(table);
        for s in &samples {
            profiler.observe(s);
        }
        profiler.annotate(&mut doc);
        let get = &doc["paths"]["/users"]["get"];
        let params = get["parameters"].as_array().unwrap();
        let page = params.iter().find(|p| p["name"] == "page").unwrap();
        assert_eq!(
            (page["required"].as_bool(), page["schema"]["type"].as_str()),
            (Some(true), Some("integer"))
        );
        let sort = params.iter().find(|p| p["name"] == "sort").unwrap();
        assert_eq!(sort["required"], false);
        // The credential is a scheme, not a header parameter.
        assert_eq!(params.len(), 2, "{params:#?}");
        assert_eq!(get["security"], json!([{"basic": []}]));
        assert_eq!(
            doc["components"]["securitySchemes"]["basic"]["scheme"],
            "basic"
        );
        let items = &get["responses"]["200"]["content"]["application/json"]["schema"]["items"];
        assert_eq!(items["properties"]["email"]["format"], "email", "{get:#}");
        let post = &doc["paths"]["/users"]["post"];
        assert!(
            post["requestBody"]["content"]["application/json"]["schema"]["properties"]["name"]
                .is_object()
        );
        assert!(post["responses"]["422"].is_object() && post["responses"]["201"].is_object());
        let sensitive = serde_json::to_string(&post["x-moat-sensitive"]).unwrap();
        assert!(sensitive.contains("password"), "{sensitive}");
        assert!(
            serde_json::to_string(&get["x-moat-sensitive"])
                .unwrap()
                .contains("email")
        );
        // No value from the traffic anywhere in the document.
        let all = doc.to_string();
        for value in [
            "alice@example.com",
            "s3cret-Pass",
            "carol",
            "YWxpY2U6d29uZGVybGFuZA==",
        ] {
            assert!(!all.contains(value), "{value} in {all}");
        }
        // The annotated document is still one moat loads.
        moat_spec::load_text("annotated.yaml", &crate::openapi::to_yaml(&doc)).unwrap();
    }

    fn with_headers(method: &str, url: &str, headers: &[(&str, &str)]) -> Sample {
        Sample {
            method: method.into(),
            url: url.into(),
            status: Some(200),
            request_headers: headers
                .iter()
                .map(|(n, v)| ((*n).to_string(), (*v).to_string()))
                .collect(),
            response_headers: Vec::new(),
            request_body: None,
            response_body: None,
        }
    }

    fn profiled(samples: &[Sample]) -> (Profiler, Value) {
        let mut t = Templater::new();
        for s in samples {
            t.observe(&s.method, s.url.split('?').next().unwrap())
                .unwrap();
        }
        let ops = t.operations();
        let doc = crate::openapi::document("api", &ops);
        let text = crate::openapi::to_yaml(&doc);
        let table = OperationTable::new(moat_spec::load_text("d.yaml", &text).unwrap());
        let mut profiler = Profiler::new(table);
        for s in samples {
            profiler.observe(s);
        }
        (profiler, doc)
    }

    #[test]
    fn header_and_cookie_parameters_and_security_schemes() {
        let jwt = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ1c2VyLTQ3MTEiLCJyb2xlIjoiYWRtaW4ifQ.c2ln";
        let bearer = format!("Bearer {jwt}");
        let mut samples = Vec::new();
        for i in 0..10 {
            let version = if i % 2 == 0 {
                "2024-01-01"
            } else {
                "2025-06-01"
            };
            let page = i.to_string();
            let mut headers = vec![
                ("Host", "api.example.com"),
                ("User-Agent", "curl/8"),
                ("Accept-Language", "en"),
                ("Sec-Fetch-Mode", "cors"),
                ("X-Forwarded-For", "203.0.113.9"),
                ("X-Api-Version", version),
                ("X-Api-Key", "k-7f3a9"),
            ];
            if i < 4 {
                headers.push(("X-Page", &page));
            }
            let cookie = format!(
                "theme={}; session=s%3A{i}abc; visits={i}",
                if i % 2 == 0 { "dark" } else { "light" }
            );
            headers.push(("Cookie", &cookie));
            samples.push(with_headers("GET", "/reports", &headers));
        }
        // One operation with a bearer JWT, sometimes none.
        samples.push(with_headers("GET", "/me", &[("Authorization", &bearer)]));
        samples.push(with_headers("GET", "/me", &[("Authorization", &bearer)]));
        samples.push(with_headers("GET", "/me", &[]));
        // One never authenticated.
        samples.push(with_headers("GET", "/health", &[("Accept", "*/*")]));
        let (profiler, mut doc) = profiled(&samples);
        profiler.annotate(&mut doc);

        let reports = &doc["paths"]["/reports"]["get"];
        let params = reports["parameters"].as_array().unwrap();
        let find = |name: &str, location: &str| {
            params
                .iter()
                .find(|p| p["name"] == name && p["in"] == location)
                .cloned()
        };
        let version = find("x-api-version", "header").unwrap();
        assert_eq!(version["required"], true);
        assert_eq!(
            version["schema"],
            json!({"type": "string", "format": "date"})
        );
        let page = find("x-page", "header").unwrap();
        assert_eq!(
            (page["required"].as_bool(), page["schema"]["type"].as_str()),
            (Some(false), Some("integer"))
        );
        let theme = find("theme", "cookie").unwrap();
        assert_eq!(
            theme["schema"],
            json!({"type": "string", "enum": ["dark", "light"]})
        );
        assert_eq!(
            find("visits", "cookie").unwrap()["schema"]["type"],
            "integer"
        );
        // Standard headers and credentials are not parameters.
        let names: Vec<&str> = params.iter().filter_map(|p| p["name"].as_str()).collect();
        assert_eq!(
            names,
            ["x-api-version", "x-page", "theme", "visits"],
            "{params:#?}"
        );
        assert_eq!(
            reports["security"],
            json!([{"header.x-api-key": []}, {"cookie.session": []}])
        );
        let me = &doc["paths"]["/me"]["get"];
        assert_eq!(me["security"], json!([{"bearerJwt": []}, {}]));
        assert!(doc["paths"]["/health"]["get"].get("security").is_none());

        let schemes = &doc["components"]["securitySchemes"];
        assert_eq!(
            schemes["header.x-api-key"],
            json!({"type": "apiKey", "in": "header", "name": "x-api-key",
                   "x-moat-discovered": {"requests": 10}})
        );
        assert_eq!(schemes["cookie.session"]["in"], "cookie");
        assert_eq!(
            schemes["bearerJwt"]["x-moat-jwt"],
            json!({"tokens": 2, "algorithms": ["HS256"], "claims": ["role", "sub"]})
        );

        // The accessors the inventory reads.
        let presence = |method: &str, path: &[&str]| {
            profiler.profile_of(method, path).unwrap().auth().presence()
        };
        assert_eq!(presence("GET", &["reports"]), AuthPresence::Always);
        assert_eq!(presence("GET", &["me"]), AuthPresence::Sometimes);
        assert_eq!(presence("GET", &["health"]), AuthPresence::Never);
        assert_eq!(profiler.schemes().iter().count(), 3);

        // No credential, claim value or cookie value anywhere.
        let all = doc.to_string();
        for value in [
            jwt,
            "k-7f3a9",
            "user-4711",
            "admin",
            "s%3A",
            "0abc",
            "203.0.113.9",
        ] {
            assert!(!all.contains(value), "{value} in {all}");
        }
        let findings = serde_json::to_string(&reports["x-moat-sensitive"]).unwrap();
        assert!(!findings.contains("header.cookie"), "{findings}");
        // The annotated document is still one moat loads, with the schemes.
        let spec = moat_spec::load_text("annotated.yaml", &crate::openapi::to_yaml(&doc)).unwrap();
        let me = spec.operation("getMe").unwrap();
        assert!(me.policy.allows_anonymous());
        assert_eq!(me.policy.scheme_names(), ["bearerJwt"]);
        assert_eq!(
            spec.schemes["header.x-api-key"].kind,
            moat_spec::SchemeKind::ApiKey {
                name: "x-api-key".into(),
                location: moat_spec::ApiKeyLocation::Header
            }
        );
        assert!(spec.warnings.is_empty(), "{:?}", spec.warnings);
    }
}
