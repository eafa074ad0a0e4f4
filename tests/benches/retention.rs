//! Retention benchmark: synthetic taps over 100 days for 50 events, then the
//! retention run. Prints bulk generation time, the run's duration and what
//! it dropped, p50/p95 of the per-event hourly analytics query before and
//! after, and a batched `DELETE` of the same expired rows for comparison
//! with the partition drop.
//!
//!   cargo bench -p system-tests --bench retention
//!   (env: RETENTION_TAPS=10000000 RETENTION_EVENTS=50 RETENTION_DAYS=100 RETENTION_QUERIES=200)

use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use origin_api::clock::SystemClock;
use origin_api::retention::{self, Outcome, Policy, RunOptions};
use sqlx::PgPool;
use system_tests::db::TestDb;
use system_tests::keys;
use uuid::Uuid;

fn env_num(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// The 50th and 95th percentiles of `samples`.
fn p50_p95(mut samples: Vec<f64>) -> (f64, f64) {
    samples.sort_by(f64::total_cmp);
    let at = |q: f64| {
        samples[((samples.len() as f64 * q).ceil() as usize).saturating_sub(1).min(samples.len() - 1)]
    };
    (at(0.50), at(0.95))
}

/// p50 and p95 (ms) of the per-event hourly query over `days` days up to `as_of`.
async fn hourly_latency(
    db: &PgPool,
    events: &[Uuid],
    as_of: DateTime<Utc>,
    days: i64,
    n: usize,
) -> (f64, f64) {
    let mut samples = Vec::with_capacity(n);
    for i in 0..n {
        let event = events[i % events.len()];
        let started = Instant::now();
        let to = origin_api::analytics::hourly_rollup::hour_of(as_of) + chrono::Duration::hours(1);
        let hours = origin_api::analytics::hourly(db, event, to - chrono::Duration::days(days), to)
            .await
            .expect("hourly");
        samples.push(ms(started.elapsed()));
        assert!(!hours.is_empty() || days == 0, "the query found hours");
    }
    p50_p95(samples)
}

/// p50/p95 (ms) of the same 7 days computed from raw taps only (a range not aligned to hours skips the roll-up).
async fn raw_latency(db: &PgPool, events: &[Uuid], as_of: DateTime<Utc>, n: usize) -> (f64, f64) {
    let mut samples = Vec::with_capacity(n);
    for i in 0..n {
        let started = Instant::now();
        origin_api::analytics::hourly(db, events[i % events.len()], as_of - chrono::Duration::days(7), as_of)
            .await
            .expect("hourly");
        samples.push(ms(started.elapsed()));
    }
    p50_p95(samples)
}

#[tokio::main]
async fn main() {
    let total = env_num("RETENTION_TAPS", 10_000_000) as i64;
    let event_count = env_num("RETENTION_EVENTS", 50);
    let days = env_num("RETENTION_DAYS", 100) as i64;
    let queries = env_num("RETENTION_QUERIES", 200);
    let db = TestDb::new().await;
    let pool = &db.pool;
    let as_of = Utc::now();
    let events: Vec<Uuid> = (0..event_count).map(|_| Uuid::now_v7()).collect();

    // Partitions for every day of the data and the week ahead.
    sqlx::query("SELECT ensure_tap_partitions($1::date - $2::int, $2::int + 9)")
        .bind(as_of.date_naive())
        .bind(days as i32)
        .execute(pool)
        .await
        .expect("partitions");

    // Bulk generation, a million rows per statement.
    let started = Instant::now();
    let chunk = 1_000_000i64;
    let mut from = 0i64;
    while from < total {
        let to = (from + chunk).min(total);
        sqlx::query(
            "INSERT INTO tap_logs (id, band_id, event_id, org_id, tapped_at, outcome, head, agent, device, country, colo)
             SELECT gen_random_uuid(), 'BAND' || (g % 20000), ($1::uuid[])[1 + g % array_length($1::uuid[], 1)], NULL,
                    $2::timestamptz - make_interval(secs => (g::float8 / $4::float8) * $5::float8 * 86400),
                    'default', g % 41 = 0,
                    CASE WHEN g % 50 = 0 THEN 'bot' WHEN g % 97 = 0 THEN 'previewer' ELSE 'human' END,
                    (ARRAY['ios', 'android', 'other'])[1 + g % 3],
                    (ARRAY['GB', 'FR', 'DE', 'US', 'ES', 'NL'])[1 + g % 6], 'LHR'
             FROM generate_series($3::bigint, $6::bigint) g",
        )
        .bind(&events)
        .bind(as_of)
        .bind(from)
        .bind(total as f64)
        .bind(days as f64)
        .bind(to - 1)
        .execute(pool)
        .await
        .expect("generate taps");
        from = to;
    }
    // What autovacuum does for an insert-only table soon after a load: statistics and the visibility map.
    sqlx::query("VACUUM (ANALYZE) tap_logs").execute(pool).await.expect("vacuum");
    let generation = started.elapsed();

    // The dashboard's hourly roll-up for the recent days (ingest keeps it so; here it is built once).
    let started = Instant::now();
    sqlx::query(
        "INSERT INTO analytics_dirty_hours (event_id, hour)
         SELECT DISTINCT event_id, date_trunc('hour', tapped_at) FROM tap_logs WHERE tapped_at >= $1 - interval '8 days'",
    )
    .bind(as_of)
    .execute(pool)
    .await
    .expect("mark");
    let mut rolled = 0;
    loop {
        let n = origin_api::analytics::hourly_rollup::refresh_some(pool).await.expect("refresh");
        rolled += n;
        if n == 0 {
            break;
        }
    }
    let rollup_build = started.elapsed();
    let (p50_raw, p95_raw) = raw_latency(pool, &events, as_of, queries).await;
    let (p50_7_before, p95_7_before) = hourly_latency(pool, &events, as_of, 7, queries).await;
    let (p50_all_before, p95_all_before) = hourly_latency(pool, &events, as_of, days, queries / 4).await;

    // The comparison: the same expired rows, deleted in batches from an ordinary indexed table.
    let policy = Policy::default();
    let last_day = policy.last_expired_day(as_of);
    let end = retention::rollup::day_start(last_day.succ_opt().expect("date"));
    sqlx::query("CREATE TABLE delete_bench AS SELECT * FROM tap_logs WHERE tapped_at < $1")
        .bind(end)
        .execute(pool)
        .await
        .expect("copy");
    sqlx::query("ALTER TABLE delete_bench ADD PRIMARY KEY (id, tapped_at)").execute(pool).await.expect("pk");
    sqlx::query("CREATE INDEX ON delete_bench (event_id, tapped_at)").execute(pool).await.expect("index");
    let started = Instant::now();
    let deleted =
        retention::cleanup::delete_in_batches(pool, "delete_bench", "tapped_at < $1", end, policy.batch)
            .await
            .expect("delete");
    let delete_time = started.elapsed();
    sqlx::query("DROP TABLE delete_bench").execute(pool).await.expect("drop copy");

    let keyring = keys::keyring(&keys::random_key_spec("bench"));
    // The roll-up alone first, so the run after it times the drop (and cleanup) on its own.
    let started = Instant::now();
    let summarised = retention::rollup::summarise_due_days(pool, last_day, false).await.expect("roll-up");
    let rollup_time = started.elapsed();
    let started = Instant::now();
    let outcome = retention::run(pool, &keyring, &SystemClock, policy, RunOptions { as_of, dry_run: false })
        .await
        .expect("retention run");
    let run_time = started.elapsed();
    let Outcome::Done { counts, .. } = outcome else { panic!("the run was skipped") };
    let left: i64 = sqlx::query_scalar("SELECT count(*) FROM tap_logs").fetch_one(pool).await.expect("count");

    let (p50_7_after, p95_7_after) = hourly_latency(pool, &events, as_of, 7, queries).await;
    let (p50_all_after, p95_all_after) = hourly_latency(pool, &events, as_of, days, queries / 4).await;

    let n = |k: &str| counts.get(k).copied().unwrap_or(0);
    println!();
    println!(
        "retention benchmark: {total} taps over {days} days for {event_count} events (TTL {} days)",
        policy.tap_days
    );
    println!("| measure                                   | value |");
    println!("|-------------------------------------------|-------|");
    println!(
        "| bulk generation                           | {:.1} s ({:.0} taps/s) |",
        generation.as_secs_f64(),
        total as f64 / generation.as_secs_f64()
    );
    println!("| roll-up of the expired days               | {:.1} s |", rollup_time.as_secs_f64());
    println!("|   days summarised / taps summarised       | {} / {} |", summarised.days, summarised.hits);
    println!("| partition drop (+ cleanup steps)          | {:.2} s |", run_time.as_secs_f64());
    println!(
        "|   partitions dropped / rows in them       | {} / {} |",
        n("partitions_dropped"),
        n("taps_dropped")
    );
    println!("|   rows left in tap_logs                   | {left} |");
    println!(
        "| batched DELETE of the same {deleted} rows | {:.1} s ({} per batch) |",
        delete_time.as_secs_f64(),
        policy.batch
    );
    println!(
        "| hourly roll-up build, last 8 days          | {:.1} s ({rolled} event-hours) |",
        rollup_build.as_secs_f64()
    );
    println!("| hourly query, 7 days, raw taps only       | {p50_raw:.1} / {p95_raw:.1} ms |");
    println!("| hourly query, 7 days, p50 / p95 before    | {p50_7_before:.1} / {p95_7_before:.1} ms |");
    println!("| hourly query, 7 days, p50 / p95 after     | {p50_7_after:.1} / {p95_7_after:.1} ms |");
    println!(
        "| hourly query, {days} days, p50 / p95 before  | {p50_all_before:.1} / {p95_all_before:.1} ms |"
    );
    println!("| hourly query, {days} days, p50 / p95 after   | {p50_all_after:.1} / {p95_all_after:.1} ms |");
}
