//! The JSON report: the [`Report`] as it is, each finding with its `key`
//! (what `--baseline` compares).

use serde_json::{Value, json};

use super::Report;

/// The report as pretty JSON.
pub fn render(report: &Report) -> String {
    let mut value = serde_json::to_value(report).unwrap_or(Value::Null);
    if let Some(findings) = value.get_mut("findings").and_then(Value::as_array_mut) {
        for (finding, original) in findings.iter_mut().zip(&report.findings) {
            if let Some(object) = finding.as_object_mut() {
                object.insert("key".into(), json!(original.key()));
            }
        }
    }
    let mut text = serde_json::to_string_pretty(&value).unwrap_or_default();
    text.push('\n');
    text
}
