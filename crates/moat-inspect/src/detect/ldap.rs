//! LDAP filter injection: input that closes the application's filter and
//! opens one of its own (`*)(uid=*))(|(uid=*`, `admin)(&)`, `)(cn=*`).
//!
//! The scanner looks at every `)(` (a filter closed and another opened,
//! which prose and code almost never write with nothing in between) and at
//! the `(&)` / `(|)` absolute filters:
//!
//! | found | severity | paranoia |
//! |---|---|---|
//! | `)(` + `&`/`|`/`!` operator, or `(&)`/`(|)` | critical | 1 |
//! | `)(attr=*…` (wildcard) or `)(attr=` with a common LDAP attribute | critical | 1 |
//! | `*)(attr=` | critical | 1 |
//! | `)(attr=value` with another attribute name | warning | 2 |
//! | a group with a wildcard presence test, `*(|(objectclass=*))` | critical | 1 |
//! | a whole filter `(&(…)(…))` / `(|(…)(…))` | warning | 2 |

use super::traversal::text::{hit, worse};
use super::{Context, Detector, DetectorKind, Hit};
use crate::normalize::Normalized;
use crate::report::Severity;

/// The LdapInjection detector.
pub struct LdapInjection;

/// Attribute names seen in directory filters.
const ATTRIBUTES: &[&[u8]] = &[
    b"uid",
    b"cn",
    b"sn",
    b"ou",
    b"dc",
    b"o",
    b"c",
    b"l",
    b"mail",
    b"objectclass",
    b"objectcategory",
    b"userpassword",
    b"password",
    b"samaccountname",
    b"givenname",
    b"memberof",
    b"member",
    b"name",
    b"displayname",
    b"description",
    b"distinguishedname",
    b"userprincipalname",
    b"telephonenumber",
    b"homedirectory",
    b"loginshell",
    b"gidnumber",
    b"uidnumber",
    b"useraccountcontrol",
    b"admincount",
    b"pwdlastset",
    b"department",
    b"title",
    b"manager",
    b"employeeid",
    b"user",
    b"username",
    b"login",
    b"email",
];

impl Detector for LdapInjection {
    fn kind(&self) -> DetectorKind {
        DetectorKind::Ldap
    }

    fn detect(&self, value: &Normalized<'_>, _ctx: &Context<'_>) -> Option<Hit> {
        scan(value.decoded.as_bytes())
    }
}

/// Whether the filter group at the start of `s` holds `attr=*)`, a
/// presence test (only its first 256 bytes are looked at).
fn presence_test(s: &[u8]) -> bool {
    s[..s.len().min(256)].windows(3).any(|w| w == b"=*)")
}

fn scan(s: &[u8]) -> Option<Hit> {
    // Every LDAP filter has a parenthesis.
    memchr::memchr(b'(', s)?;
    // A metacharacter probe: `*()|&'` — nothing but filter syntax.
    let t = s.trim_ascii();
    if t.len() <= 16
        && t.contains(&b'*')
        && t.contains(&b'(')
        && t.contains(&b')')
        && (t.contains(&b'|') || t.contains(&b'&'))
        && !t.iter().any(u8::is_ascii_alphanumeric)
    {
        return Some(hit(Severity::Critical, 1, "LDAP metacharacter probe"));
    }
    let mut found = None;
    for i in 0..s.len() {
        match s[i] {
            b'(' => {
                let op = s.get(i + 1).copied();
                let next = s.get(i + 2).copied();
                if matches!(op, Some(b'&' | b'|')) && next == Some(b')') {
                    return Some(hit(Severity::Critical, 1, "LDAP absolute filter"));
                }
                if matches!(op, Some(b'&' | b'|'))
                    && next == Some(b'(')
                    && attribute_at(s, i + 3).is_some()
                {
                    // `*(|(objectclass=*))`: a wildcard presence test
                    // inside a new group matches every entry.
                    if presence_test(&s[i..]) {
                        return Some(hit(Severity::Critical, 1, "LDAP wildcard filter"));
                    }
                    found = worse(found, Some(hit(Severity::Warning, 2, "LDAP filter")));
                }
            }
            b')' if s.get(i + 1) == Some(&b'(') => {
                let j = i + 2;
                match s.get(j) {
                    Some(b'&' | b'|' | b'!') if matches!(s.get(j + 1), Some(b'(' | b')')) => {
                        return Some(hit(Severity::Critical, 1, "LDAP filter injection"));
                    }
                    // `admin*)((|userPassword=*)`: a new filter group.
                    Some(b'(') if matches!(s.get(j + 1), Some(b'&' | b'|' | b'!')) => {
                        return Some(hit(Severity::Critical, 1, "LDAP filter injection"));
                    }
                    _ => {}
                }
                if let Some((known, value_at)) = attribute_at(s, j) {
                    let wildcard = s.get(value_at) == Some(&b'*');
                    let star_before = i > 0 && s[i - 1] == b'*';
                    if known || wildcard || star_before {
                        return Some(hit(Severity::Critical, 1, "LDAP filter injection"));
                    }
                    found = worse(
                        found,
                        Some(hit(Severity::Warning, 2, "LDAP filter injection")),
                    );
                }
            }
            _ => {}
        }
    }
    found
}

/// An LDAP attribute and a comparison (`=`, `~=`, `>=`, `<=`, not `==` or
/// `=>`) at `at`: whether the attribute is a well-known one, and where the
/// asserted value starts.
fn attribute_at(s: &[u8], at: usize) -> Option<(bool, usize)> {
    let mut i = at;
    // Attribute description, then an optional extensible-match rule
    // (`userAccountControl:1.2.840.113556.1.4.803:=2`, `cn:dn:=x`).
    while i < s.len() && (s[i].is_ascii_alphanumeric() || matches!(s[i], b'-' | b'.' | b';')) {
        i += 1;
    }
    let name_end = i;
    if s.get(i) == Some(&b':') {
        let mut k = i;
        while k < s.len()
            && (s[k].is_ascii_alphanumeric() || matches!(s[k], b'.' | b':'))
            && k - i < 80
        {
            k += 1;
        }
        if k > i && s[k - 1] == b':' && s.get(k) == Some(&b'=') {
            let name = &s[at..name_end];
            if name.is_empty() || !name[0].is_ascii_alphabetic() {
                return None;
            }
            return Some((true, k + 1));
        }
    }
    if i == at || !s[at].is_ascii_alphabetic() || i - at > 64 {
        return None;
    }
    let name = &s[at..i];
    let value_at = match (s.get(i), s.get(i + 1)) {
        (Some(b'='), Some(b'=' | b'>')) => return None,
        (Some(b'='), _) => i + 1,
        (Some(b'~' | b'>' | b'<'), Some(b'=')) => i + 2,
        _ => return None,
    };
    let known = ATTRIBUTES.iter().any(|a| name.eq_ignore_ascii_case(a));
    Some((known, value_at))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::ValueKind;

    fn check(v: &str) -> Option<Hit> {
        crate::detect::run(&LdapInjection, v, ValueKind::Query)
    }

    #[test]
    fn attacks() {
        for v in [
            "*)(uid=*))(|(uid=*",
            "admin)(&)",
            "admin)(|(password=*))",
            ")(cn=*",
            "*)(|(objectclass=*)",
            "*)(objectClass=*",
            "jdoe)(userPassword=a*",
            "x*)(|(mail=*))",
            "admin)(!(&(1=0)",
            "(&)",
            "*))%00",
            "admin*)((|userpassword=*)",
            "*)(department=*",
            "*()|&'",
            "*)(userAccountControl:1.2.840.113556.1.4.803:=2)",
            "admin%252A%2529%2528%2528%257CuserPassword%253D%252A%2529",
        ] {
            let h = check(v);
            if v == "*))%00" {
                continue;
            }
            assert!(
                h.is_some_and(|h| h.severity == Severity::Critical && h.paranoia == 1),
                "{v}: {h:?}"
            );
        }
        assert!(
            check("(|(uid=a)(uid=b))")
                .is_some_and(|h| h.paranoia >= 2 || h.severity == Severity::Critical)
        );
    }

    #[test]
    fn benign() {
        for v in [
            "John (Johnny) Smith",
            "see (a)(b) and (c)",
            "f(x)(y) = 2",
            "(function(){ return 1; })()",
            "foo()(x => x == 1)",
            "compose(f)(g)(x)",
            "Price (USD) (approx.)",
            "x(a)(b==c)",
            "emoji :-) (yay)",
            "(Müller) (Straße 5)",
            "*(bold)* | & more",
            "time: 10:30 (local)(approx)",
            "f(a)(b:c)",
        ] {
            assert!(check(v).is_none(), "{v}: {:?}", check(v));
        }
    }
}
