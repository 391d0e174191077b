//! Why a presented API key was not accepted.

use crate::format::MalformedKey;
use crate::store::StoreError;

/// A presented key that was not accepted.
///
/// The kinds exist for logs, metrics and lockout counting. The client must
/// not be able to tell them apart: answer every
/// [`is_credential_failure`](Self::is_credential_failure) the same way
/// (same status, body and headers), or the answers become an oracle for
/// which key ids exist and which keys were revoked.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeyRejection {
    /// Not a moat key at all (wrong prefix, length, alphabet or checksum).
    /// Decided without a store lookup.
    #[error("malformed API key: {0}")]
    Malformed(MalformedKey),
    /// Well-formed, but no key has this id.
    #[error("unknown API key id `{key_id}`")]
    Unknown {
        /// The id the client presented (it names no stored key).
        key_id: String,
    },
    /// The key id exists but the secret is wrong: a guess or a corrupted
    /// key. The one kind that says someone is trying a real key id.
    #[error("wrong secret for API key `{key_id}`")]
    WrongSecret {
        /// The stored key that was guessed at.
        key_id: String,
    },
    /// The right key, revoked.
    #[error("API key `{key_id}` is revoked")]
    Revoked {
        /// The key.
        key_id: String,
    },
    /// The right key, past its expiry (or its rotation deadline).
    #[error("API key `{key_id}` has expired")]
    Expired {
        /// The key.
        key_id: String,
    },
    /// The store could not be asked. Not the client's fault: answer
    /// "unavailable", not "unauthorized".
    #[error("cannot verify the API key: {0}")]
    Unavailable(#[source] StoreError),
}

impl KeyRejection {
    /// Whether this is the client's credential that failed (every kind but
    /// [`Unavailable`](Self::Unavailable)). All of these get one identical
    /// answer.
    pub fn is_credential_failure(&self) -> bool {
        !matches!(self, KeyRejection::Unavailable(_))
    }

    /// The key id the client presented, for lockout counting and logs; not
    /// secret. `None` for a malformed key (there is no id to trust) and
    /// when the store was unavailable.
    pub fn key_id(&self) -> Option<&str> {
        match self {
            KeyRejection::Unknown { key_id }
            | KeyRejection::WrongSecret { key_id }
            | KeyRejection::Revoked { key_id }
            | KeyRejection::Expired { key_id } => Some(key_id),
            KeyRejection::Malformed(_) | KeyRejection::Unavailable(_) => None,
        }
    }

    /// A stable short name for logs and metric labels.
    pub fn reason(&self) -> &'static str {
        match self {
            KeyRejection::Malformed(_) => "malformed",
            KeyRejection::Unknown { .. } => "unknown",
            KeyRejection::WrongSecret { .. } => "wrong-secret",
            KeyRejection::Revoked { .. } => "revoked",
            KeyRejection::Expired { .. } => "expired",
            KeyRejection::Unavailable(_) => "unavailable",
        }
    }
}
