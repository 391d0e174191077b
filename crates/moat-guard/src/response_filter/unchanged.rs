//! The filter's common answer, "nothing to change", decided while the JSON
//! is read: the same decisions as the walk over a parsed value
//! ([`ResponseFilter::property`], [`ResponseFilter::masked`]), on a serde
//! visitor that builds nothing. Anything that would change sends the
//! caller to the walk over the parsed value, which makes the change.

use std::borrow::Cow;
use std::fmt;

use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

use super::{Context, KEEP, NodeId, ResponseFilter, is_secret_name, json_type};

/// Whether `body` reads as JSON that the filter leaves as it is from node
/// `root`; `None` when it is not JSON (one value, nothing after it).
pub(super) fn check(
    filter: &ResponseFilter,
    root: NodeId,
    ctx: Context,
    body: &[u8],
) -> Option<bool> {
    // JSON is UTF-8: checked once for the whole body, serde_json need not
    // check each string again.
    let text = std::str::from_utf8(body).ok()?;
    let mut de = serde_json::Deserializer::from_str(text);
    let seed = Check {
        filter,
        node: root,
        ctx,
    };
    let unchanged = seed.deserialize(&mut de).ok()?;
    de.end().ok()?;
    Some(unchanged)
}

/// One value, walked with `node` in context `ctx`: `true` if it stays.
struct Check<'f> {
    filter: &'f ResponseFilter,
    node: NodeId,
    ctx: Context,
}

impl<'de> DeserializeSeed<'de> for Check<'_> {
    type Value = bool;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<bool, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Check<'_> {
    type Value = bool;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, _: bool) -> Result<bool, E> {
        Ok(self.fits(json_type::BOOLEAN))
    }

    fn visit_i64<E>(self, _: i64) -> Result<bool, E> {
        Ok(self.fits(json_type::NUMBER))
    }

    fn visit_u64<E>(self, _: u64) -> Result<bool, E> {
        Ok(self.fits(json_type::NUMBER))
    }

    fn visit_f64<E>(self, _: f64) -> Result<bool, E> {
        Ok(self.fits(json_type::NUMBER))
    }

    fn visit_unit<E>(self) -> Result<bool, E> {
        Ok(self.fits(json_type::NULL))
    }

    fn visit_str<E>(self, s: &str) -> Result<bool, E> {
        Ok(self.fits(json_type::STRING) && self.filter.masked(s, self.ctx).is_none())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<bool, A::Error> {
        if !self.fits(json_type::ARRAY) {
            while seq.next_element::<IgnoredAny>()?.is_some() {}
            return Ok(false);
        }
        let items = self.filter.node(self.node).items.unwrap_or(KEEP);
        let mut unchanged = true;
        while let Some(stays) = seq.next_element_seed(Check {
            filter: self.filter,
            node: items,
            ctx: self.ctx,
        })? {
            unchanged &= stays;
        }
        Ok(unchanged)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<bool, A::Error> {
        if !self.fits(json_type::OBJECT) {
            while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
            return Ok(false);
        }
        let rule = self.filter.node(self.node).object.as_ref();
        let mut unchanged = true;
        while let Some(Key(key)) = map.next_key()? {
            let step = self.filter.property(rule, &key, self.ctx);
            if !step.keep {
                map.next_value::<IgnoredAny>()?;
                unchanged = false;
                continue;
            }
            let ctx = Context {
                secret_name: is_secret_name(&key),
                exempt: step.exempt,
                issuing: self.ctx.issuing,
            };
            unchanged &= map.next_value_seed(Check {
                filter: self.filter,
                node: step.node,
                ctx,
            })?;
        }
        Ok(unchanged)
    }
}

impl Check<'_> {
    /// Whether this value's node allows JSON type `bit`: a mismatch is a
    /// change (removed, or at least reported), left to the walk.
    fn fits(&self, bit: u8) -> bool {
        self.filter.fits(self.node, bit)
    }
}

/// An object key, borrowed from the body unless it had escapes.
struct Key<'de>(Cow<'de, str>);

impl<'de> serde::Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_str(KeyVisitor)
    }
}

struct KeyVisitor;

impl<'de> Visitor<'de> for KeyVisitor {
    type Value = Key<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object key")
    }

    fn visit_borrowed_str<E>(self, s: &'de str) -> Result<Key<'de>, E> {
        Ok(Key(Cow::Borrowed(s)))
    }

    fn visit_str<E>(self, s: &str) -> Result<Key<'de>, E> {
        Ok(Key(Cow::Owned(s.to_owned())))
    }
}
