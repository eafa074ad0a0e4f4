//! The incrementally maintained hourly roll-up that keeps the dashboard's
//! per-event hourly chart cheap however many taps the table holds.
//!
//! Ingest marks each (event, hour) it adds taps to as dirty, in the taps'
//! transaction. A background task recomputes dirty hours from the raw taps
//! (a few at a time, so ingest never waits long on its locks) into
//! `analytics_hourly` and clears the marks in the same transaction. Reads
//! trust a stored hour only when it is not dirty; every other hour is
//! computed from raw taps on the spot, so a read is never stale, only
//! sometimes slower.

use std::collections::BTreeSet;
use std::time::Duration;

use chrono::{DateTime, DurationRound, Utc};
use shared::TapEvent;
use sqlx::PgPool;
use uuid::Uuid;

use super::{Hour, REPEAT_SECONDS};

/// Dirty hours recomputed per transaction.
pub const BATCH: i64 = 20;

/// Above this many hours to compute from raw taps, one range scan replaces per-hour probes.
pub const MAX_PROBED_HOURS: usize = 48;

/// How often the background task looks for dirty hours.
pub const INTERVAL: Duration = Duration::from_secs(10);

/// The hours of `$1` event listed in `$2`, from raw taps. Each hour also sees
/// the [`REPEAT_SECONDS`] before it, so repeats and "first tap of a band in
/// this hour" are right at its start; `$3` is REPEAT_SECONDS.
pub const HOURS_FROM_RAW: &str = concat!(
    "SELECT h.hour, ",
    hour_counts!(),
    " FROM unnest($2::timestamptz[]) AS h(hour)
     CROSS JOIN LATERAL (",
    classified_hits!(),
    " WHERE event_id = $1 AND tapped_at >= h.hour - make_interval(secs => $3)
          AND tapped_at < h.hour + interval '1 hour') hits
     ) c
     WHERE c.tapped_at >= h.hour
     GROUP BY h.hour
     ORDER BY h.hour"
);

/// Start of the hour holding `t`.
pub fn hour_of(t: DateTime<Utc>) -> DateTime<Utc> {
    t.duration_trunc(chrono::Duration::hours(1)).unwrap_or(t)
}

/// The (event, hour) pairs a batch of taps makes stale, as the two arrays
/// the ingest statement marks dirty in the taps' transaction.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct DirtyHours {
    /// Event of each mark.
    pub events: Vec<Uuid>,
    /// Hour of each mark.
    pub hours: Vec<DateTime<Utc>>,
}

impl DirtyHours {
    /// The hours `taps` touch, and the next hour for taps in an hour's last
    /// seconds (their repeats count there); each pair once.
    pub fn of(taps: &[TapEvent]) -> Self {
        let mut marks = BTreeSet::new();
        for tap in taps {
            let (Some(event), Some(at)) = (tap.event_id, DateTime::from_timestamp_millis(tap.ts_ms)) else {
                continue;
            };
            let hour = hour_of(at);
            marks.insert((event, hour));
            if at + chrono::Duration::seconds(i64::from(REPEAT_SECONDS)) >= hour + chrono::Duration::hours(1)
            {
                marks.insert((event, hour + chrono::Duration::hours(1)));
            }
        }
        let (events, hours) = marks.into_iter().unzip();
        Self { events, hours }
    }
}

/// Recomputes up to [`BATCH`] dirty hours; returns how many.
pub async fn refresh_some(db: &PgPool) -> Result<u64, sqlx::Error> {
    let mut tx = db.begin().await?;
    let claimed: Vec<(Uuid, DateTime<Utc>)> = sqlx::query_as(
        "DELETE FROM analytics_dirty_hours WHERE (event_id, hour) IN (
             SELECT event_id, hour FROM analytics_dirty_hours ORDER BY hour FOR UPDATE SKIP LOCKED LIMIT $1)
         RETURNING event_id, hour",
    )
    .bind(BATCH)
    .fetch_all(&mut *tx)
    .await?;
    let mut by_event: std::collections::BTreeMap<Uuid, Vec<DateTime<Utc>>> = Default::default();
    for (event, hour) in &claimed {
        by_event.entry(*event).or_default().push(*hour);
    }
    for (event, hours) in by_event {
        let rows: Vec<Hour> = sqlx::query_as(HOURS_FROM_RAW)
            .bind(event)
            .bind(&hours)
            .bind(f64::from(REPEAT_SECONDS))
            .fetch_all(&mut *tx)
            .await?;
        // Hours whose taps are all gone (none should be, but stay exact): no row.
        sqlx::query("DELETE FROM analytics_hourly WHERE event_id = $1 AND hour = ANY($2)")
            .bind(event)
            .bind(&hours)
            .execute(&mut *tx)
            .await?;
        for h in rows {
            sqlx::query(
                "INSERT INTO analytics_hourly (event_id, hour, taps, unique_bands, repeats, excluded, ios, android, other)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
            )
            .bind(event)
            .bind(h.hour)
            .bind(h.taps)
            .bind(h.unique_bands)
            .bind(h.repeats)
            .bind(h.excluded)
            .bind(h.ios)
            .bind(h.android)
            .bind(h.other)
            .execute(&mut *tx)
            .await?;
        }
    }
    tx.commit().await?;
    Ok(claimed.len() as u64)
}

/// Keeps the roll-up fresh until the task is dropped.
pub async fn run_forever(db: PgPool) {
    loop {
        loop {
            match refresh_some(&db).await {
                Ok(n) if n as i64 == BATCH => continue,
                Ok(_) => break,
                Err(e) => {
                    tracing::warn!(error = %e, "hourly analytics roll-up failed; retrying later");
                    break;
                }
            }
        }
        tokio::time::sleep(INTERVAL).await;
    }
}

/// Hours of `[from, to)` (hour-aligned) for an event: stored ones that are clean, the rest from raw taps.
pub async fn hours(
    db: &PgPool,
    event_id: Uuid,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<Vec<Hour>, sqlx::Error> {
    let mut stored: Vec<Hour> = sqlx::query_as(
        "SELECT hour, taps, unique_bands, repeats, excluded, ios, android, other FROM analytics_hourly a
         WHERE event_id = $1 AND hour >= $2 AND hour < $3
           AND NOT EXISTS (SELECT 1 FROM analytics_dirty_hours d WHERE d.event_id = a.event_id AND d.hour = a.hour)",
    )
    .bind(event_id)
    .bind(from)
    .bind(to)
    .fetch_all(db)
    .await?;
    let known: BTreeSet<DateTime<Utc>> = stored.iter().map(|h| h.hour).collect();
    let mut missing = Vec::new();
    let mut hour = from;
    while hour < to {
        if !known.contains(&hour) {
            missing.push(hour);
        }
        hour += chrono::Duration::hours(1);
    }
    match (missing.first(), missing.last()) {
        (Some(_), Some(_)) if missing.len() <= MAX_PROBED_HOURS => {
            let raw: Vec<Hour> = sqlx::query_as(HOURS_FROM_RAW)
                .bind(event_id)
                .bind(&missing)
                .bind(f64::from(REPEAT_SECONDS))
                .fetch_all(db)
                .await?;
            stored.extend(raw);
        }
        (Some(first), Some(last)) => {
            // Many hours to compute: one range scan beats one index probe per hour.
            let span = super::raw_range(db, event_id, *first, *last + chrono::Duration::hours(1)).await?;
            let wanted: BTreeSet<DateTime<Utc>> = missing.iter().copied().collect();
            stored.extend(span.into_iter().filter(|h| wanted.contains(&h.hour)));
        }
        _ => {}
    }
    stored.sort_by_key(|h| h.hour);
    Ok(stored)
}
