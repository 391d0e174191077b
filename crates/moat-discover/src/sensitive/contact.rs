//! Contact details and addresses: email addresses, phone numbers, IP
//! addresses.

use std::net::{IpAddr, SocketAddr};

/// An email address: a local part of letters, digits and `._%+-` (not
/// starting or ending with a dot), and a domain of two or more labels
/// whose last is letters only (`user@localhost` and `pkg@1.2.3` do not
/// count).
pub(crate) fn is_email(v: &str) -> bool {
    let Some((local, domain)) = v.rsplit_once('@') else {
        return false;
    };
    let local_ok = !local.is_empty()
        && local.len() <= 64
        && !local.starts_with('.')
        && !local.ends_with('.')
        && local
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._%+-".contains(&b));
    let labels: Vec<&str> = domain.split('.').collect();
    let labels_ok = labels.len() >= 2
        && labels.iter().all(|l| {
            !l.is_empty()
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        });
    let tld_ok = labels
        .last()
        .is_some_and(|t| t.len() >= 2 && t.bytes().all(|b| b.is_ascii_alphabetic()));
    local_ok && labels_ok && tld_ok
}

/// A phone number: international (`+` then 8–15 digits, the first not 0,
/// grouped by spaces, dashes, dots or parentheses) or North American with
/// its usual punctuation (`(415) 555-2671`, `415-555-2671`,
/// `415.555.2671`, `415 555 2671`) and valid area and exchange codes. Bare
/// digit runs are not phone numbers: order ids, amounts and timestamps look
/// the same.
pub(crate) fn is_phone(v: &str) -> bool {
    match v.strip_prefix('+') {
        Some(rest) => is_international(rest),
        None => is_north_american(v),
    }
}

fn is_international(rest: &str) -> bool {
    let mut digits = 0;
    let mut prev_separator = true;
    for (i, c) in rest.chars().enumerate() {
        if c.is_ascii_digit() {
            if i == 0 && c == '0' {
                return false;
            }
            digits += 1;
            prev_separator = false;
        } else if " -.()".contains(c) {
            if i == 0 || (prev_separator && c != '(' && c != ')') {
                return false;
            }
            prev_separator = true;
        } else {
            return false;
        }
    }
    (8..=15).contains(&digits) && rest.ends_with(|c: char| c.is_ascii_digit())
}

fn is_north_american(v: &str) -> bool {
    let b = v.as_bytes();
    let (area, rest) = if b.first() == Some(&b'(') {
        if b.len() < 5 || b[4] != b')' {
            return false;
        }
        let rest = &v[5..];
        (&v[1..4], rest.strip_prefix(' ').unwrap_or(rest))
    } else {
        if b.len() != 12 {
            return false;
        }
        let sep = b[3];
        if !matches!(sep, b'-' | b'.' | b' ') || b[7] != sep {
            return false;
        }
        (&v[..3], &v[4..])
    };
    let r = rest.as_bytes();
    let line_ok = r.len() == 8 && matches!(r[3], b'-' | b'.' | b' ');
    if !line_ok {
        return false;
    }
    let (exchange, line) = (&rest[..3], &rest[4..]);
    let all_digits = |s: &str| s.bytes().all(|d| d.is_ascii_digit());
    all_digits(area)
        && all_digits(exchange)
        && all_digits(line)
        && !area.starts_with(['0', '1'])
        && !exchange.starts_with(['0', '1'])
        && &area[1..] != "11"
}

/// An IP address, optionally with a port: a full dotted quad or a valid
/// IPv6 address (with at least one digit, so words like `dead::beef` do
/// not count). The unspecified address says nothing about anyone.
pub(crate) fn is_ip(v: &str) -> bool {
    let ip = v
        .parse::<IpAddr>()
        .or_else(|_| v.parse::<SocketAddr>().map(|s| s.ip()));
    match ip {
        Ok(IpAddr::V4(ip)) => !ip.is_unspecified(),
        Ok(IpAddr::V6(ip)) => !ip.is_unspecified() && v.bytes().any(|b| b.is_ascii_digit()),
        Err(_) => false,
    }
}
