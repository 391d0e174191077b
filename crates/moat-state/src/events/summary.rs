//! What the overview shows: events counted by time and kind, and the
//! operations, addresses and consumers most events name.

use serde::Serialize;

use super::UnixMillis;

/// Events counted over a window.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct EventSummary {
    /// Denials by kind, per bucket (buckets with none are left out).
    pub denials: Vec<KindCount>,
    /// The operations most events named (`api`, `operation`, count).
    pub top_operations: Vec<OperationCount>,
    /// The client addresses most events named.
    pub top_clients: Vec<NameCount>,
    /// The consumers most events named.
    pub top_consumers: Vec<NameCount>,
    /// Events in the window.
    pub events: u64,
}

/// Events of one kind in one bucket.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct KindCount {
    /// The bucket's start.
    pub start: UnixMillis,
    /// The kind.
    pub kind: String,
    /// How many.
    pub count: u64,
}

/// Events that named one operation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OperationCount {
    /// The API.
    pub api: String,
    /// The operation.
    pub operation: String,
    /// How many.
    pub events: u64,
}

/// Events that named one address or consumer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NameCount {
    /// The address or consumer.
    pub name: String,
    /// How many.
    pub events: u64,
}
