//! Reading the audit trail (the API and dashboard views). CUSTOMERs see
//! their organisation's entries only.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sqlx::PgPool;
use uuid::Uuid;

use crate::domain::actor::Actor;

/// Filters.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct AuditQuery {
    /// Acting user.
    pub actor_id: Option<Uuid>,
    /// Exact action (e.g. `event.updated`) or a prefix ending in `.` (e.g. `auth.`).
    pub action: Option<String>,
    /// Target kind.
    pub target_type: Option<String>,
    /// Target id.
    pub target_id: Option<String>,
    /// From (inclusive).
    pub from: Option<DateTime<Utc>>,
    /// To (exclusive).
    pub to: Option<DateTime<Utc>>,
    /// Page: rows before this sequence number.
    pub before: Option<i64>,
    /// Page size (1–500, default 100).
    pub limit: Option<i64>,
}

/// One entry as shown to people.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct AuditEntry {
    /// Chain position.
    pub seq: i64,
    /// When.
    pub at: DateTime<Utc>,
    /// Actor kind.
    pub actor_type: String,
    /// Acting user.
    pub actor_id: Option<Uuid>,
    /// Actor label.
    pub actor_label: String,
    /// Tenant.
    pub org_id: Option<Uuid>,
    /// Action.
    pub action: String,
    /// Target kind.
    pub target_type: String,
    /// Target id.
    pub target_id: String,
    /// Before.
    pub before: Option<Value>,
    /// After.
    pub after: Option<Value>,
    /// Request id.
    pub request_id: Option<String>,
}

/// Entries matching `query` visible to `actor`, newest first.
pub async fn list(db: &PgPool, actor: &Actor, query: &AuditQuery) -> Result<Vec<AuditEntry>, sqlx::Error> {
    let action = query.action.as_deref().map(str::trim).filter(|a| !a.is_empty());
    let (exact, prefix) = match action {
        Some(a) if a.ends_with('.') => {
            (None, Some(format!("{}%", a.replace('%', "\\%").replace('_', "\\_"))))
        }
        Some(a) => (Some(a.to_string()), None),
        None => (None, None),
    };
    sqlx::query_as(
        "SELECT seq, at, actor_type, actor_id, actor_label, org_id, action, target_type, target_id, before, after, request_id
         FROM audit_log
         WHERE ($1::uuid IS NULL OR org_id = $1)
           AND ($2::uuid IS NULL OR actor_id = $2)
           AND ($3::text IS NULL OR action = $3)
           AND ($4::text IS NULL OR action LIKE $4)
           AND ($5::text IS NULL OR target_type = $5)
           AND ($6::text IS NULL OR target_id = $6)
           AND ($7::timestamptz IS NULL OR at >= $7)
           AND ($8::timestamptz IS NULL OR at < $8)
           AND ($9::bigint IS NULL OR seq < $9)
         ORDER BY seq DESC LIMIT $10",
    )
    .bind(actor.org_scope().filter())
    .bind(query.actor_id)
    .bind(exact)
    .bind(prefix)
    .bind(&query.target_type)
    .bind(&query.target_id)
    .bind(query.from)
    .bind(query.to)
    .bind(query.before)
    .bind(query.limit.unwrap_or(100).clamp(1, 500))
    .fetch_all(db)
    .await
}
