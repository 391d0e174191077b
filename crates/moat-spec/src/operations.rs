//! Turning `paths` into [`Operation`]s, and the checks that need the whole
//! list: every template parameter declared, operationIds unique, no two
//! templates matching the same requests.

use std::collections::HashMap;

use crate::security::SecurityPolicy;
use moat_config::diagnostic::{Diagnostic, Diagnostics};
use moat_config::source::{pointer_of, push_pointer};
use serde_json::Value;

use crate::documents::{DocId, DocumentSet, ref_of};
use crate::linker;
use crate::model::{Method, Operation, Parameter, ParameterLocation, Resolved};
use crate::servers::server_path;
use crate::suggest::suggest;
use crate::table::MAX_PATH_PARAMS;
use crate::template::{self, Template};

/// Header parameters the OpenAPI specification says to ignore: they are
/// described by `requestBody`, `responses` and `security` instead.
const IGNORED_HEADERS: [&str; 3] = ["accept", "content-type", "authorization"];

/// What the operation builder reads and where it reports.
pub(crate) struct Builder<'a> {
    pub(crate) set: &'a DocumentSet,
    pub(crate) diags: &'a mut Diagnostics,
    pub(crate) warnings: &'a mut Vec<Diagnostic>,
    /// Whether linking reported `$ref` problems already: if it did, a
    /// reference that fails here is one of those, and is not reported twice.
    pub(crate) refs_reported: bool,
}

/// An operation with its parsed template, for the whole-list checks.
struct Built {
    operation: Operation,
    template: Template,
}

impl<'a> Builder<'a> {
    /// A diagnostic at `pointer` in `doc` (at the key with `at_key`), with a
    /// hint; `None` if `doc` is unknown.
    fn located(
        &self,
        doc: DocId,
        pointer: &str,
        at_key: bool,
        message: impl Into<String>,
        hint: impl Into<String>,
    ) -> Option<Diagnostic> {
        let d = self.set.get(doc)?;
        let diagnostic = if at_key {
            d.error_at_key(pointer, message)
        } else {
            d.error_at(pointer, message)
        };
        Some(diagnostic.with_hint(hint))
    }

    pub(crate) fn error(
        &mut self,
        doc: DocId,
        pointer: &str,
        message: impl Into<String>,
        hint: impl Into<String>,
    ) {
        self.diags
            .0
            .extend(self.located(doc, pointer, false, message, hint));
    }

    pub(crate) fn error_at_key(
        &mut self,
        doc: DocId,
        pointer: &str,
        message: impl Into<String>,
        hint: impl Into<String>,
    ) {
        self.diags
            .0
            .extend(self.located(doc, pointer, true, message, hint));
    }

    fn warn(
        &mut self,
        doc: DocId,
        pointer: &str,
        message: impl Into<String>,
        hint: impl Into<String>,
    ) {
        let d = self.located(doc, pointer, true, message, hint);
        self.warnings.extend(d);
    }

    /// Follows `value` (at `pointer` in `doc`) through any `$ref`s.
    fn resolve(
        &mut self,
        doc: DocId,
        pointer: &str,
        value: &'a Value,
    ) -> Option<(DocId, String, &'a Value)> {
        let set: &'a DocumentSet = self.set;
        match set.follow(doc, value) {
            Ok(t) => Some((
                t.doc,
                t.pointer.unwrap_or_else(|| pointer.to_string()),
                t.value,
            )),
            Err(e) => {
                if !self.refs_reported
                    && let Some(d) = set.get(doc)
                {
                    let mut at = pointer.to_string();
                    push_pointer(&mut at, "$ref");
                    self.diags.push(linker::diagnostic(d, &at, &e));
                }
                None
            }
        }
    }

    /// The server paths of a `servers` list; `None` when absent or empty
    /// (the enclosing level's servers then apply).
    pub(crate) fn servers(
        &mut self,
        doc: DocId,
        pointer: &str,
        value: Option<&Value>,
    ) -> Option<Vec<String>> {
        let value = value?;
        let Some(list) = value.as_array() else {
            self.error(
                doc,
                pointer,
                "`servers` must be a list",
                "write `servers: [{url: https://api.example.com/v1}]`",
            );
            return None;
        };
        let mut paths: Vec<String> = Vec::new();
        for (i, server) in list.iter().enumerate() {
            let at = format!("{pointer}/{i}");
            let Some(url) = server.get("url").and_then(Value::as_str) else {
                self.error(
                    doc,
                    &at,
                    "a server needs a string `url`",
                    "write `- url: https://api.example.com/v1`",
                );
                continue;
            };
            match server_path(url, server.get("variables")) {
                Ok(p) => {
                    if !paths.contains(&p) {
                        paths.push(p);
                    }
                }
                Err(e) => self.error(doc, &format!("{at}/url"), e.message(url), e.hint()),
            }
        }
        (!paths.is_empty()).then_some(paths)
    }

    /// Builds every operation under the root document's `paths`.
    pub(crate) fn operations(&mut self, server_paths: &[String]) -> Vec<Operation> {
        let set: &'a DocumentSet = self.set;
        let Some(root) = set.get(DocId::ROOT) else {
            return Vec::new();
        };
        let paths = match root.value.get("paths") {
            None => return Vec::new(),
            Some(Value::Object(paths)) => paths,
            Some(_) => {
                self.error(
                    DocId::ROOT,
                    "/paths",
                    "`paths` must be a mapping from path templates to path items",
                    "write `paths: {/pets: {get: …}}`",
                );
                return Vec::new();
            }
        };
        let mut built = Vec::new();
        for (path, item) in paths {
            if path.starts_with("x-") {
                continue;
            }
            self.path_item(path, item, &mut built);
        }
        self.check_unique_ids(&built);
        self.check_equivalent(&built, server_paths);
        built.into_iter().map(|b| b.operation).collect()
    }

    fn path_item(&mut self, path: &str, item: &'a Value, built: &mut Vec<Built>) {
        let item_pointer = pointer_of(["paths", path]);
        let template = match template::parse(path) {
            Ok(t) => t,
            Err(e) => {
                self.error_at_key(
                    DocId::ROOT,
                    &item_pointer,
                    format!("path `{path}` is not a valid template: {e}"),
                    e.hint(),
                );
                return;
            }
        };
        let param_count = template.param_names().count();
        if param_count > MAX_PATH_PARAMS {
            self.error_at_key(
                DocId::ROOT,
                &item_pointer,
                format!("path `{path}` has {param_count} parameters; moat supports at most {MAX_PATH_PARAMS}"),
                "split the resource into fewer templated segments",
            );
            return;
        }
        if template.has_inner_empty_segment() {
            self.warn(
                DocId::ROOT,
                &item_pointer,
                format!("path `{path}` has an empty segment (`//`), so no request can match it"),
                "remove the doubled `/`",
            );
        }
        let written = item;
        let Some((doc, pointer, item)) = self.resolve(DocId::ROOT, &item_pointer, item) else {
            return;
        };
        if ref_of(written).is_some()
            && let Some(local) = written.as_object()
        {
            let ignored: Vec<&str> = local
                .keys()
                .map(String::as_str)
                .filter(|k| !matches!(*k, "$ref" | "summary" | "description"))
                .collect();
            if !ignored.is_empty() {
                self.warn(
                    DocId::ROOT,
                    &item_pointer,
                    format!(
                        "path `{path}` is a `$ref`, so its own {} are ignored",
                        ignored
                            .iter()
                            .map(|k| format!("`{k}`"))
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                    "move them into the referenced path item",
                );
            }
        }
        let Some(fields) = item.as_object() else {
            self.error(
                doc,
                &pointer,
                format!("path item `{path}` must be a mapping"),
                format!("write `{path}: {{get: …}}`"),
            );
            return;
        };
        let shared_params = self.parameters(doc, &pointer, fields.get("parameters"));
        let mut servers_pointer = pointer.clone();
        push_pointer(&mut servers_pointer, "servers");
        let shared_servers = self.servers(doc, &servers_pointer, fields.get("servers"));
        for (key, value) in fields {
            let mut op_pointer = pointer.clone();
            push_pointer(&mut op_pointer, key);
            let Some(method) = Method::from_openapi_key(key) else {
                self.unknown_path_item_key(doc, &op_pointer, path, key);
                continue;
            };
            let context = ItemContext {
                path,
                template: &template,
                doc,
                shared_params: &shared_params,
                shared_servers: shared_servers.as_deref(),
            };
            if let Some(operation) = self.operation(&context, method, &op_pointer, value) {
                built.push(Built {
                    operation,
                    template: template.clone(),
                });
            }
        }
    }

    /// A key of a path item that is neither a method nor one of the item's
    /// own fields. A method in the wrong case (`GET:`) is an error: OpenAPI
    /// keys are case-sensitive, so the operation would silently not exist
    /// and every request to it would be refused. Anything else is a warning.
    fn unknown_path_item_key(&mut self, doc: DocId, pointer: &str, path: &str, key: &str) {
        const ITEM_FIELDS: [&str; 5] = ["$ref", "summary", "description", "servers", "parameters"];
        if ITEM_FIELDS.contains(&key) || key.starts_with("x-") {
            return;
        }
        let lower = key.to_ascii_lowercase();
        if let Some(method) = Method::from_openapi_key(&lower) {
            self.error_at_key(
                doc,
                pointer,
                format!(
                    "`{key}` under path `{path}` is not an operation: method keys are case-sensitive"
                ),
                format!("use lower case: {}", method.openapi_key()),
            );
            return;
        }
        let known = Method::ALL
            .into_iter()
            .map(Method::openapi_key)
            .chain(ITEM_FIELDS);
        let hint = match crate::suggest::suggest(key, known) {
            Some(close) => format!("did you mean `{close}`?"),
            None => {
                "a path item holds methods (get, put, post, delete, options, head, patch, trace), \
                     `summary`, `description`, `servers`, `parameters`, `$ref` and `x-` extensions"
                    .to_string()
            }
        };
        self.warn(
            doc,
            pointer,
            format!("unknown key `{key}` under path `{path}` is ignored"),
            hint,
        );
    }

    fn operation(
        &mut self,
        item: &ItemContext<'_>,
        method: Method,
        pointer: &str,
        value: &'a Value,
    ) -> Option<Operation> {
        let doc = item.doc;
        let Some(fields) = value.as_object() else {
            self.error(
                doc,
                pointer,
                format!(
                    "`{}` of `{}` must be an operation object",
                    method.openapi_key(),
                    item.path
                ),
                "write `responses: …` and the other operation fields under it",
            );
            return None;
        };
        let operation_id = match fields.get("operationId") {
            None => None,
            Some(Value::String(s)) => Some(s.clone()),
            Some(_) => {
                self.error(
                    doc,
                    &format!("{pointer}/operationId"),
                    "`operationId` must be a string",
                    "quote it",
                );
                None
            }
        };
        let own_params = self.parameters(doc, pointer, fields.get("parameters"));
        let parameters = merge(item.shared_params, own_params);
        self.check_path_params(item, method, pointer, &parameters);
        let mut servers_pointer = pointer.to_string();
        push_pointer(&mut servers_pointer, "servers");
        let server_paths = self
            .servers(doc, &servers_pointer, fields.get("servers"))
            .or_else(|| item.shared_servers.map(<[String]>::to_vec));
        let request_body = match fields.get("requestBody") {
            None => None,
            Some(body) => {
                let at = format!("{pointer}/requestBody");
                self.resolve(doc, &at, body)
                    .map(|(doc, pointer, value)| Resolved {
                        doc,
                        pointer,
                        value: value.clone(),
                    })
            }
        };
        let id = operation_id
            .clone()
            .unwrap_or_else(|| format!("{} {}", method.as_str(), item.path));
        Some(Operation {
            method,
            path_template: item.path.to_string(),
            operation_id,
            deprecated: fields
                .get("deprecated")
                .and_then(Value::as_bool)
                .unwrap_or(false),
            tags: fields
                .get("tags")
                .and_then(Value::as_array)
                .map(|tags| {
                    tags.iter()
                        .filter_map(Value::as_str)
                        .map(str::to_string)
                        .collect()
                })
                .unwrap_or_default(),
            doc,
            pointer: pointer.to_string(),
            parameters,
            security: fields.get("security").cloned(),
            policy: SecurityPolicy::default(),
            request_body,
            responses: fields.get("responses").cloned().unwrap_or(Value::Null),
            server_paths,
            id,
        })
    }

    /// The parameters listed under `owner/parameters`, resolved.
    fn parameters(&mut self, doc: DocId, owner: &str, list: Option<&'a Value>) -> Vec<Parameter> {
        let mut list_pointer = owner.to_string();
        push_pointer(&mut list_pointer, "parameters");
        let Some(list) = list else {
            return Vec::new();
        };
        let Some(items) = list.as_array() else {
            self.error(
                doc,
                &list_pointer,
                "`parameters` must be a list",
                "write `parameters: [{name: id, in: path, …}]`",
            );
            return Vec::new();
        };
        let mut out: Vec<Parameter> = Vec::new();
        for (i, item) in items.iter().enumerate() {
            let at = format!("{list_pointer}/{i}");
            let Some(parameter) = self.parameter(doc, &at, item) else {
                continue;
            };
            if out.iter().any(|p| same_parameter(p, &parameter)) {
                self.error(
                    parameter.doc,
                    &parameter.pointer,
                    format!(
                        "parameter `{}` in {} is listed twice",
                        parameter.name,
                        parameter.location.as_str()
                    ),
                    "remove one of them",
                );
                continue;
            }
            if parameter.location == ParameterLocation::Header
                && IGNORED_HEADERS.contains(&parameter.name.to_ascii_lowercase().as_str())
            {
                continue;
            }
            out.push(parameter);
        }
        out
    }

    fn parameter(&mut self, doc: DocId, pointer: &str, value: &'a Value) -> Option<Parameter> {
        let (doc, pointer, value) = self.resolve(doc, pointer, value)?;
        let Some(fields) = value.as_object() else {
            self.error(
                doc,
                &pointer,
                "a parameter must be a mapping",
                "write `{name: id, in: path, …}`",
            );
            return None;
        };
        let Some(name) = fields.get("name").and_then(Value::as_str) else {
            self.error(
                doc,
                &pointer,
                "this parameter has no string `name`",
                "add `name: …`",
            );
            return None;
        };
        let location = match fields.get("in") {
            Some(Value::String(s)) => match ParameterLocation::from_openapi(s) {
                Some(l) => l,
                None => {
                    let hint = match suggest(s, ["path", "query", "header", "cookie"]) {
                        Some(close) => format!("did you mean `{close}`?"),
                        None => "`in` is one of `path`, `query`, `header`, `cookie`".to_string(),
                    };
                    self.error(
                        doc,
                        &format!("{pointer}/in"),
                        format!("unknown parameter location `{s}`"),
                        hint,
                    );
                    return None;
                }
            },
            _ => {
                self.error(
                    doc,
                    &pointer,
                    format!("parameter `{name}` has no `in`"),
                    "add `in: path`, `query`, `header` or `cookie`",
                );
                return None;
            }
        };
        let required = fields
            .get("required")
            .and_then(Value::as_bool)
            .unwrap_or(false);
        if location == ParameterLocation::Path && !required {
            self.warn(
                doc,
                &pointer,
                format!("path parameter `{name}` is not marked `required: true`"),
                "path parameters are always required; add `required: true`",
            );
        }
        let schema = fields.get("schema").cloned().or_else(|| {
            fields
                .get("content")
                .and_then(Value::as_object)
                .and_then(|c| c.values().next())
                .and_then(|media| media.get("schema"))
                .cloned()
        });
        Some(Parameter {
            name: name.to_string(),
            location,
            required: required || location == ParameterLocation::Path,
            schema,
            doc,
            pointer,
        })
    }

    /// Every `{name}` in the template needs an `in: path` parameter; a path
    /// parameter with no `{name}` is harmless but a sign of a typo.
    fn check_path_params(
        &mut self,
        item: &ItemContext<'_>,
        method: Method,
        pointer: &str,
        params: &[Parameter],
    ) {
        let declared: Vec<&str> = params
            .iter()
            .filter(|p| p.location == ParameterLocation::Path)
            .map(|p| p.name.as_str())
            .collect();
        for name in item.template.param_names() {
            if declared.contains(&name) {
                continue;
            }
            let hint = match suggest(name, declared.iter().copied()) {
                Some(close) => format!(
                    "the declared path parameter `{close}` may be meant; names must match the template exactly"
                ),
                None => format!(
                    "declare it under `parameters` of the operation or the path item: `- {{name: {name}, in: path, required: true, schema: {{type: string}}}}`"
                ),
            };
            self.error_at_key(
                item.doc,
                pointer,
                format!("`{method} {}` has no path parameter `{name}`", item.path),
                hint,
            );
        }
        let in_template: Vec<&str> = item.template.param_names().collect();
        for p in params
            .iter()
            .filter(|p| p.location == ParameterLocation::Path)
        {
            if !in_template.contains(&p.name.as_str()) {
                self.warn(
                    p.doc,
                    &p.pointer,
                    format!(
                        "path parameter `{}` of `{method} {}` does not appear in the path",
                        p.name, item.path
                    ),
                    "remove it, or add `{…}` for it to the path",
                );
            }
        }
    }

    fn check_unique_ids(&mut self, built: &[Built]) {
        let mut seen: HashMap<&str, &Operation> = HashMap::new();
        for op in built.iter().map(|b| &b.operation) {
            let Some(id) = op.operation_id.as_deref() else {
                continue;
            };
            match seen.get(id) {
                None => {
                    seen.insert(id, op);
                }
                Some(first) => {
                    let hint = format!(
                        "the first is `{} {}`{}; every operationId must be unique",
                        first.method,
                        first.path_template,
                        self.location_of(first.doc, &format!("{}/operationId", first.pointer))
                    );
                    self.error(
                        op.doc,
                        &format!("{}/operationId", op.pointer),
                        format!("operationId `{id}` is used more than once"),
                        hint,
                    );
                }
            }
        }
    }

    /// Two operations with the same method whose templates (under some
    /// server path) match the same requests: `/a/{x}` and `/a/{y}`.
    fn check_equivalent(&mut self, built: &[Built], root_servers: &[String]) {
        let mut by_shape: HashMap<(Method, String), &Operation> = HashMap::new();
        let mut names_by_shape: HashMap<String, &Operation> = HashMap::new();
        for b in built {
            let op = &b.operation;
            let shape = b.template.shape();
            let servers = op.server_paths.as_deref().unwrap_or(root_servers);
            for server in servers {
                let key = (op.method, format!("{server}{shape}"));
                if let Some(first) = by_shape.get(&key) {
                    let same_template = first.path_template == op.path_template;
                    let message = if same_template {
                        format!(
                            "`{} {}` is described twice (once under server path `{server}`)",
                            op.method, op.path_template
                        )
                    } else {
                        format!(
                            "`{} {}` matches the same requests as `{} {}`",
                            op.method, op.path_template, first.method, first.path_template
                        )
                    };
                    let hint = format!(
                        "the other is{}; templates that differ only in parameter names or server paths are the same path, so keep one",
                        self.location_of(first.doc, &first.pointer)
                    );
                    self.error_at_key(op.doc, &op.pointer, message, hint);
                    break;
                }
                by_shape.insert(key, op);
            }
            match names_by_shape.get(&shape) {
                Some(first)
                    if first.path_template != op.path_template && first.method != op.method =>
                {
                    let message = format!(
                        "`{}` and `{}` are the same path with different parameter names",
                        op.path_template, first.path_template
                    );
                    self.warn(
                        op.doc,
                        &op.pointer,
                        message,
                        "use one template (and one set of names) for both",
                    );
                }
                Some(_) => {}
                None => {
                    names_by_shape.insert(shape, op);
                }
            }
        }
    }

    /// ` at file:line` for hints that point at another place.
    fn location_of(&self, doc: DocId, pointer: &str) -> String {
        let Some(d) = self.set.get(doc) else {
            return String::new();
        };
        match d.key_position(pointer) {
            Some(p) => format!(" at {}:{}:{}", d.path().display(), p.line, p.column),
            None => format!(" in {}", d.path().display()),
        }
    }
}

/// The path item being expanded into operations.
struct ItemContext<'c> {
    path: &'c str,
    template: &'c Template,
    doc: DocId,
    shared_params: &'c [Parameter],
    shared_servers: Option<&'c [String]>,
}

/// Same name and location; header names compare case-insensitively.
fn same_parameter(a: &Parameter, b: &Parameter) -> bool {
    a.location == b.location
        && if a.location == ParameterLocation::Header {
            a.name.eq_ignore_ascii_case(&b.name)
        } else {
            a.name == b.name
        }
}

/// Path-item parameters overridden by operation ones.
fn merge(shared: &[Parameter], own: Vec<Parameter>) -> Vec<Parameter> {
    let mut out: Vec<Parameter> = shared
        .iter()
        .filter(|s| !own.iter().any(|o| same_parameter(s, o)))
        .cloned()
        .collect();
    out.extend(own);
    out
}
