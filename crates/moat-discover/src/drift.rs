//! Discovered operations measured against the API's document: shadow
//! (seen, not documented), zombie (documented as deprecated, still used),
//! orphan (documented, never seen) and documented.
//!
//! A discovered operation is matched with the gateway's own matcher
//! ([`moat_spec::OperationTable`]) on one request that took it, so it
//! counts as documented exactly when the gateway would route it.

use std::collections::BTreeSet;

use moat_spec::{Match, OperationTable};

use crate::template::DiscoveredOperation;

/// How a discovered operation stands against the document.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Standing {
    /// Documented and current.
    Documented,
    /// Documented as `deprecated: true`, and still used.
    Zombie,
    /// Not in the document (its path is not, or not with this method).
    Shadow,
}

impl Standing {
    /// The name in reports.
    pub fn as_str(self) -> &'static str {
        match self {
            Standing::Documented => "documented",
            Standing::Zombie => "zombie",
            Standing::Shadow => "shadow",
        }
    }
}

/// One discovered operation and what the document says of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Judged {
    /// The operation as discovered.
    pub discovered: DiscoveredOperation,
    /// How it stands.
    pub standing: Standing,
    /// The documented operation it is (`operationId`, or `METHOD /path`).
    pub documented_as: Option<String>,
}

/// Every discovered operation judged, and the documented ones no request
/// reached.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Drift {
    /// The discovered operations, in their order.
    pub operations: Vec<Judged>,
    /// Documented operations never seen: `(method, path template)`.
    pub orphans: Vec<(String, String)>,
}

impl Drift {
    /// Whether the traffic and the document disagree: any shadow or
    /// zombie operation, or any orphan.
    pub fn has_drift(&self) -> bool {
        !self.orphans.is_empty()
            || self
                .operations
                .iter()
                .any(|j| j.standing != Standing::Documented)
    }

    /// The operations of one standing.
    pub fn of(&self, standing: Standing) -> impl Iterator<Item = &Judged> {
        self.operations
            .iter()
            .filter(move |j| j.standing == standing)
    }
}

/// Judges `discovered` against the document in `table`.
pub fn compare(discovered: &[DiscoveredOperation], table: &OperationTable) -> Drift {
    let mut seen = BTreeSet::new();
    let mut operations = Vec::with_capacity(discovered.len());
    for op in discovered {
        let (standing, documented_as) = match table.find(&op.method, &op.example) {
            Match::Found {
                operation, index, ..
            } => {
                seen.insert(index);
                let standing = if operation.deprecated {
                    Standing::Zombie
                } else {
                    Standing::Documented
                };
                (standing, Some(operation.id().to_string()))
            }
            Match::MethodNotAllowed { .. } | Match::NotFound => (Standing::Shadow, None),
        };
        operations.push(Judged {
            discovered: op.clone(),
            standing,
            documented_as,
        });
    }
    let orphans = table
        .spec()
        .operations
        .iter()
        .enumerate()
        .filter(|(i, _)| !seen.contains(i))
        .map(|(_, op)| (op.method.as_str().to_string(), op.path_template.clone()))
        .collect();
    Drift {
        operations,
        orphans,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::template::Templater;

    const DOC: &str = r#"
openapi: 3.1.0
info: {title: shop, version: "1"}
paths:
  /books:
    get: {operationId: listBooks, responses: {"200": {description: ok}}}
  /books/{bookId}:
    parameters: [{name: bookId, in: path, required: true, schema: {type: integer}}]
    get: {operationId: getBook, responses: {"200": {description: ok}}}
    delete: {operationId: deleteBook, responses: {"204": {description: gone}}}
  /v1/books:
    get: {operationId: listBooksV1, deprecated: true, responses: {"200": {description: ok}}}
  /users/{user}:
    parameters: [{name: user, in: path, required: true, schema: {type: string}}]
    get: {operationId: getUser, responses: {"200": {description: ok}}}
"#;

    #[test]
    fn shadow_zombie_orphan_and_documented() {
        let table = OperationTable::new(moat_spec::load_text("shop.yaml", DOC).unwrap());
        let mut t = Templater::new();
        for id in 1..=6 {
            t.observe("GET", &format!("/books/{id}")).unwrap();
        }
        t.observe("GET", "/books").unwrap();
        t.observe("GET", "/v1/books").unwrap();
        t.observe("GET", "/_debug/vars").unwrap();
        // A documented path with an undocumented method is shadow too.
        t.observe("PUT", "/books/3").unwrap();
        let drift = compare(&t.operations(), &table);
        let names = |s: Standing| -> Vec<String> {
            drift
                .of(s)
                .map(|j| format!("{} {}", j.discovered.method, j.discovered.template()))
                .collect()
        };
        assert_eq!(
            names(Standing::Documented),
            ["GET /books", "GET /books/{bookId}"]
        );
        assert_eq!(names(Standing::Zombie), ["GET /v1/books"]);
        assert_eq!(
            names(Standing::Shadow),
            ["GET /_debug/vars", "PUT /books/{bookId}"]
        );
        assert_eq!(
            drift.orphans,
            [
                ("DELETE".to_string(), "/books/{bookId}".to_string()),
                ("GET".to_string(), "/users/{user}".to_string())
            ]
        );
        assert!(drift.has_drift());
        let zombie = drift.of(Standing::Zombie).next().unwrap();
        assert_eq!(zombie.documented_as.as_deref(), Some("listBooksV1"));
    }

    #[test]
    fn traffic_that_matches_its_document_has_no_drift() {
        let doc = "openapi: 3.1.0\ninfo: {title: t, version: '1'}\npaths:\n  /ping:\n    get: {responses: {'200': {description: ok}}}\n";
        let table = OperationTable::new(moat_spec::load_text("t.yaml", doc).unwrap());
        let mut t = Templater::new();
        t.observe("GET", "/ping").unwrap();
        assert!(!compare(&t.operations(), &table).has_drift());
    }
}
