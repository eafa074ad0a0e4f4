//! Roll-up before delete: each expired day's taps become per-event hourly
//! rows in `analytics_summary` (and the day's tapped bands in
//! `analytics_daily_bands`), in one transaction that also marks the day in
//! `analytics_summarised_days`. The mark is taken first and only once, so a
//! day is never counted twice, whoever runs and however often.

use chrono::{NaiveDate, NaiveTime};
use sqlx::PgPool;

use crate::analytics::REPEAT_SECONDS;

/// Top countries kept per event and hour.
pub const TOP_COUNTRIES: i64 = 5;

/// What a roll-up did (or, dry, would do).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Summarised {
    /// Days summarised.
    pub days: i64,
    /// Raw hits those days held (all of them, unknown bands included).
    pub hits: i64,
}

/// Summarises every day up to `last_day` not yet summarised.
pub async fn summarise_due_days(
    db: &PgPool,
    last_day: NaiveDate,
    dry_run: bool,
) -> Result<Summarised, sqlx::Error> {
    let mut done = Summarised::default();
    for day in due_days(db, last_day).await? {
        let hits = if dry_run { count_hits(db, day).await? } else { summarise_day(db, day).await? };
        if let Some(hits) = hits {
            done.days += 1;
            done.hits += hits;
        }
    }
    Ok(done)
}

/// Days up to `last_day` that hold taps or lie between summarised days, and are not summarised yet.
pub async fn due_days(db: &PgPool, last_day: NaiveDate) -> Result<Vec<NaiveDate>, sqlx::Error> {
    let end = day_start(last_day.succ_opt().unwrap_or(last_day));
    // The oldest day with data: a day partition, or a row in the default partition.
    let partition_days = super::tap_partitions::partition_days(db).await?;
    let oldest_default: Option<NaiveDate> = sqlx::query_scalar(
        "SELECT min((tapped_at AT TIME ZONE 'UTC')::date) FROM tap_logs_default WHERE tapped_at < $1",
    )
    .bind(end)
    .fetch_one(db)
    .await?;
    let oldest = partition_days.iter().map(|(d, _)| *d).chain(oldest_default).min();
    let Some(first) = oldest else { return Ok(Vec::new()) };
    let summarised: Vec<NaiveDate> =
        sqlx::query_scalar("SELECT day FROM analytics_summarised_days WHERE day >= $1 AND day <= $2")
            .bind(first)
            .bind(last_day)
            .fetch_all(db)
            .await?;
    Ok(first.iter_days().take_while(|d| *d <= last_day).filter(|d| !summarised.contains(d)).collect())
}

/// Midnight UTC starting `day`.
pub fn day_start(day: NaiveDate) -> chrono::DateTime<chrono::Utc> {
    day.and_time(NaiveTime::MIN).and_utc()
}

async fn count_hits(db: &PgPool, day: NaiveDate) -> Result<Option<i64>, sqlx::Error> {
    let hits: i64 =
        sqlx::query_scalar("SELECT count(*) FROM tap_logs WHERE tapped_at >= $1 AND tapped_at < $2")
            .bind(day_start(day))
            .bind(day_start(day) + chrono::Duration::days(1))
            .fetch_one(db)
            .await?;
    Ok(Some(hits))
}

/// Summarises one day; `None` when it already was.
pub async fn summarise_day(db: &PgPool, day: NaiveDate) -> Result<Option<i64>, sqlx::Error> {
    let (from, to) = (day_start(day), day_start(day) + chrono::Duration::days(1));
    let mut tx = db.begin().await?;
    let marked: Option<NaiveDate> = sqlx::query_scalar(
        "INSERT INTO analytics_summarised_days (day, summarised_at, hits) VALUES ($1, now(), 0)
         ON CONFLICT (day) DO NOTHING RETURNING day",
    )
    .bind(day)
    .fetch_optional(&mut *tx)
    .await?;
    if marked.is_none() {
        return Ok(None);
    }
    sqlx::query(
        "WITH hits AS (
            SELECT event_id, org_id, band_id, tapped_at, device, agent, head, country,
                   (agent = 'human' AND NOT head) AS counted
            FROM tap_logs WHERE tapped_at >= $1 AND tapped_at < $2 AND event_id IS NOT NULL
        ), taps AS (
            SELECT event_id, band_id, tapped_at, device, country,
                   coalesce(tapped_at - lag(tapped_at) OVER (PARTITION BY event_id, band_id ORDER BY tapped_at)
                            < make_interval(secs => $3), false) AS repeat
            FROM hits WHERE counted
        ), tap_hours AS (
            SELECT event_id, date_trunc('hour', tapped_at) AS hour, count(*) AS taps,
                   count(DISTINCT band_id) AS unique_bands, count(*) FILTER (WHERE repeat) AS repeats,
                   count(*) FILTER (WHERE device = 'ios') AS ios, count(*) FILTER (WHERE device = 'android') AS android,
                   count(*) FILTER (WHERE device = 'other') AS other
            FROM taps GROUP BY 1, 2
        ), hit_hours AS (
            SELECT event_id, date_trunc('hour', tapped_at) AS hour, (array_agg(org_id))[1] AS org_id,
                   count(*) FILTER (WHERE agent = 'previewer') AS previewers,
                   count(*) FILTER (WHERE agent = 'bot') AS bots,
                   count(*) FILTER (WHERE head AND agent = 'human') AS head
            FROM hits GROUP BY 1, 2
        ), ranked AS (
            SELECT event_id, date_trunc('hour', tapped_at) AS hour, country, count(*) AS n,
                   row_number() OVER (PARTITION BY event_id, date_trunc('hour', tapped_at)
                                      ORDER BY count(*) DESC, country) AS rank
            FROM taps WHERE country IS NOT NULL GROUP BY 1, 2, 3
        ), countries AS (
            SELECT event_id, hour, jsonb_object_agg(country, n) AS countries FROM ranked WHERE rank <= $4 GROUP BY 1, 2
        )
        INSERT INTO analytics_summary
            (event_id, org_id, hour, taps, unique_bands, repeats, previewers, bots, head, ios, android, other, countries)
        SELECT h.event_id, h.org_id, h.hour, coalesce(t.taps, 0), coalesce(t.unique_bands, 0), coalesce(t.repeats, 0),
               h.previewers, h.bots, h.head, coalesce(t.ios, 0), coalesce(t.android, 0), coalesce(t.other, 0),
               coalesce(c.countries, '{}'::jsonb)
        FROM hit_hours h
        LEFT JOIN tap_hours t USING (event_id, hour)
        LEFT JOIN countries c USING (event_id, hour)",
    )
    .bind(from)
    .bind(to)
    .bind(f64::from(REPEAT_SECONDS))
    .bind(TOP_COUNTRIES)
    .execute(&mut *tx)
    .await?;
    sqlx::query(
        "INSERT INTO analytics_daily_bands (event_id, day, band_id)
         SELECT DISTINCT event_id, $3::date, band_id FROM tap_logs
         WHERE tapped_at >= $1 AND tapped_at < $2 AND event_id IS NOT NULL AND agent = 'human' AND NOT head",
    )
    .bind(from)
    .bind(to)
    .bind(day)
    .execute(&mut *tx)
    .await?;
    let hits: i64 =
        sqlx::query_scalar("SELECT count(*) FROM tap_logs WHERE tapped_at >= $1 AND tapped_at < $2")
            .bind(from)
            .bind(to)
            .fetch_one(&mut *tx)
            .await?;
    sqlx::query("UPDATE analytics_summarised_days SET hits = $2 WHERE day = $1")
        .bind(day)
        .bind(hits)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(Some(hits))
}

/// Drops the dashboard's hourly roll-up (and dirty marks) for days now read
/// from the summary; returns the rows (or, dry, the rows due).
pub async fn forget_hourly(db: &PgPool, last_day: NaiveDate, dry_run: bool) -> Result<i64, sqlx::Error> {
    let end = day_start(last_day.succ_opt().unwrap_or(last_day));
    if dry_run {
        return sqlx::query_scalar("SELECT count(*) FROM analytics_hourly WHERE hour < $1")
            .bind(end)
            .fetch_one(db)
            .await;
    }
    sqlx::query("DELETE FROM analytics_dirty_hours WHERE hour < $1").bind(end).execute(db).await?;
    let gone = sqlx::query("DELETE FROM analytics_hourly WHERE hour < $1")
        .bind(end)
        .execute(db)
        .await?
        .rows_affected();
    Ok(gone as i64)
}
