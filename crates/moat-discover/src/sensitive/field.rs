//! What a field's name says about its value.
//!
//! Names are split into lower-cased word parts (`userPassword`,
//! `user_password`, `X-Api-Key`, `APIKey` → `user password`, `x api key`,
//! `api key`), so a rule matches whatever the naming convention.

/// The hints one field name gives.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Field {
    /// Holds a password (`password`, `passwd`, `pwd`, `passphrase`,
    /// `secret`…): any non-empty value is one.
    pub password: bool,
    /// Holds a credential (`token`, `secret`, `api_key`, `authorization`,
    /// `session`…): a long high-entropy value is one.
    pub secret: bool,
    /// Holds a birth date (`dob`, `birthDate`, `date_of_birth`…).
    pub birth: bool,
    /// Holds a US social security number (`ssn`, `social_security_number`).
    pub ssn: bool,
    /// Holds a version (`version`, `ver`): a dotted quad there is not an
    /// address.
    pub version: bool,
}

/// Parts naming a password.
const PASSWORD_PARTS: &[&str] = &[
    "password",
    "passwd",
    "pwd",
    "passphrase",
    "passcode",
    "secret",
];

/// Parts naming a credential.
const SECRET_PARTS: &[&str] = &[
    "secret",
    "token",
    "apikey",
    "auth",
    "authorization",
    "credential",
    "credentials",
    "session",
    "sessionid",
    "sid",
    "bearer",
    "jwt",
];

/// Compounds naming a credential, matched on the joined parts
/// (`x-api-key` → `xapikey`).
const SECRET_COMPOUNDS: &[&str] = &[
    "apikey",
    "accesskey",
    "secretkey",
    "privatekey",
    "signingkey",
    "clientsecret",
    "accesstoken",
    "refreshtoken",
    "authtoken",
    "sessionid",
];

/// Parts that make a field *about* a secret rather than the secret itself
/// (`password_changed_at`, `token_type`, `secret_hint`, `token_url`), or
/// name a token that is not a credential (`nextPageToken`,
/// `continuation_token`, `cursor_token`: pagination state).
const META_PARTS: &[&str] = &[
    "at",
    "hint",
    "policy",
    "length",
    "strength",
    "expiry",
    "expires",
    "expiration",
    "changed",
    "updated",
    "created",
    "count",
    "required",
    "rules",
    "type",
    "format",
    "url",
    "uri",
    "endpoint",
    "field",
    "name",
    "next",
    "page",
    "cursor",
    "continuation",
    "pagination",
];

impl Field {
    /// The hints `name` gives.
    pub fn of(name: &str) -> Field {
        let parts = parts(name);
        let has = |words: &[&str]| parts.iter().any(|p| words.contains(&p.as_str()));
        let joined: String = parts.concat();
        let meta = has(META_PARTS);
        let password = !meta
            && (has(PASSWORD_PARTS)
                || parts
                    .iter()
                    .any(|p| p.starts_with("password") || p.ends_with("password")));
        let secret =
            !meta && (has(SECRET_PARTS) || SECRET_COMPOUNDS.iter().any(|c| joined.contains(c)));
        let birth = !meta && (has(&["dob"]) || parts.iter().any(|p| p.contains("birth")));
        let ssn = has(&["ssn"]) || joined.contains("socialsecurity");
        let version = has(&["version", "ver"]);
        Field {
            password,
            secret,
            birth,
            ssn,
            version,
        }
    }
}

/// `name` split into lower-cased word parts: at anything not a letter or
/// digit, before an upper-case letter that follows a lower-case one or a
/// digit, and before the last capital of an acronym followed by lower
/// case (`APIKey` → `api`, `key`).
pub(crate) fn parts(name: &str) -> Vec<String> {
    let chars: Vec<char> = name.chars().collect();
    let mut parts = Vec::new();
    let mut current = String::new();
    for (i, &c) in chars.iter().enumerate() {
        if !c.is_alphanumeric() {
            flush(&mut parts, &mut current);
            continue;
        }
        if c.is_uppercase() && i > 0 {
            let prev = chars[i - 1];
            let next_lower = chars.get(i + 1).is_some_and(|n| n.is_lowercase());
            if prev.is_lowercase() || prev.is_ascii_digit() || (prev.is_uppercase() && next_lower) {
                flush(&mut parts, &mut current);
            }
        }
        current.extend(c.to_lowercase());
    }
    flush(&mut parts, &mut current);
    parts
}

fn flush(parts: &mut Vec<String>, current: &mut String) {
    if !current.is_empty() {
        parts.push(std::mem::take(current));
    }
}
