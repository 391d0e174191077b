//! The audit events of admin actions: one place that turns "who did what
//! to which key, ban or token" into an [`Event`], for the CLI and the admin
//! API alike. Never a secret: keys and tokens are named by their ids.

use super::{Action, Control, Event, Severity};
use crate::admin_tokens::AdminRole;
use crate::bans::BanSubject;
use crate::record::UnixTime;

/// An admin action, with what it acted on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AdminAction {
    /// An API key was issued.
    KeyCreated {
        /// The new key's id.
        key_id: String,
        /// Its consumer.
        consumer: String,
    },
    /// An API key was replaced by a new one.
    KeyRotated {
        /// The replaced key.
        old_key_id: String,
        /// The new key.
        new_key_id: String,
        /// Their consumer.
        consumer: String,
    },
    /// An API key was revoked.
    KeyRevoked {
        /// The key's id.
        key_id: String,
        /// Its consumer.
        consumer: String,
    },
    /// An address, network or consumer was banned.
    BanAdded {
        /// Who.
        subject: BanSubject,
        /// Until when; permanent when absent.
        expires_at: Option<UnixTime>,
        /// The reason given.
        reason: String,
    },
    /// A ban was lifted.
    BanLifted {
        /// Who.
        subject: BanSubject,
    },
    /// An admin token was created.
    AdminTokenCreated {
        /// The token's id.
        id: String,
        /// Its name.
        name: String,
        /// Its role.
        role: AdminRole,
    },
    /// An admin token was revoked.
    AdminTokenRevoked {
        /// The token's id.
        id: String,
        /// Its name.
        name: String,
    },
    /// The gateway's configuration was reloaded.
    ConfigReloaded,
}

impl AdminAction {
    /// What the other nodes of a cluster must hear of this action: the key
    /// whose record changed, or that the ban list changed.
    pub fn notice(&self) -> Option<crate::notices::Notice> {
        use crate::notices::Notice;
        match self {
            AdminAction::KeyCreated { key_id, .. } | AdminAction::KeyRevoked { key_id, .. } => {
                Some(Notice::KeyChanged {
                    key_id: key_id.clone(),
                })
            }
            AdminAction::KeyRotated { old_key_id, .. } => Some(Notice::KeyChanged {
                key_id: old_key_id.clone(),
            }),
            AdminAction::BanAdded { .. } | AdminAction::BanLifted { .. } => {
                Some(Notice::BansChanged)
            }
            AdminAction::AdminTokenCreated { .. }
            | AdminAction::AdminTokenRevoked { .. }
            | AdminAction::ConfigReloaded => None,
        }
    }

    /// The event's `kind`.
    pub fn kind(&self) -> &'static str {
        match self {
            AdminAction::KeyCreated { .. } => "key-created",
            AdminAction::KeyRotated { .. } => "key-rotated",
            AdminAction::KeyRevoked { .. } => "key-revoked",
            AdminAction::BanAdded { .. } => "ban-added",
            AdminAction::BanLifted { .. } => "ban-lifted",
            AdminAction::AdminTokenCreated { .. } => "admin-token-created",
            AdminAction::AdminTokenRevoked { .. } => "admin-token-revoked",
            AdminAction::ConfigReloaded => "config-reloaded",
        }
    }
}

/// The event recording `action` by `actor` (`cli:alice`, `token:ops`):
/// control `admin`, severity `info`, action `recorded`, now. A key event
/// names the consumer; a ban names the banned consumer or address
/// (`client`); the evidence says which key, ban or token.
pub fn event(action: &AdminAction, actor: &str) -> Event {
    let mut e = Event::new(
        Control::Admin,
        action.kind(),
        Severity::Info,
        Action::Recorded,
    );
    e.actor = Some(actor.to_string());
    let (consumer, client, evidence) = match action {
        AdminAction::KeyCreated { key_id, consumer } => {
            (Some(consumer), None, Some(format!("key {key_id}")))
        }
        AdminAction::KeyRotated {
            old_key_id,
            new_key_id,
            consumer,
        } => (
            Some(consumer),
            None,
            Some(format!("key {old_key_id} replaced by key {new_key_id}")),
        ),
        AdminAction::KeyRevoked { key_id, consumer } => {
            (Some(consumer), None, Some(format!("key {key_id}")))
        }
        AdminAction::BanAdded {
            subject,
            expires_at,
            reason,
        } => {
            let until = match expires_at {
                Some(t) => format!("until {}", rfc3339(*t)),
                None => "permanent".to_string(),
            };
            let (consumer, client) = ban_target(subject);
            (
                consumer,
                client,
                Some(format!("ban on {} ({until}): {reason}", subject.key())),
            )
        }
        AdminAction::BanLifted { subject } => {
            let (consumer, client) = ban_target(subject);
            (consumer, client, Some(format!("ban on {}", subject.key())))
        }
        AdminAction::AdminTokenCreated { id, name, role } => (
            None,
            None,
            Some(format!("admin token {id} `{name}` ({})", role.as_str())),
        ),
        AdminAction::AdminTokenRevoked { id, name } => {
            (None, None, Some(format!("admin token {id} `{name}`")))
        }
        AdminAction::ConfigReloaded => (None, None, None),
    };
    e.consumer = consumer.cloned();
    e.client = client;
    e.evidence = evidence;
    e
}

/// The consumer or the address a ban is on.
fn ban_target(subject: &BanSubject) -> (Option<&String>, Option<String>) {
    match subject {
        BanSubject::Consumer(c) => (Some(c), None),
        BanSubject::Address(p) => (None, Some(p.to_string())),
    }
}

fn rfc3339(t: UnixTime) -> String {
    let at = std::time::UNIX_EPOCH + std::time::Duration::from_secs(u64::try_from(t).unwrap_or(0));
    humantime::format_rfc3339_seconds(at).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn admin_events_name_what_was_acted_on() {
        let e = event(
            &AdminAction::KeyCreated {
                key_id: "AbC123xyz789".into(),
                consumer: "alice".into(),
            },
            "cli:root",
        );
        assert_eq!(e.control, Control::Admin);
        assert_eq!(e.kind, "key-created");
        assert_eq!(e.severity, Severity::Info);
        assert_eq!(e.action, Action::Recorded);
        assert_eq!(e.actor.as_deref(), Some("cli:root"));
        assert_eq!(e.consumer.as_deref(), Some("alice"));
        assert_eq!(e.evidence.as_deref(), Some("key AbC123xyz789"));

        let subject = BanSubject::Address("203.0.113.0/24".parse().unwrap());
        let e = event(
            &AdminAction::BanAdded {
                subject,
                expires_at: Some(1_800_000_000),
                reason: "scanner".into(),
            },
            "token:ops",
        );
        assert_eq!(e.kind, "ban-added");
        assert_eq!(e.client.as_deref(), Some("203.0.113.0/24"));
        assert_eq!(
            e.evidence.as_deref(),
            Some("ban on address:203.0.113.0/24 (until 2027-01-15T08:00:00Z): scanner")
        );
        let e = event(
            &AdminAction::BanLifted {
                subject: BanSubject::Consumer("mallory".into()),
            },
            "cli:root",
        );
        assert_eq!(e.consumer.as_deref(), Some("mallory"));
        assert_eq!(e.client, None);
        assert_eq!(
            event(&AdminAction::ConfigReloaded, "signal").kind,
            "config-reloaded"
        );
    }
}
