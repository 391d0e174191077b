//! The GraphQL documents the checks send, and what they learn from the
//! schema when introspection answers: a deep query built from a cycle of
//! object fields, and a misspelt field name.

use std::collections::{BTreeMap, HashMap};

use serde_json::Value;

/// Depth of the deep query: root fields are at depth 1.
pub(super) const DEEP: usize = 12;
/// Depth of its control, which any server should answer.
pub(super) const SHALLOW: usize = 3;
/// Aliases in the alias query.
pub(super) const ALIASES: usize = 100;
/// Most types and fields per type read from an introspection answer.
const MAX_TYPES: usize = 500;
const MAX_FIELDS: usize = 200;

/// The introspection query: types, their fields, whether they take
/// required arguments, and their types (three wrappers deep).
pub(super) const INTROSPECTION: &str = "query MoatIntrospection { __schema { queryType { name } mutationType { name } types { name kind fields { name args { type { kind } defaultValue } type { kind name ofType { kind name ofType { kind name ofType { kind name } } } } } } } }";

/// A harmless mutation: it resolves the type name only.
pub(super) const GET_MUTATION: &str = "mutation { __typename }";

/// `count` aliases of `__typename` in one query.
pub(super) fn aliases(count: usize) -> String {
    let fields: Vec<String> = (0..count).map(|i| format!("m{i}: __typename")).collect();
    format!("query MoatAliases {{ {} }}", fields.join(" "))
}

/// A batch of two queries.
pub(super) fn batch() -> Value {
    serde_json::json!([
        {"query": "query MoatBatchA { __typename }"},
        {"query": "query MoatBatchB { __typename }"},
    ])
}

/// The field of an object type, as the checks need it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct FieldInfo {
    pub(super) name: String,
    /// The named type under its wrappers.
    pub(super) ty: String,
    pub(super) list: bool,
    /// Whether it has an argument that must be given.
    pub(super) needs_arguments: bool,
}

/// What introspection told: object types and their fields.
#[derive(Debug, Default, PartialEq, Eq)]
pub(super) struct Schema {
    pub(super) query_type: String,
    pub(super) has_mutations: bool,
    pub(super) objects: BTreeMap<String, Vec<FieldInfo>>,
}

impl Schema {
    /// Reads an introspection answer; `None` when it carries no schema.
    pub(super) fn from_answer(answer: &Value) -> Option<Self> {
        let schema = answer.pointer("/data/__schema")?;
        let types = schema.get("types")?.as_array()?;
        if types.is_empty() {
            return None;
        }
        let mut objects = BTreeMap::new();
        for t in types.iter().take(MAX_TYPES) {
            let (Some(name), Some("OBJECT")) = (
                t.get("name").and_then(Value::as_str),
                t.get("kind").and_then(Value::as_str),
            ) else {
                continue;
            };
            if name.starts_with("__") {
                continue;
            }
            let fields = t
                .get("fields")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .take(MAX_FIELDS)
                .filter_map(field_info)
                .collect();
            objects.insert(name.to_string(), fields);
        }
        Some(Self {
            query_type: schema
                .pointer("/queryType/name")
                .and_then(Value::as_str)
                .unwrap_or("Query")
                .to_string(),
            has_mutations: schema
                .pointer("/mutationType/name")
                .and_then(Value::as_str)
                .is_some(),
            objects,
        })
    }

    /// How many object types it names.
    pub(super) fn len(&self) -> usize {
        self.objects.len()
    }

    /// A chain of `depth - 1` object fields from the query type, each
    /// taking no required argument, single objects preferred to lists;
    /// `None` when the schema has no such chain.
    pub(super) fn chain(&self, depth: usize) -> Option<Vec<String>> {
        let steps = depth.checked_sub(1)?;
        let mut memo = HashMap::new();
        let mut out = Vec::new();
        let mut ty = self.query_type.clone();
        for left in (1..=steps).rev() {
            let next = self
                .steps_from(&ty)
                .into_iter()
                .find(|f| self.reaches(&f.ty, left - 1, &mut memo))?;
            out.push(next.name.clone());
            ty = next.ty.clone();
        }
        Some(out)
    }

    /// The object fields of `ty` a chain may take, single objects first.
    fn steps_from(&self, ty: &str) -> Vec<&FieldInfo> {
        let mut fields: Vec<&FieldInfo> = self
            .objects
            .get(ty)
            .into_iter()
            .flatten()
            .filter(|f| !f.needs_arguments && self.objects.contains_key(&f.ty))
            .collect();
        fields.sort_by_key(|f| f.list);
        fields
    }

    /// Whether `left` more steps can be taken from `ty`.
    fn reaches(&self, ty: &str, left: usize, memo: &mut HashMap<(String, usize), bool>) -> bool {
        if left == 0 {
            return true;
        }
        if let Some(known) = memo.get(&(ty.to_string(), left)) {
            return *known;
        }
        memo.insert((ty.to_string(), left), false);
        let nexts: Vec<String> = self.steps_from(ty).iter().map(|f| f.ty.clone()).collect();
        let ok = nexts.iter().any(|next| self.reaches(next, left - 1, memo));
        memo.insert((ty.to_string(), left), ok);
        ok
    }

    /// A misspelling of one of the query type's fields that is not itself
    /// a field: the field's name with its last letter doubled.
    pub(super) fn misspelt_field(&self) -> Option<String> {
        let fields = self.objects.get(&self.query_type)?;
        fields
            .iter()
            .filter(|f| f.name.chars().count() >= 4)
            .map(|f| {
                let mut typo = f.name.clone();
                if let Some(last) = f.name.chars().last() {
                    typo.push(last);
                }
                typo
            })
            .find(|typo| !fields.iter().any(|f| &f.name == typo))
    }
}

fn field_info(field: &Value) -> Option<FieldInfo> {
    let name = field.get("name")?.as_str()?.to_string();
    let mut ty = field.get("type")?;
    let mut list = false;
    for _ in 0..4 {
        match ty.get("kind").and_then(Value::as_str) {
            Some("NON_NULL") => ty = ty.get("ofType")?,
            Some("LIST") => {
                list = true;
                ty = ty.get("ofType")?;
            }
            _ => break,
        }
    }
    let needs_arguments = field
        .get("args")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .any(|a| {
            a.pointer("/type/kind").and_then(Value::as_str) == Some("NON_NULL")
                && a.get("defaultValue").is_none_or(Value::is_null)
        });
    Some(FieldInfo {
        name,
        ty: ty.get("name")?.as_str()?.to_string(),
        list,
        needs_arguments,
    })
}

/// A query following `chain`, ending in `__typename`: its depth is the
/// chain's length plus one.
pub(super) fn nested(chain: &[String]) -> String {
    let mut query = String::from("query MoatDepth { ");
    for field in chain {
        query.push_str(field);
        query.push_str(" { ");
    }
    query.push_str("__typename");
    for _ in chain {
        query.push_str(" }");
    }
    query.push_str(" }");
    query
}

/// Misspelt common root fields, for when the schema is unknown: each is
/// one letter away from a name many APIs use.
pub(super) const GUESSED_TYPOS: &[&str] = &["userss", "bookss", "productss", "orderss", "itemss"];

/// The query that asks for misspelt fields.
pub(super) fn misspelt(names: &[String]) -> String {
    format!("query MoatSuggest {{ __typename {} }}", names.join(" "))
}

/// The error messages of a GraphQL answer.
pub(super) fn error_messages(answer: &Value) -> Vec<String> {
    answer
        .get("errors")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|e| e.get("message").and_then(Value::as_str))
        .map(str::to_string)
        .collect()
}

/// Whether an answer executed without errors and carries data.
pub(super) fn executed(answer: &Value) -> bool {
    answer.get("data").is_some_and(Value::is_object) && error_messages(answer).is_empty()
}

/// Whether an error message suggests names.
pub(super) fn suggests(message: &str) -> bool {
    message.to_ascii_lowercase().contains("did you mean")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn field(name: &str, ty: Value) -> Value {
        json!({"name": name, "args": [], "type": ty})
    }

    fn named(kind: &str, name: &str) -> Value {
        json!({"kind": kind, "name": name})
    }

    fn non_null(of: Value) -> Value {
        json!({"kind": "NON_NULL", "name": null, "ofType": of})
    }

    fn list(of: Value) -> Value {
        json!({"kind": "LIST", "name": null, "ofType": of})
    }

    fn answer() -> Value {
        json!({"data": {"__schema": {
            "queryType": {"name": "Query"},
            "mutationType": null,
            "types": [
                {"name": "Query", "kind": "OBJECT", "fields": [
                    {"name": "book", "args": [{"type": {"kind": "NON_NULL"}, "defaultValue": null}],
                     "type": named("OBJECT", "Book")},
                    field("books", non_null(list(non_null(named("OBJECT", "Book"))))),
                    field("version", named("SCALAR", "String")),
                ]},
                {"name": "Book", "kind": "OBJECT", "fields": [
                    field("title", non_null(named("SCALAR", "String"))),
                    field("author", non_null(named("OBJECT", "Author"))),
                ]},
                {"name": "Author", "kind": "OBJECT", "fields": [
                    field("books", list(named("OBJECT", "Book"))),
                ]},
                {"name": "__Type", "kind": "OBJECT", "fields": []},
                {"name": "String", "kind": "SCALAR", "fields": null},
            ],
        }}})
    }

    #[test]
    fn reads_objects_and_their_fields() {
        let schema = Schema::from_answer(&answer()).unwrap();
        assert_eq!(schema.len(), 3);
        assert!(!schema.has_mutations);
        let query = &schema.objects["Query"];
        assert!(query[0].needs_arguments && !query[1].needs_arguments);
        assert_eq!((query[1].ty.as_str(), query[1].list), ("Book", true));
        assert!(Schema::from_answer(&json!({"errors": [{"message": "no"}]})).is_none());
        assert!(Schema::from_answer(&json!({"data": {"__schema": {"types": []}}})).is_none());
    }

    #[test]
    fn builds_a_deep_chain_through_a_cycle() {
        let schema = Schema::from_answer(&answer()).unwrap();
        let chain = schema.chain(DEEP).unwrap();
        assert_eq!(chain.len(), DEEP - 1);
        assert_eq!(chain[..4], ["books", "author", "books", "author"]);
        let query = nested(&chain[..2]);
        assert_eq!(query, "query MoatDepth { books { author { __typename } } }");
    }

    #[test]
    fn no_chain_without_a_cycle() {
        let mut schema = Schema::from_answer(&answer()).unwrap();
        schema.objects.insert("Author".into(), Vec::new());
        assert!(schema.chain(DEEP).is_none());
        assert_eq!(schema.chain(SHALLOW).unwrap(), ["books", "author"]);
    }

    #[test]
    fn misspells_a_real_field_into_a_name_that_is_not_one() {
        let schema = Schema::from_answer(&answer()).unwrap();
        assert_eq!(schema.misspelt_field().as_deref(), Some("bookk"));
    }

    #[test]
    fn decides_from_answers() {
        assert!(executed(&json!({"data": {"a": 1}})));
        assert!(!executed(
            &json!({"data": {"a": null}, "errors": [{"message": "x"}]})
        ));
        assert!(!executed(&json!({"errors": [{"message": "x"}]})));
        assert!(suggests(
            "Cannot query field \"titel\". Did you mean \"title\"?"
        ));
        assert!(!suggests("Cannot query field \"titel\" on type \"Book\"."));
        assert_eq!(
            aliases(3),
            "query MoatAliases { m0: __typename m1: __typename m2: __typename }"
        );
    }
}
