//! The path part of `servers[].url`.
//!
//! A gateway sees requests for its own host, so a server URL matters only for
//! its path: `https://api.example.com/v1` means operations live under `/v1`.
//! Host, scheme and port are the concern of whoever routes traffic to moat.

use serde_json::Value;

/// Why a server URL could not be turned into a path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ServerError {
    /// `{name}` with no `variables.name`.
    UnknownVariable(String),
    /// `variables.name` without a string `default`.
    NoDefault(String),
    /// A `{` with no `}`.
    Unclosed,
}

impl ServerError {
    pub(crate) fn message(&self, url: &str) -> String {
        match self {
            Self::UnknownVariable(v) => {
                format!("server URL `{url}` uses `{{{v}}}`, which is not in its `variables`")
            }
            Self::NoDefault(v) => format!("server variable `{v}` has no string `default`"),
            Self::Unclosed => format!("server URL `{url}` has a `{{` with no matching `}}`"),
        }
    }

    pub(crate) fn hint(&self) -> String {
        match self {
            Self::UnknownVariable(v) => {
                format!("add `variables: {{{v}: {{default: …}}}}` to this server")
            }
            Self::NoDefault(_) => {
                "every server variable needs a `default`, which moat uses".to_string()
            }
            Self::Unclosed => "server variables are written `{name}`".to_string(),
        }
    }
}

/// The path of a server URL: variables replaced by their defaults, host and
/// query removed, no trailing slash (`""` for the root).
pub(crate) fn server_path(url: &str, variables: Option<&Value>) -> Result<String, ServerError> {
    let url = substitute(url, variables)?;
    let rest = if let Some((scheme, rest)) = url.split_once("://")
        && is_scheme(scheme)
    {
        after_authority(rest)
    } else if let Some(rest) = url.strip_prefix("//") {
        after_authority(rest)
    } else {
        url.as_str()
    };
    let path = rest.split(['?', '#']).next().unwrap_or_default();
    let path = path.strip_prefix("./").unwrap_or(path);
    let path = if path == "." { "" } else { path };
    let trimmed = path.trim_end_matches('/');
    Ok(if trimmed.is_empty() {
        String::new()
    } else if trimmed.starts_with('/') {
        trimmed.to_string()
    } else {
        // Relative to wherever the spec is served from; for a gateway that
        // is its own root.
        format!("/{trimmed}")
    })
}

fn is_scheme(s: &str) -> bool {
    let mut chars = s.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
}

/// What follows `host[:port]`: the path, query and fragment.
fn after_authority(rest: &str) -> &str {
    rest.find(['/', '?', '#'])
        .map_or("", |i| rest.get(i..).unwrap_or_default())
}

fn substitute(url: &str, variables: Option<&Value>) -> Result<String, ServerError> {
    let mut out = String::with_capacity(url.len());
    let mut rest = url;
    while let Some(open) = rest.find('{') {
        out.push_str(rest.get(..open).unwrap_or_default());
        let after = rest.get(open + 1..).unwrap_or_default();
        let close = after.find('}').ok_or(ServerError::Unclosed)?;
        let name = after.get(..close).unwrap_or_default();
        let var = variables
            .and_then(|v| v.get(name))
            .ok_or_else(|| ServerError::UnknownVariable(name.to_string()))?;
        let default = var
            .get("default")
            .and_then(Value::as_str)
            .ok_or_else(|| ServerError::NoDefault(name.to_string()))?;
        out.push_str(default);
        rest = after.get(close + 1..).unwrap_or_default();
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn paths_of_urls() {
        let p = |u: &str| server_path(u, None).unwrap();
        assert_eq!(p("https://petstore.swagger.io/v2"), "/v2");
        assert_eq!(p("http://petstore.swagger.io/v1/"), "/v1");
        assert_eq!(p("https://api.twilio.com"), "");
        assert_eq!(p("https://api.example.com:8443/a/b?x=1"), "/a/b");
        assert_eq!(p("/v1"), "/v1");
        assert_eq!(p("/"), "");
        assert_eq!(p(""), "");
        assert_eq!(p("v1"), "/v1");
        assert_eq!(p("./v1/"), "/v1");
        assert_eq!(p("//cdn.example.com/x"), "/x");
    }

    #[test]
    fn variables_use_defaults() {
        let vars = json!({"scheme": {"default": "https", "enum": ["https", "http"]}, "v": {"default": "v2"}});
        assert_eq!(
            server_path("{scheme}://developer.uspto.gov/ds-api", Some(&vars)).unwrap(),
            "/ds-api"
        );
        assert_eq!(
            server_path("https://x.io/{v}/api", Some(&vars)).unwrap(),
            "/v2/api"
        );
        assert_eq!(
            server_path("https://x.io/{nope}", Some(&vars)).unwrap_err(),
            ServerError::UnknownVariable("nope".into())
        );
        assert_eq!(
            server_path("https://x.io/{v", Some(&vars)).unwrap_err(),
            ServerError::Unclosed
        );
        let no_default = json!({"v": {"enum": ["a"]}});
        assert_eq!(
            server_path("/{v}", Some(&no_default)).unwrap_err(),
            ServerError::NoDefault("v".into())
        );
    }
}
