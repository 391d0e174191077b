//! Which path parameter of an operation names an object, and of which
//! kind: what the enumeration detector counts.
//!
//! Not every path parameter is an object id. A file name, a slug or the
//! product whose reviews are listed are not objects a caller may or may
//! not own, and counting them makes ordinary browsing look like probing.
//! An operation names an object when, in this order:
//!
//! 1. an ownership learning rule (`object_access.learn`) names it with a
//!    path parameter: the kind is the rule's kind, shared by every
//!    operation the rule lists;
//! 2. a binding rule (`x-moat-owner`, `object_access.bindings`) ties a path
//!    parameter to the caller: the kind is the operation;
//! 3. its path ends with a parameter whose name says it is an id (`id`,
//!    `uuid`, `guid`, or ending in `Id`, `ID`, `_id`, `-id`, `Uuid`,
//!    `_uuid`): `/orders/{orderId}`, but not `/files/{filename}` nor
//!    `/products/{productId}/reviews`. The kind is the operation.
//!
//! Anything else names no object and costs the detector nothing.

use std::sync::Arc;

use moat_spec::{ApiSpec, Operation, ParameterLocation};

use crate::ownership::{Learning, ObjectAccess};

/// The object-naming parameter of each operation of one API.
#[derive(Debug, Clone, Default)]
pub struct ObjectParameters {
    by_operation: Vec<Option<ObjectParameter>>,
}

/// One operation's object-naming parameter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectParameter {
    /// The kind of object: a learning rule's kind, or the operation.
    pub kind: Arc<str>,
    /// The path parameter's name.
    pub parameter: String,
}

/// An object a request names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NamedObject {
    /// Its kind (see [`ObjectParameter::kind`]).
    pub kind: Arc<str>,
    /// The parameter's value.
    pub id: String,
}

impl ObjectParameters {
    /// Resolves the object-naming parameter of every operation of `spec`,
    /// in the order of [`ApiSpec::operations`].
    pub fn compile(spec: &ApiSpec, access: &ObjectAccess, learning: &Learning) -> Self {
        let by_operation = spec
            .operations
            .iter()
            .enumerate()
            .map(|(index, op)| {
                if let Some((kind, parameter)) = learning.path_parameter(index) {
                    return Some(ObjectParameter {
                        kind: kind.clone(),
                        parameter: parameter.to_string(),
                    });
                }
                let kind = || Arc::from(op.id());
                if let Some(b) = access.binding(index)
                    && b.location == ParameterLocation::Path
                {
                    return Some(ObjectParameter {
                        kind: kind(),
                        parameter: b.parameter.clone(),
                    });
                }
                last_id_parameter(op).map(|parameter| ObjectParameter {
                    kind: kind(),
                    parameter,
                })
            })
            .collect();
        Self { by_operation }
    }

    /// The object-naming parameter of operation `index`, if any.
    pub fn of(&self, index: usize) -> Option<&ObjectParameter> {
        self.by_operation.get(index)?.as_ref()
    }

    /// The object a request to operation `index` with decoded path
    /// parameters `params` names, if any.
    pub fn named(&self, index: usize, params: &[(String, String)]) -> Option<NamedObject> {
        let p = self.of(index)?;
        let (_, id) = params.iter().find(|(n, _)| *n == p.parameter)?;
        Some(NamedObject {
            kind: p.kind.clone(),
            id: id.clone(),
        })
    }
}

/// The parameter the path template ends with, when its name says it is an
/// id.
fn last_id_parameter(op: &Operation) -> Option<String> {
    let last = op.path_template.trim_end_matches('/').rsplit('/').next()?;
    let name = last.strip_prefix('{')?.strip_suffix('}')?;
    op.parameters
        .iter()
        .any(|p| p.location == ParameterLocation::Path && p.name == name)
        .then_some(())?;
    is_id_name(name).then(|| name.to_string())
}

/// `id`, `uuid`, `guid`, or a name ending in `Id`, `ID`, `_id`, `-id`,
/// `Uuid`, `_uuid` (`orderId`, `order_id`, `userUUID`); not `paid`,
/// `grid`, `filename` or `slug`.
pub(crate) fn is_id_name(name: &str) -> bool {
    const WHOLE: &[&str] = &["id", "uuid", "guid"];
    if WHOLE.iter().any(|w| name.eq_ignore_ascii_case(w)) {
        return true;
    }
    ["Id", "ID", "Uuid", "UUID", "Guid", "GUID"]
        .iter()
        .any(|s| name.len() > s.len() && name.ends_with(s))
        || ["_id", "-id", "_uuid", "-uuid", "_guid", "-guid"]
            .iter()
            .any(|s| name.len() > s.len() && name.to_ascii_lowercase().ends_with(s))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn id_names() {
        for yes in [
            "id", "ID", "uuid", "orderId", "order_id", "ORDER_ID", "user-id", "userUUID",
            "itemGuid",
        ] {
            assert!(is_id_name(yes), "{yes}");
        }
        for no in [
            "paid", "grid", "filename", "slug", "name", "Id_x", "", "_id",
        ] {
            assert!(!is_id_name(no), "{no}");
        }
    }
}
