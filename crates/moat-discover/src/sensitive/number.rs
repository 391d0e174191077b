//! Checksummed and ranged numbers: payment cards, IBANs, US social
//! security numbers.

/// A payment card number: 13–19 digits, optionally grouped by single
/// spaces or single dashes (one kind of separator), passing the Luhn check
/// and starting with a known issuer range.
pub(crate) fn is_card(v: &str) -> bool {
    let Some(digits) = grouped_digits(v, &[' ', '-']) else {
        return false;
    };
    (13..=19).contains(&digits.len())
        && !digits.iter().all(|d| *d == digits[0])
        && luhn(&digits)
        && known_issuer(&digits)
}

/// The digits of `v` when it is digits separated by single occurrences of
/// one of `separators` (the same one throughout).
fn grouped_digits(v: &str, separators: &[char]) -> Option<Vec<u8>> {
    let mut digits = Vec::with_capacity(v.len());
    let mut separator = None;
    let mut after_separator = true;
    for c in v.chars() {
        if let Some(d) = c.to_digit(10) {
            digits.push(d as u8);
            after_separator = false;
        } else if separators.contains(&c) && !after_separator && separator.is_none_or(|s| s == c) {
            separator = Some(c);
            after_separator = true;
        } else {
            return None;
        }
    }
    (!after_separator).then_some(digits)
}

fn luhn(digits: &[u8]) -> bool {
    let sum: u32 = digits
        .iter()
        .rev()
        .enumerate()
        .map(|(i, &d)| {
            let d = u32::from(d);
            if i % 2 == 1 {
                let doubled = d * 2;
                if doubled > 9 { doubled - 9 } else { doubled }
            } else {
                d
            }
        })
        .sum();
    sum.is_multiple_of(10)
}

/// The number made of the first `n` digits.
fn prefix(digits: &[u8], n: usize) -> u32 {
    digits
        .iter()
        .take(n)
        .fold(0, |acc, &d| acc * 10 + u32::from(d))
}

/// Issuer ranges and lengths of the major card networks.
fn known_issuer(digits: &[u8]) -> bool {
    let len = digits.len();
    let (p1, p2, p3, p4, p6) = (
        prefix(digits, 1),
        prefix(digits, 2),
        prefix(digits, 3),
        prefix(digits, 4),
        prefix(digits, 6),
    );
    let visa = p1 == 4 && matches!(len, 13 | 16 | 19);
    let mastercard = ((51..=55).contains(&p2) || (2221..=2720).contains(&p4)) && len == 16;
    let amex = matches!(p2, 34 | 37) && len == 15;
    let discover =
        (p4 == 6011 || (644..=649).contains(&p3) || p2 == 65 || (622126..=622925).contains(&p6))
            && (16..=19).contains(&len);
    let jcb = (3528..=3589).contains(&p4) && (16..=19).contains(&len);
    let diners = ((300..=305).contains(&p3) || p4 == 3095 || matches!(p2, 36 | 38 | 39))
        && (14..=19).contains(&len);
    let unionpay = p2 == 62 && (16..=19).contains(&len);
    let mir = (2200..=2204).contains(&p4) && (16..=19).contains(&len);
    let maestro = matches!(
        p4,
        5018 | 5020 | 5038 | 5893 | 6304 | 6759 | 6761 | 6762 | 6763
    ) && (13..=19).contains(&len);
    visa || mastercard || amex || discover || jcb || diners || unionpay || mir || maestro
}

/// IBAN lengths by country (the SWIFT IBAN registry).
const IBAN_LENGTHS: &[(&str, usize)] = &[
    ("AD", 24),
    ("AE", 23),
    ("AL", 28),
    ("AT", 20),
    ("AZ", 28),
    ("BA", 20),
    ("BE", 16),
    ("BG", 22),
    ("BH", 22),
    ("BR", 29),
    ("BY", 28),
    ("CH", 21),
    ("CR", 22),
    ("CY", 28),
    ("CZ", 24),
    ("DE", 22),
    ("DK", 18),
    ("DO", 28),
    ("EE", 20),
    ("EG", 29),
    ("ES", 24),
    ("FI", 18),
    ("FO", 18),
    ("FR", 27),
    ("GB", 22),
    ("GE", 22),
    ("GI", 23),
    ("GL", 18),
    ("GR", 27),
    ("GT", 28),
    ("HR", 21),
    ("HU", 28),
    ("IE", 22),
    ("IL", 23),
    ("IQ", 23),
    ("IS", 26),
    ("IT", 27),
    ("JO", 30),
    ("KW", 30),
    ("KZ", 20),
    ("LB", 28),
    ("LC", 32),
    ("LI", 21),
    ("LT", 20),
    ("LU", 20),
    ("LV", 21),
    ("MC", 27),
    ("MD", 24),
    ("ME", 22),
    ("MK", 19),
    ("MR", 27),
    ("MT", 31),
    ("MU", 30),
    ("NL", 18),
    ("NO", 15),
    ("PK", 24),
    ("PL", 28),
    ("PS", 29),
    ("PT", 25),
    ("QA", 29),
    ("RO", 24),
    ("RS", 22),
    ("SA", 24),
    ("SC", 31),
    ("SE", 24),
    ("SI", 19),
    ("SK", 24),
    ("SM", 27),
    ("ST", 25),
    ("SV", 28),
    ("TL", 23),
    ("TN", 24),
    ("TR", 26),
    ("UA", 29),
    ("VA", 22),
    ("VG", 24),
    ("XK", 20),
];

/// An IBAN: a known country, that country's length, check digits, and a
/// mod-97 remainder of 1. Spaces between groups are allowed; letters may
/// be of either case.
pub(crate) fn is_iban(v: &str) -> bool {
    let compact: Vec<u8> = v
        .bytes()
        .filter(|b| *b != b' ')
        .map(|b| b.to_ascii_uppercase())
        .collect();
    if compact.len() < 4 || v.starts_with(' ') || v.contains("  ") {
        return false;
    }
    let country = &compact[..2];
    let Some(&(_, len)) = IBAN_LENGTHS.iter().find(|(c, _)| c.as_bytes() == country) else {
        return false;
    };
    if compact.len() != len
        || !compact[2..4].iter().all(u8::is_ascii_digit)
        || !compact.iter().all(u8::is_ascii_alphanumeric)
    {
        return false;
    }
    let rearranged = compact[4..].iter().chain(&compact[..4]);
    let remainder = rearranged.fold(0u32, |rem, &b| {
        if b.is_ascii_digit() {
            (rem * 10 + u32::from(b - b'0')) % 97
        } else {
            (rem * 100 + u32::from(b - b'A') + 10) % 97
        }
    });
    remainder == 1
}

/// Numbers printed in advertisements and specimens, never issued.
const SSN_SPECIMENS: &[&str] = &["078051120", "219099999", "123456789"];

/// A US social security number: `AAA-GG-SSSS`, or (only where the field is
/// named for one) nine digits, bare or grouped by spaces. Areas 000, 666
/// and 900–999, group 00, serial 0000 and well-known specimen numbers are
/// never issued and do not count.
pub(crate) fn is_ssn(v: &str, named: bool) -> bool {
    let b = v.as_bytes();
    let dashed = b.len() == 11 && b[3] == b'-' && b[6] == b'-';
    let spaced = b.len() == 11 && b[3] == b' ' && b[6] == b' ';
    let bare = b.len() == 9;
    if !(dashed || (named && (spaced || bare))) {
        return false;
    }
    let digits: String = v.chars().filter(|c| *c != '-' && *c != ' ').collect();
    if digits.len() != 9 || !digits.bytes().all(|d| d.is_ascii_digit()) {
        return false;
    }
    let (area, group, serial) = (&digits[..3], &digits[3..5], &digits[5..]);
    area != "000"
        && area != "666"
        && !area.starts_with('9')
        && group != "00"
        && serial != "0000"
        && !SSN_SPECIMENS.contains(&digits.as_str())
}
