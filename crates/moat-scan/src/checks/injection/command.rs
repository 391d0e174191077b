//! OS command injection (`injection.command`): a shell separator and a
//! `sleep` after the value delay the answer by what they ask.

use super::point::Point;
use super::{Kind, Measure, report};
use crate::checks::{Context, Outcome};
use crate::finding::{Category, Rule, Severity};

pub static COMMAND: Rule = Rule {
    id: "injection.command",
    name: "OS command injection",
    category: Category::Api8,
    severity: Severity::Critical,
    cwe: Some(78),
    description: "A shell separator and `sleep` after a value delay the answer by the seconds asked: the value reaches a shell command.",
};

/// Shell forms, `{s}` the seconds: POSIX separators, substitutions, and
/// Windows' `ping -n` (one second per extra echo).
const FORMS: &[&str] = &[
    "; sleep {s}",
    "| sleep {s}",
    "$(sleep {s})",
    "`sleep {s}`",
    "&& ping -n {s+1} 127.0.0.1",
];

pub async fn run(cx: &Context, point: &Point<'_>, control: &Measure, out: &mut Outcome) {
    let c = &point.control;
    for template in FORMS {
        let form = |s: u64| {
            format!(
                "{c}{}",
                template
                    .replace("{s+1}", &(s + 1).to_string())
                    .replace("{s}", &s.to_string())
            )
        };
        if let Some(evidence) = super::confirm_delay(cx, point, control.elapsed, &form).await {
            out.found(report(
                &COMMAND,
                Kind::Command,
                point,
                format!("The {} reaches a shell", point.describe()),
                format!("`{}` in the {} delayed the answer by 2 s, and 1 s and 2 s forms by each; the control answered in {:?}.", form(2), point.describe(), control.elapsed),
                &evidence,
                "the answer's time follows the `sleep` asked for",
            ));
            return;
        }
    }
}
