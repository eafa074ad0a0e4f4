//! Storing taps: one statement for the whole batch.

use chrono::{DateTime, Utc};
use shared::TapEvent;
use sqlx::PgPool;
use uuid::Uuid;

/// Inserts `taps`, skipping ids already stored; returns how many were new.
///
/// `UNNEST` over column arrays keeps it to one round trip and one plan
/// however many taps; the primary key (id, tapped_at) makes redelivery a
/// no-op, including duplicates inside the batch itself.
pub async fn insert(db: &PgPool, taps: &[TapEvent]) -> Result<u64, sqlx::Error> {
    if taps.is_empty() {
        return Ok(0);
    }
    let n = taps.len();
    let mut ids = Vec::with_capacity(n);
    let mut bands = Vec::with_capacity(n);
    let mut events: Vec<Option<Uuid>> = Vec::with_capacity(n);
    let mut orgs: Vec<Option<Uuid>> = Vec::with_capacity(n);
    let mut times: Vec<DateTime<Utc>> = Vec::with_capacity(n);
    let mut outcomes = Vec::with_capacity(n);
    let mut heads = Vec::with_capacity(n);
    let mut agents = Vec::with_capacity(n);
    let mut devices = Vec::with_capacity(n);
    let mut countries: Vec<Option<&str>> = Vec::with_capacity(n);
    let mut colos: Vec<Option<&str>> = Vec::with_capacity(n);
    for t in taps {
        ids.push(t.id);
        bands.push(t.band_id.as_str());
        events.push(t.event_id);
        orgs.push(t.org_id);
        times.push(DateTime::from_timestamp_millis(t.ts_ms).unwrap_or_default());
        outcomes.push(t.outcome.as_str());
        heads.push(t.head);
        agents.push(t.agent.as_str());
        devices.push(t.device.as_str());
        countries.push(t.country.as_deref());
        colos.push(t.colo.as_deref());
    }
    let result = sqlx::query(
        "INSERT INTO tap_logs (id, band_id, event_id, org_id, tapped_at, outcome, head, agent, device, country, colo)
         SELECT * FROM UNNEST($1::uuid[], $2::text[], $3::uuid[], $4::uuid[], $5::timestamptz[], $6::text[],
                              $7::bool[], $8::text[], $9::text[], $10::text[], $11::text[])
         ON CONFLICT DO NOTHING",
    )
    .bind(&ids)
    .bind(&bands)
    .bind(&events)
    .bind(&orgs)
    .bind(&times)
    .bind(&outcomes)
    .bind(&heads)
    .bind(&agents)
    .bind(&devices)
    .bind(&countries)
    .bind(&colos)
    .execute(db)
    .await?;
    Ok(result.rows_affected())
}
