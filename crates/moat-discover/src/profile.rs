//! What each discovered operation carries: query parameters and their
//! types, JSON request and response bodies' schemas by status, and the
//! sensitive data seen, learned in a second pass over the traffic once the
//! operations are known.
//!
//! A sample is matched to its operation with the gateway's matcher, on the
//! document built from the discovered operations; its query is read with
//! the gateway's query parser and its JSON bodies with `serde_json` (an
//! unparseable body only teaches nothing). No value is kept: parameter
//! statistics keep short enum words only, schemas no examples, findings
//! counts.

use std::collections::BTreeMap;

use moat_request::{CanonicalPath, Query};
use moat_spec::{Match, OperationTable};
use serde_json::{Value, json};

use crate::input::Sample;
use crate::schema::{ParamStats, SchemaBuilder};
use crate::sensitive::{BodySource, Findings, TextSource};

/// Query parameters tracked per operation; more are ignored (a client
/// that sends random names must not grow memory).
const MAX_PARAMS: usize = 100;

/// Response statuses tracked per operation.
const MAX_STATUSES: usize = 32;

/// One operation's profile.
#[derive(Debug, Default, Clone, serde::Serialize, serde::Deserialize)]
pub struct Profile {
    /// Requests matched to it.
    pub requests: u64,
    params: BTreeMap<String, ParamStats>,
    request_body: SchemaBuilder,
    responses: BTreeMap<u16, SchemaBuilder>,
    /// Sensitive data seen in its requests and answers.
    pub findings: Findings,
}

impl Profile {
    /// Learns from one sample of this operation; `query` is its URL's
    /// query string.
    pub fn observe(&mut self, sample: &Sample, query: Option<&str>) {
        let p = self;
        p.requests += 1;
        let query = query.map(Query::parse).unwrap_or_default();
        // Names seen before and absent now count as absent.
        let mut names: Vec<&str> = query.pairs().iter().map(|(n, _)| n.as_str()).collect();
        names.sort_unstable();
        names.dedup();
        for name in &names {
            if !p.params.contains_key(*name) && p.params.len() < MAX_PARAMS {
                let mut stats = ParamStats::new(name);
                for _ in 1..p.requests {
                    stats.observe_request(std::iter::empty());
                }
                p.params.insert((*name).to_string(), stats);
            }
        }
        for (name, stats) in &mut p.params {
            let values = query
                .pairs()
                .iter()
                .filter(|(n, _)| n == name)
                .map(|(_, v)| v.as_str());
            stats.observe_request(values);
        }
        for (name, value) in query.pairs() {
            p.findings.record_text(TextSource::Query, name, value);
        }
        for (name, value) in &sample.request_headers {
            p.findings.record_text(TextSource::Header, name, value);
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
    }

    /// Its query parameters, by name.
    pub fn params(&self) -> &BTreeMap<String, ParamStats> {
        &self.params
    }

    /// Its JSON request bodies' schema.
    pub fn request_body(&self) -> &SchemaBuilder {
        &self.request_body
    }

    /// Its answers' JSON bodies' schemas, by status.
    pub fn responses(&self) -> &BTreeMap<u16, SchemaBuilder> {
        &self.responses
    }
}

/// Profiles of every operation of a document.
#[derive(Debug)]
pub struct Profiler {
    table: OperationTable,
    profiles: Vec<Profile>,
}

impl Profiler {
    /// Profiles for the operations of `table`.
    pub fn new(table: OperationTable) -> Self {
        let profiles = (0..table.spec().operations.len())
            .map(|_| Profile::default())
            .collect();
        Self { table, profiles }
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
            p.observe(sample, query);
        }
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
    /// (the same operations, in the same order): query parameters, the
    /// request body, responses by status, and `x-moat-sensitive`.
    pub fn annotate(&self, document: &mut Value) {
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
            for (name, stats) in &profile.params {
                let summary = stats.summary();
                parameters.push(json!({
                    "name": name, "in": "query", "required": summary.required,
                    "schema": summary.to_schema(),
                }));
            }
            if !parameters.is_empty() {
                entry["parameters"] = Value::Array(parameters);
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
}
