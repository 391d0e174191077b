//! The cookies of a request, read once from every `Cookie` field.

use http::HeaderMap;
use percent_encoding::percent_decode_str;

use crate::Repeated;
use crate::percent::escapes_well_formed;

/// The cookies of a request (RFC 6265 `a=b; c=d`, every `Cookie` field in
/// order). Values are unquoted and, where they hold only well-formed
/// escapes that decode to UTF-8, percent-decoded (cookie values need not be
/// percent-encoded, so other values are taken as they are). A field that is
/// not visible ASCII is skipped and marks the jar
/// [`undecodable`](Cookies::is_undecodable).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Cookies {
    pairs: Vec<(String, String)>,
    undecodable: bool,
}

impl Cookies {
    /// Reads the `Cookie` fields of `headers`.
    pub fn parse(headers: &HeaderMap) -> Cookies {
        let mut jar = Cookies::default();
        for field in headers.get_all(http::header::COOKIE) {
            let Ok(text) = field.to_str() else {
                jar.undecodable = true;
                continue;
            };
            for pair in text.split(';') {
                let Some((name, value)) = pair.split_once('=') else {
                    continue;
                };
                let name = name.trim();
                if name.is_empty() {
                    continue;
                }
                let value = value.trim();
                let value = value
                    .strip_prefix('"')
                    .and_then(|v| v.strip_suffix('"'))
                    .unwrap_or(value);
                jar.pairs.push((name.to_string(), decode(value)));
            }
        }
        jar
    }

    /// The cookies, in order.
    pub fn pairs(&self) -> &[(String, String)] {
        &self.pairs
    }

    /// Every value of the cookie `name`, in order.
    pub fn values<'a, 'n>(&'a self, name: &'n str) -> impl Iterator<Item = &'a str> + use<'a, 'n> {
        crate::values_of(&self.pairs, name)
    }

    /// The one value of `name`; `Err` when the cookie is sent twice.
    pub fn unique(&self, name: &str) -> Result<Option<&str>, Repeated> {
        crate::unique_of(&self.pairs, name)
    }

    /// Whether some `Cookie` field was not visible ASCII.
    pub fn is_undecodable(&self) -> bool {
        self.undecodable
    }
}

fn decode(value: &str) -> String {
    if escapes_well_formed(value.as_bytes())
        && let Ok(text) = percent_decode_str(value).decode_utf8()
    {
        return text.into_owned();
    }
    value.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_every_field() {
        let mut h = HeaderMap::new();
        h.append("cookie", "a=1; b=\"two\"; c=%41".parse().unwrap());
        h.append("cookie", "a=3; bad; d=%zz".parse().unwrap());
        let jar = Cookies::parse(&h);
        assert_eq!(jar.unique("b"), Ok(Some("two")));
        assert_eq!(jar.unique("c"), Ok(Some("A")));
        assert_eq!(jar.unique("d"), Ok(Some("%zz")));
        assert!(jar.unique("a").is_err());
        assert!(!jar.is_undecodable());
    }
}
