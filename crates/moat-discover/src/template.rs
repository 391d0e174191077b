//! Operations and their path templates, recovered from observed paths.
//!
//! Paths are put in a trie of segments. At each position the children are
//! split into identifiers and words ([`SegmentKind`]). Identifiers (numbers,
//! UUIDs, hex and ObjectId-like ids, dates, emails, free text) are always a
//! parameter. Words (`v1`, `login`, `alice`, `my-first-post`) are values of
//! a parameter when:
//!
//! - free text was seen at the same position, in as many distinct values
//!   as there are words (a title `glossary` beside `Dune Messiah`, not
//!   `/api` beside a stray `/Favicon.ico`); beside typed ids (numbers,
//!   UUIDs, …) a word is no value of theirs (`/books/featured` beside
//!   `/books/42`);
//! - many distinct siblings are each seen rarely (usernames and slugs are
//!   many and sparse, resource names few and requested often);
//! - at least two of them lead on to the same word
//!   (`/posts/hello/comments`, `/posts/rust-tips/comments`) and they are
//!   not requested again and again (versions: `/v1/books`, `/v2/books`);
//! - they sit below a plural collection name (`/tags/rust`, `/tags/wasm`)
//!   and are not requested again and again, or, however often each is
//!   requested, at least three of them are built alike: each leads on to
//!   words and none to a word no sibling leads to (`/stores/oslo/hours`,
//!   `/stores/rome/hours`, `/stores/rome/products`).
//!
//! Ids are requested unevenly, a few very often, so in the last two tests
//! each word counts at most as often as a standout would. Within such a
//! group a route name APIs use (`me`, `search`, `login`, …) or a version
//! (`v2`) stays a literal, and so does a word requested far more often
//! than its siblings that leads on to words none of them leads to
//! (`/accounts/primary/limits` beside `/accounts/{account}/invoices`): it
//! is its own operation. Popularity alone keeps no word literal. The
//! children that become one parameter are merged, subtrees and methods,
//! and the walk goes on below.

use std::collections::{BTreeMap, BTreeSet};

use moat_request::{CanonicalPath, PathError};

use crate::segment::SegmentKind;

/// Distinct sibling words needed before they may be one parameter.
const MIN_SIBLINGS: usize = 4;

/// Distinct values per request, at least, for a group of sibling words to
/// be one parameter (values that come back again and again are routes).
const MIN_SPREAD: f64 = 0.3;

/// Distinct values that make a parameter with a lower spread: many
/// different names under one position are values, unless each of them
/// is requested again and again (a large API's resources).
const MANY: usize = 12;
const MANY_SPREAD: f64 = 0.1;

/// Below a plural collection name, the spread at which two or more
/// sibling words are its items.
const COLLECTION_SPREAD: f64 = 0.15;

/// A word requested this many times its group's median (and at least
/// [`STANDOUT_MIN`] times) stands out: it stays a literal if it also leads
/// to routes of its own.
const STANDOUT_FACTOR: u64 = 4;
const STANDOUT_MIN: u64 = 5;

/// Words APIs use as route names beside an identifier parameter.
#[rustfmt::skip]
const ROUTE_WORDS: &[&str] = &[
    "me", "self", "current", "mine", "search", "find", "query", "login", "logout", "signin",
    "signout", "register", "signup", "new", "create", "count", "all", "bulk", "batch", "export",
    "import", "latest", "recent", "popular", "stats", "summary", "settings", "config", "health",
    "status", "version", "info", "admin", "debug", "_debug", "api", "auth", "token", "refresh",
    "upload", "download", "default", "public", "private", "trending", "featured", "suggestions",
    "recommended", "autocomplete", "lookup", "random", "today", "upcoming", "verify", "validate",
    "preview", "history", "notifications", "feed", "profile", "password", "ping", "metrics",
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
    // A collection is named by a literal: a parameter's value that looks
    // plural (`/users/james/…`) is no collection name.
    let collection = matches!(prefix.last(), Some(Part::Literal(w)) if is_plural(w));
    let (literals, params) = split(node, collection);
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
fn split(node: &Node, collection: bool) -> (Vec<&String>, Vec<&String>) {
    let mut literals = Vec::new();
    let mut params = Vec::new();
    let mut words: Vec<(&String, &Node)> = Vec::new();
    let mut free_text = 0usize;
    for (key, child) in &node.children {
        // A trailing slash (an empty last segment) is always literal.
        if key.is_empty() {
            literals.push(key);
            continue;
        }
        let kind = SegmentKind::of(key);
        if kind.is_identifier() {
            free_text += usize::from(kind == SegmentKind::Text);
            params.push(key);
        } else {
            words.push((key, child));
        }
    }
    let (values, routes) = judge(node, &words, free_text, collection);
    params.extend(values);
    literals.extend(routes);
    (literals, params)
}

/// Which sibling words are values of a parameter and which are literals.
/// Below a plural collection name (`/tags/rust`, `/tags/wasm`) fewer
/// values, more often requested, are enough: a collection's children are
/// its items.
/// `free_text`: distinct free-text values seen at this position. When
/// they are at least as many as the words, the position is a parameter
/// whose values may be plain words too (a title `glossary` beside `Dune
/// Messiah`); a stray one among many words (`/Favicon.ico` beside `/api`)
/// is not. Beside typed ids (numbers, UUIDs, …) a word is no value of
/// theirs and is judged with the other words alone.
fn judge<'a>(
    parent: &Node,
    words: &[(&'a String, &Node)],
    free_text: usize,
    in_collection: bool,
) -> (Vec<&'a String>, Vec<&'a String>) {
    let candidates: Vec<&(&String, &Node)> =
        words.iter().filter(|(k, _)| !is_route_word(k)).collect();
    let distinct = candidates.len();
    let mut counts: Vec<u64> = candidates.iter().map(|(_, n)| n.requests).collect();
    counts.sort_unstable();
    let median = counts.get(distinct / 2).copied().unwrap_or(0);
    let requests: u64 = counts.iter().sum();
    let spread = distinct as f64 / requests.max(1) as f64;
    // Where the structure says "items" (a collection, a shared
    // continuation), a few very popular items must not hide the rest:
    // each word counts at most as a standout would.
    let cap = (STANDOUT_FACTOR * median).max(STANDOUT_MIN);
    let capped: u64 = counts.iter().map(|c| (*c).min(cap)).sum();
    let item_spread = distinct as f64 / capped.max(1) as f64;
    let parameter = distinct > 0
        && ((free_text > 0 && free_text >= words.len())
            || (distinct >= MANY && spread >= MANY_SPREAD)
            || (distinct >= MIN_SIBLINGS && spread >= MIN_SPREAD)
            || (item_spread >= MIN_SPREAD && shared_continuation(&candidates))
            || (in_collection && distinct >= 2 && item_spread >= COLLECTION_SPREAD)
            || (in_collection && uniform_continuation(&candidates)));
    if !parameter {
        return (Vec::new(), words.iter().map(|(k, _)| *k).collect());
    }
    let mut values = Vec::new();
    let mut literals = Vec::new();
    for (key, node) in words {
        let standout = node.requests >= STANDOUT_MIN && node.requests >= STANDOUT_FACTOR * median;
        if is_route_word(key) || (standout && stands_apart(parent, key, node)) {
            literals.push(*key);
        } else {
            values.push(*key);
        }
    }
    (values, literals)
}

/// Whether `word` names a route wherever it is: a route name APIs use, or
/// a version (`v1`, `v2.1`).
fn is_route_word(word: &str) -> bool {
    let version = word.strip_prefix('v').is_some_and(|n| {
        n.starts_with(|c: char| c.is_ascii_digit())
            && n.bytes().all(|b| b.is_ascii_digit() || b == b'.')
    });
    version || ROUTE_WORDS.contains(&word)
}

/// Whether at least two sibling words lead on to the same word
/// (`/posts/first-post/comments`, `/posts/hello-world/comments`): values
/// of one parameter share what comes after them. Versions do too
/// (`/v1/books`, `/v2/books`), but they are few and requested again and
/// again, so the caller asks for a spread as well.
fn shared_continuation(words: &[&(&String, &Node)]) -> bool {
    let mut seen: BTreeSet<&str> = BTreeSet::new();
    for (_, node) in words {
        for child in node.shape() {
            if !seen.insert(child) {
                return true;
            }
        }
    }
    false
}

/// Whether at least three sibling words each lead on to words (route
/// names aside) and none leads to a word no sibling leads to: the items
/// of a collection, built alike however often each is requested
/// (`/stores/oslo/hours`, `/stores/rome/hours`, `/stores/rome/products`,
/// `/stores/oslo/products`, `/stores/lyon/products`).
fn uniform_continuation(words: &[&(&String, &Node)]) -> bool {
    if words.len() < 3 {
        return false;
    }
    let shapes: Vec<BTreeSet<&str>> = words
        .iter()
        .map(|(_, node)| {
            node.shape()
                .into_iter()
                .filter(|w| !is_route_word(w))
                .collect()
        })
        .collect();
    shapes.iter().enumerate().all(|(i, own)| {
        !own.is_empty()
            && own.iter().all(|w| {
                shapes
                    .iter()
                    .enumerate()
                    .any(|(j, other)| j != i && other.contains(w))
            })
    })
}

/// Whether the word `key` (a child of `parent`) is built unlike its
/// siblings, as a route of its own is: it leads on to words none of them
/// leads to (`/users/me/settings`). Popularity alone is no such sign: ids
/// are requested unevenly, a few very often, and a popular id may well be
/// the only one seen without its sub-resources.
fn stands_apart(parent: &Node, key: &str, node: &Node) -> bool {
    let own = node.shape();
    let mut shared = false;
    for (k, sibling) in &parent.children {
        if k == key || k.is_empty() {
            continue;
        }
        let theirs = sibling.shape();
        shared |= own.iter().any(|w| theirs.contains(w));
    }
    !own.is_empty() && !shared
}

/// Whether `word` is a plural collection name (`tags`, `posts`; not
/// `status`, `v1`, `api`).
fn is_plural(word: &str) -> bool {
    SegmentKind::of(word) == SegmentKind::Word
        && word
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b == b'-' || b == b'_')
        && singular(word) != word
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
