//! Users: creation (CLI and, later, the admin API).

use chrono::{DateTime, Utc};
use secrecy::{ExposeSecret, SecretString};
use serde::Serialize;
use uuid::Uuid;

use super::actor::{Actor, Role};
use super::{Domain, DomainError, validate};
use crate::audit::Entry;
use crate::auth::{password, policy};

/// A user as shown to others (no hash, no lockout state).
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct User {
    /// Id.
    pub id: Uuid,
    /// Organisation (CUSTOMERs).
    pub org_id: Option<Uuid>,
    /// Email (unique, case-insensitive).
    pub email: String,
    /// Display name.
    pub name: String,
    /// `ADMIN` or `CUSTOMER`.
    pub role: String,
    /// Deactivated (cannot sign in).
    pub deactivated_at: Option<DateTime<Utc>>,
    /// Created.
    pub created_at: DateTime<Utc>,
}

/// Input for [`Domain::create_user`].
pub struct NewUser {
    /// Email.
    pub email: String,
    /// Display name.
    pub name: String,
    /// Role.
    pub role: Role,
    /// Organisation (required for CUSTOMERs).
    pub org_id: Option<Uuid>,
    /// Initial password.
    pub password: SecretString,
}

/// A plausible email address: one `@`, something on both sides, a dot in the domain.
pub fn email(raw: &str) -> Result<String, DomainError> {
    let email = raw.trim().to_string();
    let ok = email.len() <= 254
        && email.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty()
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
                && !domain.contains('@')
        })
        && !email.chars().any(|c| c.is_whitespace() || c.is_control());
    if ok { Ok(email) } else { Err(DomainError::invalid("email", "is not a valid email address")) }
}

macro_rules! user_columns {
    () => {
        "id, org_id, email, name, role, deactivated_at, created_at"
    };
}

impl Domain {
    /// Creates a user (platform operators only).
    pub async fn create_user(&self, actor: &Actor, input: NewUser) -> Result<User, DomainError> {
        if !actor.is_platform() {
            return Err(DomainError::Forbidden);
        }
        let email = email(&input.email)?;
        let name = validate::text("name", &input.name, 200)?;
        if input.role == Role::Customer && input.org_id.is_none() {
            return Err(DomainError::invalid("org", "a CUSTOMER must belong to an organisation"));
        }
        let org_name = match input.org_id {
            Some(org) => sqlx::query_scalar::<_, String>(
                "SELECT name FROM organizations WHERE id = $1 AND deleted_at IS NULL",
            )
            .bind(org)
            .fetch_optional(&self.db)
            .await?
            .ok_or(DomainError::NotFound)?,
            None => String::new(),
        };
        policy::check(input.password.expose_secret(), &[&email, &name, &org_name])
            .map_err(|e| DomainError::invalid("password", e.to_string()))?;
        let hash = password::hash(input.password)
            .await
            .map_err(|e| DomainError::invalid("password", e.to_string()))?;
        let mut tx = self.begin().await?;
        let user: User = sqlx::query_as(concat!("INSERT INTO users (id, org_id, email, name, role, password_hash) VALUES ($1, $2, $3, $4, $5, $6) RETURNING ", user_columns!()))
        .bind(Uuid::now_v7())
        .bind(input.org_id)
        .bind(&email)
        .bind(&name)
        .bind(input.role.as_str())
        .bind(&hash)
        .fetch_one(&mut *tx)
        .await
        .map_err(DomainError::from_db)?;
        self.audit(&mut tx, actor, Entry::new("user.created", "user", user.id, user.org_id).after(&user))
            .await?;
        tx.commit().await?;
        Ok(user)
    }
}

/// Changes to a user an ADMIN may make.
#[derive(Debug, Clone, Default, serde::Deserialize)]
pub struct UserPatch {
    /// New role.
    pub role: Option<Role>,
    /// Organisation: absent keeps it, `null` clears it (ADMINs only: a
    /// CUSTOMER must belong to one), an id moves the user there.
    #[serde(default, deserialize_with = "present")]
    pub org_id: Option<Option<Uuid>>,
    /// New display name.
    pub name: Option<String>,
}

/// Tells a field sent as `null` (`Some(None)`) from one not sent (`None`, by `default`).
fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Option<Uuid>>, D::Error> {
    <Option<Uuid> as serde::Deserialize>::deserialize(d).map(Some)
}

impl Domain {
    /// Users visible to the actor (ADMIN: everyone; CUSTOMER: their organisation).
    pub async fn list_users(&self, actor: &Actor) -> Result<Vec<User>, DomainError> {
        Ok(sqlx::query_as(concat!(
            "SELECT ",
            user_columns!(),
            " FROM users WHERE deleted_at IS NULL AND ($1::uuid IS NULL OR org_id = $1) ORDER BY lower(email)"
        ))
        .bind(actor.org_scope().filter())
        .fetch_all(&self.db)
        .await?)
    }

    /// One user, if visible to the actor.
    pub async fn get_user(&self, actor: &Actor, id: Uuid) -> Result<User, DomainError> {
        sqlx::query_as(concat!(
            "SELECT ",
            user_columns!(),
            " FROM users WHERE id = $1 AND deleted_at IS NULL AND ($2::uuid IS NULL OR org_id = $2)"
        ))
        .bind(id)
        .bind(actor.org_scope().filter())
        .fetch_optional(&self.db)
        .await?
        .ok_or(DomainError::NotFound)
    }

    /// Changes role, organisation or name (platform operators only). A role or
    /// organisation change ends the user's sessions in the same transaction.
    pub async fn update_user(&self, actor: &Actor, id: Uuid, patch: UserPatch) -> Result<User, DomainError> {
        if !actor.is_platform() {
            return Err(DomainError::Forbidden);
        }
        let mut tx = self.begin().await?;
        let before: User = sqlx::query_as(concat!(
            "SELECT ",
            user_columns!(),
            " FROM users WHERE id = $1 AND deleted_at IS NULL FOR UPDATE"
        ))
        .bind(id)
        .fetch_optional(&mut *tx)
        .await?
        .ok_or(DomainError::NotFound)?;
        let role = patch.role.map_or_else(|| before.role.clone(), |r| r.as_str().to_string());
        let org_id = patch.org_id.unwrap_or(before.org_id);
        if role == Role::Customer.as_str() && org_id.is_none() {
            return Err(DomainError::invalid("org", "a CUSTOMER must belong to an organisation"));
        }
        if Some(id) == actor.user_id() && role != before.role {
            return Err(DomainError::invalid("role", "you cannot change your own role"));
        }
        let name = patch
            .name
            .as_deref()
            .map(|n| validate::text("name", n, 200))
            .transpose()?
            .unwrap_or_else(|| before.name.clone());
        let after: User = sqlx::query_as(concat!(
            "UPDATE users SET role = $2, org_id = $3, name = $4 WHERE id = $1 RETURNING ",
            user_columns!()
        ))
        .bind(id)
        .bind(&role)
        .bind(org_id)
        .bind(&name)
        .fetch_one(&mut *tx)
        .await
        .map_err(DomainError::from_db)?;
        let privileges_changed = before.role != after.role || before.org_id != after.org_id;
        let action = if before.role != after.role { "user.role_changed" } else { "user.updated" };
        self.audit(
            &mut tx,
            actor,
            Entry::new(action, "user", id, after.org_id).before(&before).after(&after),
        )
        .await?;
        if privileges_changed {
            let revoked =
                crate::auth::session::revoke_all(&mut tx, id, None, self.now(), "role changed").await?;
            if revoked > 0 {
                self.audit(
                    &mut tx,
                    actor,
                    Entry::new("auth.sessions_revoked", "user", id, after.org_id)
                        .after(serde_json::json!({ "count": revoked, "reason": "role changed" })),
                )
                .await?;
            }
            tracing::warn!(event = "role_changed", user_id = %id, from = %before.role, to = %after.role, "user privileges changed");
        }
        tx.commit().await?;
        Ok(after)
    }

    /// Deactivates (or reactivates) a user (platform operators only). Deactivation ends their sessions at once.
    pub async fn set_user_active(&self, actor: &Actor, id: Uuid, active: bool) -> Result<User, DomainError> {
        if !actor.is_platform() {
            return Err(DomainError::Forbidden);
        }
        if Some(id) == actor.user_id() && !active {
            return Err(DomainError::invalid("user", "you cannot deactivate yourself"));
        }
        let mut tx = self.begin().await?;
        let before: User = sqlx::query_as(concat!(
            "SELECT ",
            user_columns!(),
            " FROM users WHERE id = $1 AND deleted_at IS NULL FOR UPDATE"
        ))
        .bind(id)
        .fetch_optional(&mut *tx)
        .await?
        .ok_or(DomainError::NotFound)?;
        let after: User = sqlx::query_as(concat!(
            "UPDATE users SET deactivated_at = CASE WHEN $2 THEN NULL ELSE coalesce(deactivated_at, $3) END WHERE id = $1 RETURNING ",
            user_columns!()
        ))
        .bind(id)
        .bind(active)
        .bind(self.now())
        .fetch_one(&mut *tx)
        .await?;
        let action = if active { "user.reactivated" } else { "user.deactivated" };
        self.audit(
            &mut tx,
            actor,
            Entry::new(action, "user", id, after.org_id).before(&before).after(&after),
        )
        .await?;
        if !active {
            let revoked =
                crate::auth::session::revoke_all(&mut tx, id, None, self.now(), "deactivated").await?;
            if revoked > 0 {
                self.audit(
                    &mut tx,
                    actor,
                    Entry::new("auth.sessions_revoked", "user", id, after.org_id)
                        .after(serde_json::json!({ "count": revoked, "reason": "deactivated" })),
                )
                .await?;
            }
        }
        tx.commit().await?;
        Ok(after)
    }
}
