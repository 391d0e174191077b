//! Real object ids the scan has seen, per identity: what object-level
//! checks try as someone else.
//!
//! Harvesting ([`crate::harvest`]) fills this from list and read answers
//! (and, with writes allowed, from what each identity creates). Values are
//! kept per path or query parameter name they fit (`bookId`, `title`),
//! with how they were found, so a check can tell an object an identity
//! created or alone can see from one everybody sees.

use std::collections::{BTreeMap, BTreeSet};

/// How a value was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Provenance {
    /// The identity created the object.
    Created,
    /// The identity's list or read answers carried it.
    Seen,
}

/// One harvested value.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Harvested {
    pub value: String,
    pub provenance: Provenance,
    /// The operation whose answer (or request) carried it, `GET /books`.
    pub source: String,
}

/// Harvested values: identity name → parameter name → values.
#[derive(Debug, Clone, Default)]
pub struct Objects {
    by_identity: BTreeMap<String, BTreeMap<String, BTreeSet<Harvested>>>,
    /// Each identity's own account record, as an answer showed it (an item
    /// whose `name`, `username` or `email` is the identity's).
    accounts: BTreeMap<String, serde_json::Map<String, serde_json::Value>>,
}

/// Path parameter names that address a user account (`userId`,
/// `account_id`), compared without case or `_`/`-`.
pub fn is_account_param(name: &str) -> bool {
    let flat: String = name
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .collect::<String>()
        .to_ascii_lowercase();
    matches!(
        flat.as_str(),
        "userid" | "accountid" | "uid" | "customerid" | "memberid"
    )
}

/// The most values kept per identity and parameter.
const MAX_VALUES: usize = 50;

impl Objects {
    pub fn add(&mut self, identity: &str, param: &str, value: Harvested) {
        let values = self
            .by_identity
            .entry(identity.to_string())
            .or_default()
            .entry(param.to_string())
            .or_default();
        if values.len() < MAX_VALUES || value.provenance == Provenance::Created {
            // A created object replaces a seen one with the same value.
            values.retain(|v| v.value != value.value || v.provenance <= value.provenance);
            if !values.iter().any(|v| v.value == value.value) {
                values.insert(value);
            }
        }
    }

    /// The values `identity` has for `param`.
    pub fn of(&self, identity: &str, param: &str) -> Vec<&Harvested> {
        self.by_identity
            .get(identity)
            .and_then(|p| p.get(param))
            .map(|v| v.iter().collect())
            .unwrap_or_default()
    }

    /// Any value for `param`, whoever found it, created ones first.
    pub fn any(&self, param: &str) -> Option<&str> {
        let mut all: Vec<&Harvested> = self
            .by_identity
            .values()
            .filter_map(|p| p.get(param))
            .flatten()
            .collect();
        all.sort_by_key(|h| h.provenance);
        all.first().map(|h| h.value.as_str())
    }

    /// Values of `param` that belong to `owner`: created by it, or seen by
    /// it and by no other identity listed in `others`.
    pub fn owned_by(&self, owner: &str, param: &str, others: &[&str]) -> Vec<&Harvested> {
        self.of(owner, param)
            .into_iter()
            .filter(|h| {
                h.provenance == Provenance::Created
                    || others
                        .iter()
                        .all(|o| !self.of(o, param).iter().any(|x| x.value == h.value))
            })
            .collect()
    }

    /// Parameter names with at least one value.
    pub fn params(&self) -> BTreeSet<&str> {
        self.by_identity
            .values()
            .flat_map(|p| p.keys().map(String::as_str))
            .collect()
    }

    pub fn is_empty(&self) -> bool {
        self.by_identity.values().all(BTreeMap::is_empty)
    }

    /// Records `record` as `identity`'s own account (the first one seen
    /// stays).
    pub fn set_account(
        &mut self,
        identity: &str,
        record: serde_json::Map<String, serde_json::Value>,
    ) {
        self.accounts.entry(identity.to_string()).or_insert(record);
    }

    /// `identity`'s own account record, when an answer showed it.
    pub fn account(&self, identity: &str) -> Option<&serde_json::Map<String, serde_json::Value>> {
        self.accounts.get(identity)
    }

    /// The id of `identity`'s own account (its record's `id`).
    pub fn account_id(&self, identity: &str) -> Option<String> {
        self.account(identity)
            .and_then(|a| a.get("id"))
            .and_then(crate::checks::scalar_text)
    }
}
