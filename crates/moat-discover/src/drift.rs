//! Discovered operations measured against the API's document: shadow
//! (seen, not documented), zombie (documented as deprecated, or an older
//! version of an operation also used in a newer one, and still used),
//! orphan (documented, never seen) and documented.
//!
//! Older versions are found in the traffic alone (see [`crate::version`]),
//! so an undocumented `/v1/…` beside a `/v2/…` is both shadow and zombie:
//! its standing is [`Standing::Shadow`] and [`Judged::zombie`] says why it
//! is a zombie too.
//!
//! A discovered operation is matched with the gateway's own matcher
//! ([`moat_spec::OperationTable`]) on one request that took it, so it
//! counts as documented exactly when the gateway would route it.

use std::collections::BTreeSet;

use moat_spec::{Match, OperationTable};

use crate::template::DiscoveredOperation;
use crate::version::{OlderVersion, older_versions};

/// How a discovered operation stands against the document.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Standing {
    /// Documented and current.
    Documented,
    /// Documented, and still used although the document marks it
    /// deprecated or a newer version of it is used too
    /// ([`Judged::zombie`] says which).
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

/// Why an operation still used is a zombie.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ZombieReason {
    /// The document marks it `deprecated: true`.
    Deprecated,
    /// It is an older version of an operation also used in a newer one.
    OlderVersion {
        /// The template of the newest version seen (`/v2/books/{id}`).
        newer: String,
    },
}

impl ZombieReason {
    /// The reason's name in reports: `deprecated`, `older_version`.
    pub fn as_str(&self) -> &'static str {
        match self {
            ZombieReason::Deprecated => "deprecated",
            ZombieReason::OlderVersion { .. } => "older_version",
        }
    }
}

impl From<OlderVersion> for ZombieReason {
    fn from(o: OlderVersion) -> Self {
        ZombieReason::OlderVersion { newer: o.newer }
    }
}

/// One discovered operation and what the document says of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Judged {
    /// The operation as discovered.
    pub discovered: DiscoveredOperation,
    /// How it stands.
    pub standing: Standing,
    /// Why it is a zombie, when it is one: always set for
    /// [`Standing::Zombie`], and set for a [`Standing::Shadow`] operation
    /// that is an older version of another. Deprecation comes first when
    /// both apply.
    pub zombie: Vec<ZombieReason>,
    /// The documented operation it is (`operationId`, or `METHOD /path`).
    pub documented_as: Option<String>,
    /// Its index in the document's operations
    /// ([`moat_spec::ApiSpec::operations`]), when documented.
    pub documented_index: Option<usize>,
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

/// Why each of `discovered` (same order) is a zombie by the traffic alone,
/// without a document: older versions of operations also used in a newer
/// version.
pub fn version_zombies(discovered: &[DiscoveredOperation]) -> Vec<Option<ZombieReason>> {
    older_versions(discovered)
        .into_iter()
        .map(|o| o.map(ZombieReason::from))
        .collect()
}

/// Judges `discovered` against the document in `table`.
pub fn compare(discovered: &[DiscoveredOperation], table: &OperationTable) -> Drift {
    let mut seen = BTreeSet::new();
    let mut operations = Vec::with_capacity(discovered.len());
    let versions = version_zombies(discovered);
    for (op, older) in discovered.iter().zip(versions) {
        let mut zombie = Vec::new();
        let (documented, documented_as, documented_index) =
            match table.find(&op.method, &op.example) {
                Match::Found {
                    operation, index, ..
                } => {
                    seen.insert(index);
                    if operation.deprecated {
                        zombie.push(ZombieReason::Deprecated);
                    }
                    (true, Some(operation.id().to_string()), Some(index))
                }
                Match::MethodNotAllowed { .. } | Match::NotFound => (false, None, None),
            };
        zombie.extend(older);
        let standing = match (documented, zombie.is_empty()) {
            (false, _) => Standing::Shadow,
            (true, true) => Standing::Documented,
            (true, false) => Standing::Zombie,
        };
        operations.push(Judged {
            discovered: op.clone(),
            standing,
            zombie,
            documented_as,
            documented_index,
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
        assert_eq!(zombie.zombie, [ZombieReason::Deprecated]);
        assert!(drift.of(Standing::Documented).all(|j| j.zombie.is_empty()));
    }

    const VERSIONED: &str = r#"
openapi: 3.1.0
info: {title: shop, version: "2"}
paths:
  /api/v1/books:
    get: {operationId: listBooksV1, responses: {"200": {description: ok}}}
  /api/v2/books:
    get: {operationId: listBooksV2, responses: {"200": {description: ok}}}
  /api/v1/authors:
    get: {operationId: listAuthorsV1, deprecated: true, responses: {"200": {description: ok}}}
  /api/v2/authors:
    get: {operationId: listAuthorsV2, responses: {"200": {description: ok}}}
"#;

    #[test]
    fn an_older_version_still_used_is_a_zombie_even_when_not_deprecated() {
        let table = OperationTable::new(moat_spec::load_text("v.yaml", VERSIONED).unwrap());
        let mut t = Templater::new();
        for p in [
            "/api/v1/books",
            "/api/v2/books",
            "/api/v1/authors",
            "/api/v2/authors",
        ] {
            t.observe("GET", p).unwrap();
        }
        // Undocumented, and older than a v2 seen beside it.
        t.observe("DELETE", "/api/v1/books").unwrap();
        t.observe("DELETE", "/api/v2/books").unwrap();
        let drift = compare(&t.operations(), &table);
        let of = |m: &str, p: &str| {
            drift
                .operations
                .iter()
                .find(|j| j.discovered.method == m && j.discovered.template() == p)
                .unwrap()
        };
        let v1 = of("GET", "/api/v1/books");
        assert_eq!(v1.standing, Standing::Zombie);
        assert_eq!(
            v1.zombie,
            [ZombieReason::OlderVersion {
                newer: "/api/v2/books".into()
            }]
        );
        assert_eq!(v1.zombie[0].as_str(), "older_version");
        let authors = of("GET", "/api/v1/authors");
        assert_eq!(authors.standing, Standing::Zombie);
        assert_eq!(
            authors
                .zombie
                .iter()
                .map(ZombieReason::as_str)
                .collect::<Vec<_>>(),
            ["deprecated", "older_version"]
        );
        assert_eq!(of("GET", "/api/v2/books").standing, Standing::Documented);
        let shadow = of("DELETE", "/api/v1/books");
        assert_eq!(shadow.standing, Standing::Shadow);
        assert_eq!(shadow.zombie.len(), 1);
        assert!(of("DELETE", "/api/v2/books").zombie.is_empty());
        assert!(drift.has_drift());
        // Only the newest version used: no drift.
        let mut t = Templater::new();
        for p in ["/api/v2/books", "/api/v2/authors"] {
            t.observe("GET", p).unwrap();
        }
        let drift = compare(&t.operations(), &table);
        assert!(
            drift
                .operations
                .iter()
                .all(|j| j.standing == Standing::Documented)
        );
    }

    #[test]
    fn without_a_document_older_versions_are_still_zombies() {
        let mut t = Templater::new();
        for p in ["/v1/books", "/v2/books", "/v2/authors"] {
            t.observe("GET", p).unwrap();
        }
        let ops = t.operations();
        let found: Vec<(String, Option<ZombieReason>)> = ops
            .iter()
            .map(DiscoveredOperation::template)
            .zip(version_zombies(&ops))
            .collect();
        assert_eq!(
            found,
            [
                (
                    "/v1/books".to_string(),
                    Some(ZombieReason::OlderVersion {
                        newer: "/v2/books".into()
                    })
                ),
                ("/v2/authors".to_string(), None),
                ("/v2/books".to_string(), None),
            ]
        );
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
