//! Phase **login**: logins the upstream performs (`apis[].logins`).
//!
//! Runs for the operations configured as logins, on either side of the
//! upstream call. Before it: the account the request's JSON body names is
//! checked against the lockout store, as a credential moat verifies would
//! be (refused when this address is locked out of it, slowed down when it
//! failed from several addresses). After it: a failure answer counts
//! against the address and the account, a success clears the account's
//! counts, and every failure answer is replaced by one problem, so the
//! answers do not tell which accounts exist.

use std::net::IpAddr;
use std::time::Duration;

use http::Response;
use moat_config::LoginConfig;
use moat_guard::{Finding, ProblemKind};
use moat_spec::ApiSpec;
use moat_state::{LockoutStore, retry_after_secs};

use super::exchange::Exchange;
use super::refusal::{Refusal, apply_mode};
use crate::body::Body;
use crate::identity::lockout::{Lock, Tried, checked_for, record_failure, record_success};
use crate::runtime::Api;

/// A login rule, resolved against the document.
#[derive(Debug, Clone)]
pub struct LoginRule {
    account: String,
    failures: Vec<u16>,
    uniform: bool,
}

/// The login rules of an API, by operation index.
#[derive(Debug, Clone, Default)]
pub struct Logins(Vec<Option<LoginRule>>);

impl Logins {
    /// Resolves `configs` against the document; `Err` lists the entries
    /// (by index) that name no operation, and why.
    pub fn compile(spec: &ApiSpec, configs: &[LoginConfig]) -> Result<Self, Vec<(usize, String)>> {
        let mut rules = vec![None; spec.operations.len()];
        let mut errors = Vec::new();
        for (j, c) in configs.iter().enumerate() {
            let Some(i) = spec
                .operations
                .iter()
                .position(|o| o.operation_id.as_deref() == Some(c.operation.as_str()))
            else {
                errors.push((j, format!("no operation `{}` in the document", c.operation)));
                continue;
            };
            if !c.account.starts_with('/') {
                errors.push((
                    j,
                    format!(
                        "`account` must be a JSON pointer such as `/username`, not `{}`",
                        c.account
                    ),
                ));
                continue;
            }
            if let Some(bad) = c
                .failure_statuses
                .iter()
                .find(|s| !(400..=599).contains(*s))
            {
                errors.push((j, format!("failure status {bad} is not an error status")));
                continue;
            }
            rules[i] = Some(LoginRule {
                account: c.account.clone(),
                failures: c.failure_statuses.clone(),
                uniform: c.uniform_failures,
            });
        }
        if errors.is_empty() {
            Ok(Self(rules))
        } else {
            Err(errors)
        }
    }

    /// The rule of operation `index`, if it is a login.
    pub fn rule(&self, index: usize) -> Option<&LoginRule> {
        self.0.get(index).and_then(Option::as_ref)
    }
}

/// A login attempt on its way to the upstream.
pub(super) struct Attempt<'a> {
    rule: &'a LoginRule,
    /// The lockout subject of the account (`login:<api>:<account>`), when
    /// the body names one.
    subject: Option<String>,
    /// The account already failed from this address within the window
    /// (see `Checked::repeated`).
    repeated: bool,
}

/// Before the upstream, for a login operation's `rule`: the account's
/// lockouts. `Err` is the refusal of a locked-out address or
/// account-from-this-address; an account that failed from several
/// addresses is slowed down by `slowdown`.
pub(super) async fn before<'a>(
    api: &Api,
    rule: &'a LoginRule,
    body: Option<&serde_json::Value>,
    lockout: Option<&dyn LockoutStore>,
    slowdown: Duration,
    ex: &mut Exchange,
) -> Result<Attempt<'a>, Response<Body>> {
    let subject = body
        .and_then(|b| b.pointer(&rule.account))
        .and_then(moat_guard::limits::account_of)
        .filter(|a| !a.is_empty())
        .map(|account| format!("login:{}:{account}", api.name));
    let mut repeated = false;
    if let (Some(store), Some(subject)) = (lockout, &subject) {
        let checked = checked_for(store, ex.client, std::slice::from_ref(subject)).await;
        repeated = checked.repeated;
        match checked.lock {
            Lock::Refused(left) => {
                let refusal = Refusal::new(Finding::new(ProblemKind::LockedOut))
                    .retry_after(retry_after_secs(left));
                if let Some(resp) = apply_mode(api.mode, &api.name, ex, refusal) {
                    return Err(resp);
                }
            }
            Lock::Slowed => tokio::time::sleep(slowdown).await,
            Lock::Open => {}
        }
    }
    Ok(Attempt {
        rule,
        subject,
        repeated,
    })
}

/// After the upstream: counts the outcome, and makes a failure answer
/// uniform.
pub(super) async fn after(
    api: &Api,
    attempt: Attempt<'_>,
    lockout: Option<&dyn LockoutStore>,
    client: IpAddr,
    resp: Response<Body>,
    ex: &mut Exchange,
) -> Response<Body> {
    let status = resp.status().as_u16();
    let failed = attempt.rule.failures.contains(&status);
    // The anomaly detectors see a failed login as a refused credential
    // (credential stuffing: many accounts tried from one address).
    if attempt.subject.is_some() {
        ex.credential_id.clone_from(&attempt.subject);
        ex.auth_failed = failed;
    }
    if let (Some(store), Some(subject)) = (lockout, &attempt.subject) {
        let subjects = std::slice::from_ref(subject);
        if failed {
            record_failure(
                store,
                client,
                subjects,
                Tried::LoginAccount,
                attempt.repeated,
            )
            .await;
        } else if (200..300).contains(&status) {
            record_success(store, client, subjects).await;
        }
    }
    if failed && attempt.rule.uniform {
        // One answer for a wrong password and an unknown account alike
        // (monitor mode records it and passes the upstream's answer on).
        let f = Finding::with_detail(ProblemKind::InvalidCredentials, "the login failed");
        if let Some(uniform) = apply_mode(api.mode, &api.name, ex, f) {
            return uniform;
        }
    }
    resp
}
