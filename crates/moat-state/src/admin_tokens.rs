//! Admin tokens: bearer tokens for the admin API and the console, each
//! with a role, kept in the state file as a hash.
//!
//! A token reads `moat_admin_<id>_<secret>`: a 12-hex-digit random id (the
//! lookup key, shown by `moat admin token list`) and 256 random bits of
//! secret, base64url. Only SHA-256 of the whole token is stored. A fast
//! hash is right here, unlike for passwords: the token is 256 random bits,
//! so no guess list or brute force gets anywhere however fast each guess
//! is, and a slow hash would only slow down every admin request.

use std::fmt;

use async_trait::async_trait;
use base64::Engine as _;
use ring::rand::{SecureRandom, SystemRandom};
use sqlx::Row;
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use crate::record::UnixTime;
use crate::row::ReadRow;
use crate::sqlite::SqliteStore;
use crate::store::StoreError;

/// What every admin token starts with.
pub const TOKEN_PREFIX: &str = "moat_admin_";

/// Hex digits in a token id.
pub const TOKEN_ID_LEN: usize = 12;

/// Random bytes in a token's secret.
const SECRET_BYTES: usize = 32;

/// The secret's length as base64url without padding.
const SECRET_LEN: usize = 43;

/// The longest token name accepted, in characters.
pub const MAX_NAME_LEN: usize = 64;

/// A verified token's last use is written at most this often (seconds),
/// so a busy console does not write the state file on every request.
const LAST_USED_RESOLUTION: UnixTime = 60;

/// What a token may do. `Operator` may do everything a `Viewer` may.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum AdminRole {
    /// Read events, keys, bans and status.
    Viewer,
    /// Also change them: keys, bans, tokens, reloads.
    Operator,
}

impl AdminRole {
    /// Every role, least first.
    pub const ALL: [AdminRole; 2] = [AdminRole::Viewer, AdminRole::Operator];

    /// The name on the command line and in the API.
    pub fn as_str(self) -> &'static str {
        match self {
            AdminRole::Viewer => "viewer",
            AdminRole::Operator => "operator",
        }
    }

    /// The role named `name`.
    pub fn parse(name: &str) -> Option<AdminRole> {
        AdminRole::ALL.into_iter().find(|r| r.as_str() == name)
    }

    /// Whether this role may do what `needed` may.
    pub fn allows(self, needed: AdminRole) -> bool {
        self >= needed
    }
}

/// An admin token as stored: never the token, never its hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdminTokenRecord {
    /// The random id, the part after `moat_admin_`.
    pub id: String,
    /// A label, unique among tokens not revoked.
    pub name: String,
    /// What it may do.
    pub role: AdminRole,
    /// When it was created.
    pub created_at: UnixTime,
    /// When it last passed verification (to the minute).
    pub last_used_at: Option<UnixTime>,
    /// When it was revoked; a revoked token is refused for good.
    pub revoked_at: Option<UnixTime>,
}

/// A newly created token: the only place its plaintext exists. Show it
/// once and drop it (the memory is wiped). `Debug` and `Display` hide the
/// secret.
pub struct IssuedToken {
    id: String,
    token: Zeroizing<String>,
}

impl IssuedToken {
    /// The token's id (public).
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The whole token, secret included. Only to hand it to its owner.
    pub fn expose(&self) -> &str {
        &self.token
    }
}

impl fmt::Debug for IssuedToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IssuedToken")
            .field("id", &self.id)
            .field("token", &format_args!("{self}"))
            .finish()
    }
}

impl fmt::Display for IssuedToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{TOKEN_PREFIX}{}_***", self.id)
    }
}

/// Storage of admin tokens.
#[async_trait]
pub trait AdminTokenStore: Send + Sync {
    /// Creates a token named `name` with `role`.
    /// [`StoreError::NameTaken`] when a token not revoked has the name,
    /// [`StoreError::Invalid`] for an empty or overlong name or one with
    /// control characters.
    async fn create_token(
        &self,
        name: &str,
        role: AdminRole,
        now: UnixTime,
    ) -> Result<(AdminTokenRecord, IssuedToken), StoreError>;

    /// The record of `token` when it is a stored token that is not
    /// revoked; records its use.
    async fn verify_token(
        &self,
        token: &str,
        now: UnixTime,
    ) -> Result<Option<AdminTokenRecord>, StoreError>;

    /// Every token, revoked ones included, oldest first.
    async fn list_tokens(&self) -> Result<Vec<AdminTokenRecord>, StoreError>;

    /// Revokes the token that is not revoked yet with this id, or else
    /// with this name. `false` when there is none.
    async fn revoke_token(&self, name_or_id: &str, now: UnixTime) -> Result<bool, StoreError>;
}

/// Refuses a name that is empty, longer than [`MAX_NAME_LEN`], or holds
/// control characters.
pub fn check_name(name: &str) -> Result<(), StoreError> {
    let reason = if name.trim().is_empty() {
        "it is empty"
    } else if name.chars().count() > MAX_NAME_LEN {
        "it is longer than 64 characters"
    } else if name.chars().any(char::is_control) {
        "it holds control characters"
    } else {
        return Ok(());
    };
    Err(StoreError::Invalid {
        what: "admin token name",
        reason: reason.into(),
    })
}

/// The id of a token that has the shape `moat_admin_<id>_<secret>`.
pub(crate) fn token_id(token: &str) -> Option<&str> {
    let rest = token.strip_prefix(TOKEN_PREFIX)?;
    let id = rest.get(..TOKEN_ID_LEN)?;
    let secret = rest.get(TOKEN_ID_LEN..)?.strip_prefix('_')?;
    let id_ok = id.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
    let secret_ok = secret.len() == SECRET_LEN
        && secret
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    (id_ok && secret_ok).then_some(id)
}

pub(crate) fn token_hash(token: &str) -> Vec<u8> {
    ring::digest::digest(&ring::digest::SHA256, token.as_bytes())
        .as_ref()
        .to_vec()
}

/// A fresh token: its id and its text.
pub(crate) fn generate() -> Result<(String, Zeroizing<String>), StoreError> {
    let rng = SystemRandom::new();
    let mut id = [0u8; TOKEN_ID_LEN / 2];
    let mut secret = Zeroizing::new([0u8; SECRET_BYTES]);
    rng.fill(&mut id).map_err(|_| StoreError::Random)?;
    rng.fill(secret.as_mut()).map_err(|_| StoreError::Random)?;
    let id: String = id.iter().map(|b| format!("{b:02x}")).collect();
    let secret = Zeroizing::new(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(*secret));
    let token = Zeroizing::new(format!("{TOKEN_PREFIX}{id}_{}", secret.as_str()));
    Ok((id, token))
}

/// The record and the token of a token just stored (every backend).
pub(crate) fn issued(
    id: String,
    name: &str,
    role: AdminRole,
    now: UnixTime,
    token: Zeroizing<String>,
) -> (AdminTokenRecord, IssuedToken) {
    let record = AdminTokenRecord {
        id: id.clone(),
        name: name.to_string(),
        role,
        created_at: now,
        last_used_at: None,
        revoked_at: None,
    };
    (record, IssuedToken { id, token })
}

/// What `verify_token` makes of the stored row of the token's id: the
/// record when `token` hashes to `stored_hash` and is not revoked, and
/// whether its last use is to be written (at most once a minute).
pub(crate) fn accept(
    stored_hash: &[u8],
    token: &str,
    mut record: AdminTokenRecord,
    now: UnixTime,
) -> Option<(AdminTokenRecord, bool)> {
    if !bool::from(stored_hash.ct_eq(&token_hash(token))) || record.revoked_at.is_some() {
        return None;
    }
    let write = record
        .last_used_at
        .is_none_or(|t| t <= now - LAST_USED_RESOLUTION);
    if write {
        record.last_used_at = Some(now);
    }
    Some((record, write))
}

/// The columns of an [`AdminTokenRecord`] (and the hash, last).
macro_rules! token_columns {
    () => {
        "id, name, role, created_at, last_used_at, revoked_at, token_hash"
    };
}

pub(crate) fn from_row(row: &impl ReadRow) -> Result<AdminTokenRecord, StoreError> {
    let id: String = row.col(0)?;
    let role: String = row.col(2)?;
    let Some(role) = AdminRole::parse(&role) else {
        return Err(StoreError::Corrupt {
            key_id: id,
            what: format!("an unknown admin role `{role}`"),
        });
    };
    Ok(AdminTokenRecord {
        name: row.col(1)?,
        role,
        created_at: row.col(3)?,
        last_used_at: row.col(4)?,
        revoked_at: row.col(5)?,
        id,
    })
}

#[async_trait]
impl AdminTokenStore for SqliteStore {
    async fn create_token(
        &self,
        name: &str,
        role: AdminRole,
        now: UnixTime,
    ) -> Result<(AdminTokenRecord, IssuedToken), StoreError> {
        check_name(name)?;
        let (id, token) = generate()?;
        let inserted = sqlx::query(
            "INSERT INTO admin_tokens (id, name, role, token_hash, created_at) \
             VALUES (?1, ?2, ?3, ?4, ?5)",
        )
        .bind(&id)
        .bind(name)
        .bind(role.as_str())
        .bind(token_hash(&token))
        .bind(now)
        .execute(self.pool())
        .await;
        match inserted {
            Ok(_) => {}
            Err(sqlx::Error::Database(e)) if e.is_unique_violation() => {
                // 48 random bits make an id collision all but impossible:
                // the name is what is taken.
                return Err(StoreError::NameTaken(name.to_string()));
            }
            Err(e) => return Err(e.into()),
        }
        Ok(issued(id, name, role, now, token))
    }

    async fn verify_token(
        &self,
        token: &str,
        now: UnixTime,
    ) -> Result<Option<AdminTokenRecord>, StoreError> {
        let Some(id) = token_id(token) else {
            return Ok(None);
        };
        let row = sqlx::query(concat!(
            "SELECT ",
            token_columns!(),
            " FROM admin_tokens WHERE id = ?1"
        ))
        .bind(id)
        .fetch_optional(self.pool())
        .await?;
        let Some(row) = row else {
            return Ok(None);
        };
        let stored: Vec<u8> = row.try_get(6)?;
        let Some((record, write)) = accept(&stored, token, from_row(&row)?, now) else {
            return Ok(None);
        };
        if write {
            sqlx::query("UPDATE admin_tokens SET last_used_at = ?2 WHERE id = ?1")
                .bind(&record.id)
                .bind(now)
                .execute(self.pool())
                .await?;
        }
        Ok(Some(record))
    }

    async fn list_tokens(&self) -> Result<Vec<AdminTokenRecord>, StoreError> {
        sqlx::query(concat!(
            "SELECT ",
            token_columns!(),
            " FROM admin_tokens ORDER BY created_at, id"
        ))
        .fetch_all(self.pool())
        .await?
        .iter()
        .map(from_row)
        .collect()
    }

    async fn revoke_token(&self, name_or_id: &str, now: UnixTime) -> Result<bool, StoreError> {
        // An id wins over a name, so a token named like another's id cannot
        // shield that one from revocation.
        let done = sqlx::query(
            "UPDATE admin_tokens SET revoked_at = ?2 WHERE revoked_at IS NULL AND id = \
             COALESCE((SELECT id FROM admin_tokens WHERE id = ?1 AND revoked_at IS NULL), \
                      (SELECT id FROM admin_tokens WHERE name = ?1 AND revoked_at IS NULL))",
        )
        .bind(name_or_id)
        .bind(now)
        .execute(self.pool())
        .await?;
        Ok(done.rows_affected() > 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn store() -> (tempfile::TempDir, SqliteStore) {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("state.db"))
            .await
            .unwrap();
        (dir, store)
    }

    #[test]
    fn roles() {
        assert!(AdminRole::Operator.allows(AdminRole::Viewer));
        assert!(AdminRole::Operator.allows(AdminRole::Operator));
        assert!(AdminRole::Viewer.allows(AdminRole::Viewer));
        assert!(!AdminRole::Viewer.allows(AdminRole::Operator));
        for r in AdminRole::ALL {
            assert_eq!(AdminRole::parse(r.as_str()), Some(r));
        }
        assert_eq!(AdminRole::parse("admin"), None);
    }

    #[test]
    fn generated_tokens_have_the_documented_shape() {
        let (id, token) = generate().unwrap();
        assert_eq!(token_id(&token), Some(id.as_str()));
        assert_eq!(
            token.len(),
            TOKEN_PREFIX.len() + TOKEN_ID_LEN + 1 + SECRET_LEN
        );
        let (other, _) = generate().unwrap();
        assert_ne!(id, other);
        assert_eq!(token_id("moat_admin_0123456789ab_short"), None);
        assert_eq!(token_id("moat_AbC123xyz789_secret"), None);
        assert_eq!(token_id(""), None);
        // Multi-byte text where the id should be: refused, no panic.
        assert_eq!(token_id("moat_admin_ééééééé_"), None);
    }

    #[tokio::test]
    async fn create_verify_list_revoke() {
        let (_dir, store) = store().await;
        let (record, issued) = store
            .create_token("ops laptop", AdminRole::Operator, 1000)
            .await
            .unwrap();
        assert_eq!(record.id, issued.id());
        assert!(issued.expose().starts_with("moat_admin_"));
        let debug = format!("{issued:?}");
        let secret = &issued.expose()[TOKEN_PREFIX.len() + TOKEN_ID_LEN + 1..];
        assert!(!debug.contains(secret), "{debug}");
        assert!(!issued.to_string().contains(secret));

        let verified = store
            .verify_token(issued.expose(), 2000)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(verified.role, AdminRole::Operator);
        assert_eq!(verified.last_used_at, Some(2000));
        // Within the resolution, the use is not written again.
        store
            .verify_token(issued.expose(), 2030)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            store.list_tokens().await.unwrap()[0].last_used_at,
            Some(2000)
        );

        // A changed secret, a wrong id, garbage: refused.
        let mut wrong = issued.expose().to_string();
        let last = wrong.pop().unwrap();
        wrong.push(if last == 'A' { 'B' } else { 'A' });
        assert_eq!(store.verify_token(&wrong, 2000).await.unwrap(), None);
        let other_id = format!("{TOKEN_PREFIX}ffffffffffff_{secret}");
        assert_eq!(store.verify_token(&other_id, 2000).await.unwrap(), None);
        assert_eq!(store.verify_token("nope", 2000).await.unwrap(), None);

        // Names are unique among tokens not revoked.
        assert!(matches!(
            store.create_token("ops laptop", AdminRole::Viewer, 1100).await,
            Err(StoreError::NameTaken(n)) if n == "ops laptop"
        ));
        assert!(matches!(
            store.create_token(" ", AdminRole::Viewer, 1100).await,
            Err(StoreError::Invalid { .. })
        ));
        assert!(matches!(
            store.create_token("a\nb", AdminRole::Viewer, 1100).await,
            Err(StoreError::Invalid { .. })
        ));
        let (viewer, viewer_token) = store
            .create_token("dashboard", AdminRole::Viewer, 1200)
            .await
            .unwrap();

        // Revoke by name, then by id.
        assert!(store.revoke_token("ops laptop", 3000).await.unwrap());
        assert_eq!(
            store.verify_token(issued.expose(), 3001).await.unwrap(),
            None
        );
        assert!(!store.revoke_token("ops laptop", 3002).await.unwrap());
        assert!(store.revoke_token(&viewer.id, 3003).await.unwrap());
        assert_eq!(
            store
                .verify_token(viewer_token.expose(), 3004)
                .await
                .unwrap(),
            None
        );
        assert!(!store.revoke_token("nobody", 3005).await.unwrap());

        // A revoked token's name can be used again.
        store
            .create_token("ops laptop", AdminRole::Viewer, 4000)
            .await
            .unwrap();
        let all = store.list_tokens().await.unwrap();
        let names: Vec<(&str, Option<UnixTime>)> = all
            .iter()
            .map(|t| (t.name.as_str(), t.revoked_at))
            .collect();
        assert_eq!(
            names,
            [
                ("ops laptop", Some(3000)),
                ("dashboard", Some(3003)),
                ("ops laptop", None)
            ]
        );
    }

    #[tokio::test]
    async fn an_id_wins_over_a_name() {
        let (_dir, store) = store().await;
        let (first, _) = store
            .create_token("first", AdminRole::Operator, 1)
            .await
            .unwrap();
        // A token named after the first one's id.
        let (decoy, _) = store
            .create_token(&first.id, AdminRole::Viewer, 2)
            .await
            .unwrap();
        assert!(store.revoke_token(&first.id, 3).await.unwrap());
        let all = store.list_tokens().await.unwrap();
        let revoked: Vec<&str> = all
            .iter()
            .filter(|t| t.revoked_at.is_some())
            .map(|t| t.id.as_str())
            .collect();
        assert_eq!(revoked, [first.id.as_str()]);
        assert!(
            all.iter()
                .any(|t| t.id == decoy.id && t.revoked_at.is_none())
        );
    }
}
