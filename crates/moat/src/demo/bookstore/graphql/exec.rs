//! Executes a validated operation over a snapshot of the bookstore's data:
//! books, their authors and reviews, and introspection of the schema.
//! Every resolved field counts against [`MAX_FIELDS`]; past it the
//! operation stops with an error.

use serde_json::{Map, Value as Json, json};

use super::document::{Document, Field, Operation, Selection, Value};
use super::schema::{self, Kind, TYPES, Wrapper};
use super::validate::MAX_FIELDS;

/// Longest review text, and most reviews kept.
const MAX_REVIEW_CHARS: usize = 500;
const MAX_REVIEWS: usize = 1_000;

/// A review of a book.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Review {
    pub(crate) id: u64,
    pub(crate) book_id: u64,
    pub(crate) text: String,
}

/// What an operation reads and may change.
pub(super) struct Data<'a> {
    /// The books, by id.
    pub(super) books: Vec<Map<String, Json>>,
    pub(super) reviews: &'a mut Vec<Review>,
    /// The caller's name, when one is logged in.
    pub(super) caller: Option<String>,
}

/// Runs `op`: the answer's `data`, and its errors.
pub(super) fn execute(
    doc: &Document,
    op: &Operation,
    variables: &Map<String, Json>,
    data: &mut Data<'_>,
) -> (Json, Vec<String>) {
    let mut vars = variables.clone();
    for (name, default) in &op.variables {
        if !vars.contains_key(name)
            && let Some(default) = default
        {
            let value = evaluate(default, variables);
            vars.insert(name.clone(), value);
        }
    }
    let root = match op.kind {
        super::document::OperationKind::Mutation => Obj::Mutation,
        _ => Obj::Query,
    };
    let mut exec = Exec {
        doc,
        vars: &vars,
        data,
        resolved: 0,
        errors: Vec::new(),
    };
    match exec.selection_set(&root, &op.selection) {
        Ok(map) => (Json::Object(map), exec.errors),
        Err(Abort) => (Json::Null, exec.errors),
    }
}

/// The operation resolved too many fields.
struct Abort;

/// A value being resolved.
#[derive(Debug, Clone)]
enum Obj {
    Query,
    Mutation,
    /// A book, by index into the snapshot.
    Book(usize),
    Author(String),
    /// A review, by index.
    Review(usize),
    Schema,
    /// A type, in GraphQL notation (`[Book!]!` or `Book`).
    Type(String),
    Field(&'static schema::FieldDef),
    Input(&'static schema::ArgDef),
    EnumValue(&'static str),
}

impl Obj {
    fn type_name(&self) -> &'static str {
        match self {
            Obj::Query => "Query",
            Obj::Mutation => "Mutation",
            Obj::Book(_) => "Book",
            Obj::Author(_) => "Author",
            Obj::Review(_) => "Review",
            Obj::Schema => "__Schema",
            Obj::Type(_) => "__Type",
            Obj::Field(_) => "__Field",
            Obj::Input(_) => "__InputValue",
            Obj::EnumValue(_) => "__EnumValue",
        }
    }
}

/// What a field resolves to.
enum Out {
    Leaf(Json),
    Obj(Obj),
    List(Vec<Out>),
}

fn objs(items: impl IntoIterator<Item = Obj>) -> Out {
    Out::List(items.into_iter().map(Out::Obj).collect())
}

fn null() -> Out {
    Out::Leaf(Json::Null)
}

struct Exec<'e, 'd> {
    doc: &'e Document,
    vars: &'e Map<String, Json>,
    data: &'e mut Data<'d>,
    resolved: usize,
    errors: Vec<String>,
}

impl Exec<'_, '_> {
    fn selection_set(
        &mut self,
        obj: &Obj,
        selection: &[Selection],
    ) -> Result<Map<String, Json>, Abort> {
        let mut out = Map::new();
        self.collect(obj, selection, &mut out)?;
        Ok(out)
    }

    fn collect(
        &mut self,
        obj: &Obj,
        selection: &[Selection],
        out: &mut Map<String, Json>,
    ) -> Result<(), Abort> {
        for s in selection {
            match s {
                Selection::Field(f) => {
                    let value = self.field(obj, f)?;
                    out.insert(f.key().to_string(), value);
                }
                Selection::Spread(name) => {
                    if let Some(fragment) = self.doc.fragments.get(name) {
                        self.collect(obj, &fragment.selection, out)?;
                    }
                }
                Selection::Inline { selection, .. } => self.collect(obj, selection, out)?,
            }
        }
        Ok(())
    }

    fn field(&mut self, obj: &Obj, f: &Field) -> Result<Json, Abort> {
        self.resolved += 1;
        if self.resolved > MAX_FIELDS {
            self.errors
                .push(format!("The query resolves more than {MAX_FIELDS} fields."));
            return Err(Abort);
        }
        if f.name == "__typename" {
            return Ok(Json::String(obj.type_name().to_string()));
        }
        let args: Map<String, Json> = f
            .arguments
            .iter()
            .map(|(n, v)| (n.clone(), evaluate(v, self.vars)))
            .collect();
        match self.resolve(obj, &f.name, &args) {
            Ok(out) => self.complete(out, &f.selection),
            Err(message) => {
                self.errors.push(message);
                Ok(Json::Null)
            }
        }
    }

    fn complete(&mut self, out: Out, selection: &[Selection]) -> Result<Json, Abort> {
        Ok(match out {
            Out::Leaf(v) => v,
            Out::Obj(o) => Json::Object(self.selection_set(&o, selection)?),
            Out::List(items) => Json::Array(
                items
                    .into_iter()
                    .map(|i| self.complete(i, selection))
                    .collect::<Result<_, _>>()?,
            ),
        })
    }

    fn resolve(&mut self, obj: &Obj, name: &str, args: &Map<String, Json>) -> Result<Out, String> {
        let books = &self.data.books;
        Ok(match (obj, name) {
            (Obj::Query, "books") => objs((0..books.len()).map(Obj::Book)),
            (Obj::Query, "book") => {
                let id = id_arg(args, "id")?;
                books
                    .iter()
                    .position(|b| book_id(b) == id)
                    .map_or_else(null, |i| Out::Obj(Obj::Book(i)))
            }
            (Obj::Query, "authors") => {
                let mut names: Vec<String> = books.iter().map(author_of).collect();
                names.sort();
                names.dedup();
                objs(names.into_iter().map(Obj::Author))
            }
            (Obj::Query, "__schema") => Out::Obj(Obj::Schema),
            (Obj::Query, "__type") => {
                let wanted = args.get("name").and_then(Json::as_str).unwrap_or_default();
                schema::named(wanted).map_or_else(null, |t| Out::Obj(Obj::Type(t.name.to_string())))
            }
            (Obj::Mutation, "addReview") => Out::Obj(self.add_review(args)?),
            (Obj::Book(i), field) => {
                let book = books.get(*i).ok_or("no such book")?;
                match field {
                    "id" => Out::Leaf(Json::String(book_id(book).to_string())),
                    "title" => Out::Leaf(book.get("title").cloned().unwrap_or(Json::Null)),
                    "price" => Out::Leaf(book.get("price").cloned().unwrap_or(Json::Null)),
                    "author" => Out::Obj(Obj::Author(author_of(book))),
                    "reviews" => {
                        let id = book_id(book);
                        objs(
                            self.data
                                .reviews
                                .iter()
                                .enumerate()
                                .filter(|(_, r)| r.book_id == id)
                                .map(|(i, _)| Obj::Review(i)),
                        )
                    }
                    _ => null(),
                }
            }
            (Obj::Author(name), "name") => Out::Leaf(Json::String(name.clone())),
            (Obj::Author(name), "books") => objs(
                books
                    .iter()
                    .enumerate()
                    .filter(|(_, b)| &author_of(b) == name)
                    .map(|(i, _)| Obj::Book(i)),
            ),
            (Obj::Review(i), field) => {
                let review = self.data.reviews.get(*i).ok_or("no such review")?;
                match field {
                    "id" => Out::Leaf(Json::String(review.id.to_string())),
                    "text" => Out::Leaf(Json::String(review.text.clone())),
                    _ => null(),
                }
            }
            (Obj::Schema, field) => match field {
                "types" => objs(TYPES.iter().map(|t| Obj::Type(t.name.to_string()))),
                "queryType" => Out::Obj(Obj::Type("Query".into())),
                "mutationType" => Out::Obj(Obj::Type("Mutation".into())),
                "directives" => Out::List(Vec::new()),
                _ => null(),
            },
            (Obj::Type(ty), field) => type_field(ty, field),
            (Obj::Field(def), field) => match field {
                "name" => Out::Leaf(json!(def.name)),
                "args" => objs(def.args.iter().map(Obj::Input)),
                "type" => Out::Obj(Obj::Type(def.ty.to_string())),
                "isDeprecated" => Out::Leaf(json!(false)),
                _ => null(),
            },
            (Obj::Input(def), field) => match field {
                "name" => Out::Leaf(json!(def.name)),
                "type" => Out::Obj(Obj::Type(def.ty.to_string())),
                "defaultValue" => Out::Leaf(json!(def.default)),
                "isDeprecated" => Out::Leaf(json!(false)),
                _ => null(),
            },
            (Obj::EnumValue(name), field) => match field {
                "name" => Out::Leaf(json!(name)),
                "isDeprecated" => Out::Leaf(json!(false)),
                _ => null(),
            },
            _ => null(),
        })
    }

    /// `addReview(bookId, text)`: a logged-in caller's review of a book
    /// that exists, within the bounds.
    fn add_review(&mut self, args: &Map<String, Json>) -> Result<Obj, String> {
        if self.data.caller.is_none() {
            return Err("addReview needs a logged-in caller.".into());
        }
        let book = id_arg(args, "bookId")?;
        if !self.data.books.iter().any(|b| book_id(b) == book) {
            return Err(format!("Book {book} does not exist."));
        }
        let text = args.get("text").and_then(Json::as_str).unwrap_or_default();
        if text.is_empty() || text.chars().count() > MAX_REVIEW_CHARS {
            return Err(format!("text must be 1 to {MAX_REVIEW_CHARS} characters."));
        }
        if self.data.reviews.len() >= MAX_REVIEWS {
            return Err("No more reviews are taken.".into());
        }
        let id = self.data.reviews.iter().map(|r| r.id).max().unwrap_or(0) + 1;
        self.data.reviews.push(Review {
            id,
            book_id: book,
            text: text.to_string(),
        });
        Ok(Obj::Review(self.data.reviews.len() - 1))
    }
}

/// A field of `__Type` for the type written `ty`.
fn type_field(ty: &str, field: &str) -> Out {
    let (kind, of) = match schema::unwrap(ty) {
        Wrapper::NonNull(of) => ("NON_NULL", Some(of)),
        Wrapper::List(of) => ("LIST", Some(of)),
        Wrapper::Named(name) => (
            schema::named(name).map_or("SCALAR", |t| t.kind.as_str()),
            None,
        ),
    };
    let def = match of {
        Some(_) => None,
        None => schema::named(ty),
    };
    match field {
        "kind" => Out::Leaf(json!(kind)),
        "name" => Out::Leaf(def.map_or(Json::Null, |d| json!(d.name))),
        "ofType" => of.map_or_else(null, |of| Out::Obj(Obj::Type(of.to_string()))),
        "fields" => match def {
            Some(d) if d.kind == Kind::Object => objs(d.fields.iter().map(Obj::Field)),
            _ => null(),
        },
        "interfaces" => match def {
            Some(d) if d.kind == Kind::Object => Out::List(Vec::new()),
            _ => null(),
        },
        "enumValues" => match def {
            Some(d) if d.kind == Kind::Enum => {
                objs(d.enum_values.iter().copied().map(Obj::EnumValue))
            }
            _ => null(),
        },
        _ => null(),
    }
}

fn book_id(book: &Map<String, Json>) -> u64 {
    book.get("id").and_then(Json::as_u64).unwrap_or_default()
}

fn author_of(book: &Map<String, Json>) -> String {
    book.get("author")
        .and_then(Json::as_str)
        .unwrap_or_default()
        .to_string()
}

/// An `ID` argument: a string or an integer naming a positive number.
fn id_arg(args: &Map<String, Json>, name: &str) -> Result<u64, String> {
    match args.get(name) {
        Some(Json::String(s)) => s.parse().ok(),
        Some(Json::Number(n)) => n.as_u64(),
        _ => None,
    }
    .filter(|id| *id >= 1)
    .ok_or_else(|| format!("{name} must name a positive integer id."))
}

/// A value with its variables put in; an unknown variable is null.
fn evaluate(value: &Value, vars: &Map<String, Json>) -> Json {
    match value {
        Value::Variable(name) => vars.get(name).cloned().unwrap_or(Json::Null),
        Value::Const(v) => v.clone(),
        Value::List(items) => Json::Array(items.iter().map(|i| evaluate(i, vars)).collect()),
        Value::Object(fields) => Json::Object(
            fields
                .iter()
                .map(|(n, v)| (n.clone(), evaluate(v, vars)))
                .collect(),
        ),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::super::document::parse;
    use super::*;

    fn books() -> Vec<Map<String, Json>> {
        [
            json!({"id": 1, "title": "One", "author": "Ann", "price": 10.5, "stock": 1}),
            json!({"id": 2, "title": "Two", "author": "Bo", "price": 20, "stock": 1}),
        ]
        .into_iter()
        .filter_map(|b| b.as_object().cloned())
        .collect()
    }

    fn run(query: &str, reviews: &mut Vec<Review>, caller: Option<&str>) -> (Json, Vec<String>) {
        let doc = parse(query).unwrap();
        let op = doc.operation(None).unwrap();
        let mut data = Data {
            books: books(),
            reviews,
            caller: caller.map(str::to_string),
        };
        execute(&doc, op, &Map::new(), &mut data)
    }

    #[test]
    fn answers_fields_arguments_aliases_and_nesting() {
        let (data, errors) = run(
            "{ b: book(id: \"2\") { title author { name books { id } } } books { __typename id } }",
            &mut Vec::new(),
            None,
        );
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(
            data,
            json!({
                "b": {"title": "Two", "author": {"name": "Bo", "books": [{"id": "2"}]}},
                "books": [{"__typename": "Book", "id": "1"}, {"__typename": "Book", "id": "2"}],
            })
        );
        let (data, _) = run("{ book(id: 9) { id } }", &mut Vec::new(), None);
        assert_eq!(data, json!({"book": null}));
    }

    #[test]
    fn introspection_describes_the_schema() {
        let (data, errors) = run(
            "{ __schema { queryType { name } types { name kind fields { name type { kind ofType { kind ofType { name } } } } } } }",
            &mut Vec::new(),
            None,
        );
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(data["__schema"]["queryType"]["name"], "Query");
        let types = data["__schema"]["types"].as_array().unwrap();
        let book = types.iter().find(|t| t["name"] == "Book").unwrap();
        let reviews = book["fields"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["name"] == "reviews")
            .unwrap();
        assert_eq!(reviews["type"]["kind"], "NON_NULL");
        assert_eq!(reviews["type"]["ofType"]["kind"], "LIST");
        assert_eq!(reviews["type"]["ofType"]["ofType"]["name"], json!(null));
        let (data, _) = run(
            "{ __type(name: \"Review\") { name kind } }",
            &mut Vec::new(),
            None,
        );
        assert_eq!(
            data,
            json!({"__type": {"name": "Review", "kind": "OBJECT"}})
        );
    }

    #[test]
    fn add_review_needs_a_caller_and_is_bounded() {
        let mut reviews = Vec::new();
        let q = "mutation { addReview(bookId: 1, text: \"Good\") { id text } }";
        let (data, errors) = run(q, &mut reviews, None);
        assert_eq!(data, json!({"addReview": null}));
        assert_eq!(errors.len(), 1);
        let (data, errors) = run(q, &mut reviews, Some("alice"));
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(data, json!({"addReview": {"id": "1", "text": "Good"}}));
        let (data, _) = run("{ book(id: 1) { reviews { text } } }", &mut reviews, None);
        assert_eq!(data, json!({"book": {"reviews": [{"text": "Good"}]}}));
        let (_, errors) = run(
            "mutation { addReview(bookId: 7, text: \"x\") { id } }",
            &mut reviews,
            Some("a"),
        );
        assert_eq!(errors.len(), 1);
    }

    #[test]
    fn stops_past_the_field_budget() {
        let mut query = String::from("{ books { ...F0 } }");
        for i in 0..14 {
            query.push_str(&format!(
                " fragment F{i} on Book {{ ...F{} ...F{} }}",
                i + 1,
                i + 1
            ));
        }
        query.push_str(" fragment F14 on Book { a: __typename b: __typename }");
        let (data, errors) = run(&query, &mut Vec::new(), None);
        assert_eq!(data, Json::Null);
        assert!(errors[0].contains("more than"), "{errors:?}");
    }
}
