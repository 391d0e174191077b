//! Brute-force lockout around verification: who failures count against,
//! whether a lockout is in force, and recording an attempt.

use std::time::Duration;

use moat_guard::identity::{Credential, IdentityDecision};
use moat_state::{LockoutStore, LockoutSubject};
use std::net::IpAddr;

/// Who failures are counted against, besides the client address: the part
/// of a credential that names it (never the secret part).
pub(super) fn lockout_subject(credential: &Credential) -> Option<String> {
    match credential {
        Credential::ApiKey(key) => Some(match moat_state::format::parse(key) {
            Ok(k) => format!("apikey:{}", k.key_id()),
            // Not a key moat issues: named by a digest of what was sent, so
            // a client retrying it is one credential (and its text is
            // never kept or logged).
            Err(_) => {
                let digest = ring::digest::digest(&ring::digest::SHA256, key.as_bytes());
                let hex: String = digest.as_ref()[..8]
                    .iter()
                    .map(|b| format!("{b:02x}"))
                    .collect();
                format!("apikey:malformed-{hex}")
            }
        }),
        Credential::Basic { user, .. } => Some(format!("basic:{user}")),
        // Guessing a signed token or an opaque token is not a brute-force
        // target; the client address still counts its failures.
        Credential::Bearer(_) | Credential::ClientCertificate => None,
    }
}

/// What the lockouts in force say of a request that presents credentials.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Lock {
    /// Verify as usual.
    Open,
    /// A presented credential is under attack from many addresses: verify
    /// it, after the slowdown. Its owner is slowed down, never refused.
    Slowed,
    /// The client address, or a presented credential from this address, is
    /// locked out for this long yet: refuse without verifying.
    Refused(Duration),
}

/// What the lockout store says of a request that presents credentials.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Checked {
    /// Whether to verify, slowly, or not at all.
    pub(crate) lock: Lock,
    /// No credential has failures on record (a success has nothing to
    /// clear).
    pub(crate) clean: bool,
    /// Every credential presented has failed from this address within the
    /// window already: a client retrying what it was refused (an old key
    /// in a script, a mistyped password), not guessing another one. Its
    /// next failure counts against the credential, not the address again,
    /// so the address lockout counts the distinct credentials that failed
    /// from it, and one misconfigured client does not lock out everyone
    /// behind its address.
    pub(crate) repeated: bool,
}

/// Before verifying: the longest lockout in force on the client or on a
/// credential from it (refused), else whether a credential is locked out
/// from elsewhere (slowed down, but verified: lockout is a brake on
/// guessing, and the credential is still verified); and what recording the
/// attempt needs. Every subject in one look-up.
pub(crate) async fn checked_for(
    store: &dyn LockoutStore,
    client: IpAddr,
    subjects: &[String],
) -> Checked {
    let now = std::time::SystemTime::now();
    let mut asked = vec![LockoutSubject::Client(client)];
    for s in subjects {
        asked.push(LockoutSubject::CredentialFrom(s, client));
        asked.push(LockoutSubject::Credential(s));
    }
    let states = match store.states(&asked, now).await {
        Ok(states) => states,
        Err(e) => {
            crate::log_throttle::warn_throttled!(error = %e, "lockout store unavailable; not enforcing lockouts");
            return Checked {
                lock: Lock::Open,
                clean: false,
                repeated: false,
            };
        }
    };
    let clean = states.iter().skip(1).all(|s| !s.failures);
    let from_here = || states.iter().enumerate().filter(|(i, _)| i % 2 == 1);
    let repeated = !subjects.is_empty() && from_here().all(|(_, s)| s.failures);
    // The client and each credential from it refuse; a credential locked
    // out from elsewhere only slows down.
    let refusing = states
        .iter()
        .enumerate()
        .filter(|(i, _)| *i == 0 || i % 2 == 1);
    let lock = if let Some(longest) = refusing.filter_map(|(_, s)| s.locked).max() {
        Lock::Refused(longest)
    } else if states
        .iter()
        .enumerate()
        .any(|(i, s)| i > 0 && i % 2 == 0 && s.locked.is_some())
    {
        Lock::Slowed
    } else {
        Lock::Open
    };
    Checked {
        lock,
        clean,
        repeated,
    }
}

/// What was tried, for the log lines of the lockouts it starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Tried {
    /// A credential moat verifies.
    Credential,
    /// An account named in a login the upstream performs.
    LoginAccount,
}

/// Counts a refusal against the client and the credential ids; a success
/// clears the credentials' counts (not the client's: one valid key must not
/// reset an address that is guessing at others).
pub(super) async fn record_attempt(
    store: &dyn LockoutStore,
    client: IpAddr,
    subjects: &[String],
    decision: &IdentityDecision,
    checked: Checked,
) {
    match decision {
        IdentityDecision::Invalid { .. } => {
            record_failure(store, client, subjects, Tried::Credential, checked.repeated).await;
        }
        // Nothing on record to clear: no write on the common path.
        IdentityDecision::Allowed(Some(_)) if !checked.clean => {
            record_success(store, client, subjects).await;
        }
        _ => {}
    }
}

/// A failed attempt: counted against the client address (unless it
/// `repeated` a failure, see [`Checked::repeated`]), each subject from this
/// address, and each subject alone.
pub(crate) async fn record_failure(
    store: &dyn LockoutStore,
    client: IpAddr,
    subjects: &[String],
    tried: Tried,
    repeated: bool,
) {
    let now = std::time::SystemTime::now();
    let what = match tried {
        Tried::Credential => "refused credentials",
        Tried::LoginAccount => "failed logins",
    };
    if !repeated
        && let Ok(Some(d)) = store
            .record_failure(&LockoutSubject::Client(client), now)
            .await
    {
        tracing::warn!(%client, seconds = d.as_secs(), "lockout after repeated {what}: the client address is locked out");
    }
    for s in subjects {
        if let Ok(Some(d)) = store
            .record_failure(&LockoutSubject::CredentialFrom(s, client), now)
            .await
        {
            tracing::warn!(credential = %s, %client, seconds = d.as_secs(),
                "lockout after repeated {what}: the credential is locked out for this client");
        }
        if let Ok(Some(d)) = store
            .record_failure(&LockoutSubject::Credential(s), now)
            .await
        {
            tracing::warn!(credential = %s, seconds = d.as_secs(),
                "lockout after repeated {what} from several clients: the credential is slowed down");
        }
    }
}

/// A successful attempt: clears each subject's counts, from this address
/// and alone.
pub(crate) async fn record_success(store: &dyn LockoutStore, client: IpAddr, subjects: &[String]) {
    let now = std::time::SystemTime::now();
    for s in subjects {
        let _ = store
            .record_success(&LockoutSubject::CredentialFrom(s, client), now)
            .await;
        let _ = store
            .record_success(&LockoutSubject::Credential(s), now)
            .await;
    }
}
