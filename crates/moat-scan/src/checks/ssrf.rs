//! API7 Server Side Request Forgery: URL-like parameters get the canary's
//! URL, with a token unique to the probe; a request for that URL reaching
//! the canary proves the API fetched what it was given.

use std::time::Duration;

use async_trait::async_trait;
use serde_json::Value;

use crate::canary;
use crate::client::Exchange;
use crate::finding::{Category, Finding, Rule, Severity};
use crate::schema;
use crate::target::Op;

use super::sampling::{Place, reader, with_value};
use super::{Check, Context, Outcome};

pub static FETCH: Rule = Rule {
    id: "ssrf.fetch",
    name: "The API fetches URLs it is given",
    category: Category::Api7,
    severity: Severity::High,
    cwe: Some(918),
    description: "A parameter that takes a URL makes the server request it: an attacker can reach internal services, cloud metadata and private networks from the server's position.",
};

/// The most parameters given the canary's URL in one scan.
const MAX_PROBES: usize = 40;
/// How long after the last probe a fetch may still arrive.
const WAIT_FOR_HITS: Duration = Duration::from_secs(3);
/// How deep into a JSON body URL-like fields are looked for.
const MAX_BODY_DEPTH: usize = 3;

/// Words in a parameter's name that say it takes a URL.
const URL_WORDS: &[&str] = &[
    "url", "uri", "link", "callback", "webhook", "image", "avatar", "feed", "redirect", "target",
    "src", "href",
];

static RULES: [&Rule; 1] = [&FETCH];

pub struct Ssrf;

#[async_trait]
impl Check for Ssrf {
    fn name(&self) -> &'static str {
        "server-side request forgery"
    }

    fn rules(&self) -> &'static [&'static Rule] {
        &RULES
    }

    fn plan(&self, cx: &Context) -> Vec<String> {
        let places = candidates(cx);
        if places.is_empty() {
            return vec!["no URL-like parameter is documented: nothing to send".to_string()];
        }
        let mut lines: Vec<String> = places
            .iter()
            .take(MAX_PROBES)
            .map(|(op, place)| {
                format!(
                    "{} {}: {} set to the canary's URL (a token per probe){}",
                    op.method.as_str(),
                    op.full_template,
                    place.describe(),
                    if op.is_read() { "" } else { " (writes only)" }
                )
            })
            .collect();
        lines.push(format!(
            "then wait up to {WAIT_FOR_HITS:?} for the target to fetch them"
        ));
        lines
    }

    async fn run(&self, cx: &Context, out: &mut Outcome) {
        let check = self.name();
        let Some(canary) = &cx.canary else {
            out.skip(
                check,
                "the SSRF canary could not listen: no URL-like parameter was tried",
            );
            return;
        };
        let places = candidates(cx);
        if places.is_empty() {
            out.skip(check, "no URL-like parameter is documented");
            return;
        }
        let mut sent: Vec<(&Op, Place, String, Exchange)> = Vec::new();
        let mut not_allowed = 0;
        for (op, place) in places.into_iter().take(MAX_PROBES) {
            let Some(identity) = reader(cx, op) else {
                continue;
            };
            let token = canary::token();
            let Some(values) = cx.path_values(op, Some(identity.name())) else {
                continue;
            };
            let Some(probe) = cx
                .probe(op, &values)
                .and_then(|p| with_value(op, &place, &values, p, &canary.url(&token)))
            else {
                continue;
            };
            if !cx.client.may_send(&probe) {
                not_allowed += 1;
                continue;
            }
            if let Ok(exchange) = cx.send(&probe, identity).await {
                sent.push((op, place, token, exchange));
            }
        }
        if not_allowed > 0 {
            out.skip(
                check,
                format!(
                    "{not_allowed} URL-like parameters of writing operations not tried: writes are not allowed (--allow-writes)"
                ),
            );
        }
        let deadline = tokio::time::Instant::now() + WAIT_FOR_HITS;
        for (op, place, token, exchange) in sent {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            if !canary.hit(&token, left).await {
                continue;
            }
            out.found(
                Finding::new(
                    &FETCH,
                    format!("{} is fetched by the server", place.describe()),
                    format!(
                        "{} {} was sent the canary's URL in {}; the canary then received a request for it, so the API fetched the URL it was given (answer {}).",
                        op.method.as_str(),
                        op.full_template,
                        place.describe(),
                        exchange.status
                    ),
                )
                .at(op.reference())
                .by(exchange.identity.clone())
                .evidence(Context::evidence(
                    &exchange,
                    format!("the canary received /moat-canary/{token} after this request"),
                ))
                .fix(fix(&place))
                .fix_api(
                    "Fetch only from an allow-list of hosts and schemes, resolve the name and refuse internal addresses, and do not follow redirects.",
                ),
            );
        }
    }
}

/// Every URL-like parameter of every operation, in document order.
fn candidates(cx: &Context) -> Vec<(&Op, Place)> {
    let mut out = Vec::new();
    for op in &cx.ops {
        for param in &op.parameters {
            if !is_url_like(&param.name, &param.schema) {
                continue;
            }
            match param.location {
                moat_spec::ParameterLocation::Query => {
                    out.push((op, Place::Query(param.name.clone())));
                }
                moat_spec::ParameterLocation::Path => {
                    out.push((op, Place::Path(param.name.clone())));
                }
                _ => {}
            }
        }
        // Not the body of an update: its sample values would overwrite
        // an existing object.
        if let Some(body) = op.body.as_ref().filter(|_| !op.changes_existing()) {
            let mut pointers = Vec::new();
            body_fields(body, String::new(), 0, &mut pointers);
            out.extend(pointers.into_iter().map(|p| (op, Place::Body(p))));
        }
    }
    out
}

/// JSON pointers of the URL-like string fields of an object schema.
fn body_fields(schema: &Value, at: String, depth: usize, out: &mut Vec<String>) {
    if depth >= MAX_BODY_DEPTH {
        return;
    }
    for (name, property) in schema::properties(schema) {
        if property.get("readOnly") == Some(&Value::Bool(true)) {
            continue;
        }
        let pointer = format!("{at}/{}", name.replace('~', "~0").replace('/', "~1"));
        if is_url_like(&name, &property) {
            out.push(pointer);
        } else if schema::type_of(&property) == Some("object")
            || property.get("properties").is_some()
        {
            body_fields(&property, pointer, depth + 1, out);
        }
    }
}

/// Whether a value named `name` with `schema` is a URL: a string (or
/// untyped) with a URL format, or a name that says so.
fn is_url_like(name: &str, schema: &Value) -> bool {
    if !matches!(schema::type_of(schema), Some("string") | None) || schema.get("enum").is_some() {
        return false;
    }
    let format = schema.get("format").and_then(Value::as_str).unwrap_or("");
    if matches!(
        format,
        "uri" | "url" | "uri-reference" | "iri" | "iri-reference"
    ) {
        return true;
    }
    let name = name.to_ascii_lowercase();
    URL_WORDS.iter().any(|w| name.contains(w))
}

/// The gateway change that closes it for the parameter at `place`.
fn fix(place: &Place) -> String {
    let target = match place {
        Place::Query(name) | Place::Path(name) => format!("the parameter `{name}`"),
        Place::Body(pointer) => format!("the body field `{pointer}`"),
    };
    format!(
        "# In the document, restrict {target} to the hosts it may name;\n# moat validates every request against it and refuses other values:\nschema:\n  type: string\n  format: uri\n  pattern: '^https://assets\\.example\\.com/'\n# and keep moat's inspection on (its `ssrf` detector refuses URLs to\n# internal, loopback and metadata addresses):\ninspection:\n  enabled: true"
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn url_like_by_format_or_name_and_only_strings() {
        assert!(is_url_like(
            "x",
            &json!({"type": "string", "format": "uri"})
        ));
        assert!(is_url_like("avatarUrl", &json!({"type": "string"})));
        assert!(is_url_like("callback", &json!({})));
        assert!(!is_url_like("imageCount", &json!({"type": "integer"})));
        assert!(!is_url_like("title", &json!({"type": "string"})));
        assert!(!is_url_like(
            "target",
            &json!({"type": "string", "enum": ["a", "b"]})
        ));
    }

    #[test]
    fn finds_nested_body_fields() {
        let schema = json!({"type": "object", "properties": {
            "name": {"type": "string"},
            "hook": {"type": "object", "properties": {"callback": {"type": "string"}}},
            "id": {"type": "string", "format": "uri", "readOnly": true},
        }});
        let mut out = Vec::new();
        body_fields(&schema, String::new(), 0, &mut out);
        assert_eq!(out, ["/hook/callback"]);
    }
}
