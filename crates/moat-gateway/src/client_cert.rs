//! What a verified client certificate says about its holder.
//!
//! The listener's TLS layer has already verified the certificate against
//! the configured CA; this reads the parts consumers are matched on.

use x509_parser::extensions::GeneralName;
use x509_parser::prelude::{FromDer, X509Certificate};

/// The identifying parts of a client certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientCert {
    /// SHA-256 of the DER encoding, lower-case hex without separators.
    pub fingerprint: String,
    /// The subject's common names.
    pub subject_cn: Vec<String>,
    /// DNS names, e-mail addresses and URIs of the subject alternative names.
    pub sans: Vec<String>,
}

impl ClientCert {
    /// Reads a DER certificate; `None` if it cannot be parsed (it was
    /// verified by rustls, so this does not happen for well-formed chains).
    pub fn from_der(der: &[u8]) -> Option<Self> {
        let digest = ring::digest::digest(&ring::digest::SHA256, der);
        let fingerprint = digest.as_ref().iter().map(|b| format!("{b:02x}")).collect();
        let (_, cert) = X509Certificate::from_der(der).ok()?;
        let subject_cn = cert
            .subject()
            .iter_common_name()
            .filter_map(|cn| cn.as_str().ok().map(str::to_string))
            .collect();
        let mut sans = Vec::new();
        if let Ok(Some(ext)) = cert.subject_alternative_name() {
            for name in &ext.value.general_names {
                match name {
                    GeneralName::DNSName(s) | GeneralName::RFC822Name(s) | GeneralName::URI(s) => {
                        sans.push((*s).to_string())
                    }
                    _ => {}
                }
            }
        }
        Some(Self {
            fingerprint,
            subject_cn,
            sans,
        })
    }

    /// Whether this certificate fits a configured match: every field the
    /// match gives must agree.
    pub fn matches(&self, m: &moat_config::CertificateMatch) -> bool {
        let fingerprint_ok = m.fingerprint.as_ref().is_none_or(|f| {
            let f: String = f.chars().filter(|c| *c != ':').collect();
            f.eq_ignore_ascii_case(&self.fingerprint)
        });
        let cn_ok = m
            .subject_cn
            .as_ref()
            .is_none_or(|cn| self.subject_cn.iter().any(|c| c == cn));
        let san_ok = m
            .san
            .as_ref()
            .is_none_or(|san| self.sans.iter().any(|s| s.eq_ignore_ascii_case(san)));
        fingerprint_ok && cn_ok && san_ok
    }
}
