//! Object-level authorization by binding rules (OWASP API1, BOLA).
//!
//! A binding says that a request parameter naming an object must equal an
//! attribute of the caller: `GET /users/{userId}` is only for the user whose
//! id it is. Bindings come from the document (`x-moat-owner` on an
//! operation) or from config, and are resolved once per operation.

use std::sync::Arc;

use moat_request::Query;
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
    /// The caller's value of this attribute.
    pub fn value_of<'i>(&self, identity: &'i Identity) -> Option<&'i str> {
        match self {
            OwnerAttribute::Consumer => Some(identity.consumer.as_str()),
            OwnerAttribute::Attribute(name) => identity.attributes.get(name).map(String::as_str),
        }
    }

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

/// A binding on an operation's answer, as written in config: the answer's
/// member at `pointer` must equal `equals`.
#[derive(Debug, Clone)]
pub struct AnswerBindingSpec {
    /// The operationId.
    pub operation: String,
    /// A JSON pointer into the answer (`/owner`).
    pub pointer: String,
    /// `consumer` or `attribute:<name>`.
    pub equals: String,
}

/// A binding on an answer, resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
struct AnswerBinding {
    pointer: String,
    equals: OwnerAttribute,
}

/// Bindings by operation index, and the roles exempt from them.
#[derive(Debug, Clone, Default)]
pub struct ObjectAccess {
    by_operation: Vec<Option<Binding>>,
    answers: Vec<Option<AnswerBinding>>,
    exempt_roles: Vec<String>,
}

impl ObjectAccess {
    /// Resolves the document's `x-moat-owner` extensions and the config's
    /// bindings (config wins for the same operation).
    pub fn compile(
        spec: &ApiSpec,
        config: &[BindingSpec],
        answer_config: &[AnswerBindingSpec],
        exempt_roles: &[String],
    ) -> Result<Self, Vec<BindingError>> {
        let mut by_operation: Vec<Option<Binding>> = vec![None; spec.operations.len()];
        let mut answers: Vec<Option<AnswerBinding>> = vec![None; spec.operations.len()];
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
            let i = match find_operation(spec, &c.operation) {
                Ok(i) => i,
                Err(message) => {
                    errors.push(BindingError {
                        operation: c.operation.clone(),
                        message,
                    });
                    continue;
                }
            };
            match bind(&spec.operations[i], &c.parameter, &c.equals) {
                Ok(b) => by_operation[i] = Some(b),
                Err(message) => errors.push(BindingError {
                    operation: c.operation.clone(),
                    message,
                }),
            }
        }
        for c in answer_config {
            let err = |message: String| BindingError {
                operation: c.operation.clone(),
                message,
            };
            let i = match find_operation(spec, &c.operation) {
                Ok(i) => i,
                Err(message) => {
                    errors.push(err(message));
                    continue;
                }
            };
            let Some(equals) = OwnerAttribute::parse(&c.equals) else {
                errors.push(err(format!(
                    "`equals` must be `consumer` or `attribute:<name>`, not `{}`",
                    c.equals
                )));
                continue;
            };
            if !c.pointer.starts_with('/') {
                errors.push(err(format!(
                    "`pointer` must be a JSON pointer such as `/owner`, not `{}`",
                    c.pointer
                )));
                continue;
            }
            if answers[i].is_some() {
                errors.push(err("the operation has two answer bindings".into()));
                continue;
            }
            answers[i] = Some(AnswerBinding {
                pointer: c.pointer.clone(),
                equals,
            });
        }
        if errors.is_empty() {
            Ok(Self {
                by_operation,
                answers,
                exempt_roles: exempt_roles.to_vec(),
            })
        } else {
            Err(errors)
        }
    }

    /// The binding rule of operation `index`, if any.
    pub fn binding(&self, index: usize) -> Option<&Binding> {
        self.by_operation.get(index)?.as_ref()
    }

    /// Decides on operation `index` for the caller. `params` are the
    /// decoded path parameters. A bound query parameter given twice is
    /// refused as ambiguous: frameworks disagree on which value counts.
    pub fn check(
        &self,
        index: usize,
        params: &[(String, String)],
        query: &Query,
        identity: Option<&Identity>,
    ) -> Verdict {
        let Some(Some(binding)) = self.by_operation.get(index) else {
            return Verdict::Allow;
        };
        let actual = match binding.location {
            ParameterLocation::Path => params
                .iter()
                .find(|(n, _)| *n == binding.parameter)
                .map(|(_, v)| v.as_str()),
            _ => match query_value(query, &binding.parameter) {
                Ok(v) => v,
                Err(f) => return Verdict::Deny(f),
            },
        };
        let deny = Verdict::Deny(Finding::new(ProblemKind::OwnershipViolation));
        let Some(identity) = identity else {
            return deny;
        };
        if identity.roles.iter().any(|r| self.exempt_roles.contains(r)) {
            return Verdict::Allow;
        }
        match (binding.equals.value_of(identity), actual) {
            (Some(e), Some(a)) if e == a => Verdict::Allow,
            _ => deny,
        }
    }
}

impl ObjectAccess {
    /// Whether a successful answer of operation `index` is checked.
    pub fn checks_answer(&self, index: usize) -> bool {
        matches!(self.answers.get(index), Some(Some(_)))
    }

    /// Decides on a successful JSON answer of operation `index`: its
    /// member at the binding's pointer must equal the caller's attribute
    /// (a string, or an integer compared by its digits). A missing member,
    /// or no verified caller, is a refusal: the answer is withheld.
    pub fn check_answer(
        &self,
        index: usize,
        answer: &serde_json::Value,
        identity: Option<&Identity>,
    ) -> Verdict {
        let Some(Some(binding)) = self.answers.get(index) else {
            return Verdict::Allow;
        };
        let deny = Verdict::Deny(Finding::new(ProblemKind::OwnershipViolation));
        let Some(identity) = identity else {
            return deny;
        };
        if identity.roles.iter().any(|r| self.exempt_roles.contains(r)) {
            return Verdict::Allow;
        }
        let actual = match answer.pointer(&binding.pointer) {
            Some(serde_json::Value::String(s)) => Some(s.clone()),
            Some(serde_json::Value::Number(n)) if n.is_i64() || n.is_u64() => Some(n.to_string()),
            _ => None,
        };
        match (binding.equals.value_of(identity), actual) {
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

/// The one value of query parameter `name`; a parameter given twice, or a
/// query that cannot be decoded, has no single reading.
fn query_value<'q>(query: &'q Query, name: &str) -> Result<Option<&'q str>, Finding> {
    let ambiguous = || {
        Finding::with_detail(
            ProblemKind::AmbiguousRequest,
            "a query parameter that decides access is given more than once or cannot be decoded",
        )
    };
    if query.is_malformed() {
        return Err(ambiguous());
    }
    query.unique(name).map_err(|_| ambiguous())
}

/// Where a create operation names the object it creates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IdSource {
    /// A JSON pointer into the successful answer (`/id`).
    Answer(String),
    /// A JSON pointer into the create request's JSON body (`/slug`): for
    /// objects named by their creator (a title, a slug, a user name).
    RequestBody(String),
    /// A path or query parameter of the create request
    /// (`PUT /documents/{name}`).
    RequestParameter(String),
}

/// A learning rule as written in config.
#[derive(Debug, Clone)]
pub struct LearnSpec {
    /// The kind of object.
    pub kind: String,
    /// The operationId that creates objects of this kind.
    pub create: String,
    /// Where the create operation names the new object.
    pub id_from: IdSource,
    /// The path or query parameter naming the object in `operations`.
    pub parameter: String,
    /// The operationIds that name the object.
    pub operations: Vec<String>,
}

/// How a create operation gives the new object's id.
#[derive(Debug, Clone)]
struct CreateRule {
    kind: Arc<str>,
    source: CreateSource,
}

/// [`IdSource`], resolved against the operation.
#[derive(Debug, Clone)]
enum CreateSource {
    Answer(String),
    RequestBody(String),
    RequestParameter {
        name: String,
        location: ParameterLocation,
        integer: bool,
    },
}

/// How an operation names a tracked object.
#[derive(Debug, Clone)]
struct NameRule {
    kind: Arc<str>,
    parameter: String,
    location: ParameterLocation,
    integer: bool,
}

/// An object a request names: its kind and canonical id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NamedObject {
    /// The learning rule's kind.
    pub kind: Arc<str>,
    /// The id, canonical (integers without sign or leading zeros).
    pub id: String,
}

/// Learned ownership, compiled: which operations create objects, and which
/// name them. The records themselves live in the state store; this only
/// says what to look up and decides on the answer.
#[derive(Debug, Clone, Default)]
pub struct Learning {
    creates: Vec<Option<CreateRule>>,
    names: Vec<Vec<NameRule>>,
    deny_unknown: bool,
    exempt_roles: Vec<String>,
}

impl Learning {
    /// Resolves the rules against the document. `deny_unknown` refuses
    /// requests naming an object no one is recorded to own.
    pub fn compile(
        spec: &ApiSpec,
        rules: &[LearnSpec],
        deny_unknown: bool,
        exempt_roles: &[String],
    ) -> Result<Self, Vec<BindingError>> {
        let n = spec.operations.len();
        let mut creates: Vec<Option<CreateRule>> = vec![None; n];
        let mut names: Vec<Vec<NameRule>> = vec![Vec::new(); n];
        let mut errors = Vec::new();
        let mut kinds: Vec<&str> = Vec::new();
        for rule in rules {
            let err = |message: String| BindingError {
                operation: rule.kind.clone(),
                message,
            };
            if rule.kind.is_empty() {
                errors.push(err("`kind` must not be empty".into()));
                continue;
            }
            if kinds.contains(&rule.kind.as_str()) {
                errors.push(err(format!(
                    "the kind `{}` is learned by two rules; give each its own kind",
                    rule.kind
                )));
                continue;
            }
            kinds.push(&rule.kind);
            let kind: Arc<str> = Arc::from(rule.kind.as_str());
            let pointer_ok = |field: &str, p: &str| {
                (p.is_empty() || p.starts_with('/'))
                    .then_some(())
                    .ok_or_else(|| {
                        format!("`{field}` must be a JSON pointer such as `/id`, not `{p}`")
                    })
            };
            let checked = match &rule.id_from {
                IdSource::Answer(p) => pointer_ok("id_pointer", p),
                IdSource::RequestBody(p) => pointer_ok("request_pointer", p),
                IdSource::RequestParameter(_) => Ok(()),
            };
            if let Err(message) = checked {
                errors.push(err(message));
            }
            match find_operation(spec, &rule.create) {
                Ok(i) if creates[i].is_some() => errors.push(err(format!(
                    "operation `{}` already creates another kind of object",
                    rule.create
                ))),
                Ok(i) => match create_source(spec, i, &rule.id_from) {
                    Ok(source) => {
                        creates[i] = Some(CreateRule {
                            kind: kind.clone(),
                            source,
                        });
                    }
                    Err(message) => errors.push(err(format!("`create`: {message}"))),
                },
                Err(message) => errors.push(err(format!("`create`: {message}"))),
            }
            if rule.operations.is_empty() {
                errors.push(err(
                    "`operations` must list the operations that name the object".into(),
                ));
            }
            for id in &rule.operations {
                let i = match find_operation(spec, id) {
                    Ok(i) => i,
                    Err(message) => {
                        errors.push(err(format!("`operations`: {message}")));
                        continue;
                    }
                };
                let op = &spec.operations[i];
                let Some(param) = op.parameters.iter().find(|p| {
                    p.name == rule.parameter
                        && matches!(
                            p.location,
                            ParameterLocation::Path | ParameterLocation::Query
                        )
                }) else {
                    errors.push(err(format!(
                        "operation `{id}` has no path or query parameter `{}`",
                        rule.parameter
                    )));
                    continue;
                };
                let integer = is_integer(spec, param);
                names[i].push(NameRule {
                    kind: kind.clone(),
                    parameter: rule.parameter.clone(),
                    location: param.location,
                    integer,
                });
            }
        }
        if errors.is_empty() {
            Ok(Self {
                creates,
                names,
                deny_unknown,
                exempt_roles: exempt_roles.to_vec(),
            })
        } else {
            Err(errors)
        }
    }

    /// Whether any rule is configured (and a state store is needed).
    pub fn is_empty(&self) -> bool {
        self.creates.iter().all(Option::is_none)
    }

    /// The kind and parameter of the first rule that names an object of
    /// operation `index` in its path.
    pub fn path_parameter(&self, index: usize) -> Option<(&Arc<str>, &str)> {
        self.names
            .get(index)?
            .iter()
            .find(|r| r.location == ParameterLocation::Path)
            .map(|r| (&r.kind, r.parameter.as_str()))
    }

    /// Whether operation `index` creates tracked objects.
    pub fn creates(&self, index: usize) -> bool {
        matches!(self.creates.get(index), Some(Some(_)))
    }

    /// Whether create operation `index` names its object in its answer
    /// (which must then be read).
    pub fn learns_from_answer(&self, index: usize) -> bool {
        matches!(
            self.creates.get(index),
            Some(Some(CreateRule {
                source: CreateSource::Answer(_),
                ..
            }))
        )
    }

    /// Whether create operation `index` names its object in its JSON
    /// request body (which must then be read).
    pub fn learns_from_request_body(&self, index: usize) -> bool {
        matches!(
            self.creates.get(index),
            Some(Some(CreateRule {
                source: CreateSource::RequestBody(_),
                ..
            }))
        )
    }

    /// The object a successful answer of create operation `index` made:
    /// the id at the rule's pointer of the JSON `body`. `None` when the
    /// body is not JSON or holds no string or integer there.
    pub fn created(&self, index: usize, body: &[u8]) -> Option<NamedObject> {
        let value: serde_json::Value = serde_json::from_slice(body).ok()?;
        self.created_in(index, &value)
    }

    /// [`created`](Self::created) for an answer already parsed.
    pub fn created_in(&self, index: usize, value: &serde_json::Value) -> Option<NamedObject> {
        let rule = self.creates.get(index)?.as_ref()?;
        let CreateSource::Answer(pointer) = &rule.source else {
            return None;
        };
        Some(NamedObject {
            kind: rule.kind.clone(),
            id: json_id(value.pointer(pointer)?)?,
        })
    }

    /// The object a request to create operation `index` names, for rules
    /// that take the id from the request: its JSON `body` at the rule's
    /// pointer, or its parameter. Recorded only once the create succeeds.
    /// A query parameter given twice is ambiguous: `Err` is the refusal.
    pub fn created_by_request(
        &self,
        index: usize,
        params: &[(String, String)],
        query: &Query,
        body: Option<&serde_json::Value>,
    ) -> Result<Option<NamedObject>, Finding> {
        let Some(Some(rule)) = self.creates.get(index) else {
            return Ok(None);
        };
        let id = match &rule.source {
            CreateSource::Answer(_) => None,
            CreateSource::RequestBody(pointer) => {
                body.and_then(|b| b.pointer(pointer)).and_then(json_id)
            }
            CreateSource::RequestParameter {
                name,
                location,
                integer,
            } => {
                let raw = match location {
                    ParameterLocation::Path => params
                        .iter()
                        .find(|(n, _)| n == name)
                        .map(|(_, v)| v.as_str()),
                    _ => query_value(query, name)?,
                };
                raw.filter(|r| !r.is_empty())
                    .map(|r| canonical_id(r, *integer))
            }
        };
        Ok(id.map(|id| NamedObject {
            kind: rule.kind.clone(),
            id,
        }))
    }

    /// The tracked objects a request to operation `index` names.
    /// A query parameter that names an object and is given twice is
    /// ambiguous: `Err` is the refusal.
    pub fn named(
        &self,
        index: usize,
        params: &[(String, String)],
        query: &Query,
    ) -> Result<Vec<NamedObject>, Finding> {
        let Some(rules) = self.names.get(index) else {
            return Ok(Vec::new());
        };
        let mut named = Vec::new();
        for r in rules {
            let raw = match r.location {
                ParameterLocation::Path => params
                    .iter()
                    .find(|(n, _)| *n == r.parameter)
                    .map(|(_, v)| v.as_str()),
                _ => query_value(query, &r.parameter)?,
            };
            if let Some(raw) = raw {
                named.push(NamedObject {
                    kind: r.kind.clone(),
                    id: canonical_id(raw, r.integer),
                });
            }
        }
        Ok(named)
    }

    /// Decides on access to an object whose recorded owner is `owner`.
    pub fn decide(&self, owner: Option<&str>, identity: Option<&Identity>) -> Verdict {
        let exempt =
            identity.is_some_and(|i| i.roles.iter().any(|r| self.exempt_roles.contains(r)));
        match (owner, identity) {
            _ if exempt => Verdict::Allow,
            (Some(owner), Some(i)) if owner == i.consumer => Verdict::Allow,
            (None, _) if !self.deny_unknown => Verdict::Allow,
            (None, _) => Verdict::Deny(Finding::with_detail(
                ProblemKind::OwnershipViolation,
                "no owner is known for this object",
            )),
            _ => Verdict::Deny(Finding::new(ProblemKind::OwnershipViolation)),
        }
    }
}

/// The id a JSON value names: a non-empty string, or an integer.
fn json_id(value: &serde_json::Value) -> Option<String> {
    match value {
        serde_json::Value::String(s) if !s.is_empty() => Some(canonical_id(s, false)),
        serde_json::Value::Number(n) if n.is_i64() || n.is_u64() => Some(n.to_string()),
        _ => None,
    }
}

/// Resolves where create operation `index` names its object.
fn create_source(spec: &ApiSpec, index: usize, from: &IdSource) -> Result<CreateSource, String> {
    Ok(match from {
        IdSource::Answer(p) => CreateSource::Answer(p.clone()),
        IdSource::RequestBody(p) => CreateSource::RequestBody(p.clone()),
        IdSource::RequestParameter(name) => {
            let op = &spec.operations[index];
            let param = op
                .parameters
                .iter()
                .find(|p| {
                    p.name == *name
                        && matches!(
                            p.location,
                            ParameterLocation::Path | ParameterLocation::Query
                        )
                })
                .ok_or_else(|| {
                    format!(
                        "operation `{}` has no path or query parameter `{name}`",
                        op.id()
                    )
                })?;
            CreateSource::RequestParameter {
                name: name.clone(),
                location: param.location,
                integer: is_integer(spec, param),
            }
        }
    })
}

/// Whether a parameter's schema says `type: integer`.
fn is_integer(spec: &ApiSpec, param: &moat_spec::Parameter) -> bool {
    param
        .schema
        .as_ref()
        .and_then(|s| spec.resolve(param.doc, s).ok())
        .is_some_and(|t| t.value.get("type").and_then(|v| v.as_str()) == Some("integer"))
}

/// One spelling per id: integer parameters lose signs and leading zeros
/// (`007` and `+7` name object `7` to an upstream that parses integers).
fn canonical_id(raw: &str, integer: bool) -> String {
    if integer && let Ok(n) = raw.trim().parse::<i128>() {
        return n.to_string();
    }
    raw.to_string()
}

fn find_operation(spec: &ApiSpec, id: &str) -> Result<usize, String> {
    spec.operations
        .iter()
        .position(|o| o.operation_id.as_deref() == Some(id))
        .ok_or_else(|| {
            let ids = spec
                .operations
                .iter()
                .filter_map(|o| o.operation_id.as_deref());
            let hint = moat_config::diagnostic::did_you_mean(id, ids)
                .map(|s| format!("; did you mean `{s}`?"))
                .unwrap_or_default();
            format!("no operation has the operationId `{id}`{hint}")
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    const SPEC: &str = r#"
openapi: 3.0.3
info: {title: t, version: "1"}
paths:
  /orders:
    post:
      operationId: createOrder
      responses: {"201": {description: created}}
  /orders/{orderId}:
    parameters:
      - {name: orderId, in: path, required: true, schema: {type: integer}}
    get:
      operationId: getOrder
      responses: {"200": {description: ok}}
    delete:
      operationId: deleteOrder
      responses: {"204": {description: gone}}
  /notes:
    get:
      operationId: getNote
      parameters:
        - {name: note, in: query, schema: {type: string}}
      responses: {"200": {description: ok}}
"#;

    fn spec() -> ApiSpec {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("spec.yaml");
        std::fs::write(&path, SPEC).unwrap();
        moat_spec::load(&path).unwrap()
    }

    fn rule(create: &str, parameter: &str, operations: &[&str]) -> LearnSpec {
        LearnSpec {
            kind: "order".into(),
            create: create.into(),
            id_from: IdSource::Answer("/order/id".into()),
            parameter: parameter.into(),
            operations: operations.iter().map(|s| s.to_string()).collect(),
        }
    }

    fn who(consumer: &str, roles: &[&str]) -> Identity {
        Identity {
            consumer: consumer.into(),
            scopes: Vec::new(),
            roles: roles.iter().map(|s| s.to_string()).collect(),
            attributes: Default::default(),
        }
    }

    fn index(spec: &ApiSpec, id: &str) -> usize {
        find_operation(spec, id).unwrap()
    }

    #[test]
    fn ids_come_from_the_create_answer_and_the_naming_parameter() {
        let spec = spec();
        let l = Learning::compile(
            &spec,
            &[rule("createOrder", "orderId", &["getOrder", "deleteOrder"])],
            false,
            &[],
        )
        .unwrap();
        let create = index(&spec, "createOrder");
        let get = index(&spec, "getOrder");
        assert!(l.creates(create) && !l.creates(get) && !l.is_empty());
        let made = l.created(create, br#"{"order":{"id":7}}"#).unwrap();
        assert_eq!((&*made.kind, made.id.as_str()), ("order", "7"));
        assert_eq!(
            l.created(create, br#"{"order":{"id":"a-1"}}"#).unwrap().id,
            "a-1"
        );
        for bad in [
            &br#"{"order":{}}"#[..],
            br#"{"order":{"id":1.5}}"#,
            br#"{"order":{"id":""}}"#,
            b"not json",
        ] {
            assert_eq!(l.created(create, bad), None);
        }
        // Integer ids have one spelling, so `007` cannot dodge the record.
        for spelling in ["7", "007", "+7"] {
            let named = l
                .named(
                    get,
                    &[("orderId".into(), spelling.into())],
                    &Query::default(),
                )
                .unwrap();
            assert_eq!(named, vec![made.clone()], "{spelling}");
        }
        assert!(l.named(create, &[], &Query::default()).unwrap().is_empty());
    }

    #[test]
    fn owners_exempt_roles_and_unknown_objects() {
        let spec = spec();
        let rules = [rule("createOrder", "orderId", &["getOrder"])];
        let open = Learning::compile(&spec, &rules, false, &["support".into()]).unwrap();
        let closed = Learning::compile(&spec, &rules, true, &["support".into()]).unwrap();
        let alice = who("alice", &[]);
        let bob = who("bob", &["user"]);
        let staff = who("carol", &["support"]);
        for l in [&open, &closed] {
            assert_eq!(l.decide(Some("alice"), Some(&alice)), Verdict::Allow);
            assert!(
                matches!(l.decide(Some("alice"), Some(&bob)), Verdict::Deny(f) if f.kind == ProblemKind::OwnershipViolation)
            );
            assert!(matches!(l.decide(Some("alice"), None), Verdict::Deny(_)));
            assert_eq!(l.decide(Some("alice"), Some(&staff)), Verdict::Allow);
        }
        assert_eq!(open.decide(None, Some(&bob)), Verdict::Allow);
        assert!(matches!(closed.decide(None, Some(&bob)), Verdict::Deny(_)));
        assert_eq!(closed.decide(None, Some(&staff)), Verdict::Allow);
    }

    #[test]
    fn query_parameters_name_objects_too() {
        let spec = spec();
        let mut r = rule("createOrder", "note", &["getNote"]);
        r.kind = "note".into();
        let l = Learning::compile(&spec, &[r], false, &[]).unwrap();
        let get = index(&spec, "getNote");
        let named = l.named(get, &[], &Query::parse("x=1&note=n%2D1")).unwrap();
        assert_eq!(named.len(), 1);
        assert_eq!(named[0].id, "n-1");
        assert!(l.named(get, &[], &Query::parse("x=1")).unwrap().is_empty());
        assert!(
            l.named(get, &[], &Query::parse("note=n-1&note=n-2"))
                .is_err()
        );
    }

    #[test]
    fn rules_that_do_not_fit_the_document_are_reported() {
        let spec = spec();
        let mut twice = rule("createOrder", "orderId", &["getOrder"]);
        twice.id_from = IdSource::Answer("id".into());
        let errors = Learning::compile(
            &spec,
            &[
                rule("createOrdr", "orderId", &["getOrder"]),
                rule("createOrder", "orderId", &["getOrder"]),
                rule("createOrder", "nope", &["getOrder", "getNote"]),
                LearnSpec {
                    kind: "other".into(),
                    ..rule("createOrder", "orderId", &[])
                },
                LearnSpec {
                    kind: "pointer".into(),
                    ..twice
                },
            ],
            false,
            &[],
        )
        .unwrap_err();
        let text: Vec<String> = errors
            .iter()
            .map(|e| format!("{}: {}", e.operation, e.message))
            .collect();
        let all = text.join("\n");
        assert!(all.contains("did you mean `createOrder`"), "{all}");
        assert!(all.contains("learned by two rules"), "{all}");
        assert!(all.contains("already creates"), "{all}");
        assert!(all.contains("`operations` must list"), "{all}");
        assert!(all.contains("must be a JSON pointer"), "{all}");
    }
}
