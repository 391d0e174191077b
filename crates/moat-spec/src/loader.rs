//! Loading a spec: version check, files and references, then the model.

use std::path::{Path, PathBuf};

use moat_config::diagnostic::{Diagnostic, Diagnostics};
use moat_config::source::Document;
use serde_json::Value;

use crate::documents::DocId;
use crate::linker;
use crate::model::{ApiSpec, OpenApiVersion};
use crate::operations::Builder;

/// Loads an OpenAPI 3.0.x or 3.1.x document (YAML or JSON) and every file its
/// `$ref`s name, checks it, and builds the [`ApiSpec`].
///
/// All problems found are returned together, each with its file, line and
/// column, so that one run shows everything to fix. Only a document whose
/// version moat cannot read stops at that first problem, because everything
/// after it would be guesswork.
///
/// `$ref`s may read files from the document's directory and below only;
/// [`load_with_ref_dirs`] allows more directories.
pub fn load(path: &Path) -> Result<ApiSpec, Diagnostics> {
    load_with_ref_dirs(path, &[])
}

/// [`load`], with `$ref`s also allowed to read files in `ref_dirs` and the
/// directories below them.
pub fn load_with_ref_dirs(path: &Path, ref_dirs: &[PathBuf]) -> Result<ApiSpec, Diagnostics> {
    build(Document::load(path)?, ref_dirs)
}

/// Loads a document held in memory (moat's own admin API document, say);
/// `name` stands for its path in diagnostics. File `$ref`s are resolved
/// from the current directory, like [`load`]'s from the document's.
pub fn load_text(name: &str, text: &str) -> Result<ApiSpec, Diagnostics> {
    let source = moat_config::source::SourceFile::new(name, text);
    build(Document::parse(source)?, &[])
}

fn build(root: Document, ref_dirs: &[PathBuf]) -> Result<ApiSpec, Diagnostics> {
    let openapi = version(&root)?;
    let mut diags = Diagnostics::default();
    let mut warnings = Vec::new();

    let set = linker::link(root, openapi, ref_dirs, &mut diags);
    let refs_reported = !diags.is_empty();
    let Some(root) = set.get(DocId::ROOT) else {
        return Err(diags);
    };
    let root_value = &root.value;

    let info = root_value.get("info");
    let title = info_field(root, info, "title", &mut warnings);
    let version = info_field(root, info, "version", &mut warnings);

    let mut builder = Builder {
        set: &set,
        diags: &mut diags,
        warnings: &mut warnings,
        refs_reported,
    };
    let server_paths = builder
        .servers(DocId::ROOT, "/servers", root_value.get("servers"))
        .unwrap_or_else(|| vec![String::new()]);
    let mut operations = builder.operations(&server_paths);
    let schemes = builder.security_schemes();
    let root_policy = match root_value.get("security") {
        Some(v) => builder.security_policy(DocId::ROOT, "/security", v, &schemes),
        None => crate::security::SecurityPolicy::default(),
    };
    for op in &mut operations {
        op.policy = match &op.security {
            Some(v) => {
                let (doc, pointer) = (op.doc, format!("{}/security", op.pointer));
                builder.security_policy(doc, &pointer, v, &schemes)
            }
            None => root_policy.clone(),
        };
    }

    if openapi == OpenApiVersion::V3_0 && root_value.get("paths").is_none() {
        warnings.push(
            root.error_at("", "an OpenAPI 3.0 document must have `paths`")
                .with_hint("add `paths: {}` if the API has no operations yet"),
        );
    }
    let security_schemes = root_value
        .get("components")
        .and_then(|c| c.get("securitySchemes"))
        .cloned();
    let security = root_value.get("security").cloned();

    let warnings = warnings.into_iter().map(Diagnostic::into_warning).collect();
    diags.into_result(ApiSpec {
        openapi,
        title,
        version,
        server_paths,
        operations,
        security_schemes,
        schemes,
        security,
        warnings,
        documents: set,
    })
}

/// Checks the `openapi` field: moat reads 3.0.x and 3.1.x.
fn version(doc: &Document) -> Result<OpenApiVersion, Diagnostic> {
    let Some(root) = doc.value.as_object() else {
        return Err(doc
            .error_at("", "an OpenAPI document must be a mapping")
            .with_hint("it starts with `openapi: 3.1.0`, `info:` and `paths:`"));
    };
    let swagger_hint = "moat reads OpenAPI 3.0 and 3.1; convert Swagger 2.0 with a tool such as `swagger2openapi`, or by opening it in editor.swagger.io and converting it to OpenAPI 3";
    match root.get("openapi") {
        None if root.contains_key("swagger") => Err(doc
            .error_at("/swagger", "Swagger 2.0 documents are not supported")
            .with_hint(swagger_hint)),
        None => Err(doc
            .error_at(
                "",
                "this document has no `openapi` field, so it is not an OpenAPI document",
            )
            .with_hint("an OpenAPI document starts with `openapi: 3.1.0` (or `3.0.3`)")),
        Some(Value::String(v)) => {
            if is_version(v, "3.0.") {
                Ok(OpenApiVersion::V3_0)
            } else if is_version(v, "3.1.") {
                Ok(OpenApiVersion::V3_1)
            } else if v.starts_with("2.") {
                Err(doc
                    .error_at("/openapi", format!("OpenAPI/Swagger {v} is not supported"))
                    .with_hint(swagger_hint))
            } else {
                Err(doc
                    .error_at("/openapi", format!("unsupported OpenAPI version `{v}`"))
                    .with_hint("moat reads OpenAPI 3.0.x and 3.1.x, e.g. `openapi: 3.1.0`"))
            }
        }
        Some(other) => Err(doc
            .error_at(
                "/openapi",
                format!("`openapi` must be a string, not `{other}`"),
            )
            .with_hint(
                "quote the full version, e.g. `openapi: \"3.1.0\"` (YAML reads 3.1 as a number)",
            )),
    }
}

/// `3.0.` or `3.1.` followed by a patch number.
fn is_version(v: &str, family: &str) -> bool {
    v.strip_prefix(family)
        .is_some_and(|patch| !patch.is_empty() && patch.bytes().all(|b| b.is_ascii_digit()))
}

/// A string field of `info`, or empty with a warning: a missing title costs
/// nothing at run time, so it should not stop a deploy.
fn info_field(
    doc: &Document,
    info: Option<&Value>,
    field: &str,
    warnings: &mut Vec<Diagnostic>,
) -> String {
    match info.and_then(|i| i.get(field)) {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Number(n)) => n.to_string(),
        _ => {
            let at = if info.is_some() { "/info" } else { "" };
            warnings.push(
                doc.error_at(at, format!("`info.{field}` is missing"))
                    .with_hint(format!(
                        "OpenAPI requires `info: {{title: …, version: …}}`; add `{field}`"
                    )),
            );
            String::new()
        }
    }
}
