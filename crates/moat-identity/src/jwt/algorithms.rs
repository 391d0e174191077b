//! Algorithm names, and which key kind each algorithm may be used with.
//!
//! The pairing of algorithm and key kind is the defence against algorithm
//! confusion: a token saying `HS256` must never be checked against an RSA
//! public key, whose PEM text is public and would otherwise serve as the
//! HMAC secret.

pub use jsonwebtoken::Algorithm;

use super::error::JwtConfigError;

/// Every algorithm moat verifies, in the order used in messages.
pub const ALL: [Algorithm; 12] = [
    Algorithm::HS256,
    Algorithm::HS384,
    Algorithm::HS512,
    Algorithm::RS256,
    Algorithm::RS384,
    Algorithm::RS512,
    Algorithm::PS256,
    Algorithm::PS384,
    Algorithm::PS512,
    Algorithm::ES256,
    Algorithm::ES384,
    Algorithm::EdDSA,
];

/// Parses an algorithm name from the configuration. `none` gets its own
/// error: it is the one name that is a real JOSE value and still must never
/// be allowed.
pub fn parse_algorithm(name: &str) -> Result<Algorithm, JwtConfigError> {
    if name.eq_ignore_ascii_case("none") {
        return Err(JwtConfigError::NoneAlgorithm);
    }
    from_header(name).ok_or_else(|| JwtConfigError::UnknownAlgorithm {
        name: name.to_owned(),
    })
}

/// The algorithm a token header names, matched exactly (JOSE names are
/// case-sensitive), or `None` for anything else.
pub(crate) fn from_header(name: &str) -> Option<Algorithm> {
    ALL.into_iter().find(|alg| name_of(*alg) == name)
}

/// The JOSE name of an algorithm.
pub fn name_of(alg: Algorithm) -> &'static str {
    match alg {
        Algorithm::HS256 => "HS256",
        Algorithm::HS384 => "HS384",
        Algorithm::HS512 => "HS512",
        Algorithm::RS256 => "RS256",
        Algorithm::RS384 => "RS384",
        Algorithm::RS512 => "RS512",
        Algorithm::PS256 => "PS256",
        Algorithm::PS384 => "PS384",
        Algorithm::PS512 => "PS512",
        Algorithm::ES256 => "ES256",
        Algorithm::ES384 => "ES384",
        Algorithm::EdDSA => "EdDSA",
        // `Algorithm` is non-exhaustive; a future variant is not one moat
        // verifies, and `from_header` can never produce it.
        _ => "unsupported",
    }
}

/// The kind of a verification key. Finer than jsonwebtoken's
/// `AlgorithmFamily`: an EC key is on one curve and fits one algorithm.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum KeyKind {
    /// A shared secret.
    Hmac,
    /// An RSA public key of at least 2048 bits.
    Rsa,
    /// An ECDSA public key on P-256.
    EcP256,
    /// An ECDSA public key on P-384.
    EcP384,
    /// An Ed25519 public key.
    Ed25519,
}

impl KeyKind {
    /// Whether a key of this kind can verify `alg`.
    pub(crate) fn fits(self, alg: Algorithm) -> bool {
        matches!(
            (self, alg),
            (
                KeyKind::Hmac,
                Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512
            ) | (
                KeyKind::Rsa,
                Algorithm::RS256
                    | Algorithm::RS384
                    | Algorithm::RS512
                    | Algorithm::PS256
                    | Algorithm::PS384
                    | Algorithm::PS512
            ) | (KeyKind::EcP256, Algorithm::ES256)
                | (KeyKind::EcP384, Algorithm::ES384)
                | (KeyKind::Ed25519, Algorithm::EdDSA)
        )
    }

    /// How the key is described in configuration errors.
    pub(crate) fn describe(self) -> &'static str {
        match self {
            KeyKind::Hmac => "a shared secret",
            KeyKind::Rsa => "an RSA public key",
            KeyKind::EcP256 => "a P-256 EC public key",
            KeyKind::EcP384 => "a P-384 EC public key",
            KeyKind::Ed25519 => "an Ed25519 public key",
        }
    }

    /// How to fix an allow-list entry this key cannot verify.
    pub(crate) fn hint(self) -> &'static str {
        match self {
            KeyKind::Hmac => {
                "a shared secret only verifies HS256, HS384 and HS512; asymmetric algorithms need the issuer's public key (PEM, JWK or JWKS)"
            }
            KeyKind::Rsa => "an RSA key only verifies RS256/384/512 and PS256/384/512",
            KeyKind::EcP256 => "a P-256 key only verifies ES256",
            KeyKind::EcP384 => "a P-384 key only verifies ES384",
            KeyKind::Ed25519 => "an Ed25519 key only verifies EdDSA",
        }
    }
}

/// Whether `alg` is an HMAC algorithm.
pub(crate) fn is_hmac(alg: Algorithm) -> bool {
    KeyKind::Hmac.fits(alg)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for alg in ALL {
            assert_eq!(parse_algorithm(name_of(alg)).unwrap(), alg);
            assert_eq!(from_header(name_of(alg)), Some(alg));
        }
    }

    #[test]
    fn none_is_refused_in_any_spelling() {
        for name in ["none", "None", "NONE", "nOnE"] {
            assert!(matches!(
                parse_algorithm(name),
                Err(JwtConfigError::NoneAlgorithm)
            ));
            assert_eq!(from_header(name), None);
        }
    }

    #[test]
    fn header_names_are_case_sensitive() {
        assert_eq!(from_header("hs256"), None);
        assert_eq!(from_header("ES512"), None);
        assert!(matches!(
            parse_algorithm("ES512"),
            Err(JwtConfigError::UnknownAlgorithm { .. })
        ));
    }

    #[test]
    fn hmac_never_fits_a_public_key() {
        for kind in [
            KeyKind::Rsa,
            KeyKind::EcP256,
            KeyKind::EcP384,
            KeyKind::Ed25519,
        ] {
            for alg in [Algorithm::HS256, Algorithm::HS384, Algorithm::HS512] {
                assert!(!kind.fits(alg), "{kind:?} {alg:?}");
            }
        }
        for alg in ALL {
            assert_eq!(KeyKind::Hmac.fits(alg), is_hmac(alg));
        }
        assert!(!KeyKind::EcP256.fits(Algorithm::ES384));
        assert!(!KeyKind::EcP384.fits(Algorithm::ES256));
    }
}
