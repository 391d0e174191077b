//! Well-known attack tools, by the `User-Agent` they send unless told
//! otherwise: scanners (`sqlmap`, `nuclei`, `nikto`, `nmap`…), brute
//! forcers and directory fuzzers. A tool's name proves nothing about a
//! payload, and a careful attacker changes it; but a request that names
//! one is worth recording, and many operators refuse them outright. The
//! hit is a notice (flagged, below the default threshold) unless the
//! options say to block ([`ToolAction::Block`]: critical).

use crate::detect::DetectorKind;
use crate::report::{Finding, Location, Severity, snippet};

/// What a request from a known attack tool gets.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ToolAction {
    /// A notice: recorded (`attack-suspected`), not refused on its own.
    #[default]
    Flag,
    /// A critical hit: refused at the default threshold.
    Block,
}

/// Lower-case marks of a tool in a `User-Agent`, with the finding's reason.
const TOOLS: &[(&str, &str)] = &[
    ("sqlmap", "sqlmap user agent"),
    ("nuclei", "nuclei user agent"),
    ("nikto", "nikto user agent"),
    ("nmap scripting engine", "nmap user agent"),
    ("masscan", "masscan user agent"),
    ("zgrab", "zgrab user agent"),
    ("gobuster", "gobuster user agent"),
    ("dirbuster", "dirbuster user agent"),
    ("feroxbuster", "feroxbuster user agent"),
    ("fuzz faster u fool", "ffuf user agent"),
    ("wfuzz", "wfuzz user agent"),
    ("(hydra)", "hydra user agent"),
    ("acunetix", "acunetix user agent"),
    ("netsparker", "netsparker user agent"),
    ("w3af", "w3af user agent"),
    ("arachni", "arachni user agent"),
    ("openvas", "openvas user agent"),
    ("nessus", "nessus user agent"),
    ("wpscan", "wpscan user agent"),
    ("whatweb", "whatweb user agent"),
    ("commix", "commix user agent"),
    ("xsstrike", "xsstrike user agent"),
    ("dalfox", "dalfox user agent"),
    ("jaeles", "jaeles user agent"),
    ("skipfish", "skipfish user agent"),
    ("zaproxy", "owasp zap user agent"),
    ("owasp zap", "owasp zap user agent"),
    ("havij", "havij user agent"),
    ("bbqsql", "bbqsql user agent"),
];

/// Longest `User-Agent` looked at.
const MAX_UA: usize = 512;

/// The reason for a `User-Agent` naming a known attack tool.
pub fn attack_tool(user_agent: &str) -> Option<&'static str> {
    let ua = user_agent.as_bytes();
    let ua = &ua[..ua.len().min(MAX_UA)];
    TOOLS
        .iter()
        .find(|(mark, _)| {
            ua.windows(mark.len())
                .any(|w| w.eq_ignore_ascii_case(mark.as_bytes()))
        })
        .map(|(_, reason)| *reason)
}

/// The finding for `user_agent`, when it names a known attack tool.
pub(crate) fn finding(user_agent: &str, action: ToolAction) -> Option<Finding> {
    let reason = attack_tool(user_agent)?;
    Some(Finding {
        detector: DetectorKind::AttackTool,
        severity: match action {
            ToolAction::Flag => Severity::Notice,
            ToolAction::Block => Severity::Critical,
        },
        location: Location::new("header", "user-agent"),
        reason,
        snippet: snippet(user_agent),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tools_are_known_by_their_agents() {
        for ua in [
            "sqlmap/1.7.2#stable (https://sqlmap.org)",
            "Nuclei - Open-source project (github.com/projectdiscovery/nuclei)",
            "Mozilla/5.00 (Nikto/2.1.6) (Evasions:None) (Test:000001)",
            "Mozilla/5.0 (compatible; Nmap Scripting Engine; https://nmap.org/book/nse.html)",
            "gobuster/3.6",
            "Fuzz Faster U Fool v2.1.0",
            "WPScan v3.8.25 (https://wpscan.com/wordpress-security-scanner)",
        ] {
            assert!(attack_tool(ua).is_some(), "{ua}");
        }
        for ua in [
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36",
            "curl/8.5.0",
            "Zapier",
            "python-requests/2.31.0",
            "Hydrangea/1.0 (garden app)",
        ] {
            assert_eq!(attack_tool(ua), None, "{ua}");
        }
    }

    #[test]
    fn flagged_or_blocked() {
        let ua = "sqlmap/1.7.2#stable (https://sqlmap.org)";
        let flag = finding(ua, ToolAction::Flag).unwrap();
        assert_eq!(flag.severity, Severity::Notice);
        assert_eq!(flag.location.to_string(), "header:user-agent");
        let block = finding(ua, ToolAction::Block).unwrap();
        assert_eq!(block.severity, Severity::Critical);
    }
}
