//! Credentials: JSON Web Tokens, API keys of well-known services, HTTP
//! Basic credentials and high-entropy strings.

use base64::Engine as _;
use base64::alphabet;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};

/// Base64url, with or without padding (JWTs have none; some encoders add
/// it anyway).
const BASE64URL: GeneralPurpose = GeneralPurpose::new(
    &alphabet::URL_SAFE,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// Standard base64, with or without padding (HTTP Basic credentials).
const BASE64: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// A JSON Web Token (JWS compact form): three base64url parts, the first
/// two non-empty, the header decoding to a JSON object with a string
/// `alg`. The signature may be empty (`alg: none`); it is not checked.
pub(crate) fn is_jwt(v: &str) -> bool {
    jwt_header(v).is_some()
}

/// A JWT's decoded header and its payload part, still encoded, when `v`
/// is a JWT (see [`is_jwt`]).
pub(crate) fn jwt_header(v: &str) -> Option<(serde_json::Map<String, serde_json::Value>, &str)> {
    let mut parts = v.split('.');
    let (Some(header), Some(payload), Some(signature), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return None;
    };
    let base64url = |s: &str| {
        s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'=')
    };
    if header.is_empty()
        || payload.is_empty()
        || ![header, payload, signature].iter().all(|p| base64url(p))
    {
        return None;
    }
    let header = base64url_json_object(header)?;
    header
        .get("alg")
        .is_some_and(serde_json::Value::is_string)
        .then_some((header, payload))
}

/// A base64url part (a JWT's header or payload) decoded to a JSON object.
pub(crate) fn base64url_json_object(
    part: &str,
) -> Option<serde_json::Map<String, serde_json::Value>> {
    let decoded = BASE64URL.decode(part).ok()?;
    match serde_json::from_slice(&decoded).ok()? {
        serde_json::Value::Object(map) => Some(map),
        _ => None,
    }
}

/// What follows a key prefix.
#[derive(Clone, Copy)]
enum Tail {
    /// Exactly this many ASCII letters and digits.
    Alnum(usize),
    /// Exactly this many upper-case ASCII letters and digits.
    Upper(usize),
    /// At least this many letters, digits, `_` and `-`.
    Token(usize),
    /// Exactly this many letters, digits, `_` and `-`.
    TokenExactly(usize),
    /// A moat key after `moat_`: a 12-character id, `_`, and 38 characters
    /// of secret and checksum, all base62.
    Moat,
}

/// Key formats of services whose keys grant access on their own. Test-mode
/// keys (`sk_test_`) are left out: they reach no live data.
const API_KEYS: &[(&str, Tail)] = &[
    ("sk_live_", Tail::Token(16)),
    ("rk_live_", Tail::Token(16)),
    ("ghp_", Tail::Alnum(36)),
    ("gho_", Tail::Alnum(36)),
    ("ghu_", Tail::Alnum(36)),
    ("ghs_", Tail::Alnum(36)),
    ("ghr_", Tail::Alnum(36)),
    ("github_pat_", Tail::Token(22)),
    ("AKIA", Tail::Upper(16)),
    ("ASIA", Tail::Upper(16)),
    ("xoxb-", Tail::Token(20)),
    ("xoxp-", Tail::Token(20)),
    ("xoxa-", Tail::Token(20)),
    ("xoxe-", Tail::Token(20)),
    ("glpat-", Tail::Token(20)),
    ("AIza", Tail::TokenExactly(35)),
    ("moat_", Tail::Moat),
];

/// An API key of a well-known service (Stripe, GitHub, AWS, Slack,
/// GitLab, Google) or of moat itself, recognised by prefix and shape.
pub(crate) fn is_api_key(v: &str) -> bool {
    API_KEYS.iter().any(|(prefix, tail)| {
        v.strip_prefix(prefix)
            .is_some_and(|rest| tail_matches(rest, *tail))
    })
}

fn tail_matches(rest: &str, tail: Tail) -> bool {
    let token = |b: u8| b.is_ascii_alphanumeric() || b == b'_' || b == b'-';
    match tail {
        Tail::Alnum(n) => rest.len() == n && rest.bytes().all(|b| b.is_ascii_alphanumeric()),
        Tail::Upper(n) => {
            rest.len() == n
                && rest
                    .bytes()
                    .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
        }
        Tail::Token(n) => rest.len() >= n && rest.bytes().all(token),
        Tail::TokenExactly(n) => rest.len() == n && rest.bytes().all(token),
        Tail::Moat => rest.split_once('_').is_some_and(|(id, secret)| {
            id.len() == 12
                && secret.len() == 38
                && id
                    .bytes()
                    .chain(secret.bytes())
                    .all(|b| b.is_ascii_alphanumeric())
        }),
    }
}

/// HTTP Basic credentials (`Basic <base64 of user:password>`) with a
/// non-empty password.
pub(crate) fn is_basic_credentials(v: &str) -> bool {
    let Some((scheme, encoded)) = v.split_once(' ') else {
        return false;
    };
    if !scheme.eq_ignore_ascii_case("basic") {
        return false;
    }
    let Ok(decoded) = BASE64.decode(encoded.trim()) else {
        return false;
    };
    String::from_utf8(decoded)
        .ok()
        .and_then(|s| s.split_once(':').map(|(_, password)| !password.is_empty()))
        .unwrap_or(false)
}

/// Shortest string taken for a generated secret.
const SECRET_MIN_LEN: usize = 16;
/// Least Shannon entropy, in bits per character, of a generated secret.
/// Random base64 or hex of 16+ characters scores 3.5 or more; words,
/// repeated characters and most identifiers score less.
const SECRET_MIN_ENTROPY: f64 = 3.0;

/// A string that looks generated: 16 or more characters, no whitespace,
/// letters and digits both present, high entropy per character, and
/// neither a UUID (an identifier) nor a date or timestamp.
pub(crate) fn is_high_entropy(v: &str) -> bool {
    v.len() >= SECRET_MIN_LEN
        && !v.contains(char::is_whitespace)
        && v.bytes().any(|b| b.is_ascii_alphabetic())
        && v.bytes().any(|b| b.is_ascii_digit())
        && !is_uuid(v)
        && !super::date::starts_with_iso_date(v)
        && entropy(v) >= SECRET_MIN_ENTROPY
}

fn is_uuid(v: &str) -> bool {
    crate::segment::SegmentKind::of(v) == crate::segment::SegmentKind::Uuid
}

/// Shannon entropy of `v`'s bytes, in bits per byte.
fn entropy(v: &str) -> f64 {
    let mut counts = [0u32; 256];
    for b in v.bytes() {
        counts[usize::from(b)] += 1;
    }
    let len = v.len() as f64;
    counts
        .iter()
        .filter(|c| **c > 0)
        .map(|&c| {
            let p = f64::from(c) / len;
            -p * p.log2()
        })
        .sum()
}
