//! `json::parse` on raw bytes, under no limits, the default limits and
//! tight ones.
//!
//! Properties, against `serde_json` and an independent duplicate-key check:
//! without limits, `parse` succeeds exactly when `serde_json::from_slice`
//! does and no object repeats a key, and then gives the same value; a
//! repeated key makes it fail with `duplicate_key`; a syntax error of ours is
//! one for `serde_json` too. Under limits, a success is the unlimited value
//! and keeps every limit; a value that keeps them is accepted; a limit error
//! points at a container or string that really breaks it; any other error
//! is the unlimited one.
#![no_main]

use std::collections::HashSet;
use std::fmt;

use libfuzzer_sys::fuzz_target;
use moat_request::json::{JsonError, JsonLimits, JsonRule, parse};
use serde::de::{DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::Value;

const UNLIMITED: JsonLimits = JsonLimits {
    max_depth: usize::MAX,
    max_array_items: usize::MAX,
    max_string_bytes: usize::MAX,
    max_properties: usize::MAX,
};

const TIGHT: JsonLimits = JsonLimits {
    max_depth: 3,
    max_array_items: 4,
    max_string_bytes: 8,
    max_properties: 4,
};

/// Whether some object of a document repeats a key: a visitor of its own
/// over `serde_json`'s parser, sharing no code with `json::parse`.
struct HasDuplicate;

impl<'de> DeserializeSeed<'de> for HasDuplicate {
    type Value = bool;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<bool, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for HasDuplicate {
    type Value = bool;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("JSON")
    }
    fn visit_bool<E>(self, _: bool) -> Result<bool, E> {
        Ok(false)
    }
    fn visit_i64<E>(self, _: i64) -> Result<bool, E> {
        Ok(false)
    }
    fn visit_u64<E>(self, _: u64) -> Result<bool, E> {
        Ok(false)
    }
    fn visit_f64<E>(self, _: f64) -> Result<bool, E> {
        Ok(false)
    }
    fn visit_str<E>(self, _: &str) -> Result<bool, E> {
        Ok(false)
    }
    fn visit_unit<E>(self) -> Result<bool, E> {
        Ok(false)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<bool, A::Error> {
        let mut dup = false;
        while let Some(d) = seq.next_element_seed(HasDuplicate)? {
            dup |= d;
        }
        Ok(dup)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<bool, A::Error> {
        let mut dup = false;
        let mut keys = HashSet::new();
        while let Some(key) = map.next_key::<String>()? {
            dup |= !keys.insert(key);
            dup |= map.next_value_seed(HasDuplicate)?;
        }
        Ok(dup)
    }
}

fn has_duplicate(body: &[u8]) -> Result<bool, serde_json::Error> {
    let mut de = serde_json::Deserializer::from_slice(body);
    let dup = HasDuplicate.deserialize(&mut de)?;
    de.end()?;
    Ok(dup)
}

/// The largest depth, array, string (keys too) and object of a value.
#[derive(Default)]
struct Shape {
    depth: usize,
    items: usize,
    string: usize,
    properties: usize,
}

fn shape(v: &Value, depth: usize, s: &mut Shape) {
    match v {
        Value::Array(items) => {
            s.depth = s.depth.max(depth + 1);
            s.items = s.items.max(items.len());
            for item in items {
                shape(item, depth + 1, s);
            }
        }
        Value::Object(map) => {
            s.depth = s.depth.max(depth + 1);
            s.properties = s.properties.max(map.len());
            for (k, item) in map {
                s.string = s.string.max(k.len());
                shape(item, depth + 1, s);
            }
        }
        Value::String(text) => s.string = s.string.max(text.len()),
        _ => {}
    }
}

fn keeps(v: &Value, l: &JsonLimits) -> bool {
    let mut s = Shape::default();
    shape(v, 0, &mut s);
    s.depth <= l.max_depth
        && s.items <= l.max_array_items
        && s.string <= l.max_string_bytes
        && s.properties <= l.max_properties
}

/// The depth of the value at `pointer` (its number of tokens).
fn depth_of(pointer: &str) -> usize {
    pointer.matches('/').count()
}

/// A limit error must name a place in `full` that breaks the limit.
fn check_limit_error(full: &Value, err: &JsonError, l: &JsonLimits) {
    if err.pointer.contains('…') {
        return; // A cut key: the pointer does not resolve.
    }
    let at = full
        .pointer(&err.pointer)
        .unwrap_or_else(|| panic!("{err:?}: the pointer resolves to nothing"));
    match err.rule {
        JsonRule::MaxDepth => {
            assert!(at.is_array() || at.is_object(), "{err:?}: not a container");
            // The container one level too deep: `max_depth` tokens down.
            assert_eq!(depth_of(&err.pointer), l.max_depth, "{err:?}: wrong depth");
        }
        JsonRule::MaxArrayItems => {
            let items = at.as_array().unwrap_or_else(|| panic!("{err:?}: not an array"));
            assert!(items.len() > l.max_array_items, "{err:?}: array is short");
        }
        JsonRule::MaxProperties => {
            let map = at.as_object().unwrap_or_else(|| panic!("{err:?}: not an object"));
            assert!(map.len() > l.max_properties, "{err:?}: object is small");
        }
        JsonRule::MaxStringBytes => match at {
            Value::String(s) => assert!(s.len() > l.max_string_bytes, "{err:?}: short string"),
            Value::Object(map) => assert!(
                map.keys().any(|k| k.len() > l.max_string_bytes),
                "{err:?}: no long key"
            ),
            _ => panic!("{err:?}: not a string or object"),
        },
        JsonRule::DuplicateKey | JsonRule::Syntax => unreachable!(),
    }
}

fuzz_target!(|data: &[u8]| {
    let ours = parse(data, &UNLIMITED);
    let theirs = serde_json::from_slice::<Value>(data);
    let dup = has_duplicate(data);
    match (&ours, &theirs, &dup) {
        (Ok(v), Ok(w), Ok(false)) => assert_eq!(v, w, "values differ"),
        (Ok(_), _, _) => panic!("accepted: serde_json {theirs:?}, duplicate check {dup:?}"),
        (Err(e), Ok(_), Ok(false)) => panic!("refused valid JSON without duplicates: {e:?}"),
        (Err(e), _, Ok(true)) => assert_eq!(e.rule, JsonRule::DuplicateKey, "{e:?}"),
        (Err(e), _, _) => {
            assert!(!e.rule.is_limit(), "a limit error without limits: {e:?}");
            if e.rule == JsonRule::Syntax {
                assert!(theirs.is_err(), "our syntax error is valid for serde_json: {e:?}");
            }
        }
    }

    for limits in [JsonLimits::default(), TIGHT] {
        match (parse(data, &limits), &ours) {
            (Ok(v), Ok(full)) => {
                assert_eq!(&v, full, "limits changed the value");
                assert!(keeps(&v, &limits), "accepted a value that breaks {limits:?}");
            }
            (Ok(_), Err(e)) => panic!("accepted under {limits:?}, refused without: {e:?}"),
            (Err(e), Ok(full)) => {
                assert!(e.rule.is_limit(), "{e:?} under limits only");
                assert!(!keeps(full, &limits), "refused a value that keeps {limits:?}: {e:?}");
                check_limit_error(full, &e, &limits);
            }
            (Err(e), Err(full_err)) => {
                if !e.rule.is_limit() {
                    assert_eq!(&e, full_err, "errors differ under {limits:?}");
                }
            }
        }
    }
});
