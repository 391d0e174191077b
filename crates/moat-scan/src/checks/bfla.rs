//! API5 Broken Function Level Authorization: privileged operations that
//! answer ordinary users, undocumented methods that are served, and
//! accounts that another user can change.

use std::collections::{BTreeMap, BTreeSet};

use async_trait::async_trait;
use serde_json::{Map, Value};

use super::{Check, Context, Outcome};
use crate::client::{Exchange, Probe};
use crate::finding::{Category, Finding, Rule, Severity};
use crate::harvest::{created_ids, login_password};
use crate::identity::Identity;
use crate::objects::{Provenance, is_account_param};
use crate::schema;
use crate::target::Op;

pub static PRIVILEGED_OPERATION: Rule = Rule {
    id: "bfla.privileged-operation",
    name: "A privileged operation answers an ordinary user",
    category: Category::Api5,
    severity: Severity::High,
    cwe: Some(285),
    description: "An operation the document reserves for administrators (an `admin` tag, path segment or scope) succeeds for an ordinary user.",
};

pub static METHOD_SWAP: Rule = Rule {
    id: "bfla.method-swap",
    name: "An undocumented method is served",
    category: Category::Api5,
    severity: Severity::Medium,
    cwe: Some(285),
    description: "A documented path answers a method the document does not list for it with a success: a function nobody reviewed is reachable.",
};

pub static ACCOUNT_TAKEOVER: Rule = Rule {
    id: "bfla.account-takeover",
    name: "A user can change another account's email or password",
    category: Category::Api5,
    severity: Severity::Critical,
    cwe: Some(639),
    description: "An ordinary user's request to change another account's email or password is accepted: the account can be taken over.",
};

static RULES: &[&Rule] = &[&PRIVILEGED_OPERATION, &METHOD_SWAP, &ACCOUNT_TAKEOVER];

/// The most operations and paths each rule tries.
const MAX_OPS: usize = 30;

pub struct Bfla;

/// Whether the document reserves `op` for privileged callers: an `admin`
/// tag, path segment, scope or operationId prefix.
pub fn is_privileged(op: &Op) -> bool {
    let admin = |s: &str| {
        let s = s.to_ascii_lowercase();
        s == "admin" || s.starts_with("admin:") || s.ends_with(":admin") || s == "administrator"
    };
    op.tags.iter().any(|t| admin(t))
        || op.template.split('/').any(admin)
        || op.scopes.iter().any(|s| admin(s))
        || op
            .operation_id
            .as_deref()
            .is_some_and(|id| id.to_ascii_lowercase().starts_with("admin"))
}

#[async_trait]
impl Check for Bfla {
    fn name(&self) -> &'static str {
        "function-level authorization"
    }

    fn rules(&self) -> &'static [&'static Rule] {
        RULES
    }

    fn plan(&self, cx: &Context) -> Vec<String> {
        let mut lines = Vec::new();
        if cx.enabled(&PRIVILEGED_OPERATION) {
            for op in privileged_ops(cx) {
                lines.push(if op.is_read() {
                    format!("{} {}: as the privileged identity, then as each user", op.method.as_str(), op.template)
                } else {
                    format!("{} {} (writes only; DELETE on objects the privileged identity creates for it): as the privileged identity, then as one user", op.method.as_str(), op.template)
                });
            }
        }
        if cx.enabled(&METHOD_SWAP) {
            for (template, methods) in paths(cx) {
                let mut tries = Vec::new();
                if !methods.contains("GET") {
                    tries.push("GET");
                }
                if !methods.contains("DELETE") && template.ends_with('}') {
                    tries.push("DELETE on an object the user created (writes only)");
                }
                if !tries.is_empty() {
                    lines.push(format!(
                        "{template} (documented {}): {}",
                        methods.iter().cloned().collect::<Vec<_>>().join(", "),
                        tries.join("; ")
                    ));
                }
            }
        }
        if cx.enabled(&ACCOUNT_TAKEOVER) {
            for (op, field) in account_ops(cx) {
                lines.push(format!(
                    "{} {} (writes only): each user sends another's own `{field}` back to the other's account (no change)",
                    op.method.as_str(),
                    op.template
                ));
            }
        }
        lines
    }

    async fn run(&self, cx: &Context, out: &mut Outcome) {
        if cx.enabled(&PRIVILEGED_OPERATION) {
            privileged(cx, out).await;
        }
        if cx.enabled(&METHOD_SWAP) {
            method_swap(cx, out).await;
        }
        if cx.enabled(&ACCOUNT_TAKEOVER) {
            takeover(cx, out).await;
        }
    }
}

fn privileged_ops(cx: &Context) -> Vec<&Op> {
    cx.ops
        .iter()
        .filter(|op| is_privileged(op))
        .take(MAX_OPS)
        .collect()
}

async fn privileged(cx: &Context, out: &mut Outcome) {
    const CHECK: &str = "function-level authorization";
    let Some(admin) = cx.identities.privileged.first() else {
        out.skip(
            CHECK,
            "needs a privileged identity (role: privileged) to tell what only it may call",
        );
        return;
    };
    let Some(user) = cx.identities.users.first() else {
        out.skip(CHECK, "needs an ordinary user");
        return;
    };
    for op in privileged_ops(cx) {
        if op.is_read() {
            let Some(values) = cx.path_values(op, Some(admin.name())) else {
                continue;
            };
            let Some(probe) = cx.probe(op, &values) else {
                continue;
            };
            let Ok(theirs) = cx.send(&probe, admin).await else {
                continue;
            };
            if !theirs.is_success() {
                continue;
            }
            for user in &cx.identities.users {
                if let Ok(mine) = cx.send(&probe, user).await
                    && mine.is_success()
                {
                    out.found(privileged_finding(op, user, &theirs, &mine));
                    break;
                }
            }
        } else if op.method != moat_spec::Method::Delete {
            out.skip(
                CHECK,
                format!(
                    "{} {}: a privileged write other than DELETE is not sent (it would change state the scan cannot undo)",
                    op.method.as_str(),
                    op.template
                ),
            );
        } else if !cx.client.writes_allowed() {
            out.skip(
                CHECK,
                format!(
                    "{} {}: needs writes (--allow-writes)",
                    op.method.as_str(),
                    op.template
                ),
            );
        } else {
            delete_as_user(cx, op, admin, user, out).await;
        }
    }
}

/// The privileged identity creates two objects for a DELETE: deletes one
/// itself (it must succeed), and `user` tries the other, which the
/// privileged identity removes after when `user` could not.
async fn delete_as_user(
    cx: &Context,
    op: &Op,
    admin: &Identity,
    user: &Identity,
    out: &mut Outcome,
) {
    let Some(create) = create_op(cx, op) else {
        out.skip(
            "function-level authorization",
            format!(
                "{} {}: no documented create operation to make an object to delete",
                op.method.as_str(),
                op.template
            ),
        );
        return;
    };
    let (Some(first), Some(second)) = (
        make(cx, create, op, admin).await,
        make(cx, create, op, admin).await,
    ) else {
        return;
    };
    let delete = |values: &BTreeMap<String, String>| {
        op.path_with(values)
            .map(|p| Probe::new(op.http_method(), p))
    };
    let (Some(own), Some(other)) = (delete(&first), delete(&second)) else {
        return;
    };
    let Ok(theirs) = cx.send(&own, admin).await else {
        return;
    };
    if !theirs.is_success() {
        // Not even the privileged identity may: remove nothing more.
        return;
    }
    match cx.send(&other, user).await {
        Ok(mine) if mine.is_success() => {
            out.found(privileged_finding(op, user, &theirs, &mine));
        }
        _ => {
            let _ = cx.send(&other, admin).await;
        }
    }
}

/// The POST to the collection `op` is an item of.
fn create_op<'a>(cx: &'a Context, op: &Op) -> Option<&'a Op> {
    let (collection, _) = op.template.rsplit_once('/')?;
    cx.ops.iter().find(|o| {
        o.method == moat_spec::Method::Post && o.template == collection && o.body.is_some()
    })
}

/// Creates one object through `create` as `identity`: the path values of
/// `item` that name it.
async fn make(
    cx: &Context,
    create: &Op,
    item: &Op,
    identity: &Identity,
) -> Option<BTreeMap<String, String>> {
    let body = schema::sample(create.body.as_ref()?);
    let probe = cx.probe(create, &BTreeMap::new())?.json(&body);
    let answer = cx.send(&probe, identity).await.ok()?;
    if !answer.is_success() {
        return None;
    }
    let ids = created_ids(cx, create, &body, &answer);
    let mut values = cx.path_values(item, Some(identity.name()))?;
    for param in item.path_params() {
        values.insert(param.name.clone(), ids.get(&param.name)?.clone());
    }
    Some(values)
}

fn privileged_finding(op: &Op, user: &Identity, theirs: &Exchange, mine: &Exchange) -> Finding {
    let op_id = op
        .operation_id
        .clone()
        .unwrap_or_else(|| format!("{} {}", op.method.as_str(), op.template));
    Finding::new(
        &PRIVILEGED_OPERATION,
        "an ordinary user may call a privileged operation",
        format!(
            "The document reserves {} {} for administrators; the privileged identity and {} both get a success.",
            op.method.as_str(),
            op.template,
            user.name()
        ),
    )
    .at(op.reference())
    .by(user.name())
    .evidence(Context::evidence(theirs, "the privileged identity may call it"))
    .evidence(Context::evidence(mine, format!("{} may call it too", user.name())))
    .fix(format!(
        "apis:\n  - name: <api>\n    roles:\n      admin: [\"tag:admin\"]\n      customer: [<the operations customers may call, not {op_id}>]"
    ))
    .fix_api(format!("check the caller's role in {op_id}"))
}

/// Documented paths and their documented methods.
fn paths(cx: &Context) -> BTreeMap<String, BTreeSet<String>> {
    let mut paths: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for op in &cx.ops {
        paths
            .entry(op.template.clone())
            .or_default()
            .insert(op.method.as_str().to_string());
    }
    paths.into_iter().take(MAX_OPS).collect()
}

async fn method_swap(cx: &Context, out: &mut Outcome) {
    let Some(user) = cx
        .identities
        .users
        .first()
        .or(cx.identities.privileged.first())
    else {
        out.skip(
            "function-level authorization",
            "method swaps need an identity with credentials",
        );
        return;
    };
    if !cx.client.writes_allowed() {
        out.skip(
            "function-level authorization",
            "method swap: only undocumented GETs were tried; DELETE needs writes (--allow-writes)",
        );
    }
    for (template, methods) in paths(cx) {
        // Any documented operation of the path gives its parameters.
        let Some(op) = cx.ops.iter().find(|o| o.template == template) else {
            continue;
        };
        if !methods.contains("GET") {
            let Some(values) = cx.path_values(op, Some(user.name())) else {
                continue;
            };
            let Some(path) = op.path_with(&values) else {
                continue;
            };
            if let Ok(answer) = cx.send(&Probe::get(path), user).await
                && answer.is_success()
            {
                out.found(swap_finding(op, "GET", user, &answer));
                continue;
            }
        }
        if !methods.contains("DELETE") && cx.client.writes_allowed() && template.ends_with('}') {
            // Only an object this user created.
            let mut values = BTreeMap::new();
            for param in op.path_params() {
                let Some(created) = cx
                    .objects
                    .of(user.name(), &param.name)
                    .into_iter()
                    .find(|h| h.provenance == Provenance::Created)
                else {
                    break;
                };
                values.insert(param.name.clone(), created.value.clone());
            }
            let Some(path) = op.path_with(&values) else {
                continue;
            };
            if let Ok(answer) = cx.send(&Probe::new(http::Method::DELETE, path), user).await
                && answer.is_success()
            {
                out.found(swap_finding(op, "DELETE", user, &answer));
            }
        }
    }
}

fn swap_finding(op: &Op, method: &str, user: &Identity, answer: &Exchange) -> Finding {
    Finding::new(
        &METHOD_SWAP,
        format!("the undocumented method {method} is served"),
        format!(
            "The document lists no {method} for {}; {method} as {} was answered {}.",
            op.template,
            user.name(),
            answer.status
        ),
    )
    .at_path(op.template.clone())
    .by(user.name())
    .evidence(Context::evidence(
        answer,
        format!("{method} answered {}", answer.status),
    ))
    .fix(format!(
        "# moat refuses methods the document does not list for a path (405) in enforce mode\nmode: enforce\n# and the document lists only {} for {}",
        "the methods the API serves", op.template
    ))
    .fix_api(format!("answer 405 to {method} on {}", op.template))
}

/// Writes that change an account's email or password: one path parameter
/// naming the account, and a body with `email` or a password field.
fn account_ops(cx: &Context) -> Vec<(&Op, String)> {
    cx.ops
        .iter()
        .filter(|op| !op.is_read() && op.method != moat_spec::Method::Delete)
        .filter(|op| {
            let params: Vec<_> = op.path_params().collect();
            params.len() == 1 && is_account_param(&params[0].name)
        })
        .filter_map(|op| {
            let body = op.body.as_ref()?;
            let props = schema::properties(body);
            let field = props.keys().find(|k| {
                k.eq_ignore_ascii_case("email") || k.to_ascii_lowercase().contains("password")
            })?;
            // Nothing else may be required: the body changes one field.
            let required = schema::required(body);
            required
                .iter()
                .all(|r| r == field)
                .then(|| (op, field.clone()))
        })
        .take(MAX_OPS)
        .collect()
}

async fn takeover(cx: &Context, out: &mut Outcome) {
    const CHECK: &str = "function-level authorization";
    let ops = account_ops(cx);
    if ops.is_empty() {
        return;
    }
    if !cx.client.writes_allowed() {
        out.skip(CHECK, "account takeover needs writes (--allow-writes)");
        return;
    }
    if cx.identities.users.len() < 2 {
        out.skip(CHECK, "account takeover needs two ordinary users");
        return;
    }
    for (op, field) in ops {
        let param = op.path_params().next().map(|p| p.name.clone());
        for (victim, attacker) in cx.identities.user_pairs() {
            let (Some(param), Some(id)) = (param.clone(), cx.objects.account_id(victim.name()))
            else {
                continue;
            };
            if cx.objects.account_id(attacker.name()).as_deref() == Some(id.as_str()) {
                continue;
            }
            // The victim's current value: nothing changes if accepted.
            let value = if field.to_ascii_lowercase().contains("password") {
                login_password(victim).map(|(_, p)| p)
            } else {
                cx.objects
                    .account(victim.name())
                    .and_then(|a| a.get(&field))
                    .and_then(Value::as_str)
                    .map(str::to_string)
            };
            let Some(value) = value else {
                out.skip(
                    CHECK,
                    format!(
                        "{} {}: {}'s current `{field}` is not known, so no harmless value can be sent",
                        op.method.as_str(),
                        op.template,
                        victim.name()
                    ),
                );
                continue;
            };
            let Some(path) = op.path_with(&BTreeMap::from([(param.clone(), id.clone())])) else {
                continue;
            };
            let mut body = Map::new();
            body.insert(field.clone(), Value::String(value));
            let probe = Probe::new(op.http_method(), path).json(&Value::Object(body));
            if let Ok(answer) = cx.send(&probe, attacker).await
                && answer.is_success()
            {
                out.found(
                    Finding::new(
                        &ACCOUNT_TAKEOVER,
                        format!("another account's `{field}` can be changed"),
                        format!(
                            "{} sent {}'s own current `{field}` to {} {} for {}'s account ({param} = {id}) and it was accepted ({}); a different value would take the account over.",
                            attacker.name(),
                            victim.name(),
                            op.method.as_str(),
                            op.template,
                            victim.name(),
                            answer.status
                        ),
                    )
                    .at(op.reference())
                    .by(attacker.name())
                    .evidence(Context::evidence(&answer, format!("another account's `{field}` accepted")))
                    .fix(format!(
                        "# in the document, on {}: the account must be the caller's own\nx-moat-owner: {{parameter: {param}, equals: \"attribute:user_id\"}}",
                        op.operation_id.as_deref().unwrap_or(&op.template)
                    ))
                    .fix_api("let a user change only their own account (and ask for the current password)"),
                );
                break;
            }
        }
    }
}
