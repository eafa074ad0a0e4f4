//! The hash chain: `hash = HMAC-SHA256(key, prev_hash ‖ canonical_json(row))`.
//!
//! The canonical form is this struct serialised by serde_json: fields in
//! declaration order, JSON object keys sorted (serde_json's map is ordered),
//! timestamps truncated to the microseconds Postgres stores. Reading a row
//! back therefore reproduces exactly the bytes that were hashed.

use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use serde::Serialize;
use serde_json::Value;
use sha2::Sha256;
use uuid::Uuid;

/// One audit row's content, in hashing order.
#[derive(Debug, Clone, Serialize, serde::Deserialize, sqlx::FromRow)]
pub struct CanonicalRow {
    /// Position in the chain (1-based, gapless).
    pub seq: i64,
    /// When.
    pub at: DateTime<Utc>,
    /// `user`, `cli`, `system`, `edge`, `anonymous`.
    pub actor_type: String,
    /// The user, when a user acted.
    pub actor_id: Option<Uuid>,
    /// Human-readable actor (email, operator, job name).
    pub actor_label: String,
    /// Tenant of the target.
    pub org_id: Option<Uuid>,
    /// What happened.
    pub action: String,
    /// Target kind.
    pub target_type: String,
    /// Target id.
    pub target_id: String,
    /// State before (redacted).
    pub before: Option<Value>,
    /// State after (redacted).
    pub after: Option<Value>,
    /// Request id that caused it.
    pub request_id: Option<String>,
    /// Salted hash of the client IP (never the IP).
    pub ip_hash: Option<String>,
    /// Coarse user-agent class.
    pub user_agent: Option<String>,
    /// Which audit key hashed this row.
    pub key_id: String,
}

/// The row's chain hash.
pub fn row_hash(secret: &[u8], prev_hash: &[u8], row: &CanonicalRow) -> Vec<u8> {
    // HMAC accepts keys of any length; an error here is impossible, and an empty
    // hash would fail verification rather than pass silently.
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret) else {
        return Vec::new();
    };
    mac.update(prev_hash);
    mac.update(serde_json::to_string(row).unwrap_or_default().as_bytes());
    mac.finalize().into_bytes().to_vec()
}
