//! Where a payload goes: a path segment, a query parameter or a JSON body
//! field of one documented operation, with the request that carries it and
//! the harmless control value it replaces.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::Value;

use crate::checks::{Context, scalar_text};
use crate::client::{Exchange, Probe};
use crate::identity::Identity;
use crate::schema;
use crate::target::{Op, encode, query_string};

/// Operations probed, at most, and points per operation.
pub const MAX_OPERATIONS: usize = 40;
pub const MAX_POINTS_PER_OPERATION: usize = 4;

/// Where in the request the value sits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Place {
    Path,
    Query,
    Body,
}

impl Place {
    pub fn noun(self) -> &'static str {
        match self {
            Place::Path => "path parameter",
            Place::Query => "query parameter",
            Place::Body => "body field",
        }
    }
}

/// One injection point.
#[derive(Debug, Clone)]
pub struct Point<'a> {
    pub op: &'a Op,
    pub place: Place,
    /// The parameter or (top-level) body field.
    pub name: String,
    /// The control value: what was harvested, or the schema's sample.
    pub control: String,
    /// Values for every path parameter.
    values: BTreeMap<String, String>,
    /// Who sends it: anonymous where the document allows, else a user.
    pub identity: &'a Identity,
}

impl Point<'_> {
    /// `the query parameter `host``, for titles.
    pub fn describe(&self) -> String {
        format!("{} `{}`", self.place.noun(), self.name)
    }

    /// Whether the document gives the parameter a `pattern`.
    pub fn has_pattern(&self) -> bool {
        self.op
            .parameters
            .iter()
            .any(|p| p.name == self.name && p.schema.get("pattern").is_some())
    }

    /// Whether the name or the control value looks like a file name.
    pub fn file_like(&self) -> bool {
        let name = self.name.to_ascii_lowercase();
        self.place == Place::Path
            || [
                "file",
                "path",
                "name",
                "doc",
                "dir",
                "folder",
                "page",
                "template",
                "download",
                "attachment",
            ]
            .iter()
            .any(|w| name.contains(w))
            || self.control.rsplit_once('.').is_some_and(|(_, ext)| {
                (1..=4).contains(&ext.len())
                    && ext.chars().all(|c| c.is_ascii_alphanumeric())
                    && ext.chars().any(|c| c.is_ascii_alphabetic())
            })
    }

    /// The request with `value` at this point (percent-encoded as one path
    /// segment, as a query value, or as a JSON string).
    pub fn probe(&self, cx: &Context, value: &str) -> Option<Probe> {
        match self.place {
            Place::Path => {
                let mut values = self.values.clone();
                values.insert(self.name.clone(), value.to_string());
                cx.probe(self.op, &values)
            }
            Place::Query => {
                self.probe_raw_query(&format!("{}={}", encode(&self.name), encode(value)))
            }
            Place::Body => self.with_body_field(cx, Value::String(value.to_string())),
        }
    }

    /// The request with `field` set to `value` in the sample body.
    pub fn with_body_field(&self, cx: &Context, value: Value) -> Option<Probe> {
        let mut body = schema::sample(self.op.body.as_ref()?);
        body.as_object_mut()?.insert(self.name.clone(), value);
        Some(cx.probe(self.op, &self.values)?.json(&body))
    }

    /// The request with a raw query text `name=value` already encoded (for
    /// forms such as `name[$ne]=`) after the other required parameters'
    /// samples.
    pub fn probe_raw_query(&self, raw: &str) -> Option<Probe> {
        let path = self.op.path_with(&self.values)?;
        let pairs: Vec<(String, String)> = self
            .op
            .query_params()
            .filter(|p| p.required && p.name != self.name)
            .filter_map(|p| Some((p.name.clone(), scalar_text(&schema::sample(&p.schema))?)))
            .collect();
        let joined = query_string(&pairs);
        let sep = if joined.is_empty() { "?" } else { "&" };
        let mut probe = Probe::new(self.op.http_method(), format!("{path}{joined}{sep}{raw}"));
        if let Some(body) = &self.op.body {
            probe = probe.json(&schema::sample(body));
        }
        Some(probe)
    }

    /// The request with `raw` as this path segment, sent as it is (already
    /// encoded, or deliberately not).
    pub fn probe_raw_segment(&self, cx: &Context, raw: &str) -> Option<Probe> {
        let mut probe = cx.probe(self.op, &self.values)?;
        let normal = self.op.path_with(&self.values)?;
        let path = self.op.path_with_raw(&self.values, &self.name, raw)?;
        probe.path_and_query = probe.path_and_query.replacen(&normal, &path, 1);
        Some(probe)
    }

    /// Sends the request with `value` here.
    pub async fn send(
        &self,
        cx: &Context,
        value: &str,
        timeout: Option<Duration>,
    ) -> Option<Exchange> {
        let mut probe = self.probe(cx, value)?;
        if let Some(timeout) = timeout {
            probe = probe.timeout(timeout);
        }
        cx.send(&probe, self.identity).await.ok()
    }
}

/// Every injection point of the documented operations, within the caps:
/// string (and integer) path and query parameters, and top-level string
/// body fields when writes are allowed.
///
/// Only reads and, with writes allowed, POST operations (creates, logins,
/// look-ups) are probed: a payload sent to a PUT, PATCH or DELETE would
/// change or remove an existing object (an account's password, a book)
/// with every probe.
pub fn points(cx: &Context) -> Vec<Point<'_>> {
    let mut out = Vec::new();
    let writes = cx.client.writes_allowed();
    for op in cx
        .ops
        .iter()
        .filter(|op| op.is_read() || (writes && !op.changes_existing()))
        .take(MAX_OPERATIONS)
    {
        let Some(identity) = sender(cx, op) else {
            continue;
        };
        let Some(values) = cx.path_values(op, Some(identity.name())) else {
            continue;
        };
        let mut here = Vec::new();
        for param in op.path_params().chain(op.query_params()) {
            if !is_scalar(&param.schema) {
                continue;
            }
            let control = match param.location {
                moat_spec::ParameterLocation::Path => values.get(&param.name).cloned(),
                _ => scalar_text(&schema::sample(&param.schema)),
            };
            let Some(control) = control else { continue };
            let place = if param.location == moat_spec::ParameterLocation::Path {
                Place::Path
            } else {
                Place::Query
            };
            here.push(Point {
                op,
                place,
                name: param.name.clone(),
                control,
                values: values.clone(),
                identity,
            });
        }
        if let Some(body) = op
            .body
            .as_ref()
            .filter(|_| writes && !op.changes_existing())
        {
            let sample = schema::sample(body);
            for (name, prop) in schema::properties(body) {
                if schema::type_of(&prop) != Some("string") {
                    continue;
                }
                let Some(control) = sample.get(name.as_str()).and_then(scalar_text) else {
                    continue;
                };
                here.push(Point {
                    op,
                    place: Place::Body,
                    name,
                    control,
                    values: values.clone(),
                    identity,
                });
            }
        }
        out.extend(here.into_iter().take(MAX_POINTS_PER_OPERATION));
    }
    out
}

fn is_scalar(schema: &Value) -> bool {
    matches!(
        schema::type_of(schema),
        Some("string" | "integer" | "number") | None
    )
}

/// Anonymous where the document allows it, else the first user, else the
/// first privileged identity.
fn sender<'a>(cx: &'a Context, op: &Op) -> Option<&'a Identity> {
    if !op.secured {
        return Some(&cx.identities.anonymous);
    }
    cx.identities
        .users
        .first()
        .or_else(|| cx.identities.privileged.first())
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::client::{Client, Limits};
    use crate::identity::Identities;

    const DOC: &str = r#"
openapi: 3.0.3
info: {title: t, version: "1"}
servers: [{url: /api}]
paths:
  /files/{name}:
    get:
      parameters:
        - {name: name, in: path, required: true, schema: {type: string, example: a.txt}}
        - {name: v, in: query, required: true, schema: {type: integer, example: 1}}
        - {name: tags, in: query, schema: {type: array, items: {type: string}}}
      responses: {"200": {description: ok}}
"#;

    fn context() -> Context {
        let spec = moat_spec::load_text("t.yaml", DOC).unwrap();
        let target = reqwest::Url::parse("http://127.0.0.1:9/").unwrap();
        Context {
            client: Client::new(&target, Limits::default(), true).unwrap(),
            ops: crate::target::operations(&spec),
            spec: Arc::new(spec),
            identities: Identities::new(Vec::new()),
            objects: crate::objects::Objects::default(),
            selected: Vec::new(),
            observer: Arc::new(crate::progress::Silent),
            canary: None,
        }
    }

    #[test]
    fn points_are_the_scalar_parameters_with_their_controls() {
        let cx = context();
        let found: Vec<(Place, String, String)> = points(&cx)
            .iter()
            .map(|p| (p.place, p.name.clone(), p.control.clone()))
            .collect();
        assert_eq!(
            found,
            [
                (Place::Path, "name".to_string(), "a.txt".to_string()),
                (Place::Query, "v".to_string(), "1".to_string()),
            ]
        );
    }

    #[test]
    fn file_like_points_are_path_segments_names_and_values_with_extensions() {
        let cx = context();
        let mut points = points(&cx);
        assert!(points[0].file_like(), "a path segment");
        assert!(!points[1].file_like(), "`v=1`");
        points[1].control = "127.0.0.1".to_string();
        assert!(!points[1].file_like(), "an IP address");
        points[1].control = "report.pdf".to_string();
        assert!(points[1].file_like());
        points[1].name = "filename".to_string();
        points[1].control = "x".to_string();
        assert!(points[1].file_like());
    }

    #[test]
    fn a_payload_in_a_path_segment_stays_one_segment() {
        let cx = context();
        let points = points(&cx);
        let path = &points[0];
        let probe = path.probe(&cx, "../../etc/passwd?x=1#y").unwrap();
        assert_eq!(
            probe.path_and_query,
            "/api/files/..%2F..%2Fetc%2Fpasswd%3Fx%3D1%23y?v=1"
        );
        let raw = path.probe_raw_segment(&cx, "%2e%2e%2fetc").unwrap();
        assert_eq!(raw.path_and_query, "/api/files/%2e%2e%2fetc?v=1");
    }

    #[test]
    fn a_payload_in_a_query_value_is_encoded_and_replaces_the_sample() {
        let cx = context();
        let points = points(&cx);
        let query = &points[1];
        let probe = query.probe(&cx, "1 OR 1=1; sleep 2&x").unwrap();
        assert_eq!(
            probe.path_and_query,
            "/api/files/a.txt?v=1%20OR%201%3D1%3B%20sleep%202%26x"
        );
        let raw = query.probe_raw_query("v[$ne]=1").unwrap();
        assert_eq!(raw.path_and_query, "/api/files/a.txt?v[$ne]=1");
    }
}
