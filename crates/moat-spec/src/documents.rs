//! The files a spec is made of, and following `$ref`s between them.
//!
//! A spec may be split over several files. They are all read at load time
//! (see [`crate::load`]) and kept here, so that following a reference later —
//! lazily, one step at a time, as a validator walks a recursive schema — needs
//! no I/O and cannot fail for a reason that loading did not already report.

use std::collections::HashMap;

use moat_config::source::{Document, pointer_of};
use serde_json::Value;

use crate::pointer::{self, PointerError};
use crate::reference::{MAX_REF_CHAIN, Reference, ResolveError, is_remote};
use crate::suggest::suggest;

/// One of the files a spec was loaded from.
///
/// The root document is [`DocId::ROOT`]; the others were reached through file
/// `$ref`s. A `$ref` inside a value is relative to the document the value came
/// from, which is why resolved values carry their `DocId`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DocId(u32);

impl DocId {
    /// The document passed to [`crate::load`].
    pub const ROOT: DocId = DocId(0);

    /// The position of the document in [`crate::ApiSpec::documents`].
    pub fn index(self) -> usize {
        self.0 as usize
    }
}

/// Where following a reference ended.
#[derive(Debug, Clone, PartialEq)]
pub struct Target<'a> {
    /// The document the value is in: `$ref`s inside `value` are relative to it.
    pub doc: DocId,
    /// The JSON pointer of `value` inside `doc`; `None` when the value given
    /// to [`crate::ApiSpec::resolve`] was not a reference, so its place is
    /// whatever the caller already knew.
    pub pointer: Option<String>,
    /// The value itself.
    pub value: &'a Value,
}

/// Every document of a spec, with the links between them.
#[derive(Debug, Clone, Default)]
pub(crate) struct DocumentSet {
    docs: Vec<Document>,
    /// For each document, the file part of its `$ref`s (as written) to the
    /// document it names.
    links: HashMap<DocId, HashMap<String, DocId>>,
    /// Absolute `$id`s declared by schemas (OpenAPI 3.1), to the document and
    /// pointer of the schema declaring it.
    ids: HashMap<String, (DocId, String)>,
}

impl DocumentSet {
    /// Adds a document and returns its id.
    pub(crate) fn push(&mut self, doc: Document) -> DocId {
        let id = DocId(u32::try_from(self.docs.len()).unwrap_or(u32::MAX));
        self.docs.push(doc);
        id
    }

    /// Records that `file` (as written in a `$ref` of `from`) is `to`.
    pub(crate) fn link(&mut self, from: DocId, file: &str, to: DocId) {
        self.links
            .entry(from)
            .or_default()
            .insert(file.to_string(), to);
    }

    /// True when `file` as written in `from` has been linked already.
    pub(crate) fn is_linked(&self, from: DocId, file: &str) -> bool {
        self.links.get(&from).is_some_and(|m| m.contains_key(file))
    }

    /// Records a schema's absolute `$id`.
    pub(crate) fn add_id(&mut self, uri: &str, doc: DocId, pointer: &str) {
        let uri = uri.split_once('#').map_or(uri, |(u, _)| u);
        self.ids
            .entry(uri.to_string())
            .or_insert_with(|| (doc, pointer.to_string()));
    }

    /// The id of the document at `index` in [`Self::all`].
    pub(crate) fn id_of(&self, index: usize) -> DocId {
        DocId(u32::try_from(index).unwrap_or(u32::MAX))
    }

    pub(crate) fn get(&self, id: DocId) -> Option<&Document> {
        self.docs.get(id.index())
    }

    pub(crate) fn all(&self) -> &[Document] {
        &self.docs
    }

    /// Follows one `$ref` written in document `base`.
    ///
    /// Returns the target document, the JSON pointer of the target inside it
    /// and the target value. Does not follow further references.
    pub(crate) fn step<'a>(
        &'a self,
        base: DocId,
        reference: &str,
    ) -> Result<(DocId, String, &'a Value), ResolveError> {
        match Reference::parse(reference)? {
            Reference::Relative { file, fragment } => {
                let doc_id = match file {
                    None => base,
                    Some(f) => self
                        .links
                        .get(&base)
                        .and_then(|m| m.get(f))
                        .copied()
                        .ok_or_else(|| ResolveError::FileNotLoaded {
                            reference: reference.to_string(),
                        })?,
                };
                let doc = self.get(doc_id).ok_or(ResolveError::UnknownDocument)?;
                let (pointer, value) = locate(&doc.value, "", &fragment, reference)?;
                Ok((doc_id, pointer, value))
            }
            Reference::Absolute { uri, fragment } => {
                if let Some((doc_id, base_pointer)) = self.ids.get(uri) {
                    let doc = self.get(*doc_id).ok_or(ResolveError::UnknownDocument)?;
                    let root = doc
                        .value
                        .pointer(base_pointer)
                        .ok_or(ResolveError::UnknownDocument)?;
                    let (pointer, value) = locate(root, base_pointer, &fragment, reference)?;
                    return Ok((*doc_id, pointer, value));
                }
                if is_remote(uri) {
                    Err(ResolveError::Remote {
                        reference: reference.to_string(),
                    })
                } else {
                    Err(ResolveError::UnsupportedScheme {
                        reference: reference.to_string(),
                    })
                }
            }
        }
    }

    /// Follows `value` while it is a reference, to the value it finally names.
    pub(crate) fn follow<'a>(
        &'a self,
        doc: DocId,
        value: &'a Value,
    ) -> Result<Target<'a>, ResolveError> {
        let mut current = Target {
            doc,
            pointer: None,
            value,
        };
        let mut chain: Vec<String> = Vec::new();
        let mut seen: Vec<(DocId, String)> = Vec::new();
        while let Some(reference) = ref_of(current.value) {
            if chain.len() >= MAX_REF_CHAIN {
                return Err(ResolveError::TooDeep {
                    reference: chain.swap_remove(0),
                });
            }
            chain.push(reference.to_string());
            let (doc, pointer, value) = self.step(current.doc, reference)?;
            if seen.iter().any(|(d, p)| *d == doc && *p == pointer) {
                return Err(ResolveError::Loop { chain });
            }
            seen.push((doc, pointer.clone()));
            current = Target {
                doc,
                pointer: Some(pointer),
                value,
            };
        }
        Ok(current)
    }
}

/// The `$ref` string of a reference object, if `value` is one.
pub(crate) fn ref_of(value: &Value) -> Option<&str> {
    value.as_object()?.get("$ref")?.as_str()
}

/// Finds the value a fragment names inside `root` (whose own pointer in its
/// document is `base`).
fn locate<'a>(
    root: &'a Value,
    base: &str,
    fragment: &str,
    reference: &str,
) -> Result<(String, &'a Value), ResolveError> {
    if fragment.is_empty() {
        return Ok((base.to_string(), root));
    }
    if !fragment.starts_with('/') {
        return find_anchor(root, fragment)
            .map(|(p, v)| (format!("{base}{p}"), v))
            .ok_or_else(|| {
                let prefix = reference.split_once('#').map_or("", |(f, _)| f);
                let slashed = format!("/{fragment}");
                let suggestion = pointer::tokens(&slashed)
                    .ok()
                    .filter(|t| walk(root, t).is_ok())
                    .map(|_| format!("{prefix}#{slashed}"));
                ResolveError::NotFound {
                    reference: reference.to_string(),
                    what: format!("no schema declares `$anchor: {fragment}`, and a JSON pointer starts with `/`"),
                    suggestion,
                }
            });
    }
    let tokens = pointer::tokens(fragment).map_err(|e: PointerError| ResolveError::Malformed {
        reference: reference.to_string(),
        reason: e.reason().to_string(),
    })?;
    match walk(root, &tokens) {
        Ok(value) => Ok((
            format!("{base}{}", pointer_of(tokens.iter().map(String::as_str))),
            value,
        )),
        Err(missing) => Err(not_found(root, &tokens, missing, reference)),
    }
}

/// Walks tokens down from `root`; on failure, the index of the first token
/// that names nothing.
fn walk<'a>(root: &'a Value, tokens: &[String]) -> Result<&'a Value, usize> {
    let mut value = root;
    for (i, token) in tokens.iter().enumerate() {
        value = pointer::child(value, token).ok_or(i)?;
    }
    Ok(value)
}

fn not_found(root: &Value, tokens: &[String], missing: usize, reference: &str) -> ResolveError {
    let parent_tokens = tokens.get(..missing).unwrap_or_default();
    let parent_pointer = pointer_of(parent_tokens.iter().map(String::as_str));
    let token = tokens.get(missing).map_or("", String::as_str);
    let parent = walk(root, parent_tokens).ok();
    let what = match parent {
        Some(Value::Object(_)) => format!("`#{parent_pointer}` has no `{token}`"),
        Some(Value::Array(items)) => format!(
            "`#{parent_pointer}` is a list of {} item(s) and `{token}` is not one of its indices",
            items.len()
        ),
        Some(_) => format!("`#{parent_pointer}` is a plain value, so it has no `{token}`"),
        None => format!("`#{parent_pointer}` does not exist"),
    };
    let suggestion = match parent {
        Some(Value::Object(map)) => {
            suggest(token, map.keys().map(String::as_str)).and_then(|close| {
                let mut fixed = tokens.to_vec();
                *fixed.get_mut(missing)? = close.to_string();
                walk(root, &fixed).ok()?;
                let prefix = reference.split_once('#').map_or("", |(f, _)| f);
                Some(format!(
                    "{prefix}#{}",
                    pointer_of(fixed.iter().map(String::as_str))
                ))
            })
        }
        _ => None,
    };
    ResolveError::NotFound {
        reference: reference.to_string(),
        what,
        suggestion,
    }
}

/// The schema declaring `$anchor: name` (OpenAPI 3.1), with its pointer
/// relative to `root`.
fn find_anchor<'a>(root: &'a Value, name: &str) -> Option<(String, &'a Value)> {
    let mut stack = vec![(String::new(), root)];
    while let Some((pointer, value)) = stack.pop() {
        match value {
            Value::Object(map) => {
                if map.get("$anchor").and_then(Value::as_str) == Some(name) {
                    return Some((pointer, value));
                }
                for (k, v) in map {
                    let mut p = pointer.clone();
                    moat_config::source::push_pointer(&mut p, k);
                    stack.push((p, v));
                }
            }
            Value::Array(items) => {
                for (i, v) in items.iter().enumerate() {
                    stack.push((format!("{pointer}/{i}"), v));
                }
            }
            _ => {}
        }
    }
    None
}
