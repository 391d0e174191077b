//! The terminal view: a live progress line while the scan runs (on a
//! terminal only), and the summary table at the end.

use std::fmt::Write as _;
use std::io::Write as _;
use std::sync::Mutex;

use super::Report;
use crate::finding::Finding;
use crate::progress::Observer;

/// The live view on standard error.
pub struct Live {
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    phase: String,
    index: usize,
    total: usize,
    sent: u64,
    findings: usize,
}

impl Live {
    pub fn new() -> Self {
        Self {
            state: Mutex::new(State::default()),
        }
    }

    fn draw(state: &State) {
        let width = 24;
        let filled = (width * state.index)
            .checked_div(state.total)
            .unwrap_or(0)
            .min(width);
        let bar: String = "#".repeat(filled) + &"-".repeat(width - filled);
        let mut err = std::io::stderr().lock();
        let _ = write!(
            err,
            "\r\x1b[2K[{bar}] {}/{} {} · {} requests · {} findings",
            state.index, state.total, state.phase, state.sent, state.findings
        );
        let _ = err.flush();
    }
}

impl Default for Live {
    fn default() -> Self {
        Self::new()
    }
}

impl Observer for Live {
    fn phase(&self, name: &str, index: usize, total: usize) {
        if let Ok(mut s) = self.state.lock() {
            s.phase = name.to_string();
            s.index = index;
            s.total = total;
            Self::draw(&s);
        }
    }

    fn request(&self, sent: u64) {
        if let Ok(mut s) = self.state.lock() {
            s.sent = sent;
            if sent.is_multiple_of(10) {
                Self::draw(&s);
            }
        }
    }

    fn finding(&self, _finding: &Finding) {
        if let Ok(mut s) = self.state.lock() {
            s.findings += 1;
            Self::draw(&s);
        }
    }

    fn done(&self) {
        let mut err = std::io::stderr().lock();
        let _ = writeln!(err, "\r\x1b[2K");
    }
}

/// The summary: one line per finding, most severe first, and the counts.
pub fn summary(report: &Report) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "moat scan of {} ({})", report.target, report.api);
    let _ = writeln!(
        out,
        "{} requests in {:.1} s",
        report.requests,
        report.duration_ms as f64 / 1000.0
    );
    for f in &report.findings {
        let place = f
            .operation
            .as_ref()
            .map(ToString::to_string)
            .or_else(|| f.path.clone())
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "{:<8} {:<10} {:<22} {} — {}",
            f.severity.as_str(),
            f.category.code(),
            f.rule,
            place,
            f.title
        );
    }
    let counts: Vec<String> = report
        .counts()
        .iter()
        .map(|(s, n)| format!("{n} {s}"))
        .collect();
    let _ = writeln!(
        out,
        "{} findings: {}",
        report.findings.len(),
        counts.join(", ")
    );
    out
}
