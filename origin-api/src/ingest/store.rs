//! Storing taps: one statement for the whole batch.

use chrono::{DateTime, Utc};
use shared::TapEvent;
use sqlx::postgres::PgArguments;
use sqlx::query::Query;
use sqlx::{Acquire, PgConnection, Postgres};
use uuid::Uuid;

/// Inserts `taps`, skipping ids already stored; returns how many were new.
///
/// `UNNEST` over column arrays keeps it to one round trip and one plan
/// however many taps; the primary key (id, tapped_at) makes redelivery a
/// no-op, including duplicates inside the batch itself.
pub async fn insert(conn: &mut PgConnection, taps: &[TapEvent]) -> Result<u64, sqlx::Error> {
    if taps.is_empty() {
        return Ok(0);
    }
    let cols = Columns::of(taps);
    // Fast path: a plain insert (most batches are new, and skipping the
    // per-row conflict check is ~20% cheaper in Postgres). A redelivery hits
    // the unique key; then the batch is inserted again skipping what exists.
    let mut savepoint = conn.begin().await?;
    let plain = cols.bind(sqlx::query(INSERT)).execute(&mut *savepoint).await;
    let result = match plain {
        Ok(result) => {
            savepoint.commit().await?;
            result
        }
        Err(sqlx::Error::Database(e)) if e.code().as_deref() == Some("23505") => {
            savepoint.rollback().await?;
            cols.bind(sqlx::query(INSERT_SKIPPING_DUPLICATES)).execute(&mut *conn).await?
        }
        Err(e) => return Err(e),
    };
    Ok(result.rows_affected())
}

/// Plain bulk insert.
const INSERT: &str = "INSERT INTO tap_logs (id, band_id, event_id, org_id, tapped_at, outcome, head, agent, device, country, colo)
     SELECT * FROM UNNEST($1::uuid[], $2::text[], $3::uuid[], $4::uuid[], $5::timestamptz[], $6::text[],
                          $7::bool[], $8::text[], $9::text[], $10::text[], $11::text[])";
/// Bulk insert skipping rows already stored.
const INSERT_SKIPPING_DUPLICATES: &str = "INSERT INTO tap_logs (id, band_id, event_id, org_id, tapped_at, outcome, head, agent, device, country, colo)
     SELECT * FROM UNNEST($1::uuid[], $2::text[], $3::uuid[], $4::uuid[], $5::timestamptz[], $6::text[],
                          $7::bool[], $8::text[], $9::text[], $10::text[], $11::text[])
     ON CONFLICT DO NOTHING";

/// The batch as one array per column (what `UNNEST` takes).
struct Columns<'a> {
    ids: Vec<Uuid>,
    bands: Vec<&'a str>,
    events: Vec<Option<Uuid>>,
    orgs: Vec<Option<Uuid>>,
    times: Vec<DateTime<Utc>>,
    outcomes: Vec<&'static str>,
    heads: Vec<bool>,
    agents: Vec<&'static str>,
    devices: Vec<&'static str>,
    countries: Vec<Option<&'a str>>,
    colos: Vec<Option<&'a str>>,
}

impl<'a> Columns<'a> {
    fn of(taps: &'a [TapEvent]) -> Self {
        Self {
            ids: taps.iter().map(|t| t.id).collect(),
            bands: taps.iter().map(|t| t.band_id.as_str()).collect(),
            events: taps.iter().map(|t| t.event_id).collect(),
            orgs: taps.iter().map(|t| t.org_id).collect(),
            times: taps
                .iter()
                .map(|t| DateTime::from_timestamp_millis(t.ts_ms).unwrap_or_default())
                .collect(),
            outcomes: taps.iter().map(|t| t.outcome.as_str()).collect(),
            heads: taps.iter().map(|t| t.head).collect(),
            agents: taps.iter().map(|t| t.agent.as_str()).collect(),
            devices: taps.iter().map(|t| t.device.as_str()).collect(),
            countries: taps.iter().map(|t| t.country.as_deref()).collect(),
            colos: taps.iter().map(|t| t.colo.as_deref()).collect(),
        }
    }

    fn bind<'q>(&'q self, query: Query<'q, Postgres, PgArguments>) -> Query<'q, Postgres, PgArguments> {
        query
            .bind(&self.ids)
            .bind(&self.bands)
            .bind(&self.events)
            .bind(&self.orgs)
            .bind(&self.times)
            .bind(&self.outcomes)
            .bind(&self.heads)
            .bind(&self.agents)
            .bind(&self.devices)
            .bind(&self.countries)
            .bind(&self.colos)
    }
}
