//! The sarif report (not written yet).

use super::Report;

pub fn render(_report: &Report) -> String {
    String::new()
}
