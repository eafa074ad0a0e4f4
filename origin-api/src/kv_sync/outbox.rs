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
    insert(conn, vec![(op, Some(event_id))]).await
}

/// Enqueues the current state of bands (deletes for those that are gone).
///
/// Each row records the band's event, a deleted band's too (its op names only
/// the band), so the event's pages know the edge is still catching up.
pub async fn enqueue_bands(conn: &mut PgConnection, ids: &[String]) -> Result<(), sqlx::Error> {
    let found: HashMap<String, bands::Band> =
        bands::load(&mut *conn, ids).await?.into_iter().map(|b| (b.band_id.clone(), b)).collect();
    let gone: Vec<&str> = ids.iter().filter(|id| !found.contains_key(*id)).map(String::as_str).collect();
    // Soft-deleted rows still name their event; a purged band has none left.
    let gone_events: HashMap<String, Uuid> = if gone.is_empty() {
        HashMap::new()
    } else {
        sqlx::query_as::<_, (String, Uuid)>("SELECT band_id, event_id FROM bands WHERE band_id = ANY($1)")
            .bind(&gone)
            .fetch_all(&mut *conn)
            .await?
            .into_iter()
            .collect()
    };
    let ops = ids
        .iter()
        .filter_map(|id| {
            let band_id = BandId::parse(id).ok()?;
            Some(match found.get(id) {
                Some(band) => {
                    (KvOp::PutBand { band_id, record: records::band_record(band) }, Some(band.event_id))
                }
                None => (KvOp::DeleteBand { band_id }, gone_events.get(id).copied()),
            })
        })
        .collect();
    insert(conn, ops).await
}

/// Enqueues an event and every one of its bands (`kv resync`).
pub async fn enqueue_event_with_bands(conn: &mut PgConnection, event_id: Uuid) -> Result<usize, sqlx::Error> {
    // Share-lock the event and its bands: a concurrent edit (which holds them
    // FOR UPDATE) commits first and is read here, so this snapshot can never
    // carry older state under a newer revision than that edit's row.
    sqlx::query("SELECT 1 FROM events WHERE id = $1 FOR SHARE").bind(event_id).execute(&mut *conn).await?;
    let ids: Vec<String> = sqlx::query_scalar(
        "SELECT band_id FROM bands WHERE event_id = $1 AND deleted_at IS NULL ORDER BY band_id FOR SHARE",
    )
    .bind(event_id)
    .fetch_all(&mut *conn)
    .await?;
    enqueue_event(conn, event_id).await?;
    for chunk in ids.chunks(5_000) {
        enqueue_bands(conn, chunk).await?;
    }
    Ok(ids.len() + 1)
}

/// Writes `(op, event it concerns)` rows, in order.
async fn insert(conn: &mut PgConnection, ops: Vec<(KvOp, Option<Uuid>)>) -> Result<(), sqlx::Error> {
    let mut keys = Vec::with_capacity(ops.len());
    let mut bodies = Vec::with_capacity(ops.len());
    let mut event_ids = Vec::with_capacity(ops.len());
    for (op, event_id) in &ops {
        // Kept in step: a row's key, op and event stay together.
        let Ok(body) = serde_json::to_value(op) else { continue };
        keys.push(op.key());
        bodies.push(body);
        event_ids.push(*event_id);
    }
    if keys.is_empty() {
        return Ok(());
    }
    sqlx::query(
        "INSERT INTO kv_outbox (key, op, event_id)
         SELECT key, op, event_id
         FROM UNNEST($1::text[], $2::jsonb[], $3::uuid[]) WITH ORDINALITY AS t(key, op, event_id, n) ORDER BY n",
    )
    .bind(&keys)
    .bind(&bodies)
    .bind(&event_ids)
    .execute(&mut *conn)
    .await?;
    // Delivered at commit; wakes the pusher at once instead of at its next poll.
    sqlx::query("SELECT pg_notify($1, '')").bind(CHANNEL).execute(&mut *conn).await?;
    Ok(())
}
