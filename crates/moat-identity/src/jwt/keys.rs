//! Verification keys: reading them from a secret, PEM or JWK, and picking
//! the one a token names.
//!
//! Each key records the algorithms it may verify: the allow-list, narrowed
//! by the key's kind (an RSA key never verifies HS256) and by the JWK's own
//! `alg`. `use` and `key_ops` are respected too: a key published for
//! encryption does not verify signatures.

use std::time::Instant;

use base64::Engine;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use jsonwebtoken::DecodingKey;
use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk, KeyOperations, PublicKeyUse};
use ring::digest;
use rustls_pki_types::pem::{PemObject, SectionKind};
use serde_json::Value;

use super::algorithms::{self, Algorithm, KeyKind};
use super::der;
use super::error::WeakSecretReason;
use super::error::{JwtConfigError, JwtError};
use super::weak_secrets;

/// RSA moduli accepted, in bits: what ring verifies. Smaller keys are
/// factorable or close to it.
const RSA_MIN_BITS: usize = 2048;
const RSA_MAX_BITS: usize = 8192;

/// Keys tried for one token. Only a token without `kid` against several
/// fitting keys tries more than one; the cap bounds the signature checks
/// one request can cause.
const MAX_CANDIDATES: usize = 4;

/// Keys kept from one JWKS document; real ones hold two or three.
pub(crate) const MAX_KEYS: usize = 64;

/// base64url as found in JWKs: padding tolerated, as some providers emit
/// it, the URL-safe alphabet required.
const JWK_B64: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::URL_SAFE,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// One key that can verify tokens.
#[derive(Debug)]
pub(crate) struct VerificationKey {
    pub(crate) kid: Option<String>,
    /// The algorithms this key may verify; never empty.
    pub(crate) algorithms: Vec<Algorithm>,
    pub(crate) decoding: DecodingKey,
    /// A digest of kid, kind and key bytes, to notice keys removed by a
    /// refresh.
    fingerprint: [u8; 32],
}

impl VerificationKey {
    fn new(
        kid: Option<String>,
        kind: KeyKind,
        algorithms: Vec<Algorithm>,
        material: &[u8],
        decoding: DecodingKey,
    ) -> Self {
        let mut ctx = digest::Context::new(&digest::SHA256);
        ctx.update(format!("{kind:?}\0").as_bytes());
        ctx.update(kid.as_deref().unwrap_or("").as_bytes());
        ctx.update(b"\0");
        ctx.update(material);
        let mut fingerprint = [0; 32];
        fingerprint.copy_from_slice(ctx.finish().as_ref());
        Self {
            kid,
            algorithms,
            decoding,
            fingerprint,
        }
    }

    /// Checks the signature of `input` with this key and algorithm.
    pub(crate) fn verify(&self, alg: Algorithm, input: &[u8], signature: &[u8]) -> bool {
        if !self.algorithms.contains(&alg) {
            return false;
        }
        match (super::provider::RING_PROVIDER.verifier_factory)(&alg, &self.decoding) {
            Ok(verifier) => verifier.verify(input, &signature.to_vec()).is_ok(),
            Err(_) => false,
        }
    }
}

/// The keys in force, as one immutable snapshot.
pub(crate) struct KeySet {
    pub(crate) keys: Vec<VerificationKey>,
    pub(crate) fetched_at: Instant,
    /// Bumped by every successful fetch, so a task that waited for a
    /// refresh can tell whether one happened meanwhile.
    pub(crate) generation: u64,
}

/// The outcome of looking for a token's key.
pub(crate) enum Selection<'k> {
    /// Keys to try, in order (at most [`MAX_CANDIDATES`]).
    Found(Vec<&'k VerificationKey>),
    /// Keys match the `kid` (or there is no `kid`) but none may verify
    /// this algorithm.
    Mismatch,
    /// No key has this `kid`.
    NotFound,
}

impl KeySet {
    pub(crate) fn new(keys: Vec<VerificationKey>, generation: u64) -> Self {
        Self {
            keys,
            fetched_at: Instant::now(),
            generation,
        }
    }

    /// The keys a token with this `kid` and `alg` may be verified with. A
    /// key without `kid` matches any token `kid`; a token without `kid`
    /// matches any key.
    pub(crate) fn select(&self, kid: Option<&str>, alg: Algorithm) -> Selection<'_> {
        let named: Vec<&VerificationKey> = match kid {
            Some(kid) => {
                let exact: Vec<_> = self
                    .keys
                    .iter()
                    .filter(|k| k.kid.as_deref() == Some(kid))
                    .collect();
                if exact.is_empty() {
                    self.keys.iter().filter(|k| k.kid.is_none()).collect()
                } else {
                    exact
                }
            }
            None => self.keys.iter().collect(),
        };
        if named.is_empty() {
            return Selection::NotFound;
        }
        let fitting: Vec<_> = named
            .into_iter()
            .filter(|k| k.algorithms.contains(&alg))
            .take(MAX_CANDIDATES)
            .collect();
        if fitting.is_empty() {
            Selection::Mismatch
        } else {
            Selection::Found(fitting)
        }
    }

    /// Whether a key of this set is absent from `newer`: a key was
    /// withdrawn, so tokens verified with it must not be served from cache.
    pub(crate) fn lost_keys_in(&self, newer: &KeySet) -> bool {
        self.keys.iter().any(|old| {
            !newer
                .keys
                .iter()
                .any(|new| new.fingerprint == old.fingerprint)
        })
    }
}

/// Where a JWK comes from: an inline one may be a secret; a fetched one
/// may not, since a JWKS is public.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Origin {
    Inline,
    Remote,
}

/// A shared secret as an HMAC key; refuses non-HMAC algorithms, and weak
/// secrets unless `accept_weak` (an operator's time-boxed override). Key
/// material is refused whatever the override: it is not weak, it is
/// public.
pub(crate) fn from_secret(
    secret: &[u8],
    allowed: &[Algorithm],
    accept_weak: bool,
) -> Result<VerificationKey, JwtConfigError> {
    match weak_secrets::check_secret(secret) {
        Ok(()) => {}
        Err(reason) if accept_weak && reason != WeakSecretReason::KeyMaterial => {}
        Err(reason) => return Err(JwtConfigError::WeakSecret { reason }),
    }
    require_all_fit(KeyKind::Hmac, allowed)?;
    Ok(VerificationKey::new(
        None,
        KeyKind::Hmac,
        allowed.to_vec(),
        secret,
        DecodingKey::from_secret(secret),
    ))
}

/// Every allowed algorithm must fit a single configured key: an algorithm
/// that cannot verify is a misconfiguration, and HS* next to a public key
/// is the algorithm-confusion setup.
fn require_all_fit(kind: KeyKind, allowed: &[Algorithm]) -> Result<(), JwtConfigError> {
    match allowed.iter().find(|alg| !kind.fits(**alg)) {
        Some(alg) => Err(JwtConfigError::AlgorithmKeyMismatch {
            algorithm: *alg,
            key: kind.describe(),
            hint: kind.hint(),
        }),
        None => Ok(()),
    }
}

/// A public key from PEM text: a `PUBLIC KEY` (SubjectPublicKeyInfo)
/// block.
pub(crate) fn from_pem(
    pem: &[u8],
    allowed: &[Algorithm],
) -> Result<VerificationKey, JwtConfigError> {
    let pem_error = |reason: &str| JwtConfigError::Pem {
        reason: reason.to_owned(),
    };
    let mut spki = None;
    let mut other = None;
    for section in <(SectionKind, Vec<u8>)>::pem_slice_iter(pem) {
        match section {
            Ok((SectionKind::PublicKey, der)) => {
                spki = Some(der);
                break;
            }
            Ok((kind, _)) => other = other.or(Some(kind)),
            Err(_) => return Err(pem_error("the PEM text cannot be decoded")),
        }
    }
    let Some(der) = spki else {
        return Err(pem_error(match other {
            Some(SectionKind::Certificate) => {
                "found a certificate, expected a `PUBLIC KEY` block; extract it with `openssl x509 -pubkey -noout -in cert.pem`"
            }
            Some(
                SectionKind::PrivateKey | SectionKind::RsaPrivateKey | SectionKind::EcPrivateKey,
            ) => {
                "found a private key: the gateway only needs the public key, and a private key must not be deployed to it; extract it with `openssl pkey -pubout -in key.pem`"
            }
            _ => "no `-----BEGIN PUBLIC KEY-----` block found",
        }));
    };
    let key = der::parse_spki(&der).map_err(pem_error)?;
    let (kind, material, decoding) = match key {
        der::PublicKey::Rsa { n, e } => {
            check_rsa_size(&n).map_err(pem_error)?;
            let decoding = DecodingKey::from_rsa_raw_components(&n, &e);
            (KeyKind::Rsa, [n, e].concat(), decoding)
        }
        der::PublicKey::EcP256(point) => {
            let d = DecodingKey::from_ec_der(&point);
            (KeyKind::EcP256, point, d)
        }
        der::PublicKey::EcP384(point) => {
            let d = DecodingKey::from_ec_der(&point);
            (KeyKind::EcP384, point, d)
        }
        der::PublicKey::Ed25519(raw) => {
            let d = DecodingKey::from_ed_der(&raw);
            (KeyKind::Ed25519, raw, d)
        }
    };
    require_all_fit(kind, allowed)?;
    Ok(VerificationKey::new(
        None,
        kind,
        allowed.to_vec(),
        &material,
        decoding,
    ))
}

fn check_rsa_size(n: &[u8]) -> Result<(), &'static str> {
    let bits = match n.iter().position(|b| *b != 0) {
        Some(i) => (n.len() - i) * 8 - n[i].leading_zeros() as usize,
        None => 0,
    };
    if bits < RSA_MIN_BITS {
        Err(
            "the RSA key is shorter than 2048 bits; such keys are considered breakable, ask the issuer for a 2048-bit or larger key",
        )
    } else if bits > RSA_MAX_BITS {
        Err("the RSA key is longer than 8192 bits")
    } else {
        Ok(())
    }
}

/// An inline JWK, or an inline JWK set (`{"keys": [...]}`). In a set,
/// keys that are not for signatures are skipped; at least one must be
/// usable.
pub(crate) fn from_inline_jwk(
    value: &Value,
    allowed: &[Algorithm],
) -> Result<Vec<VerificationKey>, JwtConfigError> {
    let jwk_error = |reason: String| JwtConfigError::Jwk { reason };
    match value.get("keys") {
        Some(Value::Array(items)) => {
            let mut keys = Vec::new();
            for item in items.iter().take(MAX_KEYS) {
                match from_jwk(item, allowed, Origin::Inline) {
                    Ok(key) => keys.push(key),
                    Err(problem) if problem.not_for_us => {}
                    Err(problem) => {
                        let kid = item.get("kid").and_then(Value::as_str).unwrap_or("?");
                        return Err(jwk_error(format!("key `{kid}`: {}", problem.reason)));
                    }
                }
            }
            if keys.is_empty() {
                Err(jwk_error(
                    "the JWK set has no key usable with the allowed algorithms".into(),
                ))
            } else {
                Ok(keys)
            }
        }
        Some(_) => Err(jwk_error("`keys` is not an array".into())),
        None => Ok(vec![
            from_jwk(value, allowed, Origin::Inline).map_err(|p| jwk_error(p.reason))?,
        ]),
    }
}

/// The usable keys of a fetched JWKS document (others are skipped, and
/// logged at debug level).
pub(crate) fn from_jwks_document(
    doc: &serde_json::Map<String, Value>,
    allowed: &[Algorithm],
) -> Result<Vec<VerificationKey>, String> {
    let Some(Value::Array(items)) = doc.get("keys") else {
        return Err("no `keys` array".into());
    };
    let mut keys = Vec::new();
    for item in items.iter().take(MAX_KEYS) {
        match from_jwk(item, allowed, Origin::Remote) {
            Ok(key) => keys.push(key),
            Err(problem) => {
                let kid = item.get("kid").and_then(Value::as_str).unwrap_or("");
                tracing::debug!(kid, reason = problem.reason, "skipping a JWKS key");
            }
        }
    }
    Ok(keys)
}

/// Why a JWK was not taken.
#[derive(Debug)]
pub(crate) struct JwkProblem {
    pub(crate) reason: String,
    /// The key is fine but not for this verifier (an encryption key, an
    /// algorithm outside the allow-list, a curve moat does not verify): it
    /// is skipped in a set. Otherwise the key is broken or weak, which in
    /// an inline set is a configuration error.
    pub(crate) not_for_us: bool,
}

fn skip(reason: impl Into<String>) -> JwkProblem {
    JwkProblem {
        reason: reason.into(),
        not_for_us: true,
    }
}

fn invalid(reason: impl Into<String>) -> JwkProblem {
    JwkProblem {
        reason: reason.into(),
        not_for_us: false,
    }
}

/// Reads one JWK; `Err` says why it cannot verify any allowed algorithm.
pub(crate) fn from_jwk(
    value: &Value,
    allowed: &[Algorithm],
    origin: Origin,
) -> Result<VerificationKey, JwkProblem> {
    let jwk: Jwk =
        serde_json::from_value(value.clone()).map_err(|e| invalid(format!("not a JWK: {e}")))?;
    let common = &jwk.common;
    match &common.public_key_use {
        None | Some(PublicKeyUse::Signature) => {}
        Some(_) => return Err(skip("`use` is not `sig`")),
    }
    if let Some(ops) = &common.key_operations
        && !ops.iter().any(|op| matches!(op, KeyOperations::Verify))
    {
        return Err(skip("`key_ops` does not include `verify`"));
    }
    let jwk_alg = match common.key_algorithm {
        None => None,
        Some(alg) => Some(algorithms::from_header(&alg.to_string()).ok_or_else(|| {
            skip(format!(
                "`alg` {alg} is not a signature algorithm moat verifies"
            ))
        })?),
    };
    let decode = |field: &str, text: &str| {
        JWK_B64
            .decode(text)
            .map_err(|_| invalid(format!("`{field}` is not base64url")))
    };
    let (kind, material, decoding) = match &jwk.algorithm {
        AlgorithmParameters::RSA(rsa) => {
            let n = strip_zeros(decode("n", &rsa.n)?);
            let e = strip_zeros(decode("e", &rsa.e)?);
            check_rsa_size(&n).map_err(invalid)?;
            if e.is_empty() {
                return Err(invalid("`e` is zero"));
            }
            let decoding = DecodingKey::from_rsa_raw_components(&n, &e);
            (KeyKind::Rsa, [n, e].concat(), decoding)
        }
        AlgorithmParameters::EllipticCurve(ec) => {
            let (kind, len) = match ec.curve {
                EllipticCurve::P256 => (KeyKind::EcP256, 32),
                EllipticCurve::P384 => (KeyKind::EcP384, 48),
                _ => return Err(skip("EC curve is not P-256 or P-384")),
            };
            let (x, y) = (decode("x", &ec.x)?, decode("y", &ec.y)?);
            if x.len() != len || y.len() != len {
                return Err(invalid(
                    "EC coordinates have the wrong length for the curve",
                ));
            }
            let point = [&[4u8][..], &x, &y].concat();
            let decoding = DecodingKey::from_ec_der(&point);
            (kind, point, decoding)
        }
        AlgorithmParameters::OctetKeyPair(okp) => {
            if okp.curve != EllipticCurve::Ed25519 {
                return Err(skip("OKP curve is not Ed25519"));
            }
            let x = decode("x", &okp.x)?;
            if x.len() != 32 {
                return Err(invalid("Ed25519 `x` is not 32 bytes"));
            }
            let decoding = DecodingKey::from_ed_der(&x);
            (KeyKind::Ed25519, x, decoding)
        }
        AlgorithmParameters::OctetKey(oct) => {
            if origin == Origin::Remote {
                // A JWKS is a public document: a secret in it is known to
                // everyone, and so is every token it could verify.
                return Err(invalid(
                    "a symmetric (`oct`) key in a fetched JWKS is public, refusing it",
                ));
            }
            let secret = decode("k", &oct.value)?;
            if let Err(reason) = weak_secrets::check_secret(&secret) {
                return Err(invalid(JwtConfigError::WeakSecret { reason }.to_string()));
            }
            let decoding = DecodingKey::from_secret(&secret);
            (KeyKind::Hmac, secret, decoding)
        }
        _ => return Err(skip("unsupported key type")),
    };
    let algorithms: Vec<Algorithm> = allowed
        .iter()
        .copied()
        .filter(|alg| kind.fits(*alg) && jwk_alg.is_none_or(|a| a == *alg))
        .collect();
    if algorithms.is_empty() {
        return Err(match jwk_alg {
            // A key claiming an algorithm its type cannot do is broken.
            Some(a) if !kind.fits(a) => invalid(format!(
                "its `alg` {} does not fit {}",
                algorithms::name_of(a),
                kind.describe()
            )),
            _ => skip(format!(
                "none of the allowed algorithms fits {}",
                kind.describe()
            )),
        });
    }
    Ok(VerificationKey::new(
        common.key_id.clone(),
        kind,
        algorithms,
        &material,
        decoding,
    ))
}

fn strip_zeros(mut bytes: Vec<u8>) -> Vec<u8> {
    let start = bytes.iter().position(|b| *b != 0).unwrap_or(bytes.len());
    bytes.drain(..start);
    bytes
}

/// Maps a failed key selection to the token error, for keys that cannot
/// be refreshed.
pub(crate) fn selection_error(selection: &Selection<'_>, alg: Algorithm) -> JwtError {
    match selection {
        Selection::Mismatch => {
            JwtError::Algorithm(super::error::AlgorithmRejection::KeyMismatch(alg))
        }
        _ => JwtError::UnknownKey,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn b64(bytes: &[u8]) -> String {
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    }

    fn ec_jwk(kid: &str) -> Value {
        json!({"kty": "EC", "crv": "P-256", "kid": kid, "x": b64(&[1; 32]), "y": b64(&[2; 32])})
    }

    const ALL: &[Algorithm] = &algorithms::ALL;

    #[test]
    fn jwk_alg_use_and_key_ops_narrow_a_key() {
        let key = from_jwk(&ec_jwk("a"), ALL, Origin::Remote).unwrap();
        assert_eq!(key.algorithms, [Algorithm::ES256]);
        let mut enc = ec_jwk("a");
        enc["use"] = json!("enc");
        assert!(from_jwk(&enc, ALL, Origin::Remote).is_err());
        let mut ops = ec_jwk("a");
        ops["key_ops"] = json!(["sign"]);
        assert!(from_jwk(&ops, ALL, Origin::Remote).is_err());
        ops["key_ops"] = json!(["verify"]);
        assert!(from_jwk(&ops, ALL, Origin::Remote).is_ok());
        let mut wrong_alg = ec_jwk("a");
        wrong_alg["alg"] = json!("ES384");
        assert!(from_jwk(&wrong_alg, ALL, Origin::Remote).is_err());
        let mut oaep = ec_jwk("a");
        oaep["alg"] = json!("RSA-OAEP");
        assert!(from_jwk(&oaep, ALL, Origin::Remote).is_err());
        // Not in the allow-list.
        assert!(from_jwk(&ec_jwk("a"), &[Algorithm::RS256], Origin::Remote).is_err());
    }

    #[test]
    fn rsa_jwk_must_be_2048_bits() {
        let small = json!({"kty": "RSA", "n": b64(&[0xff; 128]), "e": "AQAB"});
        assert!(
            from_jwk(&small, ALL, Origin::Remote)
                .unwrap_err()
                .reason
                .contains("2048")
        );
        let mut n = vec![0u8];
        n.extend([0xc1; 256]);
        let ok = json!({"kty": "RSA", "n": b64(&n), "e": "AQAB", "alg": "PS256"});
        let key = from_jwk(&ok, ALL, Origin::Remote).unwrap();
        assert_eq!(key.algorithms, [Algorithm::PS256]);
        let any = json!({"kty": "RSA", "n": b64(&n), "e": "AQAB"});
        assert_eq!(
            from_jwk(&any, ALL, Origin::Remote)
                .unwrap()
                .algorithms
                .len(),
            6
        );
    }

    #[test]
    fn oct_keys_only_inline_and_never_weak() {
        let strong = json!({"kty": "oct", "k": b64(b"Zt1mQ8vR4kX2pL9sW6nB3cY7hJ0dF5gA")});
        assert!(from_jwk(&strong, ALL, Origin::Remote).is_err());
        assert_eq!(
            from_jwk(&strong, ALL, Origin::Inline)
                .unwrap()
                .algorithms
                .len(),
            3
        );
        let weak = json!({"kty": "oct", "k": b64(b"secret")});
        assert!(
            from_jwk(&weak, ALL, Origin::Inline)
                .unwrap_err()
                .reason
                .contains("weak")
        );
        // In an inline set, a weak secret is an error, not a skipped key;
        // an encryption key is skipped.
        let enc = json!({"kty": "EC", "crv": "P-256", "use": "enc", "x": b64(&[1; 32]), "y": b64(&[2; 32])});
        let set = json!({"keys": [strong, weak]});
        assert!(from_inline_jwk(&set, ALL).is_err());
        let set = json!({"keys": [strong, enc]});
        assert_eq!(from_inline_jwk(&set, ALL).unwrap().len(), 1);
    }

    #[test]
    fn selection_by_kid() {
        let set = KeySet::new(
            vec![
                from_jwk(&ec_jwk("a"), ALL, Origin::Remote).unwrap(),
                from_jwk(&ec_jwk("b"), ALL, Origin::Remote).unwrap(),
            ],
            1,
        );
        assert!(
            matches!(set.select(Some("a"), Algorithm::ES256), Selection::Found(k) if k.len() == 1 && k[0].kid.as_deref() == Some("a"))
        );
        assert!(matches!(
            set.select(Some("zz"), Algorithm::ES256),
            Selection::NotFound
        ));
        assert!(matches!(
            set.select(Some("a"), Algorithm::ES384),
            Selection::Mismatch
        ));
        assert!(matches!(set.select(None, Algorithm::ES256), Selection::Found(k) if k.len() == 2));
    }

    #[test]
    fn secrets_and_pem_refuse_algorithms_they_cannot_verify() {
        let secret = b"Zt1mQ8vR4kX2pL9sW6nB3cY7hJ0dF5gA";
        assert!(from_secret(secret, &[Algorithm::HS256, Algorithm::HS512], false).is_ok());
        assert!(matches!(
            from_secret(secret, &[Algorithm::HS256, Algorithm::RS256], false),
            Err(JwtConfigError::AlgorithmKeyMismatch {
                algorithm: Algorithm::RS256,
                ..
            })
        ));
        assert!(matches!(
            from_secret(b"secret", &[Algorithm::HS256], false),
            Err(JwtConfigError::WeakSecret { .. })
        ));
        assert!(matches!(
            from_pem(b"not pem", &[Algorithm::RS256]),
            Err(JwtConfigError::Pem { .. })
        ));
    }
}
