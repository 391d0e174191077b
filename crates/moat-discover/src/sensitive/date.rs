//! Calendar dates, as birth dates are written.

/// A calendar date with no time of day: `YYYY-MM-DD`, `YYYY/MM/DD`,
/// `DD/MM/YYYY` or `MM/DD/YYYY`, `DD.MM.YYYY`, with a year from 1900 to
/// 2099 and a day that exists in its month. A timestamp (`…T09:26:53Z`)
/// records when something happened, not when someone was born.
pub(crate) fn is_date(v: &str) -> bool {
    let b = v.as_bytes();
    if b.len() != 10 || !b.iter().all(|c| c.is_ascii_digit() || b"-/.".contains(c)) {
        return false;
    }
    let num = |s: &str| s.parse::<u32>().ok();
    if b[4] == b[7] && matches!(b[4], b'-' | b'/') {
        let (Some(y), Some(m), Some(d)) = (num(&v[..4]), num(&v[5..7]), num(&v[8..])) else {
            return false;
        };
        return valid(y, m, d);
    }
    if b[2] == b[5] && matches!(b[2], b'/' | b'.') {
        let (Some(a), Some(c), Some(y)) = (num(&v[..2]), num(&v[3..5]), num(&v[6..])) else {
            return false;
        };
        return valid(y, c, a) || (b[2] == b'/' && valid(y, a, c));
    }
    false
}

/// Whether `v` starts like an ISO 8601 date (`2024-03-14…`): dates and
/// timestamps are not secrets, however random they look.
pub(crate) fn starts_with_iso_date(v: &str) -> bool {
    v.get(..10).is_some_and(is_date) && v.as_bytes().get(4) == Some(&b'-')
}

fn valid(year: u32, month: u32, day: u32) -> bool {
    let leap = year.is_multiple_of(4) && (!year.is_multiple_of(100) || year.is_multiple_of(400));
    let days = match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return false,
    };
    (1900..=2099).contains(&year) && (1..=days).contains(&day)
}
