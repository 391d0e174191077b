//! Tallies of the schemes seen: per operation, and over the whole API.

use std::collections::BTreeMap;

use moat_spec::SecurityPolicy;

use super::credential::{Credential, Scheme};
use super::jwt::JwtSeen;

/// Distinct schemes tallied per operation and over the API; further ones
/// (a client sending ever new key names) are counted as dropped.
pub const MAX_SCHEMES: usize = 32;

/// Whether an operation's requests carried credentials (or, read from a
/// document, must carry them).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AuthPresence {
    /// Every request carried one.
    Always,
    /// Some did, some did not: authentication looks optional.
    Sometimes,
    /// None did.
    Never,
    /// No request was seen: not known.
    #[default]
    Unobserved,
}

impl AuthPresence {
    /// From `requests` seen, `anonymous` of which carried no credential.
    pub fn from_counts(requests: u64, anonymous: u64) -> AuthPresence {
        match (requests, anonymous) {
            (0, _) => AuthPresence::Unobserved,
            (_, 0) => AuthPresence::Always,
            (r, a) if a >= r => AuthPresence::Never,
            _ => AuthPresence::Sometimes,
        }
    }

    /// From a documented security requirement, as the gateway enforces
    /// it: none required is [`AuthPresence::Never`], an alternative
    /// without credentials beside others is [`AuthPresence::Sometimes`].
    pub fn from_policy(policy: &SecurityPolicy) -> AuthPresence {
        if policy.alternatives.is_empty() {
            AuthPresence::Never
        } else if policy.allows_anonymous() {
            AuthPresence::Sometimes
        } else {
            AuthPresence::Always
        }
    }

    /// The name in reports: `always`, `sometimes`, `never`, `unobserved`.
    pub fn as_str(self) -> &'static str {
        match self {
            AuthPresence::Always => "always",
            AuthPresence::Sometimes => "sometimes",
            AuthPresence::Never => "never",
            AuthPresence::Unobserved => "unobserved",
        }
    }
}

/// The credentials one operation's requests carried.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuthSeen {
    requests: u64,
    anonymous: u64,
    schemes: BTreeMap<Scheme, u64>,
    dropped: u64,
}

impl AuthSeen {
    /// Counts one request and the credentials it carried (none: an
    /// anonymous request).
    pub fn observe(&mut self, credentials: &[Credential]) {
        self.requests += 1;
        if credentials.is_empty() {
            self.anonymous += 1;
        }
        for c in credentials {
            count(&mut self.schemes, &mut self.dropped, &c.scheme);
        }
    }

    /// Requests counted.
    pub fn requests(&self) -> u64 {
        self.requests
    }

    /// Requests that carried no credential.
    pub fn anonymous(&self) -> u64 {
        self.anonymous
    }

    /// Each scheme seen and how many requests carried it, in order.
    pub fn schemes(&self) -> impl Iterator<Item = (&Scheme, u64)> {
        self.schemes.iter().map(|(s, n)| (s, *n))
    }

    /// Credentials of schemes beyond [`MAX_SCHEMES`], counted only.
    pub fn dropped(&self) -> u64 {
        self.dropped
    }

    /// Whether the requests were always, sometimes or never authenticated.
    pub fn presence(&self) -> AuthPresence {
        AuthPresence::from_counts(self.requests, self.anonymous)
    }
}

fn count(map: &mut BTreeMap<Scheme, u64>, dropped: &mut u64, scheme: &Scheme) {
    if let Some(n) = map.get_mut(scheme) {
        *n += 1;
    } else if map.len() < MAX_SCHEMES {
        map.insert(scheme.clone(), 1);
    } else {
        *dropped += 1;
    }
}

/// The schemes seen over the whole API, each with what its JWTs had.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SchemesSeen {
    schemes: BTreeMap<Scheme, SchemeSeen>,
    dropped: u64,
}

/// One scheme over the API.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SchemeSeen {
    /// Requests that carried it.
    pub requests: u64,
    /// Its JWTs' algorithms and claim names (bearer JWTs, and keys or
    /// cookies whose values were JWTs); empty when none was.
    pub jwt: JwtSeen,
}

impl SchemesSeen {
    /// Adds one request's credentials.
    pub fn observe(&mut self, credentials: &[Credential]) {
        for c in credentials {
            let seen = if let Some(seen) = self.schemes.get_mut(&c.scheme) {
                seen
            } else if self.schemes.len() < MAX_SCHEMES {
                self.schemes.entry(c.scheme.clone()).or_default()
            } else {
                self.dropped += 1;
                continue;
            };
            seen.requests += 1;
            if let Some(jwt) = &c.jwt {
                seen.jwt.add(jwt);
            }
        }
    }

    /// Each scheme, in order.
    pub fn iter(&self) -> impl Iterator<Item = (&Scheme, &SchemeSeen)> {
        self.schemes.iter()
    }

    /// Whether no credential was seen.
    pub fn is_empty(&self) -> bool {
        self.schemes.is_empty()
    }

    /// Credentials of schemes beyond [`MAX_SCHEMES`], counted only.
    pub fn dropped(&self) -> u64 {
        self.dropped
    }
}
