//! Security schemes and requirements: parsed, checked, inherited.

use super::{HEADER, at, errors, only, spec};
use crate::{ApiKeyLocation, SchemeKind};

const SCHEMES: &str = "components:
  securitySchemes:
    ApiKey: {type: apiKey, in: header, name: X-Api-Key}
    QueryKey: {type: apiKey, in: query, name: key}
    Basic: {type: http, scheme: basic}
    Bearer: {type: http, scheme: Bearer, bearerFormat: JWT}
    OAuth:
      type: oauth2
      flows:
        clientCredentials: {tokenUrl: 'https://idp/token', scopes: {read: r, write: w}}
        authorizationCode: {authorizationUrl: 'https://idp/a', tokenUrl: 'https://idp/t', scopes: {write: w, admin: a}}
    Oidc: {type: openIdConnect, openIdConnectUrl: 'https://idp/.well-known/openid-configuration'}
";

#[test]
fn schemes_are_parsed() {
    let s = spec(&format!("{HEADER}paths: {{}}\n{SCHEMES}"));
    assert_eq!(
        s.schemes["ApiKey"].kind,
        SchemeKind::ApiKey {
            name: "X-Api-Key".into(),
            location: ApiKeyLocation::Header
        }
    );
    assert_eq!(
        s.schemes["QueryKey"].kind,
        SchemeKind::ApiKey {
            name: "key".into(),
            location: ApiKeyLocation::Query
        }
    );
    assert_eq!(s.schemes["Basic"].kind, SchemeKind::HttpBasic);
    assert_eq!(
        s.schemes["Bearer"].kind,
        SchemeKind::HttpBearer,
        "scheme names are case-insensitive"
    );
    assert_eq!(
        s.schemes["OAuth"].kind,
        SchemeKind::OAuth2 {
            scopes: vec!["read".into(), "write".into(), "admin".into()]
        }
    );
    assert!(
        matches!(&s.schemes["Oidc"].kind, SchemeKind::OpenIdConnect { url } if url.ends_with("openid-configuration"))
    );
}

#[test]
fn operations_inherit_or_override_the_root_requirement() {
    let s = spec(&format!(
        "{HEADER}security: [{{ApiKey: []}}, {{OAuth: [read]}}]
paths:
  /a:
    get: {{responses: {{'200': {{description: ok}}}}}}
    post:
      security: [{{ApiKey: [], Basic: []}}]
      responses: {{'200': {{description: ok}}}}
    put:
      security: []
      responses: {{'200': {{description: ok}}}}
    delete:
      security: [{{}}, {{Bearer: []}}]
      responses: {{'200': {{description: ok}}}}
{SCHEMES}"
    ));
    let op = |m: &str| {
        s.operations
            .iter()
            .find(|o| o.method.as_str() == m)
            .unwrap()
    };
    // inherited: OR of two alternatives, the second with a scope
    let get = &op("GET").policy;
    assert_eq!(get.alternatives.len(), 2);
    assert_eq!(
        get.alternatives[1].schemes,
        [("OAuth".to_string(), vec!["read".to_string()])]
    );
    assert!(!get.allows_anonymous());
    // overridden: one alternative with two schemes (AND)
    let post = &op("POST").policy;
    assert_eq!(post.alternatives.len(), 1);
    assert_eq!(post.alternatives[0].schemes.len(), 2);
    assert_eq!(post.scheme_names(), ["ApiKey", "Basic"]);
    // `security: []`: nothing required
    assert!(op("PUT").policy.alternatives.is_empty());
    assert!(op("PUT").policy.allows_anonymous());
    // `{}` among alternatives: anonymous allowed, credentials optional
    assert!(op("DELETE").policy.allows_anonymous());
}

#[test]
fn undefined_schemes_are_errors_with_a_suggestion() {
    let diags = errors(&format!(
        "{HEADER}security: [{{ApiKy: []}}]
paths: {{}}
{SCHEMES}"
    ));
    let d = only(&diags);
    assert_eq!(d.message, "security scheme `ApiKy` is not defined");
    assert_eq!(d.position, at(3, 13));
    assert_eq!(d.hint.as_deref(), Some("did you mean `ApiKey`?"));
}

#[test]
fn malformed_schemes_are_errors() {
    let diags = errors(&format!(
        "{HEADER}paths: {{}}
components:
  securitySchemes:
    NoIn: {{type: apiKey, name: k}}
    Weird: {{type: kerberos}}
"
    ));
    assert_eq!(diags.0.len(), 2, "{diags}");
    assert!(
        diags
            .0
            .iter()
            .any(|d| d.message.contains("needs `in: header`"))
    );
    assert!(
        diags
            .0
            .iter()
            .any(|d| d.message == "unknown security scheme type `kerberos`")
    );
}
