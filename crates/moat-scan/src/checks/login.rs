//! API2 Broken Authentication at the login itself: answers that tell
//! unknown users from wrong passwords (`auth.user-enumeration`), and no
//! brake on guessing one account's password (`auth.no-lockout`).
//!
//! Both send the login request of an identity's login config (a JSON body),
//! which the scan sends even without `--allow-writes`: the user configured
//! it. Neither ever sends more than [`MAX_GUESSES`] wrong passwords for one
//! account.

use std::time::Duration;

use async_trait::async_trait;
use serde_json::{Map, Value};

use super::timing::{consistently_slower, median};
use super::{Check, Context, Outcome};
use crate::client::{Exchange, Probe};
use crate::finding::{Category, Finding, Rule, Severity};
use crate::identity::{Identity, Login};

pub static USER_ENUMERATION: Rule = Rule {
    id: "auth.user-enumeration",
    name: "The login tells unknown users from wrong passwords",
    category: Category::Api2,
    severity: Severity::Medium,
    cwe: Some(204),
    description: "The login answers an unknown user name differently from a known one with a wrong password (status, message, body or time), so account names can be listed.",
};

pub static NO_LOCKOUT: Rule = Rule {
    id: "auth.no-lockout",
    name: "Failed logins are never slowed or locked out",
    category: Category::Api2,
    severity: Severity::High,
    cwe: Some(307),
    description: "A run of wrong passwords for one account is answered at full speed and the right password still works at once: passwords can be guessed.",
};

/// Wrong passwords sent for the lockout account, at most.
pub const MAX_GUESSES: usize = 15;
/// Samples of each kind of failed login for the enumeration check (a
/// second round confirms a timing difference).
const SAMPLES: usize = 3;
/// The least time difference that counts as a timing difference.
const TIMING_FLOOR: Duration = Duration::from_millis(25);

const WRONG_PASSWORD: &str = "moat-scan-wrong-password";

const FIX_LOGINS: &str = "# moat makes failed logins look alike, slows and locks out guessing:\napis:\n  - name: my-api\n    logins:\n      - {operation: login, account: /username}\n    rate_limits:\n      - {name: logins, key: client_ip, rate: 10, per: 1m, operations: [login]}";

static RULES: &[&Rule] = &[&USER_ENUMERATION, &NO_LOCKOUT];

pub struct Logins;

/// A JSON login body and which of its fields are the account and the
/// password.
struct LoginBody<'a> {
    login: &'a Login,
    body: Map<String, Value>,
    account: String,
    password: String,
}

impl LoginBody<'_> {
    fn of(identity: &Identity) -> Option<LoginBody<'_>> {
        let login = identity.login()?;
        let body = login.json.as_ref()?.as_object()?.clone();
        let password = body
            .keys()
            .find(|k| k.to_ascii_lowercase().contains("pass"))?
            .clone();
        let strings: Vec<&String> = body
            .iter()
            .filter(|(k, v)| **k != password && v.is_string())
            .map(|(k, _)| k)
            .collect();
        let account = strings
            .iter()
            .find(|k| {
                let k = k.to_ascii_lowercase();
                ["user", "login", "email", "name", "account"]
                    .iter()
                    .any(|w| k.contains(w))
            })
            .or(strings.first())?
            .to_string();
        Some(LoginBody {
            login,
            body,
            account,
            password,
        })
    }

    fn probe(&self, account: Option<&str>, password: Option<&str>) -> Probe {
        let mut body = self.body.clone();
        if let Some(account) = account {
            body.insert(self.account.clone(), Value::String(account.to_string()));
        }
        if let Some(password) = password {
            body.insert(self.password.clone(), Value::String(password.to_string()));
        }
        Probe::new(self.login.method.clone(), self.login.path.clone())
            .json(&Value::Object(body))
            .want_429()
    }

    fn account_name(&self) -> String {
        self.body
            .get(&self.account)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    }
}

#[async_trait]
impl Check for Logins {
    fn name(&self) -> &'static str {
        "login"
    }

    fn rules(&self) -> &'static [&'static Rule] {
        RULES
    }

    fn plan(&self, _cx: &Context) -> Vec<String> {
        vec![
            format!(
                "the first user's login {SAMPLES} times with a wrong password and {SAMPLES} times with an unknown user name (sent without --allow-writes: the config names it)"
            ),
            format!(
                "the last user's login with up to {MAX_GUESSES} wrong passwords, then the right one: it may lock that account for a while"
            ),
        ]
    }

    async fn run(&self, cx: &Context, out: &mut Outcome) {
        let logins: Vec<(&Identity, LoginBody<'_>)> = cx
            .identities
            .users
            .iter()
            .filter_map(|i| LoginBody::of(i).map(|b| (i, b)))
            .collect();
        let (Some(first), Some(last)) = (logins.first(), logins.last()) else {
            out.skip(
                self.name(),
                "no user logs in with a JSON body that has a password field",
            );
            return;
        };
        if cx.enabled(&USER_ENUMERATION) {
            enumeration(cx, first.0, &first.1, out).await;
        }
        if cx.enabled(&NO_LOCKOUT) {
            lockout(cx, last.0, &last.1, out).await;
        }
    }
}

/// Failed logins of one kind: the exchanges.
async fn samples(cx: &Context, probe: &Probe) -> Option<Vec<Exchange>> {
    let mut exchanges = Vec::with_capacity(SAMPLES);
    for _ in 0..SAMPLES {
        let answer = cx.send(probe, &cx.identities.anonymous).await.ok()?;
        exchanges.push(answer);
    }
    Some(exchanges)
}

async fn enumeration(cx: &Context, identity: &Identity, login: &LoginBody<'_>, out: &mut Outcome) {
    let unknown_name = format!("moat-scan-no-such-user-{}", super::token::now() % 100_000);
    let known = login.probe(None, Some(WRONG_PASSWORD));
    let unknown = login.probe(Some(&unknown_name), Some(WRONG_PASSWORD));
    let (Some(known_answers), Some(unknown_answers)) =
        (samples(cx, &known).await, samples(cx, &unknown).await)
    else {
        out.skip("login", "the login did not answer");
        return;
    };
    if known_answers
        .iter()
        .chain(&unknown_answers)
        .any(|a| a.status == 429 || a.is_success())
    {
        out.skip(
            "login",
            "the failed logins were answered 429 or 2xx: no comparison made",
        );
        return;
    }
    let account = login.account_name();
    let Some(difference) = differs(&known_answers, &unknown_answers, &account, &unknown_name)
    else {
        return;
    };
    // A timing difference must show again in a second round (an API that
    // locks the account after five failures answers 429 there instead).
    if let Difference::Timing(..) = difference {
        let (Some(known_again), Some(unknown_again)) =
            (samples(cx, &known).await, samples(cx, &unknown).await)
        else {
            return;
        };
        let again = differs(&known_again, &unknown_again, &account, &unknown_name);
        let limited = known_again
            .iter()
            .chain(&unknown_again)
            .any(|a| a.status == 429 || a.is_success());
        if limited || !matches!(again, Some(Difference::Timing(..))) {
            return;
        }
    }
    let (Some(k), Some(u)) = (known_answers.last(), unknown_answers.last()) else {
        return;
    };
    out.found(
        Finding::new(
            &USER_ENUMERATION,
            format!("unknown user names are told apart by {}", difference.kind()),
            format!(
                "A wrong password for {} and an unknown user name ({SAMPLES} of each) were answered differently: {}.",
                identity.name(),
                difference.detail()
            ),
        )
        .at(login_ref(cx, login.login))
        .by(identity.name())
        .evidence(Context::evidence(k, "a known user with a wrong password"))
        .evidence(Context::evidence(u, "an unknown user"))
        .fix(FIX_LOGINS)
        .fix_api("Answer every failed login with the same status and body, after the same work (hash a dummy password for unknown users)."),
    );
}

/// How two kinds of failed login differ.
#[derive(Debug, PartialEq)]
enum Difference {
    Status(u16, u16),
    Message,
    Shape,
    Timing(Duration, Duration),
}

impl Difference {
    fn kind(&self) -> &'static str {
        match self {
            Difference::Status(..) => "status",
            Difference::Message => "message",
            Difference::Shape => "body shape",
            Difference::Timing(..) => "timing",
        }
    }

    fn detail(&self) -> String {
        match self {
            Difference::Status(k, u) => {
                format!("status {k} for the known user, {u} for the unknown one")
            }
            Difference::Message => "the same status with a different message".to_string(),
            Difference::Shape => "the same status with differently shaped bodies".to_string(),
            Difference::Timing(k, u) => {
                format!("median {k:?} for the known user, {u:?} for the unknown one")
            }
        }
    }
}

/// The difference between `known` and `unknown` answers that holds for
/// every sample, if any. The account names are blanked out of bodies
/// first, so an echoed name is no difference.
fn differs(
    known: &[Exchange],
    unknown: &[Exchange],
    account: &str,
    unknown_name: &str,
) -> Option<Difference> {
    let statuses = |answers: &[Exchange]| -> Option<u16> {
        let first = answers.first()?.status;
        answers.iter().all(|a| a.status == first).then_some(first)
    };
    let (Some(ks), Some(us)) = (statuses(known), statuses(unknown)) else {
        return None;
    };
    if ks != us {
        return Some(Difference::Status(ks, us));
    }
    let text = |answers: &[Exchange], name: &str| -> Option<String> {
        let blank = |a: &Exchange| {
            let t = a.text();
            if name.is_empty() {
                t
            } else {
                t.replace(name, "<user>")
            }
        };
        let first = blank(answers.first()?);
        answers.iter().all(|a| blank(a) == first).then_some(first)
    };
    if let (Some(kt), Some(ut)) = (text(known, account), text(unknown, unknown_name))
        && kt != ut
    {
        return Some(Difference::Message);
    }
    let shape = |answers: &[Exchange]| -> Option<Vec<String>> {
        let keys = |a: &Exchange| -> Vec<String> {
            a.json()
                .and_then(|v| v.as_object().map(|o| o.keys().cloned().collect()))
                .unwrap_or_default()
        };
        let first = keys(answers.first()?);
        answers.iter().all(|a| keys(a) == first).then_some(first)
    };
    if let (Some(kk), Some(uk)) = (shape(known), shape(unknown))
        && kk != uk
    {
        return Some(Difference::Shape);
    }
    let kt: Vec<Duration> = known.iter().map(|a| a.elapsed).collect();
    let ut: Vec<Duration> = unknown.iter().map(|a| a.elapsed).collect();
    if consistently_slower(&kt, &ut, TIMING_FLOOR) || consistently_slower(&ut, &kt, TIMING_FLOOR) {
        return Some(Difference::Timing(median(&kt)?, median(&ut)?));
    }
    None
}

async fn lockout(cx: &Context, identity: &Identity, login: &LoginBody<'_>, out: &mut Outcome) {
    let wrong = login.probe(None, Some(WRONG_PASSWORD));
    let mut times = Vec::with_capacity(MAX_GUESSES);
    let mut last = None;
    for _ in 0..MAX_GUESSES {
        let Ok(answer) = cx.send(&wrong, &cx.identities.anonymous).await else {
            out.skip("login", "the login did not answer a wrong password");
            return;
        };
        if matches!(answer.status, 423 | 429) || answer.header("retry-after").is_some() {
            return;
        }
        if answer.is_success() {
            out.skip(
                "login",
                "a wrong password was answered 2xx: no lockout test made",
            );
            return;
        }
        times.push(answer.elapsed);
        last = Some(answer);
    }
    if slowed(&times) {
        return;
    }
    let right = login.probe(None, None);
    let Ok(after) = cx.send(&right, &cx.identities.anonymous).await else {
        return;
    };
    if !after.is_success() {
        return;
    }
    let mut finding = Finding::new(
        &NO_LOCKOUT,
        "wrong passwords are never slowed or locked out",
        format!(
            "{MAX_GUESSES} wrong passwords for {} in a row were each answered without 429, 423, Retry-After or a growing delay, and the right password was then answered {} at once.",
            identity.name(),
            after.status
        ),
    )
    .at(login_ref(cx, login.login))
    .by(identity.name());
    if let Some(last) = &last {
        finding = finding.evidence(Context::evidence(
            last,
            format!("wrong password number {MAX_GUESSES}"),
        ));
    }
    out.found(
        finding
            .evidence(Context::evidence(&after, "the right password, straight after"))
            .fix(FIX_LOGINS)
            .fix_api("Lock an account (or slow it down steeply) after a few failed logins, and rate-limit logins per client."),
    );
}

/// Whether the later answers took clearly longer than the first ones: a
/// brake by delay rather than by status.
fn slowed(times: &[Duration]) -> bool {
    if times.len() < 6 {
        return false;
    }
    let (Some(early), Some(late)) = (median(&times[..3]), median(&times[times.len() - 3..])) else {
        return false;
    };
    late >= early * 4 && late >= Duration::from_millis(500)
}

/// The documented operation of the login request, or its path.
fn login_ref(cx: &Context, login: &Login) -> crate::finding::OperationRef {
    cx.ops
        .iter()
        .find(|op| op.full_template == login.path && op.http_method() == login.method)
        .map_or_else(
            || crate::finding::OperationRef {
                method: login.method.to_string(),
                path: login.path.clone(),
                operation_id: None,
            },
            |op| op.reference(),
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(values: &[u64]) -> Vec<Duration> {
        values.iter().map(|v| Duration::from_millis(*v)).collect()
    }

    #[test]
    fn a_growing_delay_is_a_brake() {
        assert!(slowed(&ms(&[2, 3, 2, 50, 200, 800, 900, 1000])));
        assert!(!slowed(&ms(&[2, 3, 2, 3, 2, 3, 2, 3])));
        assert!(!slowed(&ms(&[2, 3, 2])));
    }
}
