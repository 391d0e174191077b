//! A portable dump of the durable state: JSON Lines, the same for both
//! backends, to move a SQLite file to PostgreSQL (or back) and to keep a
//! backup that any moat of the same format version can read.
//!
//! The first line is a header (`{"type":"header","format":"moat-state",
//! "version":1}`); then one line per record: `key`, `owner`, `ban`,
//! `admin_token`, `discovered`, `chain` (the audit chain's anchor and
//! head) and `event` (with its seq and chain hashes). Keys and admin
//! tokens are stored as hashes, so the dump holds hashes only: no secret
//! is in it. Quota counters are hot state and are not dumped.
//!
//! [`import`] reads the whole dump before it writes anything, then writes
//! it in one transaction: a malformed line is refused with its number and
//! nothing is imported.
//!
//! The SQL here is written once with `$N` placeholders, which both
//! backends accept, and expanded for each backend's connection by macros.

use std::io::{BufRead, Write};

use base64::Engine as _;
use serde::{Deserialize, Serialize};

use crate::durable::DurableStore;
use crate::events::StoredEvent;
use crate::events::chain::Verifier;
use crate::record::{KeyRecord, UnixTime};
use crate::store::StoreError;

/// The header's `format`.
pub const FORMAT: &str = "moat-state";

/// The header's `version`: the newest this build reads and the one it
/// writes.
pub const FORMAT_VERSION: u32 = 1;

/// Events read per page when exporting.
const PAGE: i64 = 1000;

/// One line of a dump.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Line {
    /// The first line.
    Header {
        /// [`FORMAT`].
        format: String,
        /// [`FORMAT_VERSION`] of the moat that wrote it.
        version: u32,
    },
    /// An API key (its keyed hash, never the key).
    Key(KeyLine),
    /// A learned object owner.
    Owner(OwnerLine),
    /// A ban.
    Ban(BanLine),
    /// An admin token (its hash, never the token).
    AdminToken(TokenLine),
    /// A discovered operation.
    Discovered(DiscoveredLine),
    /// The audit chain's anchor and head.
    Chain(ChainLine),
    /// A security event, with its place and hashes in the chain.
    Event(StoredEvent),
}

/// An API key record; `secret_hash` in base64.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[allow(missing_docs)]
pub struct KeyLine {
    pub key_id: String,
    pub consumer_id: String,
    pub name: Option<String>,
    pub scopes: Vec<String>,
    pub secret_hash: String,
    pub created_at: UnixTime,
    pub expires_at: Option<UnixTime>,
    pub last_used_at: Option<UnixTime>,
    pub revoked_at: Option<UnixTime>,
    pub rotated_from: Option<String>,
}

/// `(api, kind, object_id)` → owner.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[allow(missing_docs)]
pub struct OwnerLine {
    pub api: String,
    pub kind: String,
    pub object_id: String,
    pub consumer_id: String,
    pub created_at: UnixTime,
}

/// A ban; `subject` as the store keys it (`address:…`, `consumer:…`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[allow(missing_docs)]
pub struct BanLine {
    pub subject: String,
    pub reason: String,
    pub source: String,
    pub created_at: UnixTime,
    pub expires_at: Option<UnixTime>,
}

/// An admin token record; `token_hash` (SHA-256) in base64.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[allow(missing_docs)]
pub struct TokenLine {
    pub id: String,
    pub name: String,
    pub role: String,
    pub token_hash: String,
    pub created_at: UnixTime,
    pub last_used_at: Option<UnixTime>,
    pub revoked_at: Option<UnixTime>,
}

/// A discovered operation; `shape` is the gateway's JSON, as text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[allow(missing_docs)]
pub struct DiscoveredLine {
    pub api: String,
    pub method: String,
    pub template: String,
    pub requests: u64,
    pub first_seen: i64,
    pub last_seen: i64,
    pub shape: String,
}

/// The audit chain's record: the hash the oldest stored event links to,
/// and the newest event's hash and seq.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[allow(missing_docs)]
pub struct ChainLine {
    pub anchor: String,
    pub head: String,
    pub head_seq: i64,
    pub total_bytes: i64,
}

/// How many records of each kind a dump held or an import wrote.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[allow(missing_docs)]
pub struct Counts {
    pub keys: u64,
    pub owners: u64,
    pub bans: u64,
    pub admin_tokens: u64,
    pub discovered: u64,
    pub events: u64,
}

/// What [`import`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Imported {
    /// Records written.
    pub written: Counts,
    /// Records skipped because the target had them (`merge`).
    pub skipped: Counts,
}

/// Why a dump could not be written or read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DumpError {
    /// Reading or writing the dump failed.
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// A line that is not a record of this format.
    #[error("line {line}: {reason}")]
    Line {
        /// 1-based.
        line: usize,
        /// What is wrong with it.
        reason: String,
    },
    /// The dump's audit chain does not verify, or cannot be joined to the
    /// target's.
    #[error("the audit chain cannot be imported: {0}")]
    Chain(String),
    /// The target holds state and `merge` was not asked for.
    #[error(
        "the target already holds state ({0}); import into an empty store, or pass --merge to skip records it has"
    )]
    NotEmpty(String),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

fn from_b64(text: &str) -> Option<Vec<u8>> {
    base64::engine::general_purpose::STANDARD.decode(text).ok()
}

impl From<KeyRecord> for KeyLine {
    fn from(r: KeyRecord) -> Self {
        KeyLine {
            secret_hash: b64(&r.secret_hash),
            key_id: r.key_id,
            consumer_id: r.consumer_id,
            name: r.name,
            scopes: r.scopes,
            created_at: r.created_at,
            expires_at: r.expires_at,
            last_used_at: r.last_used_at,
            revoked_at: r.revoked_at,
            rotated_from: r.rotated_from,
        }
    }
}

/// Writes one line of JSON.
fn put(out: &mut dyn Write, line: &Line) -> Result<(), DumpError> {
    serde_json::to_writer(&mut *out, line).map_err(std::io::Error::other)?;
    out.write_all(b"\n")?;
    Ok(())
}

/// Reads every table of one backend inside a read transaction `$tx` and
/// writes the lines to `$out`; evaluates to the counts.
macro_rules! export_from {
    ($tx:ident, $out:ident) => {{
        let mut counts = Counts::default();
        let keys = sqlx::query(
            "SELECT key_id, consumer_id, name, scopes, secret_hash, created_at, \
             expires_at, last_used_at, revoked_at, rotated_from FROM api_keys \
             ORDER BY created_at, key_id",
        )
        .fetch_all(&mut *$tx)
        .await
        .map_err(StoreError::from)?;
        for row in &keys {
            put($out, &Line::Key(crate::sqlite::from_row(row)?.into()))?;
            counts.keys += 1;
        }
        let owners: Vec<(String, String, String, String, i64)> = sqlx::query_as(
            "SELECT api, kind, object_id, consumer_id, created_at FROM object_owners \
             ORDER BY api, kind, object_id",
        )
        .fetch_all(&mut *$tx)
        .await
        .map_err(StoreError::from)?;
        for (api, kind, object_id, consumer_id, created_at) in owners {
            put(
                $out,
                &Line::Owner(OwnerLine {
                    api,
                    kind,
                    object_id,
                    consumer_id,
                    created_at,
                }),
            )?;
            counts.owners += 1;
        }
        let bans = sqlx::query(
            "SELECT subject, reason, source, created_at, expires_at FROM bans \
             ORDER BY created_at, subject",
        )
        .fetch_all(&mut *$tx)
        .await
        .map_err(StoreError::from)?;
        for row in &bans {
            let ban = crate::sqlite::ban_from_row(row)?;
            put(
                $out,
                &Line::Ban(BanLine {
                    subject: ban.subject.key(),
                    reason: ban.reason,
                    source: ban.source,
                    created_at: ban.created_at,
                    expires_at: ban.expires_at,
                }),
            )?;
            counts.bans += 1;
        }
        let tokens = sqlx::query(
            "SELECT id, name, role, created_at, last_used_at, revoked_at, token_hash \
             FROM admin_tokens ORDER BY created_at, id",
        )
        .fetch_all(&mut *$tx)
        .await
        .map_err(StoreError::from)?;
        for row in &tokens {
            let record = crate::admin_tokens::from_row(row)?;
            let hash: Vec<u8> = crate::row::ReadRow::col(row, 6).map_err(StoreError::from)?;
            put(
                $out,
                &Line::AdminToken(TokenLine {
                    id: record.id,
                    name: record.name,
                    role: record.role.as_str().to_string(),
                    token_hash: b64(&hash),
                    created_at: record.created_at,
                    last_used_at: record.last_used_at,
                    revoked_at: record.revoked_at,
                }),
            )?;
            counts.admin_tokens += 1;
        }
        let discovered = sqlx::query(
            "SELECT api, method, template, requests, first_seen, last_seen, shape \
             FROM discovered_operations ORDER BY api, template, method",
        )
        .fetch_all(&mut *$tx)
        .await
        .map_err(StoreError::from)?;
        for row in &discovered {
            let d = crate::discovery::from_row(row)?;
            put(
                $out,
                &Line::Discovered(DiscoveredLine {
                    api: d.api,
                    method: d.method,
                    template: d.template,
                    requests: d.requests,
                    first_seen: d.first_seen,
                    last_seen: d.last_seen,
                    shape: d.shape,
                }),
            )?;
            counts.discovered += 1;
        }
        let chain: Option<(String, String, i64, i64)> = sqlx::query_as(
            "SELECT anchor, head, head_seq, total_bytes FROM event_chain WHERE id = 1",
        )
        .fetch_optional(&mut *$tx)
        .await
        .map_err(StoreError::from)?;
        if let Some((anchor, head, head_seq, total_bytes)) = chain {
            put(
                $out,
                &Line::Chain(ChainLine {
                    anchor,
                    head,
                    head_seq,
                    total_bytes,
                }),
            )?;
        }
        let mut after = i64::MIN;
        loop {
            let rows = sqlx::query(
                "SELECT seq, id, time, request_id, api, operation, consumer, client, method, \
                 path, control, kind, rule, location, severity, action, status, evidence, \
                 actor, prev_hash, hash, repeats FROM security_events \
                 WHERE seq > $1 ORDER BY seq LIMIT $2",
            )
            .bind(after)
            .bind(PAGE)
            .fetch_all(&mut *$tx)
            .await
            .map_err(StoreError::from)?;
            if rows.is_empty() {
                break;
            }
            for row in &rows {
                let event = crate::events::sqlite::from_row(row)?;
                after = event.seq;
                put($out, &Line::Event(event))?;
                counts.events += 1;
            }
        }
        counts
    }};
}

/// Writes the whole durable state of `store` to `out`, from one
/// consistent snapshot.
pub async fn export(store: &DurableStore, out: &mut dyn Write) -> Result<Counts, DumpError> {
    put(
        out,
        &Line::Header {
            format: FORMAT.into(),
            version: FORMAT_VERSION,
        },
    )?;
    let counts = match store {
        DurableStore::Sqlite(s) => {
            let mut tx = s.pool().begin().await.map_err(StoreError::from)?;
            let counts = export_from!(tx, out);
            tx.commit().await.map_err(StoreError::from)?;
            counts
        }
        DurableStore::Postgres(p) => {
            let mut tx = p.pool().begin().await.map_err(StoreError::from)?;
            sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
                .execute(&mut *tx)
                .await
                .map_err(StoreError::from)?;
            let counts = export_from!(tx, out);
            tx.commit().await.map_err(StoreError::from)?;
            counts
        }
    };
    out.flush()?;
    Ok(counts)
}

/// A dump read and checked, ready to write.
#[derive(Debug, Default)]
struct Parsed {
    keys: Vec<KeyLine>,
    owners: Vec<OwnerLine>,
    bans: Vec<BanLine>,
    tokens: Vec<TokenLine>,
    discovered: Vec<DiscoveredLine>,
    chain: Option<ChainLine>,
    events: Vec<StoredEvent>,
}

/// Reads the whole dump, checking every line and the audit chain.
fn parse(input: &mut dyn BufRead) -> Result<Parsed, DumpError> {
    let mut parsed = Parsed::default();
    let mut header = false;
    let mut text = String::new();
    let mut number = 0;
    loop {
        text.clear();
        if input.read_line(&mut text)? == 0 {
            break;
        }
        number += 1;
        let bad = |reason: String| DumpError::Line {
            line: number,
            reason,
        };
        if text.trim().is_empty() {
            continue;
        }
        let line: Line = serde_json::from_str(&text)
            .map_err(|e| bad(format!("not a record of a moat state dump: {e}")))?;
        if !header {
            match line {
                Line::Header { format, version } if format == FORMAT => {
                    if version > FORMAT_VERSION {
                        return Err(bad(format!(
                            "dump format version {version} is newer than {FORMAT_VERSION}, \
                             the newest this moat reads"
                        )));
                    }
                    header = true;
                    continue;
                }
                _ => {
                    return Err(bad(format!(
                        "the first line must be the header of a `{FORMAT}` dump"
                    )));
                }
            }
        }
        match line {
            Line::Header { .. } => return Err(bad("a second header".into())),
            Line::Key(k) => {
                let ok =
                    from_b64(&k.secret_hash).is_some_and(|h| h.len() == crate::manager::HASH_LEN);
                if !ok {
                    return Err(bad(format!(
                        "key `{}`: secret_hash is not a base64 32-byte hash",
                        k.key_id
                    )));
                }
                parsed.keys.push(k);
            }
            Line::Owner(o) => parsed.owners.push(o),
            Line::Ban(b) => {
                if crate::bans::BanSubject::from_key(&b.subject).is_none() {
                    return Err(bad(format!("ban subject `{}` is not valid", b.subject)));
                }
                parsed.bans.push(b);
            }
            Line::AdminToken(t) => {
                if crate::admin_tokens::AdminRole::parse(&t.role).is_none() {
                    return Err(bad(format!("admin token role `{}` is unknown", t.role)));
                }
                if from_b64(&t.token_hash).is_none_or(|h| h.len() != 32) {
                    return Err(bad(format!(
                        "admin token `{}`: token_hash is not a base64 SHA-256",
                        t.id
                    )));
                }
                parsed.tokens.push(t);
            }
            Line::Discovered(d) => parsed.discovered.push(d),
            Line::Chain(c) => {
                if parsed.chain.replace(c).is_some() {
                    return Err(bad("a second chain record".into()));
                }
            }
            Line::Event(e) => {
                if parsed.events.last().is_some_and(|p| p.seq >= e.seq) {
                    return Err(bad(format!("event {} is out of seq order", e.seq)));
                }
                parsed.events.push(e);
            }
        }
    }
    if !header {
        return Err(DumpError::Line {
            line: 1,
            reason: "the dump is empty: no header".into(),
        });
    }
    if !parsed.events.is_empty() && parsed.chain.is_none() {
        return Err(DumpError::Chain(
            "the dump has events but no chain record".into(),
        ));
    }
    if let Some(chain) = &parsed.chain {
        let mut verifier = Verifier::new(
            &chain.anchor,
            parsed
                .events
                .iter()
                .map(|e| (e.hash.clone(), e.seq))
                .collect(),
        );
        for e in &parsed.events {
            verifier.check(e);
        }
        verifier.check_head(&chain.head, chain.head_seq);
        let problems = verifier.finish();
        if let Some(first) = problems.first() {
            return Err(DumpError::Chain(format!(
                "the dump's chain does not verify: {first}"
            )));
        }
    }
    Ok(parsed)
}

/// Writes `parsed` in transaction `$tx`; evaluates to [`Imported`].
/// `$chain_sql` reads the target's chain head (locking it where the
/// backend can).
macro_rules! import_into {
    ($tx:ident, $parsed:ident, $merge:ident, $chain_sql:literal) => {{
        let p = $parsed;
        let mut done = Imported::default();
        let (target_head, target_events): (i64, i64) = sqlx::query_as($chain_sql)
            .fetch_one(&mut *$tx)
            .await
            .map_err(StoreError::from)?;
        if !$merge {
            let counts: (i64, i64, i64, i64, i64) = sqlx::query_as(
                "SELECT (SELECT COUNT(*) FROM api_keys), (SELECT COUNT(*) FROM object_owners), \
                 (SELECT COUNT(*) FROM bans), (SELECT COUNT(*) FROM admin_tokens), \
                 (SELECT COUNT(*) FROM discovered_operations)",
            )
            .fetch_one(&mut *$tx)
            .await
            .map_err(StoreError::from)?;
            let held: Vec<String> = [
                (counts.0, "keys"),
                (counts.1, "object owners"),
                (counts.2, "bans"),
                (counts.3, "admin tokens"),
                (counts.4, "discovered operations"),
                (target_events.max(target_head), "events"),
            ]
            .into_iter()
            .filter(|(n, _)| *n > 0)
            .map(|(n, what)| format!("{n} {what}"))
            .collect();
            if !held.is_empty() {
                return Err(DumpError::NotEmpty(held.join(", ")));
            }
        }
        for k in &p.keys {
            let n = sqlx::query(
                "INSERT INTO api_keys (key_id, consumer_id, name, scopes, secret_hash, \
                 created_at, expires_at, last_used_at, revoked_at, rotated_from) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) ON CONFLICT DO NOTHING",
            )
            .bind(&k.key_id)
            .bind(&k.consumer_id)
            .bind(&k.name)
            .bind(k.scopes.join(" "))
            .bind(from_b64(&k.secret_hash).unwrap_or_default())
            .bind(k.created_at)
            .bind(k.expires_at)
            .bind(k.last_used_at)
            .bind(k.revoked_at)
            .bind(&k.rotated_from)
            .execute(&mut *$tx)
            .await
            .map_err(StoreError::from)?
            .rows_affected();
            count(&mut done, n, |c| &mut c.keys);
        }
        for o in &p.owners {
            let n = sqlx::query(
                "INSERT INTO object_owners (api, kind, object_id, consumer_id, created_at) \
                 VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
            )
            .bind(&o.api)
            .bind(&o.kind)
            .bind(&o.object_id)
            .bind(&o.consumer_id)
            .bind(o.created_at)
            .execute(&mut *$tx)
            .await
            .map_err(StoreError::from)?
            .rows_affected();
            count(&mut done, n, |c| &mut c.owners);
        }
        for b in &p.bans {
            let n = sqlx::query(
                "INSERT INTO bans (subject, reason, source, created_at, expires_at) \
                 VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
            )
            .bind(&b.subject)
            .bind(&b.reason)
            .bind(&b.source)
            .bind(b.created_at)
            .bind(b.expires_at)
            .execute(&mut *$tx)
            .await
            .map_err(StoreError::from)?
            .rows_affected();
            count(&mut done, n, |c| &mut c.bans);
        }
        for t in &p.tokens {
            let inserted = sqlx::query(
                "INSERT INTO admin_tokens (id, name, role, token_hash, created_at, \
                 last_used_at, revoked_at) VALUES ($1, $2, $3, $4, $5, $6, $7) \
                 ON CONFLICT DO NOTHING",
            )
            .bind(&t.id)
            .bind(&t.name)
            .bind(&t.role)
            .bind(from_b64(&t.token_hash).unwrap_or_default())
            .bind(t.created_at)
            .bind(t.last_used_at)
            .bind(t.revoked_at)
            .execute(&mut *$tx)
            .await
            .map_err(StoreError::from)?
            .rows_affected();
            count(&mut done, inserted, |c| &mut c.admin_tokens);
        }
        for d in &p.discovered {
            let n = sqlx::query(
                "INSERT INTO discovered_operations (api, method, template, requests, \
                 first_seen, last_seen, shape) VALUES ($1, $2, $3, $4, $5, $6, $7) \
                 ON CONFLICT DO NOTHING",
            )
            .bind(&d.api)
            .bind(&d.method)
            .bind(&d.template)
            .bind(i64::try_from(d.requests).unwrap_or(i64::MAX))
            .bind(d.first_seen)
            .bind(d.last_seen)
            .bind(&d.shape)
            .execute(&mut *$tx)
            .await
            .map_err(StoreError::from)?
            .rows_affected();
            count(&mut done, n, |c| &mut c.discovered);
        }
        if let Some(chain) = &p.chain {
            if target_head == 0 && target_events == 0 {
                for e in &p.events {
                    let ev = &e.event;
                    sqlx::query(
                        "INSERT INTO security_events (seq, id, time, request_id, api, \
                         operation, consumer, client, method, path, control, kind, rule, \
                         location, severity, action, status, evidence, actor, prev_hash, hash, \
                         repeats, severity_rank, size) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, \
                         $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, \
                         $23, $24)",
                    )
                    .bind(e.seq)
                    .bind(&ev.id)
                    .bind(ev.time)
                    .bind(&ev.request_id)
                    .bind(&ev.api)
                    .bind(&ev.operation)
                    .bind(&ev.consumer)
                    .bind(&ev.client)
                    .bind(&ev.method)
                    .bind(&ev.path)
                    .bind(ev.control.as_str())
                    .bind(&ev.kind)
                    .bind(&ev.rule)
                    .bind(&ev.location)
                    .bind(ev.severity.as_str())
                    .bind(ev.action.as_str())
                    .bind(ev.status.map(i64::from))
                    .bind(&ev.evidence)
                    .bind(&ev.actor)
                    .bind(&e.prev_hash)
                    .bind(&e.hash)
                    .bind(ev.repeats.map(|n| i64::try_from(n).unwrap_or(i64::MAX)))
                    .bind(ev.severity.rank())
                    .bind(crate::events::sqlite::json_size(ev))
                    .execute(&mut *$tx)
                    .await
                    .map_err(StoreError::from)?;
                    done.written.events += 1;
                }
                sqlx::query(
                    "UPDATE event_chain SET anchor = $1, head = $2, head_seq = $3, \
                     total_bytes = $4 WHERE id = 1",
                )
                .bind(&chain.anchor)
                .bind(&chain.head)
                .bind(chain.head_seq)
                .bind(chain.total_bytes)
                .execute(&mut *$tx)
                .await
                .map_err(StoreError::from)?;
            } else {
                // The target has a chain of its own: only the very same
                // events (a dump of it, imported again) can be skipped.
                for e in &p.events {
                    let stored: Option<String> =
                        sqlx::query_scalar("SELECT hash FROM security_events WHERE seq = $1")
                            .bind(e.seq)
                            .fetch_optional(&mut *$tx)
                            .await
                            .map_err(StoreError::from)?;
                    if stored.as_deref() != Some(e.hash.as_str()) {
                        return Err(DumpError::Chain(format!(
                            "the target has an audit chain of its own, and event {} of the \
                             dump is not in it; two chains cannot be merged",
                            e.seq
                        )));
                    }
                    done.skipped.events += 1;
                }
            }
        }
        done
    }};
}

/// Adds `n` written records (0 or 1) to the written or skipped count that
/// `field` picks.
fn count(done: &mut Imported, n: u64, field: fn(&mut Counts) -> &mut u64) {
    if n > 0 {
        *field(&mut done.written) += n;
    } else {
        *field(&mut done.skipped) += 1;
    }
}

/// Loads a dump into `store` in one transaction. Refuses a store that
/// holds anything unless `merge`, which skips records the store has (by
/// key). Events are imported only into a store without any, or skipped
/// when the store holds exactly them; the chain is verified before
/// anything is written.
pub async fn import(
    store: &DurableStore,
    input: &mut dyn BufRead,
    merge: bool,
) -> Result<Imported, DumpError> {
    let parsed = parse(input)?;
    let done = match store {
        DurableStore::Sqlite(s) => {
            let mut tx = s
                .pool()
                .begin_with("BEGIN IMMEDIATE")
                .await
                .map_err(StoreError::from)?;
            let done = import_into!(
                tx,
                parsed,
                merge,
                "SELECT head_seq, (SELECT COUNT(*) FROM security_events) FROM event_chain WHERE id = 1"
            );
            tx.commit().await.map_err(StoreError::from)?;
            done
        }
        DurableStore::Postgres(p) => {
            let mut tx = p.pool().begin().await.map_err(StoreError::from)?;
            let done = import_into!(
                tx,
                parsed,
                merge,
                "SELECT head_seq, (SELECT COUNT(*) FROM security_events) FROM event_chain WHERE id = 1 FOR UPDATE"
            );
            tx.commit().await.map_err(StoreError::from)?;
            done
        }
    };
    Ok(done)
}

#[cfg(test)]
mod tests;
