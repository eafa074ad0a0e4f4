//! Dropping expired taps: whole day partitions (`DROP TABLE`, no row-by-row
//! DELETE) for days already summarised, and the default partition's old
//! rows in bounded batches.

use chrono::NaiveDate;
use sqlx::PgPool;

use super::rollup::day_start;

/// What the drop step did (or, dry, would do).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Dropped {
    /// Day partitions dropped.
    pub partitions: i64,
    /// Rows they held.
    pub rows_in_partitions: i64,
    /// Rows deleted from the default partition.
    pub rows_in_default: i64,
}

/// The day partitions of `tap_logs` with their table names, oldest first.
pub async fn partition_days(db: &PgPool) -> Result<Vec<(NaiveDate, String)>, sqlx::Error> {
    let names: Vec<String> = sqlx::query_scalar(
        "SELECT c.relname::text FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
         WHERE i.inhparent = 'tap_logs'::regclass AND c.relname ~ '^tap_logs_p[0-9]{8}$'",
    )
    .fetch_all(db)
    .await?;
    let mut days: Vec<(NaiveDate, String)> = names
        .into_iter()
        .filter_map(|name| {
            let day = NaiveDate::parse_from_str(name.strip_prefix("tap_logs_p")?, "%Y%m%d").ok()?;
            Some((day, name))
        })
        .collect();
    days.sort();
    Ok(days)
}

/// Drops the partitions of summarised days up to `last_day` and deletes older rows from the default partition.
pub async fn drop_summarised(
    db: &PgPool,
    last_day: NaiveDate,
    batch: i64,
    dry_run: bool,
) -> Result<Dropped, sqlx::Error> {
    let summarised: Vec<NaiveDate> =
        sqlx::query_scalar("SELECT day FROM analytics_summarised_days WHERE day <= $1")
            .bind(last_day)
            .fetch_all(db)
            .await?;
    // A dry run summarised nothing, but the real run summarises every due day before this step.
    let droppable = |day: &NaiveDate| *day <= last_day && (dry_run || summarised.contains(day));
    let mut dropped = Dropped::default();
    for (day, name) in partition_days(db).await? {
        if !droppable(&day) {
            continue;
        }
        // `name` matched ^tap_logs_p[0-9]{8}$ above: safe to splice as an identifier.
        let rows: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!("SELECT count(*) FROM \"{name}\"")))
            .fetch_one(db)
            .await?;
        if !dry_run {
            sqlx::query(sqlx::AssertSqlSafe(format!("DROP TABLE IF EXISTS \"{name}\""))).execute(db).await?;
            tracing::info!(event = "tap_partition_dropped", partition = %name, rows, "dropped an expired day of taps");
        }
        dropped.partitions += 1;
        dropped.rows_in_partitions += rows;
    }
    // Rows in the default partition for summarised days (late or early arrivals).
    let through = if dry_run { Some(&last_day) } else { summarised.iter().max() };
    let Some(through) = through else { return Ok(dropped) };
    let end = day_start(through.succ_opt().unwrap_or(*through));
    dropped.rows_in_default = if dry_run {
        sqlx::query_scalar("SELECT count(*) FROM tap_logs_default WHERE tapped_at < $1")
            .bind(end)
            .fetch_one(db)
            .await?
    } else {
        super::cleanup::delete_in_batches(db, "tap_logs_default", "tapped_at < $1", end, batch).await?
    };
    Ok(dropped)
}
