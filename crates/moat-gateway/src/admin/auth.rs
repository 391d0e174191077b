//! Who calls the admin API: an admin token from the state file (stored
//! hashed; `moat admin token create`), or the config's bootstrap
//! `admin.token` (operator). Failed attempts are security events.

use std::sync::Arc;

use axum::Extension;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::Response;
use moat_state::admin_tokens::AdminRole;
use moat_state::events::{Action, Control, Event, Severity};
use subtle::ConstantTimeEq;

use super::{AdminState, json, problem};

/// The caller of an admin request.
#[derive(Debug, Clone)]
pub(crate) struct Caller {
    /// The token's name (`config` for the bootstrap token).
    pub name: String,
    /// What it may do.
    pub role: AdminRole,
}

impl Caller {
    /// The actor of the audit events this caller's actions write.
    pub(crate) fn actor(&self) -> String {
        format!("token:{}", self.name)
    }
}

/// The caller of a request, or the `401` to answer.
pub(crate) async fn authenticate(
    state: &AdminState,
    headers: &HeaderMap,
    peer: Option<std::net::SocketAddr>,
) -> Result<Caller, Box<Response>> {
    let Some(given) = bearer(headers) else {
        return Err(Box::new(unauthorized("an admin token is required")));
    };
    let rt = state.shared.runtime.load();
    let bootstrap = rt
        .loaded
        .config
        .admin
        .as_ref()
        .and_then(|a| a.token.as_ref());
    // Compared in constant time, so timing does not reveal how much of a
    // guess was right.
    if bootstrap.is_some_and(|t| bool::from(given.as_bytes().ct_eq(t.expose().as_bytes()))) {
        return Ok(Caller {
            name: "config".to_string(),
            role: AdminRole::Operator,
        });
    }
    match state
        .shared
        .state
        .admin_tokens
        .verify_token(given, moat_state::unix_now())
        .await
    {
        Ok(Some(record)) => Ok(Caller {
            name: record.name,
            role: record.role,
        }),
        Ok(None) => {
            let mut event = Event::new(
                Control::Admin,
                "admin-auth-failed",
                Severity::Medium,
                Action::Denied,
            );
            event.status = Some(401);
            event.client = peer.map(|p| p.ip().to_string());
            event.evidence =
                Some("an admin token that is not valid (unknown, revoked or malformed)".into());
            state.shared.events.emit(event);
            Err(Box::new(unauthorized("the admin token is not valid")))
        }
        Err(e) => {
            tracing::error!(error = %e, "cannot check an admin token");
            Err(Box::new(problem(
                StatusCode::SERVICE_UNAVAILABLE,
                "state-unavailable",
                "admin tokens cannot be checked now",
            )))
        }
    }
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    let mut all = headers.get_all(header::AUTHORIZATION).iter();
    let first = all.next()?;
    if all.next().is_some() {
        return None;
    }
    let value = first.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}

fn unauthorized(detail: &str) -> Response {
    let mut resp = problem(StatusCode::UNAUTHORIZED, "unauthenticated", detail);
    resp.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static("Bearer realm=\"moat-admin\""),
    );
    resp
}

/// `GET /admin/session`: the token's name and role.
pub(crate) async fn session(
    State(_): State<Arc<AdminState>>,
    Extension(caller): Extension<Caller>,
) -> Response {
    json(
        StatusCode::OK,
        &serde_json::json!({"name": caller.name, "role": caller.role.as_str()}),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_one_bearer_token_is_read() {
        let mut h = HeaderMap::new();
        assert_eq!(bearer(&h), None);
        h.insert(header::AUTHORIZATION, "Bearer abc".parse().unwrap());
        assert_eq!(bearer(&h), Some("abc"));
        h.insert(header::AUTHORIZATION, "bearer abc".parse().unwrap());
        assert_eq!(bearer(&h), Some("abc"));
        h.insert(header::AUTHORIZATION, "Basic abc".parse().unwrap());
        assert_eq!(bearer(&h), None);
        h.insert(header::AUTHORIZATION, "Bearer ".parse().unwrap());
        assert_eq!(bearer(&h), None);
        h.insert(header::AUTHORIZATION, "Bearer a".parse().unwrap());
        h.append(header::AUTHORIZATION, "Bearer b".parse().unwrap());
        assert_eq!(bearer(&h), None, "two tokens: two readings, refused");
    }
}
