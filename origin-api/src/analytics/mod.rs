//! Tap analytics per event: taps per hour, unique bands, repeat taps, device
//! split, and hits kept out of the counts (HEAD requests, previewers, bots)
//! counted apart. Used by the API, the dashboard and the CSV export.
//!
//! Definitions, everywhere the same:
//! - a **tap** is a GET by a human agent (not HEAD, not a previewer or bot);
//! - a tap is a **repeat** when the same band was tapped less than
//!   [`REPEAT_SECONDS`] before (double taps, phones re-opening the link);
//! - **unique bands** counts bands with at least one tap.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::PgPool;
use uuid::Uuid;

/// A tap of the same band within this many seconds of the previous one is a repeat.
pub const REPEAT_SECONDS: i32 = 10;

/// One hour of an event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct Hour {
    /// Start of the hour (UTC).
    pub hour: DateTime<Utc>,
    /// Taps (humans, GET).
    pub taps: i64,
    /// Bands tapped in this hour.
    pub unique_bands: i64,
    /// Taps that were repeats.
    pub repeats: i64,
    /// Hits kept out of the counts (HEAD, previewers, bots).
    pub excluded: i64,
    /// Taps from iOS.
    pub ios: i64,
    /// Taps from Android.
    pub android: i64,
    /// Taps from other devices.
    pub other: i64,
}

/// Totals over a range.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Default)]
pub struct Totals {
    /// Taps.
    pub taps: i64,
    /// Distinct bands tapped over the whole range.
    pub unique_bands: i64,
    /// Repeat taps.
    pub repeats: i64,
    /// Previewer hits.
    pub previewers: i64,
    /// Bot hits.
    pub bots: i64,
    /// HEAD requests.
    pub head: i64,
    /// Taps per device class.
    pub ios: i64,
    /// Android taps.
    pub android: i64,
    /// Other taps.
    pub other: i64,
}

/// The SQL that classifies every hit of one event in a time range: `counted`
/// (a tap), `repeat`, and the exclusion reasons. `$1` event, `$2` from, `$3` to.
const CLASSIFIED: &str = "
    WITH hits AS (
        SELECT band_id, tapped_at, device, agent, head,
               (agent = 'human' AND NOT head) AS counted
        FROM tap_logs
        WHERE event_id = $1 AND tapped_at >= $2 AND tapped_at < $3
    ), taps AS (
        SELECT band_id, tapped_at, device,
               coalesce(tapped_at - lag(tapped_at) OVER (PARTITION BY band_id ORDER BY tapped_at)
                        < make_interval(secs => $4), false) AS repeat
        FROM hits WHERE counted
    )";

/// Taps per hour for an event over `[from, to)`; hours without hits are omitted.
pub async fn hourly(
    db: &PgPool,
    event_id: Uuid,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<Vec<Hour>, sqlx::Error> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "{CLASSIFIED}
        SELECT hour,
               sum(taps)::bigint AS taps, sum(unique_bands)::bigint AS unique_bands, sum(repeats)::bigint AS repeats,
               sum(excluded)::bigint AS excluded, sum(ios)::bigint AS ios, sum(android)::bigint AS android,
               sum(other)::bigint AS other
        FROM (
            SELECT date_trunc('hour', tapped_at) AS hour, count(*) AS taps, count(DISTINCT band_id) AS unique_bands,
                   count(*) FILTER (WHERE repeat) AS repeats, 0 AS excluded,
                   count(*) FILTER (WHERE device = 'ios') AS ios, count(*) FILTER (WHERE device = 'android') AS android,
                   count(*) FILTER (WHERE device = 'other') AS other
            FROM taps GROUP BY 1
            UNION ALL
            SELECT date_trunc('hour', tapped_at), 0, 0, 0, count(*), 0, 0, 0 FROM hits WHERE NOT counted GROUP BY 1
        ) parts
        GROUP BY hour ORDER BY hour"
    )))
    .bind(event_id)
    .bind(from)
    .bind(to)
    .bind(f64::from(REPEAT_SECONDS))
    .fetch_all(db)
    .await
}

/// Totals for an event over `[from, to)`.
pub async fn totals(
    db: &PgPool,
    event_id: Uuid,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<Totals, sqlx::Error> {
    let row: (i64, i64, i64, i64, i64, i64, i64, i64, i64) = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "{CLASSIFIED}
        SELECT (SELECT count(*) FROM taps), (SELECT count(DISTINCT band_id) FROM taps),
               (SELECT count(*) FROM taps WHERE repeat),
               (SELECT count(*) FROM hits WHERE agent = 'previewer'),
               (SELECT count(*) FROM hits WHERE agent = 'bot'),
               (SELECT count(*) FROM hits WHERE head AND agent = 'human'),
               (SELECT count(*) FROM taps WHERE device = 'ios'),
               (SELECT count(*) FROM taps WHERE device = 'android'),
               (SELECT count(*) FROM taps WHERE device = 'other')"
    )))
    .bind(event_id)
    .bind(from)
    .bind(to)
    .bind(f64::from(REPEAT_SECONDS))
    .fetch_one(db)
    .await?;
    Ok(Totals {
        taps: row.0,
        unique_bands: row.1,
        repeats: row.2,
        previewers: row.3,
        bots: row.4,
        head: row.5,
        ios: row.6,
        android: row.7,
        other: row.8,
    })
}

/// Taps since `since` per event (the events list's "today" column).
pub async fn taps_since(
    db: &PgPool,
    event_ids: &[Uuid],
    since: DateTime<Utc>,
) -> Result<Vec<(Uuid, i64)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT event_id, count(*) FROM tap_logs
         WHERE event_id = ANY($1) AND tapped_at >= $2 AND agent = 'human' AND NOT head
         GROUP BY event_id",
    )
    .bind(event_ids)
    .bind(since)
    .fetch_all(db)
    .await
}

/// The latest hits of an event, flagged ones included (the dashboard's live list).
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct RecentHit {
    /// Band.
    pub band_id: String,
    /// When.
    pub tapped_at: DateTime<Utc>,
    /// Outcome.
    pub outcome: String,
    /// Agent kind.
    pub agent: String,
    /// Device class.
    pub device: String,
    /// HEAD request.
    pub head: bool,
}

/// The `limit` latest hits of an event.
pub async fn recent(db: &PgPool, event_id: Uuid, limit: i64) -> Result<Vec<RecentHit>, sqlx::Error> {
    sqlx::query_as(
        "SELECT band_id, tapped_at, outcome, agent, device, head FROM tap_logs
         WHERE event_id = $1 AND tapped_at > now() - interval '2 days'
         ORDER BY tapped_at DESC LIMIT $2",
    )
    .bind(event_id)
    .bind(limit.clamp(1, 100))
    .fetch_all(db)
    .await
}
