//! GraphQL IDEs (GraphiQL, GraphQL Playground, Altair) served where a
//! browser would find them.

use crate::checks::{Context, Outcome};
use crate::client::{Exchange, Probe};
use crate::finding::Finding;

use super::endpoint;

/// IDE pages tried under each base path.
pub(super) const PATHS: &[&str] = &["/graphiql", "/playground", "/graphql-playground", "/altair"];
/// Most IDE pages tried.
pub(super) const MAX_PROBES: usize = 12;

/// Whether an answer is a GraphQL IDE's page.
fn is_ide_page(exchange: &Exchange) -> bool {
    let html = exchange
        .header("content-type")
        .is_some_and(|t| t.to_ascii_lowercase().contains("text/html"));
    let text = exchange.text().to_ascii_lowercase();
    exchange.status == 200
        && html
        && [
            "graphiql",
            "graphql playground",
            "graphql-playground",
            "altair graphql",
        ]
        .iter()
        .any(|name| text.contains(name))
}

/// GETs the common IDE pages, and the documented GraphQL paths as a
/// browser would.
pub(super) async fn pages(cx: &Context, out: &mut Outcome) {
    let mut probes = Vec::new();
    for candidate in endpoint::candidates(&cx.ops) {
        if candidate.get.is_some() || candidate.post.is_some() {
            probes.push(Probe::get(candidate.path.clone()).header("accept", "text/html"));
        }
    }
    for base in endpoint::bases(&cx.ops) {
        for page in PATHS {
            probes.push(Probe::get(format!("{base}{page}")).header("accept", "text/html"));
        }
    }
    probes.truncate(MAX_PROBES);
    for probe in probes {
        let Ok(exchange) = cx.send(&probe, &cx.identities.anonymous).await else {
            continue;
        };
        if !is_ide_page(&exchange) {
            continue;
        }
        let path = probe.path_and_query.clone();
        out.found(
            Finding::new(
                &super::GRAPHIQL,
                format!("a GraphQL IDE is served at {path}"),
                format!("GET {path} answered an HTML page that names a GraphQL IDE."),
            )
            .at_path(path.clone())
            .by(cx.identities.anonymous.name())
            .evidence(Context::evidence(&exchange, "text/html naming GraphiQL, Playground or Altair"))
            .fix(format!(
                "Leave {path} out of the OpenAPI document and run moat with `mode: enforce`: undocumented paths are answered 404 shadow-endpoint."
            ))
            .fix_api("Serve the IDE in development only."),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::graphql::tests::exchange;

    #[test]
    fn an_ide_page_is_html_that_names_the_ide() {
        assert!(is_ide_page(&exchange(
            200,
            "text/html; charset=utf-8",
            "<title>GraphiQL</title>"
        )));
        assert!(is_ide_page(&exchange(
            200,
            "text/html",
            "<h1>GraphQL Playground</h1>"
        )));
        assert!(!is_ide_page(&exchange(404, "text/html", "GraphiQL")));
        assert!(!is_ide_page(&exchange(
            200,
            "application/json",
            "{\"graphiql\": 1}"
        )));
        assert!(!is_ide_page(&exchange(
            200,
            "text/html",
            "<h1>Swagger UI</h1>"
        )));
    }
}
