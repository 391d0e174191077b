//! The detectors. Each looks at the [normalised](crate::normalize) views
//! of one value and says whether it holds an attack of its class, how bad,
//! and from which paranoia level the hit counts (1: only what is an attack
//! beyond doubt; 4: anything suspicious).

use crate::engine::Hints;
use crate::normalize::Normalized;
use crate::report::{Severity, ValueKind};

mod cmdi;
mod crlf;
mod jndi;
mod ldap;
mod needles;
mod nosql;
mod sqli;
mod ssrf;
mod ssti;
mod traversal;
mod xss;
mod xxe;

/// The class of attack a detector finds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DetectorKind {
    /// SQL injection.
    Sqli,
    /// Cross-site scripting.
    Xss,
    /// OS command injection.
    CommandInjection,
    /// Path traversal and file inclusion.
    PathTraversal,
    /// Server-side request forgery (URLs to internal places).
    Ssrf,
    /// NoSQL operator injection (`$where`, `$ne`…).
    NoSql,
    /// Server-side template injection.
    Ssti,
    /// LDAP filter injection.
    Ldap,
    /// CRLF / header injection.
    Crlf,
    /// `${jndi:…}`-style lookups (Log4Shell).
    Jndi,
    /// XML external entities.
    Xxe,
    /// A well-known attack tool's `User-Agent` (sqlmap, nuclei, nikto…):
    /// flagged, or refused with [`ToolAction::Block`](crate::ToolAction).
    AttackTool,
}

impl DetectorKind {
    /// Every kind, in a stable order.
    pub const ALL: [DetectorKind; 12] = [
        Self::Sqli,
        Self::Xss,
        Self::CommandInjection,
        Self::PathTraversal,
        Self::Ssrf,
        Self::NoSql,
        Self::Ssti,
        Self::Ldap,
        Self::Crlf,
        Self::Jndi,
        Self::Xxe,
        Self::AttackTool,
    ];

    /// The name used in config, logs and metrics.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Sqli => "sqli",
            Self::Xss => "xss",
            Self::CommandInjection => "command_injection",
            Self::PathTraversal => "path_traversal",
            Self::Ssrf => "ssrf",
            Self::NoSql => "nosql",
            Self::Ssti => "ssti",
            Self::Ldap => "ldap",
            Self::Crlf => "crlf",
            Self::Jndi => "jndi",
            Self::Xxe => "xxe",
            Self::AttackTool => "attack_tool",
        }
    }

    /// Parses [`as_str`](Self::as_str).
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

/// What a detector knows about the value besides its text.
#[derive(Debug, Clone, Copy)]
pub struct Context<'a> {
    /// Where the value came from.
    pub kind: ValueKind,
    /// What the API's document says about it.
    pub hints: &'a Hints,
    /// The configured paranoia level: a detector with several candidate
    /// hits returns the one that scores most there ([`Hit::rank_at`]).
    pub paranoia: u8,
}

/// A detector's verdict on one value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Hit {
    /// How bad.
    pub severity: Severity,
    /// The lowest paranoia level (1–4) at which the hit counts (see
    /// [`counted_at`](Self::counted_at)).
    pub paranoia: u8,
    /// Why, in a few words.
    pub reason: &'static str,
}

impl Hit {
    /// The severity the hit is scored at when inspection runs at
    /// `paranoia`; `None` when it does not count there.
    ///
    /// A hit's level says how sure the detector is that the pattern is an
    /// attack (1: beyond doubt; 4: merely suspicious), its severity how bad
    /// the attack is. At level 1 a hit is scored at its severity, so that
    /// weaker level-1 hits (warnings, errors) need company to reach the
    /// threshold. A hit that counts only from level 2 or above is scored
    /// as critical once the configured level reaches it: choosing the level
    /// is the operator's word that such patterns are attacks in this API
    /// (as the OWASP Core Rule Set's higher-level rules carry critical
    /// scores). Each level therefore adds detections that block alone at
    /// the default threshold, and the threshold still decides for all of
    /// them (raise it to require several hits at every level).
    pub const fn counted_at(&self, paranoia: u8) -> Option<Severity> {
        if self.paranoia > paranoia {
            None
        } else if self.paranoia > 1 {
            Some(Severity::Critical)
        } else {
            Some(self.severity)
        }
    }

    /// How good a candidate the hit is at `paranoia`: its score there
    /// first (nothing when it does not count), then the lower level, then
    /// the higher severity. Detectors that find several candidates keep
    /// the highest.
    pub fn rank_at(&self, paranoia: u8) -> (u32, std::cmp::Reverse<u8>, Severity) {
        (
            self.counted_at(paranoia).map_or(0, Severity::score),
            std::cmp::Reverse(self.paranoia),
            self.severity,
        )
    }
}

/// One class of attack.
pub trait Detector: Send + Sync {
    /// Which class.
    fn kind(&self) -> DetectorKind;

    /// Looks at one value. Must be linear in the value's length.
    fn detect(&self, value: &Normalized<'_>, ctx: &Context<'_>) -> Option<Hit>;
}

/// A detector of each kind.
pub fn all() -> Vec<Box<dyn Detector>> {
    vec![
        Box::new(sqli::SqlInjection),
        Box::new(xss::CrossSiteScripting),
        Box::new(cmdi::CommandInjection),
        Box::new(traversal::PathTraversal),
        Box::new(ssrf::Ssrf),
        Box::new(nosql::NoSqlInjection),
        Box::new(ssti::TemplateInjection),
        Box::new(ldap::LdapInjection),
        Box::new(crlf::CrlfInjection),
        Box::new(jndi::JndiLookup),
        Box::new(xxe::ExternalEntities),
    ]
}

/// Runs `detector` on `value` as the engine would (normalised first, no
/// schema hints): the helper every detector's tests use.
#[cfg(test)]
pub(crate) fn run(detector: &dyn Detector, value: &str, kind: ValueKind) -> Option<Hit> {
    let hints = Hints::default();
    detector.detect(
        &crate::normalize::normalize(value),
        &Context {
            kind,
            hints: &hints,
            paranoia: 1,
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hits_above_level_1_count_as_critical_once_their_level_is_chosen() {
        let hit = |severity, paranoia| Hit {
            severity,
            paranoia,
            reason: "test",
        };
        // Level 1: the severity, at every level.
        for p in 1..=4 {
            assert_eq!(
                hit(Severity::Warning, 1).counted_at(p),
                Some(Severity::Warning)
            );
        }
        // Level 3: nothing below it, critical from it.
        let notice = hit(Severity::Notice, 3);
        assert_eq!(notice.counted_at(1), None);
        assert_eq!(notice.counted_at(2), None);
        assert_eq!(notice.counted_at(3), Some(Severity::Critical));
        assert_eq!(notice.counted_at(4), Some(Severity::Critical));
    }

    #[test]
    fn candidates_are_ranked_by_their_score_at_the_configured_level() {
        let warning_1 = Hit {
            severity: Severity::Warning,
            paranoia: 1,
            reason: "a",
        };
        let warning_2 = Hit {
            paranoia: 2,
            ..warning_1
        };
        // Level 1: only the level-1 hit counts.
        assert!(warning_1.rank_at(1) > warning_2.rank_at(1));
        // Level 2: the level-2 hit counts as critical and wins.
        assert!(warning_2.rank_at(2) > warning_1.rank_at(2));
    }
}
