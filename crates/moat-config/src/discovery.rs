//! `discovery`: what the gateway learns of the API from its own traffic.
//!
//! `discovery.capture` samples exchanges and records their shapes
//! (method, operation template, parameter names and types, JSON body
//! schemas, statuses, content types, how the caller authenticated, kinds
//! of sensitive data) in the state file; never a value.

use std::time::Duration;

use serde::Deserialize;

/// The `discovery` section.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DiscoveryConfig {
    /// Capture of traffic shapes.
    #[serde(default)]
    pub capture: CaptureConfig,
}

/// `discovery.capture`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CaptureConfig {
    /// Record the shapes of sampled exchanges.
    #[serde(default = "yes")]
    pub enabled: bool,
    /// The fraction of exchanges sampled, above 0 and at most 1.
    #[serde(default = "default_sample")]
    pub sample: f64,
    /// Largest JSON body (request or answer) whose schema is learned; a
    /// larger one is counted, not read.
    #[serde(default = "default_max_body_bytes")]
    pub max_body_bytes: usize,
    /// How often the shapes are written to the state file (and at
    /// shutdown).
    #[serde(default = "default_flush", with = "crate::model::humantime_serde")]
    pub flush: Duration,
}

impl Default for CaptureConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            sample: default_sample(),
            max_body_bytes: default_max_body_bytes(),
            flush: default_flush(),
        }
    }
}

fn yes() -> bool {
    true
}

fn default_sample() -> f64 {
    0.05
}

fn default_max_body_bytes() -> usize {
    64 * 1024
}

fn default_flush() -> Duration {
    Duration::from_secs(30)
}

/// The largest body a capture may read.
pub const MAX_CAPTURE_BODY_BYTES: usize = 1024 * 1024;

/// A capture setting out of range.
#[derive(Debug, Clone, PartialEq)]
pub struct CaptureProblem {
    /// The key, under `discovery.capture`.
    pub key: &'static str,
    /// What is wrong.
    pub message: String,
    /// How to fix it.
    pub hint: &'static str,
}

impl CaptureConfig {
    /// The settings out of range, when capture is on.
    pub fn problems(&self) -> Vec<CaptureProblem> {
        let mut out = Vec::new();
        if !self.enabled {
            return out;
        }
        if !(self.sample > 0.0 && self.sample <= 1.0) {
            out.push(CaptureProblem {
                key: "sample",
                message: format!(
                    "capture `sample` is {}; it must be above 0 and at most 1",
                    self.sample
                ),
                hint: "a fraction of exchanges: 0.05 samples one in twenty, 1 every exchange; to capture nothing, set `enabled: false`",
            });
        }
        if self.max_body_bytes > MAX_CAPTURE_BODY_BYTES {
            out.push(CaptureProblem {
                key: "max_body_bytes",
                message: format!(
                    "capture `max_body_bytes` is {}; it must be at most {MAX_CAPTURE_BODY_BYTES}",
                    self.max_body_bytes
                ),
                hint: "shapes are learned from small bodies; 0 learns no body schema",
            });
        }
        if self.flush < Duration::from_secs(1) {
            out.push(CaptureProblem {
                key: "flush",
                message: "capture `flush` must be at least one second".into(),
                hint: "write a duration like `30s`",
            });
        }
        out
    }
}
