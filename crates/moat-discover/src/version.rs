//! API versions in paths, and the operations still used in an older
//! version beside a newer one.
//!
//! A version segment is `v` and a number, with optional dotted parts
//! (`v1`, `V2`, `v1.1`, `v2.0.3`), or a calendar date (`2023-10-01`), as
//! APIs that version by release date write it. It may sit anywhere in the
//! path (`/v1/books`, `/api/v2/books`). Two operations are the same
//! operation in two versions when they have the same method and the same
//! template once their version segments are set aside: the segments
//! before it and the segments after it, any parameter matching any
//! parameter (`/v1/books/{bookId}` is `/v2/books/{id}`). Numbered and
//! dated versions are not compared with each other.

use std::collections::BTreeMap;

use crate::template::{DiscoveredOperation, Part};

/// A version, as a path segment writes it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Version {
    /// `v1`, `v1.1`: the numbers, most significant first.
    Numbered(Vec<u64>),
    /// `2023-10-01`: year, month, day.
    Dated(u16, u8, u8),
}

impl Version {
    /// The version `segment` writes, if it is one.
    pub fn parse(segment: &str) -> Option<Version> {
        if let Some(rest) = segment
            .strip_prefix('v')
            .or_else(|| segment.strip_prefix('V'))
        {
            let numbers: Option<Vec<u64>> = rest
                .split('.')
                .map(|n| {
                    if n.is_empty() || n.len() > 9 || !n.bytes().all(|b| b.is_ascii_digit()) {
                        None
                    } else {
                        n.parse().ok()
                    }
                })
                .collect();
            return numbers.map(Version::Numbered);
        }
        let b = segment.as_bytes();
        if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
            return None;
        }
        let num = |s: &str| -> Option<u16> {
            if s.bytes().all(|c| c.is_ascii_digit()) {
                s.parse().ok()
            } else {
                None
            }
        };
        let year = num(segment.get(0..4)?)?;
        let month = u8::try_from(num(segment.get(5..7)?)?).ok()?;
        let day = u8::try_from(num(segment.get(8..10)?)?).ok()?;
        ((1..=12).contains(&month) && (1..=31).contains(&day))
            .then_some(Version::Dated(year, month, day))
    }

    /// Whether `self` and `other` can be ordered (both numbered or both
    /// dated).
    fn same_family(&self, other: &Version) -> bool {
        matches!(
            (self, other),
            (Version::Numbered(_), Version::Numbered(_)) | (Version::Dated(..), Version::Dated(..))
        )
    }
}

/// An operation used in an older version while a newer version of it is
/// used too.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OlderVersion {
    /// The template of the newest version seen (`/v2/books/{id}`).
    pub newer: String,
}

/// For each of `operations` (same order), whether it is an older version
/// of an operation also seen in a newer one. Only literal version
/// segments count: a segment the templater made a parameter (many dated
/// versions seen at one position) has no version to compare.
pub fn older_versions(operations: &[DiscoveredOperation]) -> Vec<Option<OlderVersion>> {
    // (method, shape, family) → indexes and versions of its operations.
    let mut groups: BTreeMap<(String, String, bool), Vec<(usize, Version)>> = BTreeMap::new();
    for (i, op) in operations.iter().enumerate() {
        let Some((at, version)) = version_part(op) else {
            continue;
        };
        let dated = matches!(version, Version::Dated(..));
        groups
            .entry((op.method.clone(), shape(&op.parts, at), dated))
            .or_default()
            .push((i, version));
    }
    let mut out = vec![None; operations.len()];
    for members in groups.values() {
        let Some((newest, top)) = members.iter().max_by(|a, b| a.1.cmp(&b.1)) else {
            continue;
        };
        let Some(newer) = operations.get(*newest).map(DiscoveredOperation::template) else {
            continue;
        };
        for (i, version) in members {
            if version.same_family(top)
                && version < top
                && let Some(slot) = out.get_mut(*i)
            {
                *slot = Some(OlderVersion {
                    newer: newer.clone(),
                });
            }
        }
    }
    out
}

/// The first literal version segment of `op`: its position and version.
fn version_part(op: &DiscoveredOperation) -> Option<(usize, Version)> {
    op.parts.iter().enumerate().find_map(|(i, p)| match p {
        Part::Literal(s) => Version::parse(s).map(|v| (i, v)),
        Part::Param { .. } => None,
    })
}

/// The template with the version at `at` set aside and every parameter
/// written alike: `/api/{v}/books/{}`.
fn shape(parts: &[Part], at: usize) -> String {
    let mut out = String::new();
    for (i, part) in parts.iter().enumerate() {
        out.push('/');
        match part {
            _ if i == at => out.push_str("{v}"),
            Part::Literal(s) => out.push_str(s),
            Part::Param { .. } => out.push_str("{}"),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::template::Templater;

    fn ops<P: AsRef<str>>(requests: &[(&str, P)]) -> Vec<DiscoveredOperation> {
        let mut t = Templater::new();
        for (m, p) in requests {
            t.observe(m, p.as_ref()).unwrap();
        }
        t.operations()
    }

    fn zombies(ops: &[DiscoveredOperation]) -> Vec<(String, String)> {
        ops.iter()
            .zip(older_versions(ops))
            .filter_map(|(op, z)| z.map(|z| (format!("{} {}", op.method, op.template()), z.newer)))
            .collect()
    }

    #[test]
    fn versions_parse_and_order() {
        assert_eq!(Version::parse("v1"), Some(Version::Numbered(vec![1])));
        assert_eq!(Version::parse("V2"), Some(Version::Numbered(vec![2])));
        assert_eq!(
            Version::parse("v1.10"),
            Some(Version::Numbered(vec![1, 10]))
        );
        assert_eq!(
            Version::parse("2023-10-01"),
            Some(Version::Dated(2023, 10, 1))
        );
        for not in [
            "v",
            "v1.",
            "va",
            "version",
            "books",
            "2023-13-01",
            "2023-1-01",
            "v1beta",
        ] {
            assert_eq!(Version::parse(not), None, "{not}");
        }
        assert!(Version::parse("v1.2") < Version::parse("v1.10"));
        assert!(Version::parse("v1.1") < Version::parse("v2"));
        assert!(Version::parse("2023-10-01") < Version::parse("2024-01-15"));
    }

    #[test]
    fn an_older_version_used_beside_a_newer_one_is_a_zombie() {
        let mut requests: Vec<(&str, String)> = ["/v1/books", "/v2/books", "/v3/books"]
            .iter()
            .map(|p| ("GET", p.to_string()))
            .collect();
        for id in 1..=6 {
            requests.push(("GET", format!("/v1/books/{id}")));
            requests.push(("GET", format!("/v2/books/{id}")));
        }
        // Only v1 has this one: nothing newer to compare with.
        requests.push(("POST", "/v1/orders".to_string()));
        let ops = ops(&requests);
        assert_eq!(
            zombies(&ops),
            [
                ("GET /v1/books".to_string(), "/v3/books".to_string()),
                (
                    "GET /v1/books/{bookId}".to_string(),
                    "/v2/books/{bookId}".to_string()
                ),
                ("GET /v2/books".to_string(), "/v3/books".to_string()),
            ]
        );
    }

    #[test]
    fn prefixed_dotted_and_dated_versions() {
        let ops = ops(&[
            ("GET", "/api/v1.1/users"),
            ("GET", "/api/v1.2/users"),
            ("GET", "/2023-10-01/charges"),
            ("GET", "/2024-04-10/charges"),
        ]);
        let mut found = zombies(&ops);
        found.sort();
        // Dated segments are identifiers to the templater: one operation,
        // no version to compare. Literal ones (from a document, or kept
        // literal) are compared below.
        assert_eq!(
            found,
            [(
                "GET /api/v1.1/users".to_string(),
                "/api/v1.2/users".to_string()
            )]
        );
        let dated = |date: &str| DiscoveredOperation {
            method: "GET".into(),
            parts: vec![Part::Literal(date.into()), Part::Literal("charges".into())],
            requests: 1,
            example: vec![date.into(), "charges".into()],
        };
        let ops = [dated("2024-04-10"), dated("2023-10-01")];
        assert_eq!(
            zombies(&ops),
            [(
                "GET /2023-10-01/charges".to_string(),
                "/2024-04-10/charges".to_string()
            )]
        );
    }

    #[test]
    fn different_methods_paths_or_families_are_not_versions_of_each_other() {
        let ops = ops(&[
            ("GET", "/v1/books"),
            ("DELETE", "/v2/books"),
            ("GET", "/v2/authors"),
            ("GET", "/api/v2/books"),
        ]);
        assert_eq!(zombies(&ops), []);
        let lit = |a: &str| DiscoveredOperation {
            method: "GET".into(),
            parts: vec![Part::Literal(a.into()), Part::Literal("x".into())],
            requests: 1,
            example: Vec::new(),
        };
        assert_eq!(zombies(&[lit("v9"), lit("2024-01-01")]), []);
    }
}
