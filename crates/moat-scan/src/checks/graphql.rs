//! GraphQL: what a GraphQL endpoint gives away (introspection, field
//! suggestions, an IDE) and what it lets a client spend (batches, depth,
//! aliases), and whether mutations run over GET.
//!
//! Endpoints are the document's GraphQL operations and a few common paths
//! ([`endpoint`]), each confirmed by `{__typename}` before anything else
//! is sent. Queries go over `GET ?query=` unless writes are allowed, when
//! they go over `POST` as most clients send them; a batch needs `POST`.

mod endpoint;
mod ide;
mod queries;

use async_trait::async_trait;
use serde_json::Value;

use crate::checks::{Check, Context, Outcome};
use crate::client::Exchange;
use crate::finding::{Category, Finding, Rule, Severity};
use endpoint::{Endpoint, Transport};
use queries::Schema;

pub struct Graphql;

const NAME: &str = "graphql";

static INTROSPECTION: Rule = Rule {
    id: "graphql.introspection",
    name: "GraphQL introspection is open",
    category: Category::Api8,
    severity: Severity::Medium,
    cwe: Some(200),
    description: "The endpoint answers `__schema`: anyone can read every type, field and argument of the API, the hidden and internal ones included, and aim their requests.",
};

static SUGGESTIONS: Rule = Rule {
    id: "graphql.suggestions",
    name: "GraphQL errors suggest field names",
    category: Category::Api8,
    severity: Severity::Low,
    cwe: Some(209),
    description: "Errors for a misspelt field say \"Did you mean …?\": the schema can be mapped by guessing even with introspection off.",
};

static BATCHING: Rule = Rule {
    id: "graphql.batching",
    name: "GraphQL batches are executed",
    category: Category::Api4,
    severity: Severity::Medium,
    cwe: Some(770),
    description: "A JSON array of operations is executed as one request: rate limits that count requests let through many operations each, and logins or codes can be guessed in bulk.",
};

static DEPTH: Rule = Rule {
    id: "graphql.depth",
    name: "GraphQL query depth is not limited",
    category: Category::Api4,
    severity: Severity::Medium,
    cwe: Some(770),
    description: "A query nested twelve levels deep through a cycle of types is executed: nesting multiplies the work of one request.",
};

static ALIASES: Rule = Rule {
    id: "graphql.aliases",
    name: "GraphQL aliases are not limited",
    category: Category::Api4,
    severity: Severity::Medium,
    cwe: Some(770),
    description: "One query with a hundred aliases of a field is executed: aliases repeat work (or guesses) inside one request.",
};

static GET_MUTATION: Rule = Rule {
    id: "graphql.get-mutation",
    name: "GraphQL mutations run over GET",
    category: Category::Api8,
    severity: Severity::Medium,
    cwe: Some(352),
    description: "A mutation sent with GET is executed: a link or an image tag on another site can make a signed-in browser change data (cross-site request forgery), and GET requests are cached and logged.",
};

static GRAPHIQL: Rule = Rule {
    id: "graphql.graphiql",
    name: "A GraphQL IDE is served",
    category: Category::Api8,
    severity: Severity::Low,
    cwe: Some(200),
    description: "GraphiQL, GraphQL Playground or Altair is served: a ready console to explore and call the API.",
};

static RULES: &[&Rule] = &[
    &INTROSPECTION,
    &SUGGESTIONS,
    &BATCHING,
    &DEPTH,
    &ALIASES,
    &GET_MUTATION,
    &GRAPHIQL,
];

/// The moat config that holds each GraphQL limit, under an API.
fn fix(setting: &str) -> String {
    format!("apis:\n  - name: <api>\n    inspection:\n      graphql:\n        {setting}\n")
}

#[async_trait]
impl Check for Graphql {
    fn name(&self) -> &'static str {
        NAME
    }

    fn rules(&self) -> &'static [&'static Rule] {
        RULES
    }

    fn plan(&self, cx: &Context) -> Vec<String> {
        let paths: Vec<String> = endpoint::candidates(&cx.ops)
            .into_iter()
            .map(|c| c.path)
            .collect();
        let transport = if cx.client.writes_allowed() {
            "POST, then GET"
        } else {
            "GET ?query= (POST needs --allow-writes)"
        };
        vec![
            format!(
                "find endpoints: GET/POST {{__typename}} to {} ({transport}), anonymous then one user; at most {} endpoints",
                paths.join(", "),
                endpoint::MAX_ENDPOINTS
            ),
            "per endpoint: one introspection query (__schema types and fields)".into(),
            "per endpoint: one query with misspelt field names, for \"Did you mean\"".into(),
            "per endpoint: a batch of two {__typename} queries (POST, with --allow-writes)".into(),
            format!(
                "per endpoint: a query {} levels deep along a cycle of the schema's types, after a control {} deep (needs introspection)",
                queries::DEEP,
                queries::SHALLOW
            ),
            format!(
                "per endpoint: one query with {} aliases of __typename",
                queries::ALIASES
            ),
            format!(
                "per endpoint: GET ?query={} (resolves nothing but the type name)",
                queries::GET_MUTATION
            ),
            format!(
                "GET the GraphQL IDE pages {} under each base path, and each endpoint with Accept: text/html; at most {}",
                ide::PATHS.join(", "),
                ide::MAX_PROBES
            ),
        ]
    }

    async fn run(&self, cx: &Context, out: &mut Outcome) {
        if cx.enabled(&GRAPHIQL) {
            ide::pages(cx, out).await;
        }
        let on = |rules: &[&Rule]| rules.iter().any(|r| cx.enabled(r));
        if !on(&[
            &INTROSPECTION,
            &SUGGESTIONS,
            &BATCHING,
            &DEPTH,
            &ALIASES,
            &GET_MUTATION,
        ]) {
            return;
        }
        let endpoints = endpoint::confirm(cx).await;
        if endpoints.is_empty() {
            out.skip(NAME, "no GraphQL endpoint answered {__typename}");
            return;
        }
        for endpoint in &endpoints {
            let schema = if on(&[&INTROSPECTION, &SUGGESTIONS, &DEPTH, &GET_MUTATION]) {
                introspection(cx, endpoint, out).await
            } else {
                None
            };
            if cx.enabled(&SUGGESTIONS) {
                suggestions(cx, endpoint, schema.as_ref(), out).await;
            }
            if cx.enabled(&BATCHING) {
                batching(cx, endpoint, out).await;
            }
            if cx.enabled(&DEPTH) {
                depth(cx, endpoint, schema.as_ref(), out).await;
            }
            if cx.enabled(&ALIASES) {
                aliases(cx, endpoint, out).await;
            }
            if cx.enabled(&GET_MUTATION) {
                get_mutation(cx, endpoint, schema.as_ref(), out).await;
            }
        }
    }
}

/// Sends `query` to `endpoint`: the exchange and its JSON body.
async fn ask(cx: &Context, endpoint: &Endpoint<'_>, query: &str) -> Option<(Exchange, Value)> {
    let exchange = endpoint.send(cx, &endpoint.query(query)).await?;
    let json = exchange.json()?;
    Some((exchange, json))
}

/// Asks for the schema; reports it when it answers (and the rule is on).
async fn introspection(cx: &Context, endpoint: &Endpoint<'_>, out: &mut Outcome) -> Option<Schema> {
    let (exchange, answer) = ask(cx, endpoint, queries::INTROSPECTION).await?;
    let schema = Schema::from_answer(&answer)?;
    if cx.enabled(&INTROSPECTION) {
        let finding = Finding::new(
            &INTROSPECTION,
            "introspection answers the schema",
            format!(
                "`__schema` answered with {} object types and their fields, as {}.",
                schema.len(),
                endpoint.identity.name()
            ),
        )
        .by(endpoint.identity.name())
        .evidence(Context::evidence(&exchange, "data.__schema.types"))
        .fix(fix(
            "introspection_roles: []   # nobody; or the roles of your own tools",
        ))
        .fix_api("Turn introspection off in the GraphQL server outside development.");
        out.found(endpoint.place(finding, endpoint.transport));
    }
    Some(schema)
}

async fn suggestions(
    cx: &Context,
    endpoint: &Endpoint<'_>,
    schema: Option<&Schema>,
    out: &mut Outcome,
) {
    let names: Vec<String> = match schema.and_then(Schema::misspelt_field) {
        Some(name) => vec![name],
        None => queries::GUESSED_TYPOS
            .iter()
            .map(|s| s.to_string())
            .collect(),
    };
    let Some((exchange, answer)) = ask(cx, endpoint, &queries::misspelt(&names)).await else {
        return;
    };
    let Some(message) = queries::error_messages(&answer)
        .into_iter()
        .find(|m| queries::suggests(m))
    else {
        return;
    };
    let finding = Finding::new(
        &SUGGESTIONS,
        "errors suggest field names",
        format!(
            "Asked for the misspelt field(s) {}, the error said: {message}",
            names.join(", ")
        ),
    )
    .by(endpoint.identity.name())
    .evidence(Context::evidence(
        &exchange,
        "errors[].message: Did you mean …?",
    ))
    .fix(fix("mask_suggestions: true"))
    .fix_api("Turn field suggestions off in the GraphQL server (or strip them from errors).");
    out.found(endpoint.place(finding, endpoint.transport));
}

async fn batching(cx: &Context, endpoint: &Endpoint<'_>, out: &mut Outcome) {
    if !cx.client.writes_allowed() {
        out.skip(
            NAME,
            format!(
                "{}: a batch is sent with POST, which needs --allow-writes",
                endpoint.path()
            ),
        );
        return;
    }
    let probe = endpoint::post(endpoint.path(), &queries::batch());
    let Some(exchange) = endpoint.send(cx, &probe).await else {
        return;
    };
    let answered = exchange.is_success()
        && exchange
            .json()
            .as_ref()
            .and_then(Value::as_array)
            .is_some_and(|items| {
                items.len() == 2
                    && items.iter().all(|i| {
                        i.pointer("/data/__typename")
                            .and_then(Value::as_str)
                            .is_some()
                    })
            });
    if !answered {
        return;
    }
    let finding = Finding::new(
        &BATCHING,
        "a batch of operations is executed",
        "A JSON array of two `{__typename}` queries was answered with an array of two results.",
    )
    .by(endpoint.identity.name())
    .evidence(Context::evidence(&exchange, "an array of 2 results"))
    .fix(format!(
        "{}# or a request body of `type: object` in the document: moat refuses an array\n",
        fix("max_operations_per_batch: 1")
    ))
    .fix_api("Refuse batched requests, or count each operation against the rate limits.");
    out.found(endpoint.place(finding, Transport::Post));
}

async fn depth(cx: &Context, endpoint: &Endpoint<'_>, schema: Option<&Schema>, out: &mut Outcome) {
    let Some(schema) = schema else {
        out.skip(
            NAME,
            format!(
                "{}: depth not tested: introspection is closed, so no deep query can be built from the schema",
                endpoint.path()
            ),
        );
        return;
    };
    let Some(chain) = schema.chain(queries::DEEP) else {
        out.skip(
            NAME,
            format!(
                "{}: depth not tested: the schema has no cycle of object fields {} deep without required arguments",
                endpoint.path(),
                queries::DEEP
            ),
        );
        return;
    };
    let shallow = chain.get(..queries::SHALLOW - 1).unwrap_or_default();
    let control = ask(cx, endpoint, &queries::nested(shallow)).await;
    if !control.is_some_and(|(_, answer)| queries::executed(&answer)) {
        out.skip(
            NAME,
            format!(
                "{}: depth not tested: the shallow control query was not answered",
                endpoint.path()
            ),
        );
        return;
    }
    let Some((exchange, answer)) = ask(cx, endpoint, &queries::nested(&chain)).await else {
        return;
    };
    if !queries::executed(&answer) {
        return;
    }
    let finding = Finding::new(
        &DEPTH,
        format!("a query {} levels deep is executed", queries::DEEP),
        format!(
            "`{}` ({} levels) was executed without an error.",
            queries::nested(&chain),
            queries::DEEP
        ),
    )
    .by(endpoint.identity.name())
    .evidence(Context::evidence(&exchange, "data, and no errors"))
    .fix(fix("max_depth: 10"))
    .fix_api("Limit query depth (and cost) in the GraphQL server.");
    out.found(endpoint.place(finding, endpoint.transport));
}

async fn aliases(cx: &Context, endpoint: &Endpoint<'_>, out: &mut Outcome) {
    let Some((exchange, answer)) = ask(cx, endpoint, &queries::aliases(queries::ALIASES)).await
    else {
        return;
    };
    let answered = queries::executed(&answer)
        && answer
            .get("data")
            .and_then(Value::as_object)
            .is_some_and(|d| d.len() >= queries::ALIASES);
    if !answered {
        return;
    }
    let finding = Finding::new(
        &ALIASES,
        format!("{} aliases in one query are executed", queries::ALIASES),
        format!(
            "A query with {} aliases of `__typename` was answered in full.",
            queries::ALIASES
        ),
    )
    .by(endpoint.identity.name())
    .evidence(Context::evidence(
        &exchange,
        format!("data with {} keys", queries::ALIASES),
    ))
    .fix(fix("max_aliases: 15"))
    .fix_api("Limit aliases (or cost) per query in the GraphQL server.");
    out.found(endpoint.place(finding, endpoint.transport));
}

/// Sends `mutation { __typename }` over GET. It resolves nothing but the
/// type name, so it is sent without `--allow-writes` too.
async fn get_mutation(
    cx: &Context,
    endpoint: &Endpoint<'_>,
    schema: Option<&Schema>,
    out: &mut Outcome,
) {
    if schema.is_some_and(|s| !s.has_mutations) {
        out.skip(
            NAME,
            format!(
                "{}: GET mutations not tested: the schema has no mutation type",
                endpoint.path()
            ),
        );
        return;
    }
    let probe = endpoint::get(endpoint.path(), queries::GET_MUTATION);
    let Some(exchange) = endpoint.send(cx, &probe).await else {
        return;
    };
    if !endpoint::answers_typename(&exchange) {
        return;
    }
    let finding = Finding::new(
        &GET_MUTATION,
        "a mutation is executed over GET",
        format!(
            "`GET ?query={}` was executed (it resolves only the type name, so it changed nothing).",
            queries::GET_MUTATION
        ),
    )
    .by(endpoint.identity.name())
    .evidence(Context::evidence(&exchange, "data.__typename"))
    .fix(format!(
        "Document only `post` for {} in the OpenAPI document: moat then answers GET with 405 method-not-allowed.",
        endpoint.path()
    ))
    .fix_api("Execute mutations only for POST requests (GraphQL over HTTP answers a GET mutation with 405).");
    out.found(endpoint.place(finding, Transport::Get));
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use crate::client::Probe;

    pub(super) fn exchange(status: u16, content_type: &str, body: &str) -> Exchange {
        let mut headers = http::HeaderMap::new();
        if let Ok(value) = http::HeaderValue::from_str(content_type) {
            headers.insert(http::header::CONTENT_TYPE, value);
        }
        Exchange {
            probe: Probe::get("/"),
            identity: "anonymous".into(),
            added: Vec::new(),
            url: "http://127.0.0.1/".into(),
            status,
            headers,
            body: bytes::Bytes::from(body.to_string()),
            elapsed: std::time::Duration::ZERO,
            secrets: Default::default(),
        }
    }

    #[test]
    fn an_endpoint_answers_a_type_name_in_data() {
        let yes = exchange(
            200,
            "application/json",
            r#"{"data": {"__typename": "Query"}}"#,
        );
        assert!(endpoint::answers_typename(&yes));
        let hasura = exchange(
            200,
            "application/json",
            r#"{"data": {"__typename": "query_root"}}"#,
        );
        assert!(endpoint::answers_typename(&hasura));
        for (status, body) in [
            (200, r#"{"errors": [{"message": "no"}]}"#),
            (400, r#"{"data": {"__typename": "Query"}}"#),
            (200, r#"{"__typename": "Query"}"#),
            (200, "<html>"),
        ] {
            assert!(
                !endpoint::answers_typename(&exchange(status, "application/json", body)),
                "{body}"
            );
        }
    }
}
