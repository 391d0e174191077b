//! Reading parameter values out of their serialisation (style/explode) and
//! into typed JSON, so that their schema can be checked.

use serde_json::{Number, Value};

/// Percent-decodes `s` (`+` stays `+`); `None` for a bad escape or a
/// result that is not UTF-8.
pub(crate) fn percent_decode(s: &str) -> Option<String> {
    moat_request::percent::decode_strict(s)
}

/// The JSON type a scalar parameter value is read as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Scalar {
    Integer,
    Number,
    Boolean,
    String,
}

impl Scalar {
    /// From a schema's `type` (the first non-`null` one of a 3.1 list);
    /// anything else is read as a string.
    pub(crate) fn of(schema: Option<&Value>) -> Scalar {
        let t = match schema.and_then(|s| s.get("type")) {
            Some(Value::String(t)) => Some(t.as_str()),
            Some(Value::Array(ts)) => ts.iter().filter_map(Value::as_str).find(|t| *t != "null"),
            _ => None,
        };
        match t {
            Some("integer") => Scalar::Integer,
            Some("number") => Scalar::Number,
            Some("boolean") => Scalar::Boolean,
            _ => Scalar::String,
        }
    }

    /// The typed value, or `None` when the text is not of the type.
    pub(crate) fn coerce(self, s: &str) -> Option<Value> {
        match self {
            Scalar::Integer => s
                .parse::<i64>()
                .map(Number::from)
                .or_else(|_| s.parse::<u64>().map(Number::from))
                .ok()
                .map(Value::Number),
            Scalar::Number => {
                if let Ok(i) = s.parse::<i64>() {
                    return Some(Value::Number(i.into()));
                }
                s.parse::<f64>()
                    .ok()
                    .and_then(Number::from_f64)
                    .map(Value::Number)
            }
            Scalar::Boolean => match s {
                "true" => Some(Value::Bool(true)),
                "false" => Some(Value::Bool(false)),
                _ => None,
            },
            Scalar::String => Some(Value::String(s.to_string())),
        }
    }
}

/// How a parameter's value is laid out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Shape {
    /// One value.
    Scalar(Scalar),
    /// An array; `explode` repeats the parameter (`a=1&a=2`), otherwise the
    /// items are joined by `delimiter` (`a=1,2`).
    Array {
        item: Scalar,
        explode: bool,
        delimiter: char,
    },
    /// Objects and anything else: not deserialised; its schema is not checked.
    Opaque,
}
