//! Tap analytics per event: taps per hour, unique bands, repeat taps, device
//! split, and hits kept out of the counts (HEAD requests, previewers, bots)
//! counted apart. Used by the API, the dashboard and the CSV export.
//!
//! Definitions, everywhere the same:
//! - a **tap** is a GET by a human agent (not HEAD, not a previewer or bot);
//! - a tap is a **repeat** when the same band was tapped less than
//!   [`REPEAT_SECONDS`] before on the same UTC day (double taps, phones
//!   re-opening the link; the day bound keeps it computable from daily
//!   summaries once raw taps are gone);
//! - **unique bands** counts bands with at least one tap.
//!
//! Days the retention job has summarised are read from `analytics_summary`
//! (hourly) and `analytics_daily_bands`; later days from raw `tap_logs`. The
//! boundary is the day after the last summarised one, so a range across it
//! gives the same totals before and after the job runs (for ranges aligned
//! to whole days, as the dashboard's are).

/// Per-hour counts over `classified` hits (`counted`, `prev`, `tapped_at`, `device`), `$3` being
/// REPEAT_SECONDS. A band's first tap in an hour is one of that hour's unique bands; a tap within
/// REPEAT_SECONDS of the band's previous one on the same UTC day is a repeat. Shared by the range
/// query and the roll-up, so both count alike.
macro_rules! hour_counts {
    () => {
        "count(*) FILTER (WHERE counted) AS taps,
         count(*) FILTER (WHERE counted AND (prev IS NULL
                          OR date_trunc('hour', prev) <> date_trunc('hour', tapped_at))) AS unique_bands,
         count(*) FILTER (WHERE counted AND tapped_at - prev < make_interval(secs => $3)
                          AND (prev AT TIME ZONE 'UTC')::date = (tapped_at AT TIME ZONE 'UTC')::date) AS repeats,
         count(*) FILTER (WHERE NOT counted) AS excluded,
         count(*) FILTER (WHERE counted AND device = 'ios') AS ios,
         count(*) FILTER (WHERE counted AND device = 'android') AS android,
         count(*) FILTER (WHERE counted AND device = 'other') AS other"
    };
}

/// One sort, one pass: each hit next to the previous hit of its band in the same class.
/// The caller appends the `WHERE` on `tap_logs` and closes `hits`. "C" collation: band ids are
/// ASCII, and locale-aware sorting costs twice as much.
macro_rules! classified_hits {
    () => {
        "SELECT tapped_at, device, counted,
                lag(tapped_at) OVER (PARTITION BY counted, band_id COLLATE \"C\" ORDER BY tapped_at) AS prev
         FROM (SELECT band_id, tapped_at, device, (agent = 'human' AND NOT head) AS counted FROM tap_logs"
    };
}

pub mod hourly_rollup;
pub mod range;

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
               coalesce(tapped_at - lag(tapped_at) OVER (
                            PARTITION BY band_id, (tapped_at AT TIME ZONE 'UTC')::date ORDER BY tapped_at)
                        < make_interval(secs => $4), false) AS repeat
        FROM hits WHERE counted
    )";

/// Where summaries end and raw taps begin: midnight after the last summarised day.
pub async fn summary_boundary(db: &PgPool) -> Result<Option<DateTime<Utc>>, sqlx::Error> {
    let day: Option<chrono::NaiveDate> =
        sqlx::query_scalar("SELECT max(day) + 1 FROM analytics_summarised_days").fetch_one(db).await?;
    Ok(day.map(|d| d.and_time(chrono::NaiveTime::MIN).and_utc()))
}

/// A half-open time range `[from, to)`; empty when `from >= to`.
type Range = (DateTime<Utc>, DateTime<Utc>);

/// `[from, to)` split at the boundary: the summarised part and the raw part (each possibly empty).
fn split(from: DateTime<Utc>, to: DateTime<Utc>, boundary: Option<DateTime<Utc>>) -> (Range, Range) {
    match boundary {
        None => ((from, from), (from, to)),
        Some(b) => ((from, to.min(b)), (from.max(b), to)),
    }
}

/// Taps per hour for an event over `[from, to)`; hours without hits are omitted.
pub async fn hourly(
    db: &PgPool,
    event_id: Uuid,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<Vec<Hour>, sqlx::Error> {
    let ((s_from, s_to), (r_from, r_to)) = split(from, to, summary_boundary(db).await?);
    let mut hours: Vec<Hour> = if s_from < s_to {
        sqlx::query_as(
            "SELECT hour, taps, unique_bands, repeats, previewers + bots + head AS excluded, ios, android, other
             FROM analytics_summary WHERE event_id = $1 AND hour >= $2 AND hour < $3 ORDER BY hour",
        )
        .bind(event_id)
        .bind(s_from)
        .bind(s_to)
        .fetch_all(db)
        .await?
    } else {
        Vec::new()
    };
    if r_from < r_to {
        hours.extend(raw_hourly(db, event_id, r_from, r_to).await?);
    }
    Ok(hours)
}

async fn raw_hourly(
    db: &PgPool,
    event_id: Uuid,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<Vec<Hour>, sqlx::Error> {
    // Hour-aligned ranges (the dashboard's) use the incrementally maintained roll-up.
    if hourly_rollup::hour_of(from) == from && hourly_rollup::hour_of(to) == to {
        return hourly_rollup::hours(db, event_id, from, to).await;
    }
    raw_range(db, event_id, from, to).await
}

/// Hours of `[from, to)` straight from raw taps, in one pass.
async fn raw_range(
    db: &PgPool,
    event_id: Uuid,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<Vec<Hour>, sqlx::Error> {
    sqlx::query_as(concat!(
        "SELECT date_trunc('hour', tapped_at) AS hour, ",
        hour_counts!(),
        " FROM (",
        classified_hits!(),
        " WHERE event_id = $1 AND tapped_at >= $2 - make_interval(secs => $3) AND tapped_at < $4) hits
         ) classified
         WHERE tapped_at >= $2
         GROUP BY 1 ORDER BY 1"
    ))
    .bind(event_id)
    .bind(from)
    .bind(f64::from(REPEAT_SECONDS))
    .bind(to)
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
    let ((s_from, s_to), (r_from, r_to)) = split(from, to, summary_boundary(db).await?);
    // Distinct bands across both parts: a band tapped on both sides counts once.
    let unique_bands: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM (
            SELECT band_id FROM analytics_daily_bands
            WHERE event_id = $1 AND day >= ($2 AT TIME ZONE 'UTC')::date AND $2 < $3
              AND day < (($3 - interval '1 microsecond') AT TIME ZONE 'UTC')::date + 1
            UNION
            SELECT band_id FROM tap_logs
            WHERE event_id = $1 AND tapped_at >= $4 AND tapped_at < $5 AND agent = 'human' AND NOT head
        ) bands",
    )
    .bind(event_id)
    .bind(s_from)
    .bind(s_to)
    .bind(r_from)
    .bind(r_to)
    .fetch_one(db)
    .await?;
    let mut totals =
        if r_from < r_to { raw_totals(db, event_id, r_from, r_to).await? } else { Totals::default() };
    if s_from < s_to {
        let s: (i64, i64, i64, i64, i64, i64, i64, i64) = sqlx::query_as(
            "SELECT coalesce(sum(taps), 0)::bigint, coalesce(sum(repeats), 0)::bigint,
                    coalesce(sum(previewers), 0)::bigint, coalesce(sum(bots), 0)::bigint, coalesce(sum(head), 0)::bigint,
                    coalesce(sum(ios), 0)::bigint, coalesce(sum(android), 0)::bigint, coalesce(sum(other), 0)::bigint
             FROM analytics_summary WHERE event_id = $1 AND hour >= $2 AND hour < $3",
        )
        .bind(event_id)
        .bind(s_from)
        .bind(s_to)
        .fetch_one(db)
        .await?;
        totals.taps += s.0;
        totals.repeats += s.1;
        totals.previewers += s.2;
        totals.bots += s.3;
        totals.head += s.4;
        totals.ios += s.5;
        totals.android += s.6;
        totals.other += s.7;
    }
    totals.unique_bands = unique_bands;
    Ok(totals)
}

async fn raw_totals(
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
