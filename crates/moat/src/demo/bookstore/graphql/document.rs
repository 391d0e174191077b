//! A GraphQL document read with `apollo-parser` into the few shapes the
//! executor needs: operations and fragments, fields with their alias,
//! arguments and selections. Parsing is bounded (tokens and nesting).

use std::collections::HashMap;

use apollo_parser::Parser;
use apollo_parser::cst::{self, CstNode};
use serde_json::Value as Json;

/// Most lexer tokens in a document.
const MAX_TOKENS: usize = 30_000;
/// Deepest nesting the parser follows (selection sets, lists, objects).
const MAX_NESTING: usize = 100;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum OperationKind {
    Query,
    Mutation,
    Subscription,
}

#[derive(Debug)]
pub(super) struct Operation {
    pub(super) kind: OperationKind,
    pub(super) name: Option<String>,
    /// Variable names and their defaults.
    pub(super) variables: Vec<(String, Option<Value>)>,
    pub(super) selection: Vec<Selection>,
}

#[derive(Debug)]
pub(super) struct Fragment {
    pub(super) on: String,
    pub(super) selection: Vec<Selection>,
}

#[derive(Debug)]
pub(super) enum Selection {
    Field(Field),
    Spread(String),
    Inline {
        on: Option<String>,
        selection: Vec<Selection>,
    },
}

#[derive(Debug)]
pub(super) struct Field {
    pub(super) alias: Option<String>,
    pub(super) name: String,
    pub(super) arguments: Vec<(String, Value)>,
    pub(super) selection: Vec<Selection>,
}

impl Field {
    /// The key of the field in the answer.
    pub(super) fn key(&self) -> &str {
        self.alias.as_deref().unwrap_or(&self.name)
    }
}

/// An argument or default value.
#[derive(Debug, Clone)]
pub(super) enum Value {
    Variable(String),
    Const(Json),
    List(Vec<Value>),
    Object(Vec<(String, Value)>),
}

#[derive(Debug, Default)]
pub(super) struct Document {
    pub(super) operations: Vec<Operation>,
    pub(super) fragments: HashMap<String, Fragment>,
}

impl Document {
    /// The operation to execute: the one named `name`, or the only one.
    pub(super) fn operation(&self, name: Option<&str>) -> Result<&Operation, String> {
        match name {
            Some(wanted) => self
                .operations
                .iter()
                .find(|o| o.name.as_deref() == Some(wanted))
                .ok_or_else(|| format!("Unknown operation named \"{wanted}\".")),
            None if self.operations.len() == 1 => self
                .operations
                .first()
                .ok_or_else(|| "No operation.".into()),
            None => {
                Err("Must provide operation name if query contains multiple operations.".into())
            }
        }
    }
}

/// Parses `text`; the first syntax error otherwise.
pub(super) fn parse(text: &str) -> Result<Document, String> {
    let tree = Parser::new(text)
        .token_limit(MAX_TOKENS)
        .recursion_limit(MAX_NESTING)
        .parse();
    if let Some(error) = tree.errors().next() {
        return Err(format!("Syntax Error: {}", error.message()));
    }
    let mut document = Document::default();
    for definition in tree.document().definitions() {
        match definition {
            cst::Definition::OperationDefinition(o) => document.operations.push(operation(&o)?),
            cst::Definition::FragmentDefinition(f) => {
                let name = f
                    .fragment_name()
                    .and_then(|n| n.name())
                    .map(|n| n.text().to_string())
                    .ok_or_else(syntax)?;
                let on = f
                    .type_condition()
                    .and_then(|t| t.named_type())
                    .and_then(|n| n.name())
                    .map(|n| n.text().to_string())
                    .ok_or_else(syntax)?;
                let selection = selection_set(f.selection_set())?;
                if document
                    .fragments
                    .insert(name.clone(), Fragment { on, selection })
                    .is_some()
                {
                    return Err(format!("There can be only one fragment named \"{name}\"."));
                }
            }
            _ => return Err("Only operations and fragments may be sent.".into()),
        }
    }
    if document.operations.is_empty() {
        return Err("The document has no operation.".into());
    }
    Ok(document)
}

fn syntax() -> String {
    "Syntax Error: incomplete definition".into()
}

fn operation(o: &cst::OperationDefinition) -> Result<Operation, String> {
    let kind = match o.operation_type() {
        Some(t) if t.mutation_token().is_some() => OperationKind::Mutation,
        Some(t) if t.subscription_token().is_some() => OperationKind::Subscription,
        _ => OperationKind::Query,
    };
    let mut variables = Vec::new();
    if let Some(defs) = o.variable_definitions() {
        for d in defs.variable_definitions() {
            let name = d
                .variable()
                .and_then(|v| v.name())
                .map(|n| n.text().to_string())
                .ok_or_else(syntax)?;
            let default = d
                .default_value()
                .and_then(|v| v.value())
                .map(|v| value(&v))
                .transpose()?;
            variables.push((name, default));
        }
    }
    Ok(Operation {
        kind,
        name: o.name().map(|n| n.text().to_string()),
        variables,
        selection: selection_set(o.selection_set())?,
    })
}

fn selection_set(set: Option<cst::SelectionSet>) -> Result<Vec<Selection>, String> {
    let Some(set) = set else {
        return Ok(Vec::new());
    };
    let mut out = Vec::new();
    for selection in set.selections() {
        out.push(match selection {
            cst::Selection::Field(f) => Selection::Field(Field {
                alias: f
                    .alias()
                    .and_then(|a| a.name())
                    .map(|n| n.text().to_string()),
                name: f.name().map(|n| n.text().to_string()).ok_or_else(syntax)?,
                arguments: f
                    .arguments()
                    .map(|a| {
                        a.arguments()
                            .map(|a| {
                                let name =
                                    a.name().map(|n| n.text().to_string()).ok_or_else(syntax)?;
                                let v = a.value().ok_or_else(syntax)?;
                                Ok((name, value(&v)?))
                            })
                            .collect::<Result<Vec<_>, String>>()
                    })
                    .transpose()?
                    .unwrap_or_default(),
                selection: selection_set(f.selection_set())?,
            }),
            cst::Selection::FragmentSpread(s) => Selection::Spread(
                s.fragment_name()
                    .and_then(|n| n.name())
                    .map(|n| n.text().to_string())
                    .ok_or_else(syntax)?,
            ),
            cst::Selection::InlineFragment(i) => Selection::Inline {
                on: i
                    .type_condition()
                    .and_then(|t| t.named_type())
                    .and_then(|n| n.name())
                    .map(|n| n.text().to_string()),
                selection: selection_set(i.selection_set())?,
            },
        });
    }
    Ok(out)
}

fn value(v: &cst::Value) -> Result<Value, String> {
    Ok(match v {
        cst::Value::Variable(v) => {
            Value::Variable(v.name().map(|n| n.text().to_string()).ok_or_else(syntax)?)
        }
        cst::Value::StringValue(s) => Value::Const(Json::String(String::from(s))),
        cst::Value::IntValue(i) => Value::Const(
            i.source_string()
                .trim()
                .parse::<i64>()
                .map(Json::from)
                .map_err(|_| "Int cannot represent a value this large.".to_string())?,
        ),
        cst::Value::FloatValue(f) => Value::Const(
            f64::try_from(f)
                .ok()
                .and_then(serde_json::Number::from_f64)
                .map(Json::Number)
                .ok_or_else(|| "Float cannot represent this value.".to_string())?,
        ),
        cst::Value::BooleanValue(b) => Value::Const(Json::Bool(b.true_token().is_some())),
        cst::Value::NullValue(_) => Value::Const(Json::Null),
        cst::Value::EnumValue(e) => Value::Const(Json::String(
            e.name().map(|n| n.text().to_string()).ok_or_else(syntax)?,
        )),
        cst::Value::ListValue(l) => {
            Value::List(l.values().map(|v| value(&v)).collect::<Result<_, _>>()?)
        }
        cst::Value::ObjectValue(o) => Value::Object(
            o.object_fields()
                .map(|f| {
                    let name = f.name().map(|n| n.text().to_string()).ok_or_else(syntax)?;
                    let v = f.value().ok_or_else(syntax)?;
                    Ok((name, value(&v)?))
                })
                .collect::<Result<_, String>>()?,
        ),
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn reads_operations_fragments_aliases_and_arguments() {
        let doc = parse(
            "query Q($id: ID! = 2) { first: book(id: $id) { ...B } books { ... on Book { id } } }\
             fragment B on Book { title price }",
        )
        .unwrap();
        let op = doc.operation(None).unwrap();
        assert_eq!(op.kind, OperationKind::Query);
        assert_eq!(op.variables.len(), 1);
        let Selection::Field(f) = &op.selection[0] else {
            panic!("a field")
        };
        assert_eq!((f.key(), f.name.as_str()), ("first", "book"));
        assert!(matches!(&f.arguments[0].1, Value::Variable(v) if v == "id"));
        assert_eq!(doc.fragments["B"].on, "Book");
    }

    #[test]
    fn refuses_syntax_errors_and_type_definitions() {
        assert!(parse("{ books { ").unwrap_err().starts_with("Syntax Error"));
        assert!(parse("type T { a: Int }").is_err());
        assert!(parse("fragment A on Book { id }").is_err());
        let deep = format!("{}{}", "{ a ".repeat(500), "}".repeat(500));
        assert!(parse(&deep).is_err());
    }

    #[test]
    fn picks_the_named_operation() {
        let doc = parse("query A { books { id } } mutation B { __typename }").unwrap();
        assert!(doc.operation(None).is_err());
        assert_eq!(
            doc.operation(Some("B")).unwrap().kind,
            OperationKind::Mutation
        );
        assert!(doc.operation(Some("C")).is_err());
    }
}
