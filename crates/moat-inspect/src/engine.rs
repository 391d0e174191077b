//! The inspector: options, schema hints, and the walk over a request's
//! values.

use moat_request::json::push_pointer;
use serde_json::Value;

use crate::detect::{self, Context, Detector, DetectorKind};
use crate::normalize::normalize;
use crate::report::{Finding, Location, Report, ValueKind, snippet};
use crate::request::{HeaderSelection, HintSource};
use crate::tools::ToolAction;

/// How inspection decides.
#[derive(Debug, Clone)]
pub struct InspectOptions {
    /// 1 (only unambiguous attacks count) to 4 (anything suspicious).
    /// Each level adds the hits that count from it, and they count as
    /// critical: see [`Hit::counted_at`](crate::detect::Hit::counted_at).
    pub paranoia: u8,
    /// The anomaly score at which a request is blocked.
    pub threshold: u32,
    /// The detectors that run.
    pub detectors: Vec<DetectorKind>,
    /// The request headers inspected.
    pub headers: HeaderSelection,
    /// What a request from a known attack tool gets (see
    /// [`tools`](crate::tools)).
    pub attack_tools: ToolAction,
}

impl Default for InspectOptions {
    fn default() -> Self {
        Self {
            paranoia: 1,
            threshold: 5,
            detectors: DetectorKind::ALL.to_vec(),
            headers: HeaderSelection::default(),
            attack_tools: ToolAction::default(),
        }
    }
}

/// What the API's document says about a value, so that inspection does not
/// second-guess validation: a value held to an `enum`, a `pattern` or a
/// strict `format` (uuid, date, email…) has already been checked against
/// something stricter than any detector.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Hints {
    /// The schema pins the value down (`enum`, `pattern`, a strict
    /// `format`, or a non-string type): not inspected.
    pub constrained: bool,
    /// The schema's `maxLength`: short fields cannot hold prose, so hits
    /// that need context are weighed accordingly.
    pub max_length: Option<usize>,
    /// The schema says `format: byte`: the value is base64, and what it
    /// decodes to is what the application reads. When it decodes, the
    /// decoded text is inspected (see [`crate::base64`]).
    pub base64: bool,
}

/// Runs the enabled detectors over values.
pub struct Inspector {
    options: InspectOptions,
    detectors: Vec<Box<dyn Detector>>,
    /// Header values found clean, not inspected again.
    pub(crate) seen_clean: crate::seen::SeenClean,
}

impl std::fmt::Debug for Inspector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Inspector")
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

/// Deepest JSON nesting walked (the gateway's shape limits refuse deeper
/// bodies before inspection; this only keeps the walk safe on its own).
const MAX_JSON_DEPTH: usize = 128;

impl Inspector {
    /// An inspector with `options`.
    pub fn new(options: InspectOptions) -> Self {
        let detectors = detect::all()
            .into_iter()
            .filter(|d| options.detectors.contains(&d.kind()))
            .collect();
        Self {
            options,
            detectors,
            seen_clean: crate::seen::SeenClean::default(),
        }
    }

    /// The options.
    pub fn options(&self) -> &InspectOptions {
        &self.options
    }

    /// Inspects a header's value, unless the same value of the same header
    /// was found clean before (see [`crate::seen`]). Values with hints from
    /// the document are inspected every time.
    pub(crate) fn inspect_header(
        &self,
        name: &str,
        value: &str,
        hints: &Hints,
        report: &mut Report,
    ) {
        let plain = *hints == Hints::default();
        if plain && self.seen_clean.contains(name, value) {
            return;
        }
        let before = report.findings().len();
        self.inspect_at(
            || Location::new("header", name),
            value,
            ValueKind::Header,
            hints,
            report,
        );
        if plain && report.findings().len() == before {
            self.seen_clean.insert(name, value);
        }
    }

    /// Whether `report` reaches the blocking threshold.
    pub fn blocks(&self, report: &Report) -> bool {
        report.score() >= self.options.threshold
    }

    /// Inspects one value; hits that count at the configured paranoia level
    /// go into `report`.
    pub fn inspect_value(
        &self,
        location: &Location,
        value: &str,
        kind: ValueKind,
        hints: &Hints,
        report: &mut Report,
    ) {
        self.inspect_at(|| location.clone(), value, kind, hints, report);
    }

    /// [`inspect_value`](Self::inspect_value) with the location made only
    /// when there is a finding (most values are clean: no allocation).
    pub(crate) fn inspect_at(
        &self,
        location: impl Fn() -> Location,
        value: &str,
        kind: ValueKind,
        hints: &Hints,
        report: &mut Report,
    ) {
        if hints.constrained || value.is_empty() {
            return;
        }
        if hints.base64 {
            // Base64 text itself cannot carry an injection; what it decodes
            // to can. Undecodable values were refused by validation.
            if let Some(decoded) = crate::base64::decode_text(value) {
                let plain = Hints {
                    base64: false,
                    ..hints.clone()
                };
                self.inspect_at(location, &decoded, kind, &plain, report);
            }
            return;
        }
        let views = normalize(value);
        let ctx = Context {
            kind,
            hints,
            paranoia: self.options.paranoia,
        };
        for d in &self.detectors {
            if let Some(hit) = d.detect(&views, &ctx)
                && let Some(severity) = hit.counted_at(self.options.paranoia)
            {
                report.push(Finding {
                    detector: d.kind(),
                    severity,
                    location: location(),
                    reason: hit.reason,
                    snippet: snippet(value),
                });
            }
        }
    }

    /// Inspects every string of a JSON document, each with the hints its
    /// schema in `hints` gives, and every key that schema does not declare.
    pub fn inspect_json<H: HintSource>(&self, value: &Value, hints: &H, report: &mut Report) {
        let mut pointer = String::new();
        self.walk(value, &mut pointer, hints, hints.body_root(), report, 0);
    }

    /// One value of a JSON document at `pointer`, its schema at `at`.
    fn walk<'h, H: HintSource>(
        &self,
        value: &Value,
        pointer: &mut String,
        hints: &'h H,
        at: Option<H::At<'h>>,
        report: &mut Report,
        depth: usize,
    ) {
        if depth > MAX_JSON_DEPTH {
            return;
        }
        match value {
            Value::String(s) => {
                let h = at.map(|a| hints.body_hints(a)).unwrap_or_default();
                let at = || Location::body(pointer.clone());
                self.inspect_at(at, s, ValueKind::JsonString, &h, report);
            }
            Value::Array(items) => {
                for (i, item) in items.iter().enumerate() {
                    let len = pointer.len();
                    pointer.push('/');
                    let _ = std::fmt::Write::write_fmt(pointer, format_args!("{i}"));
                    let child = at.and_then(|a| hints.body_child(a, &pointer[len + 1..]));
                    self.walk(item, pointer, hints, child, report, depth + 1);
                    pointer.truncate(len);
                }
            }
            Value::Object(map) => {
                for (k, v) in map {
                    let len = pointer.len();
                    push_pointer(pointer, k);
                    let child = at.and_then(|a| hints.body_child(a, k));
                    // A key the schema declares is the document's own word,
                    // not the client's: only other keys are inspected.
                    if child.is_none() {
                        let loc = || Location::body(pointer.clone());
                        self.inspect_at(loc, k, ValueKind::JsonKey, &Hints::default(), report);
                    }
                    self.walk(v, pointer, hints, child, report, depth + 1);
                    pointer.truncate(len);
                }
            }
            _ => {}
        }
    }
}
