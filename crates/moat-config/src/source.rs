//! YAML and JSON documents that remember where every value came from.
//!
//! Configs and OpenAPI documents are parsed into a plain [`serde_json::Value`]
//! (which is what serde and the OpenAPI code want to work with) plus a side
//! table from JSON pointer to source position. Any later error — an unknown key
//! found by serde, a missing file named by a value, a `$ref` that points
//! nowhere — can then be reported at the line and column the user wrote it.

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use saphyr::{LoadableYamlNode, MarkedYaml, Scalar, YamlData};
use serde_json::{Map, Number, Value};

use crate::diagnostic::{Diagnostic, Position};

/// The most nodes one document may hold once parsed.
///
/// saphyr already bounds alias expansion ("billion laughs"); this bounds the
/// tree we build from it, whatever its origin.
const MAX_NODES: usize = 2_000_000;

/// The deepest nesting of mappings and sequences one document may have.
///
/// The YAML scanner stops at 255 nested flow collections (`[`, `{`), which
/// is how a deep JSON document is written; block collections are held to
/// the same number, so that one limit, with one message, covers both.
pub const MAX_DEPTH: usize = 255;

/// A file's text, kept so diagnostics can quote the offending line.
#[derive(Debug)]
pub struct SourceFile {
    path: PathBuf,
    text: String,
}

impl SourceFile {
    /// Wraps text read from `path`.
    pub fn new(path: impl Into<PathBuf>, text: impl Into<String>) -> Self {
        Self {
            path: path.into(),
            text: text.into(),
        }
    }

    /// Reads a file; the error is a diagnostic naming the file, and for
    /// text that is not UTF-8, the line and column of the first invalid
    /// byte.
    pub fn read(path: &Path) -> Result<Self, Diagnostic> {
        match std::fs::read(path) {
            Ok(bytes) => match String::from_utf8(bytes) {
                Ok(text) => Ok(Self::new(path, text)),
                Err(e) => Err(not_utf8(path, e.as_bytes(), e.utf8_error().valid_up_to())),
            },
            Err(e) => {
                Err(
                    Diagnostic::new(path, None, format!("cannot read {}: {e}", path.display()))
                        .with_hint(read_error_hint(&e)),
                )
            }
        }
    }

    /// The path the text was read from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The whole text.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// The text of a 1-based line, if it exists.
    pub fn line(&self, line: u32) -> Option<&str> {
        self.text.lines().nth((line as usize).checked_sub(1)?)
    }
}

/// The diagnostic for a file whose bytes are valid UTF-8 up to `valid`.
/// The line is not quoted: its bytes are not text.
fn not_utf8(path: &Path, bytes: &[u8], valid: usize) -> Diagnostic {
    let before = String::from_utf8_lossy(bytes.get(..valid).unwrap_or_default());
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    let byte = bytes.get(valid).copied().unwrap_or_default();
    Diagnostic::new(
        path,
        Some(Position::new(
            u32::try_from(line).unwrap_or(u32::MAX),
            u32::try_from(column).unwrap_or(u32::MAX),
        )),
        format!("the file is not valid UTF-8: byte 0x{byte:02X} here does not start or continue a UTF-8 character"),
    )
    .with_hint("save the file as UTF-8; a config or OpenAPI document is text")
}

fn read_error_hint(e: &std::io::Error) -> &'static str {
    match e.kind() {
        std::io::ErrorKind::NotFound => {
            "check the path; relative paths are resolved from the directory of the config file"
        }
        std::io::ErrorKind::PermissionDenied => "make the file readable by the user moat runs as",
        std::io::ErrorKind::InvalidData => "the file must be UTF-8 text",
        _ => "check that the path names a readable file",
    }
}

/// A parsed document: its value and where each part of it was written.
#[derive(Debug, Clone)]
pub struct Document {
    /// The document's content.
    pub value: Value,
    source: Arc<SourceFile>,
    /// Position of each value, by JSON pointer ("" is the root).
    values: Arc<HashMap<String, Position>>,
    /// Position of each mapping key, by the JSON pointer of its value.
    keys: Arc<HashMap<String, Position>>,
}

impl Document {
    /// Reads and parses a YAML (or JSON, which YAML 1.2 contains) file.
    pub fn load(path: &Path) -> Result<Self, Diagnostic> {
        Self::parse(SourceFile::read(path)?)
    }

    /// Parses the text of a source file.
    pub fn parse(source: SourceFile) -> Result<Self, Diagnostic> {
        let source = Arc::new(source);
        let docs = MarkedYaml::load_from_str(source.text()).map_err(|e| {
            let m = e.marker();
            let at = Some(Position::new(m.line() as u32, m.col() as u32 + 1));
            let d = if e.info() == "recursion limit exceeded" {
                Diagnostic::new(source.path(), at, too_deep()).with_hint(DEPTH_HINT)
            } else {
                Diagnostic::new(source.path(), at, format!("invalid YAML: {}", e.info())).with_hint(
                    "check indentation, quoting and that every `key:` is followed by a space",
                )
            };
            d.with_source(&source)
        })?;
        let mut docs = docs.into_iter();
        let Some(root) = docs.next() else {
            return Err(
                Diagnostic::new(source.path(), None, "the document is empty")
                    .with_hint("a config or OpenAPI document is a YAML or JSON mapping"),
            );
        };
        if docs.next().is_some() {
            return Err(Diagnostic::new(
                source.path(),
                None,
                "the file holds more than one YAML document (`---`)",
            )
            .with_hint("keep one document per file"));
        }
        let mut builder = Builder {
            source: &source,
            values: HashMap::new(),
            keys: HashMap::new(),
            nodes: 0,
            depth: 0,
        };
        let mut pointer = String::new();
        let value = builder.convert(&root, &mut pointer)?;
        Ok(Self {
            value,
            values: Arc::new(builder.values),
            keys: Arc::new(builder.keys),
            source,
        })
    }

    /// The file this document was read from.
    pub fn path(&self) -> &Path {
        self.source.path()
    }

    /// The source file.
    pub fn source(&self) -> &Arc<SourceFile> {
        &self.source
    }

    /// Where the value at `pointer` starts, or failing that, the nearest
    /// ancestor that has a position.
    pub fn position(&self, pointer: &str) -> Option<Position> {
        let mut p = pointer;
        loop {
            if let Some(pos) = self.values.get(p) {
                return Some(*pos);
            }
            p = &p[..p.rfind('/')?];
        }
    }

    /// Where the key whose value is at `pointer` was written; falls back to the
    /// value's own position.
    pub fn key_position(&self, pointer: &str) -> Option<Position> {
        self.keys
            .get(pointer)
            .copied()
            .or_else(|| self.position(pointer))
    }

    /// A diagnostic pointing at the value at `pointer`; the line is quoted
    /// unless it also holds a secret (`url: …, prefix: …` on one line).
    pub fn error_at(&self, pointer: &str, message: impl Into<String>) -> Diagnostic {
        self.quoted(Diagnostic::new(
            self.path(),
            self.position(pointer),
            message,
        ))
    }

    /// `d` with its line quoted, unless a secret value starts on that line.
    fn quoted(&self, d: Diagnostic) -> Diagnostic {
        let holds_secret = d.position.is_some_and(|at| {
            self.values
                .iter()
                .any(|(p, pos)| pos.line == at.line && crate::load::is_secret_pointer(p))
        });
        if holds_secret {
            d
        } else {
            d.with_source(&self.source)
        }
    }

    /// A diagnostic about a secret value: positioned, but without quoting the
    /// line, which may hold the secret itself.
    pub fn secret_error_at(&self, pointer: &str, message: impl Into<String>) -> Diagnostic {
        Diagnostic::new(self.path(), self.position(pointer), message)
    }

    /// A diagnostic pointing at the key of the value at `pointer`.
    pub fn error_at_key(&self, pointer: &str, message: impl Into<String>) -> Diagnostic {
        self.quoted(Diagnostic::new(
            self.path(),
            self.key_position(pointer),
            message,
        ))
    }
}

/// Appends one reference token to a JSON pointer, escaping `~` and `/`.
pub fn push_pointer(pointer: &mut String, token: &str) {
    pointer.push('/');
    for c in token.chars() {
        match c {
            '~' => pointer.push_str("~0"),
            '/' => pointer.push_str("~1"),
            c => pointer.push(c),
        }
    }
}

/// Builds a JSON pointer from reference tokens.
pub fn pointer_of<'a>(tokens: impl IntoIterator<Item = &'a str>) -> String {
    let mut p = String::new();
    for t in tokens {
        push_pointer(&mut p, t);
    }
    p
}

fn too_deep() -> String {
    format!("the document is nested more than {MAX_DEPTH} levels deep here")
}

const DEPTH_HINT: &str = "no config or API description needs this depth; flatten the structure, or move shared parts under `components` and `$ref` them";

struct Builder<'s> {
    source: &'s Arc<SourceFile>,
    values: HashMap<String, Position>,
    keys: HashMap<String, Position>,
    nodes: usize,
    /// Collections open around the node being converted.
    depth: usize,
}

impl Builder<'_> {
    fn position(node: &MarkedYaml<'_>) -> Position {
        let m = node.span.start;
        Position::new(m.line() as u32, m.col() as u32 + 1)
    }

    /// Refuses a YAML tag (`!include`, `!secret`, …): moat gives no tag a
    /// meaning, and reading the value as if it were untagged would hide
    /// what the author expected to happen.
    fn tag_error(&self, node: &MarkedYaml<'_>, tag: &saphyr::Tag) -> Diagnostic {
        let mut name = format!("{}{}", tag.handle, tag.suffix);
        if name.chars().count() > 40 {
            name = name.chars().take(40).chain(['…']).collect();
        }
        let name: String = name.chars().filter(|c| !c.is_control()).collect();
        self.error(node, format!("unknown YAML tag `{name}`"))
            .with_hint("moat reads plain YAML: no tags and no includes; write the value itself, or take it from the environment or a file with `${env:NAME}` or `${file:PATH}` (config values)")
    }

    /// Converts a collection's children one level deeper.
    fn nested(
        &mut self,
        node: &MarkedYaml<'_>,
        pointer: &mut String,
        convert: impl FnOnce(&mut Self, &mut String) -> Result<Value, Diagnostic>,
    ) -> Result<Value, Diagnostic> {
        if self.depth >= MAX_DEPTH {
            return Err(self.error(node, too_deep()).with_hint(DEPTH_HINT));
        }
        self.depth += 1;
        let value = convert(self, pointer);
        self.depth -= 1;
        value
    }

    fn error(&self, node: &MarkedYaml<'_>, message: impl Into<String>) -> Diagnostic {
        Diagnostic::new(self.source.path(), Some(Self::position(node)), message)
            .with_source(self.source)
    }

    fn convert(
        &mut self,
        node: &MarkedYaml<'_>,
        pointer: &mut String,
    ) -> Result<Value, Diagnostic> {
        self.nodes += 1;
        if self.nodes > MAX_NODES {
            return Err(self.error(
                node,
                "the document is too large (more than 2,000,000 nodes)",
            ));
        }
        self.values.insert(pointer.clone(), Self::position(node));
        match &node.data {
            YamlData::Value(scalar) => self.scalar(node, scalar),
            YamlData::Representation(text, _, _) => Ok(Value::String(text.to_string())),
            YamlData::Sequence(items) => self.nested(node, pointer, |this, pointer| {
                let mut out = Vec::with_capacity(items.len());
                for (i, item) in items.iter().enumerate() {
                    let len = pointer.len();
                    push_pointer(pointer, &i.to_string());
                    out.push(this.convert(item, pointer)?);
                    pointer.truncate(len);
                }
                Ok(Value::Array(out))
            }),
            YamlData::Mapping(map) => self.nested(node, pointer, |this, pointer| {
                let mut out = Map::with_capacity(map.len());
                for (k, v) in map {
                    let key = this.key_text(k)?;
                    let len = pointer.len();
                    push_pointer(pointer, &key);
                    if out.contains_key(&key) {
                        return Err(this.error(k, format!("duplicate key `{key}`")));
                    }
                    this.keys.insert(pointer.clone(), Self::position(k));
                    let value = this.convert(v, pointer)?;
                    pointer.truncate(len);
                    out.insert(key, value);
                }
                Ok(Value::Object(out))
            }),
            YamlData::Tagged(tag, _) => Err(self.tag_error(node, tag)),
            YamlData::Alias(_) => Err(self.error(node, "YAML aliases are not supported here")),
            YamlData::BadValue => Err(self.error(
                node,
                "this value cannot be read (a bad tag or an invalid scalar)",
            )),
        }
    }

    fn scalar(&self, node: &MarkedYaml<'_>, scalar: &Scalar<'_>) -> Result<Value, Diagnostic> {
        Ok(match scalar {
            Scalar::Null => Value::Null,
            Scalar::Boolean(b) => Value::Bool(*b),
            Scalar::Integer(i) => Value::Number((*i).into()),
            Scalar::FloatingPoint(f) => match Number::from_f64(f.into_inner()) {
                Some(n) => Value::Number(n),
                None => return Err(self.error(node, "NaN and infinite numbers are not supported")),
            },
            Scalar::String(s) => Value::String(s.to_string()),
        })
    }

    /// Mapping keys become strings: `200:` in an OpenAPI `responses` map is an
    /// integer to YAML but a status code string to everyone else.
    fn key_text(&self, key: &MarkedYaml<'_>) -> Result<String, Diagnostic> {
        match &key.data {
            YamlData::Value(Scalar::String(s)) => Ok(s.to_string()),
            YamlData::Value(Scalar::Integer(i)) => Ok(i.to_string()),
            YamlData::Value(Scalar::Boolean(b)) => Ok(b.to_string()),
            YamlData::Value(Scalar::FloatingPoint(f)) => Ok(f.to_string()),
            YamlData::Value(Scalar::Null) => Ok("null".to_string()),
            YamlData::Representation(text, _, _) => Ok(text.to_string()),
            YamlData::Tagged(tag, _) => Err(self.tag_error(key, tag)),
            _ => Err(self.error(key, "mapping keys must be plain scalars")),
        }
    }
}

impl fmt::Display for Document {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.path().display())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Document, Diagnostic> {
        Document::parse(SourceFile::new("t.yaml", text))
    }

    #[test]
    fn records_positions_of_values_and_keys() {
        let doc = parse("a:\n  b: [1, 2]\n  'c/d': x\n200: ok\n").unwrap();
        assert_eq!(doc.value["a"]["b"][1], 2);
        assert_eq!(doc.position("/a/b/1"), Some(Position::new(2, 10)));
        assert_eq!(doc.key_position("/a/c~1d"), Some(Position::new(3, 3)));
        assert_eq!(doc.value["200"], "ok");
        // a pointer below a leaf falls back to the nearest ancestor
        assert_eq!(doc.position("/a/b/1/zzz"), Some(Position::new(2, 10)));
    }

    #[test]
    fn syntax_error_has_line_and_column() {
        let err = parse("a: [1, 2\nb: 3\n").unwrap_err();
        assert!(err.position.is_some(), "{err}");
        assert!(err.message.starts_with("invalid YAML"), "{err}");
    }

    #[test]
    fn duplicate_keys_are_refused() {
        let err = parse("a: 1\nb: 2\na: 3\n").unwrap_err();
        assert!(err.message.contains("duplicated key"), "{err}");
        assert_eq!(err.position, Some(Position::new(3, 1)));
    }

    #[test]
    fn alias_bombs_are_bounded() {
        let mut text = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 1..9 {
            let prev = i - 1;
            text.push_str(&format!(
                "a{i}: &a{i} [*a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}]\n"
            ));
        }
        assert!(parse(&text).is_err());
    }

    #[test]
    fn tags_are_refused_where_written() {
        let err = parse("a: 1\nb:\n  c: !include other.yaml\n").unwrap_err();
        assert_eq!(err.position, Some(Position::new(3, 6)), "{err}");
        assert!(err.message.contains("unknown YAML tag `!include`"), "{err}");
        assert!(err.hint.is_some());
        let err = parse("a: !!python/name:os.system x\n").unwrap_err();
        assert_eq!(err.position, Some(Position::new(1, 4)), "{err}");
        let err = parse("items:\n  - !secret {a: 1}\n").unwrap_err();
        assert_eq!(err.position, Some(Position::new(2, 5)), "{err}");
        // Core-schema tags keep their meaning.
        let doc = parse("a: !!str 12\n").unwrap();
        assert_eq!(doc.value["a"], "12");
    }

    #[test]
    fn too_deep_documents_are_reported_precisely_and_briefly() {
        // Minified JSON, one long line: flow nesting.
        let deep = format!("{{\"a\": {}1{}}}", "[".repeat(300), "]".repeat(300));
        let text = format!("{deep}{}", " ".repeat(400_000));
        let err = parse(&text).unwrap_err();
        assert_eq!(
            err.message,
            "the document is nested more than 255 levels deep here"
        );
        assert_eq!(err.position, Some(Position::new(1, 261)), "{err}");
        assert!(err.to_string().len() < 1000, "{}", err.to_string().len());
        // Block nesting is held to the same depth.
        let mut block = String::new();
        for level in 0..300 {
            block.push_str(&" ".repeat(level));
            block.push_str("k:\n");
        }
        let err = parse(&block).unwrap_err();
        assert_eq!(
            err.message,
            "the document is nested more than 255 levels deep here"
        );
        assert_eq!(err.position, Some(Position::new(256, 256)), "{err}");
        // 255 levels are fine.
        let ok = format!("{}1{}", "[".repeat(255), "]".repeat(255));
        assert!(parse(&ok).is_ok());
    }

    #[test]
    fn invalid_utf8_is_positioned_at_the_first_bad_byte() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bad.yaml");
        std::fs::write(&path, b"a: 1\nb: \xc3\xa9t\xe9\n").unwrap();
        let err = Document::load(&path).unwrap_err();
        assert_eq!(err.position, Some(Position::new(2, 6)), "{err}");
        assert!(err.message.contains("not valid UTF-8"), "{err}");
        assert!(err.message.contains("0xE9"), "{err}");
        assert!(err.line_text.is_none());
    }

    #[test]
    fn json_is_read_too() {
        let doc = parse("{\"openapi\": \"3.1.0\", \"paths\": {}}").unwrap();
        assert_eq!(doc.value["openapi"], "3.1.0");
    }
}
