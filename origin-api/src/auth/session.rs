//! Server-side sessions. The cookie's JWT only names a session; this row is
//! the authority, checked on every request, so logout, "sign out
//! everywhere", password or role change, deactivation and incident response
//! take effect at once. Sessions end after 30 minutes idle or 12 hours in all.

use chrono::{DateTime, Duration, Utc};
use rand::RngCore;
use serde::Serialize;
use sqlx::PgConnection;
use uuid::Uuid;

use crate::domain::actor::Role;

/// Idle timeout.
pub const IDLE_MINUTES: i64 = 30;
/// Absolute lifetime.
pub const ABSOLUTE_HOURS: i64 = 12;
/// How long a password-accepted, second-factor-pending session lives.
pub const MFA_PENDING_MINUTES: i64 = 5;
/// `last_seen_at` is written at most this often (one write per minute per session, not per request).
const TOUCH_SECONDS: i64 = 60;

/// How far a session has got through sign-in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, sqlx::Type)]
#[sqlx(type_name = "text", rename_all = "snake_case")]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    /// Signed in.
    Full,
    /// Password accepted; a second factor is still due. Grants nothing else.
    MfaPending,
}

/// A session row.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct Session {
    /// Id (the JWT's `sid`).
    pub id: Uuid,
    /// Owner.
    pub user_id: Uuid,
    /// CSRF token for this session.
    #[serde(skip)]
    pub csrf_token: String,
    /// Sign-in stage.
    pub stage: Stage,
    /// Started.
    pub created_at: DateTime<Utc>,
    /// Last request.
    pub last_seen_at: DateTime<Utc>,
    /// Absolute end.
    pub expires_at: DateTime<Utc>,
    /// Last second-factor proof in this session.
    pub mfa_at: Option<DateTime<Utc>>,
    /// Client IP hash.
    pub ip_hash: Option<String>,
    /// User-agent class.
    pub user_agent: Option<String>,
}

/// The signed-in user, as the session sees it.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct AuthUser {
    /// Id.
    pub id: Uuid,
    /// Email.
    pub email: String,
    /// Name.
    pub name: String,
    /// Role as stored (`ADMIN`/`CUSTOMER`).
    pub role: String,
    /// Organisation.
    pub org_id: Option<Uuid>,
    /// Has a confirmed second factor.
    #[sqlx(default)]
    pub mfa_enrolled: bool,
    /// Must have one (ADMIN, organisation policy, or reset by an ADMIN).
    #[sqlx(default)]
    pub mfa_required: bool,
}

impl AuthUser {
    /// Signed in but barred from everything except enrolment until a second factor is set up.
    pub fn must_enrol(&self) -> bool {
        self.mfa_required && !self.mfa_enrolled
    }

    /// The role; an unknown stored value (impossible under the CHECK constraint) grants the least.
    pub fn role(&self) -> Role {
        Role::parse(&self.role).unwrap_or(Role::Customer)
    }
}

const COLUMNS: &str = "s.id, s.user_id, s.csrf_token, s.stage, s.created_at, s.last_seen_at, s.expires_at, s.mfa_at, s.ip_hash, s.user_agent";

/// A fresh random token (256 bits, URL-safe).
pub fn random_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    base64::Engine::encode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, bytes)
}

/// Starts a session (always a new id: no fixation). A full session that
/// follows a second-factor proof should then be marked with [`mark_mfa`].
pub async fn create(
    conn: &mut PgConnection,
    user_id: Uuid,
    stage: Stage,
    now: DateTime<Utc>,
    ip_hash: Option<&str>,
    user_agent: Option<&str>,
) -> Result<Session, sqlx::Error> {
    sqlx::query_as(
        "INSERT INTO sessions (id, user_id, csrf_token, stage, created_at, last_seen_at, expires_at, mfa_at, ip_hash, user_agent)
         VALUES ($1, $2, $3, $4, $5, $5, $6, NULL, $7, $8)
         RETURNING id, user_id, csrf_token, stage, created_at, last_seen_at, expires_at, mfa_at, ip_hash, user_agent",
    )
    .bind(Uuid::now_v7())
    .bind(user_id)
    .bind(random_token())
    .bind(stage)
    .bind(now)
    .bind(match stage {
        Stage::Full => now + Duration::hours(ABSOLUTE_HOURS),
        Stage::MfaPending => now + Duration::minutes(MFA_PENDING_MINUTES),
    })
    .bind(ip_hash)
    .bind(user_agent)
    .fetch_one(conn)
    .await
}

/// The live session `sid` of user `sub` at `now`, with its user: not revoked,
/// not idle, not past its absolute end, user active and not deleted.
pub async fn load_live(
    conn: &mut PgConnection,
    sid: Uuid,
    sub: Uuid,
    now: DateTime<Utc>,
) -> Result<Option<(Session, AuthUser)>, sqlx::Error> {
    // User columns are aliased: `sessions` and `users` both have an `id`.
    #[derive(sqlx::FromRow)]
    struct Row {
        #[sqlx(flatten)]
        session: Session,
        user_email: String,
        user_name: String,
        user_role: String,
        user_org_id: Option<Uuid>,
        mfa_enrolled: bool,
        mfa_required: bool,
    }
    let row: Option<Row> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS}, u.email AS user_email, u.name AS user_name, u.role AS user_role, u.org_id AS user_org_id,
                EXISTS (SELECT 1 FROM mfa_totp t WHERE t.user_id = u.id AND t.confirmed_at IS NOT NULL) AS mfa_enrolled,
                (u.role = 'ADMIN' OR u.mfa_enrolment_required OR coalesce(o.mfa_required, false)) AS mfa_required
         FROM sessions s JOIN users u ON u.id = s.user_id LEFT JOIN organizations o ON o.id = u.org_id
         WHERE s.id = $1 AND s.user_id = $2 AND s.revoked_at IS NULL
           AND s.expires_at > $3 AND s.last_seen_at > $3 - make_interval(mins => $4)
           AND u.deactivated_at IS NULL AND u.deleted_at IS NULL"
    )))
    .bind(sid)
    .bind(sub)
    .bind(now)
    .bind(IDLE_MINUTES as i32)
    .fetch_optional(&mut *conn)
    .await?;
    let Some(row) = row else { return Ok(None) };
    let user = AuthUser {
        id: row.session.user_id,
        email: row.user_email,
        name: row.user_name,
        role: row.user_role,
        org_id: row.user_org_id,
        mfa_enrolled: row.mfa_enrolled,
        mfa_required: row.mfa_required,
    };
    let session = row.session;
    if now - session.last_seen_at > Duration::seconds(TOUCH_SECONDS) {
        sqlx::query("UPDATE sessions SET last_seen_at = $2 WHERE id = $1")
            .bind(sid)
            .bind(now)
            .execute(&mut *conn)
            .await?;
    }
    Ok(Some((session, user)))
}

/// Records a second-factor proof in this session (sign-in or step-up).
pub async fn mark_mfa(conn: &mut PgConnection, sid: Uuid, now: DateTime<Utc>) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE sessions SET mfa_at = $2 WHERE id = $1").bind(sid).bind(now).execute(conn).await?;
    Ok(())
}

/// Whether the session proved a second factor within the last 10 minutes (step-up).
pub fn has_recent_mfa(session: &Session, now: DateTime<Utc>) -> bool {
    session.mfa_at.is_some_and(|at| now - at <= Duration::minutes(STEP_UP_MINUTES))
}

/// How recent a second-factor proof must be for sensitive actions.
pub const STEP_UP_MINUTES: i64 = 10;

/// Ends one session.
pub async fn revoke(
    conn: &mut PgConnection,
    sid: Uuid,
    now: DateTime<Utc>,
    reason: &str,
) -> Result<bool, sqlx::Error> {
    Ok(sqlx::query(
        "UPDATE sessions SET revoked_at = $2, revoke_reason = $3 WHERE id = $1 AND revoked_at IS NULL",
    )
    .bind(sid)
    .bind(now)
    .bind(reason)
    .execute(conn)
    .await?
    .rows_affected()
        == 1)
}

/// Ends every live session of a user (except `keep`); returns how many.
pub async fn revoke_all(
    conn: &mut PgConnection,
    user_id: Uuid,
    keep: Option<Uuid>,
    now: DateTime<Utc>,
    reason: &str,
) -> Result<u64, sqlx::Error> {
    Ok(sqlx::query(
        "UPDATE sessions SET revoked_at = $3, revoke_reason = $4
         WHERE user_id = $1 AND revoked_at IS NULL AND ($2::uuid IS NULL OR id <> $2)",
    )
    .bind(user_id)
    .bind(keep)
    .bind(now)
    .bind(reason)
    .execute(conn)
    .await?
    .rows_affected())
}

/// A user's live sessions, newest first.
pub async fn list_live(
    conn: &mut PgConnection,
    user_id: Uuid,
    now: DateTime<Utc>,
) -> Result<Vec<Session>, sqlx::Error> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM sessions s
         WHERE s.user_id = $1 AND s.revoked_at IS NULL AND s.expires_at > $2
           AND s.last_seen_at > $2 - make_interval(mins => $3)
         ORDER BY s.created_at DESC"
    )))
    .bind(user_id)
    .bind(now)
    .bind(IDLE_MINUTES as i32)
    .fetch_all(conn)
    .await
}

/// Incident response: ends every live session (`user: None`) or one user's,
/// as an operator, audited with the count. Unknown emails are an error.
pub async fn revoke_by_operator(
    domain: &crate::domain::Domain,
    actor: &crate::domain::actor::Actor,
    user: Option<&str>,
) -> Result<u64, crate::domain::DomainError> {
    let now = domain.now();
    let mut tx = domain.begin().await?;
    let (target, revoked) = match user {
        Some(email) => {
            let (id, org): (Uuid, Option<Uuid>) =
                sqlx::query_as("SELECT id, org_id FROM users WHERE lower(email) = lower($1)")
                    .bind(email.trim())
                    .fetch_optional(&mut *tx)
                    .await?
                    .ok_or(crate::domain::DomainError::NotFound)?;
            let n = revoke_all(&mut tx, id, None, now, "operator").await?;
            (crate::audit::Entry::new("sessions.revoked_by_operator", "user", id, org), n)
        }
        None => {
            let n = sqlx::query(
                "UPDATE sessions SET revoked_at = $1, revoke_reason = 'operator' WHERE revoked_at IS NULL",
            )
            .bind(now)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            (crate::audit::Entry::new("sessions.revoked_by_operator", "platform", "all", None), n)
        }
    };
    domain.audit(&mut tx, actor, target.after(serde_json::json!({ "revoked": revoked }))).await?;
    tx.commit().await?;
    tracing::warn!(
        event = "sessions_revoked_by_operator",
        revoked,
        scope = if user.is_some() { "user" } else { "all" },
        "sessions revoked"
    );
    Ok(revoked)
}
