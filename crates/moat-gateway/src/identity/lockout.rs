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
        Credential::ApiKey(key) => moat_state::format::parse(key)
            .ok()
            .map(|k| format!("apikey:{}", k.key_id())),
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

/// The lockouts in force for the client and the presented credentials:
/// the client address, and each credential as tried from this address,
/// refuse; a credential locked everywhere slows down. A store error lets
/// the request through: lockout is a brake on guessing, and the credential
/// is still verified.
pub(crate) async fn locked_for(
    store: &dyn LockoutStore,
    client: IpAddr,
    subjects: &[String],
) -> Lock {
    let now = std::time::SystemTime::now();
    let mut longest: Option<Duration> = None;
    let mut check = |r: Result<Option<Duration>, moat_state::StoreError>| match r {
        Ok(Some(d)) => longest = Some(longest.map_or(d, |l| l.max(d))),
        Ok(None) => {}
        Err(e) => tracing::warn!(error = %e, "lockout store unavailable; not enforcing lockouts"),
    };
    check(store.locked(&LockoutSubject::Client(client), now).await);
    for s in subjects {
        check(
            store
                .locked(&LockoutSubject::CredentialFrom(s, client), now)
                .await,
        );
    }
    if let Some(d) = longest {
        return Lock::Refused(d);
    }
    for s in subjects {
        if let Ok(Some(_)) = store.locked(&LockoutSubject::Credential(s), now).await {
            return Lock::Slowed;
        }
    }
    Lock::Open
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
) {
    match decision {
        IdentityDecision::Invalid { .. } => {
            record_failure(store, client, subjects, Tried::Credential).await;
        }
        IdentityDecision::Allowed(Some(_)) => record_success(store, client, subjects).await,
        _ => {}
    }
}

/// A failed attempt: counted against the client address, each subject
/// from this address, and each subject alone.
pub(crate) async fn record_failure(
    store: &dyn LockoutStore,
    client: IpAddr,
    subjects: &[String],
    tried: Tried,
) {
    let now = std::time::SystemTime::now();
    let what = match tried {
        Tried::Credential => "refused credentials",
        Tried::LoginAccount => "failed logins",
    };
    if let Ok(Some(d)) = store
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
