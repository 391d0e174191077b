//! Bans: the operator's (kept in the state file, for every node) and the
//! anomaly detectors' (this node's memory, until they run out); add and
//! lift. A change takes effect at once on this node (the ban list is
//! reloaded), and within the refresh interval on others.

use std::sync::Arc;

use axum::Extension;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use moat_state::events::admin::AdminAction;
use moat_state::events::{Action, Control, Event, Severity};
use moat_state::{Ban, BanSubject, unix_now};
use serde_json::{Value, json};

use super::guard::AdminBody;
use super::keys::duration;
use super::{AdminState, Caller, audit, json, problem};

fn text<'a>(body: &'a AdminBody, name: &str) -> Option<&'a str> {
    match &body.0 {
        moat_guard::request::ParsedBody::Json(v) => v.get(name).and_then(Value::as_str),
        _ => None,
    }
}

/// `address:…`, `consumer:…`, or a bare address or network.
fn subject_of(text: &str) -> Option<BanSubject> {
    BanSubject::from_key(text).or_else(|| text.parse().ok().map(BanSubject::Address))
}

fn unavailable(e: &moat_state::StoreError) -> Response {
    tracing::error!(error = %e, "cannot read or change bans");
    problem(
        StatusCode::SERVICE_UNAVAILABLE,
        "state-unavailable",
        "bans cannot be read or changed now",
    )
}

/// `GET /admin/bans`.
pub(crate) async fn list(State(s): State<Arc<AdminState>>) -> Response {
    let now = unix_now();
    let mut bans: Vec<Value> = match s.shared.state.bans.list(now).await {
        Ok(list) => list
            .iter()
            .map(|b| {
                json!({"subject": b.subject.key(), "reason": b.reason, "source": b.source,
                       "created_at": b.created_at, "expires_at": b.expires_at,
                       "reach": "all requests"})
            })
            .collect(),
        Err(e) => return unavailable(&e),
    };
    bans.extend(s.shared.abuse.detector_bans().into_iter().map(|b| {
        json!({"subject": b.subject, "reason": "anomaly detector", "source": "detector",
               "created_at": null, "expires_at": b.expires_at, "reach": b.reach})
    }));
    json(StatusCode::OK, &json!({"bans": bans}))
}

/// `POST /admin/bans`.
pub(crate) async fn add(
    State(s): State<Arc<AdminState>>,
    Extension(caller): Extension<Caller>,
    Extension(body): Extension<AdminBody>,
) -> Response {
    let Some(subject) = text(&body, "subject").and_then(subject_of) else {
        return problem(
            StatusCode::BAD_REQUEST,
            "invalid-request",
            "`subject` is `address:<ip>`, `address:<network>/<length>` or `consumer:<id>`",
        );
    };
    let now = unix_now();
    let expires_at = match text(&body, "duration") {
        Some(t) => match duration("duration", t) {
            Ok(d) => Some(now.saturating_add(i64::try_from(d.as_secs()).unwrap_or(i64::MAX))),
            Err(resp) => return *resp,
        },
        None => None,
    };
    let ban = Ban {
        subject,
        reason: text(&body, "reason")
            .unwrap_or("banned by an operator")
            .to_string(),
        source: format!("admin:{}", caller.name),
        created_at: now,
        expires_at,
    };
    if let Err(e) = s.shared.state.bans.add(&ban).await {
        return unavailable(&e);
    }
    s.shared.abuse.refresh().await;
    audit(
        &s,
        &caller,
        AdminAction::BanAdded {
            subject: ban.subject.clone(),
            expires_at: ban.expires_at,
            reason: ban.reason.clone(),
        },
    )
    .await;
    json(
        StatusCode::CREATED,
        &json!({"ban": {"subject": ban.subject.key(), "reason": ban.reason, "source": ban.source,
                        "created_at": ban.created_at, "expires_at": ban.expires_at}}),
    )
}

/// `POST /admin/bans/lift`: an operator ban, or a detector's.
pub(crate) async fn lift(
    State(s): State<Arc<AdminState>>,
    Extension(caller): Extension<Caller>,
    Extension(body): Extension<AdminBody>,
) -> Response {
    let Some(key) = text(&body, "subject") else {
        return problem(
            StatusCode::BAD_REQUEST,
            "invalid-request",
            "`subject` is required",
        );
    };
    let mut lifted = false;
    if let Some(subject) = subject_of(key) {
        match s.shared.state.bans.remove(&subject).await {
            Ok(removed) => lifted |= removed,
            Err(e) => return unavailable(&e),
        }
        if lifted {
            s.shared.abuse.refresh().await;
            audit(&s, &caller, AdminAction::BanLifted { subject }).await;
        }
    }
    if s.shared.abuse.lift_detector_ban(key) {
        lifted = true;
        match subject_of(key) {
            Some(subject) => audit(&s, &caller, AdminAction::BanLifted { subject }).await,
            None => {
                // A detector's ban of anonymous requests only: no subject
                // an operator ban could name, so its own event.
                let mut event = Event::new(
                    Control::Admin,
                    "ban-lifted",
                    Severity::Info,
                    Action::Recorded,
                );
                event.actor = Some(caller.actor());
                event.evidence = Some(format!("detector ban on {key}"));
                super::record(&s, event).await;
            }
        }
    }
    json(StatusCode::OK, &json!({"lifted": lifted}))
}
