//! Soft deletes of organisations, events, bands and users: a deleted one disappears everywhere
//! (API, dashboard, and the edge, whose KV records are removed through the
//! outbox) but can be restored for [`RESTORE_DAYS`] days, by an ADMIN or by
//! its own organisation; after that the retention job purges it for good.
//! Deleting an event takes its bands with it, and restoring it brings back
//! exactly those. Band ids are never reused by another organisation.

use chrono::{DateTime, Utc};
use serde::Serialize;
use uuid::Uuid;

use super::actor::Actor;
use super::{Domain, DomainError};
use crate::audit::Entry;
use crate::kv_sync;

/// Days a deleted event or band can be restored.
pub const RESTORE_DAYS: i64 = 30;

/// Something in the trash.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct TrashItem {
    /// `event`, `band`, `user` or `org`.
    pub kind: String,
    /// Event id or band id.
    pub id: String,
    /// Event name, band label or user email.
    pub name: String,
    /// Owning organisation (none for an ADMIN user).
    pub org_id: Option<Uuid>,
    /// When it was deleted.
    pub deleted_at: DateTime<Utc>,
    /// Last moment it can be restored.
    pub restorable_until: DateTime<Utc>,
    /// Email of the user who deleted it (none when an operator did, from the command line).
    pub deleted_by: Option<String>,
}

impl Domain {
    /// Soft-deletes an event and its live bands; the edge forgets them.
    pub async fn delete_event(&self, actor: &Actor, id: Uuid) -> Result<(), DomainError> {
        let mut tx = self.begin().await?;
        let event = super::events::lock_event(&mut tx, actor, id).await?;
        let now = self.now();
        sqlx::query("UPDATE events SET deleted_at = $2, deleted_by = $3 WHERE id = $1")
            .bind(id)
            .bind(now)
            .bind(actor.user_id())
            .execute(&mut *tx)
            .await?;
        let bands: Vec<String> = sqlx::query_scalar(
            "UPDATE bands SET deleted_at = $2, deleted_by = $3 WHERE event_id = $1 AND deleted_at IS NULL RETURNING band_id",
        )
        .bind(id)
        .bind(now)
        .bind(actor.user_id())
        .fetch_all(&mut *tx)
        .await?;
        let entry = Entry::new("event.deleted", "event", id, Some(event.org_id))
            .before(&event)
            .after(serde_json::json!({ "bands_deleted": bands.len(), "restorable_days": RESTORE_DAYS }));
        self.audit(&mut tx, actor, entry).await?;
        kv_sync::outbox::enqueue_event(&mut tx, id).await?;
        for chunk in bands.chunks(5_000) {
            kv_sync::outbox::enqueue_bands(&mut tx, chunk).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Restores a deleted event and the bands deleted with it.
    pub async fn restore_event(&self, actor: &Actor, id: Uuid) -> Result<(), DomainError> {
        let mut tx = self.begin().await?;
        let (org_id, deleted_at, org_deleted): (Uuid, DateTime<Utc>, bool) = sqlx::query_as(
            "SELECT e.org_id, e.deleted_at, o.deleted_at IS NOT NULL FROM events e
             JOIN organizations o ON o.id = e.org_id
             WHERE e.id = $1 AND e.deleted_at IS NOT NULL AND ($2::uuid IS NULL OR e.org_id = $2)
             FOR UPDATE OF e",
        )
        .bind(id)
        .bind(actor.org_scope().filter())
        .fetch_optional(&mut *tx)
        .await?
        .ok_or(DomainError::NotFound)?;
        self.check_restorable(deleted_at)?;
        if org_deleted {
            // Live again at the edge while its organisation is deleted would be a hole in the delete.
            return Err(DomainError::Conflict(
                "its organisation is deleted: restore the organisation first".into(),
            ));
        }
        sqlx::query("UPDATE events SET deleted_at = NULL, deleted_by = NULL WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        let bands = sqlx::query(
            "UPDATE bands SET deleted_at = NULL, deleted_by = NULL WHERE event_id = $1 AND deleted_at = $2",
        )
        .bind(id)
        .bind(deleted_at)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        let entry = Entry::new("event.restored", "event", id, Some(org_id))
            .after(serde_json::json!({ "bands_restored": bands, "deleted_at": deleted_at }));
        self.audit(&mut tx, actor, entry).await?;
        kv_sync::outbox::enqueue_event_with_bands(&mut tx, id).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Soft-deletes one band; the edge forgets it (taps go to the fallback as unknown).
    pub async fn delete_band(&self, actor: &Actor, band_id: &shared::BandId) -> Result<(), DomainError> {
        let mut tx = self.begin().await?;
        let org_id: Uuid = sqlx::query_scalar(
            "UPDATE bands SET deleted_at = $3, deleted_by = $4
             WHERE band_id = $1 AND deleted_at IS NULL AND ($2::uuid IS NULL OR org_id = $2) RETURNING org_id",
        )
        .bind(band_id.as_str())
        .bind(actor.org_scope().filter())
        .bind(self.now())
        .bind(actor.user_id())
        .fetch_optional(&mut *tx)
        .await?
        .ok_or(DomainError::NotFound)?;
        let entry = Entry::new("band.deleted", "band", band_id.as_str(), Some(org_id))
            .after(serde_json::json!({ "restorable_days": RESTORE_DAYS }));
        self.audit(&mut tx, actor, entry).await?;
        kv_sync::outbox::enqueue_bands(&mut tx, &[band_id.as_str().to_string()]).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Restores a deleted band (its event must not be deleted).
    pub async fn restore_band(&self, actor: &Actor, band_id: &shared::BandId) -> Result<(), DomainError> {
        let mut tx = self.begin().await?;
        let (org_id, deleted_at, event_deleted): (Uuid, DateTime<Utc>, bool) = sqlx::query_as(
            "SELECT b.org_id, b.deleted_at, e.deleted_at IS NOT NULL FROM bands b JOIN events e ON e.id = b.event_id
             WHERE b.band_id = $1 AND b.deleted_at IS NOT NULL AND ($2::uuid IS NULL OR b.org_id = $2)
             FOR UPDATE OF b",
        )
        .bind(band_id.as_str())
        .bind(actor.org_scope().filter())
        .fetch_optional(&mut *tx)
        .await?
        .ok_or(DomainError::NotFound)?;
        self.check_restorable(deleted_at)?;
        if event_deleted {
            return Err(DomainError::Conflict("its event is deleted: restore the event first".into()));
        }
        sqlx::query("UPDATE bands SET deleted_at = NULL, deleted_by = NULL WHERE band_id = $1")
            .bind(band_id.as_str())
            .execute(&mut *tx)
            .await?;
        let entry = Entry::new("band.restored", "band", band_id.as_str(), Some(org_id))
            .after(serde_json::json!({ "deleted_at": deleted_at }));
        self.audit(&mut tx, actor, entry).await?;
        kv_sync::outbox::enqueue_bands(&mut tx, &[band_id.as_str().to_string()]).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Soft-deletes a user (platform operators only): signed out at once, unable to sign in,
    /// hidden from every list; restorable for [`RESTORE_DAYS`] days.
    pub async fn delete_user(&self, actor: &Actor, id: Uuid) -> Result<(), DomainError> {
        if !actor.is_platform() {
            return Err(DomainError::Forbidden);
        }
        if Some(id) == actor.user_id() {
            return Err(DomainError::invalid("user", "you cannot delete yourself"));
        }
        let mut tx = self.begin().await?;
        let now = self.now();
        let org_id: Option<Uuid> = sqlx::query_scalar(
            "UPDATE users SET deleted_at = $2, deleted_by = $3 WHERE id = $1 AND deleted_at IS NULL RETURNING org_id",
        )
        .bind(id)
        .bind(now)
        .bind(actor.user_id())
        .fetch_optional(&mut *tx)
        .await?
        .ok_or(DomainError::NotFound)?;
        let revoked = crate::auth::session::revoke_all(&mut tx, id, None, now, "deleted").await?;
        let entry = Entry::new("user.deleted", "user", id, org_id)
            .after(serde_json::json!({ "sessions_revoked": revoked, "restorable_days": RESTORE_DAYS }));
        self.audit(&mut tx, actor, entry).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Restores a deleted user (platform operators only); they sign in again with their password.
    pub async fn restore_user(&self, actor: &Actor, id: Uuid) -> Result<(), DomainError> {
        if !actor.is_platform() {
            return Err(DomainError::Forbidden);
        }
        let mut tx = self.begin().await?;
        let (org_id, deleted_at, org_deleted): (Option<Uuid>, DateTime<Utc>, bool) = sqlx::query_as(
            "SELECT u.org_id, u.deleted_at, COALESCE(o.deleted_at IS NOT NULL, false) FROM users u
             LEFT JOIN organizations o ON o.id = u.org_id
             WHERE u.id = $1 AND u.deleted_at IS NOT NULL FOR UPDATE OF u",
        )
        .bind(id)
        .fetch_optional(&mut *tx)
        .await?
        .ok_or(DomainError::NotFound)?;
        self.check_restorable(deleted_at)?;
        if org_deleted {
            return Err(DomainError::Conflict(
                "their organisation is deleted: restore the organisation first".into(),
            ));
        }
        sqlx::query("UPDATE users SET deleted_at = NULL, deleted_by = NULL WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        let entry = Entry::new("user.restored", "user", id, org_id)
            .after(serde_json::json!({ "deleted_at": deleted_at }));
        self.audit(&mut tx, actor, entry).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Soft-deletes an organisation (platform operators only) with everything live in it: its
    /// events and their bands leave the edge, its users are signed out and locked out.
    pub async fn delete_org(&self, actor: &Actor, id: Uuid) -> Result<(), DomainError> {
        if !actor.is_platform() {
            return Err(DomainError::Forbidden);
        }
        let mut tx = self.begin().await?;
        let now = self.now();
        let by = actor.user_id();
        sqlx::query_scalar::<_, Uuid>(
            "UPDATE organizations SET deleted_at = $2, deleted_by = $3 WHERE id = $1 AND deleted_at IS NULL RETURNING id",
        )
        .bind(id)
        .bind(now)
        .bind(by)
        .fetch_optional(&mut *tx)
        .await?
        .ok_or(DomainError::NotFound)?;
        let events: Vec<Uuid> = sqlx::query_scalar(
            "UPDATE events SET deleted_at = $2, deleted_by = $3 WHERE org_id = $1 AND deleted_at IS NULL RETURNING id",
        )
        .bind(id)
        .bind(now)
        .bind(by)
        .fetch_all(&mut *tx)
        .await?;
        let bands: Vec<String> = sqlx::query_scalar(
            "UPDATE bands SET deleted_at = $2, deleted_by = $3 WHERE org_id = $1 AND deleted_at IS NULL RETURNING band_id",
        )
        .bind(id)
        .bind(now)
        .bind(by)
        .fetch_all(&mut *tx)
        .await?;
        let users: Vec<Uuid> = sqlx::query_scalar(
            "UPDATE users SET deleted_at = $2, deleted_by = $3 WHERE org_id = $1 AND deleted_at IS NULL RETURNING id",
        )
        .bind(id)
        .bind(now)
        .bind(by)
        .fetch_all(&mut *tx)
        .await?;
        for user in &users {
            crate::auth::session::revoke_all(&mut tx, *user, None, now, "deleted").await?;
        }
        let entry = Entry::new("org.deleted", "org", id, Some(id)).after(serde_json::json!({
            "events_deleted": events.len(), "bands_deleted": bands.len(), "users_deleted": users.len(),
            "restorable_days": RESTORE_DAYS,
        }));
        self.audit(&mut tx, actor, entry).await?;
        for event in &events {
            kv_sync::outbox::enqueue_event(&mut tx, *event).await?;
        }
        for chunk in bands.chunks(5_000) {
            kv_sync::outbox::enqueue_bands(&mut tx, chunk).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Restores a deleted organisation and exactly what was deleted with it.
    pub async fn restore_org(&self, actor: &Actor, id: Uuid) -> Result<(), DomainError> {
        if !actor.is_platform() {
            return Err(DomainError::Forbidden);
        }
        let mut tx = self.begin().await?;
        let deleted_at: DateTime<Utc> = sqlx::query_scalar(
            "SELECT deleted_at FROM organizations WHERE id = $1 AND deleted_at IS NOT NULL FOR UPDATE",
        )
        .bind(id)
        .fetch_optional(&mut *tx)
        .await?
        .ok_or(DomainError::NotFound)?;
        self.check_restorable(deleted_at)?;
        let mut restored = serde_json::Map::new();
        for table in ["organizations", "events", "bands", "users"] {
            let column = if table == "organizations" { "id" } else { "org_id" };
            let n = sqlx::query(sqlx::AssertSqlSafe(format!(
                "UPDATE {table} SET deleted_at = NULL, deleted_by = NULL WHERE {column} = $1 AND deleted_at = $2"
            )))
            .bind(id)
            .bind(deleted_at)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            restored.insert(table.to_string(), n.into());
        }
        let entry =
            Entry::new("org.restored", "org", id, Some(id)).after(serde_json::Value::Object(restored));
        self.audit(&mut tx, actor, entry).await?;
        let events: Vec<Uuid> =
            sqlx::query_scalar("SELECT id FROM events WHERE org_id = $1 AND deleted_at IS NULL")
                .bind(id)
                .fetch_all(&mut *tx)
                .await?;
        for event in events {
            kv_sync::outbox::enqueue_event_with_bands(&mut tx, event).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Deleted events and bands the actor may still restore, newest first.
    pub async fn list_trash(&self, actor: &Actor) -> Result<Vec<TrashItem>, DomainError> {
        let since = self.now() - chrono::Duration::days(RESTORE_DAYS);
        Ok(sqlx::query_as(
            "SELECT t.*, d.email AS deleted_by FROM (
                 SELECT 'event' AS kind, id::text AS id, name, org_id, deleted_at,
                        deleted_at + make_interval(days => $3) AS restorable_until, deleted_by AS by_id
                 FROM events WHERE deleted_at >= $1 AND ($2::uuid IS NULL OR org_id = $2)
                 UNION ALL
                 SELECT 'band', band_id, label, org_id, deleted_at, deleted_at + make_interval(days => $3), deleted_by
                 FROM bands WHERE deleted_at >= $1 AND ($2::uuid IS NULL OR org_id = $2)
                 UNION ALL
                 SELECT 'user', id::text, email, org_id, deleted_at, deleted_at + make_interval(days => $3), deleted_by
                 FROM users WHERE deleted_at >= $1 AND $4
                 UNION ALL
                 SELECT 'org', id::text, name, id, deleted_at, deleted_at + make_interval(days => $3), deleted_by
                 FROM organizations WHERE deleted_at >= $1 AND $4
             ) t LEFT JOIN users d ON d.id = t.by_id
             ORDER BY t.deleted_at DESC, t.kind, t.id LIMIT 1000",
        )
        .bind(since)
        .bind(actor.org_scope().filter())
        .bind(RESTORE_DAYS as i32)
        .bind(actor.is_platform())
        .fetch_all(&self.db)
        .await?)
    }

    fn check_restorable(&self, deleted_at: DateTime<Utc>) -> Result<(), DomainError> {
        if self.now() - deleted_at > chrono::Duration::days(RESTORE_DAYS) {
            return Err(DomainError::Conflict(format!(
                "deleted more than {RESTORE_DAYS} days ago: it can no longer be restored"
            )));
        }
        Ok(())
    }
}
