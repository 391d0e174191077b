//! Checks an operation against the schema before anything executes, and
//! measures it: depth, aliases, introspection. Fragments are expanded
//! where they are spread, within a budget of visited fields, so no
//! document makes this walk long.

use super::document::{Document, Field, Operation, OperationKind, Selection};
use super::schema::{self, base, field_of, is_composite};

/// Most fields visited (fragments expanded) or resolved per operation.
pub(super) const MAX_FIELDS: usize = 10_000;
/// Deepest nesting of selections and fragment spreads followed.
const MAX_NESTING: usize = 64;

/// What an operation measures.
#[derive(Debug, Default, PartialEq, Eq)]
pub(super) struct Measure {
    /// Deepest chain of fields; root fields are at depth 1.
    pub(super) depth: usize,
    pub(super) aliases: usize,
    /// Whether `__schema` or `__type` is asked for.
    pub(super) introspection: bool,
}

/// Validates `op`: its measure, or every error found. `suggest` adds
/// "Did you mean …?" to unknown-field errors.
pub(super) fn validate(
    doc: &Document,
    op: &Operation,
    suggest: bool,
) -> Result<Measure, Vec<String>> {
    let root = match op.kind {
        OperationKind::Query => "Query",
        OperationKind::Mutation => "Mutation",
        OperationKind::Subscription => {
            return Err(vec!["Subscriptions are not supported.".into()]);
        }
    };
    let mut walk = Walk {
        doc,
        suggest,
        visited: 0,
        measure: Measure::default(),
        errors: Vec::new(),
        spreads: Vec::new(),
    };
    walk.selection(&op.selection, root, 0, 0);
    if walk.errors.is_empty() {
        Ok(walk.measure)
    } else {
        walk.errors.dedup();
        Err(walk.errors)
    }
}

struct Walk<'d> {
    doc: &'d Document,
    suggest: bool,
    visited: usize,
    measure: Measure,
    errors: Vec<String>,
    /// The fragments being spread, innermost last.
    spreads: Vec<&'d str>,
}

impl<'d> Walk<'d> {
    fn selection(&mut self, selection: &'d [Selection], ty: &str, depth: usize, nesting: usize) {
        if nesting > MAX_NESTING {
            self.errors.push("The query is nested too deeply.".into());
            return;
        }
        for s in selection {
            if self.visited > MAX_FIELDS {
                self.errors
                    .push(format!("The query selects more than {MAX_FIELDS} fields."));
                return;
            }
            match s {
                Selection::Field(f) => self.field(f, ty, depth + 1, nesting + 1),
                Selection::Spread(name) => {
                    let Some((name, fragment)) = self.doc.fragments.get_key_value(name) else {
                        self.errors.push(format!("Unknown fragment \"{name}\"."));
                        continue;
                    };
                    if self.spreads.contains(&name.as_str()) {
                        self.errors
                            .push(format!("Cannot spread fragment \"{name}\" within itself."));
                        continue;
                    }
                    if !self.condition_fits(&fragment.on, ty) {
                        continue;
                    }
                    self.spreads.push(name);
                    self.selection(&fragment.selection, ty, depth, nesting + 1);
                    self.spreads.pop();
                }
                Selection::Inline { on, selection } => {
                    if on.as_deref().is_none_or(|on| self.condition_fits(on, ty)) {
                        self.selection(selection, ty, depth, nesting + 1);
                    }
                }
            }
        }
    }

    /// Whether a fragment on `on` may be spread in `ty` (no interfaces or
    /// unions here: the same type only).
    fn condition_fits(&mut self, on: &str, ty: &str) -> bool {
        if on == ty {
            return true;
        }
        if schema::named(on).is_none() {
            self.errors.push(format!("Unknown type \"{on}\"."));
        } else {
            self.errors.push(format!(
                "Fragment cannot be spread here as objects of type \"{ty}\" can never be of type \"{on}\"."
            ));
        }
        false
    }

    fn field(&mut self, f: &'d Field, ty: &str, depth: usize, nesting: usize) {
        self.visited += 1;
        self.measure.depth = self.measure.depth.max(depth);
        if f.alias.is_some() {
            self.measure.aliases += 1;
        }
        let field_ty = match (f.name.as_str(), ty) {
            ("__typename", _) => "String!",
            ("__schema", "Query") => {
                self.measure.introspection = true;
                "__Schema!"
            }
            ("__type", "Query") => {
                self.measure.introspection = true;
                "__Type"
            }
            (name, _) => match field_of(ty, name) {
                Some(def) => {
                    self.arguments(f, ty, def.args);
                    def.ty
                }
                None => {
                    self.errors.push(unknown_field(name, ty, self.suggest));
                    return;
                }
            },
        };
        let inner = base(field_ty);
        match (is_composite(field_ty), f.selection.is_empty()) {
            (true, true) => self.errors.push(format!(
                "Field \"{}\" of type \"{field_ty}\" must have a selection of subfields.",
                f.name
            )),
            (false, false) => self.errors.push(format!(
                "Field \"{}\" must not have a selection since type \"{field_ty}\" has no subfields.",
                f.name
            )),
            (true, false) => self.selection(&f.selection, inner, depth, nesting),
            (false, true) => {}
        }
    }

    fn arguments(&mut self, f: &Field, ty: &str, defs: &[schema::ArgDef]) {
        for (name, _) in &f.arguments {
            if !defs.iter().any(|d| d.name == name) {
                self.errors.push(format!(
                    "Unknown argument \"{name}\" on field \"{ty}.{}\".",
                    f.name
                ));
            }
        }
        for d in defs {
            if d.ty.ends_with('!')
                && d.default.is_none()
                && !f.arguments.iter().any(|(n, _)| n == d.name)
            {
                self.errors.push(format!(
                    "Field \"{}\" argument \"{}\" of type \"{}\" is required, but it was not provided.",
                    f.name, d.name, d.ty
                ));
            }
        }
    }
}

/// The error for an unknown field, with suggestions when `suggest`.
pub(super) fn unknown_field(name: &str, ty: &str, suggest: bool) -> String {
    let mut message = format!("Cannot query field \"{name}\" on type \"{ty}\".");
    if suggest {
        let names: Vec<&str> = schema::named(ty)
            .map(|t| t.fields.iter().map(|f| f.name).collect())
            .unwrap_or_default();
        let close = suggestions(name, &names);
        if !close.is_empty() {
            message.push_str(&format!(" Did you mean {}?", quoted_or(&close)));
        }
    }
    message
}

/// The names within a small edit distance of `input`, closest first.
fn suggestions<'a>(input: &str, names: &[&'a str]) -> Vec<&'a str> {
    let threshold = input.chars().count() * 2 / 5 + 1;
    let mut close: Vec<(usize, &str)> = names
        .iter()
        .map(|n| (distance(&input.to_lowercase(), &n.to_lowercase()), *n))
        .filter(|(d, _)| *d <= threshold)
        .collect();
    close.sort();
    close.into_iter().take(5).map(|(_, n)| n).collect()
}

fn quoted_or(names: &[&str]) -> String {
    let quoted: Vec<String> = names.iter().map(|n| format!("\"{n}\"")).collect();
    match quoted.as_slice() {
        [one] => one.clone(),
        [a, b] => format!("{a} or {b}"),
        [rest @ .., last] => format!("{}, or {last}", rest.join(", ")),
        [] => String::new(),
    }
}

/// Levenshtein distance.
fn distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut previous = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let current = row[j + 1];
            row[j + 1] = if ca == *cb {
                previous
            } else {
                1 + previous.min(row[j]).min(current)
            };
            previous = current;
        }
    }
    row[b.len()]
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::super::document::parse;
    use super::*;

    fn check(query: &str, suggest: bool) -> Result<Measure, Vec<String>> {
        let doc = parse(query).unwrap();
        validate(&doc, doc.operation(None).unwrap(), suggest)
    }

    #[test]
    fn measures_depth_aliases_and_introspection() {
        let m = check(
            "{ a: books { author { books { id } } } b: books { id } }",
            false,
        )
        .unwrap();
        assert_eq!(
            m,
            Measure {
                depth: 4,
                aliases: 2,
                introspection: false
            }
        );
        assert!(
            check("{ __schema { types { name } } }", false)
                .unwrap()
                .introspection
        );
        assert!(!check("{ __typename }", false).unwrap().introspection);
        let m = check(
            "{ books { ...F } } fragment F on Book { author { name } }",
            false,
        )
        .unwrap();
        assert_eq!(m.depth, 3);
    }

    #[test]
    fn unknown_fields_are_errors_with_suggestions_only_when_asked() {
        let errors = check("{ books { titel } }", true).unwrap_err();
        assert_eq!(
            errors,
            ["Cannot query field \"titel\" on type \"Book\". Did you mean \"title\"?"]
        );
        let errors = check("{ books { titel } }", false).unwrap_err();
        assert_eq!(errors, ["Cannot query field \"titel\" on type \"Book\"."]);
        assert!(!check("{ zzzzzz }", true).unwrap_err()[0].contains("Did you mean"));
    }

    #[test]
    fn selections_and_arguments_must_fit_the_schema() {
        assert!(check("{ books }", false).is_err());
        assert!(check("{ books { id { x } } }", false).is_err());
        assert!(check("{ book { id } }", false).is_err());
        assert!(check("{ book(id: 1, nope: 2) { id } }", false).is_err());
        assert!(check("{ books { ...F } } fragment F on Author { name }", false).is_err());
        assert!(check("{ books { ...F } } fragment F on Book { ...F }", false).is_err());
    }

    #[test]
    fn fragment_explosions_stop_at_the_budget() {
        let mut query = String::from("{ books { ...F0 } }");
        for i in 0..20 {
            query.push_str(&format!(
                " fragment F{i} on Book {{ ...F{} ...F{} }}",
                i + 1,
                i + 1
            ));
        }
        query.push_str(" fragment F20 on Book { id }");
        let errors = check(&query, false).unwrap_err();
        assert!(
            errors.iter().any(|e| e.contains("more than 10000")),
            "{errors:?}"
        );
    }
}
