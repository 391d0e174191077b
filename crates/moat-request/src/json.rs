//! A JSON body parsed once, under shape limits, with duplicate keys refused.
//!
//! [`parse`] builds the one [`serde_json::Value`] that validation,
//! inspection and the GraphQL checks all read. It is a serde visitor over
//! `serde_json`'s parser (RFC 8259: UTF-8, one value, no trailing data),
//! which also enforces, while it reads:
//!
//! - the shape limits, before anything large is built: nesting depth, items
//!   per array, bytes per string (decoded), properties per object;
//! - unique keys: `{"role":"user","role":"admin"}` has two readings (a
//!   last-wins parser sees `admin`, a first-wins one `user`), so it is
//!   refused rather than one of them inspected and validated.
//!
//! A violation names its rule and the JSON pointer where it happened, never
//! a value. Depth is bounded by `max_depth` and, whatever the limit, by
//! `serde_json`'s own recursion limit (128), so no body can exhaust the
//! stack.

use std::cell::RefCell;
use std::fmt::{self, Write as _};

use serde::de::{DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value};

/// Limits on the shape of a JSON document.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JsonLimits {
    /// Most nested arrays and objects: `[[1]]` has depth 2, a scalar 0.
    pub max_depth: usize,
    /// Most items in one array.
    pub max_array_items: usize,
    /// Most bytes in one string (key or value), counted decoded.
    pub max_string_bytes: usize,
    /// Most properties in one object.
    pub max_properties: usize,
}

impl Default for JsonLimits {
    /// Generous for real APIs, far below what hurts a parser or a database:
    /// depth 32, 10 000 items per array, 1 MiB per string, 1 000 properties
    /// per object.
    fn default() -> Self {
        Self {
            max_depth: 32,
            max_array_items: 10_000,
            max_string_bytes: 1024 * 1024,
            max_properties: 1_000,
        }
    }
}

/// The deepest `max_depth` that means what it says: `serde_json` refuses
/// deeper documents on its own.
pub const MAX_DEPTH_LIMIT: usize = 127;

/// Which rule a body broke.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum JsonRule {
    /// Nested deeper than `max_depth`.
    MaxDepth,
    /// An array with more than `max_array_items` items.
    MaxArrayItems,
    /// A string (key or value) longer than `max_string_bytes`.
    MaxStringBytes,
    /// An object with more than `max_properties` properties.
    MaxProperties,
    /// A key given twice in one object.
    DuplicateKey,
    /// Not JSON at all (syntax, invalid UTF-8, bad escape, trailing data).
    Syntax,
}

impl JsonRule {
    /// The rule's name: the limit's field name, `duplicate_key` or `json`.
    pub fn as_str(self) -> &'static str {
        match self {
            JsonRule::MaxDepth => "max_depth",
            JsonRule::MaxArrayItems => "max_array_items",
            JsonRule::MaxStringBytes => "max_string_bytes",
            JsonRule::MaxProperties => "max_properties",
            JsonRule::DuplicateKey => "duplicate_key",
            JsonRule::Syntax => "json",
        }
    }

    /// Whether the rule is a shape limit (as opposed to the body not being
    /// one unambiguous JSON document).
    pub fn is_limit(self) -> bool {
        !matches!(self, JsonRule::DuplicateKey | JsonRule::Syntax)
    }
}

/// Where and how a body broke a rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JsonError {
    /// The rule.
    pub rule: JsonRule,
    /// RFC 6901 pointer: the container that is too deep, too long or has
    /// too many properties; the string that is too long (its object, for a
    /// key); the duplicated key; the value being read when the syntax
    /// broke. Keys longer than [`POINTER_KEY_MAX`] bytes are cut and end in
    /// `…`.
    pub pointer: String,
}

impl fmt::Display for JsonError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let at = if self.pointer.is_empty() {
            "the root"
        } else {
            &self.pointer
        };
        write!(f, "{} at {at}", self.rule.as_str())
    }
}

impl std::error::Error for JsonError {}

/// Appends `/token` to an RFC 6901 JSON pointer, escaping `~` as `~0` and
/// `/` as `~1`.
pub fn push_pointer(pointer: &mut String, token: &str) {
    pointer.push('/');
    if memchr::memchr2(b'~', b'/', token.as_bytes()).is_none() {
        pointer.push_str(token);
        return;
    }
    for c in token.chars() {
        match c {
            '~' => pointer.push_str("~0"),
            '/' => pointer.push_str("~1"),
            c => pointer.push(c),
        }
    }
}

/// The longest object key written into a pointer, in bytes.
pub const POINTER_KEY_MAX: usize = 128;

/// Parses `body` into one value under `limits`.
pub fn parse(body: &[u8], limits: &JsonLimits) -> Result<Value, JsonError> {
    let ctx = Ctx {
        limits,
        failure: RefCell::new(None),
    };
    // A body that is UTF-8 as a whole (nearly all) is read as text, whose
    // strings serde_json then need not check one by one; any other is read
    // as bytes, so that the error names the string at fault.
    let parsed = match std::str::from_utf8(body) {
        Ok(text) => read(&ctx, &mut serde_json::Deserializer::from_str(text)),
        Err(_) => read(&ctx, &mut serde_json::Deserializer::from_slice(body)),
    };
    match parsed {
        Ok(value) => Ok(value),
        Err(_) => {
            let (rule, mut path) = ctx
                .failure
                .into_inner()
                .unwrap_or((JsonRule::Syntax, Vec::new()));
            path.reverse();
            Err(JsonError {
                rule,
                pointer: pointer(&path),
            })
        }
    }
}

/// Reads one value, and nothing after it, from `de`.
fn read<'de, R: serde_json::de::Read<'de>>(
    ctx: &Ctx<'_>,
    de: &mut serde_json::Deserializer<R>,
) -> Result<Value, serde_json::Error> {
    let value = ValueSeed { ctx, depth: 0 }.deserialize(&mut *de)?;
    de.end()?;
    Ok(value)
}

/// One step of a pointer, pushed while an error unwinds (innermost first).
enum Token {
    Index(usize),
    Key(String),
}

fn pointer(path: &[Token]) -> String {
    let mut out = String::new();
    for token in path {
        match token {
            Token::Index(i) => {
                let _ = write!(out, "/{i}");
            }
            Token::Key(k) => {
                let mut cut = k.len().min(POINTER_KEY_MAX);
                while !k.is_char_boundary(cut) {
                    cut -= 1;
                }
                push_pointer(&mut out, &k[..cut]);
                if cut < k.len() {
                    out.push('…');
                }
            }
        }
    }
    out
}

struct Ctx<'l> {
    limits: &'l JsonLimits,
    /// The rule broken and the path to it, once something failed.
    failure: RefCell<Option<(JsonRule, Vec<Token>)>>,
}

impl Ctx<'_> {
    /// Records a broken rule and returns the error that unwinds the parse.
    fn fail<E: serde::de::Error>(&self, rule: JsonRule) -> E {
        *self.failure.borrow_mut() = Some((rule, Vec::new()));
        E::custom(rule.as_str())
    }

    /// Checks a string's (or key's) decoded length.
    fn measure<E: serde::de::Error>(&self, s: &str) -> Result<(), E> {
        if s.len() > self.limits.max_string_bytes {
            return Err(self.fail(JsonRule::MaxStringBytes));
        }
        Ok(())
    }

    /// Notes, while an error unwinds through a container, where it was:
    /// a syntax error met here is located at `token`.
    fn unwind<E>(&self, token: Token, e: E) -> E {
        let mut failure = self.failure.borrow_mut();
        let (_, path) = failure.get_or_insert_with(|| (JsonRule::Syntax, Vec::new()));
        path.push(token);
        e
    }
}

#[derive(Clone, Copy)]
struct ValueSeed<'c> {
    ctx: &'c Ctx<'c>,
    depth: usize,
}

impl<'de> DeserializeSeed<'de> for ValueSeed<'_> {
    type Value = Value;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for ValueSeed<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }
    fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<Value, E> {
        Number::from_f64(v)
            .map(Value::Number)
            .ok_or_else(|| E::custom("not a finite number"))
    }
    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Value, E> {
        self.ctx.measure(v)?;
        Ok(Value::String(v.to_string()))
    }
    fn visit_string<E: serde::de::Error>(self, v: String) -> Result<Value, E> {
        self.ctx.measure(&v)?;
        Ok(Value::String(v))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let depth = self.depth + 1;
        if depth > self.ctx.limits.max_depth {
            return Err(self.ctx.fail(JsonRule::MaxDepth));
        }
        let child = ValueSeed {
            ctx: self.ctx,
            depth,
        };
        let mut items = Vec::new();
        loop {
            let index = items.len();
            match seq.next_element_seed(child) {
                Ok(Some(v)) => {
                    if index >= self.ctx.limits.max_array_items {
                        return Err(self.ctx.fail(JsonRule::MaxArrayItems));
                    }
                    items.push(v);
                }
                Ok(None) => return Ok(Value::Array(items)),
                Err(e) => return Err(self.ctx.unwind(Token::Index(index), e)),
            }
        }
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let depth = self.depth + 1;
        if depth > self.ctx.limits.max_depth {
            return Err(self.ctx.fail(JsonRule::MaxDepth));
        }
        let child = ValueSeed {
            ctx: self.ctx,
            depth,
        };
        let mut object = Map::new();
        loop {
            let key: String = match map.next_key_seed(KeySeed(self.ctx)) {
                Ok(Some(k)) => k,
                Ok(None) => return Ok(Value::Object(object)),
                Err(e) => return Err(e),
            };
            if object.len() >= self.ctx.limits.max_properties {
                return Err(self.ctx.fail(JsonRule::MaxProperties));
            }
            if object.contains_key(&key) {
                let e = self.ctx.fail(JsonRule::DuplicateKey);
                return Err(self.ctx.unwind(Token::Key(key), e));
            }
            match map.next_value_seed(child) {
                Ok(v) => {
                    object.insert(key, v);
                }
                Err(e) => return Err(self.ctx.unwind(Token::Key(key), e)),
            }
        }
    }
}

/// An object key, measured like any string.
struct KeySeed<'c>(&'c Ctx<'c>);

impl<'de> DeserializeSeed<'de> for KeySeed<'_> {
    type Value = String;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<String, D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for KeySeed<'_> {
    type Value = String;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object key")
    }
    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<String, E> {
        self.0.measure(v)?;
        Ok(v.to_string())
    }
}

#[cfg(test)]
mod tests;
