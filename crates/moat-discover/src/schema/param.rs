//! What a parameter's values look like over an operation's requests.

use serde_json::{Value, json};

use super::enums::{EnumTracker, is_sensitive_name};
use super::value::ValueType;

/// The values one parameter (query, header, cookie or path) took over the
/// requests of one operation.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct ParamStats {
    value_type: Option<ValueType>,
    enums: EnumTracker,
    requests: u64,
    present: u64,
    repeated: bool,
}

/// What [`ParamStats`] concluded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParamSummary {
    /// The type all values share; `None` when no value was seen.
    pub value_type: Option<ValueType>,
    /// Present in every request of the operation.
    pub required: bool,
    /// Some request carried it more than once (`?tag=a&tag=b`).
    pub repeated: bool,
    /// The few values it always takes, sorted (see [`super::enums`]).
    pub enumeration: Option<Vec<String>>,
}

impl ParamStats {
    /// Statistics for the parameter `name`; values under a name that looks
    /// like a credential or personal data are never kept.
    pub fn new(name: &str) -> Self {
        ParamStats {
            value_type: None,
            enums: EnumTracker::new(is_sensitive_name(name)),
            requests: 0,
            present: 0,
            repeated: false,
        }
    }

    /// Observes one request of the operation, with the parameter's values
    /// in it (none when it was absent).
    pub fn observe_request<'a>(&mut self, values: impl IntoIterator<Item = &'a str>) {
        self.requests += 1;
        let mut count = 0usize;
        for value in values {
            count += 1;
            let ty = ValueType::of(value);
            self.value_type = Some(self.value_type.map_or(ty, |t| t.join(ty)));
            if ty == ValueType::String {
                self.enums.observe(value);
            } else {
                // Numbers, dates, addresses: never an enumeration of words.
                self.enums.rule_out();
            }
        }
        if count > 0 {
            self.present += 1;
        }
        self.repeated |= count > 1;
    }

    /// What the values had in common.
    pub fn summary(&self) -> ParamSummary {
        ParamSummary {
            value_type: self.value_type,
            required: self.requests > 0 && self.present == self.requests,
            repeated: self.repeated,
            enumeration: self
                .enums
                .values()
                .map(|v| v.into_iter().map(str::to_owned).collect()),
        }
    }
}

impl ParamSummary {
    /// The parameter's JSON schema (an array of its values when a request
    /// repeated it).
    pub fn to_schema(&self) -> Value {
        let ty = self.value_type.unwrap_or(ValueType::String);
        let mut schema = json!({ "type": ty.json_type() });
        if let Some(format) = ty.format() {
            schema["format"] = json!(format);
        }
        if let Some(values) = &self.enumeration {
            schema["enum"] = json!(values);
        }
        if self.repeated {
            json!({ "type": "array", "items": schema })
        } else {
            schema
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn type_required_and_widening() {
        let mut limit = ParamStats::new("limit");
        let mut page = ParamStats::new("page");
        for (i, l) in ["10", "20", "2.5"].into_iter().enumerate() {
            limit.observe_request([l]);
            page.observe_request(if i == 1 { vec![] } else { vec!["1"] });
        }
        let limit = limit.summary();
        assert_eq!(limit.value_type, Some(ValueType::Number));
        assert!(limit.required);
        assert_eq!(limit.to_schema(), json!({ "type": "number" }));
        let page = page.summary();
        assert_eq!(page.value_type, Some(ValueType::Integer));
        assert!(!page.required);
    }

    #[test]
    fn formats_and_fallback_to_string() {
        let mut id = ParamStats::new("id");
        id.observe_request(["0b6e9d7c-6f1a-4d0e-9a3b-2c1d0e9f8a7b"]);
        id.observe_request(["1d5b1e9c-0000-4d0e-9a3b-2c1d0e9f8a7b"]);
        assert_eq!(
            id.summary().to_schema(),
            json!({ "type": "string", "format": "uuid" })
        );
        id.observe_request(["42"]);
        assert_eq!(id.summary().to_schema(), json!({ "type": "string" }));
    }

    #[test]
    fn enum_and_repeated_values() {
        let mut sort = ParamStats::new("sort");
        let mut tag = ParamStats::new("tag");
        for i in 0..10 {
            sort.observe_request([if i % 2 == 0 { "asc" } else { "desc" }]);
            tag.observe_request(["a", "b"]);
        }
        let sort = sort.summary();
        assert_eq!(
            sort.enumeration,
            Some(vec!["asc".to_owned(), "desc".to_owned()])
        );
        assert_eq!(
            sort.to_schema(),
            json!({ "type": "string", "enum": ["asc", "desc"] })
        );
        let tag = tag.summary();
        assert!(tag.repeated);
        assert_eq!(
            tag.to_schema(),
            json!({ "type": "array", "items": { "type": "string", "enum": ["a", "b"] } })
        );
    }

    #[test]
    fn values_of_sensitive_or_numeric_params_are_not_kept() {
        let mut key = ParamStats::new("api_key");
        let mut status = ParamStats::new("status");
        for i in 0..10 {
            key.observe_request(["hunter"]);
            status.observe_request([if i % 2 == 0 { "1" } else { "2" }]);
        }
        assert_eq!(key.summary().enumeration, None);
        assert!(!format!("{:?}", key).contains("hunter"));
        assert_eq!(status.summary().enumeration, None);
    }
}
