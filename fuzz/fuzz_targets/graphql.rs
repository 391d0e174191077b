//! The GraphQL limits on a request body, through the gateway's two entry
//! points: the first byte's low bit picks a query document
//! (`graphql::check` with `application/graphql`) or a JSON request, which
//! the request view's JSON parser reads first (`graphql::check_json`, as
//! the gateway does); the next bit allows introspection. The input is
//! also run through `mask_suggestions`, as a GraphQL response body.
//!
//! Properties: a refusal names its rule; a JSON request gives the same
//! answer whether read by the request view or by `check` itself; an
//! accepted request has at least one operation and is inspected without
//! panicking; masking a masked response changes nothing more.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use moat_inspect::graphql::{self, GraphqlLimits};
use moat_inspect::{InspectOptions, Inspector, Report};
use moat_request::json::{self, JsonLimits};

fn inspector() -> &'static Inspector {
    static I: OnceLock<Inspector> = OnceLock::new();
    I.get_or_init(|| Inspector::new(InspectOptions::default()))
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, body)) = data.split_first() else {
        return;
    };
    let limits = GraphqlLimits {
        allow_introspection: mode & 2 != 0,
        ..GraphqlLimits::default()
    };
    let checked = if mode & 1 == 0 {
        graphql::check(body, "application/graphql", &limits)
    } else {
        let direct = graphql::check(body, "application/json; charset=utf-8", &limits);
        match json::parse(body, &JsonLimits::default()) {
            Ok(value) => {
                let viewed = graphql::check_json(&value, &limits);
                if serde_json::from_slice::<serde_json::Value>(body)
                    .ok()
                    .as_ref()
                    == Some(&value)
                {
                    assert_eq!(viewed, direct, "the two JSON entry points differ");
                }
                viewed
            }
            Err(_) => direct,
        }
    };
    match checked {
        Ok(request) => {
            assert!(
                !request.operations().is_empty(),
                "an accepted request without operations"
            );
            let mut report = Report::default();
            request.inspect(inspector(), &mut report);
            let _ = request.uses_introspection();
        }
        Err(violation) => {
            assert!(!violation.rule().is_empty());
            let _ = violation.to_string();
        }
    }
    if let Some(masked) = graphql::mask_suggestions(body) {
        assert_eq!(
            graphql::mask_suggestions(&masked),
            None,
            "masking twice changed more"
        );
    }
});
