//! The audit trail: who did what to which target, written in the same
//! transaction as the change it records (a change without its audit row
//! cannot commit), append-only in the database, and hash-chained.

mod chain;
pub mod export;
pub mod query;
mod redact;
pub mod verify;

use chrono::SubsecRound;
use serde_json::Value;
use shared::Keyring;
use sqlx::PgConnection;
use uuid::Uuid;

use crate::clock::Clock;
use crate::domain::actor::Actor;

pub use chain::{CanonicalRow, row_hash};
pub use redact::redact;

/// What an audit row says happened.
#[derive(Debug, Clone)]
pub struct Entry {
    /// Stable dotted name, e.g. `event.updated`, `auth.login_failed`.
    pub action: &'static str,
    /// Kind of target (`event`, `band`, `user`, …).
    pub target_type: &'static str,
    /// Target id.
    pub target_id: String,
    /// Tenant the target belongs to (for CUSTOMER-visible audit views).
    pub org_id: Option<Uuid>,
    /// State before (secrets redacted).
    pub before: Option<Value>,
    /// State after (secrets redacted).
    pub after: Option<Value>,
}

impl Entry {
    /// An entry with no before/after state.
    pub fn new(
        action: &'static str,
        target_type: &'static str,
        target_id: impl ToString,
        org_id: Option<Uuid>,
    ) -> Self {
        Self { action, target_type, target_id: target_id.to_string(), org_id, before: None, after: None }
    }

    /// Adds the state before the change.
    pub fn before(mut self, v: impl serde::Serialize) -> Self {
        self.before = serde_json::to_value(v).ok().map(redact);
        self
    }

    /// Adds the state after the change.
    pub fn after(mut self, v: impl serde::Serialize) -> Self {
        self.after = serde_json::to_value(v).ok().map(redact);
        self
    }
}

/// Appends `entry` to the chain inside the caller's transaction and returns its sequence number.
///
/// Locking the chain head serialises audit writers until the transaction
/// ends, which keeps the chain a single line; audited changes are human-paced,
/// so the lock is never contended by the tap pipeline.
pub async fn record(
    conn: &mut PgConnection,
    keys: &Keyring,
    clock: &dyn Clock,
    actor: &Actor,
    entry: Entry,
) -> Result<i64, sqlx::Error> {
    let (head_seq, prev_hash): (i64, Vec<u8>) =
        sqlx::query_as("SELECT seq, hash FROM audit_chain_head FOR UPDATE").fetch_one(&mut *conn).await?;
    // Read the time only once holding the head, so times follow the chain's order.
    let now = clock.now();
    let seq = head_seq + 1;
    let key = keys.signing_key();
    let row = CanonicalRow {
        seq,
        at: now.trunc_subsecs(6),
        actor_type: actor.kind_name().to_string(),
        actor_id: actor.user_id(),
        actor_label: actor.label(),
        org_id: entry.org_id,
        action: entry.action.to_string(),
        target_type: entry.target_type.to_string(),
        target_id: entry.target_id,
        before: entry.before,
        after: entry.after,
        request_id: actor.request_id.clone(),
        ip_hash: actor.ip_hash.clone(),
        user_agent: actor.user_agent.clone(),
        key_id: key.id().to_string(),
    };
    let hash = row_hash(key.secret(), &prev_hash, &row);
    sqlx::query(
        "INSERT INTO audit_log (seq, at, actor_type, actor_id, actor_label, org_id, action, target_type, target_id,
                                before, after, request_id, ip_hash, user_agent, key_id, prev_hash, hash)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)",
    )
    .bind(row.seq)
    .bind(row.at)
    .bind(&row.actor_type)
    .bind(row.actor_id)
    .bind(&row.actor_label)
    .bind(row.org_id)
    .bind(&row.action)
    .bind(&row.target_type)
    .bind(&row.target_id)
    .bind(&row.before)
    .bind(&row.after)
    .bind(&row.request_id)
    .bind(&row.ip_hash)
    .bind(&row.user_agent)
    .bind(&row.key_id)
    .bind(&prev_hash)
    .bind(&hash)
    .execute(&mut *conn)
    .await?;
    sqlx::query("UPDATE audit_chain_head SET seq = $1, hash = $2")
        .bind(seq)
        .bind(&hash)
        .execute(&mut *conn)
        .await?;
    Ok(seq)
}
