//! jsonwebtoken's `CryptoProvider` implemented on `ring`.
//!
//! moat already ships ring (through rustls) as its only crypto library.
//! jsonwebtoken's built-in providers would add either aws-lc-rs (a second,
//! heavy C library) or RustCrypto's `rsa` crate, which carries an open
//! timing advisory (RUSTSEC-2023-0071). ring covers every JWS algorithm
//! moat accepts: HMAC-SHA2, RSA PKCS#1 v1.5 and PSS (2048 to 8192 bits),
//! ECDSA P-256/P-384 with fixed-length signatures, and Ed25519.
//!
//! The verifier calls [`RING_PROVIDER`]'s factory directly rather than
//! through jsonwebtoken's process-wide default, so verification works
//! whatever else the process installed; signing (used by tests and tools)
//! goes through the default, see [`install_ring_provider`].

use jsonwebtoken::crypto::{CryptoProvider, JwtSigner, JwtVerifier, KeyUtils};
use jsonwebtoken::errors::{ErrorKind, new_error};
use jsonwebtoken::jwk::{EllipticCurve, ThumbprintHash};
use jsonwebtoken::signature::{self, Signer, Verifier};
use jsonwebtoken::{Algorithm, AlgorithmFamily, DecodingKey, DecodingKeyKind, EncodingKey};
use ring::rand::SystemRandom;
use ring::signature::{
    self as ring_sig, EcdsaKeyPair, Ed25519KeyPair, KeyPair, RsaKeyPair, RsaPublicKeyComponents,
    UnparsedPublicKey,
};
use ring::{digest, hmac};

use super::der;

/// The ring-backed provider.
pub static RING_PROVIDER: CryptoProvider = CryptoProvider {
    signer_factory: new_signer,
    verifier_factory: new_verifier,
    key_utils: KeyUtils {
        rsa_pub_components_from_private_key,
        rsa_pub_components_from_public_key,
        ec_pub_components_from_private_key,
        ed_pub_components_from_private_key,
        compute_digest,
    },
};

/// Installs [`RING_PROVIDER`] as jsonwebtoken's process-wide default, so
/// that `jsonwebtoken::encode` and JWK helpers elsewhere in the process use
/// ring instead of jsonwebtoken's placeholder, which panics when no crypto
/// feature is enabled. Does nothing when a provider is already installed.
pub fn install_ring_provider() {
    let _ = RING_PROVIDER.install_default();
}

type JwtResult<T> = jsonwebtoken::errors::Result<T>;

fn rsa_verification(alg: Algorithm) -> Option<&'static ring_sig::RsaParameters> {
    Some(match alg {
        Algorithm::RS256 => &ring_sig::RSA_PKCS1_2048_8192_SHA256,
        Algorithm::RS384 => &ring_sig::RSA_PKCS1_2048_8192_SHA384,
        Algorithm::RS512 => &ring_sig::RSA_PKCS1_2048_8192_SHA512,
        Algorithm::PS256 => &ring_sig::RSA_PSS_2048_8192_SHA256,
        Algorithm::PS384 => &ring_sig::RSA_PSS_2048_8192_SHA384,
        Algorithm::PS512 => &ring_sig::RSA_PSS_2048_8192_SHA512,
        _ => return None,
    })
}

fn rsa_signing(alg: Algorithm) -> Option<&'static dyn ring_sig::RsaEncoding> {
    Some(match alg {
        Algorithm::RS256 => &ring_sig::RSA_PKCS1_SHA256,
        Algorithm::RS384 => &ring_sig::RSA_PKCS1_SHA384,
        Algorithm::RS512 => &ring_sig::RSA_PKCS1_SHA512,
        Algorithm::PS256 => &ring_sig::RSA_PSS_SHA256,
        Algorithm::PS384 => &ring_sig::RSA_PSS_SHA384,
        Algorithm::PS512 => &ring_sig::RSA_PSS_SHA512,
        _ => return None,
    })
}

fn hmac_algorithm(alg: Algorithm) -> Option<hmac::Algorithm> {
    Some(match alg {
        Algorithm::HS256 => hmac::HMAC_SHA256,
        Algorithm::HS384 => hmac::HMAC_SHA384,
        Algorithm::HS512 => hmac::HMAC_SHA512,
        _ => return None,
    })
}

fn ecdsa_signing(alg: Algorithm) -> Option<&'static ring_sig::EcdsaSigningAlgorithm> {
    Some(match alg {
        Algorithm::ES256 => &ring_sig::ECDSA_P256_SHA256_FIXED_SIGNING,
        Algorithm::ES384 => &ring_sig::ECDSA_P384_SHA384_FIXED_SIGNING,
        _ => return None,
    })
}

/// A public-key or HMAC verifier for one algorithm.
struct RingVerifier {
    alg: Algorithm,
    key: VerifyKey,
}

enum VerifyKey {
    Hmac(hmac::Key),
    RsaComponents {
        params: &'static ring_sig::RsaParameters,
        n: Vec<u8>,
        e: Vec<u8>,
    },
    /// An RSAPublicKey (PKCS#1) DER, an uncompressed EC point or a raw
    /// Ed25519 key, with the ring algorithm that reads it.
    Unparsed {
        alg: &'static dyn ring_sig::VerificationAlgorithm,
        bytes: Vec<u8>,
    },
}

impl Verifier<Vec<u8>> for RingVerifier {
    fn verify(&self, msg: &[u8], signature: &Vec<u8>) -> Result<(), signature::Error> {
        let ok = match &self.key {
            VerifyKey::Hmac(key) => hmac::verify(key, msg, signature).is_ok(),
            VerifyKey::RsaComponents { params, n, e } => RsaPublicKeyComponents { n, e }
                .verify(params, msg, signature)
                .is_ok(),
            VerifyKey::Unparsed { alg, bytes } => UnparsedPublicKey::new(*alg, bytes)
                .verify(msg, signature)
                .is_ok(),
        };
        if ok {
            Ok(())
        } else {
            Err(signature::Error::new())
        }
    }
}

impl JwtVerifier for RingVerifier {
    fn algorithm(&self) -> Algorithm {
        self.alg
    }
}

/// Builds a verifier for `alg`. Refuses a key of another family than the
/// algorithm's: the provider-level half of the algorithm-confusion defence.
fn new_verifier(alg: &Algorithm, key: &DecodingKey) -> JwtResult<Box<dyn JwtVerifier>> {
    let alg = *alg;
    if key.family() != alg.family() {
        return Err(new_error(ErrorKind::InvalidAlgorithm));
    }
    let key = match (key.family(), key.kind()) {
        (AlgorithmFamily::Hmac, DecodingKeyKind::SecretOrDer(secret)) => {
            let hmac_alg = hmac_algorithm(alg).ok_or(new_error(ErrorKind::InvalidAlgorithm))?;
            VerifyKey::Hmac(hmac::Key::new(hmac_alg, secret))
        }
        (AlgorithmFamily::Rsa, DecodingKeyKind::RsaModulusExponent { n, e }) => {
            let params = rsa_verification(alg).ok_or(new_error(ErrorKind::InvalidAlgorithm))?;
            VerifyKey::RsaComponents {
                params,
                n: n.clone(),
                e: e.clone(),
            }
        }
        (AlgorithmFamily::Rsa, DecodingKeyKind::SecretOrDer(der)) => {
            let params = rsa_verification(alg).ok_or(new_error(ErrorKind::InvalidAlgorithm))?;
            VerifyKey::Unparsed {
                alg: params,
                bytes: der.clone(),
            }
        }
        (AlgorithmFamily::Ec, DecodingKeyKind::SecretOrDer(point)) => {
            let ec: &'static dyn ring_sig::VerificationAlgorithm = match alg {
                Algorithm::ES256 => &ring_sig::ECDSA_P256_SHA256_FIXED,
                Algorithm::ES384 => &ring_sig::ECDSA_P384_SHA384_FIXED,
                _ => return Err(new_error(ErrorKind::InvalidAlgorithm)),
            };
            VerifyKey::Unparsed {
                alg: ec,
                bytes: point.clone(),
            }
        }
        (AlgorithmFamily::Ed, DecodingKeyKind::SecretOrDer(raw)) => VerifyKey::Unparsed {
            alg: &ring_sig::ED25519,
            bytes: raw.clone(),
        },
        _ => return Err(new_error(ErrorKind::InvalidKeyFormat)),
    };
    Ok(Box::new(RingVerifier { alg, key }))
}

/// A signer for one algorithm.
struct RingSigner {
    alg: Algorithm,
    key: SignKey,
}

enum SignKey {
    Hmac(hmac::Key),
    Rsa(RsaKeyPair, &'static dyn ring_sig::RsaEncoding),
    Ecdsa(EcdsaKeyPair),
    Ed25519(Ed25519KeyPair),
}

impl Signer<Vec<u8>> for RingSigner {
    fn try_sign(&self, msg: &[u8]) -> Result<Vec<u8>, signature::Error> {
        let rng = SystemRandom::new();
        match &self.key {
            SignKey::Hmac(key) => Ok(hmac::sign(key, msg).as_ref().to_vec()),
            SignKey::Rsa(pair, padding) => {
                let mut sig = vec![0; pair.public().modulus_len()];
                pair.sign(*padding, &rng, msg, &mut sig)
                    .map_err(|_| signature::Error::new())?;
                Ok(sig)
            }
            SignKey::Ecdsa(pair) => pair
                .sign(&rng, msg)
                .map(|sig| sig.as_ref().to_vec())
                .map_err(|_| signature::Error::new()),
            SignKey::Ed25519(pair) => Ok(pair.sign(msg).as_ref().to_vec()),
        }
    }
}

impl JwtSigner for RingSigner {
    fn algorithm(&self) -> Algorithm {
        self.alg
    }
}

/// Reads an RSA private key: PKCS#1 (what jsonwebtoken's PEM reader
/// extracts) or PKCS#8.
fn rsa_key_pair(der: &[u8]) -> JwtResult<RsaKeyPair> {
    RsaKeyPair::from_der(der)
        .or_else(|_| RsaKeyPair::from_pkcs8(der))
        .map_err(|e| new_error(ErrorKind::InvalidRsaKey(e.to_string())))
}

fn new_signer(alg: &Algorithm, key: &EncodingKey) -> JwtResult<Box<dyn JwtSigner>> {
    let alg = *alg;
    if key.family() != alg.family() {
        return Err(new_error(ErrorKind::InvalidAlgorithm));
    }
    let bytes = key.as_bytes();
    let invalid = || new_error(ErrorKind::InvalidAlgorithm);
    let key = match alg.family() {
        AlgorithmFamily::Hmac => SignKey::Hmac(hmac::Key::new(
            hmac_algorithm(alg).ok_or_else(invalid)?,
            bytes,
        )),
        AlgorithmFamily::Rsa => {
            SignKey::Rsa(rsa_key_pair(bytes)?, rsa_signing(alg).ok_or_else(invalid)?)
        }
        AlgorithmFamily::Ec => {
            let signing = ecdsa_signing(alg).ok_or_else(invalid)?;
            let pair = EcdsaKeyPair::from_pkcs8(signing, bytes, &SystemRandom::new())
                .map_err(|_| new_error(ErrorKind::InvalidEcdsaKey))?;
            SignKey::Ecdsa(pair)
        }
        AlgorithmFamily::Ed => SignKey::Ed25519(
            Ed25519KeyPair::from_pkcs8_maybe_unchecked(bytes)
                .map_err(|_| new_error(ErrorKind::InvalidEddsaKey))?,
        ),
    };
    Ok(Box::new(RingSigner { alg, key }))
}

fn rsa_pub_components_from_private_key(der: &[u8]) -> JwtResult<(Vec<u8>, Vec<u8>)> {
    let pair = rsa_key_pair(der)?;
    let components = ring::rsa::PublicKeyComponents::<Vec<u8>>::from(pair.public());
    Ok((components.n, components.e))
}

fn rsa_pub_components_from_public_key(der: &[u8]) -> JwtResult<(Vec<u8>, Vec<u8>)> {
    der::parse_rsa_public_key(der)
        .map_err(|reason| new_error(ErrorKind::InvalidRsaKey(reason.to_owned())))
}

fn ec_pub_components_from_private_key(
    der: &[u8],
    alg: Algorithm,
) -> JwtResult<(EllipticCurve, Vec<u8>, Vec<u8>)> {
    let (signing, curve, coordinate) = match alg {
        Algorithm::ES256 => (
            &ring_sig::ECDSA_P256_SHA256_FIXED_SIGNING,
            EllipticCurve::P256,
            32,
        ),
        Algorithm::ES384 => (
            &ring_sig::ECDSA_P384_SHA384_FIXED_SIGNING,
            EllipticCurve::P384,
            48,
        ),
        _ => return Err(new_error(ErrorKind::InvalidAlgorithm)),
    };
    let pair = EcdsaKeyPair::from_pkcs8(signing, der, &SystemRandom::new())
        .map_err(|_| new_error(ErrorKind::InvalidEcdsaKey))?;
    match pair.public_key().as_ref().split_first() {
        Some((4, xy)) if xy.len() == 2 * coordinate => {
            let (x, y) = xy.split_at(coordinate);
            Ok((curve, x.to_vec(), y.to_vec()))
        }
        _ => Err(new_error(ErrorKind::InvalidEcdsaKey)),
    }
}

fn ed_pub_components_from_private_key(der: &[u8], curve: &EllipticCurve) -> JwtResult<Vec<u8>> {
    if *curve != EllipticCurve::Ed25519 {
        return Err(new_error(ErrorKind::InvalidEddsaKey));
    }
    let pair = Ed25519KeyPair::from_pkcs8_maybe_unchecked(der)
        .map_err(|_| new_error(ErrorKind::InvalidEddsaKey))?;
    Ok(pair.public_key().as_ref().to_vec())
}

fn compute_digest(data: &[u8], hash: ThumbprintHash) -> JwtResult<Vec<u8>> {
    let alg = match hash {
        ThumbprintHash::SHA256 => &digest::SHA256,
        ThumbprintHash::SHA384 => &digest::SHA384,
        ThumbprintHash::SHA512 => &digest::SHA512,
        _ => return Err(new_error(ErrorKind::UnsupportedAlgorithm)),
    };
    Ok(digest::digest(alg, data).as_ref().to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;
    use ring::signature::KeyPair;

    fn verify(alg: Algorithm, key: &DecodingKey, msg: &[u8], sig: &[u8]) -> bool {
        match (RING_PROVIDER.verifier_factory)(&alg, key) {
            Ok(v) => v.verify(msg, &sig.to_vec()).is_ok(),
            Err(_) => false,
        }
    }

    #[test]
    fn hmac_signs_and_verifies_and_refuses_confusion() {
        let secret = [9u8; 48];
        for alg in [Algorithm::HS256, Algorithm::HS384, Algorithm::HS512] {
            let signer =
                (RING_PROVIDER.signer_factory)(&alg, &EncodingKey::from_secret(&secret)).unwrap();
            let sig = signer.try_sign(b"msg").unwrap();
            assert!(verify(
                alg,
                &DecodingKey::from_secret(&secret),
                b"msg",
                &sig
            ));
            assert!(!verify(
                alg,
                &DecodingKey::from_secret(&secret),
                b"msh",
                &sig
            ));
        }
        // An HMAC algorithm with a public key is refused by the factory.
        let ed = DecodingKey::from_ed_der(&[1; 32]);
        assert!((RING_PROVIDER.verifier_factory)(&Algorithm::HS256, &ed).is_err());
    }

    #[test]
    fn ecdsa_and_ed25519_round_trip() {
        let rng = SystemRandom::new();
        for (alg, signing) in [
            (Algorithm::ES256, &ring_sig::ECDSA_P256_SHA256_FIXED_SIGNING),
            (Algorithm::ES384, &ring_sig::ECDSA_P384_SHA384_FIXED_SIGNING),
        ] {
            let pkcs8 = EcdsaKeyPair::generate_pkcs8(signing, &rng).unwrap();
            let signer =
                (RING_PROVIDER.signer_factory)(&alg, &EncodingKey::from_ec_der(pkcs8.as_ref()))
                    .unwrap();
            let sig = signer.try_sign(b"msg").unwrap();
            let (_, x, y) =
                (RING_PROVIDER.key_utils.ec_pub_components_from_private_key)(pkcs8.as_ref(), alg)
                    .unwrap();
            let mut point = vec![4];
            point.extend(x);
            point.extend(y);
            assert!(verify(alg, &DecodingKey::from_ec_der(&point), b"msg", &sig));
            assert!(!verify(
                alg,
                &DecodingKey::from_ec_der(&point),
                b"other",
                &sig
            ));
        }
        let pkcs8 = Ed25519KeyPair::generate_pkcs8(&rng).unwrap();
        let pair = Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).unwrap();
        let signer = (RING_PROVIDER.signer_factory)(
            &Algorithm::EdDSA,
            &EncodingKey::from_ed_der(pkcs8.as_ref()),
        )
        .unwrap();
        let sig = signer.try_sign(b"msg").unwrap();
        let key = DecodingKey::from_ed_der(pair.public_key().as_ref());
        assert!(verify(Algorithm::EdDSA, &key, b"msg", &sig));
    }

    #[test]
    fn thumbprint_digest_uses_ring() {
        let d = compute_digest(b"abc", ThumbprintHash::SHA256).unwrap();
        assert_eq!(d.len(), 32);
        assert_eq!(d[0], 0xba);
    }
}
