//! The discovered document against the true one: operation recall and
//! precision (method + path template exact, parameter names aside) and
//! how many path and query parameters got their true type.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use moat_spec::{ApiSpec, Match, Operation, OperationTable, ParameterLocation};
use percent_encoding::percent_decode_str;
use serde_json::Value;

/// What one capture scored.
pub struct Scores {
    pub api: &'static str,
    pub exchanges: usize,
    /// True operations the capture exercised.
    pub exercised: usize,
    pub discovered: usize,
    /// Discovered operations that are exercised true ones.
    pub right: usize,
    pub params: usize,
    pub params_right: usize,
    /// True operations exercised and not found.
    pub missed: Vec<String>,
    /// Discovered operations that are no true one.
    pub wrong: Vec<String>,
    /// Parameters found with another type: `GET /a/{} id: integer ≠ string`.
    pub mistyped: Vec<String>,
}

impl Scores {
    pub fn recall(&self) -> f64 {
        ratio(self.exercised - self.missed.len(), self.exercised)
    }

    pub fn precision(&self) -> f64 {
        ratio(self.right, self.discovered)
    }

    pub fn type_accuracy(&self) -> f64 {
        ratio(self.params_right, self.params)
    }

    /// Every score at least `floor`, or what fell short.
    pub fn check(&self, floor: f64) -> Result<(), String> {
        if self.recall() >= floor && self.precision() >= floor && self.type_accuracy() >= floor {
            Ok(())
        } else {
            Err(format!(
                "{self}\n  missed: {:?}\n  wrong: {:?}\n  mistyped: {:?}",
                self.missed, self.wrong, self.mistyped
            ))
        }
    }
}

fn ratio(a: usize, b: usize) -> f64 {
    if b == 0 { 1.0 } else { a as f64 / b as f64 }
}

impl Scores {
    /// The header of the table [`Scores`]' `Display` writes rows of.
    pub const HEADER: &str = "| API       | exchanges | operations (found/true) | recall  | precision | parameter types (right/checked) | type accuracy |\n| --------- | --------: | ----------------------: | ------: | --------: | ------------------------------: | ------------: |";
}

impl fmt::Display for Scores {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "| {:<9} | {:>9} | {:>23} | {:>6.1}% | {:>8.1}% | {:>31} | {:>12.1}% |",
            self.api,
            self.exchanges,
            format!("{}/{}", self.right, self.exercised),
            100.0 * self.recall(),
            100.0 * self.precision(),
            format!("{}/{}", self.params_right, self.params),
            100.0 * self.type_accuracy(),
        )
    }
}

/// `/users/{username}/posts` → `/users/{}/posts`.
fn shape(path: &str) -> String {
    path.split('/')
        .map(|s| if s.starts_with('{') { "{}" } else { s })
        .collect::<Vec<_>>()
        .join("/")
}

fn key(spec: &ApiSpec, op: &Operation) -> String {
    let server = spec.server_paths.first().map_or("", String::as_str);
    format!(
        "{} {}",
        op.method.as_str().to_ascii_uppercase(),
        shape(&format!("{server}{}", op.path_template))
    )
}

/// A parameter's type and, where it has one of these, its format.
fn type_of(schema: Option<&Value>) -> String {
    let Some(schema) = schema else {
        return "none".into();
    };
    let ty = match &schema["type"] {
        Value::String(s) => s.clone(),
        Value::Array(types) => types
            .iter()
            .filter_map(Value::as_str)
            .find(|t| *t != "null")
            .unwrap_or("none")
            .to_string(),
        _ => "none".into(),
    };
    match schema["format"].as_str() {
        Some(f @ ("uuid" | "date" | "date-time" | "email")) => format!("{ty}/{f}"),
        _ => ty,
    }
}

/// Path parameters in template order, then query parameters by name.
fn params(op: &Operation) -> (Vec<String>, BTreeMap<String, String>) {
    let names: Vec<&str> = op
        .path_template
        .split('/')
        .filter_map(|s| s.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
        .collect();
    let path = names
        .iter()
        .map(|n| {
            let p = op
                .parameters
                .iter()
                .find(|p| p.location == ParameterLocation::Path && p.name == *n);
            type_of(p.and_then(|p| p.schema.as_ref()))
        })
        .collect();
    let query = op
        .parameters
        .iter()
        .filter(|p| p.location == ParameterLocation::Query)
        .map(|p| (p.name.clone(), type_of(p.schema.as_ref())))
        .collect();
    (path, query)
}

/// Scores the document `discovered` made from `entries` (HAR entries)
/// against `truth`.
pub fn score(
    api: &'static str,
    truth: &OperationTable,
    entries: &[Value],
    discovered: &ApiSpec,
) -> Scores {
    let spec = truth.spec();
    // The true operations the traffic reached, and the query parameters
    // it sent to each.
    let mut exercised: BTreeMap<usize, BTreeSet<String>> = BTreeMap::new();
    for entry in entries {
        let method = entry["request"]["method"].as_str().unwrap();
        let url = entry["request"]["url"].as_str().unwrap();
        let target = url.splitn(4, '/').nth(3).unwrap_or("");
        let (path, query) = target.split_once('?').unwrap_or((target, ""));
        let segments: Vec<String> = path
            .split('/')
            .map(|s| percent_decode_str(s).decode_utf8_lossy().into_owned())
            .collect();
        if let Match::Found { index, .. } = truth.find(method, &segments) {
            let sent = exercised.entry(index).or_default();
            for pair in query.split('&').filter(|p| !p.is_empty()) {
                sent.insert(pair.split('=').next().unwrap_or("").to_string());
            }
        }
    }
    let found: BTreeMap<String, &Operation> = discovered
        .operations
        .iter()
        .map(|op| (key(discovered, op), op))
        .collect();
    let mut scores = Scores {
        api,
        exchanges: entries.len(),
        exercised: exercised.len(),
        discovered: found.len(),
        right: 0,
        params: 0,
        params_right: 0,
        missed: Vec::new(),
        wrong: Vec::new(),
        mistyped: Vec::new(),
    };
    let mut true_keys = BTreeSet::new();
    for (index, sent) in &exercised {
        let op = &spec.operations[*index];
        let k = key(spec, op);
        true_keys.insert(k.clone());
        let Some(got) = found.get(&k) else {
            scores.missed.push(k);
            continue;
        };
        let (true_path, true_query) = params(op);
        let (got_path, got_query) = params(got);
        for (i, want) in true_path.iter().enumerate() {
            let have = got_path.get(i).map_or("none", String::as_str);
            scores.params += 1;
            if have == want {
                scores.params_right += 1;
            } else {
                scores
                    .mistyped
                    .push(format!("{k} path #{i}: {have}, not {want}"));
            }
        }
        for (name, want) in &true_query {
            // A parameter the traffic never sent cannot be found; one it
            // sent and discovery missed counts as wrong.
            let have = match got_query.get(name) {
                Some(have) => have.as_str(),
                None if sent.contains(name) => "not found",
                None => continue,
            };
            scores.params += 1;
            if have == want {
                scores.params_right += 1;
            } else {
                scores
                    .mistyped
                    .push(format!("{k} ?{name}: {have}, not {want}"));
            }
        }
    }
    for k in found.keys() {
        if true_keys.contains(k) {
            scores.right += 1;
        } else {
            scores.wrong.push(k.clone());
        }
    }
    scores
}
