//! The regular expressions of a spec's schemas (`pattern`, and the keys of
//! `patternProperties`), checked before anything is compiled so that every
//! one moat cannot run is reported, each where it is written.
//!
//! Patterns are matched by the `regex` crate, in time linear in the input:
//! a request cannot make a pattern backtrack. That engine has no lookaround
//! and no back-references, so ECMA-262 patterns using them are refused
//! rather than matched differently from what the document says.

use jsonschema::{Draft, PatternOptions};
use moat_config::source::{Document, push_pointer};
use moat_spec::{Diagnostic, is_data_key};
use serde_json::{Value, json};

/// Deeper nesting than this was refused when the spec loaded.
const MAX_DEPTH: usize = 512;

/// A diagnostic for each pattern of `doc` that the matcher cannot compile.
pub(super) fn check(doc: &Document, out: &mut Vec<Diagnostic>) {
    let mut walk = Walk { doc, out };
    let mut pointer = String::new();
    walk.visit(&doc.value, &mut pointer, None, None, 0);
}

struct Walk<'d, 'o> {
    doc: &'d Document,
    out: &'o mut Vec<Diagnostic>,
}

impl Walk<'_, '_> {
    fn visit(
        &mut self,
        value: &Value,
        pointer: &mut String,
        parent: Option<&str>,
        grandparent: Option<&str>,
        depth: usize,
    ) {
        if depth > MAX_DEPTH {
            return;
        }
        match value {
            Value::Object(map) => {
                // Under `properties` the keys are names, not keywords.
                let names = matches!(parent, Some("properties" | "patternProperties"));
                for (key, child) in map {
                    if !names && is_data_key(key, child, grandparent) {
                        continue;
                    }
                    let len = pointer.len();
                    push_pointer(pointer, key);
                    if !names
                        && key == "pattern"
                        && let Value::String(pattern) = child
                    {
                        self.pattern(pattern, pointer);
                    }
                    if parent == Some("patternProperties") {
                        self.pattern(key, pointer);
                    }
                    self.visit(child, pointer, Some(key), parent, depth + 1);
                    pointer.truncate(len);
                }
            }
            Value::Array(items) => {
                for (i, child) in items.iter().enumerate() {
                    let len = pointer.len();
                    push_pointer(pointer, &i.to_string());
                    self.visit(child, pointer, None, None, depth + 1);
                    pointer.truncate(len);
                }
            }
            _ => {}
        }
    }

    /// Reports `pattern` (whose key is at `pointer`) when it cannot be
    /// compiled the way request validation compiles it.
    fn pattern(&mut self, pattern: &str, pointer: &str) {
        if compiles(pattern) {
            return;
        }
        let shown = excerpt(pattern);
        let (message, hint) = match refused_feature(pattern) {
            Some(feature) => (
                format!("pattern \"{shown}\" uses {feature}, which moat does not support"),
                "moat matches patterns in linear time (the `regex` crate), so lookahead, \
                 lookbehind and back-references are refused; rewrite the pattern without them, \
                 e.g. `^a.*$` for `^(?=a).*$`, or set `validation.enabled: false` for this API",
            ),
            None => (
                format!("pattern \"{shown}\" is not a valid regular expression"),
                "write an ECMA-262 regular expression without lookaround or back-references",
            ),
        };
        self.out
            .push(self.doc.error_at_key(pointer, message).with_hint(hint));
    }
}

/// Whether the validator compiles `pattern`: the same engine and options as
/// [`super::compile_spec`], on a schema holding only this pattern.
fn compiles(pattern: &str) -> bool {
    jsonschema::options()
        .with_draft(Draft::Draft202012)
        .with_pattern_options(PatternOptions::regex())
        .build(&json!({ "pattern": pattern }))
        .is_ok()
}

/// The ECMA-262 feature of `pattern` that a linear-time matcher lacks.
fn refused_feature(pattern: &str) -> Option<&'static str> {
    let bytes = pattern.as_bytes();
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        match b {
            b'\\' => {
                match bytes.get(i + 1) {
                    Some(b'1'..=b'9') => return Some("a back-reference"),
                    Some(b'k') if bytes.get(i + 2) == Some(&b'<') => {
                        return Some("a back-reference");
                    }
                    _ => {}
                }
                i += 2;
                continue;
            }
            b'(' if bytes.get(i + 1) == Some(&b'?') => match (bytes.get(i + 2), bytes.get(i + 3)) {
                (Some(b'='), _) => return Some("a lookahead `(?=…)`"),
                (Some(b'!'), _) => return Some("a negative lookahead `(?!…)`"),
                (Some(b'<'), Some(b'=')) => return Some("a lookbehind `(?<=…)`"),
                (Some(b'<'), Some(b'!')) => return Some("a negative lookbehind `(?<!…)`"),
                _ => {}
            },
            _ => {}
        }
        i += 1;
    }
    None
}

/// At most 80 characters of `pattern`, control characters escaped, for
/// messages.
fn excerpt(pattern: &str) -> String {
    const MAX: usize = 80;
    let mut out = String::new();
    for (i, c) in pattern.chars().enumerate() {
        if i == MAX {
            out.push('…');
            break;
        }
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn features_are_named() {
        assert_eq!(refused_feature("^(?=a).*$"), Some("a lookahead `(?=…)`"));
        assert_eq!(
            refused_feature("(?!x)"),
            Some("a negative lookahead `(?!…)`")
        );
        assert_eq!(refused_feature("(?<=a)b"), Some("a lookbehind `(?<=…)`"));
        assert_eq!(refused_feature(r"(a)\1"), Some("a back-reference"));
        assert_eq!(refused_feature(r"(?<n>a)\k<n>"), Some("a back-reference"));
        assert_eq!(refused_feature(r"\\1 (?<name>x) [a-z]+"), None);
    }

    #[test]
    fn the_validators_engine_decides() {
        assert!(compiles(r"^[a-z]+\d{2}$"));
        assert!(compiles("^(?<name>a)$"));
        assert!(!compiles("^(?=a).*$"));
        assert!(!compiles(r"(a)\1"));
        assert!(!compiles("(unclosed"));
    }
}
