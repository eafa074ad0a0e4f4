//! Storing taps: one statement for the whole batch and the hours it dirties.

use chrono::{DateTime, Utc};
use shared::TapEvent;
use sqlx::postgres::PgArguments;
use sqlx::query::Query;
use sqlx::{PgConnection, Postgres};
use uuid::Uuid;

use crate::analytics::hourly_rollup::DirtyHours;

/// How to treat taps that are already stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Plain insert: a tap already stored fails the statement (and its transaction).
    NewOnly,
    /// Insert what is new, skip what is stored.
    SkipStored,
}

/// Inserts `taps` and marks `dirty` hours; returns how many taps were new.
///
/// `UNNEST` over column arrays keeps it to one round trip and one plan
/// however many taps. Most batches are new, and a plain insert skips the
/// per-row conflict check (~20% cheaper in Postgres), so callers try
/// [`Mode::NewOnly`] first and, when [`is_stored_already`] says a
/// redelivery hit the primary key (id, tapped_at), retry the batch in a
/// fresh transaction with [`Mode::SkipStored`].
pub async fn insert(
    conn: &mut PgConnection,
    taps: &[TapEvent],
    dirty: &DirtyHours,
    mode: Mode,
) -> Result<u64, sqlx::Error> {
    if taps.is_empty() {
        return Ok(0);
    }
    let cols = Columns::of(taps);
    let sql = match mode {
        Mode::NewOnly => INSERT,
        Mode::SkipStored => INSERT_SKIPPING_STORED,
    };
    let query = cols.bind(sqlx::query(sql)).bind(&dirty.events).bind(&dirty.hours);
    Ok(query.execute(conn).await?.rows_affected())
}

/// Whether `e` is a [`Mode::NewOnly`] insert meeting a tap already stored.
pub fn is_stored_already(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(db) if db.code().as_deref() == Some("23505"))
}

/// The dirty-hour marks ride in the same statement (a data-modifying CTE
/// always runs), saving a round trip per batch; the statement's row count
/// stays the taps'.
macro_rules! insert_taps {
    ($on_conflict:literal) => {
        concat!(
            "WITH dirty AS (
                INSERT INTO analytics_dirty_hours (event_id, hour)
                SELECT * FROM UNNEST($12::uuid[], $13::timestamptz[]) ON CONFLICT DO NOTHING)
             INSERT INTO tap_logs (id, band_id, event_id, org_id, tapped_at, outcome, head, agent, device, country, colo)
             SELECT * FROM UNNEST($1::uuid[], $2::text[], $3::uuid[], $4::uuid[], $5::timestamptz[], $6::text[],
                                  $7::bool[], $8::text[], $9::text[], $10::text[], $11::text[])",
            $on_conflict
        )
    };
}

const INSERT: &str = insert_taps!("");
const INSERT_SKIPPING_STORED: &str = insert_taps!(" ON CONFLICT DO NOTHING");

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
