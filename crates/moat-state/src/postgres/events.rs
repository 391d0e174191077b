//! [`EventStore`] on PostgreSQL: tables `security_events` and the one-row
//! `event_chain`, as on SQLite. Nodes append at once: every append and
//! prune first locks the `event_chain` row (`FOR UPDATE`), so they take
//! turns reading and moving the head and the chain never forks.
//!
//! The row conversions, the linking and the query builder are SQLite's
//! (`events::sqlite`); only the SQL dialect differs here.

use std::collections::HashMap;

use async_trait::async_trait;
use sqlx::{PgConnection, Postgres, QueryBuilder};

use super::PostgresStore;
use crate::events::chain::Verifier;
use crate::events::sqlite::{
    ChainState, DEFAULT_PAGE, INSERT_CHUNK, VERIFY_BATCH, for_verify, from_row, link_all, select,
};
use crate::events::{
    ChainReport, Event, EventPage, EventQuery, EventStore, EventSummary, KindCount, MAX_PAGE,
    NameCount, OperationCount, Retention, StoredEvent, UnixMillis,
};
use crate::store::StoreError;

/// The columns of a [`StoredEvent`], in the order `from_row` reads them.
macro_rules! event_columns {
    () => {
        "seq, id, time, request_id, api, operation, consumer, client, method, path, \
         control, kind, rule, location, severity, action, status, evidence, actor, \
         prev_hash, hash, repeats"
    };
}

/// The most frequent values of a column among refusals since `$1`, at
/// most `$2` of them.
macro_rules! top_names {
    ($column:literal) => {
        concat!(
            "SELECT ",
            $column,
            ", SUM(1 + COALESCE(repeats, 0))::BIGINT AS n FROM security_events
             WHERE time >= $1 AND ",
            $column,
            " IS NOT NULL
               AND action IN ('denied', 'monitored', 'banned')
             GROUP BY ",
            $column,
            " ORDER BY n DESC, ",
            $column,
            " LIMIT $2"
        )
    };
}

/// The `event_chain` row, locked until the transaction ends: the one
/// place where appends and prunes from every node queue up.
async fn lock_chain(conn: &mut PgConnection) -> Result<ChainState, StoreError> {
    chain_state(
        conn,
        "SELECT anchor, head, head_seq, total_bytes FROM event_chain WHERE id = 1 FOR UPDATE",
    )
    .await
}

async fn chain_state(conn: &mut PgConnection, sql: &'static str) -> Result<ChainState, StoreError> {
    let (anchor, head, head_seq, total_bytes): (String, String, i64, i64) = sqlx::query_as(sql)
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

async fn save_state(conn: &mut PgConnection, state: &ChainState) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE event_chain SET anchor = $1, head = $2, head_seq = $3, total_bytes = $4 \
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

async fn append_in(
    conn: &mut PgConnection,
    mut state: ChainState,
    events: &[Event],
) -> Result<ChainState, StoreError> {
    let linked = link_all(&mut state, events);
    for chunk in linked.chunks(INSERT_CHUNK) {
        let mut sql = QueryBuilder::<Postgres>::new(concat!(
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

/// The seq up to which (inclusive) `retention` removes events, as on
/// SQLite: only a prefix of the chain, the furthest any bound asks for.
async fn prune_boundary(
    conn: &mut PgConnection,
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
        let cutoff = now.saturating_sub(max_age);
        let first_kept: Option<i64> = sqlx::query_scalar(
            "SELECT seq FROM security_events WHERE time >= $1 ORDER BY seq LIMIT 1",
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
                    "SELECT seq FROM security_events ORDER BY seq LIMIT 1 OFFSET $1",
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
            raise(
                sqlx::query_scalar(
                    "SELECT seq FROM (SELECT seq, SUM(size) OVER (ORDER BY seq) AS running \
                     FROM security_events) AS r WHERE running >= $1 ORDER BY seq LIMIT 1",
                )
                .bind(state.total_bytes - max)
                .fetch_optional(&mut *conn)
                .await?,
            );
        }
    }
    Ok(boundary)
}

fn count(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
}

#[async_trait]
impl EventStore for PostgresStore {
    async fn append(&self, events: &[Event]) -> Result<i64, StoreError> {
        self.bounded(async {
            let mut tx = self.pool().begin().await?;
            let state = lock_chain(&mut tx).await?;
            if events.is_empty() {
                return Ok(state.head_seq);
            }
            let state = append_in(&mut tx, state, events).await?;
            save_state(&mut tx, &state).await?;
            tx.commit().await?;
            Ok(state.head_seq)
        })
        .await
    }

    async fn get(&self, id: &str) -> Result<Option<StoredEvent>, StoreError> {
        self.bounded(async {
            sqlx::query(concat!(
                "SELECT ",
                event_columns!(),
                " FROM security_events WHERE id = $1 ORDER BY seq LIMIT 1"
            ))
            .bind(id)
            .fetch_optional(self.pool())
            .await?
            .as_ref()
            .map(from_row)
            .transpose()
        })
        .await
    }

    async fn query(&self, query: &EventQuery) -> Result<EventPage, StoreError> {
        self.bounded(async {
            let limit = match query.limit {
                0 => DEFAULT_PAGE,
                n => n.min(MAX_PAGE),
            };
            let mut sql = select::<Postgres>(query, limit);
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
        })
        .await
    }

    async fn prune(&self, retention: Retention, now: UnixMillis) -> Result<u64, StoreError> {
        self.bounded(async {
            let mut tx = self.pool().begin().await?;
            let mut state = lock_chain(&mut tx).await?;
            let Some(boundary) = prune_boundary(&mut tx, retention, now, &state).await? else {
                return Ok(0);
            };
            let last: Option<String> =
                sqlx::query_scalar("SELECT hash FROM security_events WHERE seq = $1")
                    .bind(boundary)
                    .fetch_optional(&mut *tx)
                    .await?;
            let Some(last) = last else {
                return Ok(0);
            };
            let (removed, bytes): (i64, Option<i64>) = sqlx::query_as(
                "SELECT COUNT(*), SUM(size)::BIGINT FROM security_events WHERE seq <= $1",
            )
            .bind(boundary)
            .fetch_one(&mut *tx)
            .await?;
            sqlx::query("DELETE FROM security_events WHERE seq <= $1")
                .bind(boundary)
                .execute(&mut *tx)
                .await?;
            state.anchor = last;
            state.total_bytes = state.total_bytes.saturating_sub(bytes.unwrap_or(0)).max(0);
            save_state(&mut tx, &state).await?;
            tx.commit().await?;
            Ok(count(removed))
        })
        .await
    }

    async fn summary(
        &self,
        since: UnixMillis,
        bucket_ms: i64,
        top: u32,
    ) -> Result<EventSummary, StoreError> {
        self.bounded(async {
            let bucket_ms = bucket_ms.max(1);
            let pool = self.pool();
            let denials = sqlx::query_as::<_, (i64, String, i64)>(
                "SELECT (time / $2) * $2 AS start, kind, SUM(1 + COALESCE(repeats, 0))::BIGINT
                 FROM security_events
                 WHERE time >= $1 AND action = 'denied'
                 GROUP BY start, kind ORDER BY start, kind",
            )
            .bind(since)
            .bind(bucket_ms)
            .fetch_all(pool)
            .await?
            .into_iter()
            .map(|(start, kind, n)| KindCount {
                start,
                kind,
                count: count(n),
            })
            .collect();
            let top_operations = sqlx::query_as::<_, (String, String, i64)>(
                "SELECT api, operation, SUM(1 + COALESCE(repeats, 0))::BIGINT AS n
                 FROM security_events
                 WHERE time >= $1 AND operation IS NOT NULL AND api IS NOT NULL
                   AND action IN ('denied', 'monitored', 'banned')
                 GROUP BY api, operation ORDER BY n DESC, api, operation LIMIT $2",
            )
            .bind(since)
            .bind(i64::from(top))
            .fetch_all(pool)
            .await?
            .into_iter()
            .map(|(api, operation, n)| OperationCount {
                api,
                operation,
                events: count(n),
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
                            events: count(n),
                        })
                        .collect::<Vec<_>>(),
                )
            };
            let top_clients = names(top_names!("client")).await?;
            let top_consumers = names(top_names!("consumer")).await?;
            let events: i64 = sqlx::query_scalar(
                "SELECT COALESCE(SUM(1 + COALESCE(repeats, 0)), 0)::BIGINT FROM security_events
                 WHERE time >= $1",
            )
            .bind(since)
            .fetch_one(pool)
            .await?;
            Ok(EventSummary {
                denials,
                top_operations,
                top_clients,
                top_consumers,
                events: count(events),
            })
        })
        .await
    }

    async fn verify(&self) -> Result<ChainReport, StoreError> {
        // One snapshot for the whole walk while other nodes keep appending.
        let mut tx = self.pool().begin().await?;
        sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            .execute(&mut *tx)
            .await?;
        let state = chain_state(
            &mut tx,
            "SELECT anchor, head, head_seq, total_bytes FROM event_chain WHERE id = 1",
        )
        .await?;
        let mut by_hash = HashMap::new();
        let mut after = i64::MIN;
        loop {
            let batch: Vec<(i64, String)> = sqlx::query_as(
                "SELECT seq, hash FROM security_events WHERE seq > $1 ORDER BY seq LIMIT $2",
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
        let mut verifier = Verifier::new(&state.anchor, by_hash);
        let mut checked = 0u64;
        let mut first_seq = None;
        let mut head = None;
        let mut after = i64::MIN;
        loop {
            let rows = sqlx::query(concat!(
                "SELECT ",
                event_columns!(),
                " FROM security_events WHERE seq > $1 ORDER BY seq LIMIT $2"
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
