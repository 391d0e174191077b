//! Object-level authorization by binding rules (OWASP API1, BOLA).
//!
//! A binding says that a request parameter naming an object must equal an
//! attribute of the caller: `GET /users/{userId}` is only for the user whose
//! id it is. Bindings come from the document (`x-moat-owner` on an
//! operation) or from config, and are resolved once per operation.

use moat_spec::{ApiSpec, ParameterLocation};

use crate::identity::Identity;
use crate::problem::ProblemKind;
use crate::verdict::{Finding, Verdict};

/// What a parameter must equal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OwnerAttribute {
    /// The consumer id.
    Consumer,
    /// A named attribute: the consumer's metadata, or a claim of its token.
    Attribute(String),
}

impl OwnerAttribute {
    /// Parses `consumer` or `attribute:<name>`.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "consumer" => Some(Self::Consumer),
            _ => s
                .strip_prefix("attribute:")
                .filter(|n| !n.is_empty())
                .map(|n| Self::Attribute(n.to_string())),
        }
    }
}

/// One binding: `parameter` (path or query) must equal `equals`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Binding {
    /// The parameter's name.
    pub parameter: String,
    /// Where it is.
    pub location: ParameterLocation,
    /// What it must equal.
    pub equals: OwnerAttribute,
}

/// A binding that cannot be applied to the document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BindingError {
    /// The operation (id) or the config entry it came from.
    pub operation: String,
    /// What is wrong.
    pub message: String,
}

/// A binding as written: from config, or the document's `x-moat-owner`.
#[derive(Debug, Clone)]
pub struct BindingSpec {
    /// The operationId (config bindings).
    pub operation: String,
    /// The parameter name.
    pub parameter: String,
    /// `consumer` or `attribute:<name>`.
    pub equals: String,
}

/// Bindings by operation index, and the roles exempt from them.
#[derive(Debug, Clone, Default)]
pub struct ObjectAccess {
    by_operation: Vec<Option<Binding>>,
    exempt_roles: Vec<String>,
}

impl ObjectAccess {
    /// Resolves the document's `x-moat-owner` extensions and the config's
    /// bindings (config wins for the same operation).
    pub fn compile(
        spec: &ApiSpec,
        config: &[BindingSpec],
        exempt_roles: &[String],
    ) -> Result<Self, Vec<BindingError>> {
        let mut by_operation: Vec<Option<Binding>> = vec![None; spec.operations.len()];
        let mut errors = Vec::new();
        for (i, op) in spec.operations.iter().enumerate() {
            let Some(ext) = spec
                .value_at(op.doc, &op.pointer)
                .and_then(|v| v.get("x-moat-owner"))
            else {
                continue;
            };
            let parameter = ext
                .get("parameter")
                .and_then(|v| v.as_str())
                .unwrap_or_default();
            let equals = ext
                .get("equals")
                .and_then(|v| v.as_str())
                .unwrap_or("consumer");
            match bind(op, parameter, equals) {
                Ok(b) => by_operation[i] = Some(b),
                Err(message) => errors.push(BindingError {
                    operation: op.id().to_string(),
                    message: format!("x-moat-owner: {message}"),
                }),
            }
        }
        for c in config {
            let Some(i) = spec
                .operations
                .iter()
                .position(|o| o.operation_id.as_deref() == Some(c.operation.as_str()))
            else {
                let ids = spec
                    .operations
                    .iter()
                    .filter_map(|o| o.operation_id.as_deref());
                let hint = moat_config::diagnostic::did_you_mean(&c.operation, ids)
                    .map(|s| format!("; did you mean `{s}`?"))
                    .unwrap_or_default();
                errors.push(BindingError {
                    operation: c.operation.clone(),
                    message: format!("no operation has the operationId `{}`{hint}", c.operation),
                });
                continue;
            };
            match bind(&spec.operations[i], &c.parameter, &c.equals) {
                Ok(b) => by_operation[i] = Some(b),
                Err(message) => errors.push(BindingError {
                    operation: c.operation.clone(),
                    message,
                }),
            }
        }
        if errors.is_empty() {
            Ok(Self {
                by_operation,
                exempt_roles: exempt_roles.to_vec(),
            })
        } else {
            Err(errors)
        }
    }

    /// Decides on operation `index` for the caller. `params` are the
    /// decoded path parameters; `query` the raw query string.
    pub fn check(
        &self,
        index: usize,
        params: &[(String, String)],
        query: Option<&str>,
        identity: Option<&Identity>,
    ) -> Verdict {
        let Some(Some(binding)) = self.by_operation.get(index) else {
            return Verdict::Allow;
        };
        let deny = Verdict::Deny(Finding::new(ProblemKind::OwnershipViolation));
        let Some(identity) = identity else {
            return deny;
        };
        if identity.roles.iter().any(|r| self.exempt_roles.contains(r)) {
            return Verdict::Allow;
        }
        let expected = match &binding.equals {
            OwnerAttribute::Consumer => Some(identity.consumer.as_str()),
            OwnerAttribute::Attribute(name) => identity.attributes.get(name).map(String::as_str),
        };
        let actual = match binding.location {
            ParameterLocation::Path => params
                .iter()
                .find(|(n, _)| *n == binding.parameter)
                .map(|(_, v)| v.clone()),
            _ => query_value(query, &binding.parameter),
        };
        match (expected, actual) {
            (Some(e), Some(a)) if e == a => Verdict::Allow,
            _ => deny,
        }
    }
}

fn bind(op: &moat_spec::Operation, parameter: &str, equals: &str) -> Result<Binding, String> {
    let equals = OwnerAttribute::parse(equals).ok_or_else(|| {
        format!("`equals` must be `consumer` or `attribute:<name>`, not `{equals}`")
    })?;
    let param = op
        .parameters
        .iter()
        .find(|p| {
            p.name == parameter
                && matches!(
                    p.location,
                    ParameterLocation::Path | ParameterLocation::Query
                )
        })
        .ok_or_else(|| {
            format!(
                "operation `{}` has no path or query parameter `{parameter}`",
                op.id()
            )
        })?;
    Ok(Binding {
        parameter: parameter.to_string(),
        location: param.location,
        equals,
    })
}

fn query_value(query: Option<&str>, name: &str) -> Option<String> {
    query?.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let k = crate::identity::decode_query_component(k).ok()?;
        (k == name).then(|| crate::identity::decode_query_component(v).ok())?
    })
}
