//! Reading the files a spec refers to, and checking every `$ref` in them.
//!
//! Every `$ref` is checked when the spec loads, not when a request first
//! reaches it: a typo in a rarely used schema must stop a deploy, not surface
//! as a 500 at 3 a.m. Each problem is reported at the `$ref` value itself.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

use moat_config::diagnostic::{Diagnostic, Diagnostics};
use moat_config::source::{Document, push_pointer};
use serde_json::Value;

use crate::documents::{DocId, DocumentSet, ref_of};
use crate::model::OpenApiVersion;
use crate::pointer::percent_decode;
use crate::reference::{MAX_REF_CHAIN, Reference, ResolveError};

/// Deeper nesting than this is not a real API description.
const MAX_DEPTH: usize = 512;

/// A `$ref` found in a document.
struct Site {
    doc: DocId,
    /// The pointer of the `$ref` string itself (`…/$ref`).
    pointer: String,
    reference: String,
}

impl Site {
    /// The pointer of the reference object (the `$ref`'s parent).
    fn object_pointer(&self) -> &str {
        self.pointer.strip_suffix("/$ref").unwrap_or(&self.pointer)
    }
}

/// Reads every file reachable through `$ref`s from `root`, then checks that
/// every `$ref` in every one of them resolves, reporting problems in `diags`.
///
/// Files are read only from the directory of the root document, the
/// directories below it, and `extra_dirs` (and theirs): a `$ref` to any
/// other file is refused unread, so a document cannot make moat read, let
/// alone print, a secret kept elsewhere.
pub(crate) fn link(
    root: Document,
    version: OpenApiVersion,
    extra_dirs: &[PathBuf],
    diags: &mut Diagnostics,
) -> DocumentSet {
    let mut set = DocumentSet::default();
    let mut by_path: HashMap<PathBuf, Option<DocId>> = HashMap::new();
    let root_path = canonical(root.path()).unwrap_or_else(|_| root.path().to_path_buf());
    let scope = Scope::new(&root_path, extra_dirs);
    let root_id = set.push(root);
    by_path.insert(root_path, Some(root_id));

    let mut sites = Vec::new();
    // Sites whose file could not be read: already reported once.
    let mut unreadable: HashSet<(DocId, String)> = HashSet::new();
    let mut next = 0;
    while let Some(doc) = set.all().get(next) {
        let doc_id = set.id_of(next);
        let mut collector = Collector {
            doc,
            version,
            refs: Vec::new(),
            ids: Vec::new(),
            diags: Vec::new(),
        };
        let mut pointer = String::new();
        collector.visit(&doc.value, &mut pointer, Context::default(), 0);
        let Collector {
            refs,
            ids,
            diags: found,
            ..
        } = collector;
        let dir = doc
            .path()
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_default();
        for d in found {
            diags.push(d);
        }
        for (uri, pointer) in ids {
            set.add_id(&uri, doc_id, &pointer);
        }
        for (pointer, reference) in refs {
            if let Ok(Reference::Relative {
                file: Some(file), ..
            }) = Reference::parse(&reference)
                && !set.is_linked(doc_id, file)
            {
                match open(&mut set, &mut by_path, &scope, &dir, file) {
                    Ok(Some(target)) => set.link(doc_id, file, target),
                    Ok(None) => {
                        unreadable.insert((doc_id, pointer.clone()));
                    }
                    Err(Unreadable::Io(path, error)) => {
                        if let Some(doc) = set.get(doc_id) {
                            diags.push(
                                doc.error_at(
                                    &pointer,
                                    format!("`$ref` names `{file}`, which cannot be read ({}: {error})", path.display()),
                                )
                                .with_hint(format!(
                                    "file references are resolved relative to the directory of the file that contains them ({})",
                                    dir.display()
                                )),
                            );
                        }
                        unreadable.insert((doc_id, pointer.clone()));
                    }
                    Err(Unreadable::Outside(path)) => {
                        if let Some(doc) = set.get(doc_id) {
                            diags.push(
                                doc.error_at(
                                    &pointer,
                                    format!(
                                        "`$ref` names `{file}` ({}), which is outside the directories this document may read files from: {}",
                                        path.display(),
                                        scope.describe()
                                    ),
                                )
                                .with_hint(
                                    "move the file next to the document or below it, or list its directory in the API's `spec_ref_dirs`",
                                ),
                            );
                        }
                        unreadable.insert((doc_id, pointer.clone()));
                    }
                    Err(Unreadable::NotAMapping) => {
                        if let Some(doc) = set.get(doc_id) {
                            diags.push(
                                doc.error_at(
                                    &pointer,
                                    format!("`$ref` names `{file}`, which does not hold a YAML or JSON mapping"),
                                )
                                .with_hint(
                                    "a referenced file holds OpenAPI objects (schemas, parameters, path items…) as a mapping",
                                ),
                            );
                        }
                        unreadable.insert((doc_id, pointer.clone()));
                    }
                    Err(Unreadable::Parse(d)) if d.position.is_none() => {
                        // Not a problem inside the file (it could not be
                        // read at all): say so where it is referred to.
                        if let Some(doc) = set.get(doc_id) {
                            let mut at = doc.error_at(
                                &pointer,
                                format!(
                                    "`$ref` names `{file}`, which cannot be used: {}",
                                    d.message
                                ),
                            );
                            at.hint = d.hint;
                            diags.push(at);
                        }
                        unreadable.insert((doc_id, pointer.clone()));
                    }
                    Err(Unreadable::Parse(mut d)) => {
                        // Positioned in the file, but its text is not
                        // quoted: it may not be a document at all.
                        d.line_text = None;
                        diags.push(d);
                        unreadable.insert((doc_id, pointer.clone()));
                    }
                }
            }
            sites.push(Site {
                doc: doc_id,
                pointer,
                reference,
            });
        }
        next += 1;
    }

    check(&set, &sites, &unreadable, diags);
    set
}

enum Unreadable {
    Io(PathBuf, std::io::Error),
    /// Outside the directories the spec may read from; not read.
    Outside(PathBuf),
    /// Read, but a scalar: nothing a `$ref` can use. Its value is never
    /// shown.
    NotAMapping,
    Parse(Diagnostic),
}

/// The directories a spec's files may be read from, canonical.
struct Scope {
    dirs: Vec<PathBuf>,
}

impl Scope {
    fn new(root: &Path, extra: &[PathBuf]) -> Self {
        let own = root.parent().map(Path::to_path_buf).unwrap_or_default();
        let dirs = std::iter::once(own)
            .chain(extra.iter().filter_map(|d| canonical(d).ok()))
            .collect();
        Self { dirs }
    }

    /// Whether the canonical path `file` is in one of the directories.
    fn contains(&self, file: &Path) -> bool {
        self.dirs.iter().any(|d| file.starts_with(d))
    }

    fn describe(&self) -> String {
        self.dirs
            .iter()
            .map(|d| format!("{}/", d.display()))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// The document for `file` (relative to `dir`), read on first use; `None`
/// when it was found unreadable before (and reported then).
fn open(
    set: &mut DocumentSet,
    by_path: &mut HashMap<PathBuf, Option<DocId>>,
    scope: &Scope,
    dir: &Path,
    file: &str,
) -> Result<Option<DocId>, Unreadable> {
    let decoded = percent_decode(file).unwrap_or(std::borrow::Cow::Borrowed(file));
    let path = dir.join(decoded.as_ref());
    // Canonical: `..` and symbolic links cannot lead out of the scope.
    let key = canonical(&path).map_err(|e| Unreadable::Io(path.clone(), e))?;
    if !scope.contains(&key) {
        return Err(Unreadable::Outside(key));
    }
    if let Some(known) = by_path.get(&key) {
        return Ok(*known);
    }
    match Document::load(&path) {
        Ok(doc) if !doc.value.is_object() => {
            by_path.insert(key, None);
            Err(Unreadable::NotAMapping)
        }
        Ok(doc) => {
            let id = set.push(doc);
            by_path.insert(key, Some(id));
            Ok(Some(id))
        }
        Err(d) => {
            by_path.insert(key, None);
            Err(Unreadable::Parse(d))
        }
    }
}

/// The path files are cached under, so `a/../b.yaml` and `b.yaml` are read
/// once, and files that refer to each other do not loop.
fn canonical(path: &Path) -> std::io::Result<PathBuf> {
    std::fs::canonicalize(path)
}

/// Checks that every site resolves, and that no chain of references loops.
fn check(
    set: &DocumentSet,
    sites: &[Site],
    unreadable: &HashSet<(DocId, String)>,
    diags: &mut Diagnostics,
) {
    // Places already reported as part of a loop, so a loop of n references
    // is reported once, not n times.
    let mut looped: HashSet<(DocId, String)> = HashSet::new();
    for site in sites {
        if unreadable.contains(&(site.doc, site.pointer.clone())) {
            continue;
        }
        let Some(doc) = set.get(site.doc) else {
            continue;
        };
        let (mut at_doc, mut at_pointer, mut at_value) = match set.step(site.doc, &site.reference) {
            Ok(target) => target,
            Err(e) => {
                diags.push(diagnostic(doc, &site.pointer, &e));
                continue;
            }
        };
        // Follow the chain to see whether it comes back here. Broken links
        // further on are reported at their own sites; loops that this site
        // merely leads into are reported at theirs.
        let start = (site.doc, site.object_pointer().to_string());
        let mut chain = vec![site.reference.clone()];
        let mut visited = vec![(at_doc, at_pointer.clone())];
        while let Some(reference) = ref_of(at_value) {
            if (at_doc, at_pointer.as_str()) == (start.0, start.1.as_str()) {
                chain.push(reference.to_string());
                if !looped.contains(&start) {
                    looped.extend(visited.iter().cloned());
                    let e = ResolveError::Loop { chain };
                    diags.push(diagnostic(doc, &site.pointer, &e));
                }
                break;
            }
            if chain.len() >= MAX_REF_CHAIN {
                let e = ResolveError::TooDeep {
                    reference: site.reference.clone(),
                };
                diags.push(diagnostic(doc, &site.pointer, &e));
                break;
            }
            let Ok((d, p, v)) = set.step(at_doc, reference) else {
                break;
            };
            if visited.iter().any(|(vd, vp)| *vd == d && *vp == p) {
                break;
            }
            chain.push(reference.to_string());
            visited.push((d, p.clone()));
            (at_doc, at_pointer, at_value) = (d, p, v);
        }
    }
}

/// A resolution error, reported at the `$ref` value.
pub(crate) fn diagnostic(doc: &Document, pointer: &str, e: &ResolveError) -> Diagnostic {
    let d = doc.error_at(pointer, e.to_string());
    match e.hint() {
        Some(h) => d.with_hint(h),
        None => d,
    }
}

/// What kind of object the walk is in, as far as `$ref` goes.
#[derive(Debug, Clone, Copy, Default)]
struct Context<'k> {
    /// The key this object is the value of.
    parent: Option<&'k str>,
    /// The key the parent is the value of.
    grandparent: Option<&'k str>,
    /// Inside a 3.1 schema with its own `$id`: `$ref`s there are relative to
    /// that URI, which only a JSON Schema validator tracks.
    in_id_scope: bool,
}

/// Keys whose object value maps user-chosen names to things: a key there
/// named `example` or `$ref` is a name, not a keyword.
const NAME_MAPS: &[&str] = &[
    "paths",
    "webhooks",
    "schemas",
    "responses",
    "parameters",
    "examples",
    "requestBodies",
    "headers",
    "securitySchemes",
    "links",
    "callbacks",
    "pathItems",
    "content",
    "encoding",
    "variables",
    "mapping",
    "$defs",
    "definitions",
    "dependentSchemas",
];

/// Keys whose values are data (examples, defaults, enums) or vendor
/// extensions: a `$ref` inside them is not an OpenAPI reference, nor is a
/// `pattern` a schema keyword. `grandparent` is the key two levels above
/// `key` (the key of the object holding the object that has `key`).
pub fn is_data_key(key: &str, value: &Value, grandparent: Option<&str>) -> bool {
    key.starts_with("x-")
        || matches!(key, "example" | "default" | "enum" | "const")
        || (key == "examples" && value.is_array())
        || (key == "value" && grandparent == Some("examples"))
}

struct Collector<'d> {
    doc: &'d Document,
    version: OpenApiVersion,
    /// (pointer of the `$ref` string, the `$ref`)
    refs: Vec<(String, String)>,
    /// (absolute `$id`, pointer of the schema declaring it)
    ids: Vec<(String, String)>,
    diags: Vec<Diagnostic>,
}

impl Collector<'_> {
    fn visit(&mut self, value: &Value, pointer: &mut String, ctx: Context<'_>, depth: usize) {
        if depth > MAX_DEPTH {
            self.diags.push(self.doc.error_at(
                pointer,
                format!("the document is nested more than {MAX_DEPTH} levels deep here"),
            ));
            return;
        }
        match value {
            Value::Object(map) => {
                let property_names = matches!(ctx.parent, Some("properties" | "patternProperties"));
                let names = property_names || ctx.parent.is_some_and(|p| NAME_MAPS.contains(&p));
                let mut in_id_scope = ctx.in_id_scope;
                if !names {
                    if self.version == OpenApiVersion::V3_1
                        && let Some(id) = map.get("$id").and_then(Value::as_str)
                    {
                        if id.contains(':') {
                            self.ids.push((id.to_string(), pointer.clone()));
                        }
                        in_id_scope = true;
                    }
                    match map.get("$ref") {
                        Some(Value::String(r)) if !in_id_scope => {
                            let mut p = pointer.clone();
                            push_pointer(&mut p, "$ref");
                            self.refs.push((p, r.clone()));
                        }
                        Some(Value::String(_)) | None => {}
                        Some(_) => {
                            let mut p = pointer.clone();
                            push_pointer(&mut p, "$ref");
                            self.diags.push(
                                self.doc
                                    .error_at(&p, "`$ref` must be a string")
                                    .with_hint("write `$ref: '#/components/schemas/Name'`"),
                            );
                        }
                    }
                }
                for (key, child) in map {
                    let skip = if property_names {
                        false
                    } else if names {
                        key.starts_with("x-")
                    } else {
                        key == "$ref" || is_data_key(key, child, ctx.grandparent)
                    };
                    if skip {
                        continue;
                    }
                    let len = pointer.len();
                    push_pointer(pointer, key);
                    let inner = Context {
                        parent: Some(key),
                        grandparent: ctx.parent,
                        in_id_scope,
                    };
                    self.visit(child, pointer, inner, depth + 1);
                    pointer.truncate(len);
                }
            }
            Value::Array(items) => {
                for (i, child) in items.iter().enumerate() {
                    let len = pointer.len();
                    push_pointer(pointer, &i.to_string());
                    let inner = Context {
                        parent: None,
                        grandparent: None,
                        in_id_scope: ctx.in_id_scope,
                    };
                    self.visit(child, pointer, inner, depth + 1);
                    pointer.truncate(len);
                }
            }
            _ => {}
        }
    }
}
