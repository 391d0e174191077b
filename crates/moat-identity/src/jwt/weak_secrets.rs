//! Refusing HMAC secrets that can be guessed.
//!
//! An HS256 token is an offline oracle for its secret: anyone holding one
//! token can try billions of candidates per second (hashcat mode 16500)
//! without talking to moat, and once the secret is found every forged token
//! verifies. So secrets are checked when the configuration is loaded:
//! shorter than 32 bytes, on the bundled list of published defaults
//! (`data/weak_jwt_secrets.txt`), or made of a handful of repeated
//! characters.

use super::error::WeakSecretReason;

/// The bundled list, compiled in so that the check cannot be skipped by a
/// missing file.
const LIST: &str = include_str!("../../data/weak_jwt_secrets.txt");

/// The minimum secret length: 256 bits, the HS256 output size (RFC 7518
/// §3.2 requires a key at least as long as the hash output).
pub const MIN_SECRET_LEN: usize = 32;

/// Fewer distinct bytes than this marks a secret as repetitive. A random
/// 32-character hex string has about 14 distinct characters; base64 more.
const MIN_DISTINCT_BYTES: usize = 8;

/// Checks an HMAC secret; `Err` says why it is refused.
pub fn check_secret(secret: &[u8]) -> Result<(), WeakSecretReason> {
    if is_key_material(secret) {
        return Err(WeakSecretReason::KeyMaterial);
    }
    if is_listed(secret) {
        return Err(WeakSecretReason::KnownSecret);
    }
    if secret.len() < MIN_SECRET_LEN {
        return Err(WeakSecretReason::TooShort { len: secret.len() });
    }
    if distinct_bytes(secret) < MIN_DISTINCT_BYTES || is_periodic(secret) {
        return Err(WeakSecretReason::LowVariety);
    }
    Ok(())
}

/// Whether the secret (ignoring surrounding whitespace and ASCII case) is
/// on the bundled list.
fn is_listed(secret: &[u8]) -> bool {
    let secret = secret.trim_ascii();
    entries().any(|entry| entry.as_bytes().eq_ignore_ascii_case(secret))
}

/// The list's entries.
pub(crate) fn entries() -> impl Iterator<Item = &'static str> {
    LIST.lines()
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
}

/// Whether the secret is a PEM block (any label: a public key, a
/// certificate, a private key) or a JSON object with `kty` (a JWK): the
/// key-confusion setup, where a key that is public signs HMAC tokens.
fn is_key_material(secret: &[u8]) -> bool {
    let text = secret.trim_ascii();
    if text.windows(11).any(|w| w == b"-----BEGIN ") {
        return true;
    }
    text.starts_with(b"{")
        && serde_json::from_slice::<serde_json::Value>(text).is_ok_and(|v| v.get("kty").is_some())
}

fn distinct_bytes(secret: &[u8]) -> usize {
    let mut seen = [false; 256];
    for b in secret {
        seen[usize::from(*b)] = true;
    }
    seen.iter().filter(|s| **s).count()
}

/// Whether the secret is a short unit repeated (`secretsecretsecret…`),
/// which has the strength of the unit, not of its length.
fn is_periodic(secret: &[u8]) -> bool {
    (1..=16).any(|period| {
        secret.len() >= 2 * period
            && secret
                .iter()
                .zip(secret.iter().skip(period))
                .all(|(a, b)| a == b)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_material_is_not_a_secret() {
        let pem = b"-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEAGb9ECWmEzf6FQbrBZ9w7lshQhqowtrbLDFw4rXAxZuE=\n-----END PUBLIC KEY-----\n";
        assert_eq!(check_secret(pem), Err(WeakSecretReason::KeyMaterial));
        let jwk =
            br#"{"kty":"OKP","crv":"Ed25519","x":"GbZnBvb9ECWmEzf6FQbrBZ9w7lshQhqowtrbLDFw4rX"}"#;
        assert_eq!(check_secret(jwk), Err(WeakSecretReason::KeyMaterial));
        assert_eq!(check_secret(b"Zt1mQ8vR4kX2pL9sW6nB3cY7hJ0dF5gA"), Ok(()));
    }

    #[test]
    fn the_list_has_a_few_hundred_entries_and_they_are_refused() {
        assert!(entries().count() > 300, "{}", entries().count());
        for entry in entries() {
            assert!(check_secret(entry.as_bytes()).is_err(), "{entry}");
        }
    }

    #[test]
    fn listed_secrets_of_full_length_are_known_secrets() {
        for secret in [
            "super-secret-jwt-token-with-at-least-32-characters-long",
            "reallyreallyreallyreallyverysafe",
            "a-string-secret-at-least-256-bits-long",
            "09d25e094faa6ca2556c818166b7a9563b93f7099f6f0f4caa6cf63b88e8d3e7",
        ] {
            assert!(secret.len() >= MIN_SECRET_LEN);
            assert_eq!(
                check_secret(secret.as_bytes()),
                Err(WeakSecretReason::KnownSecret)
            );
        }
        // Case and surrounding whitespace do not help.
        assert_eq!(
            check_secret(b"  REALLYREALLYREALLYREALLYVERYSAFE\n"),
            Err(WeakSecretReason::KnownSecret)
        );
        assert_eq!(
            check_secret(b"Your-256-Bit-Secret"),
            Err(WeakSecretReason::KnownSecret)
        );
    }

    #[test]
    fn short_and_repetitive_secrets_are_refused() {
        assert_eq!(
            check_secret(b"k9#Lq2!vZ0pW"),
            Err(WeakSecretReason::TooShort { len: 12 })
        );
        assert_eq!(check_secret(&[b'a'; 64]), Err(WeakSecretReason::LowVariety));
        assert_eq!(
            check_secret(b"abcdefgh".repeat(8).as_slice()),
            Err(WeakSecretReason::LowVariety)
        );
        assert_eq!(
            check_secret(b"hunter2!hunter2!hunter2!hunter2!"),
            Err(WeakSecretReason::LowVariety)
        );
    }

    #[test]
    fn random_secrets_pass() {
        assert_eq!(check_secret(b"Zt1mQ8vR4kX2pL9sW6nB3cY7hJ0dF5gA"), Ok(()));
        assert_eq!(
            check_secret(b"9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"),
            Ok(())
        );
        let bytes: Vec<u8> = (0u8..48)
            .map(|i| i.wrapping_mul(37).wrapping_add(11))
            .collect();
        assert_eq!(check_secret(&bytes), Ok(()));
    }
}
