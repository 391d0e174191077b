//! `/api/graphql`: a small GraphQL API over the bookstore's books, their
//! authors and reviews (`POST` with `{"query", "variables",
//! "operationName"}`, or `GET ?query=`), and, as a planted weakness, the
//! GraphiQL page at `/api/graphiql`.
//!
//! With its weaknesses off it behaves as a careful GraphQL server would:
//! introspection refused, no field suggestions, no batches, depth at most
//! [`MAX_DEPTH`], at most [`MAX_ALIASES`] aliases, mutations over `POST`
//! only. Whatever is on, a query longer than [`MAX_QUERY_CHARS`] or one
//! that resolves more than 10 000 fields is refused, so no request makes
//! the demo work long.

mod document;
mod exec;
mod schema;
mod validate;

use std::sync::Mutex;

use http::{Method, StatusCode, header};
use serde_json::{Map, Value, json};

use super::{AreaAnswer, Body, Req, Shared, Weakness, json_response, lock};
use document::OperationKind;
pub(crate) use exec::Review;

/// Longest query text, in characters (64 KiB of ASCII).
const MAX_QUERY_CHARS: usize = 64 * 1024;
/// Deepest query and most aliases, unless the weaknesses lift them.
const MAX_DEPTH: usize = 6;
const MAX_ALIASES: usize = 10;
/// Most operations in a batch, when batches are taken at all.
const MAX_BATCH: usize = 20;

/// The reviews, apart from the core store: only GraphQL reads and adds
/// them.
pub(crate) struct Reviews(Mutex<Vec<Review>>);

impl Default for Reviews {
    fn default() -> Self {
        Self(Mutex::new(vec![
            Review {
                id: 1,
                book_id: 1,
                text: "Still the best book on the craft.".into(),
            },
            Review {
                id: 2,
                book_id: 3,
                text: "Clear, and the borrow checker finally made sense.".into(),
            },
        ]))
    }
}

/// The area's routes.
pub(super) fn route<'a>(shared: &'a Shared, req: &'a Req) -> AreaAnswer<'a> {
    let answer = match req.parts.uri.path() {
        "/api/graphql" => endpoint(shared, req),
        "/api/graphiql" if shared.has(Weakness::Graphiql) => graphiql(&req.parts.method),
        _ => return None,
    };
    Some(Box::pin(std::future::ready(Ok(answer))))
}

/// One GraphQL request as sent: query, variables and operation name.
struct Request {
    query: String,
    variables: Map<String, Value>,
    operation_name: Option<String>,
}

/// An answer: status and GraphQL body.
type Answer = (StatusCode, Value);

fn errors(status: StatusCode, messages: &[String]) -> Answer {
    let list: Vec<Value> = messages.iter().map(|m| json!({"message": m})).collect();
    (status, json!({"errors": list}))
}

fn error(status: StatusCode, message: &str) -> Answer {
    errors(status, &[message.to_string()])
}

fn endpoint(shared: &Shared, req: &Req) -> http::Response<Body> {
    let (status, body) = match req.parts.method {
        Method::GET => match from_query(req.parts.uri.query().unwrap_or_default()) {
            Ok(request) => run(shared, req, &request, true),
            Err(answer) => answer,
        },
        Method::POST => post(shared, req),
        _ => {
            let mut response = respond(error(
                StatusCode::METHOD_NOT_ALLOWED,
                "GraphQL requests are GET or POST.",
            ));
            response
                .headers_mut()
                .insert(header::ALLOW, http::HeaderValue::from_static("GET, POST"));
            return response;
        }
    };
    let mut response = respond((status, body));
    if status == StatusCode::METHOD_NOT_ALLOWED {
        response
            .headers_mut()
            .insert(header::ALLOW, http::HeaderValue::from_static("POST"));
    }
    response
}

fn respond((status, body): Answer) -> http::Response<Body> {
    json_response(status, &body)
}

/// `POST`: one request object, or a batch (an array) when batching is on.
fn post(shared: &Shared, req: &Req) -> Answer {
    let body = match &req.body {
        Ok(body) => body,
        Err(rejection) => return error(rejection.status, &rejection.detail),
    };
    if !super::is_json_content_type(&req.parts.headers) {
        return error(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "GraphQL requests are application/json.",
        );
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(object)) => match from_object(&object) {
            Ok(request) => run(shared, req, &request, false),
            Err(answer) => answer,
        },
        Ok(Value::Array(items)) if shared.has(Weakness::GraphqlBatching) => {
            if items.is_empty() || items.len() > MAX_BATCH {
                return error(
                    StatusCode::BAD_REQUEST,
                    &format!("A batch holds 1 to {MAX_BATCH} operations."),
                );
            }
            let answers: Vec<Value> = items
                .iter()
                .map(|item| {
                    let request = match item {
                        Value::Object(object) => from_object(object),
                        _ => Err(error(
                            StatusCode::BAD_REQUEST,
                            "Each operation is an object.",
                        )),
                    };
                    match request {
                        Ok(request) => run(shared, req, &request, false).1,
                        Err((_, body)) => body,
                    }
                })
                .collect();
            (StatusCode::OK, Value::Array(answers))
        }
        Ok(Value::Array(_)) => error(
            StatusCode::BAD_REQUEST,
            "Batched operations are not accepted.",
        ),
        Ok(_) => error(StatusCode::BAD_REQUEST, "The body must be a JSON object."),
        Err(_) => error(StatusCode::BAD_REQUEST, "The body is not valid JSON."),
    }
}

/// A request object: `query` (required), `variables`, `operationName`,
/// `extensions`; nothing else.
fn from_object(object: &Map<String, Value>) -> Result<Request, Answer> {
    if let Some(unknown) = object
        .keys()
        .find(|k| !["query", "variables", "operationName", "extensions"].contains(&k.as_str()))
    {
        return Err(error(
            StatusCode::BAD_REQUEST,
            &format!("Unknown request property \"{unknown}\"."),
        ));
    }
    let query = match object.get("query") {
        Some(Value::String(q)) => q.clone(),
        _ => {
            return Err(error(
                StatusCode::BAD_REQUEST,
                "A query string is required.",
            ));
        }
    };
    let variables = match object.get("variables") {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(v)) => v.clone(),
        Some(_) => {
            return Err(error(
                StatusCode::BAD_REQUEST,
                "variables must be an object.",
            ));
        }
    };
    let operation_name = match object.get("operationName") {
        None | Some(Value::Null) => None,
        Some(Value::String(n)) => Some(n.clone()),
        Some(_) => {
            return Err(error(
                StatusCode::BAD_REQUEST,
                "operationName must be a string.",
            ));
        }
    };
    Ok(Request {
        query,
        variables,
        operation_name,
    })
}

/// A `GET` request's `query`, `variables` (JSON text) and `operationName`.
fn from_query(query: &str) -> Result<Request, Answer> {
    let mut object = Map::new();
    for (name, value) in super::query_pairs(query) {
        if object.contains_key(&name) {
            continue;
        }
        let value = match name.as_str() {
            "variables" => match serde_json::from_str::<Value>(&value) {
                Ok(v) => v,
                Err(_) => return Err(error(StatusCode::BAD_REQUEST, "variables must be JSON.")),
            },
            "query" | "operationName" | "extensions" => Value::String(value),
            _ => continue,
        };
        object.insert(name, value);
    }
    object.remove("extensions");
    from_object(&object)
}

/// Parses, validates and executes one request.
fn run(shared: &Shared, req: &Req, request: &Request, via_get: bool) -> Answer {
    if request.query.chars().count() > MAX_QUERY_CHARS {
        return error(
            StatusCode::PAYLOAD_TOO_LARGE,
            &format!("A query is at most {MAX_QUERY_CHARS} characters."),
        );
    }
    let doc = match document::parse(&request.query) {
        Ok(doc) => doc,
        Err(message) => return error(StatusCode::BAD_REQUEST, &message),
    };
    let op = match doc.operation(request.operation_name.as_deref()) {
        Ok(op) => op,
        Err(message) => return error(StatusCode::BAD_REQUEST, &message),
    };
    if via_get && op.kind == OperationKind::Mutation && !shared.has(Weakness::GraphqlGetMutation) {
        return error(
            StatusCode::METHOD_NOT_ALLOWED,
            "Mutations are accepted over POST only.",
        );
    }
    let measure = match validate::validate(&doc, op, shared.has(Weakness::GraphqlSuggestions)) {
        Ok(measure) => measure,
        Err(messages) => return errors(StatusCode::BAD_REQUEST, &messages),
    };
    if measure.introspection && !shared.has(Weakness::GraphqlIntrospection) {
        return error(StatusCode::BAD_REQUEST, "Introspection is not allowed.");
    }
    if measure.depth > MAX_DEPTH && !shared.has(Weakness::GraphqlDepth) {
        return error(
            StatusCode::BAD_REQUEST,
            &format!(
                "The query is {} levels deep; at most {MAX_DEPTH} are allowed.",
                measure.depth
            ),
        );
    }
    if measure.aliases > MAX_ALIASES && !shared.has(Weakness::GraphqlAliases) {
        return error(
            StatusCode::BAD_REQUEST,
            &format!(
                "The query has {} aliases; at most {MAX_ALIASES} are allowed.",
                measure.aliases
            ),
        );
    }
    let books = lock(&shared.store).books.values().cloned().collect();
    let mut reviews = shared
        .graphql
        .0
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let mut data = exec::Data {
        books,
        reviews: &mut reviews,
        caller: req.caller.name().map(str::to_string),
    };
    let (value, messages) = exec::execute(&doc, op, &request.variables, &mut data);
    let mut body = json!({"data": value});
    if !messages.is_empty() {
        let list: Vec<Value> = messages.iter().map(|m| json!({"message": m})).collect();
        body["errors"] = Value::Array(list);
    }
    (StatusCode::OK, body)
}

/// `GET /api/graphiql`: a GraphiQL page (self-contained, no CDN): a query
/// box that posts to `/api/graphql`.
fn graphiql(method: &Method) -> http::Response<Body> {
    if method != Method::GET {
        return respond(error(StatusCode::METHOD_NOT_ALLOWED, "GET only."));
    }
    let mut response = http::Response::new(Body::from(GRAPHIQL_PAGE));
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        http::HeaderValue::from_static("text/html; charset=utf-8"),
    );
    response
}

const GRAPHIQL_PAGE: &str = r#"<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>GraphiQL - Bookstore</title></head>
<body>
<h1>GraphiQL</h1>
<p>Explore the bookstore's GraphQL API at <code>/api/graphql</code>.</p>
<textarea id="query" rows="12" cols="80">{ books { id title author { name } } }</textarea>
<p><button id="run">Run</button></p>
<pre id="result"></pre>
<script>
document.getElementById("run").onclick = async () => {
  const query = document.getElementById("query").value;
  const answer = await fetch("/api/graphql", {
    method: "POST",
    headers: {"content-type": "application/json"},
    body: JSON.stringify({query}),
  });
  document.getElementById("result").textContent = JSON.stringify(await answer.json(), null, 2);
};
</script>
</body>
</html>
"#;

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::super::{Settings, Weaknesses};
    use super::*;
    use bytes::Bytes;
    use http_body_util::BodyExt;

    fn shared(weaknesses: &str) -> Shared {
        Shared::new(Settings::with(weaknesses.parse::<Weaknesses>().unwrap()))
    }

    fn request(method: Method, uri: &str, body: &str) -> Req {
        let (parts, ()) = http::Request::builder()
            .method(method)
            .uri(uri)
            .header(header::CONTENT_TYPE, "application/json")
            .body(())
            .unwrap()
            .into_parts();
        Req {
            parts,
            body: Ok(Bytes::from(body.to_string())),
            caller: super::super::Caller::Anonymous,
        }
    }

    /// The status and JSON body of one request to `shared`.
    async fn send(shared: &Shared, method: Method, uri: &str, body: &str) -> (u16, Value) {
        let req = request(method, uri, body);
        let response = route(shared, &req).unwrap().await.unwrap();
        let status = response.status().as_u16();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        (
            status,
            serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        )
    }

    async fn post(shared: &Shared, query: &str) -> (u16, Value) {
        send(
            shared,
            Method::POST,
            "/api/graphql",
            &json!({"query": query}).to_string(),
        )
        .await
    }

    fn deep(levels: usize) -> String {
        let mut query = String::from("{ books");
        for i in 1..levels - 1 {
            query.push_str(if i % 2 == 1 { " { author" } else { " { books" });
        }
        query.push_str(" { __typename");
        query.push_str(&" }".repeat(levels));
        query
    }

    fn aliased(count: usize) -> String {
        let fields: Vec<String> = (0..count).map(|i| format!("a{i}: __typename")).collect();
        format!("{{ {} }}", fields.join(" "))
    }

    #[tokio::test]
    async fn the_fixed_api_refuses_what_the_weaknesses_allow() {
        let fixed = shared("none");
        let open = shared("all");
        let introspection = "{ __schema { types { name } } }";
        for (query, refused) in [
            (introspection.to_string(), 400),
            (deep(7), 400),
            (aliased(11), 400),
        ] {
            assert_eq!(post(&fixed, &query).await.0, refused, "{query}");
            let (status, body) = post(&open, &query).await;
            assert_eq!(status, 200, "{query}: {body}");
            assert!(body.get("errors").is_none(), "{body}");
        }
        assert_eq!(post(&fixed, &deep(6)).await.0, 200);
        assert_eq!(post(&fixed, &aliased(10)).await.0, 200);

        let batch = r#"[{"query": "{ __typename }"}, {"query": "{ books { id } }"}]"#;
        assert_eq!(
            send(&fixed, Method::POST, "/api/graphql", batch).await.0,
            400
        );
        let (status, body) = send(&open, Method::POST, "/api/graphql", batch).await;
        assert_eq!(
            (status, body[0]["data"]["__typename"].as_str()),
            (200, Some("Query"))
        );

        let mutation = "/api/graphql?query=mutation%20%7B%20__typename%20%7D";
        assert_eq!(send(&fixed, Method::GET, mutation, "").await.0, 405);
        let (status, body) = send(&open, Method::GET, mutation, "").await;
        assert_eq!(
            (status, body["data"]["__typename"].as_str()),
            (200, Some("Mutation"))
        );

        let (_, body) = post(&fixed, "{ books { titel } }").await;
        assert_eq!(
            body["errors"][0]["message"],
            "Cannot query field \"titel\" on type \"Book\"."
        );
        let (_, body) = post(&open, "{ books { titel } }").await;
        assert!(
            body["errors"][0]["message"]
                .as_str()
                .unwrap()
                .ends_with("Did you mean \"title\"?")
        );

        let graphiql = request(Method::GET, "/api/graphiql", "");
        assert!(route(&fixed, &graphiql).is_none());
        let page = route(&open, &graphiql).unwrap().await.unwrap();
        let text = page.into_body().collect().await.unwrap().to_bytes();
        assert!(String::from_utf8_lossy(&text).contains("GraphiQL"));
    }

    #[tokio::test]
    async fn answers_queries_over_get_and_post_with_variables() {
        let fixed = shared("none");
        let (status, body) = send(
            &fixed,
            Method::POST,
            "/api/graphql",
            r#"{"query": "query B($id: ID!) { book(id: $id) { title reviews { text } } }", "variables": {"id": "3"}}"#,
        )
        .await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(
            body["data"]["book"]["title"],
            "The Rust Programming Language"
        );
        assert_eq!(body["data"]["book"]["reviews"].as_array().unwrap().len(), 1);
        let (status, body) = send(
            &fixed,
            Method::GET,
            "/api/graphql?query=%7Bbooks%7Bid%7D%7D",
            "",
        )
        .await;
        assert_eq!(
            (status, body["data"]["books"].as_array().unwrap().len()),
            (200, 3)
        );
    }

    #[tokio::test]
    async fn bounds_hold_whatever_is_on() {
        let open = shared("all");
        let long = format!("{{ __typename }}{}", " ".repeat(MAX_QUERY_CHARS));
        assert_eq!(post(&open, &long).await.0, 413);
        for (method, uri, body, status) in [
            (Method::PUT, "/api/graphql", "", 405),
            (
                Method::POST,
                "/api/graphql",
                r#"{"query": "{ books { id } }", "role": "admin"}"#,
                400,
            ),
            (Method::POST, "/api/graphql", "[]", 400),
            (Method::POST, "/api/graphql", "{", 400),
            (Method::GET, "/api/graphql", "", 400),
            (
                Method::POST,
                "/api/graphql",
                r#"{"query": "{ books { "}"#,
                400,
            ),
        ] {
            assert_eq!(
                send(&open, method, uri, body).await.0,
                status,
                "{uri} {body}"
            );
        }
        let anonymous = post(
            &open,
            "mutation { addReview(bookId: 1, text: \"x\") { id } }",
        )
        .await;
        assert_eq!(anonymous.1["data"]["addReview"], Value::Null);
        assert_eq!(anonymous.1["errors"].as_array().unwrap().len(), 1);
    }
}
