//! Path templates: `/2010-04-01/Accounts/{AccountSid}/Calls/{Sid}.json`.
//!
//! A template is split into `/`-separated segments, each either a literal or
//! a pattern: literal text around one or more `{param}`s. The split mirrors
//! how requests are presented to the matcher (decoded segments), so a
//! template segment is compared with exactly one request segment.

use std::fmt;

use crate::pointer::percent_decode;

/// One segment of a template.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum Segment {
    /// Must equal the request segment.
    Literal(String),
    /// `pieces[0] {names[0]} pieces[1] … {names[n-1]} pieces[n]`.
    Pattern(Pattern),
}

/// Literal text interleaved with parameters inside one segment.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct Pattern {
    /// The literal text around the parameters: one more than `names`. Inner
    /// pieces are never empty (two parameters with nothing between them
    /// could split a value anywhere).
    pub(crate) pieces: Vec<String>,
    /// The parameter names, left to right.
    pub(crate) names: Vec<String>,
}

impl Pattern {
    /// Fewer parameters and more literal text is more specific, and is tried
    /// first: `{sid}.json` before `{sid}`.
    pub(crate) fn specificity_key(&self) -> (std::cmp::Reverse<usize>, usize, &[String]) {
        let literal: usize = self.pieces.iter().map(String::len).sum();
        (std::cmp::Reverse(literal), self.names.len(), &self.pieces)
    }
}

/// A parsed path template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Template {
    pub(crate) segments: Vec<Segment>,
}

impl Template {
    /// The parameter names in order of appearance.
    pub(crate) fn param_names(&self) -> impl Iterator<Item = &str> {
        self.segments
            .iter()
            .flat_map(|s| match s {
                Segment::Literal(_) => [].iter(),
                Segment::Pattern(p) => p.names.iter(),
            })
            .map(String::as_str)
    }

    /// The template with parameter names erased: two templates with the same
    /// shape match the same requests.
    pub(crate) fn shape(&self) -> String {
        let mut out = String::new();
        for s in &self.segments {
            out.push('/');
            match s {
                Segment::Literal(l) => out.push_str(l),
                Segment::Pattern(p) => out.push_str(&p.pieces.join("{}")),
            }
        }
        out
    }

    /// True when the template has an empty segment before its last (`/a//b`):
    /// requests never present one, so such a template cannot match.
    pub(crate) fn has_inner_empty_segment(&self) -> bool {
        let n = self.segments.len();
        self.segments
            .iter()
            .take(n.saturating_sub(1))
            .any(|s| matches!(s, Segment::Literal(l) if l.is_empty()))
    }
}

/// Why a path template cannot be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum TemplateError {
    NoLeadingSlash,
    Unclosed,
    UnopenedBrace,
    EmptyName,
    Adjacent(String, String),
    Repeated(String),
}

impl fmt::Display for TemplateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NoLeadingSlash => f.write_str("a path must start with `/`"),
            Self::Unclosed => f.write_str("a `{` has no matching `}`"),
            Self::UnopenedBrace => f.write_str("a `}` has no matching `{`"),
            Self::EmptyName => f.write_str("`{}` has no parameter name"),
            Self::Adjacent(a, b) => write!(
                f,
                "`{{{a}}}{{{b}}}`: two parameters with no text between them cannot be told apart"
            ),
            Self::Repeated(n) => write!(f, "the parameter `{{{n}}}` appears more than once"),
        }
    }
}

impl TemplateError {
    pub(crate) fn hint(&self) -> &'static str {
        match self {
            Self::NoLeadingSlash => "write the path as `/…`",
            Self::Unclosed | Self::UnopenedBrace | Self::EmptyName => {
                "path parameters are written `{name}`"
            }
            Self::Adjacent(..) => "put a literal separator between them, e.g. `{a}.{b}`",
            Self::Repeated(_) => "give each path parameter its own name",
        }
    }
}

/// Parses a path template. Literal text is percent-decoded, as requests are.
pub(crate) fn parse(template: &str) -> Result<Template, TemplateError> {
    let rest = template
        .strip_prefix('/')
        .ok_or(TemplateError::NoLeadingSlash)?;
    let mut segments = Vec::new();
    let mut seen: Vec<&str> = Vec::new();
    for raw in rest.split('/') {
        segments.push(parse_segment(raw, &mut seen)?);
    }
    Ok(Template { segments })
}

fn parse_segment<'a>(raw: &'a str, seen: &mut Vec<&'a str>) -> Result<Segment, TemplateError> {
    let mut pieces = Vec::new();
    let mut names: Vec<String> = Vec::new();
    let mut rest = raw;
    loop {
        let open = rest.find('{');
        let close = rest.find('}');
        match (open, close) {
            (None, None) => {
                pieces.push(decode(rest));
                break;
            }
            (None, Some(_)) => return Err(TemplateError::UnopenedBrace),
            (Some(o), Some(c)) if c < o => return Err(TemplateError::UnopenedBrace),
            (Some(_), None) => return Err(TemplateError::Unclosed),
            (Some(o), Some(c)) => {
                let literal = rest.get(..o).unwrap_or_default();
                let name = rest.get(o + 1..c).unwrap_or_default();
                if name.contains('{') {
                    return Err(TemplateError::Unclosed);
                }
                if name.is_empty() {
                    return Err(TemplateError::EmptyName);
                }
                if literal.is_empty()
                    && let Some(prev) = names.last()
                {
                    return Err(TemplateError::Adjacent(prev.clone(), name.to_string()));
                }
                if seen.contains(&name) {
                    return Err(TemplateError::Repeated(name.to_string()));
                }
                seen.push(name);
                pieces.push(decode(literal));
                names.push(name.to_string());
                rest = rest.get(c + 1..).unwrap_or_default();
            }
        }
    }
    if names.is_empty() {
        Ok(Segment::Literal(pieces.pop().unwrap_or_default()))
    } else {
        Ok(Segment::Pattern(Pattern { pieces, names }))
    }
}

/// Percent-decodes literal text; text that is not valid percent-encoding is
/// kept as written (it can still match a request that carries it literally).
fn decode(s: &str) -> String {
    percent_decode(s).map_or_else(|| s.to_string(), |d| d.into_owned())
}

/// `template` with its parameter names erased (`/books/{id}` →
/// `/books/{}`): two templates with the same shape match the same
/// requests. `None` when it is no valid path template.
pub fn shape_of(template: &str) -> Option<String> {
    parse(template).ok().map(|t| t.shape())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lit(s: &str) -> Segment {
        Segment::Literal(s.into())
    }

    fn pat(pieces: &[&str], names: &[&str]) -> Segment {
        Segment::Pattern(Pattern {
            pieces: pieces.iter().map(|s| s.to_string()).collect(),
            names: names.iter().map(|s| s.to_string()).collect(),
        })
    }

    #[test]
    fn segments_and_patterns() {
        let t = parse("/2010-04-01/Accounts/{AccountSid}/Calls/{Sid}.json").unwrap();
        assert_eq!(
            t.segments,
            vec![
                lit("2010-04-01"),
                lit("Accounts"),
                pat(&["", ""], &["AccountSid"]),
                lit("Calls"),
                pat(&["", ".json"], &["Sid"]),
            ]
        );
        assert_eq!(t.param_names().collect::<Vec<_>>(), ["AccountSid", "Sid"]);
        assert_eq!(t.shape(), "/2010-04-01/Accounts/{}/Calls/{}.json");
        assert_eq!(parse("/").unwrap().segments, vec![lit("")]);
        assert_eq!(
            parse("/pets/").unwrap().segments,
            vec![lit("pets"), lit("")]
        );
        assert_eq!(
            parse("/f/v{a}.{b}~x").unwrap().segments[1],
            pat(&["v", ".", "~x"], &["a", "b"])
        );
        assert_eq!(parse("/a%20b").unwrap().segments, vec![lit("a b")]);
        assert!(parse("/a//b").unwrap().has_inner_empty_segment());
        assert!(!parse("/a/b/").unwrap().has_inner_empty_segment());
    }

    #[test]
    fn errors() {
        assert_eq!(parse("pets").unwrap_err(), TemplateError::NoLeadingSlash);
        assert_eq!(parse("/{a").unwrap_err(), TemplateError::Unclosed);
        assert_eq!(parse("/a}").unwrap_err(), TemplateError::UnopenedBrace);
        assert_eq!(parse("/{}").unwrap_err(), TemplateError::EmptyName);
        assert_eq!(parse("/{a{b}}").unwrap_err(), TemplateError::Unclosed);
        assert_eq!(
            parse("/{a}{b}").unwrap_err(),
            TemplateError::Adjacent("a".into(), "b".into())
        );
        assert_eq!(
            parse("/{a}/x/{a}").unwrap_err(),
            TemplateError::Repeated("a".into())
        );
    }
}
