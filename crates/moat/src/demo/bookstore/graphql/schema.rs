//! The bookstore's GraphQL schema as data: every type the executor
//! validates against and introspection describes, the introspection types
//! included. Types are written in GraphQL's own notation (`[Book!]!`).

/// What kind of type a named type is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    Scalar,
    Object,
    Enum,
}

impl Kind {
    pub(super) const fn as_str(self) -> &'static str {
        match self {
            Kind::Scalar => "SCALAR",
            Kind::Object => "OBJECT",
            Kind::Enum => "ENUM",
        }
    }
}

/// A named type.
#[derive(Debug)]
pub(super) struct TypeDef {
    pub(super) name: &'static str,
    pub(super) kind: Kind,
    pub(super) fields: &'static [FieldDef],
    pub(super) enum_values: &'static [&'static str],
}

/// A field of an object type.
#[derive(Debug)]
pub(super) struct FieldDef {
    pub(super) name: &'static str,
    /// Its type, `[Book!]!`.
    pub(super) ty: &'static str,
    pub(super) args: &'static [ArgDef],
}

/// An argument of a field.
#[derive(Debug)]
pub(super) struct ArgDef {
    pub(super) name: &'static str,
    pub(super) ty: &'static str,
    /// Its default, as GraphQL text.
    pub(super) default: Option<&'static str>,
}

const fn field(name: &'static str, ty: &'static str) -> FieldDef {
    FieldDef {
        name,
        ty,
        args: &[],
    }
}

const fn arg(name: &'static str, ty: &'static str) -> ArgDef {
    ArgDef {
        name,
        ty,
        default: None,
    }
}

const fn object(name: &'static str, fields: &'static [FieldDef]) -> TypeDef {
    TypeDef {
        name,
        kind: Kind::Object,
        fields,
        enum_values: &[],
    }
}

const fn scalar(name: &'static str) -> TypeDef {
    TypeDef {
        name,
        kind: Kind::Scalar,
        fields: &[],
        enum_values: &[],
    }
}

const INCLUDE_DEPRECATED: &[ArgDef] = &[ArgDef {
    name: "includeDeprecated",
    ty: "Boolean",
    default: Some("false"),
}];

/// Every named type, the roots first.
pub(super) const TYPES: &[TypeDef] = &[
    object(
        "Query",
        &[
            field("books", "[Book!]!"),
            FieldDef {
                name: "book",
                ty: "Book",
                args: &[arg("id", "ID!")],
            },
            field("authors", "[Author!]!"),
        ],
    ),
    object(
        "Mutation",
        &[FieldDef {
            name: "addReview",
            ty: "Review",
            args: &[arg("bookId", "ID!"), arg("text", "String!")],
        }],
    ),
    object(
        "Book",
        &[
            field("id", "ID!"),
            field("title", "String!"),
            field("price", "Float!"),
            field("author", "Author!"),
            field("reviews", "[Review!]!"),
        ],
    ),
    object(
        "Author",
        &[field("name", "String!"), field("books", "[Book!]!")],
    ),
    object("Review", &[field("id", "ID!"), field("text", "String!")]),
    scalar("ID"),
    scalar("String"),
    scalar("Float"),
    scalar("Int"),
    scalar("Boolean"),
    object(
        "__Schema",
        &[
            field("description", "String"),
            field("types", "[__Type!]!"),
            field("queryType", "__Type!"),
            field("mutationType", "__Type"),
            field("subscriptionType", "__Type"),
            field("directives", "[__Directive!]!"),
        ],
    ),
    object(
        "__Type",
        &[
            field("kind", "__TypeKind!"),
            field("name", "String"),
            field("description", "String"),
            FieldDef {
                name: "fields",
                ty: "[__Field!]",
                args: INCLUDE_DEPRECATED,
            },
            field("interfaces", "[__Type!]"),
            field("possibleTypes", "[__Type!]"),
            FieldDef {
                name: "enumValues",
                ty: "[__EnumValue!]",
                args: INCLUDE_DEPRECATED,
            },
            FieldDef {
                name: "inputFields",
                ty: "[__InputValue!]",
                args: INCLUDE_DEPRECATED,
            },
            field("ofType", "__Type"),
            field("specifiedByURL", "String"),
            field("isOneOf", "Boolean"),
        ],
    ),
    object(
        "__Field",
        &[
            field("name", "String!"),
            field("description", "String"),
            FieldDef {
                name: "args",
                ty: "[__InputValue!]!",
                args: INCLUDE_DEPRECATED,
            },
            field("type", "__Type!"),
            field("isDeprecated", "Boolean!"),
            field("deprecationReason", "String"),
        ],
    ),
    object(
        "__InputValue",
        &[
            field("name", "String!"),
            field("description", "String"),
            field("type", "__Type!"),
            field("defaultValue", "String"),
            field("isDeprecated", "Boolean!"),
            field("deprecationReason", "String"),
        ],
    ),
    object(
        "__EnumValue",
        &[
            field("name", "String!"),
            field("description", "String"),
            field("isDeprecated", "Boolean!"),
            field("deprecationReason", "String"),
        ],
    ),
    object(
        "__Directive",
        &[
            field("name", "String!"),
            field("description", "String"),
            field("locations", "[__DirectiveLocation!]!"),
            FieldDef {
                name: "args",
                ty: "[__InputValue!]!",
                args: INCLUDE_DEPRECATED,
            },
            field("isRepeatable", "Boolean!"),
        ],
    ),
    TypeDef {
        name: "__TypeKind",
        kind: Kind::Enum,
        fields: &[],
        enum_values: &[
            "SCALAR",
            "OBJECT",
            "INTERFACE",
            "UNION",
            "ENUM",
            "INPUT_OBJECT",
            "LIST",
            "NON_NULL",
        ],
    },
    TypeDef {
        name: "__DirectiveLocation",
        kind: Kind::Enum,
        fields: &[],
        enum_values: &["QUERY", "MUTATION", "FIELD", "FRAGMENT_DEFINITION"],
    },
];

/// The named type `name`.
pub(super) fn named(name: &str) -> Option<&'static TypeDef> {
    TYPES.iter().find(|t| t.name == name)
}

/// The field `name` of type `ty`.
pub(super) fn field_of(ty: &str, name: &str) -> Option<&'static FieldDef> {
    named(ty)?.fields.iter().find(|f| f.name == name)
}

/// The named type inside a type reference: `Book` for `[Book!]!`.
pub(super) fn base(ty: &str) -> &str {
    ty.trim_start_matches('[').trim_end_matches(['!', ']'])
}

/// What a type reference is: non-null or list around `of`, or named.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Wrapper<'a> {
    NonNull(&'a str),
    List(&'a str),
    Named(&'a str),
}

pub(super) fn unwrap(ty: &str) -> Wrapper<'_> {
    if let Some(inner) = ty.strip_suffix('!') {
        Wrapper::NonNull(inner)
    } else if let Some(inner) = ty.strip_prefix('[').and_then(|t| t.strip_suffix(']')) {
        Wrapper::List(inner)
    } else {
        Wrapper::Named(ty)
    }
}

/// Whether a value of `ty` needs a selection of subfields.
pub(super) fn is_composite(ty: &str) -> bool {
    named(base(ty)).is_some_and(|t| t.kind == Kind::Object)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_field_type_is_declared() {
        for t in TYPES {
            for f in t.fields {
                assert!(
                    named(base(f.ty)).is_some(),
                    "{}.{}: {}",
                    t.name,
                    f.name,
                    f.ty
                );
                for a in f.args {
                    assert!(
                        named(base(a.ty)).is_some(),
                        "{}.{}({})",
                        t.name,
                        f.name,
                        a.name
                    );
                }
            }
        }
    }

    #[test]
    fn unwraps_type_references() {
        assert_eq!(unwrap("[Book!]!"), Wrapper::NonNull("[Book!]"));
        assert_eq!(unwrap("[Book!]"), Wrapper::List("Book!"));
        assert_eq!(unwrap("Book"), Wrapper::Named("Book"));
        assert_eq!(base("[Book!]!"), "Book");
        assert!(is_composite("[Book!]!") && !is_composite("String!"));
    }
}
