//! Thresholds of the anomaly detectors (the `anomaly` section): credential
//! stuffing, enumeration of object ids, scraping and error storms.
//!
//! Every detector counts over a sliding window per subject (a consumer, or
//! the client address when there is none; IPv6 addresses per /64) and
//! reports a security event when a threshold is crossed, at most once per
//! window per subject. A detector may suggest a temporary ban (`ban`), which
//! the gateway imposes in `enforce` mode.

use std::time::Duration;

use serde::{Deserialize, Deserializer, de::Error};

/// The largest distinct-count threshold accepted: a detector keeps up to
/// this many ids per subject, so the threshold bounds its memory.
pub const MAX_DISTINCT_THRESHOLD: u32 = 1000;

/// The `anomaly` section.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AnomalyConfig {
    /// Run the anomaly detectors at all.
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Subjects each detector tracks at most; beyond it the least recently
    /// active are forgotten, so memory stays bounded whatever the traffic.
    #[serde(default = "default_max_subjects")]
    pub max_subjects: usize,
    /// Many credentials failing from one address, or one credential
    /// failing from many addresses.
    #[serde(default)]
    pub credential_stuffing: CredentialStuffingConfig,
    /// One subject probing many object ids and mostly being refused
    /// (BOLA probing).
    #[serde(default)]
    pub enumeration: EnumerationConfig,
    /// Request volume far above the subject's own baseline, or above an
    /// absolute sustained rate.
    #[serde(default)]
    pub scraping: ScrapingConfig,
    /// A burst of error answers caused by one subject.
    #[serde(default)]
    pub error_storm: ErrorStormConfig,
}

impl Default for AnomalyConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            max_subjects: default_max_subjects(),
            credential_stuffing: CredentialStuffingConfig::default(),
            enumeration: EnumerationConfig::default(),
            scraping: ScrapingConfig::default(),
            error_storm: ErrorStormConfig::default(),
        }
    }
}

/// Credential stuffing and distributed guessing.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CredentialStuffingConfig {
    /// Run this detector.
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Distinct credential ids (API key ids, user names) failing from one
    /// client address within `window` that make an event.
    #[serde(default = "default_distinct_credentials")]
    pub distinct_credentials: u32,
    /// The sliding window of `distinct_credentials`.
    #[serde(default = "default_stuffing_window", deserialize_with = "duration")]
    pub window: Duration,
    /// Distinct client addresses (IPv6: /64s) at which one credential id
    /// fails within `credential_window` that make an event.
    #[serde(default = "default_distinct_addresses")]
    pub distinct_addresses: u32,
    /// The sliding window of `distinct_addresses`.
    #[serde(default = "default_credential_window", deserialize_with = "duration")]
    pub credential_window: Duration,
    /// Suggested ban of the client address, or `off`. Never applies to
    /// the many-addresses case, whose subject is a credential.
    #[serde(default = "default_stuffing_ban", deserialize_with = "ban")]
    pub ban: Option<Duration>,
}

impl Default for CredentialStuffingConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            distinct_credentials: default_distinct_credentials(),
            window: default_stuffing_window(),
            distinct_addresses: default_distinct_addresses(),
            credential_window: default_credential_window(),
            ban: default_stuffing_ban(),
        }
    }
}

/// Enumeration of object ids (BOLA probing).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnumerationConfig {
    /// Run this detector.
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Distinct object ids (path parameter values naming an object, per
    /// operation) one subject requests within `window` that make an event,
    /// when enough of them were refused.
    #[serde(default = "default_distinct_objects")]
    pub distinct_objects: u32,
    /// The sliding window of `distinct_objects`.
    #[serde(default = "default_enumeration_window", deserialize_with = "duration")]
    pub window: Duration,
    /// The share, in percent, of those objects answered `403` or `404`
    /// (the latest answer for each) at or above which they count as
    /// probing rather than paging through one's own objects.
    #[serde(default = "default_min_denied_percent")]
    pub min_denied_percent: u8,
    /// Suggested ban of the subject, or `off`.
    #[serde(default = "default_enumeration_ban", deserialize_with = "ban")]
    pub ban: Option<Duration>,
}

impl Default for EnumerationConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            distinct_objects: default_distinct_objects(),
            window: default_enumeration_window(),
            min_denied_percent: default_min_denied_percent(),
            ban: default_enumeration_ban(),
        }
    }
}

/// Scraping: a burst against the subject's own baseline, and an absolute
/// sustained rate.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScrapingConfig {
    /// Run this detector.
    #[serde(default = "yes")]
    pub enabled: bool,
    /// The short sliding window in which a burst is measured; the baseline
    /// is kept per window of this length.
    #[serde(default = "default_scraping_window", deserialize_with = "duration")]
    pub window: Duration,
    /// Requests within `window` below which no burst is reported, however
    /// far above its baseline the subject is.
    #[serde(default = "default_min_requests")]
    pub min_requests: u32,
    /// A burst is more than this many times the subject's baseline (an
    /// exponentially weighted average of its earlier windows).
    #[serde(default = "default_baseline_factor")]
    pub baseline_factor: u32,
    /// The baseline's memory, in windows: the average weighs each window by
    /// `2 / (baseline_windows + 1)`.
    #[serde(default = "default_baseline_windows")]
    pub baseline_windows: u32,
    /// Completed windows a subject must have been seen for before bursts
    /// against its baseline are reported (a new subject has none).
    #[serde(default = "default_warmup_windows")]
    pub warmup_windows: u32,
    /// Requests within `sustained_window` that make an event whatever the
    /// baseline; `0` turns this rule off.
    #[serde(default = "default_sustained_requests")]
    pub sustained_requests: u32,
    /// The sliding window of `sustained_requests`.
    #[serde(default = "default_sustained_window", deserialize_with = "duration")]
    pub sustained_window: Duration,
    /// Suggested ban of the subject, or `off`.
    #[serde(default, deserialize_with = "ban")]
    pub ban: Option<Duration>,
}

impl Default for ScrapingConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            window: default_scraping_window(),
            min_requests: default_min_requests(),
            baseline_factor: default_baseline_factor(),
            baseline_windows: default_baseline_windows(),
            warmup_windows: default_warmup_windows(),
            sustained_requests: default_sustained_requests(),
            sustained_window: default_sustained_window(),
            ban: None,
        }
    }
}

/// A burst of error answers (`4xx`, `5xx`) caused by one subject.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ErrorStormConfig {
    /// Run this detector.
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Error answers within `window` that make an event, together with
    /// `min_error_percent`.
    #[serde(default = "default_min_errors")]
    pub min_errors: u32,
    /// The share, in percent, of the subject's requests within `window`
    /// that must have been errors.
    #[serde(default = "default_min_error_percent")]
    pub min_error_percent: u8,
    /// The sliding window.
    #[serde(default = "default_error_window", deserialize_with = "duration")]
    pub window: Duration,
    /// Suggested ban of the subject, or `off`.
    #[serde(default, deserialize_with = "ban")]
    pub ban: Option<Duration>,
}

impl Default for ErrorStormConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            min_errors: default_min_errors(),
            min_error_percent: default_min_error_percent(),
            window: default_error_window(),
            ban: None,
        }
    }
}

/// A value of the `anomaly` section that cannot work.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AnomalyConfigError {
    /// A count or factor out of its range.
    #[error("`anomaly.{field}` is {value}; it must be between {min} and {max}")]
    OutOfRange {
        /// The key, e.g. `enumeration.distinct_objects`.
        field: &'static str,
        /// The value given.
        value: u64,
        /// The smallest value accepted.
        min: u64,
        /// The largest value accepted.
        max: u64,
    },
    /// A window shorter than a second or longer than a day.
    #[error("`anomaly.{field}` must be between 1s and 1d")]
    Window {
        /// The key, e.g. `scraping.window`.
        field: &'static str,
    },
}

impl AnomalyConfigError {
    /// The key the problem is at, below `anomaly`, e.g. `scraping.window`.
    pub fn field(&self) -> &'static str {
        match self {
            Self::OutOfRange { field, .. } | Self::Window { field } => field,
        }
    }
}

impl AnomalyConfig {
    /// Checks every value; the detectors refuse a config that fails it.
    /// The first problem; [`problems`](Self::problems) lists them all.
    pub fn validate(&self) -> Result<(), AnomalyConfigError> {
        match self.problems().into_iter().next() {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    /// Every value that cannot work, in the order of the section, so that
    /// one run of config validation reports them all.
    pub fn problems(&self) -> Vec<AnomalyConfigError> {
        let mut p = Problems(Vec::new());
        let distinct = u64::from(MAX_DISTINCT_THRESHOLD);
        let subjects = u64::try_from(self.max_subjects).unwrap_or(u64::MAX);
        p.range("max_subjects", subjects, 1, 10_000_000);
        let s = &self.credential_stuffing;
        let credentials = s.distinct_credentials.into();
        p.range(
            "credential_stuffing.distinct_credentials",
            credentials,
            2,
            distinct,
        );
        let addresses = s.distinct_addresses.into();
        p.range(
            "credential_stuffing.distinct_addresses",
            addresses,
            2,
            distinct,
        );
        p.window("credential_stuffing.window", s.window);
        p.window("credential_stuffing.credential_window", s.credential_window);
        let e = &self.enumeration;
        p.range(
            "enumeration.distinct_objects",
            e.distinct_objects.into(),
            2,
            distinct,
        );
        p.range(
            "enumeration.min_denied_percent",
            e.min_denied_percent.into(),
            0,
            100,
        );
        p.window("enumeration.window", e.window);
        let c = &self.scraping;
        p.range("scraping.min_requests", c.min_requests.into(), 1, u64::MAX);
        p.range(
            "scraping.baseline_factor",
            c.baseline_factor.into(),
            2,
            1000,
        );
        p.range(
            "scraping.baseline_windows",
            c.baseline_windows.into(),
            1,
            1000,
        );
        p.range("scraping.warmup_windows", c.warmup_windows.into(), 1, 1000);
        p.window("scraping.window", c.window);
        p.window("scraping.sustained_window", c.sustained_window);
        let r = &self.error_storm;
        p.range("error_storm.min_errors", r.min_errors.into(), 1, u64::MAX);
        p.range(
            "error_storm.min_error_percent",
            r.min_error_percent.into(),
            0,
            100,
        );
        p.window("error_storm.window", r.window);
        p.0
    }
}

/// The problems found so far.
struct Problems(Vec<AnomalyConfigError>);

impl Problems {
    /// Adds one unless `value` is within `min..=max`.
    fn range(&mut self, field: &'static str, value: u64, min: u64, max: u64) {
        if !(min..=max).contains(&value) {
            self.0.push(AnomalyConfigError::OutOfRange {
                field,
                value,
                min,
                max,
            });
        }
    }

    /// Adds one unless `d` is between a second and a day.
    fn window(&mut self, field: &'static str, d: Duration) {
        if !(Duration::from_secs(1)..=Duration::from_secs(86_400)).contains(&d) {
            self.0.push(AnomalyConfigError::Window { field });
        }
    }
}

fn yes() -> bool {
    true
}
fn default_max_subjects() -> usize {
    100_000
}
fn default_distinct_credentials() -> u32 {
    20
}
fn default_stuffing_window() -> Duration {
    Duration::from_secs(300)
}
fn default_distinct_addresses() -> u32 {
    10
}
fn default_credential_window() -> Duration {
    Duration::from_secs(600)
}
fn default_stuffing_ban() -> Option<Duration> {
    Some(Duration::from_secs(3600))
}
fn default_distinct_objects() -> u32 {
    50
}
fn default_enumeration_window() -> Duration {
    Duration::from_secs(300)
}
fn default_min_denied_percent() -> u8 {
    50
}
fn default_enumeration_ban() -> Option<Duration> {
    Some(Duration::from_secs(900))
}
fn default_scraping_window() -> Duration {
    Duration::from_secs(60)
}
fn default_min_requests() -> u32 {
    300
}
fn default_baseline_factor() -> u32 {
    10
}
fn default_baseline_windows() -> u32 {
    10
}
fn default_warmup_windows() -> u32 {
    3
}
fn default_sustained_requests() -> u32 {
    10_000
}
fn default_sustained_window() -> Duration {
    Duration::from_secs(600)
}
fn default_min_errors() -> u32 {
    100
}
fn default_min_error_percent() -> u8 {
    80
}
fn default_error_window() -> Duration {
    Duration::from_secs(60)
}

/// Durations written the human way: `500ms`, `5s`, `2m`, `1h 30m`.
fn duration<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    let text = String::deserialize(d)?;
    humantime::parse_duration(&text).map_err(|e| {
        D::Error::custom(format!(
            "invalid duration `{text}` ({e}); write it like `500ms`, `5s`, `2m` or `1h`"
        ))
    })
}

/// A ban length, or `off` (also `null`) for none.
fn ban<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
    let Some(text) = Option::<String>::deserialize(d)? else {
        return Ok(None);
    };
    if text.trim() == "off" {
        return Ok(None);
    }
    match humantime::parse_duration(&text) {
        Ok(d) if d.is_zero() => Err(D::Error::custom(
            "a ban of zero length; write `off` for no ban",
        )),
        Ok(d) => Ok(Some(d)),
        Err(e) => Err(D::Error::custom(format!(
            "invalid ban `{text}` ({e}); write a duration like `15m` or `1h`, or `off`"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(json: &str) -> Result<AnomalyConfig, String> {
        serde_json::from_str(json).map_err(|e| e.to_string())
    }

    #[test]
    fn defaults_are_valid_and_fields_parse() {
        let d = AnomalyConfig::default();
        d.validate().unwrap();
        assert_eq!(parse("{}").unwrap(), d);
        let c = parse(
            r#"{"max_subjects": 500,
                "credential_stuffing": {"distinct_credentials": 5, "window": "2m", "ban": "off"},
                "enumeration": {"ban": "30m", "min_denied_percent": 70},
                "scraping": {"enabled": false, "ban": "10m", "sustained_requests": 0},
                "error_storm": {"window": "30s", "ban": null}}"#,
        )
        .unwrap();
        c.validate().unwrap();
        assert_eq!(c.credential_stuffing.window, Duration::from_secs(120));
        assert_eq!(c.credential_stuffing.ban, None);
        assert_eq!(c.enumeration.ban, Some(Duration::from_secs(1800)));
        assert_eq!(c.scraping.ban, Some(Duration::from_secs(600)));
        assert!(!c.scraping.enabled);
        assert_eq!(c.error_storm.window, Duration::from_secs(30));
    }

    #[test]
    fn bad_values_are_refused() {
        assert!(
            parse(r#"{"scraping": {"windw": "1m"}}"#)
                .unwrap_err()
                .contains("unknown field")
        );
        assert!(
            parse(r#"{"scraping": {"window": "soon"}}"#)
                .unwrap_err()
                .contains("invalid duration")
        );
        assert!(
            parse(r#"{"error_storm": {"ban": "0s"}}"#)
                .unwrap_err()
                .contains("`off`")
        );
        let c = parse(r#"{"enumeration": {"distinct_objects": 5000}}"#).unwrap();
        let e = c.validate().unwrap_err().to_string();
        assert!(e.contains("anomaly.enumeration.distinct_objects"), "{e}");
        let c = parse(r#"{"error_storm": {"min_error_percent": 101}}"#).unwrap();
        assert!(c.validate().is_err());
        let c = parse(r#"{"scraping": {"window": "100ms"}}"#).unwrap();
        assert!(
            c.validate()
                .unwrap_err()
                .to_string()
                .contains("scraping.window")
        );
    }

    #[test]
    fn every_problem_is_listed() {
        let c = parse(
            r#"{"max_subjects": 0, "scraping": {"window": "0s", "baseline_factor": 1},
                "error_storm": {"min_error_percent": 101}}"#,
        )
        .unwrap();
        let fields: Vec<&str> = c.problems().iter().map(AnomalyConfigError::field).collect();
        assert_eq!(
            fields,
            [
                "max_subjects",
                "scraping.baseline_factor",
                "scraping.window",
                "error_storm.min_error_percent"
            ]
        );
        assert_eq!(c.validate().unwrap_err().field(), "max_subjects");
        assert!(AnomalyConfig::default().problems().is_empty());
    }
}
