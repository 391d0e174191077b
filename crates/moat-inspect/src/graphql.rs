//! GraphQL request checks: shape limits (depth, aliases, root fields,
//! directives, cost, batch size, tokens), introspection, persisted-query
//! hashes, and the string values inspection looks at. Pure: no I/O.
//!
//! [`check`] takes a request body as received (`application/json`, a single
//! request object or a batch array, or `application/graphql`, a raw
//! document), parses every document with `apollo-parser` under a token and a
//! recursion limit, and measures the operation that would execute:
//!
//! - **depth**: the deepest chain of fields (fragment spreads and inline
//!   fragments add no level; their fields are counted where they are spread);
//! - **aliases**, **root fields**, **directives**: counted once per place
//!   they would execute, so a fragment spread twice counts twice;
//! - **cost**: each field adds its weight (from [`GraphqlLimits::field_weights`],
//!   by `Type.field` where the type is known, else by `field`, else 1), and a
//!   field with an integer `first`, `last` or `limit` argument (a literal, or
//!   a variable's value or default) multiplies the cost of its selection by
//!   that number: `users(first: 100) { id name }` costs `1 + 100 × 2`.
//!   Arithmetic saturates, so the cost is capped at `u64::MAX`. Without a
//!   schema the type of a field's selection is unknown: `Type.field` weights
//!   apply to root fields (`Query`, `Mutation`, `Subscription`) and inside
//!   fragments with a type condition.
//!
//! Named fragments are measured once each and memoised, so exponential
//! spreading costs linear time; a fragment that spreads itself, directly or
//! through others (used or not), is refused as `circular_fragment`. The
//! walk's own nesting (selection sets plus fragment spreads) is bounded by
//! [`GraphqlLimits::max_recursion`] and refused as `max_depth` beyond it.
//!
//! Introspection (`__schema`, `__type`; not `__typename`) is looked for in
//! the executed operation and the fragments it reaches; it is refused as
//! `introspection` unless allowed, and reported by
//! [`GraphqlRequest::uses_introspection`] when allowed, so the gateway can
//! decide per role.
//!
//! Documents the server would refuse anyway are refused as `syntax`: syntax
//! errors, type-system definitions, spreads of unknown fragments, duplicate
//! fragment names, an `operationName` that names no operation, several
//! operations without an `operationName`, and a JSON body that is not a
//! GraphQL-over-HTTP request.

use std::collections::HashMap;
use std::fmt;

use apollo_parser::cst::{self, CstNode};
use apollo_parser::{Parser, SyntaxTree};
use moat_request::json::push_pointer;
use serde_json::Value as Json;

use crate::engine::{Hints, Inspector};
use crate::report::{Location, Report, ValueKind};

/// Limits on GraphQL requests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GraphqlLimits {
    /// Deepest chain of fields (default 10).
    pub max_depth: usize,
    /// Most aliased fields per operation (default 15).
    pub max_aliases: usize,
    /// Most fields in an operation's top-level selection (default 10).
    pub max_root_fields: usize,
    /// Most directives per operation (default 10).
    pub max_directives: usize,
    /// Highest cost per operation (default 1000); see the module docs.
    pub max_cost: u64,
    /// Weights by `Type.field` or `field` (default weight 1).
    pub field_weights: HashMap<String, u32>,
    /// Most requests in a batch (default 5).
    pub max_operations_per_batch: usize,
    /// Most lexer tokens per document, whitespace and comments included
    /// (default 10 000).
    pub max_tokens: usize,
    /// The parser's recursion limit (nested selection sets, lists and
    /// objects; default 200).
    pub max_recursion: usize,
    /// Whether `__schema` and `__type` may be queried (default false).
    pub allow_introspection: bool,
}

impl Default for GraphqlLimits {
    fn default() -> Self {
        Self {
            max_depth: 10,
            max_aliases: 15,
            max_root_fields: 10,
            max_directives: 10,
            max_cost: 1000,
            field_weights: HashMap::new(),
            max_operations_per_batch: 5,
            max_tokens: 10_000,
            max_recursion: 200,
            allow_introspection: false,
        }
    }
}

/// Why a GraphQL request was refused. The [`Display`](fmt::Display) text
/// holds no data from the request beyond counts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GraphqlViolation {
    /// The media type is neither `application/json` nor
    /// `application/graphql`.
    MediaType,
    /// Not a well-formed GraphQL request (see the module docs).
    Syntax,
    /// A document has more tokens than the limit.
    MaxTokens {
        /// The limit.
        limit: usize,
    },
    /// Fields nest deeper than the limit. When the parser's recursion limit
    /// stopped parsing, `depth` is that limit (a lower bound).
    MaxDepth {
        /// The depth found.
        depth: u64,
        /// The limit.
        limit: usize,
    },
    /// Too many aliases.
    MaxAliases {
        /// The count found.
        count: u64,
        /// The limit.
        limit: usize,
    },
    /// Too many top-level fields.
    MaxRootFields {
        /// The count found.
        count: u64,
        /// The limit.
        limit: usize,
    },
    /// Too many directives.
    MaxDirectives {
        /// The count found.
        count: u64,
        /// The limit.
        limit: usize,
    },
    /// The cost is above the limit.
    MaxCost {
        /// The cost found (saturated).
        cost: u64,
        /// The limit.
        limit: u64,
    },
    /// A batch with too many requests.
    MaxOperations {
        /// The count found.
        count: usize,
        /// The limit.
        limit: usize,
    },
    /// `__schema` or `__type` is queried and introspection is not allowed.
    Introspection,
    /// A fragment spreads itself, directly or through other fragments.
    CircularFragment,
}

impl GraphqlViolation {
    /// The rule's name, for logs and metrics: `media_type`, `syntax`,
    /// `max_tokens`, `max_depth`, `max_aliases`, `max_root_fields`,
    /// `max_directives`, `max_cost`, `max_operations`, `introspection`,
    /// `circular_fragment`.
    pub const fn rule(&self) -> &'static str {
        match self {
            Self::MediaType => "media_type",
            Self::Syntax => "syntax",
            Self::MaxTokens { .. } => "max_tokens",
            Self::MaxDepth { .. } => "max_depth",
            Self::MaxAliases { .. } => "max_aliases",
            Self::MaxRootFields { .. } => "max_root_fields",
            Self::MaxDirectives { .. } => "max_directives",
            Self::MaxCost { .. } => "max_cost",
            Self::MaxOperations { .. } => "max_operations",
            Self::Introspection => "introspection",
            Self::CircularFragment => "circular_fragment",
        }
    }
}

impl fmt::Display for GraphqlViolation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::MediaType => f.write_str("unsupported GraphQL media type"),
            Self::Syntax => f.write_str("malformed GraphQL request"),
            Self::MaxTokens { limit } => write!(f, "GraphQL document exceeds {limit} tokens"),
            Self::MaxDepth { depth, limit } => {
                write!(f, "GraphQL query depth {depth} exceeds {limit}")
            }
            Self::MaxAliases { count, limit } => {
                write!(f, "GraphQL query has {count} aliases, more than {limit}")
            }
            Self::MaxRootFields { count, limit } => {
                write!(
                    f,
                    "GraphQL query has {count} root fields, more than {limit}"
                )
            }
            Self::MaxDirectives { count, limit } => {
                write!(f, "GraphQL query has {count} directives, more than {limit}")
            }
            Self::MaxCost { cost, limit } => write!(f, "GraphQL query cost {cost} exceeds {limit}"),
            Self::MaxOperations { count, limit } => {
                write!(f, "GraphQL batch of {count} operations exceeds {limit}")
            }
            Self::Introspection => f.write_str("GraphQL introspection is not allowed"),
            Self::CircularFragment => f.write_str("GraphQL fragments spread each other in a cycle"),
        }
    }
}

impl std::error::Error for GraphqlViolation {}

/// The kind of an operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OperationKind {
    /// `query` (or the `{ … }` shorthand).
    Query,
    /// `mutation`.
    Mutation,
    /// `subscription`.
    Subscription,
}

impl OperationKind {
    /// The root type's conventional name (`Query`, `Mutation`,
    /// `Subscription`), used for `Type.field` weights.
    pub const fn root_type(self) -> &'static str {
        match self {
            Self::Query => "Query",
            Self::Mutation => "Mutation",
            Self::Subscription => "Subscription",
        }
    }
}

/// One request of a (possibly batched) GraphQL request, with its measures.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GraphqlOperation {
    /// `operationName`, or the name of the operation that executes.
    pub name: Option<String>,
    /// The kind of the operation that executes; `None` when there is no
    /// document (an APQ hash alone).
    pub kind: Option<OperationKind>,
    /// SHA-256 (lower-case hex) of the query text as received, when there
    /// is one: compare with an allow-list of persisted queries.
    pub query_hash: Option<String>,
    /// `extensions.persistedQuery.sha256Hash` (Apollo APQ), lower-cased,
    /// when present.
    pub persisted_hash: Option<String>,
    /// Deepest chain of fields.
    pub depth: u64,
    /// Aliased fields.
    pub aliases: u64,
    /// Top-level fields.
    pub root_fields: u64,
    /// Directives.
    pub directives: u64,
    /// Cost (saturated).
    pub cost: u64,
    /// Whether `__schema` or `__type` is queried.
    pub uses_introspection: bool,
}

impl GraphqlOperation {
    /// Whether both hashes are present and differ (a server would refuse
    /// the request; a gateway should too).
    pub fn hash_mismatch(&self) -> bool {
        matches!((&self.query_hash, &self.persisted_hash), (Some(q), Some(p)) if q != p)
    }
}

/// A GraphQL request that passed the checks.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GraphqlRequest {
    operations: Vec<GraphqlOperation>,
    batch: bool,
    values: Vec<(Location, String)>,
    /// The object keys inside `variables`: a free-form variable (a `JSON`
    /// scalar filter) can carry operator keys (`{"$ne": null}`).
    variable_keys: Vec<(Location, String)>,
}

impl GraphqlRequest {
    /// The requests, one unless batched.
    pub fn operations(&self) -> &[GraphqlOperation] {
        &self.operations
    }

    /// Whether the body was a batch array.
    pub fn is_batch(&self) -> bool {
        self.batch
    }

    /// Whether any operation queries `__schema` or `__type` (only ever true
    /// when [`GraphqlLimits::allow_introspection`] is set).
    pub fn uses_introspection(&self) -> bool {
        self.operations.iter().any(|o| o.uses_introspection)
    }

    /// Every string argument literal (nested in lists and objects too,
    /// directive arguments and variable defaults included) and every string
    /// in `variables`, with its place: `graphql:GetUser/user/posts.filter/tag`,
    /// `graphql:...FragmentName/field.arg`, `graphql:GetUser/$var` (a
    /// default), `variables:/filter/tag`; in a batch the request's index
    /// comes first (`graphql:1/GetUser/…`, `variables:/1/…`).
    pub fn values(&self) -> impl Iterator<Item = (&Location, &str)> {
        self.values.iter().map(|(l, v)| (l, v.as_str()))
    }

    /// Inspects every [value](Self::values) as a
    /// [`ValueKind::GraphqlArgument`], and every object key inside
    /// `variables` as a [`ValueKind::JsonKey`].
    pub fn inspect(&self, inspector: &Inspector, report: &mut Report) {
        let hints = Hints::default();
        for (location, value) in self.values() {
            inspector.inspect_value(location, value, ValueKind::GraphqlArgument, &hints, report);
        }
        for (location, key) in &self.variable_keys {
            inspector.inspect_value(location, key, ValueKind::JsonKey, &hints, report);
        }
    }
}

/// SHA-256 of `query` in lower-case hex, as Apollo's automatic persisted
/// queries compute `extensions.persistedQuery.sha256Hash`.
pub fn query_hash(query: &str) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA256, query.as_bytes());
    let mut out = String::with_capacity(64);
    for b in digest.as_ref() {
        out.push(char::from(HEX[usize::from(b >> 4)]));
        out.push(char::from(HEX[usize::from(b & 0xf)]));
    }
    out
}

const HEX: &[u8; 16] = b"0123456789abcdef";

/// Deepest JSON nesting walked in `variables` (serde_json refuses deeper
/// documents anyway).
const MAX_JSON_DEPTH: usize = 128;

/// Checks a GraphQL request body. `content_type` may carry parameters
/// (`application/json; charset=utf-8`).
pub fn check(
    body: &[u8],
    content_type: &str,
    limits: &GraphqlLimits,
) -> Result<GraphqlRequest, GraphqlViolation> {
    let media = content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    let mut request = GraphqlRequest::default();
    match media.as_str() {
        "application/graphql" => {
            let query = std::str::from_utf8(body).map_err(|_| GraphqlViolation::Syntax)?;
            let entry = Entry {
                query: Some(query),
                ..Entry::default()
            };
            let op = check_entry(&entry, limits, "", &mut request)?;
            request.operations.push(op);
        }
        "application/json" => {
            let json: Json = serde_json::from_slice(body).map_err(|_| GraphqlViolation::Syntax)?;
            return check_json(&json, limits);
        }
        _ => return Err(GraphqlViolation::MediaType),
    }
    Ok(request)
}

/// Checks a GraphQL-over-HTTP JSON request (one request object, or a
/// batch) that is already parsed: the gateway parses a JSON body once, for
/// every control that reads it.
pub fn check_json(json: &Json, limits: &GraphqlLimits) -> Result<GraphqlRequest, GraphqlViolation> {
    let mut request = GraphqlRequest::default();
    match json {
        Json::Array(items) => {
            if items.is_empty() {
                return Err(GraphqlViolation::Syntax);
            }
            if items.len() > limits.max_operations_per_batch {
                return Err(GraphqlViolation::MaxOperations {
                    count: items.len(),
                    limit: limits.max_operations_per_batch,
                });
            }
            request.batch = true;
            for (i, item) in items.iter().enumerate() {
                let entry = Entry::from_json(item)?;
                let prefix = format!("{i}/");
                let op = check_entry(&entry, limits, &prefix, &mut request)?;
                request.operations.push(op);
            }
        }
        item => {
            let entry = Entry::from_json(item)?;
            let op = check_entry(&entry, limits, "", &mut request)?;
            request.operations.push(op);
        }
    }
    Ok(request)
}

/// One GraphQL-over-HTTP request object.
#[derive(Default)]
struct Entry<'a> {
    query: Option<&'a str>,
    operation_name: Option<&'a str>,
    variables: Option<&'a serde_json::Map<String, Json>>,
    persisted_hash: Option<&'a str>,
}

impl<'a> Entry<'a> {
    fn from_json(value: &'a Json) -> Result<Self, GraphqlViolation> {
        let Json::Object(map) = value else {
            return Err(GraphqlViolation::Syntax);
        };
        let query = match map.get("query") {
            None | Some(Json::Null) => None,
            Some(Json::String(s)) => Some(s.as_str()),
            Some(_) => return Err(GraphqlViolation::Syntax),
        };
        let operation_name = match map.get("operationName") {
            None | Some(Json::Null) => None,
            Some(Json::String(s)) => Some(s.as_str()),
            Some(_) => return Err(GraphqlViolation::Syntax),
        };
        let variables = match map.get("variables") {
            None | Some(Json::Null) => None,
            Some(Json::Object(v)) => Some(v),
            Some(_) => return Err(GraphqlViolation::Syntax),
        };
        let persisted_hash = match map.get("extensions") {
            None | Some(Json::Null) => None,
            Some(Json::Object(ext)) => match ext.get("persistedQuery") {
                None | Some(Json::Null) => None,
                Some(Json::Object(pq)) => match pq.get("sha256Hash") {
                    Some(Json::String(h)) => Some(h.as_str()),
                    _ => return Err(GraphqlViolation::Syntax),
                },
                Some(_) => return Err(GraphqlViolation::Syntax),
            },
            Some(_) => return Err(GraphqlViolation::Syntax),
        };
        if query.is_none() && persisted_hash.is_none() {
            return Err(GraphqlViolation::Syntax);
        }
        Ok(Self {
            query,
            operation_name,
            variables,
            persisted_hash,
        })
    }
}

fn check_entry(
    entry: &Entry<'_>,
    limits: &GraphqlLimits,
    prefix: &str,
    request: &mut GraphqlRequest,
) -> Result<GraphqlOperation, GraphqlViolation> {
    let GraphqlRequest {
        values,
        variable_keys,
        ..
    } = request;
    let mut op = GraphqlOperation {
        name: entry.operation_name.map(str::to_string),
        persisted_hash: entry.persisted_hash.map(str::to_ascii_lowercase),
        ..GraphqlOperation::default()
    };
    if let Some(vars) = entry.variables {
        let mut pointer = format!("/{}", prefix.trim_end_matches('/'));
        if prefix.is_empty() {
            pointer.clear();
        }
        for (k, v) in vars {
            let len = pointer.len();
            push_pointer(&mut pointer, k);
            json_strings(v, &mut pointer, values, variable_keys, 0);
            pointer.truncate(len);
        }
    }
    let Some(query) = entry.query else {
        return Ok(op);
    };
    op.query_hash = Some(query_hash(query));

    let tree = Parser::new(query)
        .token_limit(limits.max_tokens)
        .recursion_limit(limits.max_recursion)
        .parse();
    parse_errors(&tree, limits)?;
    let document = tree.document();

    // Collect definitions.
    let mut operations = Vec::new();
    let mut fragments: HashMap<String, cst::FragmentDefinition> = HashMap::new();
    for definition in document.definitions() {
        match definition {
            cst::Definition::OperationDefinition(o) => operations.push(o),
            cst::Definition::FragmentDefinition(f) => {
                let name = f
                    .fragment_name()
                    .and_then(|n| n.name())
                    .ok_or(GraphqlViolation::Syntax)?;
                if fragments.insert(name.text().to_string(), f).is_some() {
                    return Err(GraphqlViolation::Syntax);
                }
            }
            _ => return Err(GraphqlViolation::Syntax),
        }
    }
    let selected = match entry.operation_name {
        Some(wanted) => operations
            .iter()
            .find(|o| o.name().is_some_and(|n| n.text().as_str() == wanted)),
        None if operations.len() == 1 => operations.first(),
        None => None,
    }
    .ok_or(GraphqlViolation::Syntax)?;

    // String literals, everywhere in the document.
    for o in &operations {
        let name = o
            .name()
            .map_or_else(|| "anonymous".to_string(), |n| n.text().to_string());
        let mut path = format!("{prefix}{name}");
        if let Some(defs) = o.variable_definitions() {
            for d in defs.variable_definitions() {
                let var = d.variable().and_then(|v| v.name());
                if let (Some(var), Some(value)) = (var, d.default_value().and_then(|v| v.value())) {
                    let loc = format!("{path}/${}", var.text());
                    literal_strings(&value, loc, values);
                }
                directive_strings(d.directives(), &path, values);
            }
        }
        directive_strings(o.directives(), &path, values);
        if let Some(set) = o.selection_set() {
            selection_strings(&set, &mut path, values);
        }
    }
    for (name, f) in &fragments {
        let mut path = format!("{prefix}...{name}");
        directive_strings(f.directives(), &path, values);
        if let Some(set) = f.selection_set() {
            selection_strings(&set, &mut path, values);
        }
    }

    // Measures.
    let kind = match selected.operation_type() {
        Some(t) if t.mutation_token().is_some() => OperationKind::Mutation,
        Some(t) if t.subscription_token().is_some() => OperationKind::Subscription,
        _ => OperationKind::Query,
    };
    op.kind = Some(kind);
    if op.name.is_none() {
        op.name = selected.name().map(|n| n.text().to_string());
    }
    let mut defaults = HashMap::new();
    for o in &operations {
        if let Some(defs) = o.variable_definitions() {
            for d in defs.variable_definitions() {
                let var = d.variable().and_then(|v| v.name());
                let value = d.default_value().and_then(|v| v.value());
                if let (Some(var), Some(cst::Value::IntValue(i))) = (var, value) {
                    defaults.insert(var.text().to_string(), int_literal(&i));
                }
            }
        }
    }
    let mut measure = Measure {
        limits,
        fragments: &fragments,
        memo: HashMap::new(),
        variables: entry.variables,
        defaults,
    };
    // Every fragment, so that cycles in unused fragments are found too.
    for f in fragments.values() {
        measure.fragment(f, 0)?;
    }
    let mut summary = match selected.selection_set() {
        Some(set) => measure.selection_set(&set, Some(kind.root_type()), 0)?,
        None => return Err(GraphqlViolation::Syntax),
    };
    summary.directives = summary
        .directives
        .saturating_add(count_directives(selected.directives()));
    if let Some(defs) = selected.variable_definitions() {
        for d in defs.variable_definitions() {
            summary.directives = summary
                .directives
                .saturating_add(count_directives(d.directives()));
        }
    }
    op.depth = summary.depth;
    op.aliases = summary.aliases;
    op.root_fields = summary.fields;
    op.directives = summary.directives;
    op.cost = summary.cost;
    op.uses_introspection = summary.introspection;

    if summary.depth > limits.max_depth as u64 {
        return Err(GraphqlViolation::MaxDepth {
            depth: summary.depth,
            limit: limits.max_depth,
        });
    }
    if summary.aliases > limits.max_aliases as u64 {
        return Err(GraphqlViolation::MaxAliases {
            count: summary.aliases,
            limit: limits.max_aliases,
        });
    }
    if summary.fields > limits.max_root_fields as u64 {
        return Err(GraphqlViolation::MaxRootFields {
            count: summary.fields,
            limit: limits.max_root_fields,
        });
    }
    if summary.directives > limits.max_directives as u64 {
        return Err(GraphqlViolation::MaxDirectives {
            count: summary.directives,
            limit: limits.max_directives,
        });
    }
    if summary.cost > limits.max_cost {
        return Err(GraphqlViolation::MaxCost {
            cost: summary.cost,
            limit: limits.max_cost,
        });
    }
    if summary.introspection && !limits.allow_introspection {
        return Err(GraphqlViolation::Introspection);
    }
    Ok(op)
}

/// Maps the parser's errors: a limit first (tokens, recursion), then any
/// syntax error.
fn parse_errors(
    tree: &SyntaxTree<cst::Document>,
    limits: &GraphqlLimits,
) -> Result<(), GraphqlViolation> {
    let mut syntax = false;
    for e in tree.errors() {
        if e.is_limit() {
            return Err(if e.message().contains("token") {
                GraphqlViolation::MaxTokens {
                    limit: limits.max_tokens,
                }
            } else {
                GraphqlViolation::MaxDepth {
                    depth: limits.max_recursion as u64,
                    limit: limits.max_depth,
                }
            });
        }
        syntax = true;
    }
    if syntax {
        Err(GraphqlViolation::Syntax)
    } else {
        Ok(())
    }
}

/// What a selection set adds up to.
#[derive(Debug, Clone, Copy, Default)]
struct Summary {
    depth: u64,
    aliases: u64,
    /// Fields at this level (fragments expanded): the root fields of an
    /// operation.
    fields: u64,
    directives: u64,
    cost: u64,
    introspection: bool,
}

impl Summary {
    /// Adds a fragment's (or inline fragment's) summary at this level.
    fn absorb(&mut self, other: &Self) {
        self.depth = self.depth.max(other.depth);
        self.aliases = self.aliases.saturating_add(other.aliases);
        self.fields = self.fields.saturating_add(other.fields);
        self.directives = self.directives.saturating_add(other.directives);
        self.cost = self.cost.saturating_add(other.cost);
        self.introspection |= other.introspection;
    }
}

enum FragmentState {
    InProgress,
    Done(Summary),
}

struct Measure<'a> {
    limits: &'a GraphqlLimits,
    fragments: &'a HashMap<String, cst::FragmentDefinition>,
    memo: HashMap<String, FragmentState>,
    variables: Option<&'a serde_json::Map<String, Json>>,
    defaults: HashMap<String, u64>,
}

impl Measure<'_> {
    fn guard(&self, level: usize) -> Result<(), GraphqlViolation> {
        if level > self.limits.max_recursion {
            Err(GraphqlViolation::MaxDepth {
                depth: self.limits.max_recursion as u64,
                limit: self.limits.max_depth,
            })
        } else {
            Ok(())
        }
    }

    fn fragment(
        &mut self,
        f: &cst::FragmentDefinition,
        level: usize,
    ) -> Result<Summary, GraphqlViolation> {
        let name = f
            .fragment_name()
            .and_then(|n| n.name())
            .ok_or(GraphqlViolation::Syntax)?
            .text()
            .to_string();
        match self.memo.get(&name) {
            Some(FragmentState::Done(s)) => return Ok(*s),
            Some(FragmentState::InProgress) => return Err(GraphqlViolation::CircularFragment),
            None => {}
        }
        self.guard(level)?;
        self.memo.insert(name.clone(), FragmentState::InProgress);
        let ty = type_condition(f.type_condition());
        let mut s = match f.selection_set() {
            Some(set) => self.selection_set(&set, ty.as_deref(), level + 1)?,
            None => return Err(GraphqlViolation::Syntax),
        };
        s.directives = s
            .directives
            .saturating_add(count_directives(f.directives()));
        self.memo.insert(name, FragmentState::Done(s));
        Ok(s)
    }

    fn selection_set(
        &mut self,
        set: &cst::SelectionSet,
        parent_type: Option<&str>,
        level: usize,
    ) -> Result<Summary, GraphqlViolation> {
        self.guard(level)?;
        let mut s = Summary::default();
        for selection in set.selections() {
            match selection {
                cst::Selection::Field(field) => {
                    let name = field.name().ok_or(GraphqlViolation::Syntax)?;
                    let name = name.text();
                    let name = name.as_str();
                    s.fields = s.fields.saturating_add(1);
                    if field.alias().is_some() {
                        s.aliases = s.aliases.saturating_add(1);
                    }
                    if name == "__schema" || name == "__type" {
                        s.introspection = true;
                    }
                    s.directives = s
                        .directives
                        .saturating_add(count_directives(field.directives()));
                    let weight = u64::from(self.weight(parent_type, name));
                    let mut field_cost = weight;
                    let mut depth = 1;
                    if let Some(sub) = field.selection_set() {
                        let child = self.selection_set(&sub, None, level + 1)?;
                        depth = child.depth.saturating_add(1);
                        s.aliases = s.aliases.saturating_add(child.aliases);
                        s.directives = s.directives.saturating_add(child.directives);
                        s.introspection |= child.introspection;
                        let m = self.multiplier(field.arguments());
                        field_cost = field_cost.saturating_add(m.saturating_mul(child.cost));
                    }
                    s.depth = s.depth.max(depth);
                    s.cost = s.cost.saturating_add(field_cost);
                }
                cst::Selection::FragmentSpread(spread) => {
                    let name = spread
                        .fragment_name()
                        .and_then(|n| n.name())
                        .ok_or(GraphqlViolation::Syntax)?;
                    let f = self
                        .fragments
                        .get(name.text().as_str())
                        .ok_or(GraphqlViolation::Syntax)?;
                    let child = self.fragment(f, level + 1)?;
                    s.absorb(&child);
                    s.directives = s
                        .directives
                        .saturating_add(count_directives(spread.directives()));
                }
                cst::Selection::InlineFragment(inline) => {
                    let ty = type_condition(inline.type_condition());
                    let ty = ty.as_deref().or(parent_type);
                    if let Some(sub) = inline.selection_set() {
                        let child = self.selection_set(&sub, ty, level + 1)?;
                        s.absorb(&child);
                    }
                    s.directives = s
                        .directives
                        .saturating_add(count_directives(inline.directives()));
                }
            }
        }
        Ok(s)
    }

    fn weight(&self, parent_type: Option<&str>, field: &str) -> u32 {
        let weights = &self.limits.field_weights;
        if weights.is_empty() {
            return 1;
        }
        if let Some(t) = parent_type
            && let Some(w) = weights.get(&format!("{t}.{field}"))
        {
            return *w;
        }
        weights.get(field).copied().unwrap_or(1)
    }

    /// The list size a field asks for: the largest integer `first`, `last`
    /// or `limit` argument, else 1.
    fn multiplier(&self, arguments: Option<cst::Arguments>) -> u64 {
        let Some(arguments) = arguments else {
            return 1;
        };
        let mut found: Option<u64> = None;
        for a in arguments.arguments() {
            let Some(name) = a.name() else { continue };
            if !matches!(name.text().as_str(), "first" | "last" | "limit") {
                continue;
            }
            let n = match a.value() {
                Some(cst::Value::IntValue(i)) => Some(int_literal(&i)),
                Some(cst::Value::Variable(v)) => v.name().and_then(|n| {
                    let key = n.text();
                    match self.variables.and_then(|vars| vars.get(key.as_str())) {
                        Some(Json::Number(num)) => num
                            .as_u64()
                            .or_else(|| num.as_i64().map(|_| 0))
                            .or_else(|| num.as_f64().map(|f| f.max(0.0) as u64)),
                        Some(_) => None,
                        None => self.defaults.get(key.as_str()).copied(),
                    }
                }),
                _ => None,
            };
            if let Some(n) = n {
                found = Some(found.map_or(n, |f| f.max(n)));
            }
        }
        found.unwrap_or(1)
    }
}

/// An integer literal's value, saturated; negative numbers are 0.
fn int_literal(i: &cst::IntValue) -> u64 {
    let text = i.syntax().text().to_string();
    let text = text.trim();
    if text.starts_with('-') {
        return 0;
    }
    text.bytes()
        .filter(u8::is_ascii_digit)
        .fold(0u64, |acc, d| {
            acc.saturating_mul(10).saturating_add(u64::from(d - b'0'))
        })
}

fn type_condition(tc: Option<cst::TypeCondition>) -> Option<String> {
    tc.and_then(|t| t.named_type())
        .and_then(|n| n.name())
        .map(|n| n.text().to_string())
}

fn count_directives(d: Option<cst::Directives>) -> u64 {
    d.map_or(0, |d| d.directives().count() as u64)
}

/// Collects the string literals of a selection set; `path` is the place
/// of the set (`op/field/field`).
fn selection_strings(
    set: &cst::SelectionSet,
    path: &mut String,
    out: &mut Vec<(Location, String)>,
) {
    for selection in set.selections() {
        match selection {
            cst::Selection::Field(field) => {
                let len = path.len();
                path.push('/');
                if let Some(n) = field.name() {
                    path.push_str(n.text().as_str());
                }
                if let Some(args) = field.arguments() {
                    argument_strings(&args, path, out);
                }
                directive_strings(field.directives(), path, out);
                if let Some(sub) = field.selection_set() {
                    selection_strings(&sub, path, out);
                }
                path.truncate(len);
            }
            cst::Selection::FragmentSpread(spread) => {
                directive_strings(spread.directives(), path, out);
            }
            cst::Selection::InlineFragment(inline) => {
                directive_strings(inline.directives(), path, out);
                if let Some(sub) = inline.selection_set() {
                    selection_strings(&sub, path, out);
                }
            }
        }
    }
}

fn argument_strings(args: &cst::Arguments, path: &str, out: &mut Vec<(Location, String)>) {
    for a in args.arguments() {
        let (Some(name), Some(value)) = (a.name(), a.value()) else {
            continue;
        };
        literal_strings(&value, format!("{path}.{}", name.text()), out);
    }
}

fn directive_strings(d: Option<cst::Directives>, path: &str, out: &mut Vec<(Location, String)>) {
    let Some(d) = d else { return };
    for directive in d.directives() {
        if let Some(args) = directive.arguments() {
            let name = directive
                .name()
                .map(|n| n.text().to_string())
                .unwrap_or_default();
            argument_strings(&args, &format!("{path}@{name}"), out);
        }
    }
}

/// Collects the strings of a literal (`"a"`, `["a"]`, `{k: "a"}`).
fn literal_strings(value: &cst::Value, mut location: String, out: &mut Vec<(Location, String)>) {
    match value {
        cst::Value::StringValue(s) => {
            out.push((Location::new("graphql", location), string_literal(s)))
        }
        cst::Value::ListValue(list) => {
            for (i, v) in list.values().enumerate() {
                let len = location.len();
                location.push('/');
                location.push_str(&i.to_string());
                literal_strings(&v, location.clone(), out);
                location.truncate(len);
            }
        }
        cst::Value::ObjectValue(obj) => {
            for field in obj.object_fields() {
                let (Some(name), Some(v)) = (field.name(), field.value()) else {
                    continue;
                };
                let len = location.len();
                push_pointer(&mut location, name.text().as_str());
                literal_strings(&v, location.clone(), out);
                location.truncate(len);
            }
        }
        _ => {}
    }
}

/// The value of a string literal: escapes decoded for `"…"`, the raw
/// content for block strings `"""…"""` (inspection normalises further).
/// Never panics: an escape that does not decode is kept as written.
fn string_literal(s: &cst::StringValue) -> String {
    let raw = s.syntax().text().to_string();
    let raw = raw.trim();
    if let Some(block) = raw
        .strip_prefix("\"\"\"")
        .and_then(|r| r.strip_suffix("\"\"\""))
    {
        return block.replace("\\\"\"\"", "\"\"\"");
    }
    let inner = raw
        .strip_prefix('"')
        .and_then(|r| r.strip_suffix('"'))
        .unwrap_or(raw);
    unescape_graphql(inner)
}

fn unescape_graphql(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('"') => out.push('"'),
            Some('\\') => out.push('\\'),
            Some('/') => out.push('/'),
            Some('b') => out.push('\u{8}'),
            Some('f') => out.push('\u{c}'),
            Some('n') => out.push('\n'),
            Some('r') => out.push('\r'),
            Some('t') => out.push('\t'),
            Some('u') => {
                let code = if chars.peek() == Some(&'{') {
                    chars.next();
                    let mut v: u32 = 0;
                    let mut ok = false;
                    for c in chars.by_ref() {
                        if c == '}' {
                            ok = true;
                            break;
                        }
                        v = v
                            .saturating_mul(16)
                            .saturating_add(c.to_digit(16).unwrap_or(0));
                    }
                    if ok { Some(v) } else { None }
                } else {
                    hex4(&mut chars).map(|v| {
                        if (0xD800..0xDC00).contains(&v) {
                            let mut look = chars.clone();
                            if look.next() == Some('\\')
                                && look.next() == Some('u')
                                && let Some(t) = hex4(&mut look)
                                && (0xDC00..0xE000).contains(&t)
                            {
                                chars = look;
                                return (v - 0xD800) * 0x400 + (t - 0xDC00) + 0x10000;
                            }
                        }
                        v
                    })
                };
                out.push(code.and_then(char::from_u32).unwrap_or('\u{fffd}'));
            }
            Some(other) => {
                out.push('\\');
                out.push(other);
            }
            None => out.push('\\'),
        }
    }
    out
}

fn hex4(chars: &mut std::iter::Peekable<std::str::Chars<'_>>) -> Option<u32> {
    let mut v = 0;
    for _ in 0..4 {
        v = v * 16 + chars.next()?.to_digit(16)?;
    }
    Some(v)
}

/// Collects the strings of a `variables` value, and its object keys.
fn json_strings(
    value: &Json,
    pointer: &mut String,
    out: &mut Vec<(Location, String)>,
    keys: &mut Vec<(Location, String)>,
    depth: usize,
) {
    if depth > MAX_JSON_DEPTH {
        return;
    }
    match value {
        Json::String(s) => out.push((Location::new("variables", pointer.clone()), s.clone())),
        Json::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                let len = pointer.len();
                pointer.push('/');
                pointer.push_str(&i.to_string());
                json_strings(item, pointer, out, keys, depth + 1);
                pointer.truncate(len);
            }
        }
        Json::Object(map) => {
            for (k, v) in map {
                let len = pointer.len();
                push_pointer(pointer, k);
                keys.push((Location::new("variables", pointer.clone()), k.clone()));
                json_strings(v, pointer, out, keys, depth + 1);
                pointer.truncate(len);
            }
        }
        _ => {}
    }
}

/// Removes field-name suggestions (`Did you mean "user"?`, `Did you mean
/// "a" or "b"?`, `Did you mean "a", "b", or "c"?`, `Did you mean to use an
/// inline fragment on "T"?`) from the `errors[].message` strings of a
/// GraphQL JSON response (or a batch of responses), so that a schema with
/// introspection disabled cannot be recovered by guessing. `None` when the
/// body is not JSON or nothing changed.
pub fn mask_suggestions(body: &[u8]) -> Option<Vec<u8>> {
    let mut json: Json = serde_json::from_slice(body).ok()?;
    if mask_suggestions_in(&mut json) {
        serde_json::to_vec(&json).ok()
    } else {
        None
    }
}

/// [`mask_suggestions`] on an answer already parsed; whether anything
/// changed.
pub fn mask_suggestions_in(json: &mut Json) -> bool {
    match json {
        Json::Array(items) => {
            let mut changed = false;
            for item in items {
                changed |= mask_response(item);
            }
            changed
        }
        other => mask_response(other),
    }
}

fn mask_response(response: &mut Json) -> bool {
    let Some(Json::Array(errors)) = response.get_mut("errors") else {
        return false;
    };
    let mut changed = false;
    for e in errors {
        if let Some(Json::String(message)) = e.get_mut("message")
            && let Some(masked) = strip_suggestion(message)
        {
            *message = masked;
            changed = true;
        }
    }
    changed
}

/// The message without its `Did you mean …?` sentences, or `None`.
fn strip_suggestion(message: &str) -> Option<String> {
    const NEEDLE: &str = "did you mean";
    let lower = message.to_ascii_lowercase();
    if !lower.contains(NEEDLE) {
        return None;
    }
    let mut out = String::with_capacity(message.len());
    let mut rest = 0;
    while let Some(found) = lower[rest..].find(NEEDLE) {
        let start = rest + found;
        out.push_str(&message[rest..start]);
        // The sentence ends at the first `?` outside quotes, else at the end.
        let mut end = message.len();
        let mut quoted = false;
        for (i, c) in message[start..].char_indices() {
            match c {
                '"' => quoted = !quoted,
                '?' if !quoted => {
                    end = start + i + 1;
                    break;
                }
                _ => {}
            }
        }
        rest = end;
    }
    out.push_str(&message[rest..]);
    let trimmed = out.trim_end();
    Some(trimmed.to_string())
}

#[cfg(test)]
mod tests;
