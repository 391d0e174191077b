//! OpenAPI 3.0/3.1 loading, `$ref` resolution, and matching requests to the
//! operations a spec documents.
//!
//! moat only lets through what the spec describes, so the spec is its policy:
//! [`load`] reads it (and every file it refers to) once, checks every `$ref`
//! and every operation, and reports all problems with file, line and column.
//! [`OperationTable`] then answers, per request, which documented operation
//! it is — without regexes or per-request allocation on a miss.
//!
//! ```
//! use moat_spec::{Match, OperationTable, load};
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let dir = tempfile::tempdir()?;
//! let path = dir.path().join("pets.yaml");
//! std::fs::write(&path, r#"
//! openapi: 3.1.0
//! info: {title: Pets, version: "1"}
//! servers: [{url: "https://api.example.com/v1"}]
//! paths:
//!   /pets/{id}:
//!     get:
//!       operationId: showPet
//!       parameters: [{name: id, in: path, required: true, schema: {type: string}}]
//!       responses: {"200": {description: the pet}}
//! "#)?;
//!
//! let table = OperationTable::new(load(&path)?);
//! // `/v1/pets/42`, split and percent-decoded by the gateway.
//! match table.find("GET", &["v1", "pets", "42"]) {
//!     Match::Found { operation, params, .. } => {
//!         assert_eq!(operation.id(), "showPet");
//!         assert_eq!(params, [("id".to_string(), "42".to_string())]);
//!     }
//!     other => panic!("expected a match, got {other:?}"),
//! }
//! assert!(matches!(
//!     table.find("DELETE", &["v1", "pets", "42"]),
//!     Match::MethodNotAllowed { .. }
//! ));
//! assert_eq!(table.find("GET", &["v1", "cats"]), Match::NotFound);
//! # Ok(())
//! # }
//! ```
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used))]

mod documents;
mod linker;
mod loader;
mod model;
mod operations;
mod pointer;
mod reference;
mod security;
mod servers;
mod suggest;
mod table;
mod template;

pub use documents::{DocId, Target};
pub use linker::is_data_key;
pub use loader::{load, load_text, load_with_ref_dirs};
pub use moat_config::diagnostic::{Diagnostic, Diagnostics};
pub use model::{
    ApiSpec, Method, OpenApiVersion, Operation, Parameter, ParameterLocation, Resolved,
};
pub use reference::{MAX_REF_CHAIN, ResolveError};
pub use security::{ApiKeyLocation, Requirement, SchemeKind, SecurityPolicy, SecurityScheme};
pub use table::{MAX_PATH_PARAMS, Match, OperationTable};
pub use template::shape_of;

#[cfg(test)]
mod tests;
