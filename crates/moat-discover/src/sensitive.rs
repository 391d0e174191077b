//! Sensitive data in requests and answers: what kind of data, and where,
//! never the data itself.
//!
//! - [`scan_text`]: the kinds found in one query, header or cookie value.
//! - [`scan_json`]: the kinds found in a JSON body, with the JSON pointer
//!   of each.
//! - [`Findings`]: counts by location (`request.body#/user/email`,
//!   `response.body#/items/*/card`, `query.email`, `header.authorization`)
//!   and kind, for the inventory and its risk score.
//!
//! Detection leans towards missing a value rather than flagging one that is
//! not sensitive: numbers must pass their checksums (Luhn for cards, mod-97
//! for IBANs) and fall in issued ranges, phone numbers need a `+` or North
//! American punctuation, IP addresses must be complete, and the kinds that
//! depend on a field's name (passwords, secrets, birth dates) need that
//! name. How each kind is recognised is documented on [`SensitiveKind`].
//!
//! Card numbers, IBANs, social security numbers, phone numbers and birth
//! dates count only as a whole value (they contain spaces and dashes, and
//! digit runs inside free text are too often something else); email
//! addresses, JWTs, API keys and IP addresses count anywhere in a value:
//! in free text, in a comma-separated header list, or in a URL or
//! `key=value` part (IP addresses only as whole tokens, so a URL's host
//! does not count).

mod contact;
mod date;
pub(crate) mod field;
mod findings;
mod json;
mod number;
pub(crate) mod token;

#[cfg(test)]
mod tests;

pub use findings::{BodySource, Finding, Findings, TextSource};
pub(crate) use json::push_escaped;
pub use json::scan_json;

use field::Field;

/// A kind of sensitive data.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
pub enum SensitiveKind {
    /// An email address (`a.user@example.com`; a domain with a letters-only
    /// top-level label).
    Email,
    /// A phone number: `+` and 8–15 digits, or a North American number with
    /// its usual punctuation and valid area and exchange codes.
    Phone,
    /// A payment card number: 13–19 digits passing the Luhn check, in a
    /// major network's issuer range and length.
    CardNumber,
    /// An IBAN of a registered country and length, passing mod-97.
    Iban,
    /// A US social security number `AAA-GG-SSSS` outside the never-issued
    /// ranges (bare nine digits only under a field named for one).
    NationalId,
    /// A JSON Web Token: three base64url parts whose header is JSON with
    /// `alg`.
    Jwt,
    /// An API key of a well-known service (Stripe live, GitHub, AWS, Slack,
    /// GitLab, Google) or of moat, by prefix and shape.
    ApiKey,
    /// A generated secret: 16+ characters of high entropy, letters and
    /// digits, not a UUID or date, under a credential's name (`token`,
    /// `secret`, `api_key`, `authorization`, `session`…).
    Secret,
    /// A password: any non-empty, unmasked value under a password's name
    /// (`password`, `passwd`, `pwd`, `passphrase`, `secret`…), or HTTP
    /// Basic credentials.
    Password,
    /// An IPv4 (full dotted quad) or IPv6 address, optionally with a port;
    /// not under a `version` field, not the unspecified address.
    IpAddress,
    /// A calendar date (no time of day) under a birth date's name (`dob`,
    /// `birthDate`, `date_of_birth`).
    DateOfBirth,
}

impl SensitiveKind {
    /// Every kind, in declaration order.
    pub const ALL: [SensitiveKind; 11] = [
        SensitiveKind::Email,
        SensitiveKind::Phone,
        SensitiveKind::CardNumber,
        SensitiveKind::Iban,
        SensitiveKind::NationalId,
        SensitiveKind::Jwt,
        SensitiveKind::ApiKey,
        SensitiveKind::Secret,
        SensitiveKind::Password,
        SensitiveKind::IpAddress,
        SensitiveKind::DateOfBirth,
    ];

    /// The kind's name in reports.
    pub fn as_str(self) -> &'static str {
        match self {
            SensitiveKind::Email => "email",
            SensitiveKind::Phone => "phone",
            SensitiveKind::CardNumber => "card_number",
            SensitiveKind::Iban => "iban",
            SensitiveKind::NationalId => "national_id",
            SensitiveKind::Jwt => "jwt",
            SensitiveKind::ApiKey => "api_key",
            SensitiveKind::Secret => "secret",
            SensitiveKind::Password => "password",
            SensitiveKind::IpAddress => "ip_address",
            SensitiveKind::DateOfBirth => "date_of_birth",
        }
    }

    fn bit(self) -> u16 {
        1 << (self as u16)
    }
}

impl std::fmt::Display for SensitiveKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A set of kinds, each at most once.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct KindSet(u16);

impl KindSet {
    fn add(&mut self, kind: SensitiveKind) {
        self.0 |= kind.bit();
    }

    fn contains(self, kind: SensitiveKind) -> bool {
        self.0 & kind.bit() != 0
    }

    fn iter(self) -> impl Iterator<Item = SensitiveKind> {
        SensitiveKind::ALL
            .into_iter()
            .filter(move |k| self.contains(*k))
    }
}

/// The kinds of sensitive data in `value`, a query parameter, header or
/// cookie value (or a JSON string), under the field called `name` if it
/// has one. Each kind appears once, in declaration order.
pub fn scan_text(name: Option<&str>, value: &str) -> Vec<SensitiveKind> {
    let field = name.map(Field::of).unwrap_or_default();
    classify_text(&field, value).iter().collect()
}

/// Longest token (or whole value) checked: longer strings are documents,
/// not values, and are only split into tokens.
const MAX_VALUE_LEN: usize = 4096;

/// Characters that separate tokens in free text and header lists.
fn is_token_separator(c: char) -> bool {
    c.is_whitespace() || ",;\"'<>()".contains(c)
}

/// Characters inside a token that separate the parts of a URL or a
/// `key=value` pair (`mailto:`, `?email=`).
fn is_part_separator(c: char) -> bool {
    "=&?/:".contains(c)
}

fn classify_text(field: &Field, value: &str) -> KindSet {
    let mut found = KindSet::default();
    let v = value.trim();
    if v.is_empty() {
        return found;
    }
    if v.len() <= MAX_VALUE_LEN {
        classify_whole(field, v, &mut found);
    }
    let tokens = v
        .split(is_token_separator)
        .filter(|t| !t.is_empty() && t.len() <= MAX_VALUE_LEN);
    let mut high_entropy = false;
    for token in tokens {
        classify_token(field, token, true, &mut found);
        for part in token.split(is_part_separator).filter(|p| *p != token) {
            classify_token(field, part, false, &mut found);
        }
        high_entropy |= field.secret && token::is_high_entropy(token);
    }
    let credential = [
        SensitiveKind::Jwt,
        SensitiveKind::ApiKey,
        SensitiveKind::Password,
    ];
    if !credential.iter().any(|k| found.contains(*k)) {
        if high_entropy {
            found.add(SensitiveKind::Secret);
        } else if field.password && !is_masked(v) {
            found.add(SensitiveKind::Password);
        }
    }
    found
}

/// Kinds that only a whole value can be (they contain spaces or dashes).
fn classify_whole(field: &Field, v: &str, found: &mut KindSet) {
    if number::is_card(v) {
        found.add(SensitiveKind::CardNumber);
    }
    if number::is_iban(v) {
        found.add(SensitiveKind::Iban);
    }
    if number::is_ssn(v, field.ssn) {
        found.add(SensitiveKind::NationalId);
    }
    if contact::is_phone(v) {
        found.add(SensitiveKind::Phone);
    }
    if field.birth && date::is_date(v) {
        found.add(SensitiveKind::DateOfBirth);
    }
    if token::is_basic_credentials(v) {
        found.add(SensitiveKind::Password);
    }
}

/// Kinds a single token can be, in free text as well as alone. IP
/// addresses are looked for only in whole tokens (`ip` false inside URL
/// parts) and not under `version` fields (`1.2.3.4` there is a version).
fn classify_token(field: &Field, t: &str, ip: bool, found: &mut KindSet) {
    if token::is_jwt(t) {
        found.add(SensitiveKind::Jwt);
    }
    if token::is_api_key(t) {
        found.add(SensitiveKind::ApiKey);
    }
    // Sentence punctuation after an address ends the sentence, not the
    // address.
    let t = t.trim_end_matches(['.', '!', '?']);
    if contact::is_email(t) {
        found.add(SensitiveKind::Email);
    }
    if ip && !field.version && contact::is_ip(t) {
        found.add(SensitiveKind::IpAddress);
    }
}

/// The kinds an integer JSON value can be: a card number, a social security
/// number under its name, or a numeric password.
fn classify_integer(field: &Field, digits: &str) -> KindSet {
    let mut found = KindSet::default();
    if number::is_card(digits) {
        found.add(SensitiveKind::CardNumber);
    }
    if number::is_ssn(digits, field.ssn) {
        found.add(SensitiveKind::NationalId);
    }
    if field.password {
        found.add(SensitiveKind::Password);
    }
    found
}

/// A value already masked (`***`, `••••`, `xxxx`): three or more of one
/// masking character. Nothing leaks.
fn is_masked(v: &str) -> bool {
    let mut chars = v.chars();
    chars.next().is_some_and(|first| {
        "*•xX#".contains(first) && v.chars().count() >= 3 && chars.all(|c| c == first)
    })
}
