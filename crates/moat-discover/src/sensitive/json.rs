//! Walking a JSON document for sensitive values.

use std::collections::HashMap;

use serde_json::Value;

use super::field::Field;
use super::{KindSet, SensitiveKind, classify_integer, classify_text};

/// Deepest nesting walked; anything deeper is not looked at (a document
/// parsed by `serde_json` is never deeper than 128 anyway).
const MAX_DEPTH: usize = 128;

/// One step from a JSON value to one inside it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Step<'a> {
    /// A member of an object.
    Key(&'a str),
    /// An element of an array.
    Index(usize),
}

/// Calls `each` with the JSON pointer (RFC 6901) and the kind of every
/// sensitive value in `value`: strings, integers (card numbers, social
/// security numbers, numeric passwords) and object keys themselves (an
/// object keyed by email addresses). The name a value is judged by is its
/// member's name, or for array elements the name of the array.
///
/// The pointer holds the document's own keys, which may themselves be
/// sensitive: store [`Findings`](super::Findings), which masks them, not
/// pointers.
pub fn scan_json(value: &Value, mut each: impl FnMut(&str, SensitiveKind)) {
    walk(value, &mut |steps, kind| each(&pointer(steps), kind));
}

/// Calls `each` with the path to, and the kind of, every sensitive value in
/// `value`.
pub(crate) fn walk<'a>(value: &'a Value, each: &mut impl FnMut(&[Step<'a>], SensitiveKind)) {
    let mut path = Vec::new();
    visit(value, None, &mut path, &mut HashMap::new(), each);
}

fn visit<'a>(
    value: &'a Value,
    name: Option<&'a str>,
    path: &mut Vec<Step<'a>>,
    fields: &mut HashMap<&'a str, Field>,
    each: &mut impl FnMut(&[Step<'a>], SensitiveKind),
) {
    // A name is read once per document: the members of an array's objects
    // repeat theirs in every element.
    let mut field = || {
        name.map(|n| *fields.entry(n).or_insert_with(|| Field::of(n)))
            .unwrap_or_default()
    };
    let found = match value {
        Value::String(s) => classify_text(&field(), s),
        Value::Number(n) if n.is_u64() || n.is_i64() => classify_integer(&field(), &n.to_string()),
        Value::Array(items) if path.len() < MAX_DEPTH => {
            for (i, item) in items.iter().enumerate() {
                path.push(Step::Index(i));
                visit(item, name, path, fields, each);
                path.pop();
            }
            KindSet::default()
        }
        Value::Object(members) if path.len() < MAX_DEPTH => {
            for (key, member) in members {
                path.push(Step::Key(key));
                for kind in classify_text(&Field::default(), key).iter() {
                    each(path, kind);
                }
                visit(member, Some(key), path, fields, each);
                path.pop();
            }
            KindSet::default()
        }
        _ => KindSet::default(),
    };
    for kind in found.iter() {
        each(path, kind);
    }
}

/// The JSON pointer of `steps`.
fn pointer(steps: &[Step<'_>]) -> String {
    let mut out = String::new();
    for step in steps {
        out.push('/');
        match step {
            Step::Key(key) => push_escaped(&mut out, key),
            Step::Index(i) => out.push_str(&i.to_string()),
        }
    }
    out
}

/// `key` escaped as a JSON pointer reference token (`~` → `~0`, `/` →
/// `~1`).
pub(crate) fn push_escaped(out: &mut String, key: &str) {
    for c in key.chars() {
        match c {
            '~' => out.push_str("~0"),
            '/' => out.push_str("~1"),
            c => out.push(c),
        }
    }
}
