//! Security events: what moat decided and noticed, one structured record
//! each, kept in a tamper-evident chain.
//!
//! - [`Event`]: one occurrence (a denial, a monitored or flagged finding,
//!   an authentication failure, a ban, an admin action, …) with redacted
//!   evidence: never a credential, never a whole payload.
//! - [`EventStore`]: what a backend does: append (chaining each event to
//!   the one before), query with filters and a cursor, apply retention,
//!   verify the chain. [`crate::SqliteStore`] and [`crate::PostgresStore`]
//!   implement it.
//! - [`chain`]: the hash chain, shared by every backend and by
//!   `moat audit verify`.

pub mod admin;
pub mod chain;
pub(crate) mod sqlite;
mod summary;

pub use summary::{EventSummary, KindCount, NameCount, OperationCount};

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::store::StoreError;

/// Milliseconds since the Unix epoch, UTC: the time of an event.
pub type UnixMillis = i64;

/// The current time as [`UnixMillis`].
pub fn unix_millis_now() -> UnixMillis {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// The control (or part of moat) an event comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Control {
    /// The listener refused the connection's request before the pipeline
    /// (head limits, a head hyper's parser refused).
    Listener,
    /// Routing: undocumented (shadow) and deprecated (zombie) operations,
    /// ambiguous or malformed requests, method overrides.
    Routing,
    /// Authentication: missing or refused credentials, lockout.
    Identity,
    /// Function-level authorization: scopes and roles.
    Authorization,
    /// Object-level authorization: ownership and bindings.
    ObjectAccess,
    /// Bans, rate limits, quotas, concurrency, body size.
    Admission,
    /// Request validation against the document's schemas.
    Validation,
    /// Attack inspection of every value.
    Inspection,
    /// Response filtering, masking and error scrubbing; answer drift.
    Response,
    /// The anomaly detectors (stuffing, enumeration, scraping, error storms).
    Anomaly,
    /// The upstream: unreachable, timed out, login failures it answered.
    Upstream,
    /// An action taken through the admin API or the CLI.
    Admin,
}

impl Control {
    /// Every control, in declaration order.
    pub const ALL: [Control; 12] = [
        Control::Listener,
        Control::Routing,
        Control::Identity,
        Control::Authorization,
        Control::ObjectAccess,
        Control::Admission,
        Control::Validation,
        Control::Inspection,
        Control::Response,
        Control::Anomaly,
        Control::Upstream,
        Control::Admin,
    ];

    /// The name in JSON, filters and the console.
    pub fn as_str(self) -> &'static str {
        match self {
            Control::Listener => "listener",
            Control::Routing => "routing",
            Control::Identity => "identity",
            Control::Authorization => "authorization",
            Control::ObjectAccess => "object-access",
            Control::Admission => "admission",
            Control::Validation => "validation",
            Control::Inspection => "inspection",
            Control::Response => "response",
            Control::Anomaly => "anomaly",
            Control::Upstream => "upstream",
            Control::Admin => "admin",
        }
    }

    /// The control named `name`, as [`Control::as_str`] writes it.
    pub fn parse(name: &str) -> Option<Control> {
        Control::ALL.into_iter().find(|c| c.as_str() == name)
    }
}

/// How much an event matters, from least to most.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Severity {
    /// Worth keeping: an admin action, a flagged answer.
    Info,
    /// A refusal of an ordinary mistake (a malformed request, a missing
    /// credential).
    Low,
    /// A refusal that may be probing: a shadow endpoint, a refused
    /// credential, a validation failure, a rate limit.
    Medium,
    /// An attack or a breach of authorization: detected injection, an
    /// ownership violation, a lockout, a ban.
    High,
    /// An attack moat let through (monitor mode) or an anomaly detector's
    /// ban.
    Critical,
}

impl Severity {
    /// Every severity, least first.
    pub const ALL: [Severity; 5] = [
        Severity::Info,
        Severity::Low,
        Severity::Medium,
        Severity::High,
        Severity::Critical,
    ];

    /// The name in JSON and filters.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
            Severity::Critical => "critical",
        }
    }

    /// The severity named `name`.
    pub fn parse(name: &str) -> Option<Severity> {
        Severity::ALL.into_iter().find(|s| s.as_str() == name)
    }

    /// Its rank, 0 (info) to 4 (critical): how stores compare severities.
    pub fn rank(self) -> i64 {
        self as i64
    }
}

/// What moat did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Action {
    /// The request (or answer) was refused.
    Denied,
    /// A control would have refused it; monitor mode let it through.
    Monitored,
    /// Let through with a finding (masked data, a deprecated operation).
    Flagged,
    /// A subject was banned.
    Banned,
    /// Recorded only: an admin action, a configuration reload.
    Recorded,
}

impl Action {
    /// Every action.
    pub const ALL: [Action; 5] = [
        Action::Denied,
        Action::Monitored,
        Action::Flagged,
        Action::Banned,
        Action::Recorded,
    ];

    /// The name in JSON and filters.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Denied => "denied",
            Action::Monitored => "monitored",
            Action::Flagged => "flagged",
            Action::Banned => "banned",
            Action::Recorded => "recorded",
        }
    }

    /// The action named `name`.
    pub fn parse(name: &str) -> Option<Action> {
        Action::ALL.into_iter().find(|a| a.as_str() == name)
    }
}

/// One security event.
///
/// `kind` is the finding's stable slug: for refusals, the problem type of
/// the answer (`attack-detected`, `shadow-endpoint`, … see
/// docs/problems.md); for admin actions, `key-created`, `ban-lifted`, ….
/// Evidence is redacted by whoever builds the event: a short excerpt with
/// credentials removed, never a whole payload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    /// A random id (UUID v4), unique across nodes.
    pub id: String,
    /// When it happened.
    pub time: UnixMillis,
    /// The request it belongs to (absent for admin actions).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    /// The API's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api: Option<String>,
    /// The operation (`operationId`, or `METHOD /template`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operation: Option<String>,
    /// The verified consumer, or the presented credential's owner as far
    /// as known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub consumer: Option<String>,
    /// The client's address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client: Option<String>,
    /// The HTTP method and canonical path of the request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub method: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    /// The canonical path.
    pub path: Option<String>,
    /// The control that decided.
    pub control: Control,
    /// The finding's slug.
    pub kind: String,
    /// The rule or detector (`sqli`, `scope`, `enumeration`, …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rule: Option<String>,
    /// Where in the request (`query.q`, `body/name`, `header.user-agent`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
    /// How much it matters.
    pub severity: Severity,
    /// What moat did.
    pub action: Action,
    /// The HTTP status the client got (absent for admin actions).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    /// Redacted evidence: a short explanation or excerpt.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub evidence: Option<String>,
    /// Who did it, for admin actions (`token:ops-laptop`, `cli`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actor: Option<String>,
    /// A summary of repeated events: how many more like it (same address,
    /// consumer, kind, operation and action) it stands for, seen in its
    /// window and not stored one by one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repeats: Option<u64>,
}

impl Event {
    /// A new event of `kind` from `control`, now, with a fresh id and
    /// every optional field empty.
    pub fn new(
        control: Control,
        kind: impl Into<String>,
        severity: Severity,
        action: Action,
    ) -> Self {
        Event {
            id: new_event_id(),
            time: unix_millis_now(),
            request_id: None,
            api: None,
            operation: None,
            consumer: None,
            client: None,
            method: None,
            path: None,
            control,
            kind: kind.into(),
            rule: None,
            location: None,
            severity,
            action,
            status: None,
            evidence: None,
            actor: None,
            repeats: None,
        }
    }
}

/// A random UUID v4, as text.
fn new_event_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// An event as a store holds it: its place in the chain and its hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredEvent {
    /// Its position: 1, 2, 3, … in the order it was appended. Also the
    /// cursor of queries.
    pub seq: i64,
    /// The event.
    #[serde(flatten)]
    pub event: Event,
    /// The hash of the event before it (hex), or of the retention anchor.
    pub prev_hash: String,
    /// `chain::link(prev_hash, event)` (hex).
    pub hash: String,
}

/// Which events a query returns. Every filter is optional; they combine
/// with AND.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EventQuery {
    /// At or after this time.
    pub since: Option<UnixMillis>,
    /// Before this time.
    pub until: Option<UnixMillis>,
    /// Exactly this API.
    pub api: Option<String>,
    /// Exactly this operation.
    pub operation: Option<String>,
    /// Exactly this consumer.
    pub consumer: Option<String>,
    /// Exactly this client address.
    pub client: Option<String>,
    /// Exactly this control.
    pub control: Option<Control>,
    /// Exactly this kind.
    pub kind: Option<String>,
    /// At least this severity.
    pub min_severity: Option<Severity>,
    /// Exactly this action.
    pub action: Option<Action>,
    /// Where to continue, and in which direction.
    pub cursor: Cursor,
    /// At most this many events (a store may cap it).
    pub limit: u32,
}

/// Where a page of events starts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Cursor {
    /// The newest events, newest first.
    #[default]
    Newest,
    /// Events older than `seq`, newest first (the next page back).
    Before(i64),
    /// Events newer than `seq`, oldest first (following the stream).
    After(i64),
}

/// The largest page a query returns.
pub const MAX_PAGE: u32 = 1000;

/// One page of a query.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EventPage {
    /// The events, in the cursor's order.
    pub events: Vec<StoredEvent>,
    /// The cursor for the next page in the same direction, when there may
    /// be more.
    pub next: Option<i64>,
}

/// How long events are kept, and how many. Either bound may be off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retention {
    /// Events older than this many milliseconds are removed.
    pub max_age_ms: Option<i64>,
    /// Only the newest this many events are kept.
    pub max_events: Option<u64>,
    /// Only the newest events whose JSON adds up to at most this many
    /// bytes are kept.
    pub max_bytes: Option<u64>,
}

/// What `verify` found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ChainReport {
    /// Events checked.
    pub checked: u64,
    /// The first seq still stored (older ones went by retention).
    pub first_seq: Option<i64>,
    /// The hash of the newest event: write it down elsewhere to detect
    /// removal of the newest events later.
    pub head: Option<String>,
    /// Every break found, in chain order. Empty: the chain is intact.
    pub problems: Vec<chain::ChainProblem>,
}

/// Storage of security events.
#[async_trait]
pub trait EventStore: Send + Sync {
    /// Appends `events` in order, each chained to the one before, in one
    /// transaction: all are stored or none. Returns the seq of the last.
    async fn append(&self, events: &[Event]) -> Result<i64, StoreError>;

    /// The event with this id, if it is stored.
    async fn get(&self, id: &str) -> Result<Option<StoredEvent>, StoreError>;

    /// A page of events matching `query`.
    async fn query(&self, query: &EventQuery) -> Result<EventPage, StoreError>;

    /// Removes what `retention` no longer keeps, oldest first, and moves
    /// the chain's anchor to the hash of the last removed event. Returns
    /// how many were removed.
    async fn prune(&self, retention: Retention, now: UnixMillis) -> Result<u64, StoreError>;

    /// Walks the whole chain and reports every break, including a newest
    /// event that is not the head recorded by the last append.
    async fn verify(&self) -> Result<ChainReport, StoreError>;

    /// Events since `since` counted for an overview: denials by kind per
    /// `bucket_ms`, and the `top` operations, client addresses and
    /// consumers the events named.
    async fn summary(
        &self,
        since: UnixMillis,
        bucket_ms: i64,
        top: u32,
    ) -> Result<EventSummary, StoreError>;
}
