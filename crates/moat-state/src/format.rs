//! The API key format: `moat_<key id>_<secret><checksum>`.
//!
//! - `moat_` makes a leaked key recognisable to secret scanners and people.
//! - The key id (12 base62 characters, ~71 bits) is not secret: it is the
//!   store's primary key, so a key is found in one lookup, and it is what logs,
//!   lockouts and the CLI name.
//! - The secret (32 base62 characters, ~190 bits) is what makes the key
//!   unguessable.
//! - The checksum is the CRC-32 of everything before it, in 6 base62
//!   characters. Like GitHub's tokens, it lets a scanner reject random
//!   look-alikes offline and lets the gateway refuse typos and junk without
//!   touching the store.
//!
//! Everything is ASCII alphanumerics or `_`, so a key survives URLs, headers,
//! shells and double-click selection unchanged.

use ring::rand::SecureRandom;

use crate::crc32::crc32;

/// What every key starts with.
pub const PREFIX: &str = "moat_";
/// Characters in a key id.
pub const KEY_ID_LEN: usize = 12;
/// Characters in the secret part.
pub const SECRET_LEN: usize = 32;
/// Characters in the checksum (62^6 > 2^32, so any CRC-32 fits).
pub const CHECKSUM_LEN: usize = 6;
/// Characters in a whole key.
pub const KEY_LEN: usize = PREFIX.len() + KEY_ID_LEN + 1 + SECRET_LEN + CHECKSUM_LEN;

/// Where the checksummed part ends.
const BODY_LEN: usize = KEY_LEN - CHECKSUM_LEN;
const ID_START: usize = PREFIX.len();
const ID_END: usize = ID_START + KEY_ID_LEN;

const ALPHABET: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// A presented string that has the shape of a moat key and a correct
/// checksum. Says nothing about whether the key exists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ParsedKey<'a> {
    key: &'a str,
}

impl<'a> ParsedKey<'a> {
    /// The key id: the lookup key in the store.
    pub fn key_id(&self) -> &'a str {
        &self.key[ID_START..ID_END]
    }

    /// The whole key, which is what gets hashed.
    pub fn as_str(&self) -> &'a str {
        self.key
    }
}

/// Why a presented string is not a moat API key. Decided from the string
/// alone, before any store lookup.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MalformedKey {
    /// Not exactly [`KEY_LEN`] bytes.
    #[error("an API key is {KEY_LEN} characters long, this is {0}")]
    Length(usize),
    /// Does not start with `moat_`.
    #[error("an API key starts with `{PREFIX}`")]
    Prefix,
    /// No `_` between the key id and the secret.
    #[error("an API key has a `_` after its {KEY_ID_LEN}-character key id")]
    Separator,
    /// A character outside `0-9A-Za-z` in the key id, secret or checksum.
    #[error("an API key contains only letters, digits and `_`")]
    Alphabet,
    /// The checksum does not match: a typo, a truncated copy or not a key.
    #[error("the API key's checksum does not match (mistyped or truncated?)")]
    Checksum,
}

/// Checks the shape and checksum of `presented`. Cheap and allocation-free,
/// and the length is checked first, so junk of any size costs nothing.
pub fn parse(presented: &str) -> Result<ParsedKey<'_>, MalformedKey> {
    let bytes = presented.as_bytes();
    if bytes.len() != KEY_LEN {
        return Err(MalformedKey::Length(bytes.len()));
    }
    if !presented.starts_with(PREFIX) {
        return Err(MalformedKey::Prefix);
    }
    if bytes[ID_END] != b'_' {
        return Err(MalformedKey::Separator);
    }
    let alnum = |range: &[u8]| range.iter().all(u8::is_ascii_alphanumeric);
    if !alnum(&bytes[ID_START..ID_END]) || !alnum(&bytes[ID_END + 1..]) {
        return Err(MalformedKey::Alphabet);
    }
    if checksum(&bytes[..BODY_LEN]) != bytes[BODY_LEN..] {
        return Err(MalformedKey::Checksum);
    }
    Ok(ParsedKey { key: presented })
}

/// Whether `s` has the shape of a key id (12 base62 characters). Lets the CLI
/// refuse a mistyped id with a clear message instead of "not found".
pub fn is_key_id(s: &str) -> bool {
    s.len() == KEY_ID_LEN && s.bytes().all(|b| b.is_ascii_alphanumeric())
}

/// A new random key: `(key id, whole key)`.
pub(crate) fn generate(
    rng: &dyn SecureRandom,
) -> Result<(String, String), ring::error::Unspecified> {
    let random = random_base62(rng, KEY_ID_LEN + SECRET_LEN)?;
    let (key_id, secret) = random.split_at(KEY_ID_LEN);
    let mut key = Vec::with_capacity(KEY_LEN);
    key.extend_from_slice(PREFIX.as_bytes());
    key.extend_from_slice(key_id);
    key.push(b'_');
    key.extend_from_slice(secret);
    let sum = checksum(&key);
    key.extend_from_slice(&sum);
    // Only ASCII went in; the fallible conversion keeps `unsafe` out.
    let key = String::from_utf8(key).map_err(|_| ring::error::Unspecified)?;
    let key_id = key[ID_START..ID_END].to_string();
    Ok((key_id, key))
}

/// `n` uniformly random base62 characters. Bytes of 248 and above are
/// dropped (rejection sampling) so that `b % 62` is unbiased.
fn random_base62(rng: &dyn SecureRandom, n: usize) -> Result<Vec<u8>, ring::error::Unspecified> {
    const LIMIT: u8 = 248; // 62 * 4
    let mut out = Vec::with_capacity(n);
    let mut buf = [0u8; 64];
    while out.len() < n {
        rng.fill(&mut buf)?;
        for &b in &buf {
            if b < LIMIT && out.len() < n {
                out.push(ALPHABET[usize::from(b % 62)]);
            }
        }
    }
    Ok(out)
}

/// The CRC-32 of `body` in base62, most significant digit first, padded
/// with `0` to [`CHECKSUM_LEN`] characters.
pub(crate) fn checksum(body: &[u8]) -> [u8; CHECKSUM_LEN] {
    let mut n = crc32(body);
    let mut out = [b'0'; CHECKSUM_LEN];
    for slot in out.iter_mut().rev() {
        *slot = ALPHABET[(n % 62) as usize];
        n /= 62;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use ring::rand::SystemRandom;

    fn key() -> String {
        generate(&SystemRandom::new()).unwrap().1
    }

    #[test]
    fn generated_keys_parse_back() {
        let rng = SystemRandom::new();
        for _ in 0..200 {
            let (id, key) = generate(&rng).unwrap();
            assert_eq!(key.len(), KEY_LEN);
            assert!(key.starts_with("moat_"));
            let parsed = parse(&key).unwrap();
            assert_eq!(parsed.key_id(), id);
            assert_eq!(parsed.as_str(), key);
            assert!(is_key_id(&id));
        }
        assert_eq!(KEY_LEN, 56);
    }

    #[test]
    fn keys_are_distinct() {
        let a = key();
        let b = key();
        assert_ne!(a, b);
        assert_ne!(a[5..17], b[5..17]);
    }

    #[test]
    fn checksum_catches_every_single_character_change() {
        let key = key();
        let bytes = key.as_bytes();
        for i in ID_START..KEY_LEN {
            if i == ID_END {
                continue;
            }
            for &c in ALPHABET {
                if c == bytes[i] {
                    continue;
                }
                let mut changed = bytes.to_vec();
                changed[i] = c;
                let changed = String::from_utf8(changed).unwrap();
                assert!(
                    parse(&changed).is_err(),
                    "changing byte {i} to {} went unnoticed",
                    c as char
                );
            }
        }
    }

    #[test]
    fn checksum_catches_adjacent_swaps() {
        let key = key();
        for i in ID_START + 1..KEY_LEN {
            let mut b = key.as_bytes().to_vec();
            if b[i - 1] == b[i] || b[i - 1] == b'_' || b[i] == b'_' {
                continue;
            }
            b.swap(i - 1, i);
            assert!(parse(std::str::from_utf8(&b).unwrap()).is_err());
        }
    }

    #[test]
    fn malformed_inputs_are_named() {
        let key = key();
        assert_eq!(parse(""), Err(MalformedKey::Length(0)));
        assert_eq!(
            parse(&"x".repeat(1 << 20)),
            Err(MalformedKey::Length(1 << 20))
        );
        assert_eq!(
            parse(&key[..KEY_LEN - 1]),
            Err(MalformedKey::Length(KEY_LEN - 1))
        );
        assert_eq!(
            parse(&format!("moaT_{}", &key[5..])),
            Err(MalformedKey::Prefix)
        );
        assert_eq!(
            parse(&format!("{}-{}", &key[..17], &key[18..])),
            Err(MalformedKey::Separator)
        );
        assert_eq!(
            parse(&format!("{}+{}", &key[..20], &key[21..])),
            Err(MalformedKey::Alphabet)
        );
        assert_eq!(
            parse(&format!("{}_{}", &key[..20], &key[21..])),
            Err(MalformedKey::Alphabet)
        );
        // A multi-byte character keeps the char count but not the byte count.
        assert!(parse(&format!("{}é{}", &key[..20], &key[22..])).is_err());
        let mut bad = key.clone().into_bytes();
        bad[KEY_LEN - 1] = if bad[KEY_LEN - 1] == b'0' { b'1' } else { b'0' };
        assert_eq!(
            parse(std::str::from_utf8(&bad).unwrap()),
            Err(MalformedKey::Checksum)
        );
    }

    #[test]
    fn checksum_is_padded_base62() {
        assert_eq!(&checksum(b""), b"000000");
        // crc32("123456789") = 0xCBF43926 = 3421780262.
        let expected = {
            let mut n: u64 = 3_421_780_262;
            let mut s = [b'0'; 6];
            for slot in s.iter_mut().rev() {
                *slot = ALPHABET[(n % 62) as usize];
                n /= 62;
            }
            s
        };
        assert_eq!(checksum(b"123456789"), expected);
    }

    #[test]
    fn key_ids() {
        assert!(is_key_id("AbC123xyz789"));
        assert!(!is_key_id("AbC123xyz78"));
        assert!(!is_key_id("AbC123xyz78_"));
        assert!(!is_key_id(""));
    }
}
