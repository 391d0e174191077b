//! [`EventStore`] on the SQLite state file: table `security_events`, one
//! row per event, and the one-row `event_chain` (anchor, head, head seq,
//! total bytes). Every write is one `BEGIN IMMEDIATE` transaction, so the
//! gateway and the CLI appending at once still build one chain.

use std::collections::HashMap;

use async_trait::async_trait;
use sqlx::{QueryBuilder, Sqlite, SqliteConnection};

use super::chain::{self, Verifier};
use super::{
    Action, ChainReport, Control, Cursor, Event, EventPage, EventQuery, EventStore, EventSummary,
    KindCount, MAX_PAGE, NameCount, OperationCount, Retention, Severity, StoredEvent, UnixMillis,
};
use crate::row::ReadRow;
use crate::sqlite::SqliteStore;
use crate::sqlite_write::WriteTx;
use crate::store::StoreError;

/// The columns of a [`StoredEvent`], in the order [`from_row`] reads them.
macro_rules! event_columns {
    () => {
        "seq, id, time, request_id, api, operation, consumer, client, method, path, \
         control, kind, rule, location, severity, action, status, evidence, actor, \
         prev_hash, hash, repeats"
    };
}

/// The most frequent values of a column among refusals since `?1`, at
/// most `?2` of them. A macro so the query stays `&'static str`.
macro_rules! top_names {
    ($column:literal) => {
        concat!(
            "SELECT ",
            $column,
            ", SUM(1 + COALESCE(repeats, 0)) AS n FROM security_events
             WHERE time >= ?1 AND ",
            $column,
            " IS NOT NULL
               AND action IN ('denied', 'monitored', 'banned')
             GROUP BY ",
            $column,
            " ORDER BY n DESC, ",
            $column,
            " LIMIT ?2"
        )
    };
}

/// Page size when `verify` reads the chain: bounded memory whatever the
/// store's size.
pub(crate) const VERIFY_BATCH: i64 = 1000;

/// Rows per `INSERT` when appending: 64 rows of 23 values stay far below
/// SQLite's limit of 32766 bound values per statement.
pub(crate) const INSERT_CHUNK: usize = 64;

/// The page size of a query with `limit` 0.
pub(crate) const DEFAULT_PAGE: u32 = 100;

/// The `event_chain` row.
pub(crate) struct ChainState {
    pub(crate) anchor: String,
    pub(crate) head: String,
    pub(crate) head_seq: i64,
    pub(crate) total_bytes: i64,
}

/// An event ready to insert: its seq, previous hash, hash and size.
pub(crate) struct Linked<'a> {
    pub(crate) seq: i64,
    pub(crate) event: &'a Event,
    pub(crate) prev: String,
    pub(crate) hash: String,
    pub(crate) size: i64,
}

/// Links `events` after the head of `state`, moving the head; every
/// backend inserts what this returns.
pub(crate) fn link_all<'a>(state: &mut ChainState, events: &'a [Event]) -> Vec<Linked<'a>> {
    let mut linked = Vec::with_capacity(events.len());
    for event in events {
        let hash = chain::link(&state.head, event);
        let size = json_size(event);
        let seq = state.head_seq + 1;
        let prev = std::mem::replace(&mut state.head, hash.clone());
        linked.push(Linked {
            seq,
            event,
            prev,
            hash,
            size,
        });
        state.head_seq = seq;
        state.total_bytes = state.total_bytes.saturating_add(size);
    }
    linked
}

async fn chain_state(conn: &mut SqliteConnection) -> Result<ChainState, StoreError> {
    let (anchor, head, head_seq, total_bytes): (String, String, i64, i64) =
        sqlx::query_as("SELECT anchor, head, head_seq, total_bytes FROM event_chain WHERE id = 1")
            .fetch_optional(&mut *conn)
            .await?
            .ok_or_else(|| StoreError::Corrupt {
                key_id: "event_chain".into(),
                what: "no chain record (the row of table `event_chain` was deleted)".into(),
            })?;
    Ok(ChainState {
        anchor,
        head,
        head_seq,
        total_bytes,
    })
}

/// Why a stored row is not an event this code wrote.
pub(crate) fn corrupt(seq: i64, what: String) -> StoreError {
    StoreError::Corrupt {
        key_id: format!("event {seq}"),
        what,
    }
}

pub(crate) fn from_row(row: &impl ReadRow) -> Result<StoredEvent, StoreError> {
    let seq: i64 = row.col(0)?;
    let control: String = row.col(10)?;
    let severity: String = row.col(14)?;
    let action: String = row.col(15)?;
    let status: Option<i64> = row.col(16)?;
    let event = Event {
        id: row.col(1)?,
        time: row.col(2)?,
        request_id: row.col(3)?,
        api: row.col(4)?,
        operation: row.col(5)?,
        consumer: row.col(6)?,
        client: row.col(7)?,
        method: row.col(8)?,
        path: row.col(9)?,
        control: Control::parse(&control)
            .ok_or_else(|| corrupt(seq, format!("an unknown control `{control}`")))?,
        kind: row.col(11)?,
        rule: row.col(12)?,
        location: row.col(13)?,
        severity: Severity::parse(&severity)
            .ok_or_else(|| corrupt(seq, format!("an unknown severity `{severity}`")))?,
        action: Action::parse(&action)
            .ok_or_else(|| corrupt(seq, format!("an unknown action `{action}`")))?,
        status: status
            .map(u16::try_from)
            .transpose()
            .map_err(|_| corrupt(seq, "a status out of range".into()))?,
        evidence: row.col(17)?,
        actor: row.col(18)?,
        repeats: row
            .col::<Option<i64>>(21)?
            .map(u64::try_from)
            .transpose()
            .map_err(|_| corrupt(seq, "a negative repeat count".into()))?,
    };
    Ok(StoredEvent {
        seq,
        event,
        prev_hash: row.col(19)?,
        hash: row.col(20)?,
    })
}

/// For `verify`: a row that does not even decode (a column edited to a
/// value this code never writes) still has its place and its links; its
/// event is replaced by one that cannot match the stored hash, so the
/// chain check reports it as modified instead of the whole check failing.
pub(crate) fn for_verify(row: &impl ReadRow) -> Result<StoredEvent, StoreError> {
    match from_row(row) {
        Ok(e) => Ok(e),
        Err(StoreError::Corrupt { .. }) => {
            let mut event = Event::new(
                Control::Admin,
                "undecodable",
                Severity::Info,
                Action::Recorded,
            );
            event.id = String::new();
            event.time = 0;
            Ok(StoredEvent {
                seq: row.col(0)?,
                event,
                prev_hash: row.col(19)?,
                hash: row.col(20)?,
            })
        }
        Err(e) => Err(e),
    }
}

/// The size an event counts for in the byte budget: its JSON.
pub(crate) fn json_size(event: &Event) -> i64 {
    serde_json::to_vec(event).map_or(0, |v| i64::try_from(v.len()).unwrap_or(i64::MAX))
}

/// Appends `events` after the head inside the caller's transaction; the
/// new state.
async fn append_in(
    conn: &mut SqliteConnection,
    mut state: ChainState,
    events: &[Event],
) -> Result<ChainState, StoreError> {
    // Link every event first, then insert them with multi-row statements:
    // one round trip to SQLite's thread per chunk instead of per event.
    let linked = link_all(&mut state, events);
    for chunk in linked.chunks(INSERT_CHUNK) {
        let mut sql = QueryBuilder::<Sqlite>::new(concat!(
            "INSERT INTO security_events (",
            event_columns!(),
            ", severity_rank, size) "
        ));
        sql.push_values(chunk, |mut row, l| {
            let event = l.event;
            row.push_bind(l.seq)
                .push_bind(event.id.clone())
                .push_bind(event.time)
                .push_bind(event.request_id.clone())
                .push_bind(event.api.clone())
                .push_bind(event.operation.clone())
                .push_bind(event.consumer.clone())
                .push_bind(event.client.clone())
                .push_bind(event.method.clone())
                .push_bind(event.path.clone())
                .push_bind(event.control.as_str())
                .push_bind(event.kind.clone())
                .push_bind(event.rule.clone())
                .push_bind(event.location.clone())
                .push_bind(event.severity.as_str())
                .push_bind(event.action.as_str())
                .push_bind(event.status.map(i64::from))
                .push_bind(event.evidence.clone())
                .push_bind(event.actor.clone())
                .push_bind(l.prev.clone())
                .push_bind(l.hash.clone())
                .push_bind(event.repeats.map(|n| i64::try_from(n).unwrap_or(i64::MAX)))
                .push_bind(event.severity.rank())
                .push_bind(l.size);
        });
        sql.build().execute(&mut *conn).await?;
    }
    Ok(state)
}

async fn save_state(conn: &mut SqliteConnection, state: &ChainState) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE event_chain SET anchor = ?1, head = ?2, head_seq = ?3, total_bytes = ?4 \
         WHERE id = 1",
    )
    .bind(&state.anchor)
    .bind(&state.head)
    .bind(state.head_seq)
    .bind(state.total_bytes)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// The `SELECT` for `query`: every value bound, none pasted into the SQL.
/// Generic: the placeholders are the backend's (`?N` or `$N`).
pub(crate) fn select<DB>(q: &EventQuery, limit: u32) -> QueryBuilder<DB>
where
    DB: sqlx::Database,
    DB::Arguments: Default,
    for<'t> i64: sqlx::Encode<'t, DB> + sqlx::Type<DB>,
    for<'t> String: sqlx::Encode<'t, DB> + sqlx::Type<DB>,
{
    let mut sql = QueryBuilder::new(concat!(
        "SELECT ",
        event_columns!(),
        " FROM security_events WHERE 1 = 1"
    ));
    if let Some(since) = q.since {
        sql.push(" AND time >= ").push_bind(since);
    }
    if let Some(until) = q.until {
        sql.push(" AND time < ").push_bind(until);
    }
    let exact = [
        ("api", &q.api),
        ("operation", &q.operation),
        ("consumer", &q.consumer),
        ("client", &q.client),
        ("kind", &q.kind),
    ];
    for (column, value) in exact {
        if let Some(value) = value {
            // `column` is one of the names above, never input.
            sql.push(" AND ")
                .push(column)
                .push(" = ")
                .push_bind(value.clone());
        }
    }
    if let Some(control) = q.control {
        sql.push(" AND control = ")
            .push_bind(control.as_str().to_string());
    }
    if let Some(severity) = q.min_severity {
        sql.push(" AND severity_rank >= ")
            .push_bind(severity.rank());
    }
    if let Some(action) = q.action {
        sql.push(" AND action = ")
            .push_bind(action.as_str().to_string());
    }
    match q.cursor {
        Cursor::Newest => sql.push(" ORDER BY seq DESC"),
        Cursor::Before(seq) => sql
            .push(" AND seq < ")
            .push_bind(seq)
            .push(" ORDER BY seq DESC"),
        Cursor::After(seq) => sql
            .push(" AND seq > ")
            .push_bind(seq)
            .push(" ORDER BY seq ASC"),
    };
    sql.push(" LIMIT ").push_bind(i64::from(limit));
    sql
}

/// The seq up to which (inclusive) `retention` removes events; none when
/// it keeps them all. Only a prefix of the chain is ever removed, so what
/// stays still starts at the (moved) anchor.
async fn prune_boundary(
    conn: &mut SqliteConnection,
    retention: Retention,
    now: UnixMillis,
    state: &ChainState,
) -> Result<Option<i64>, StoreError> {
    let mut boundary: Option<i64> = None;
    let mut raise = |seq: Option<i64>| {
        if let Some(seq) = seq {
            boundary = Some(boundary.map_or(seq, |b| b.max(seq)));
        }
    };
    if let Some(max_age) = retention.max_age_ms {
        // Oldest first, up to the first event still young enough: an event
        // with a clock that ran behind keeps its successors, never leaves
        // a hole in the chain.
        let cutoff = now.saturating_sub(max_age);
        let first_kept: Option<i64> = sqlx::query_scalar(
            "SELECT seq FROM security_events WHERE time >= ?1 ORDER BY seq LIMIT 1",
        )
        .bind(cutoff)
        .fetch_optional(&mut *conn)
        .await?;
        raise(match first_kept {
            Some(seq) => Some(seq - 1),
            None => {
                sqlx::query_scalar("SELECT MAX(seq) FROM security_events")
                    .fetch_one(&mut *conn)
                    .await?
            }
        });
    }
    if let Some(max_events) = retention.max_events {
        let count: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM security_events")
            .fetch_one(&mut *conn)
            .await?;
        let max = i64::try_from(max_events).unwrap_or(i64::MAX);
        if count > max {
            raise(
                sqlx::query_scalar(
                    "SELECT seq FROM security_events ORDER BY seq LIMIT 1 OFFSET ?1",
                )
                .bind(count - max - 1)
                .fetch_optional(&mut *conn)
                .await?,
            );
        }
    }
    if let Some(max_bytes) = retention.max_bytes {
        let max = i64::try_from(max_bytes).unwrap_or(i64::MAX);
        if state.total_bytes > max {
            // The first event whose running total (oldest first) reaches
            // the excess: removing up to it brings the total under `max`.
            raise(
                sqlx::query_scalar(
                    "SELECT seq FROM (SELECT seq, SUM(size) OVER (ORDER BY seq) AS running \
                     FROM security_events) WHERE running >= ?1 ORDER BY seq LIMIT 1",
                )
                .bind(state.total_bytes - max)
                .fetch_optional(&mut *conn)
                .await?,
            );
        }
    }
    Ok(boundary)
}

#[async_trait]
impl EventStore for SqliteStore {
    async fn append(&self, events: &[Event]) -> Result<i64, StoreError> {
        // A failed write closes its connection (`WriteTx`), so the held
        // events are written on a fresh one once the file can grow again.
        let mut tx = WriteTx::begin(self.pool()).await?;
        let state = chain_state(&mut tx).await?;
        if events.is_empty() {
            tx.commit().await?;
            return Ok(state.head_seq);
        }
        let state = append_in(&mut tx, state, events).await?;
        save_state(&mut tx, &state).await?;
        tx.commit().await?;
        Ok(state.head_seq)
    }

    async fn get(&self, id: &str) -> Result<Option<StoredEvent>, StoreError> {
        sqlx::query(concat!(
            "SELECT ",
            event_columns!(),
            " FROM security_events WHERE id = ?1 ORDER BY seq LIMIT 1"
        ))
        .bind(id)
        .fetch_optional(self.pool())
        .await?
        .as_ref()
        .map(from_row)
        .transpose()
    }

    async fn query(&self, query: &EventQuery) -> Result<EventPage, StoreError> {
        let limit = match query.limit {
            0 => DEFAULT_PAGE,
            n => n.min(MAX_PAGE),
        };
        let mut sql = select::<Sqlite>(query, limit);
        let events = sql
            .build()
            .fetch_all(self.pool())
            .await?
            .iter()
            .map(from_row)
            .collect::<Result<Vec<_>, _>>()?;
        let full = events.len() == usize::try_from(limit).unwrap_or(usize::MAX);
        let next = if full {
            events.last().map(|e| e.seq)
        } else {
            None
        };
        Ok(EventPage { events, next })
    }

    async fn prune(&self, retention: Retention, now: UnixMillis) -> Result<u64, StoreError> {
        let mut tx = WriteTx::begin(self.pool()).await?;
        let mut state = chain_state(&mut tx).await?;
        let Some(boundary) = prune_boundary(&mut tx, retention, now, &state).await? else {
            tx.commit().await?;
            return Ok(0);
        };
        let last: Option<String> =
            sqlx::query_scalar("SELECT hash FROM security_events WHERE seq = ?1")
                .bind(boundary)
                .fetch_optional(&mut *tx)
                .await?;
        let Some(last) = last else {
            tx.commit().await?;
            return Ok(0);
        };
        let (removed, bytes): (i64, Option<i64>) =
            sqlx::query_as("SELECT COUNT(*), SUM(size) FROM security_events WHERE seq <= ?1")
                .bind(boundary)
                .fetch_one(&mut *tx)
                .await?;
        sqlx::query("DELETE FROM security_events WHERE seq <= ?1")
            .bind(boundary)
            .execute(&mut *tx)
            .await?;
        state.anchor = last;
        state.total_bytes = state.total_bytes.saturating_sub(bytes.unwrap_or(0)).max(0);
        save_state(&mut tx, &state).await?;
        tx.commit().await?;
        Ok(u64::try_from(removed).unwrap_or(0))
    }

    async fn summary(
        &self,
        since: UnixMillis,
        bucket_ms: i64,
        top: u32,
    ) -> Result<EventSummary, StoreError> {
        let bucket_ms = bucket_ms.max(1);
        let pool = self.pool();
        let denials = sqlx::query_as::<_, (i64, String, i64)>(
            "SELECT (time / ?2) * ?2 AS start, kind, SUM(1 + COALESCE(repeats, 0))
             FROM security_events
             WHERE time >= ?1 AND action = 'denied'
             GROUP BY start, kind ORDER BY start, kind",
        )
        .bind(since)
        .bind(bucket_ms)
        .fetch_all(pool)
        .await?
        .into_iter()
        .map(|(start, kind, count)| KindCount {
            start,
            kind,
            count: u64::try_from(count).unwrap_or(0),
        })
        .collect();
        let top_operations = sqlx::query_as::<_, (String, String, i64)>(
            "SELECT api, operation, SUM(1 + COALESCE(repeats, 0)) AS n FROM security_events
             WHERE time >= ?1 AND operation IS NOT NULL AND api IS NOT NULL
               AND action IN ('denied', 'monitored', 'banned')
             GROUP BY api, operation ORDER BY n DESC, api, operation LIMIT ?2",
        )
        .bind(since)
        .bind(i64::from(top))
        .fetch_all(pool)
        .await?
        .into_iter()
        .map(|(api, operation, n)| OperationCount {
            api,
            operation,
            events: u64::try_from(n).unwrap_or(0),
        })
        .collect();
        let names = |sql: &'static str| async move {
            let rows = sqlx::query_as::<_, (String, i64)>(sql)
                .bind(since)
                .bind(i64::from(top))
                .fetch_all(pool)
                .await?;
            Ok::<_, StoreError>(
                rows.into_iter()
                    .map(|(name, n)| NameCount {
                        name,
                        events: u64::try_from(n).unwrap_or(0),
                    })
                    .collect::<Vec<_>>(),
            )
        };
        let top_clients = names(top_names!("client")).await?;
        let top_consumers = names(top_names!("consumer")).await?;
        let events: i64 = sqlx::query_scalar(
            "SELECT COALESCE(SUM(1 + COALESCE(repeats, 0)), 0) FROM security_events
                 WHERE time >= ?1",
        )
        .bind(since)
        .fetch_one(pool)
        .await?;
        Ok(EventSummary {
            denials,
            top_operations,
            top_clients,
            top_consumers,
            events: u64::try_from(events).unwrap_or(0),
        })
    }

    async fn verify(&self) -> Result<ChainReport, StoreError> {
        // One read transaction: a consistent snapshot (WAL) while the
        // gateway keeps appending.
        let mut tx = self.pool().begin().await?;
        let state = chain_state(&mut tx).await?;
        // First pass: every hash and its seq, to tell a reordering from a
        // removal.
        let mut by_hash = HashMap::new();
        let mut after = i64::MIN;
        loop {
            let batch: Vec<(i64, String)> = sqlx::query_as(
                "SELECT seq, hash FROM security_events WHERE seq > ?1 ORDER BY seq LIMIT ?2",
            )
            .bind(after)
            .bind(VERIFY_BATCH)
            .fetch_all(&mut *tx)
            .await?;
            let Some(&(last, _)) = batch.last() else {
                break;
            };
            after = last;
            by_hash.extend(batch.into_iter().map(|(seq, hash)| (hash, seq)));
        }
        // Second pass: each event in seq order.
        let mut verifier = Verifier::new(&state.anchor, by_hash);
        let mut checked = 0u64;
        let mut first_seq = None;
        let mut head = None;
        let mut after = i64::MIN;
        loop {
            let rows = sqlx::query(concat!(
                "SELECT ",
                event_columns!(),
                " FROM security_events WHERE seq > ?1 ORDER BY seq LIMIT ?2"
            ))
            .bind(after)
            .bind(VERIFY_BATCH)
            .fetch_all(&mut *tx)
            .await?;
            if rows.is_empty() {
                break;
            }
            for row in &rows {
                let event = for_verify(row)?;
                first_seq.get_or_insert(event.seq);
                verifier.check(&event);
                checked += 1;
                after = event.seq;
                head = Some(event.hash);
            }
        }
        verifier.check_head(&state.head, state.head_seq);
        tx.commit().await?;
        Ok(ChainReport {
            checked,
            first_seq,
            head,
            problems: verifier.finish(),
        })
    }
}

#[cfg(test)]
mod tests;
