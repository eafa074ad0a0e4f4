//! Users: creation (CLI and, later, the admin API).

use chrono::{DateTime, Utc};
use secrecy::SecretString;
use serde::Serialize;
use uuid::Uuid;

use super::actor::{Actor, Role};
use super::{Domain, DomainError, validate};
use crate::audit::Entry;
use crate::auth::password;

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
