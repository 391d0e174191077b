//! Path traversal (`injection.path-traversal`): `../` sequences, plain and
//! encoded, in path segments and file-like parameters bring back a system
//! file's content.

use super::point::{Place, Point};
use super::{Kind, Measure, report};
use crate::checks::{Context, Outcome};
use crate::finding::{Category, Rule, Severity};
use crate::target::encode;

pub static TRAVERSAL: Rule = Rule {
    id: "injection.path-traversal",
    name: "Path traversal",
    category: Category::Api8,
    severity: Severity::High,
    cwe: Some(22),
    description: "`../` in a value reads a file outside the directory the API serves from: the value is joined to a path without being confined.",
};

/// What a system file's content shows, and the file.
const SIGNATURES: &[(&str, &str)] = &[
    ("root:x:0:0:", "/etc/passwd"),
    ("[boot loader]", "boot.ini"),
    ("[fonts]", "win.ini"),
];

/// Payloads as text (encoded as one segment or a query value).
const PAYLOADS: &[&str] = &[
    "../../../../../../../../etc/passwd",
    "....//....//....//....//....//....//....//....//etc/passwd",
    "..\\..\\..\\..\\..\\..\\..\\..\\windows\\win.ini",
];

/// Raw path segments, sent as they are: `%2e%2e%2f` for servers that
/// decode dots but filter `../`.
const RAW_SEGMENTS: &[&str] =
    &["%2e%2e%2f%2e%2e%2f%2e%2e%2f%2e%2e%2f%2e%2e%2f%2e%2e%2f%2e%2e%2f%2e%2e%2fetc%2fpasswd"];

fn signature(text: &str) -> Option<&'static str> {
    SIGNATURES
        .iter()
        .find(|(s, _)| text.contains(s))
        .map(|(_, file)| *file)
}

pub async fn run(cx: &Context, point: &Point<'_>, control: &Measure, out: &mut Outcome) {
    if !point.file_like() || signature(&control.exchange.text()).is_some() {
        return;
    }
    let mut attempts: Vec<(String, Option<crate::client::Probe>)> = PAYLOADS
        .iter()
        .map(|p| (p.to_string(), point.probe(cx, p)))
        .collect();
    if point.place == Place::Path {
        for raw in RAW_SEGMENTS {
            let probe = point.probe_raw_segment(cx, raw);
            attempts.push((raw.to_string(), probe));
        }
    }
    for (payload, probe) in attempts {
        let Some(probe) = probe else { continue };
        let Ok(answer) = cx.send(&probe, point.identity).await else {
            continue;
        };
        if let Some(file) = signature(&answer.text()) {
            out.found(report(
                &TRAVERSAL,
                Kind::Traversal,
                point,
                format!("The {} reads files outside its directory", point.describe()),
                format!("`{payload}` in the {} (sent as `{}`) was answered {} with the content of {file}; the control value `{}` was not.", point.describe(), encode(&payload), answer.status, point.control),
                &answer,
                format!("content of {file} in the answer"),
            ));
            return;
        }
    }
}
