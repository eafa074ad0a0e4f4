//! Purging for good what was deleted more than [`RESTORE_DAYS`] ago: bands
//! first (their ids move to `reserved_band_ids`, keeping their organisation),
//! then events with their windows. Each purge is one audit row.

use chrono::{DateTime, Utc};
use shared::Keyring;
use sqlx::PgPool;
use uuid::Uuid;

use crate::audit::{self, Entry};
use crate::clock::Clock;
use crate::domain::actor::Actor;
use crate::domain::trash::RESTORE_DAYS;

/// Bands and events purged (or, dry, due).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Purged {
    /// Bands purged.
    pub bands: i64,
    /// Events purged.
    pub events: i64,
    /// Users purged.
    pub users: i64,
    /// Organisations purged.
    pub orgs: i64,
}

/// Purges what was deleted before `as_of - RESTORE_DAYS`, `batch` bands per transaction.
pub async fn run(
    db: &PgPool,
    keys: &Keyring,
    clock: &dyn Clock,
    as_of: DateTime<Utc>,
    batch: i64,
    dry_run: bool,
) -> Result<Purged, sqlx::Error> {
    let cutoff = as_of - chrono::Duration::days(RESTORE_DAYS);
    if dry_run {
        let (bands, events, users, orgs): (i64, i64, i64, i64) = sqlx::query_as(
            "SELECT (SELECT count(*) FROM bands WHERE deleted_at < $1), (SELECT count(*) FROM events WHERE deleted_at < $1),
                    (SELECT count(*) FROM users WHERE deleted_at < $1),
                    (SELECT count(*) FROM organizations WHERE deleted_at < $1)",
        )
        .bind(cutoff)
        .fetch_one(db)
        .await?;
        return Ok(Purged { bands, events, users, orgs });
    }
    let actor = Actor::system(super::JOB);
    let mut purged = Purged::default();
    loop {
        let mut tx = db.begin().await?;
        let gone: Vec<(String, Uuid, Uuid, DateTime<Utc>)> = sqlx::query_as(
            "DELETE FROM bands WHERE band_id IN (SELECT band_id FROM bands WHERE deleted_at < $1 LIMIT $2)
             RETURNING band_id, org_id, event_id, deleted_at",
        )
        .bind(cutoff)
        .bind(batch.max(1))
        .fetch_all(&mut *tx)
        .await?;
        for (band_id, org_id, event_id, deleted_at) in &gone {
            sqlx::query(
                "INSERT INTO reserved_band_ids (band_id, org_id, purged_at) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
            )
            .bind(band_id)
            .bind(org_id)
            .bind(as_of)
            .execute(&mut *tx)
            .await?;
            let entry = Entry::new("band.purged", "band", band_id, Some(*org_id))
                .after(serde_json::json!({ "event_id": event_id, "deleted_at": deleted_at }));
            audit::record(&mut tx, keys, clock, &actor, entry).await?;
        }
        tx.commit().await?;
        purged.bands += gone.len() as i64;
        if (gone.len() as i64) < batch.max(1) {
            break;
        }
    }
    let events: Vec<(Uuid, Uuid, DateTime<Utc>)> = sqlx::query_as(
        "SELECT id, org_id, deleted_at FROM events e WHERE deleted_at < $1
           AND NOT EXISTS (SELECT 1 FROM bands b WHERE b.event_id = e.id)",
    )
    .bind(cutoff)
    .fetch_all(db)
    .await?;
    for (id, org_id, deleted_at) in events {
        let mut tx = db.begin().await?;
        sqlx::query("DELETE FROM event_windows WHERE event_id = $1").bind(id).execute(&mut *tx).await?;
        sqlx::query("DELETE FROM events WHERE id = $1").bind(id).execute(&mut *tx).await?;
        let entry = Entry::new("event.purged", "event", id, Some(org_id))
            .after(serde_json::json!({ "deleted_at": deleted_at }));
        audit::record(&mut tx, keys, clock, &actor, entry).await?;
        tx.commit().await?;
        purged.events += 1;
    }
    let users: Vec<(Uuid, Option<Uuid>, DateTime<Utc>)> =
        sqlx::query_as("SELECT id, org_id, deleted_at FROM users WHERE deleted_at < $1")
            .bind(cutoff)
            .fetch_all(db)
            .await?;
    for (id, org_id, deleted_at) in users {
        let mut tx = db.begin().await?;
        // What hangs off the account goes with it; the audit trail keeps its history.
        for table in ["sessions", "password_resets", "mfa_recovery_codes", "mfa_totp"] {
            sqlx::query(sqlx::AssertSqlSafe(format!("DELETE FROM {table} WHERE user_id = $1")))
                .bind(id)
                .execute(&mut *tx)
                .await?;
        }
        sqlx::query("DELETE FROM users WHERE id = $1").bind(id).execute(&mut *tx).await?;
        let entry = Entry::new("user.purged", "user", id, org_id)
            .after(serde_json::json!({ "deleted_at": deleted_at }));
        audit::record(&mut tx, keys, clock, &actor, entry).await?;
        tx.commit().await?;
        purged.users += 1;
    }
    // Organisations last, once nothing of theirs is left (what was deleted with them went above).
    let orgs: Vec<(Uuid, DateTime<Utc>)> = sqlx::query_as(
        "SELECT id, deleted_at FROM organizations o WHERE deleted_at < $1
           AND NOT EXISTS (SELECT 1 FROM events e WHERE e.org_id = o.id)
           AND NOT EXISTS (SELECT 1 FROM users u WHERE u.org_id = o.id)",
    )
    .bind(cutoff)
    .fetch_all(db)
    .await?;
    for (id, deleted_at) in orgs {
        let mut tx = db.begin().await?;
        sqlx::query("DELETE FROM organizations WHERE id = $1").bind(id).execute(&mut *tx).await?;
        let entry = Entry::new("org.purged", "org", id, Some(id))
            .after(serde_json::json!({ "deleted_at": deleted_at }));
        audit::record(&mut tx, keys, clock, &actor, entry).await?;
        tx.commit().await?;
        purged.orgs += 1;
    }
    Ok(purged)
}
