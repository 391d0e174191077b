//! Accounts, invoices, order look-ups and coupons: the bookstore's
//! authorization area, with its switchable weaknesses.
//!
//! * `PATCH /api/users/{userId}` and `PUT /api/users/{userId}/password`:
//!   the account itself or an administrator (`account-takeover`: anyone);
//!   `role` is read-only (`mass-assignment`: stored).
//! * `GET /api/admin/users`: administrators only (`bfla`: anyone).
//! * `GET /api/invoices?orderId=` and `POST /api/orders/lookup`: the
//!   order's owner or an administrator (`bola-query`, `bola-body`: anyone).
//! * `DELETE /api/orders/{orderId}`: undocumented, 405 (`method-swap`:
//!   served, to anyone).
//! * `POST /api/coupons/redeem`: once per user, at most
//!   [`MAX_REDEEM_ATTEMPTS`] attempts a minute (`repeatable-flow`: again and
//!   again).

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use http::{Method, StatusCode};
use serde_json::{Map, Value, json};

use super::{
    AreaAnswer, Caller, Outcome, Rejection, Req, Shared, Store, Weakness, empty, json_response,
    lock, parse_id, query_pairs,
};

/// The coupons there are, and their discount in percent.
const COUPONS: &[(&str, u64)] = &[("WELCOME10", 10)];

/// Redemption attempts one user may make per [`REDEEM_WINDOW`].
const MAX_REDEEM_ATTEMPTS: u32 = 10;
const REDEEM_WINDOW: Duration = Duration::from_secs(60);

/// Longest `name` and `email` of an account, and the bounds of a password
/// (in characters), as in the document.
const MAX_NAME_CHARS: usize = 64;
const MAX_EMAIL_CHARS: usize = 254;
const MIN_PASSWORD_CHARS: usize = 8;
const MAX_PASSWORD_CHARS: usize = 128;

/// Coupons redeemed (user, code), and each user's recent attempts.
#[derive(Debug, Default)]
pub(super) struct Coupons {
    redeemed: BTreeSet<(String, String)>,
    attempts: BTreeMap<String, (Instant, u32)>,
}

/// Answers the requests of this area.
pub(super) fn route<'a>(shared: &'a Shared, req: &'a Req) -> AreaAnswer<'a> {
    let path = req.parts.uri.path();
    let rest = path.strip_prefix("/api/")?;
    let segments: Vec<&str> = rest.split('/').collect();
    let method = &req.parts.method;
    let answer: Outcome = match (segments.as_slice(), method) {
        (["users", id], &Method::PATCH) if !id.is_empty() => update_user(shared, req, id),
        (["users", id, "password"], &Method::PUT) if !id.is_empty() => {
            set_password(shared, req, id)
        }
        (["admin", "users"], &Method::GET) => list_users(shared, &req.caller),
        (["invoices"], &Method::GET) => invoice(shared, req),
        (["orders", "lookup"], &Method::POST) => lookup_order(shared, req),
        (["orders", id], &Method::DELETE) if shared.has(Weakness::MethodSwap) => {
            delete_order(shared, id)
        }
        (["coupons", "redeem"], &Method::POST) => redeem(shared, req),
        _ => return None,
    };
    Some(Box::pin(async move { answer }))
}

/// 401 for a request without a user.
pub(super) fn unauthenticated() -> Rejection {
    Rejection::new(StatusCode::UNAUTHORIZED, "authentication is required")
}

fn forbidden() -> Rejection {
    Rejection::new(StatusCode::FORBIDDEN, "not allowed")
}

/// The caller is an administrator (401 when anonymous, 403 otherwise).
pub(super) fn require_admin(caller: &Caller) -> Result<(), Rejection> {
    match caller.name() {
        None => Err(unauthenticated()),
        Some(_) if caller.is_admin() => Ok(()),
        Some(_) => Err(forbidden()),
    }
}

/// The caller is user `id` or an administrator.
pub(super) fn require_account(store: &Store, caller: &Caller, id: u64) -> Result<(), Rejection> {
    let Some(name) = caller.name() else {
        return Err(unauthenticated());
    };
    let own = store
        .users
        .get(&id)
        .and_then(|u| u.get("name"))
        .and_then(Value::as_str)
        == Some(name);
    if own || caller.is_admin() {
        Ok(())
    } else {
        Err(forbidden())
    }
}

/// A user record as the API answers it: the whole record with
/// `excessive-exposure`, the documented fields otherwise.
pub(super) fn user_view(shared: &Shared, user: &Value) -> Value {
    if shared.has(Weakness::ExcessiveExposure) {
        return user.clone();
    }
    json!({
        "id": user.get("id").cloned().unwrap_or(Value::Null),
        "name": user.get("name").cloned().unwrap_or(Value::Null),
        "email": user.get("email").cloned().unwrap_or(Value::Null),
        "role": user.get("role").cloned().unwrap_or_else(|| json!("user")),
    })
}

/// Order `id` as `caller` may see it: its owner or an administrator, or
/// anyone while `weakness` is on. Someone else's order is "not found".
pub(super) fn order_for(
    shared: &Shared,
    caller: &Caller,
    id: u64,
    weakness: Weakness,
) -> Result<Value, Rejection> {
    let store = lock(&shared.store);
    if !shared.has(weakness) {
        let Some(name) = caller.name() else {
            return Err(unauthenticated());
        };
        let owner = store.order_owners.get(&id).cloned().flatten();
        if !caller.is_admin() && owner.as_deref() != Some(name) {
            return Err(Rejection::not_found("order", id));
        }
    }
    store
        .orders
        .get(&id)
        .cloned()
        .ok_or_else(|| Rejection::not_found("order", id))
}

/// `PATCH /api/users/{userId}`: changes `name` or `email`. WEAKNESSES
/// (`account-takeover`): any caller may change any account;
/// (`mass-assignment`): the read-only `role` is stored.
fn update_user(shared: &Shared, req: &Req, raw_id: &str) -> Outcome {
    let id = parse_id(raw_id, "userId")?;
    let mut object = req.json_object()?;
    let mut store = lock(&shared.store);
    if !shared.has(Weakness::AccountTakeover) {
        require_account(&store, &req.caller, id)?;
    } else if req.caller.name().is_none() {
        return Err(unauthenticated());
    }
    let role = object.remove("role");
    if role.is_some() && !shared.has(Weakness::MassAssignment) {
        return Err(Rejection::bad_request("role is read-only"));
    }
    let mut changes = Map::new();
    for (name, max) in [("name", MAX_NAME_CHARS), ("email", MAX_EMAIL_CHARS)] {
        match object.remove(name) {
            None => {}
            Some(Value::String(text))
                if !text.is_empty()
                    && text.chars().count() <= max
                    && (name != "email" || text.contains('@')) =>
            {
                changes.insert(name.to_string(), Value::String(text));
            }
            Some(_) => return Err(Rejection::bad_request(format!("{name} is not valid"))),
        }
    }
    if let Some(name) = object.keys().next() {
        return Err(Rejection::bad_request(format!("unknown property {name}")));
    }
    match role {
        None => {}
        Some(Value::String(role)) if role == "user" || role == "admin" => {
            changes.insert("role".to_string(), Value::String(role));
        }
        Some(_) => return Err(Rejection::bad_request("role must be user or admin")),
    }
    let Some(Value::Object(user)) = store.users.get_mut(&id) else {
        return Err(Rejection::not_found("user", id));
    };
    user.extend(changes);
    let view = user_view(shared, &Value::Object(user.clone()));
    Ok(json_response(StatusCode::OK, &view))
}

/// `PUT /api/users/{userId}/password`. WEAKNESS (`account-takeover`): any
/// caller may set any account's password.
fn set_password(shared: &Shared, req: &Req, raw_id: &str) -> Outcome {
    let id = parse_id(raw_id, "userId")?;
    let object = req.json_object()?;
    let mut store = lock(&shared.store);
    if !shared.has(Weakness::AccountTakeover) {
        require_account(&store, &req.caller, id)?;
    } else if req.caller.name().is_none() {
        return Err(unauthenticated());
    }
    if object.keys().any(|k| k != "password") {
        return Err(Rejection::bad_request("only password may be sent"));
    }
    let password = match object.get("password") {
        Some(Value::String(p))
            if (MIN_PASSWORD_CHARS..=MAX_PASSWORD_CHARS).contains(&p.chars().count()) =>
        {
            p.clone()
        }
        _ => {
            return Err(Rejection::bad_request(format!(
                "password must be {MIN_PASSWORD_CHARS} to {MAX_PASSWORD_CHARS} characters"
            )));
        }
    };
    if !store.users.contains_key(&id) {
        return Err(Rejection::not_found("user", id));
    }
    store.passwords.insert(id, password);
    Ok(empty(StatusCode::NO_CONTENT))
}

/// `GET /api/admin/users`. WEAKNESS (`bfla`): answers any caller.
fn list_users(shared: &Shared, caller: &Caller) -> Outcome {
    if !shared.has(Weakness::Bfla) {
        require_admin(caller)?;
    }
    let store = lock(&shared.store);
    let users: Vec<Value> = store.users.values().map(|u| user_view(shared, u)).collect();
    Ok(json_response(StatusCode::OK, &Value::Array(users)))
}

/// `GET /api/invoices?orderId=`. WEAKNESS (`bola-query`): any order's
/// invoice, to any user.
fn invoice(shared: &Shared, req: &Req) -> Outcome {
    if req.caller.name().is_none() {
        return Err(unauthenticated());
    }
    let raw = query_pairs(req.parts.uri.query().unwrap_or_default())
        .find(|(name, _)| name == "orderId")
        .map(|(_, value)| value)
        .ok_or_else(|| Rejection::bad_request("orderId is required"))?;
    let id = parse_id(&raw, "orderId")?;
    let order = order_for(shared, &req.caller, id, Weakness::BolaQuery)?;
    let invoice = json!({
        "orderId": id,
        "total": order.get("total").cloned().unwrap_or(Value::Null),
        "currency": "USD",
    });
    Ok(json_response(StatusCode::OK, &invoice))
}

/// `POST /api/orders/lookup {"orderId": …}`. WEAKNESS (`bola-body`): any
/// order, to any user.
fn lookup_order(shared: &Shared, req: &Req) -> Outcome {
    if req.caller.name().is_none() {
        return Err(unauthenticated());
    }
    let object = req.json_object()?;
    if object.keys().any(|k| k != "orderId") {
        return Err(Rejection::bad_request("only orderId may be sent"));
    }
    let id = object
        .get("orderId")
        .and_then(Value::as_u64)
        .filter(|id| *id >= 1)
        .ok_or_else(|| Rejection::bad_request("orderId must be a positive integer"))?;
    let order = order_for(shared, &req.caller, id, Weakness::BolaBody)?;
    Ok(json_response(StatusCode::OK, &order))
}

/// `DELETE /api/orders/{orderId}` — WEAKNESS (`method-swap`): an
/// undocumented method, served to anyone.
fn delete_order(shared: &Shared, raw_id: &str) -> Outcome {
    let id = parse_id(raw_id, "orderId")?;
    let mut store = lock(&shared.store);
    store.order_owners.remove(&id);
    match store.orders.remove(&id) {
        Some(_) => Ok(empty(StatusCode::NO_CONTENT)),
        None => Err(Rejection::not_found("order", id)),
    }
}

/// `POST /api/coupons/redeem {"code": …}`. WEAKNESS (`repeatable-flow`): a
/// coupon is redeemed again and again, as fast as one likes.
fn redeem(shared: &Shared, req: &Req) -> Outcome {
    let Some(user) = req.caller.name() else {
        return Err(unauthenticated());
    };
    let object = req.json_object()?;
    if object.keys().any(|k| k != "code") {
        return Err(Rejection::bad_request("only code may be sent"));
    }
    let code = object
        .get("code")
        .and_then(Value::as_str)
        .ok_or_else(|| Rejection::bad_request("code must be a string"))?;
    let mut store = lock(&shared.store);
    let careful = !shared.has(Weakness::RepeatableFlow);
    if careful {
        let now = Instant::now();
        let (since, count) = store
            .coupons
            .attempts
            .entry(user.to_string())
            .or_insert((now, 0));
        if now.duration_since(*since) > REDEEM_WINDOW {
            (*since, *count) = (now, 0);
        }
        *count += 1;
        if *count > MAX_REDEEM_ATTEMPTS {
            return Err(Rejection::new(
                StatusCode::TOO_MANY_REQUESTS,
                "too many attempts: try again later",
            ));
        }
    }
    let Some((code, discount)) = COUPONS.iter().find(|(c, _)| *c == code) else {
        return Err(Rejection::new(StatusCode::NOT_FOUND, "no such coupon"));
    };
    let key = (user.to_string(), (*code).to_string());
    if careful && !store.coupons.redeemed.insert(key) {
        return Err(Rejection::new(
            StatusCode::CONFLICT,
            "the coupon was redeemed already",
        ));
    }
    Ok(json_response(
        StatusCode::OK,
        &json!({"code": code, "discount": discount}),
    ))
}
