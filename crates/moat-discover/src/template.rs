//! Operations and their path templates, recovered from observed paths.
//!
//! Paths are put in a trie of segments. At each position the children are
//! split into identifiers and words ([`SegmentKind`]). Identifiers (numbers,
//! UUIDs, hex and ObjectId-like ids, dates, emails, free text) are always a
//! parameter. Words (`v1`, `login`, `alice`, `my-first-post`) are a
//! parameter only when many siblings of one shape (the same word children
//! below them) are each seen rarely: usernames and slugs are many and
//! sparse, resource names are few and requested often. Within such a group
//! a word that is requested far more often than its siblings, or that is a
//! route name APIs use (`me`, `search`, `login`, …), stays a literal: it is
//! its own operation (`/users/me` beside `/users/{user}`). The children
//! that become one parameter are merged, subtrees and methods, and the
//! walk goes on below.

use std::collections::{BTreeMap, BTreeSet};

use moat_request::{CanonicalPath, PathError};

use crate::segment::SegmentKind;

/// Distinct sibling words needed before they may be one parameter.
const MIN_SIBLINGS: usize = 4;

/// Distinct values per request, at least, for a group of sibling words to
/// be one parameter (values that come back again and again are routes).
const MIN_SPREAD: f64 = 0.3;

/// Distinct values that make a parameter whatever their spread.
const MANY: usize = 12;

/// A word requested this many times its group's median (and at least
/// [`STANDOUT_MIN`] times) stays a literal.
const STANDOUT_FACTOR: u64 = 4;
const STANDOUT_MIN: u64 = 5;

/// Words APIs use as route names beside an identifier parameter.
const ROUTE_WORDS: &[&str] = &[
    "me", "self", "current", "mine", "search", "find", "query", "login", "logout", "signin",
    "signout", "register", "signup", "new", "create", "count", "all", "bulk", "batch", "export",
    "import", "latest", "recent", "popular", "stats", "summary", "settings", "config", "health",
    "status", "version", "info", "admin", "debug", "_debug", "api", "auth", "token", "refresh",
    "upload", "download", "default", "public", "private",
];

/// One part of a path template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Part {
    /// A segment taken as it is.
    Literal(String),
    /// A parameter: its name and what its values looked like.
    Param {
        /// The parameter's name (`bookId`, `user`).
        name: String,
        /// The most specific kind all its values share (`Text` when they
        /// differ).
        kind: SegmentKind,
    },
}

/// An operation found in the traffic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiscoveredOperation {
    /// The HTTP method.
    pub method: String,
    /// The path template's parts.
    pub parts: Vec<Part>,
    /// Requests seen.
    pub requests: u64,
    /// The segments of one request that took this operation, for matching
    /// it against a document. Held in memory only: values may be
    /// identifiers a report must not show.
    pub example: Vec<String>,
}

impl DiscoveredOperation {
    /// The template as OpenAPI writes it: `/users/{user}/posts`.
    pub fn template(&self) -> String {
        if self.parts.is_empty() {
            return "/".to_string();
        }
        let mut out = String::new();
        for part in &self.parts {
            out.push('/');
            match part {
                Part::Literal(s) => out.push_str(s),
                Part::Param { name, .. } => {
                    out.push('{');
                    out.push_str(name);
                    out.push('}');
                }
            }
        }
        out
    }
}

#[derive(Debug, Default, Clone)]
struct Node {
    /// Requests whose path went through (or ended at) this node.
    requests: u64,
    /// The segment this node was first reached by (a value, for a merged
    /// parameter node: the first of its values).
    segment: String,
    /// Requests ending here, by method.
    methods: BTreeMap<String, u64>,
    children: BTreeMap<String, Node>,
}

impl Node {
    fn merge(&mut self, other: &Node) {
        self.requests += other.requests;
        for (m, n) in &other.methods {
            *self.methods.entry(m.clone()).or_default() += n;
        }
        if self.segment.is_empty() {
            self.segment = other.segment.clone();
        }
        for (k, child) in &other.children {
            self.children.entry(k.clone()).or_default().merge(child);
        }
    }

    /// What the siblings of a parameter share: the words below them.
    fn shape(&self) -> BTreeSet<&str> {
        self.children
            .keys()
            .filter(|k| SegmentKind::of(k) == SegmentKind::Word)
            .map(String::as_str)
            .collect()
    }
}

/// Collects observed requests and turns them into operations.
#[derive(Debug, Default)]
pub struct Templater {
    root: Node,
}

impl Templater {
    /// An empty templater.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds one request. The path is read as the gateway reads it (one
    /// canonical form; a path with none is refused and not counted).
    pub fn observe(&mut self, method: &str, path: &str) -> Result<(), PathError> {
        let path = CanonicalPath::parse(path)?;
        let mut node = &mut self.root;
        node.requests += 1;
        for segment in path.segments() {
            node = node.children.entry(segment.clone()).or_default();
            node.requests += 1;
            if node.requests == 1 {
                node.segment = segment.clone();
            }
        }
        *node.methods.entry(method.to_ascii_uppercase()).or_default() += 1;
        Ok(())
    }

    /// The operations, in template order.
    pub fn operations(&self) -> Vec<DiscoveredOperation> {
        let mut out = Vec::new();
        walk(&self.root, &mut Vec::new(), &mut Vec::new(), &mut out);
        out.sort_by(|a, b| {
            a.template()
                .cmp(&b.template())
                .then_with(|| a.method.cmp(&b.method))
        });
        out
    }
}

fn walk(
    node: &Node,
    prefix: &mut Vec<Part>,
    example: &mut Vec<String>,
    out: &mut Vec<DiscoveredOperation>,
) {
    for (method, requests) in &node.methods {
        out.push(DiscoveredOperation {
            method: method.clone(),
            parts: prefix.clone(),
            requests: *requests,
            example: example.clone(),
        });
    }
    let (literals, params) = split(node);
    for key in literals {
        if let Some(child) = node.children.get(key) {
            prefix.push(Part::Literal(key.clone()));
            example.push(key.clone());
            walk(child, prefix, example, out);
            example.pop();
            prefix.pop();
        }
    }
    if !params.is_empty() {
        let mut merged = Node::default();
        let mut kinds = BTreeSet::new();
        for key in &params {
            if let Some(child) = node.children.get(*key) {
                merged.merge(child);
                kinds.insert(SegmentKind::of(key));
            }
        }
        let kind = match kinds.len() {
            1 => kinds.into_iter().next().unwrap_or(SegmentKind::Text),
            _ => SegmentKind::Text,
        };
        let name = param_name(prefix, kind);
        prefix.push(Part::Param { name, kind });
        example.push(merged.segment.clone());
        walk(&merged, prefix, example, out);
        example.pop();
        prefix.pop();
    }
}

/// The children of `node` that stay literals, and those that are one
/// parameter.
fn split(node: &Node) -> (Vec<&String>, Vec<&String>) {
    let mut literals = Vec::new();
    let mut params = Vec::new();
    let mut words: Vec<(&String, &Node)> = Vec::new();
    for (key, child) in &node.children {
        // A trailing slash (an empty last segment) is always literal.
        if key.is_empty() {
            literals.push(key);
        } else if SegmentKind::of(key).is_identifier() {
            params.push(key);
        } else {
            words.push((key, child));
        }
    }
    // Words grouped by the shape below them.
    let mut groups: BTreeMap<BTreeSet<&str>, Vec<(&String, &Node)>> = BTreeMap::new();
    for (key, child) in words {
        groups.entry(child.shape()).or_default().push((key, child));
    }
    for (_, group) in groups {
        let (as_params, as_literals) = judge(&group, !params.is_empty());
        params.extend(as_params);
        literals.extend(as_literals);
    }
    (literals, params)
}

/// Which words of one group of siblings are parameter values and which are
/// literals. `beside_ids`: identifiers were seen at this position, so the
/// position is a parameter already and a sparse word is one of its values.
fn judge<'a>(
    group: &[(&'a String, &Node)],
    beside_ids: bool,
) -> (Vec<&'a String>, Vec<&'a String>) {
    let distinct = group.len();
    let requests: u64 = group.iter().map(|(_, n)| n.requests).sum();
    let spread = distinct as f64 / requests.max(1) as f64;
    let parameter = distinct >= MANY
        || (distinct >= MIN_SIBLINGS && spread >= MIN_SPREAD)
        || (beside_ids && spread >= MIN_SPREAD);
    if !parameter {
        return (Vec::new(), group.iter().map(|(k, _)| *k).collect());
    }
    let mut counts: Vec<u64> = group.iter().map(|(_, n)| n.requests).collect();
    counts.sort_unstable();
    let median = counts[counts.len() / 2];
    let mut values = Vec::new();
    let mut literals = Vec::new();
    for (key, node) in group {
        let standout = node.requests >= STANDOUT_MIN && node.requests >= STANDOUT_FACTOR * median;
        if standout || ROUTE_WORDS.contains(&key.as_str()) {
            literals.push(*key);
        } else {
            values.push(*key);
        }
    }
    (values, literals)
}

/// The singular of a plural resource name (`books` → `book`, `addresses`
/// → `address`); other words as they are (`status`, `news`,
/// `categories`: a wrong singular is worse than the plural).
fn singular(word: &str) -> &str {
    if word.ends_with("ies") || word.len() <= 2 {
        return word;
    }
    for end in ["sses", "xes", "ches", "shes"] {
        if word.ends_with(end) {
            return &word[..word.len() - 2];
        }
    }
    if word.ends_with("ss") || word.ends_with("us") || word.ends_with("is") {
        return word;
    }
    word.strip_suffix('s').unwrap_or(word)
}

/// A name for a parameter after `prefix`: from the literal before it
/// (`books` → `bookId` for ids, `book` otherwise), or by kind.
fn param_name(prefix: &[Part], kind: SegmentKind) -> String {
    let base = match prefix.last() {
        Some(Part::Literal(word)) if SegmentKind::of(word) == SegmentKind::Word => singular(word)
            .split(['-', '_', '.'])
            .filter(|s| !s.is_empty())
            .enumerate()
            .map(|(i, s)| {
                if i == 0 {
                    s.to_string()
                } else {
                    let mut c = s.chars();
                    c.next()
                        .map(|f| f.to_ascii_uppercase().to_string() + c.as_str())
                        .unwrap_or_default()
                }
            })
            .collect::<String>(),
        _ => String::new(),
    };
    let numbered = prefix
        .iter()
        .filter(|p| matches!(p, Part::Param { .. }))
        .count();
    let name = match (base.is_empty(), kind) {
        (true, SegmentKind::Email) => "email".to_string(),
        (true, SegmentKind::Date) => "date".to_string(),
        (true, _) => "id".to_string(),
        (
            false,
            SegmentKind::Integer | SegmentKind::Uuid | SegmentKind::ObjectId | SegmentKind::Hex,
        ) => {
            format!("{base}Id")
        }
        (false, _) => base,
    };
    let taken = prefix
        .iter()
        .any(|p| matches!(p, Part::Param { name: n, .. } if *n == name));
    if taken {
        format!("{name}{}", numbered + 1)
    } else {
        name
    }
}

#[cfg(test)]
mod tests;
