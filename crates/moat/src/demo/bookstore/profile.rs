//! The caller's profile routes: `GET /api/me` (the caller's own profile, the
//! operation a token must be good for) and `GET /api/users/check-email`
//! (whether an address is well formed, for a sign-up form).
//!
//! With `redos`, the address is checked by a backtracking matcher for
//! `^([a-z0-9]+)*@[a-z0-9]+(\.[a-z0-9]+)+$`, whose nested quantifier tries
//! every way to split a long run of letters that ends without `@`: time
//! doubles with each letter. A step cap and a one-second deadline keep one
//! request from hanging the demo. Without it, one linear pass.

use std::time::{Duration, Instant};

use http::{Method, StatusCode};
use serde_json::{Value, json};

use super::{AreaAnswer, Req, Shared, Weakness, guard, json_response, lock, query_pairs};

/// Longest address, as in the document (RFC 5321's path limit).
pub(crate) const MAX_EMAIL_CHARS: usize = 254;
/// The backtracking matcher gives up after this many steps or this long,
/// whichever comes first, and calls the address invalid.
const MAX_STEPS: u64 = 1 << 32;
const MAX_MATCH_TIME: Duration = Duration::from_secs(1);

/// The area's entry in [`super::AREAS`].
pub(crate) fn route<'a>(shared: &'a Shared, req: &'a Req) -> AreaAnswer<'a> {
    let path = req.parts.uri.path();
    let answer = match (path, &req.parts.method) {
        ("/api/me", &Method::GET) => me(shared, req),
        ("/api/users/check-email", &Method::GET) => check_email(shared, req),
        _ => return None,
    };
    Some(Box::pin(async move { Ok(answer) }))
}

/// `GET /api/me`: the caller's public profile; 401 for anyone else, with
/// every weakness on or off.
fn me(shared: &Shared, req: &Req) -> http::Response<super::Body> {
    let Some(name) = req.caller.name() else {
        return guard::unauthorized();
    };
    let store = lock(&shared.store);
    let user = store
        .users
        .values()
        .find(|u| u.get("name").and_then(Value::as_str) == Some(name));
    match user {
        Some(user) => json_response(
            StatusCode::OK,
            &json!({"id": user["id"], "name": user["name"], "email": user["email"]}),
        ),
        // A caller the gateway named who has no account here.
        None => json_response(StatusCode::OK, &json!({"id": 0, "name": name, "email": ""})),
    }
}

/// `GET /api/users/check-email?email=`: `{"valid": bool}`.
fn check_email(shared: &Shared, req: &Req) -> http::Response<super::Body> {
    let email = query_pairs(req.parts.uri.query().unwrap_or_default())
        .find(|(name, _)| name == "email")
        .map(|(_, value)| value);
    let Some(email) = email else {
        return super::Rejection::bad_request("email is required").into_response();
    };
    if email.chars().count() > MAX_EMAIL_CHARS {
        return super::Rejection::bad_request(format!(
            "email must be at most {MAX_EMAIL_CHARS} characters"
        ))
        .into_response();
    }
    let valid = if shared.has(Weakness::Redos) {
        backtracking(email.as_bytes())
    } else {
        linear(email.as_bytes())
    };
    json_response(StatusCode::OK, &json!({"valid": valid}))
}

fn word(byte: u8) -> bool {
    byte.is_ascii_lowercase() || byte.is_ascii_digit()
}

/// One pass: `word+ @ word+ (. word+)+`.
fn linear(text: &[u8]) -> bool {
    let Some(at) = text.iter().position(|b| *b == b'@') else {
        return false;
    };
    let (local, domain) = (&text[..at], &text[at + 1..]);
    let labels: Vec<&[u8]> = domain.split(|b| *b == b'.').collect();
    !local.is_empty()
        && local.iter().all(|b| word(*b))
        && labels.len() >= 2
        && labels
            .iter()
            .all(|l| !l.is_empty() && l.iter().all(|b| word(*b)))
}

/// The nested-quantifier matcher: exponential on `aaaa…!`.
fn backtracking(text: &[u8]) -> bool {
    let mut budget = Budget {
        steps: 0,
        deadline: Instant::now() + MAX_MATCH_TIME,
    };
    local_part(text, 0, &mut budget).unwrap_or(false)
}

struct Budget {
    steps: u64,
    deadline: Instant,
}

impl Budget {
    /// One more step; `None` once the cap or the deadline is reached.
    fn step(&mut self) -> Option<()> {
        self.steps += 1;
        if self.steps >= MAX_STEPS
            || (self.steps.is_multiple_of(4096) && Instant::now() >= self.deadline)
        {
            return None;
        }
        Some(())
    }
}

/// `([a-z0-9]+)*` from `at`, then `@` and the domain.
fn local_part(text: &[u8], at: usize, budget: &mut Budget) -> Option<bool> {
    budget.step()?;
    if at > 0 && text.get(at) == Some(&b'@') && domain(&text[at + 1..]) {
        return Some(true);
    }
    let mut end = at;
    while end < text.len() && word(text[end]) {
        end += 1;
        if local_part(text, end, budget)? {
            return Some(true);
        }
    }
    Some(false)
}

/// `[a-z0-9]+(\.[a-z0-9]+)+`, linear: the blow-up is in the local part.
fn domain(text: &[u8]) -> bool {
    let labels: Vec<&[u8]> = text.split(|b| *b == b'.').collect();
    labels.len() >= 2
        && labels
            .iter()
            .all(|l| !l.is_empty() && l.iter().all(|b| word(*b)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_matchers_agree_on_ordinary_addresses() {
        for (text, valid) in [
            ("alice@example.com", true),
            ("a1@b.c.d", true),
            ("@example.com", false),
            ("alice@example", false),
            ("alice@.com", false),
            ("Alice@example.com", false),
            ("alice", false),
        ] {
            assert_eq!(linear(text.as_bytes()), valid, "{text}");
            assert_eq!(backtracking(text.as_bytes()), valid, "{text}");
        }
    }

    #[test]
    fn the_backtracking_matcher_blows_up_and_stops_at_its_deadline() {
        let short = format!("{}!", "a".repeat(12));
        let started = Instant::now();
        assert!(!backtracking(short.as_bytes()));
        let short_time = started.elapsed();
        let long = format!("{}!", "a".repeat(60));
        let started = Instant::now();
        assert!(!backtracking(long.as_bytes()));
        let long_time = started.elapsed();
        assert!(long_time >= MAX_MATCH_TIME / 2, "{long_time:?}");
        assert!(long_time < MAX_MATCH_TIME * 2, "{long_time:?}");
        assert!(short_time * 20 < long_time, "{short_time:?} {long_time:?}");
        let started = Instant::now();
        assert!(!linear(long.as_bytes()));
        assert!(started.elapsed() < Duration::from_millis(50));
    }
}
