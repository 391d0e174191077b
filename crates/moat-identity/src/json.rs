//! JSON objects read strictly: a duplicate member name is an error.
//!
//! serde_json keeps the last of two members with the same name, and another
//! parser may keep the first: `{"active":false,"active":true}` or a token
//! with two `sub` claims would then mean one thing to moat and another to
//! the system behind it.

use std::fmt;

use serde::Deserializer;
use serde::de::{self, MapAccess, Visitor};
use serde_json::{Map, Value};

/// Decodes `bytes` as one JSON object with unique member names; the error
/// says why not (it never contains the input).
pub(crate) fn unique_object(bytes: &[u8]) -> Result<Map<String, Value>, serde_json::Error> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let map = (&mut de).deserialize_map(UniqueVisitor)?;
    de.end()?;
    Ok(map)
}

struct UniqueVisitor;

impl<'de> Visitor<'de> for UniqueVisitor {
    type Value = Map<String, Value>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<Self::Value, A::Error> {
        let mut map = Map::new();
        while let Some((key, value)) = access.next_entry::<String, Value>()? {
            if map.contains_key(&key) {
                return Err(de::Error::custom(format_args!("duplicate member `{key}`")));
            }
            map.insert(key, value);
        }
        Ok(map)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn duplicates_and_non_objects_are_refused() {
        assert!(unique_object(br#"{"a":1,"b":2}"#).is_ok());
        assert!(unique_object(br#"{"a":1,"a":2}"#).is_err());
        assert!(unique_object(br#"[1]"#).is_err());
        assert!(unique_object(br#"{"a":1} x"#).is_err());
    }
}
