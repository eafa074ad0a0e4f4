//! Writing outbox rows inside the mutation's transaction.
//!
//! A row holds the KV operation as of the change (a snapshot of the record),
//! so each change is delivered, in order, even if later ones follow quickly.

use std::collections::HashMap;

use shared::{BandId, KvOp};
use sqlx::PgConnection;
use uuid::Uuid;

use super::records;
use crate::domain::{bands, events};

/// Notification channel the pusher listens on.
pub const CHANNEL: &str = "kv_outbox";

/// Enqueues the current state of an event (a delete if it is gone).
pub async fn enqueue_event(conn: &mut PgConnection, event_id: Uuid) -> Result<(), sqlx::Error> {
    let op = match events::load(&mut *conn, event_id).await? {
        Some(event) => {
            let windows = events::windows(&mut *conn, event_id).await?;
            KvOp::PutEvent { event_id, record: records::event_record(&event, &windows) }
        }
        None => KvOp::DeleteEvent { event_id },
    };
    insert(conn, vec![op]).await
}

/// Enqueues the current state of bands (deletes for those that are gone).
pub async fn enqueue_bands(conn: &mut PgConnection, ids: &[String]) -> Result<(), sqlx::Error> {
    let found: HashMap<String, bands::Band> =
        bands::load(&mut *conn, ids).await?.into_iter().map(|b| (b.band_id.clone(), b)).collect();
    let ops = ids
        .iter()
        .filter_map(|id| {
            let band_id = BandId::parse(id).ok()?;
            Some(match found.get(id) {
                Some(band) => KvOp::PutBand { band_id, record: records::band_record(band) },
                None => KvOp::DeleteBand { band_id },
            })
        })
        .collect();
    insert(conn, ops).await
}

/// Enqueues an event and every one of its bands (`kv resync`).
pub async fn enqueue_event_with_bands(conn: &mut PgConnection, event_id: Uuid) -> Result<usize, sqlx::Error> {
    enqueue_event(conn, event_id).await?;
    let ids: Vec<String> = sqlx::query_scalar(
        "SELECT band_id FROM bands WHERE event_id = $1 AND deleted_at IS NULL ORDER BY band_id",
    )
    .bind(event_id)
    .fetch_all(&mut *conn)
    .await?;
    for chunk in ids.chunks(5_000) {
        enqueue_bands(conn, chunk).await?;
    }
    Ok(ids.len() + 1)
}

async fn insert(conn: &mut PgConnection, ops: Vec<KvOp>) -> Result<(), sqlx::Error> {
    if ops.is_empty() {
        return Ok(());
    }
    let keys: Vec<String> = ops.iter().map(KvOp::key).collect();
    let bodies: Vec<serde_json::Value> = ops.iter().filter_map(|op| serde_json::to_value(op).ok()).collect();
    sqlx::query(
        "INSERT INTO kv_outbox (key, op)
         SELECT key, op FROM UNNEST($1::text[], $2::jsonb[]) WITH ORDINALITY AS t(key, op, n) ORDER BY n",
    )
    .bind(&keys)
    .bind(&bodies)
    .execute(&mut *conn)
    .await?;
    // Delivered at commit; wakes the pusher at once instead of at its next poll.
    sqlx::query("SELECT pg_notify($1, '')").bind(CHANNEL).execute(&mut *conn).await?;
    Ok(())
}
