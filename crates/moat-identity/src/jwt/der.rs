//! Just enough DER to read a SubjectPublicKeyInfo (the `PUBLIC KEY` PEM
//! block) and a PKCS#1 RSAPublicKey.
//!
//! jsonwebtoken's `use_pem` feature would do this by searching the ASN.1
//! tree for the first bit string, which also accepts certificates and
//! private keys in surprising ways and pulls in a second `pem` version and
//! `simple_asn1`. These are fixed structures, read here strictly: wrong
//! tags, indefinite lengths and trailing bytes are refused.

const TAG_INTEGER: u8 = 0x02;
const TAG_BIT_STRING: u8 = 0x03;
const TAG_NULL: u8 = 0x05;
const TAG_OID: u8 = 0x06;
const TAG_SEQUENCE: u8 = 0x30;

/// rsaEncryption, 1.2.840.113549.1.1.1.
const OID_RSA: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01];
/// id-ecPublicKey, 1.2.840.10045.2.1.
const OID_EC: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01];
/// prime256v1 (P-256), 1.2.840.10045.3.1.7.
const OID_P256: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];
/// secp384r1 (P-384), 1.3.132.0.34.
const OID_P384: &[u8] = &[0x2b, 0x81, 0x04, 0x00, 0x22];
/// id-Ed25519, 1.3.101.112.
const OID_ED25519: &[u8] = &[0x2b, 0x65, 0x70];

/// A public key read from a SubjectPublicKeyInfo.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum PublicKey {
    /// RSA modulus and exponent, big-endian without leading zeros.
    Rsa { n: Vec<u8>, e: Vec<u8> },
    /// An uncompressed P-256 point (`04 || x || y`).
    EcP256(Vec<u8>),
    /// An uncompressed P-384 point.
    EcP384(Vec<u8>),
    /// The 32-byte Ed25519 public key.
    Ed25519(Vec<u8>),
}

/// Reads a DER SubjectPublicKeyInfo.
pub(crate) fn parse_spki(der: &[u8]) -> Result<PublicKey, &'static str> {
    let mut outer = Reader::new(der);
    let spki = outer.expect(TAG_SEQUENCE)?;
    outer.finish()?;
    let mut spki = Reader::new(spki);
    let mut alg = Reader::new(spki.expect(TAG_SEQUENCE)?);
    let key = spki.expect(TAG_BIT_STRING)?;
    spki.finish()?;
    let key = match key.split_first() {
        Some((0, bits)) => bits,
        _ => return Err("the key bit string has unused bits"),
    };
    let oid = alg.expect(TAG_OID)?;
    if oid == OID_RSA {
        // The parameters are NULL, or absent in some encoders.
        if !alg.is_empty() {
            alg.expect(TAG_NULL)?;
        }
        alg.finish()?;
        let (n, e) = parse_rsa_public_key(key)?;
        Ok(PublicKey::Rsa { n, e })
    } else if oid == OID_EC {
        let curve = alg.expect(TAG_OID)?;
        alg.finish()?;
        let (len, kind): (usize, fn(Vec<u8>) -> PublicKey) = if curve == OID_P256 {
            (65, PublicKey::EcP256)
        } else if curve == OID_P384 {
            (97, PublicKey::EcP384)
        } else {
            return Err("the EC curve is not P-256 or P-384 (ES256/ES384)");
        };
        if key.len() != len || key.first() != Some(&0x04) {
            return Err("the EC point is not in uncompressed form");
        }
        Ok(kind(key.to_vec()))
    } else if oid == OID_ED25519 {
        alg.finish()?;
        if key.len() != 32 {
            return Err("the Ed25519 key is not 32 bytes");
        }
        Ok(PublicKey::Ed25519(key.to_vec()))
    } else {
        Err("the key type is not RSA, EC (P-256/P-384) or Ed25519")
    }
}

/// Reads a PKCS#1 RSAPublicKey into modulus and exponent, big-endian with
/// leading zeros removed.
pub(crate) fn parse_rsa_public_key(der: &[u8]) -> Result<(Vec<u8>, Vec<u8>), &'static str> {
    let mut outer = Reader::new(der);
    let mut seq = Reader::new(outer.expect(TAG_SEQUENCE)?);
    outer.finish()?;
    let n = positive(seq.expect(TAG_INTEGER)?)?;
    let e = positive(seq.expect(TAG_INTEGER)?)?;
    seq.finish()?;
    Ok((n.to_vec(), e.to_vec()))
}

/// The magnitude of a DER INTEGER that must be positive.
fn positive(int: &[u8]) -> Result<&[u8], &'static str> {
    match int.first() {
        None => Err("empty integer"),
        Some(b) if b & 0x80 != 0 => Err("negative integer"),
        Some(_) => {
            let start = int.iter().position(|b| *b != 0).unwrap_or(int.len());
            let magnitude = &int[start..];
            if magnitude.is_empty() {
                Err("zero integer")
            } else {
                Ok(magnitude)
            }
        }
    }
}

/// A cursor over DER tag-length-value items.
struct Reader<'a> {
    input: &'a [u8],
}

impl<'a> Reader<'a> {
    fn new(input: &'a [u8]) -> Self {
        Self { input }
    }

    fn is_empty(&self) -> bool {
        self.input.is_empty()
    }

    fn finish(&self) -> Result<(), &'static str> {
        if self.input.is_empty() {
            Ok(())
        } else {
            Err("unexpected trailing data")
        }
    }

    /// Reads one item, which must carry `tag`, and returns its contents.
    fn expect(&mut self, tag: u8) -> Result<&'a [u8], &'static str> {
        let (&found, rest) = self.input.split_first().ok_or("truncated DER")?;
        if found != tag {
            return Err("unexpected DER structure");
        }
        let (&first, mut rest) = rest.split_first().ok_or("truncated DER")?;
        let len = if first < 0x80 {
            usize::from(first)
        } else {
            // Long form; 0x80 (indefinite) is not DER. Four length bytes
            // are far more than any key needs.
            let count = usize::from(first & 0x7f);
            if count == 0 || count > 4 || rest.len() < count {
                return Err("bad DER length");
            }
            let (bytes, after) = rest.split_at(count);
            rest = after;
            let len = bytes
                .iter()
                .fold(0usize, |acc, b| (acc << 8) | usize::from(*b));
            if len < 0x80 || bytes.first() == Some(&0) {
                return Err("non-minimal DER length");
            }
            len
        };
        if rest.len() < len {
            return Err("truncated DER");
        }
        let (contents, after) = rest.split_at(len);
        self.input = after;
        Ok(contents)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    #[test]
    fn reads_an_ed25519_spki() {
        let mut der = hex("302a300506032b6570032100");
        der.extend([7u8; 32]);
        assert_eq!(parse_spki(&der).unwrap(), PublicKey::Ed25519(vec![7; 32]));
    }

    #[test]
    fn reads_a_p256_spki() {
        let mut der = hex("3059301306072a8648ce3d020106082a8648ce3d030107034200");
        der.push(4);
        der.extend([1u8; 64]);
        assert!(matches!(parse_spki(&der).unwrap(), PublicKey::EcP256(p) if p.len() == 65));
    }

    #[test]
    fn reads_an_rsa_public_key_and_strips_the_sign_byte() {
        // SEQUENCE { INTEGER 0x00 0x80 0x01, INTEGER 0x01 0x00 0x01 }
        let der = hex("300a020300800102030100 01".replace(' ', "").as_str());
        assert_eq!(
            parse_rsa_public_key(&der).unwrap(),
            (vec![0x80, 0x01], vec![1, 0, 1])
        );
    }

    #[test]
    fn refuses_trailing_data_truncation_and_other_keys() {
        let mut der = hex("302a300506032b6570032100");
        der.extend([7u8; 32]);
        let mut trailing = der.clone();
        trailing.push(0);
        assert!(parse_spki(&trailing).is_err());
        assert!(parse_spki(&der[..der.len() - 1]).is_err());
        // Ed448 (1.3.101.113).
        let mut ed448 = hex("3043300506032b6571033a00");
        ed448.extend([7u8; 57]);
        assert!(parse_spki(&ed448).is_err());
        // A compressed P-256 point.
        let mut compressed = hex("3039301306072a8648ce3d020106082a8648ce3d030107032200");
        compressed.push(2);
        compressed.extend([1u8; 32]);
        assert!(parse_spki(&compressed).is_err());
        assert!(parse_spki(&[]).is_err());
        assert!(parse_spki(&[0x30, 0x80, 0, 0]).is_err());
    }
}
