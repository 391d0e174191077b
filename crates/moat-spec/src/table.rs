//! Finding the operation a request is for.
//!
//! Every operation is inserted into a segment trie under each of its server
//! paths: `/v1` + `/pets/{id}` becomes `v1` → `pets` → `{id}`. Matching walks
//! the request's segments down the trie, trying at each node the literal
//! child first (one hash lookup) and then the pattern children from most to
//! least specific, backtracking when a branch dead-ends. That gives
//! OpenAPI's rule that concrete paths win over templated ones, while
//! `/users/me/keys` still reaches `/users/{id}/keys` when `/users/me` has no
//! `keys` below it.
//!
//! A miss allocates nothing; a hit allocates only the parameter list.

use crate::model::{ApiSpec, Method, Operation};
use crate::template::{self, Pattern, Segment};

/// The most path parameters one operation may have (its template's, summed
/// over all segments). Captures live in a fixed array on the stack so that
/// matching does not allocate; the loader refuses templates with more.
pub const MAX_PATH_PARAMS: usize = 32;

/// The result of looking a request up.
#[derive(Debug, Clone, PartialEq)]
pub enum Match<'t> {
    /// The path and method name a documented operation.
    Found {
        /// The operation.
        operation: &'t Operation,
        /// Its index in [`ApiSpec::operations`].
        index: usize,
        /// The path parameters, by name, in template order; values are
        /// substrings of the (decoded) request segments.
        params: Vec<(String, String)>,
        /// Bit `i` is set when request segment `i` (of the first 64) holds
        /// a path parameter; the others matched a literal segment of the
        /// template exactly.
        captured: u64,
    },
    /// The path names a documented resource, but not with this method.
    MethodNotAllowed {
        /// The methods documented for the path, in OpenAPI order (for an
        /// `Allow` header).
        allowed: Vec<Method>,
    },
    /// No documented path matches.
    NotFound,
}

/// Every operation of a spec, indexed for matching requests.
#[derive(Debug, Clone)]
pub struct OperationTable {
    spec: ApiSpec,
    nodes: Vec<Node>,
    /// Per operation, its path parameter names in capture order.
    names: Vec<Vec<Box<str>>>,
}

#[derive(Debug, Clone, Default)]
struct Node {
    /// Request segments are hashed on every lookup, and SipHash (the std
    /// default) costs more than the rest of a match. Hash flooding needs
    /// the attacker to choose the *keys* of a map; here they come from the
    /// document and requests only look up, so a fast hash is safe.
    literals: foldhash::HashMap<Box<str>, usize>,
    /// Sorted most specific first.
    patterns: Vec<(Pattern, usize)>,
    /// The operation for each method, by [`Method::index`], when a template
    /// ends here.
    ends: Option<[Option<usize>; 8]>,
}

/// One captured parameter: a byte range of a request segment. `u32` keeps
/// the capture array small (it is reset on every lookup); a segment longer
/// than 4 GiB simply does not match.
#[derive(Debug, Clone, Copy, Default)]
struct Capture {
    segment: u32,
    start: u32,
    end: u32,
}

impl Capture {
    fn new(segment: usize, start: usize, end: usize) -> Option<Self> {
        Some(Self {
            segment: u32::try_from(segment).ok()?,
            start: u32::try_from(start).ok()?,
            end: u32::try_from(end).ok()?,
        })
    }
}

/// The captures of the branch being tried, on the stack.
struct Captures {
    items: [Capture; MAX_PATH_PARAMS],
    len: usize,
}

impl Captures {
    fn push(&mut self, c: Option<Capture>) -> bool {
        match (self.items.get_mut(self.len), c) {
            (Some(slot), Some(c)) => {
                *slot = c;
                self.len += 1;
                true
            }
            _ => false,
        }
    }

    fn as_slice(&self) -> &[Capture] {
        self.items.get(..self.len).unwrap_or_default()
    }
}

impl OperationTable {
    /// Indexes every operation of `spec` under each of its server paths.
    ///
    /// When two operations match the same requests (which [`crate::load`]
    /// reports as an error), the first in document order wins.
    pub fn new(spec: ApiSpec) -> Self {
        let mut nodes = vec![Node::default()];
        let mut names = Vec::with_capacity(spec.operations.len());
        for (index, op) in spec.operations.iter().enumerate() {
            let op_names = match template::parse(&op.path_template) {
                Ok(t) if t.param_names().count() <= MAX_PATH_PARAMS => {
                    let servers = op.server_paths.as_ref().unwrap_or(&spec.server_paths);
                    for server in servers {
                        insert(&mut nodes, server, &t.segments, op.method, index);
                    }
                    t.param_names().map(Box::from).collect()
                }
                // The loader refused these; an operation edited by hand
                // afterwards is simply unreachable.
                _ => Vec::new(),
            };
            names.push(op_names);
        }
        for node in &mut nodes {
            node.patterns
                .sort_by(|(a, _), (b, _)| a.specificity_key().cmp(&b.specificity_key()));
        }
        Self { spec, nodes, names }
    }

    /// The spec the table was built from.
    pub fn spec(&self) -> &ApiSpec {
        &self.spec
    }

    /// Gives the spec back.
    pub fn into_spec(self) -> ApiSpec {
        self.spec
    }

    /// Finds the operation for a request.
    ///
    /// `segments` are the request path's segments after the gateway's own
    /// mount prefix, percent-decoded: `/v1/pets/42` is `["v1", "pets", "42"]`
    /// and a trailing slash is a final `""` (`/` is `[""]`). Server paths are
    /// part of what is matched, so the segments start with them.
    ///
    /// Matching is case-sensitive, and a trailing slash is significant:
    /// `/pets/` does not match `/pets`. The path is matched first and the
    /// method second: when the most specific template matching the path does
    /// not document the method, the answer is
    /// [`Match::MethodNotAllowed`] even if a less specific template does.
    /// HTTP routers commonly resolve the path before the method, so the API
    /// behind moat most likely treats the request that way too, and checking
    /// it against an operation it will not be routed to would be wrong.
    ///
    /// Only documented methods match: `HEAD` does not fall back to `GET`, nor
    /// `OPTIONS` to anything. A gateway that wants to allow `HEAD` for every
    /// `GET` can retry with `GET` itself; doing it here would let requests
    /// through that the spec author never described.
    pub fn find<S: AsRef<str>>(&self, method: &str, segments: &[S]) -> Match<'_> {
        let mut captures = Captures {
            items: [Capture::default(); MAX_PATH_PARAMS],
            len: 0,
        };
        let Some(ends) = self.walk(0, segments, 0, &mut captures) else {
            return Match::NotFound;
        };
        let index =
            Method::from_request(method).and_then(|m| ends.get(m.index()).copied().flatten());
        let found = index.and_then(|i| Some((i, self.spec.operations.get(i)?, self.names.get(i)?)));
        let Some((index, operation, names)) = found else {
            return Match::MethodNotAllowed {
                allowed: Method::ALL
                    .into_iter()
                    .filter(|m| ends.get(m.index()).is_some_and(Option::is_some))
                    .collect(),
            };
        };
        let params = names
            .iter()
            .zip(captures.as_slice())
            .map(|(name, c)| {
                let value = segments
                    .get(c.segment as usize)
                    .and_then(|s| s.as_ref().get(c.start as usize..c.end as usize))
                    .unwrap_or_default();
                (name.to_string(), value.to_string())
            })
            .collect();
        let captured = captures
            .as_slice()
            .iter()
            .filter(|c| c.segment < 64)
            .fold(0u64, |bits, c| bits | 1 << c.segment);
        Match::Found {
            operation,
            index,
            params,
            captured,
        }
    }

    /// Depth-first search for the first node, in priority order, where a
    /// template ends exactly at the end of the request.
    fn walk<S: AsRef<str>>(
        &self,
        node: usize,
        segments: &[S],
        depth: usize,
        captures: &mut Captures,
    ) -> Option<&[Option<usize>; 8]> {
        let node = self.nodes.get(node)?;
        let Some(segment) = segments.get(depth).map(AsRef::as_ref) else {
            return node.ends.as_ref();
        };
        if let Some(&child) = node.literals.get(segment)
            && let Some(ends) = self.walk(child, segments, depth + 1, captures)
        {
            return Some(ends);
        }
        for (pattern, child) in &node.patterns {
            let mark = captures.len;
            if capture(pattern, segment, depth, captures)
                && let Some(ends) = self.walk(*child, segments, depth + 1, captures)
            {
                return Some(ends);
            }
            captures.len = mark;
        }
        None
    }
}

fn insert(nodes: &mut Vec<Node>, server: &str, segments: &[Segment], method: Method, op: usize) {
    let mut node = 0;
    let server_segments = server
        .strip_prefix('/')
        .into_iter()
        .flat_map(|s| s.split('/'))
        .map(|s| {
            Segment::Literal(
                crate::pointer::percent_decode(s).map_or_else(|| s.to_string(), |d| d.into_owned()),
            )
        });
    let server_segments: Vec<Segment> = server_segments.collect();
    // The template `/` is `{server path}/`; with no server path it is the
    // root, which a request presents as no segments at all.
    let root = [Segment::Literal(String::new())];
    let segments = if server_segments.is_empty() && segments == root {
        &[]
    } else {
        segments
    };
    for segment in server_segments.iter().chain(segments) {
        node = child(nodes, node, segment);
    }
    if let Some(n) = nodes.get_mut(node) {
        let slot = n.ends.get_or_insert([None; 8]);
        if let Some(s) = slot.get_mut(method.index())
            && s.is_none()
        {
            *s = Some(op);
        }
    }
}

/// The child of `node` for `segment`, created when missing.
fn child(nodes: &mut Vec<Node>, node: usize, segment: &Segment) -> usize {
    let next = nodes.len();
    let Some(n) = nodes.get_mut(node) else {
        return 0;
    };
    let found = match segment {
        Segment::Literal(l) => match n.literals.get(l.as_str()) {
            Some(&c) => Some(c),
            None => {
                n.literals.insert(l.as_str().into(), next);
                None
            }
        },
        Segment::Pattern(p) => match n.patterns.iter().find(|(q, _)| q.pieces == p.pieces) {
            Some(&(_, c)) => Some(c),
            None => {
                n.patterns.push((p.clone(), next));
                None
            }
        },
    };
    found.unwrap_or_else(|| {
        nodes.push(Node::default());
        next
    })
}

/// Matches one segment against a pattern, pushing a capture per parameter.
///
/// Parameters are matched left to right, each taking the shortest non-empty
/// text up to the next occurrence of the literal that follows it; the last
/// takes everything up to the pattern's literal suffix. Taking the earliest
/// separator never loses a match that a later one would find, since it only
/// leaves more text for the parameters after it, so no backtracking is
/// needed inside a segment.
fn capture(pattern: &Pattern, segment: &str, index: usize, captures: &mut Captures) -> bool {
    let (Some(prefix), Some(suffix)) = (pattern.pieces.first(), pattern.pieces.last()) else {
        return false;
    };
    if !ends_with(segment.as_bytes(), suffix.as_bytes())
        || !starts_with(segment.as_bytes(), prefix.as_bytes())
    {
        return false;
    }
    let Some(end) = segment.len().checked_sub(suffix.len()) else {
        return false;
    };
    let mut pos = prefix.len();
    let separators = pattern
        .pieces
        .get(1..pattern.pieces.len().saturating_sub(1))
        .unwrap_or_default();
    for separator in separators {
        // The parameter takes at least one character.
        let Some(first) = segment.get(pos..end).and_then(|s| s.chars().next()) else {
            return false;
        };
        let from = pos + first.len_utf8();
        let Some(at) = segment
            .get(from..end)
            .and_then(|s| s.find(separator.as_str()))
        else {
            return false;
        };
        if !captures.push(Capture::new(index, pos, from + at)) {
            return false;
        }
        pos = from + at + separator.len();
    }
    pos < end && segment.get(pos..end).is_some() && captures.push(Capture::new(index, pos, end))
}

/// Byte comparison without a call into libc: the literals compared here are
/// a few bytes long, where a `memcmp` call costs more than the comparison.
fn starts_with(s: &[u8], prefix: &[u8]) -> bool {
    s.len() >= prefix.len() && s.iter().zip(prefix).all(|(a, b)| a == b)
}

/// See [`starts_with`].
fn ends_with(s: &[u8], suffix: &[u8]) -> bool {
    s.len() >= suffix.len() && s.iter().rev().zip(suffix.iter().rev()).all(|(a, b)| a == b)
}
