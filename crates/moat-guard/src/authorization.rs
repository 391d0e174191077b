//! Function-level authorization by role: which roles may call which
//! operations.
//!
//! Roles grant operations by operationId, by tag (`tag:orders`), by method
//! and path pattern (`DELETE /books/*`, `* /admin/**`) or all of them
//! (`*`). Grants are resolved against the document once, when the config is
//! loaded, into a set of roles per operation; a request then costs a lookup.
//! Once an API has roles, an operation that no role grants is denied to
//! everyone (deny by default). Every request carries the role
//! [`ANONYMOUS_ROLE`], so operations meant to be public are granted to it.

use std::collections::BTreeMap;

use moat_spec::ApiSpec;

/// The role every request has, authenticated or not.
pub const ANONYMOUS_ROLE: &str = "anonymous";

/// A grant that names nothing in the document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GrantError {
    /// The role.
    pub role: String,
    /// The grant's index in the role's list.
    pub index: usize,
    /// What is wrong.
    pub message: String,
}

/// Which roles may call each operation.
#[derive(Debug, Clone, Default)]
pub struct RoleGrants {
    /// Roles granting operation `i` (index into `ApiSpec::operations`);
    /// `None` when the API has no roles configured.
    by_operation: Option<Vec<Vec<String>>>,
}

impl RoleGrants {
    /// Resolves the grants against the document. Every grant must name at
    /// least one operation: a typo would otherwise silently deny.
    pub fn compile(
        roles: &BTreeMap<String, Vec<String>>,
        spec: &ApiSpec,
    ) -> Result<Self, Vec<GrantError>> {
        if roles.is_empty() {
            return Ok(Self::default());
        }
        let mut by_operation = vec![Vec::<String>::new(); spec.operations.len()];
        let mut errors = Vec::new();
        for (role, grants) in roles {
            for (index, grant) in grants.iter().enumerate() {
                let matched = match operations_matching(grant, spec) {
                    Ok(m) => m,
                    Err(message) => {
                        errors.push(GrantError {
                            role: role.clone(),
                            index,
                            message,
                        });
                        continue;
                    }
                };
                for i in matched {
                    if !by_operation[i].contains(role) {
                        by_operation[i].push(role.clone());
                    }
                }
            }
        }
        if errors.is_empty() {
            Ok(Self {
                by_operation: Some(by_operation),
            })
        } else {
            Err(errors)
        }
    }

    /// Whether a caller with `roles` (plus [`ANONYMOUS_ROLE`]) may call
    /// operation `index`. Always true when the API has no roles.
    pub fn allows(&self, index: usize, roles: &[String]) -> bool {
        let Some(by_operation) = &self.by_operation else {
            return true;
        };
        by_operation.get(index).is_some_and(|granted| {
            granted
                .iter()
                .any(|g| g == ANONYMOUS_ROLE || roles.contains(g))
        })
    }
}

/// The indexes of the operations a grant (operationId, `tag:<name>`,
/// `METHOD /path/glob` or `*`) names; an error with a hint when it names
/// none, since a typo would otherwise silently match nothing.
pub fn operations_matching(grant: &str, spec: &ApiSpec) -> Result<Vec<usize>, String> {
    let matched: Vec<usize> = spec
        .operations
        .iter()
        .enumerate()
        .filter(|(_, op)| grant_matches(grant, op))
        .map(|(i, _)| i)
        .collect();
    if !matched.is_empty() {
        return Ok(matched);
    }
    let ids = spec
        .operations
        .iter()
        .filter_map(|o| o.operation_id.as_deref());
    Err(match moat_config::diagnostic::did_you_mean(grant, ids) {
        Some(id) => format!("`{grant}` names no operation of the document; did you mean `{id}`?"),
        None => format!("`{grant}` names no operation of the document"),
    })
}

fn grant_matches(grant: &str, op: &moat_spec::Operation) -> bool {
    if grant == "*" {
        return true;
    }
    if let Some(tag) = grant.strip_prefix("tag:") {
        return op.tags.iter().any(|t| t == tag);
    }
    if let Some((method, pattern)) = grant.split_once(' ')
        && pattern.starts_with('/')
    {
        let method_ok = method == "*" || method.eq_ignore_ascii_case(op.method.as_str());
        return method_ok && path_matches(pattern, &op.path_template);
    }
    op.operation_id.as_deref() == Some(grant)
}

/// Glob over template segments: `*` is one segment, `**` any number.
fn path_matches(pattern: &str, template: &str) -> bool {
    let p: Vec<&str> = pattern.trim_start_matches('/').split('/').collect();
    let t: Vec<&str> = template.trim_start_matches('/').split('/').collect();
    glob(&p, &t)
}

fn glob(p: &[&str], t: &[&str]) -> bool {
    match p.split_first() {
        None => t.is_empty(),
        Some((&"**", rest)) => (0..=t.len()).any(|k| glob(rest, &t[k..])),
        Some((seg, rest)) => t
            .split_first()
            .is_some_and(|(first, trest)| (*seg == "*" || seg == first) && glob(rest, trest)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs_match_template_segments() {
        assert!(path_matches("/books/*", "/books/{bookId}"));
        assert!(!path_matches("/books/*", "/books"));
        assert!(path_matches("/admin/**", "/admin/users/{id}/keys"));
        assert!(path_matches("/admin/**", "/admin"));
        assert!(path_matches("/**", "/anything/at/all"));
        assert!(!path_matches("/books/*/x", "/books/{id}/y"));
    }
}
