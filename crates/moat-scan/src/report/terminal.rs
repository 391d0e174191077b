//! The terminal view: a live progress line while the scan runs (on a
//! terminal only), and the summary table at the end.

use std::fmt::Write as _;
use std::io::Write as _;
use std::sync::Mutex;

use super::{Report, comparison_line, findings_count, place};
use crate::finding::{Finding, Severity};
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
        let mut err = std::io::stderr().lock();
        let _ = write!(err, "\r\x1b[2K{}", progress_line(state));
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

/// The live line: a bar of the phases done, the phase, the requests and
/// the findings so far.
fn progress_line(state: &State) -> String {
    let width = 24;
    let filled = (width * state.index)
        .checked_div(state.total)
        .unwrap_or(0)
        .min(width);
    let bar: String = "#".repeat(filled) + &"-".repeat(width - filled);
    format!(
        "[{bar}] {}/{} {} · {} requests · {}",
        state.index,
        state.total,
        clean(&state.phase),
        state.sent,
        findings_count(state.findings)
    )
}

/// Whether to colour output written to a stream: only a terminal, and
/// not when `NO_COLOR` is set to anything (<https://no-color.org>).
pub fn colour_wanted(is_terminal: bool) -> bool {
    colour_for(is_terminal, std::env::var_os("NO_COLOR").as_deref())
}

fn colour_for(is_terminal: bool, no_color: Option<&std::ffi::OsStr>) -> bool {
    is_terminal && no_color.is_none_or(|v| v.is_empty())
}

/// The summary: what was scanned, a table of the findings (most severe
/// first, columns aligned), the counts per severity, what was skipped, the
/// errors and, with a baseline, what was closed. `colour` adds ANSI
/// colours to the severities.
pub fn summary(report: &Report, colour: bool) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "moat scan of {} ({})",
        clean(&report.target),
        clean(&report.api)
    );
    let identities: Vec<String> = report
        .identities
        .iter()
        .map(|i| format!("{} ({})", clean(&i.name), i.role))
        .collect();
    let _ = writeln!(out, "identities: {}", identities.join(", "));
    let _ = writeln!(
        out,
        "{} requests in {:.1} s, {} rules\n",
        report.requests,
        report.duration_ms as f64 / 1000.0,
        report.all_rules().len()
    );
    if !report.findings.is_empty() {
        let mut rows = vec![[
            "SEVERITY".to_string(),
            "OWASP".to_string(),
            "RULE".to_string(),
            "WHERE".to_string(),
            "TITLE".to_string(),
        ]];
        rows.extend(report.findings.iter().map(|f| {
            let mut title = clean(&f.title);
            if report.is_new(f) == Some(true) {
                title.push_str(" (new)");
            }
            [
                f.severity.as_str().to_string(),
                f.category.code().to_string(),
                f.rule.to_string(),
                clean(&place(f)),
                title,
            ]
        }));
        table(&mut out, &rows, colour);
        out.push('\n');
    }
    let counts: Vec<String> = report
        .counts()
        .iter()
        .map(|(s, n)| paint(&format!("{n} {s}"), *s, colour && *n > 0))
        .collect();
    let _ = writeln!(
        out,
        "{}: {}",
        findings_count(report.findings.len()),
        counts.join(", ")
    );
    for skip in &report.skipped {
        let _ = writeln!(out, "skipped {}: {}", skip.check, clean(&skip.reason));
    }
    for error in &report.errors {
        let _ = writeln!(out, "error: {}", clean(error));
    }
    if let Some(comparison) = &report.comparison {
        let _ = writeln!(out, "\n{}", clean(&comparison_line(comparison)));
        let rows: Vec<[String; 5]> = comparison
            .closed
            .iter()
            .map(|c| {
                [
                    "closed".to_string(),
                    clean(&c.severity),
                    clean(&c.rule),
                    clean(c.key.split('|').nth(1).unwrap_or_default()),
                    clean(&c.title),
                ]
            })
            .collect();
        table(&mut out, &rows, false);
    }
    out
}

/// Rows in columns as wide as their widest cell; the first column of
/// each row coloured as the severity it names.
fn table(out: &mut String, rows: &[[String; 5]], colour: bool) {
    let mut widths = [0usize; 5];
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    for row in rows {
        let mut line = String::new();
        for (i, (cell, width)) in row.iter().zip(widths).enumerate() {
            let pad = width.saturating_sub(cell.chars().count());
            if i == row.len() - 1 {
                line.push_str(cell);
            } else {
                match cell.parse::<Severity>() {
                    Ok(severity) if i == 0 => line.push_str(&paint(cell, severity, colour)),
                    _ => line.push_str(cell),
                }
                line.push_str(&" ".repeat(pad + 2));
            }
        }
        let _ = writeln!(out, "{}", line.trim_end());
    }
}

fn paint(text: &str, severity: Severity, colour: bool) -> String {
    if !colour {
        return text.to_string();
    }
    let code = match severity {
        Severity::Critical => "1;31",
        Severity::High => "31",
        Severity::Medium => "33",
        Severity::Low => "36",
        Severity::Info => "2",
    };
    format!("\x1b[{code}m{text}\x1b[0m")
}

/// A value from the target or the document without control characters,
/// so an answer cannot move the cursor or recolour the terminal.
fn clean(value: &str) -> String {
    value
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::testing;

    #[test]
    fn columns_line_up_and_counts_show() {
        let text = summary(&testing::report(), false);
        let header = text.lines().find(|l| l.starts_with("SEVERITY")).unwrap();
        let title_at = header.find("TITLE").unwrap();
        let rows: Vec<&str> = text
            .lines()
            .skip_while(|l| !l.starts_with("SEVERITY"))
            .skip(1)
            .take(3)
            .collect();
        assert!(rows[0].starts_with("critical  API8:2023  test.sql "));
        for row in &rows {
            let chars: Vec<char> = row.chars().collect();
            assert_ne!(
                chars[title_at], ' ',
                "title column starts at {title_at}: {row}"
            );
            assert_eq!(chars[title_at - 1], ' ');
        }
        assert!(text.contains("3 findings: 1 critical, 1 high, 0 medium, 1 low, 0 info"));
        assert!(text.contains("skipped object-level authorization: only one user"));
        assert!(text.contains("error: the request budget was spent"));
        assert!(text.contains("(new)"));
    }

    #[test]
    fn with_a_baseline_the_closed_ones_are_listed() {
        let text = summary(&testing::report(), false);
        assert!(text.contains(
            "1 closed, 1 still open, 2 new since the baseline scan of http://127.0.0.1:9090/"
        ));
        let closed = text.lines().find(|l| l.starts_with("closed")).unwrap();
        assert!(
            closed.contains("high  test.read  GET /api/notes/{title}  closed <script>"),
            "{closed}"
        );
    }

    #[test]
    fn colour_only_when_asked_and_never_from_the_target() {
        let plain = summary(&testing::report(), false);
        assert!(!plain.contains('\x1b'));
        assert!(!plain.contains('\u{1}'));
        let coloured = summary(&testing::report(), true);
        assert!(coloured.contains("\x1b[1;31mcritical\x1b[0m"));
        assert!(coloured.contains("\x1b[31m1 high\x1b[0m"));
        assert!(!coloured.contains('\u{1}'));
    }

    #[test]
    fn the_live_line_fills_with_the_phases() {
        let mut state = State {
            phase: "harvest".into(),
            index: 2,
            total: 8,
            sent: 40,
            findings: 1,
        };
        assert_eq!(
            progress_line(&state),
            "[######------------------] 2/8 harvest · 40 requests · 1 finding"
        );
        state.index = 9;
        state.total = 8;
        assert!(progress_line(&state).starts_with(&format!("[{}]", "#".repeat(24))));
        state.total = 0;
        assert!(progress_line(&state).starts_with(&format!("[{}]", "-".repeat(24))));
    }

    #[test]
    fn no_color_turns_colour_off() {
        use std::ffi::OsStr;
        assert!(colour_for(true, None));
        assert!(colour_for(true, Some(OsStr::new(""))));
        assert!(!colour_for(true, Some(OsStr::new("1"))));
        assert!(!colour_for(false, None));
        assert!(!colour_wanted(false));
    }
}
