//! The retention job, black-box through `retention::run`, the CLI and the
//! database: expired taps become hourly summaries equal to what the raw taps
//! said (counted here independently, in Rust) and their day partitions go;
//! analytics across the TTL boundary read the same before and after; runs are
//! idempotent, single (advisory lock) and crash-safe between roll-up and drop;
//! a dry run changes nothing and says what a real run then does; dead auth
//! state and delivered outbox rows are cleared, live ones kept; audit rows
//! leave only after 13 months *and* an export, with the chain still verifiable
//! and the export file checkable on its own.
//!
//! Every tap test acts for one fixed moment, [`as_of`], with synthetic taps
//! over the 120 days before it: three events, mixed agents, devices, HEAD
//! requests and countries, repeats within 10 s, unknown bands, and days both
//! in day partitions and in the default partition.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

use chrono::{DateTime, Duration, DurationRound, Months, NaiveDate, Utc};
use origin_api::analytics::{self, Hour, Totals};
use origin_api::clock::{ManualClock, SystemClock};
use origin_api::domain::Domain;
use origin_api::domain::actor::Actor;
use origin_api::domain::orgs::NewOrg;
use origin_api::retention::{self, Outcome, Policy, RunOptions, lock, rollup};
use serde_json::{Value, json};
use shared::Keyring;
use sqlx::PgPool;
use system_tests::db::TestDb;
use system_tests::keys;
use system_tests::origin::{OriginOptions, cli, succeeded};
use uuid::Uuid;

// ---------------------------------------------------------------------------
// The fixed moment, the events and the synthetic taps
// ---------------------------------------------------------------------------

/// The moment every tap test's run acts for: 03:00 UTC, the scheduled hour.
const AS_OF: &str = "2026-08-15T03:00:00Z";

fn as_of() -> DateTime<Utc> {
    AS_OF.parse().unwrap()
}

/// `as_of`'s date.
fn today() -> NaiveDate {
    as_of().date_naive()
}

/// `today() - n` days.
fn day(n: i64) -> NaiveDate {
    today() - Duration::days(n)
}

/// Midnight UTC starting `d` (computed here, not with the product's helper).
fn midnight(d: NaiveDate) -> DateTime<Utc> {
    d.and_hms_opt(0, 0, 0).unwrap().and_utc()
}

/// The last day whose taps are due with the default 90-day TTL: (as_of - 90 days)'s date.
fn last_expired_day() -> NaiveDate {
    (as_of() - Duration::days(90)).date_naive()
}

/// Taps before this instant are due (their whole day is past the TTL).
fn cut() -> DateTime<Utc> {
    midnight(last_expired_day() + Duration::days(1))
}

/// Fixed ids, so that two databases seeded alike hold the same events.
fn events() -> [Uuid; 3] {
    [
        Uuid::from_u128(0x0e0e_0001_0000_4000_8000_0000_0000_0001),
        Uuid::from_u128(0x0e0e_0002_0000_4000_8000_0000_0000_0002),
        Uuid::from_u128(0x0e0e_0003_0000_4000_8000_0000_0000_0003),
    ]
}

fn orgs() -> [Uuid; 3] {
    [
        Uuid::from_u128(0x0a0a_0001_0000_4000_8000_0000_0000_0001),
        Uuid::from_u128(0x0a0a_0002_0000_4000_8000_0000_0000_0002),
        Uuid::from_u128(0x0a0a_0003_0000_4000_8000_0000_0000_0003),
    ]
}

/// Days of data before `as_of` (day 120 … day 0).
const DATA_DAYS: i64 = 120;
/// Hits generated per day (before repeats and hand-written cases).
const PER_DAY: i64 = 30;

/// Fills `tap_logs`: about 4,300 hits over the 121 days up to `as_of`.
///
/// Day partitions exist for days 120–101 and 79–3 only; days 100–80 (which
/// straddle the TTL boundary at day 90) and 2–0 land in the default partition.
async fn seed_taps(db: &PgPool) {
    let event_ids = events().to_vec();
    let org_ids = orgs().to_vec();
    // Each event: ten hits a day in five hours, twelve bands; every 29th hit an
    // unknown band (no event); bots, previewers, HEAD requests, devices and
    // seven countries (some unknown) spread by residues.
    sqlx::query(
        "INSERT INTO tap_logs (id, band_id, event_id, org_id, tapped_at, outcome, head, agent, device, country, colo)
         SELECT gen_random_uuid(),
                CASE WHEN g % 29 = 0 THEN 'UNKNOWN' || (g % 4) ELSE 'B' || e || '-' || lpad(((k * 7 + d) % 12)::text, 2, '0') END,
                CASE WHEN g % 29 = 0 THEN NULL ELSE ($2::uuid[])[e] END,
                CASE WHEN g % 29 = 0 THEN NULL ELSE ($3::uuid[])[e] END,
                at,
                CASE WHEN g % 29 = 0 THEN 'unknown_band' ELSE 'redirect' END,
                g % 17 = 0,
                CASE WHEN g % 11 = 0 THEN 'bot' WHEN g % 13 = 0 THEN 'previewer' ELSE 'human' END,
                (ARRAY['ios', 'android', 'other'])[1 + (g * 5 + d) % 3],
                CASE WHEN g % 19 = 0 THEN NULL
                     ELSE (ARRAY['GB', 'FR', 'DE', 'US', 'ES', 'NL', 'IE'])[1 + (g * 3 + k) % 7] END,
                'LHR'
         FROM (
             SELECT g, d, k, e,
                    $1::timestamptz + make_interval(days => d, hours => (k % 5) * 5 + d % 4, secs => (k * 137) % 3600) AS at
             FROM generate_series(0, $4::int - 1) g,
                  LATERAL (SELECT g / $5::int AS d, g % $5::int AS k, 1 + (g % $5::int) / 10 AS e) x
         ) gen
         WHERE at < $6",
    )
    .bind(midnight(day(DATA_DAYS)))
    .bind(&event_ids)
    .bind(&org_ids)
    .bind(((DATA_DAYS + 1) * PER_DAY) as i32)
    .bind(PER_DAY as i32)
    .bind(as_of())
    .execute(db)
    .await
    .expect("generate taps");
    // Second hits 1–12 s after a fifth of them (same band, agent and event):
    // repeats under 10 s, non-repeats at 10–12 s, some across an hour or midnight.
    sqlx::query(
        "INSERT INTO tap_logs (id, band_id, event_id, org_id, tapped_at, outcome, head, agent, device, country, colo)
         SELECT gen_random_uuid(), band_id, event_id, org_id,
                tapped_at + make_interval(secs => 1 + (extract(epoch FROM tapped_at)::bigint / 5) % 12),
                outcome, false, agent, device, country, colo
         FROM tap_logs WHERE extract(epoch FROM tapped_at)::bigint % 5 = 0",
    )
    .execute(db)
    .await
    .expect("generate repeats");
    // Hand-written edge cases, as (days before as_of, time of day, event index, band, agent, head).
    let cases: &[(i64, &str, usize, &str, &str, bool)] = &[
        // A pair across midnight, across the TTL boundary: not a repeat (different UTC days).
        (90, "23:59:58", 0, "EDGE-MID", "human", false),
        (89, "00:00:03", 0, "EDGE-MID", "human", false),
        // The same inside the kept range.
        (10, "23:59:57", 0, "EDGE-MID", "human", false),
        (9, "00:00:02", 0, "EDGE-MID", "human", false),
        // Either side of exactly 90 days old, on the last expired day.
        (90, "02:59:59", 1, "EDGE-TTL", "human", false),
        (90, "03:00:01", 1, "EDGE-TTL", "human", false),
        (89, "02:00:00", 1, "EDGE-TTL", "human", false),
        // A repeat across an hour boundary (counted in the later hour).
        (95, "10:59:58", 0, "EDGE-HOUR", "human", false),
        (95, "11:00:04", 0, "EDGE-HOUR", "human", false),
        // Exactly 10 s: not a repeat; 9.5 s: a repeat.
        (95, "12:00:00", 0, "EDGE-TEN", "human", false),
        (95, "12:00:10", 0, "EDGE-TEN", "human", false),
        (95, "12:30:00", 0, "EDGE-TEN", "human", false),
        (95, "12:30:09.5", 0, "EDGE-TEN", "human", false),
        // A HEAD then a GET 3 s later: the GET is no repeat (HEAD is no tap).
        (95, "13:00:00", 2, "EDGE-HEAD", "human", true),
        (95, "13:00:03", 2, "EDGE-HEAD", "human", false),
        // A bot then a human 2 s later: no repeat either.
        (95, "14:00:00", 2, "EDGE-BOT", "bot", false),
        (95, "14:00:02", 2, "EDGE-BOT", "human", false),
        (12, "14:00:00", 2, "EDGE-BOT", "bot", false),
        (12, "14:00:02", 2, "EDGE-BOT", "human", false),
    ];
    for (days, time, ev, band, agent, head) in cases {
        let t = chrono::NaiveTime::parse_from_str(time, "%H:%M:%S%.f").unwrap();
        let at = day(*days).and_time(t).and_utc();
        sqlx::query(
            "INSERT INTO tap_logs (id, band_id, event_id, org_id, tapped_at, outcome, head, agent, device, country, colo)
             VALUES (gen_random_uuid(), $1, $2, $3, $4, 'redirect', $5, $6, 'ios', 'GB', 'LHR')",
        )
        .bind(band)
        .bind(event_ids[*ev])
        .bind(org_ids[*ev])
        .bind(at)
        .bind(head)
        .bind(agent)
        .execute(db)
        .await
        .expect("edge case tap");
    }
    // Bursts: 25 taps in one hour over six bands and seven countries (more than
    // the five kept, with ties), one expired and one kept.
    for days in [95, 20] {
        sqlx::query(
            "INSERT INTO tap_logs (id, band_id, event_id, org_id, tapped_at, outcome, head, agent, device, country, colo)
             SELECT gen_random_uuid(), 'BURST-' || (i % 6), $1, $2, $3 + make_interval(secs => i * 1.5), 'redirect',
                    false, 'human', (ARRAY['ios', 'android', 'other'])[1 + i % 3],
                    (ARRAY['GB', 'FR', 'DE', 'US', 'ES', 'NL', 'IE'])[1 + i % 7], 'CDG'
             FROM generate_series(0, 24) i",
        )
        .bind(event_ids[0])
        .bind(org_ids[0])
        .bind(day(days).and_hms_opt(18, 0, 0).unwrap().and_utc())
        .execute(db)
        .await
        .expect("burst");
    }
    // Day partitions for part of the range only; their rows move out of the default partition.
    for (first, days) in [(day(DATA_DAYS), 20), (day(79), 77)] {
        sqlx::query("SELECT ensure_tap_partitions($1::date, $2::int)")
            .bind(first)
            .bind(days)
            .execute(db)
            .await
            .expect("partitions");
    }
}

// ---------------------------------------------------------------------------
// Raw taps and what the summaries must say, computed here
// ---------------------------------------------------------------------------

/// One raw hit.
#[derive(Debug, Clone)]
struct Tap {
    band: String,
    event: Option<Uuid>,
    org: Option<Uuid>,
    at: DateTime<Utc>,
    head: bool,
    agent: String,
    device: String,
    country: Option<String>,
}

impl Tap {
    /// A tap: a human GET.
    fn counted(&self) -> bool {
        self.agent == "human" && !self.head
    }
}

async fn raw_taps(db: &PgPool) -> Vec<Tap> {
    type Row = (String, Option<Uuid>, Option<Uuid>, DateTime<Utc>, bool, String, String, Option<String>);
    let rows: Vec<Row> = sqlx::query_as(
        "SELECT band_id, event_id, org_id, tapped_at, head, agent, device, country FROM tap_logs ORDER BY tapped_at",
    )
    .fetch_all(db)
    .await
    .unwrap();
    rows.into_iter()
        .map(|(band, event, org, at, head, agent, device, country)| Tap {
            band,
            event,
            org,
            at,
            head,
            agent,
            device,
            country,
        })
        .collect()
}

fn hour_of(t: DateTime<Utc>) -> DateTime<Utc> {
    t.duration_trunc(Duration::hours(1)).unwrap()
}

/// For each counted tap of an event: whether it repeats the same band's
/// previous tap (same event, same UTC day) less than 10 s before.
fn repeat_flags<'a>(taps: impl Iterator<Item = &'a Tap>) -> Vec<(&'a Tap, bool)> {
    let mut counted: Vec<&Tap> = taps.filter(|t| t.counted() && t.event.is_some()).collect();
    counted.sort_by(|a, b| (a.event, &a.band, a.at).cmp(&(b.event, &b.band, b.at)));
    let mut out = Vec::with_capacity(counted.len());
    for (i, t) in counted.iter().enumerate() {
        let repeat = i > 0 && {
            let p = counted[i - 1];
            p.event == t.event
                && p.band == t.band
                && p.at.date_naive() == t.at.date_naive()
                && t.at - p.at < Duration::seconds(10)
        };
        out.push((*t, repeat));
    }
    out
}

/// One `analytics_summary` row's content.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Summary {
    org_id: Option<Uuid>,
    taps: i64,
    unique_bands: i64,
    repeats: i64,
    previewers: i64,
    bots: i64,
    head: i64,
    ios: i64,
    android: i64,
    other: i64,
    countries: BTreeMap<String, i64>,
}

type Summaries = BTreeMap<(Uuid, DateTime<Utc>), Summary>;

/// The summary rows the hits before `before` must become: per event and hour.
fn expected_summaries(taps: &[Tap], before: DateTime<Utc>) -> Summaries {
    let hits: Vec<&Tap> = taps.iter().filter(|t| t.at < before && t.event.is_some()).collect();
    let mut out = Summaries::new();
    for t in &hits {
        let s = out.entry((t.event.unwrap(), hour_of(t.at))).or_default();
        s.org_id = t.org;
        match (t.agent.as_str(), t.head) {
            ("previewer", _) => s.previewers += 1,
            ("bot", _) => s.bots += 1,
            ("human", true) => s.head += 1,
            _ => {}
        }
    }
    let mut bands: HashMap<(Uuid, DateTime<Utc>), BTreeSet<&str>> = HashMap::new();
    let mut countries: HashMap<(Uuid, DateTime<Utc>), BTreeMap<String, i64>> = HashMap::new();
    for (t, repeat) in repeat_flags(hits.iter().copied()) {
        let key = (t.event.unwrap(), hour_of(t.at));
        let s = out.get_mut(&key).unwrap();
        s.taps += 1;
        s.repeats += i64::from(repeat);
        match t.device.as_str() {
            "ios" => s.ios += 1,
            "android" => s.android += 1,
            _ => s.other += 1,
        }
        bands.entry(key).or_default().insert(&t.band);
        if let Some(c) = &t.country {
            *countries.entry(key).or_default().entry(c.clone()).or_default() += 1;
        }
    }
    for (key, s) in &mut out {
        s.unique_bands = bands.get(key).map_or(0, |b| b.len() as i64);
        // Top five by taps, ties by country code.
        let mut ranked: Vec<(String, i64)> = countries.remove(key).unwrap_or_default().into_iter().collect();
        ranked.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        s.countries = ranked.into_iter().take(5).collect();
    }
    out
}

/// The bands tapped per event and day before `before`.
fn expected_daily_bands(taps: &[Tap], before: DateTime<Utc>) -> BTreeSet<(Uuid, NaiveDate, String)> {
    taps.iter()
        .filter(|t| t.at < before && t.counted())
        .filter_map(|t| Some((t.event?, t.at.date_naive(), t.band.clone())))
        .collect()
}

/// Hits (all of them) per day, for every day from `first` through `last`.
fn expected_days(taps: &[Tap], first: NaiveDate, last: NaiveDate) -> BTreeMap<NaiveDate, i64> {
    let mut days: BTreeMap<NaiveDate, i64> =
        first.iter_days().take_while(|d| *d <= last).map(|d| (d, 0)).collect();
    for t in taps {
        if let Some(n) = days.get_mut(&t.at.date_naive()) {
            *n += 1;
        }
    }
    days
}

/// Totals of one event over `[from, to)`, from raw hits.
fn expected_totals(taps: &[Tap], event: Uuid, from: DateTime<Utc>, to: DateTime<Utc>) -> Totals {
    let hits: Vec<&Tap> =
        taps.iter().filter(|t| t.event == Some(event) && t.at >= from && t.at < to).collect();
    let mut totals = Totals::default();
    let mut bands = BTreeSet::new();
    for t in &hits {
        match (t.agent.as_str(), t.head) {
            ("previewer", _) => totals.previewers += 1,
            ("bot", _) => totals.bots += 1,
            ("human", true) => totals.head += 1,
            _ => {}
        }
    }
    for (t, repeat) in repeat_flags(hits.iter().copied()) {
        totals.taps += 1;
        totals.repeats += i64::from(repeat);
        match t.device.as_str() {
            "ios" => totals.ios += 1,
            "android" => totals.android += 1,
            _ => totals.other += 1,
        }
        bands.insert(t.band.clone());
    }
    totals.unique_bands = bands.len() as i64;
    totals
}

// ---------------------------------------------------------------------------
// Reading the database
// ---------------------------------------------------------------------------

async fn stored_summaries(db: &PgPool) -> Summaries {
    type Row = (Uuid, Option<Uuid>, DateTime<Utc>, i64, i64, i64, i64, i64, i64, i64, i64, i64, Value);
    let rows: Vec<Row> = sqlx::query_as(
        "SELECT event_id, org_id, hour, taps, unique_bands, repeats, previewers, bots, head, ios, android, other,
                countries
         FROM analytics_summary",
    )
    .fetch_all(db)
    .await
    .unwrap();
    rows.into_iter()
        .map(
            |(
                event,
                org_id,
                hour,
                taps,
                unique_bands,
                repeats,
                previewers,
                bots,
                head,
                ios,
                android,
                other,
                c,
            )| {
                let countries = serde_json::from_value(c).expect("countries: an object of counts");
                let s = Summary {
                    org_id,
                    taps,
                    unique_bands,
                    repeats,
                    previewers,
                    bots,
                    head,
                    ios,
                    android,
                    other,
                    countries,
                };
                ((event, hour), s)
            },
        )
        .collect()
}

async fn stored_daily_bands(db: &PgPool) -> BTreeSet<(Uuid, NaiveDate, String)> {
    let rows: Vec<(Uuid, NaiveDate, String)> =
        sqlx::query_as("SELECT event_id, day, band_id FROM analytics_daily_bands")
            .fetch_all(db)
            .await
            .unwrap();
    rows.into_iter().collect()
}

async fn stored_days(db: &PgPool) -> BTreeMap<NaiveDate, i64> {
    let rows: Vec<(NaiveDate, i64)> =
        sqlx::query_as("SELECT day, hits FROM analytics_summarised_days").fetch_all(db).await.unwrap();
    rows.into_iter().collect()
}

fn partition_name(d: NaiveDate) -> String {
    format!("tap_logs_p{}", d.format("%Y%m%d"))
}

/// The partitions attached to `tap_logs`, by name.
async fn partitions(db: &PgPool) -> Vec<String> {
    sqlx::query_scalar(
        "SELECT c.relname::text FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
         WHERE i.inhparent = 'tap_logs'::regclass ORDER BY 1",
    )
    .fetch_all(db)
    .await
    .unwrap()
}

async fn count(db: &PgPool, sql: &str) -> i64 {
    sqlx::query_scalar(sqlx::AssertSqlSafe(sql.to_string())).fetch_one(db).await.unwrap()
}

async fn count_at(db: &PgPool, sql: &'static str, t: DateTime<Utc>) -> i64 {
    sqlx::query_scalar(sql).bind(t).fetch_one(db).await.unwrap()
}

/// Everything retention may touch, except the evidence it writes (`job_runs`, `audit_log`).
async fn snapshot(db: &PgPool) -> Value {
    let mut all = serde_json::Map::new();
    let taps: Value = sqlx::query_scalar(
        "SELECT coalesce(jsonb_agg(to_jsonb(t) || jsonb_build_object('partition', t.tableoid::regclass::text)
                                   ORDER BY t.id), '[]')
         FROM tap_logs t",
    )
    .fetch_one(db)
    .await
    .unwrap();
    all.insert("tap_logs".into(), taps);
    all.insert("partitions".into(), json!(partitions(db).await));
    for table in [
        "analytics_summary",
        "analytics_daily_bands",
        "analytics_summarised_days",
        "sessions",
        "password_resets",
        "kv_outbox",
        "signed_nonces",
        "audit_chain_anchor",
        "audit_exports",
    ] {
        let rows: Value = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
            "SELECT coalesce(jsonb_agg(to_jsonb(t) ORDER BY to_jsonb(t)::text), '[]') FROM {table} t"
        )))
        .fetch_one(db)
        .await
        .unwrap();
        all.insert(table.into(), rows);
    }
    Value::Object(all)
}

/// What two databases seeded alike must agree on after retention (no ids or wall-clock times).
async fn content(db: &PgPool) -> Value {
    let mut all = serde_json::Map::new();
    for (name, sql) in [
        (
            "tap_logs",
            "SELECT coalesce(jsonb_agg(j ORDER BY j::text), '[]') FROM (
                SELECT to_jsonb(t) - 'id' - 'received_at' || jsonb_build_object('partition', t.tableoid::regclass::text) AS j
                FROM tap_logs t) x",
        ),
        ("analytics_summary", "SELECT coalesce(jsonb_agg(to_jsonb(t) ORDER BY to_jsonb(t)::text), '[]') FROM analytics_summary t"),
        (
            "analytics_daily_bands",
            "SELECT coalesce(jsonb_agg(to_jsonb(t) ORDER BY to_jsonb(t)::text), '[]') FROM analytics_daily_bands t",
        ),
        (
            "analytics_summarised_days",
            "SELECT coalesce(jsonb_agg(to_jsonb(t) - 'summarised_at' ORDER BY t.day), '[]') FROM analytics_summarised_days t",
        ),
    ] {
        let v: Value = sqlx::query_scalar(sqlx::AssertSqlSafe(sql.to_string())).fetch_one(db).await.unwrap();
        all.insert(name.into(), v);
    }
    all.insert("partitions".into(), json!(partitions(db).await));
    Value::Object(all)
}

/// Whole-day ranges around the TTL boundary: (from, to) in days before as_of (to exclusive).
const RANGES: &[(i64, i64)] =
    &[(DATA_DAYS, -1), (130, 100), (100, 80), (90, 89), (89, -1), (91, 88), (3, -1)];

/// `totals` and `hourly` of every event over every range of [`RANGES`].
async fn analytics_view(db: &PgPool) -> Vec<(Uuid, (i64, i64), Totals, Vec<Hour>)> {
    let mut out = Vec::new();
    for event in events() {
        for &(from, to) in RANGES {
            let (f, t) = (midnight(day(from)), midnight(day(to)));
            let totals = analytics::totals(db, event, f, t).await.unwrap();
            let hourly = analytics::hourly(db, event, f, t).await.unwrap();
            out.push((event, (from, to), totals, hourly));
        }
    }
    out
}

/// A run's counts, by name.
fn counts_of(outcome: &Outcome) -> BTreeMap<String, i64> {
    match outcome {
        Outcome::Done { counts, .. } => counts.iter().map(|(k, v)| (k.to_string(), *v)).collect(),
        Outcome::Skipped => panic!("the run was skipped"),
    }
}

fn run_id(outcome: &Outcome) -> Uuid {
    match outcome {
        Outcome::Done { run_id, .. } => *run_id,
        Outcome::Skipped => panic!("the run was skipped"),
    }
}

/// Counts printed by `retention run` (`step<TAB>n` lines).
fn counts_in_output(out: &str) -> BTreeMap<String, i64> {
    out.lines()
        .filter_map(|l| {
            let (k, v) = l.split_once('\t')?;
            Some((k.to_string(), v.trim().parse().ok()?))
        })
        .collect()
}

fn keyring() -> Keyring {
    keys::keyring(&keys::random_key_spec("aud1"))
}

async fn run_at(db: &PgPool, keys: &Keyring, as_of: DateTime<Utc>, dry_run: bool) -> Outcome {
    retention::run(db, keys, &SystemClock, Policy::default(), RunOptions { as_of, dry_run })
        .await
        .expect("retention run")
}

/// A test database with the synthetic taps.
async fn seeded() -> TestDb {
    let db = TestDb::new().await;
    seed_taps(&db.pool).await;
    db
}

// ---------------------------------------------------------------------------
// 1. Expired taps and their partitions go; partitions exist ahead
// ---------------------------------------------------------------------------

#[tokio::test]
async fn expired_taps_and_their_partitions_go_and_partitions_exist_a_week_ahead() {
    let db = seeded().await;
    let pool = &db.pool;
    let before = partitions(pool).await;
    let expired_parts: Vec<String> = before
        .iter()
        .filter(|p| {
            p.as_str() != "tap_logs_default"
                && p.as_str() < partition_name(last_expired_day() + Duration::days(1)).as_str()
        })
        .cloned()
        .collect();
    assert_eq!(expired_parts.len(), 20, "the seed made 20 expired day partitions: {expired_parts:?}");
    let due_total = count_at(pool, "SELECT count(*) FROM tap_logs WHERE tapped_at < $1", cut()).await;
    let due_default =
        count_at(pool, "SELECT count(*) FROM tap_logs_default WHERE tapped_at < $1", cut()).await;
    assert!(due_default > 0, "some expired taps sit in the default partition");
    let older_than_ttl =
        count_at(pool, "SELECT count(*) FROM tap_logs WHERE tapped_at < $1", as_of() - Duration::days(90))
            .await;
    assert!(
        older_than_ttl > 0 && older_than_ttl < due_total,
        "the last expired day holds taps either side of 90 days"
    );
    let kept: Value = sqlx::query_scalar(
        "SELECT jsonb_agg(to_jsonb(t) ORDER BY t.id) FROM tap_logs t WHERE tapped_at >= $1",
    )
    .bind(cut())
    .fetch_one(pool)
    .await
    .unwrap();
    let kept_in_default =
        count_at(pool, "SELECT count(*) FROM tap_logs_default WHERE tapped_at >= $1", cut()).await;
    assert!(kept_in_default > 0, "some kept taps sit in the default partition");

    let outcome = run_at(pool, &keyring(), as_of(), false).await;
    let counts = counts_of(&outcome);

    assert_eq!(
        count_at(pool, "SELECT count(*) FROM tap_logs WHERE tapped_at < $1", as_of() - Duration::days(90))
            .await,
        0,
        "no raw tap older than 90 days remains"
    );
    assert_eq!(count_at(pool, "SELECT count(*) FROM tap_logs WHERE tapped_at < $1", cut()).await, 0);
    assert_eq!(count_at(pool, "SELECT count(*) FROM tap_logs_default WHERE tapped_at < $1", cut()).await, 0);
    // Nothing younger was touched, wherever it lives.
    let kept_after: Value = sqlx::query_scalar(
        "SELECT jsonb_agg(to_jsonb(t) ORDER BY t.id) FROM tap_logs t WHERE tapped_at >= $1",
    )
    .bind(cut())
    .fetch_one(pool)
    .await
    .unwrap();
    assert_eq!(kept_after, kept, "taps of kept days are untouched");
    // Day -2 has no partition (ahead-creation starts at day -1): its taps stay in the default partition.
    assert!(
        count_at(pool, "SELECT count(*) FROM tap_logs_default WHERE tapped_at >= $1", cut()).await > 0,
        "kept taps in the default partition are not deleted"
    );

    // The expired days' partitions are gone: detached and dropped.
    let after = partitions(pool).await;
    let mut d = day(DATA_DAYS);
    while d <= last_expired_day() {
        let name = partition_name(d);
        assert!(!after.contains(&name), "{name} is still attached");
        let exists: Option<String> =
            sqlx::query_scalar("SELECT to_regclass($1)::text").bind(&name).fetch_one(pool).await.unwrap();
        assert_eq!(exists, None, "{name} still exists");
        d += Duration::days(1);
    }
    assert!(after.contains(&"tap_logs_default".to_string()), "the default partition stays");
    // Kept days' partitions stay.
    for n in [79, 50, 3] {
        assert!(after.contains(&partition_name(day(n))), "day -{n}'s partition was kept");
    }
    // At least a week of partitions ahead of as_of.
    for ahead in 0..=7 {
        let name = partition_name(today() + Duration::days(ahead));
        assert!(after.contains(&name), "partition {name} ({ahead} days ahead) exists: {after:?}");
    }

    assert_eq!(counts.get("days_summarised"), Some(&(DATA_DAYS - 90 + 1)), "{counts:?}");
    assert_eq!(counts.get("taps_summarised"), Some(&due_total), "{counts:?}");
    assert_eq!(counts.get("partitions_dropped"), Some(&20), "{counts:?}");
    assert_eq!(counts.get("taps_dropped"), Some(&(due_total - due_default)), "{counts:?}");
    assert_eq!(counts.get("default_partition_rows_deleted"), Some(&due_default), "{counts:?}");
    // day -1 and day 0 (had none) up to day +8.
    assert_eq!(counts.get("partitions_created"), Some(&10), "{counts:?}");
}

// ---------------------------------------------------------------------------
// 2. Summaries equal the raw taps, counted independently
// ---------------------------------------------------------------------------

#[tokio::test]
async fn summaries_equal_the_raw_taps_counted_independently() {
    let db = seeded().await;
    let pool = &db.pool;
    let taps = raw_taps(pool).await;
    let expected = expected_summaries(&taps, cut());
    // The data exercises every column.
    let sum = |f: fn(&Summary) -> i64| expected.values().map(f).sum::<i64>();
    for (name, n) in [
        ("taps", sum(|s| s.taps)),
        ("repeats", sum(|s| s.repeats)),
        ("previewers", sum(|s| s.previewers)),
        ("bots", sum(|s| s.bots)),
        ("head", sum(|s| s.head)),
        ("ios", sum(|s| s.ios)),
        ("android", sum(|s| s.android)),
        ("other", sum(|s| s.other)),
    ] {
        assert!(n > 0, "the expired data has {name}");
    }
    assert!(expected.values().any(|s| s.taps == 0), "some hours hold only excluded hits");
    assert!(expected.values().any(|s| s.countries.len() == 5), "some hours have more than five countries");
    assert!(expected.values().any(|s| s.unique_bands < s.taps), "bands tap more than once an hour");

    run_at(pool, &keyring(), as_of(), false).await;

    let stored = stored_summaries(pool).await;
    let missing: Vec<_> = expected.keys().filter(|k| !stored.contains_key(k)).collect();
    let extra: Vec<_> = stored.keys().filter(|k| !expected.contains_key(k)).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "summary hours missing: {missing:?}; unexpected: {extra:?}"
    );
    let wrong: Vec<_> = expected
        .iter()
        .filter(|(k, v)| stored.get(k) != Some(v))
        .map(|(k, v)| format!("{k:?}: expected {v:?}, stored {:?}", stored.get(k)))
        .collect();
    assert!(wrong.is_empty(), "{} summary rows differ from the raw taps:\n{}", wrong.len(), wrong.join("\n"));

    assert_eq!(stored_daily_bands(pool).await, expected_daily_bands(&taps, cut()), "daily bands");
    assert_eq!(
        stored_days(pool).await,
        expected_days(&taps, day(DATA_DAYS), last_expired_day()),
        "every expired day marked summarised once, with its hit count"
    );
}

// ---------------------------------------------------------------------------
// 3. Analytics across the TTL boundary read the same before and after
// ---------------------------------------------------------------------------

#[tokio::test]
async fn analytics_across_the_ttl_boundary_are_unchanged_by_a_run() {
    let db = seeded().await;
    let pool = &db.pool;
    let taps = raw_taps(pool).await;
    let before = analytics_view(pool).await;
    // The raw reading agrees with an independent count (whole range), and is not trivial.
    for event in events() {
        let expected = expected_totals(&taps, event, midnight(day(DATA_DAYS)), midnight(day(-1)));
        let (_, _, got, _) = before.iter().find(|(e, r, _, _)| *e == event && *r == (DATA_DAYS, -1)).unwrap();
        assert_eq!(got, &expected, "totals of {event} before the run");
        assert!(expected.taps > 0 && expected.repeats > 0 && expected.unique_bands > 0);
    }

    let outcome = run_at(pool, &keyring(), as_of(), false).await;
    assert!(counts_of(&outcome)["days_summarised"] > 0);
    let after = analytics_view(pool).await;
    for ((event, range, t0, h0), (_, _, t1, h1)) in before.iter().zip(&after) {
        assert_eq!(t1, t0, "totals of {event} over days {range:?} changed across the run");
        assert_eq!(h1, h0, "hourly of {event} over days {range:?} changed across the run");
    }

    // And again one day later, when one more day has been summarised.
    let next = as_of() + Duration::days(1);
    let outcome = run_at(pool, &keyring(), next, false).await;
    assert_eq!(counts_of(&outcome)["days_summarised"], 1);
    let later = analytics_view(pool).await;
    for ((event, range, t0, h0), (_, _, t1, h1)) in before.iter().zip(&later) {
        assert_eq!(t1, t0, "totals of {event} over days {range:?} changed after the next day's run");
        assert_eq!(h1, h0, "hourly of {event} over days {range:?} changed after the next day's run");
    }
}

// ---------------------------------------------------------------------------
// 4. A second run changes nothing
// ---------------------------------------------------------------------------

/// Row count and sums of the summary table.
const SUMS: &str = "SELECT count(*), sum(taps)::bigint, sum(repeats + bots + previewers + head)::bigint
                    FROM analytics_summary";

#[tokio::test]
async fn a_second_run_for_the_same_moment_changes_nothing() {
    let db = seeded().await;
    let pool = &db.pool;
    let keys = keyring();
    let first = run_at(pool, &keys, as_of(), false).await;
    assert!(counts_of(&first)["days_summarised"] > 0);
    let state = snapshot(pool).await;
    let view = analytics_view(pool).await;
    let sums: (i64, i64, i64) = sqlx::query_as(SUMS).fetch_one(pool).await.unwrap();

    let second = run_at(pool, &keys, as_of(), false).await;
    let counts = counts_of(&second);
    for step in [
        "days_summarised",
        "taps_summarised",
        "partitions_dropped",
        "taps_dropped",
        "default_partition_rows_deleted",
        "partitions_created",
    ] {
        assert_eq!(counts.get(step), Some(&0), "second run: {step} in {counts:?}");
    }
    assert_eq!(snapshot(pool).await, state, "the second run changed data");
    assert_eq!(analytics_view(pool).await, view);
    let sums_after: (i64, i64, i64) = sqlx::query_as(SUMS).fetch_one(pool).await.unwrap();
    assert_eq!(sums_after, sums);
    // Its job_runs row says so too.
    let recorded: Value = sqlx::query_scalar("SELECT counts FROM job_runs WHERE id = $1")
        .bind(run_id(&second))
        .fetch_one(pool)
        .await
        .unwrap();
    assert_eq!(recorded["days_summarised"], json!(0));
    assert_eq!(recorded["partitions_dropped"], json!(0));
}

// ---------------------------------------------------------------------------
// 5. One run at a time
// ---------------------------------------------------------------------------

#[tokio::test]
async fn a_run_while_another_holds_the_lock_is_skipped_and_changes_nothing() {
    let db = seeded().await;
    let pool = &db.pool;
    let keys = keyring();
    let options = OriginOptions::default();
    let state = snapshot(pool).await;
    let guard = lock::try_acquire(pool).await.unwrap().expect("the lock is free");
    assert!(lock::try_acquire(pool).await.unwrap().is_none(), "the lock is exclusive");

    assert_eq!(run_at(pool, &keys, as_of(), false).await, Outcome::Skipped);
    let (code, out) = cli(&db, &options, &["retention", "run", "--now", AS_OF]).await;
    assert!(succeeded(code), "{out}");
    assert!(out.contains("another retention run holds the lock"), "{out}");
    assert_eq!(snapshot(pool).await, state, "a skipped run changed data");
    assert_eq!(count(pool, "SELECT count(*) FROM audit_log WHERE action = 'retention.run'").await, 0);

    guard.release().await.unwrap();
    let outcome = run_at(pool, &keys, as_of(), false).await;
    assert!(counts_of(&outcome)["days_summarised"] > 0, "once released, a run does the work");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_runs_do_the_work_once() {
    let db = seeded().await;
    let pool = &db.pool;
    let keys = keyring();
    let taps = raw_taps(pool).await;
    let outcomes = tokio::join!(
        run_at(pool, &keys, as_of(), false),
        run_at(pool, &keys, as_of(), false),
        run_at(pool, &keys, as_of(), false),
        run_at(pool, &keys, as_of(), false),
    );
    let outcomes = [outcomes.0, outcomes.1, outcomes.2, outcomes.3];
    let done: Vec<BTreeMap<String, i64>> =
        outcomes.iter().filter(|o| matches!(o, Outcome::Done { .. })).map(counts_of).collect();
    let working: Vec<_> =
        done.iter().filter(|c| c["days_summarised"] > 0 || c["partitions_dropped"] > 0).collect();
    assert_eq!(working.len(), 1, "exactly one run does the work: {outcomes:?}");
    assert_eq!(working[0]["days_summarised"], DATA_DAYS - 90 + 1);
    assert_eq!(working[0]["partitions_dropped"], 20);
    // Whatever interleaving: nothing doubled, nothing lost.
    assert_eq!(
        stored_summaries(pool).await,
        expected_summaries(&taps, cut()),
        "summaries after concurrent runs"
    );
    assert_eq!(stored_days(pool).await, expected_days(&taps, day(DATA_DAYS), last_expired_day()));
    let runs = count(pool, "SELECT count(*) FROM job_runs WHERE status = 'succeeded'").await;
    assert_eq!(runs, done.len() as i64, "one succeeded job_runs row per run that was not skipped");
}

// ---------------------------------------------------------------------------
// 6. A crash between roll-up and drop
// ---------------------------------------------------------------------------

#[tokio::test]
async fn a_crash_between_rollup_and_drop_loses_and_doubles_nothing() {
    let (clean, full, half) = tokio::join!(seeded(), seeded(), seeded());
    let keys = keyring();
    let taps = raw_taps(&clean.pool).await;
    let view_before = analytics_view(&clean.pool).await;

    let clean_run = counts_of(&run_at(&clean.pool, &keys, as_of(), false).await);

    // Crash after the whole roll-up, before any drop.
    let rolled = rollup::summarise_due_days(&full.pool, last_expired_day(), false).await.unwrap();
    assert_eq!(rolled.days, DATA_DAYS - 90 + 1);
    assert_eq!(
        analytics_view(&full.pool).await,
        view_before,
        "between roll-up and drop, analytics neither double-count nor lose taps"
    );
    let full_run = counts_of(&run_at(&full.pool, &keys, as_of(), false).await);
    assert_eq!(full_run["days_summarised"], 0, "{full_run:?}");
    assert_eq!(full_run["taps_summarised"], 0, "{full_run:?}");

    // Crash after half the days (the oldest ones, as the job goes).
    let due = rollup::due_days(&half.pool, last_expired_day()).await.unwrap();
    assert_eq!(due.len() as i64, DATA_DAYS - 90 + 1);
    for d in &due[..due.len() / 2] {
        assert!(rollup::summarise_day(&half.pool, *d).await.unwrap().is_some());
    }
    // A day summarised twice is summarised once.
    assert_eq!(rollup::summarise_day(&half.pool, due[0]).await.unwrap(), None);
    assert_eq!(analytics_view(&half.pool).await, view_before, "half rolled up: analytics unchanged");
    let half_run = counts_of(&run_at(&half.pool, &keys, as_of(), false).await);
    assert_eq!(half_run["days_summarised"], (due.len() - due.len() / 2) as i64, "{half_run:?}");

    for step in ["partitions_dropped", "taps_dropped", "default_partition_rows_deleted"] {
        assert_eq!(full_run[step], clean_run[step], "{step}: {full_run:?} vs {clean_run:?}");
        assert_eq!(half_run[step], clean_run[step], "{step}: {half_run:?} vs {clean_run:?}");
    }
    let clean_content = content(&clean.pool).await;
    assert_eq!(content(&full.pool).await, clean_content, "crash after the roll-up, then a run = a clean run");
    assert_eq!(
        content(&half.pool).await,
        clean_content,
        "crash halfway through the roll-up, then a run = a clean run"
    );
    // (Equal content means equal analytics; checked once.)
    assert_eq!(stored_summaries(&clean.pool).await, expected_summaries(&taps, cut()));
    assert_eq!(analytics_view(&clean.pool).await, view_before);
}

// ---------------------------------------------------------------------------
// 6b. A run that fails halfway is recorded as failed; the next one finishes
// ---------------------------------------------------------------------------

#[tokio::test]
async fn a_failed_run_is_recorded_and_the_next_run_finishes_the_job() {
    let db = seeded().await;
    let pool = &db.pool;
    let keys = keyring();
    let taps = raw_taps(pool).await;
    let view_before = analytics_view(pool).await;
    // Something depends on one expired partition, so dropping it fails.
    let blocked = partition_name(day(110));
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE VIEW pinned AS SELECT * FROM {blocked}")))
        .execute(pool)
        .await
        .unwrap();

    let failed = retention::run(
        pool,
        &keys,
        &SystemClock,
        Policy::default(),
        RunOptions { as_of: as_of(), dry_run: false },
    )
    .await;
    assert!(failed.is_err(), "the run should fail: {failed:?}");
    let (status, error, finished): (String, Option<String>, Option<DateTime<Utc>>) =
        sqlx::query_as("SELECT status, error, finished_at FROM job_runs").fetch_one(pool).await.unwrap();
    assert_eq!(status, "failed");
    assert!(error.as_deref().is_some_and(|e| e.contains("depend")), "{error:?}");
    assert!(finished.is_some());
    assert_eq!(count(pool, "SELECT count(*) FROM audit_log WHERE action = 'retention.run'").await, 0);
    assert!(partitions(pool).await.contains(&blocked));
    // Half done is still consistent.
    assert_eq!(analytics_view(pool).await, view_before, "after a failed run, analytics are unchanged");
    // The lock went with the failed run.
    let guard = lock::try_acquire(pool).await.unwrap().expect("the failed run released the lock");
    guard.release().await.unwrap();

    sqlx::query("DROP VIEW pinned").execute(pool).await.unwrap();
    let counts = counts_of(&run_at(pool, &keys, as_of(), false).await);
    assert_eq!(counts["days_summarised"], 0, "{counts:?}");
    assert!(counts["partitions_dropped"] >= 1, "{counts:?}");
    assert!(!partitions(pool).await.contains(&blocked));
    assert_eq!(count_at(pool, "SELECT count(*) FROM tap_logs WHERE tapped_at < $1", cut()).await, 0);
    assert_eq!(stored_summaries(pool).await, expected_summaries(&taps, cut()));
    assert_eq!(analytics_view(pool).await, view_before);
}

// ---------------------------------------------------------------------------
// 7. Audit rows stay; every run leaves evidence
// ---------------------------------------------------------------------------

#[tokio::test]
async fn recent_audit_rows_stay_and_every_run_leaves_a_job_run_and_one_audit_row() {
    let db = seeded().await;
    let pool = &db.pool;
    let options = OriginOptions::default();
    let keys = keys::keyring(&options.audit_keys);
    let hundred_days_ago = as_of() - Duration::days(100);
    let clock = Arc::new(ManualClock::new(hundred_days_ago));
    let domain = Domain::new(pool.clone(), keys.clone(), clock.clone());
    for i in 0..3 {
        domain
            .create_org(
                &Actor::cli(),
                NewOrg { name: format!("Old Org {i}"), slug: Some(format!("old-org-{i}")) },
            )
            .await
            .unwrap();
    }
    let old_rows: Value = sqlx::query_scalar("SELECT jsonb_agg(to_jsonb(a) ORDER BY seq) FROM audit_log a")
        .fetch_one(pool)
        .await
        .unwrap();
    assert_eq!(old_rows.as_array().unwrap().len(), 3);

    // A run at as_of through the library, with a clock at as_of.
    clock.set(as_of());
    let outcome = retention::run(
        pool,
        &keys,
        clock.as_ref(),
        Policy::default(),
        RunOptions { as_of: as_of(), dry_run: false },
    )
    .await
    .unwrap();
    let (id, counts) = (run_id(&outcome), counts_of(&outcome));
    assert_eq!(counts["audit_rows_purged"], 0);

    let still: Value =
        sqlx::query_scalar("SELECT jsonb_agg(to_jsonb(a) ORDER BY seq) FROM audit_log a WHERE seq <= 3")
            .fetch_one(pool)
            .await
            .unwrap();
    assert_eq!(still, old_rows, "audit rows from 100 days before the run are untouched");
    let report = origin_api::audit::verify::verify(pool, &keys).await.unwrap();
    assert_eq!(report.first_broken, None, "{report:?}");
    assert_eq!(report.rows, 4);

    // The job_runs row.
    type JobRow =
        (String, String, DateTime<Utc>, bool, DateTime<Utc>, Option<DateTime<Utc>>, Value, Option<String>);
    let job: JobRow = sqlx::query_as(
        "SELECT job, status, as_of, dry_run, started_at, finished_at, counts, error FROM job_runs WHERE id = $1",
    )
    .bind(id)
    .fetch_one(pool)
    .await
    .unwrap();
    assert_eq!((job.0.as_str(), job.1.as_str()), ("retention", "succeeded"));
    assert_eq!(job.2, as_of());
    assert!(!job.3);
    assert_eq!(job.4, as_of(), "started by the injected clock");
    assert_eq!(job.5, Some(as_of()));
    assert_eq!(job.6, json!(counts), "job_runs records the run's counts");
    assert_eq!(job.7, None);

    // One audit row for the run, naming it, with its counts.
    let rows: Vec<(i64, DateTime<Utc>, String, String, String, Value)> = sqlx::query_as(
        "SELECT seq, at, actor_type, actor_label, target_id, after FROM audit_log WHERE action = 'retention.run'",
    )
    .fetch_all(pool)
    .await
    .unwrap();
    assert_eq!(rows.len(), 1, "{rows:?}");
    let (seq, at, actor_type, actor_label, target, after) = &rows[0];
    assert_eq!(*seq, 4);
    assert_eq!(*at, as_of());
    assert_eq!((actor_type.as_str(), actor_label.as_str()), ("system", "system:retention"));
    assert_eq!(target, &id.to_string());
    assert_eq!(after["dry_run"], json!(false));
    let audited_counts = after["counts"].clone();

    // A second run through the CLI: one more of each, every one succeeded.
    let (code, out) = cli(&db, &options, &["retention", "run", "--now", AS_OF]).await;
    assert!(succeeded(code), "{out}");
    assert_eq!(count(pool, "SELECT count(*) FROM job_runs").await, 2);
    assert_eq!(
        count(pool, "SELECT count(*) FROM job_runs WHERE status = 'succeeded' AND finished_at IS NOT NULL")
            .await,
        2
    );
    assert_eq!(count(pool, "SELECT count(*) FROM audit_log WHERE action = 'retention.run'").await, 2);
    assert_eq!(count(pool, "SELECT count(*) FROM audit_log").await, 5, "nothing else was audited or removed");
    let (code, out) = cli(&db, &options, &["audit", "verify"]).await;
    assert!(succeeded(code) && out.contains("audit chain intact: 5 rows verified"), "{out}");
    // Last: the audit row carries the run's counts, every one of them.
    assert_eq!(audited_counts, json!(counts), "the retention.run audit row's counts differ from the run's");
}

// ---------------------------------------------------------------------------
// 8. A dry run
// ---------------------------------------------------------------------------

#[tokio::test]
async fn a_dry_run_changes_nothing_and_reports_what_the_real_run_then_does() {
    let db = seeded().await;
    let pool = &db.pool;
    seed_auth_state(pool, as_of()).await;
    let keys = keyring();
    let state = snapshot(pool).await;
    let audit_rows = count(pool, "SELECT count(*) FROM audit_log").await;

    let dry = run_at(pool, &keys, as_of(), true).await;
    let dry_counts = counts_of(&dry);
    assert_eq!(snapshot(pool).await, state, "a dry run changed data");
    assert_eq!(count(pool, "SELECT count(*) FROM audit_log").await, audit_rows + 1, "only its own audit row");
    let dry_flag: bool = sqlx::query_scalar("SELECT dry_run FROM job_runs WHERE id = $1")
        .bind(run_id(&dry))
        .fetch_one(pool)
        .await
        .unwrap();
    assert!(dry_flag, "job_runs marks the dry run");

    let real_counts = counts_of(&run_at(pool, &keys, as_of(), false).await);
    assert!(real_counts["partitions_dropped"] > 0 && real_counts["sessions_deleted"] > 0, "{real_counts:?}");
    // Every count the real run reports, the dry run reported alike (creating
    // the week's partitions ahead is the one step a dry run leaves out).
    let differ: Vec<String> = real_counts
        .iter()
        .filter(|(k, _)| k.as_str() != "partitions_created")
        .filter(|(k, v)| dry_counts.get(k.as_str()) != Some(v))
        .map(|(k, v)| format!("{k}: dry run {:?}, real run {v}", dry_counts.get(k.as_str())))
        .collect();
    assert!(
        differ.is_empty(),
        "the dry run misreported what the real run did:\n{}\ndry: {dry_counts:?}\nreal: {real_counts:?}",
        differ.join("\n")
    );
}

// ---------------------------------------------------------------------------
// 9. Audit purge: only after 13 months and an export
// ---------------------------------------------------------------------------

async fn plain_delete(db: &PgPool, seq: i64) -> Result<u64, sqlx::Error> {
    sqlx::query("DELETE FROM audit_log WHERE seq = $1").bind(seq).execute(db).await.map(|r| r.rows_affected())
}

/// Deletes `seq` with the purge setting on, in a transaction rolled back afterwards.
async fn purge_delete_rolled_back(db: &PgPool, seq: i64) -> Result<u64, sqlx::Error> {
    let mut tx = db.begin().await?;
    sqlx::query("SELECT set_config('sparkmotion.audit_purge', 'on', true)").execute(&mut *tx).await?;
    let n = sqlx::query("DELETE FROM audit_log WHERE seq = $1")
        .bind(seq)
        .execute(&mut *tx)
        .await?
        .rows_affected();
    tx.rollback().await?;
    Ok(n)
}

fn assert_refused(result: Result<u64, sqlx::Error>, what: &str) {
    match result {
        Err(e) => assert!(e.to_string().contains("append-only"), "{what}: unexpected error {e}"),
        Ok(n) => panic!("{what}: the database allowed deleting {n} audit row(s)"),
    }
}

#[tokio::test]
async fn old_audit_rows_leave_only_after_an_export_and_the_chain_stays_verifiable() {
    let db = TestDb::new().await;
    let pool = &db.pool;
    let options = OriginOptions::default();
    let keys = keys::keyring(&options.audit_keys);
    let now = Utc::now();
    // Three rows 14 months old (the trigger compares with the database's real now()), one 100 days old.
    let clock = Arc::new(ManualClock::new(now.checked_sub_months(Months::new(14)).unwrap()));
    let domain = Domain::new(pool.clone(), keys.clone(), clock.clone());
    for i in 0..3 {
        domain
            .create_org(
                &Actor::cli(),
                NewOrg { name: format!("Ancient {i}"), slug: Some(format!("ancient-{i}")) },
            )
            .await
            .unwrap();
        clock.advance(Duration::hours(1));
    }
    clock.set(now - Duration::days(100));
    domain
        .create_org(&Actor::cli(), NewOrg { name: "Recent".into(), slug: Some("recent".into()) })
        .await
        .unwrap();
    let row3_hash: Vec<u8> =
        sqlx::query_scalar("SELECT hash FROM audit_log WHERE seq = 3").fetch_one(pool).await.unwrap();

    // No export yet: a run purges nothing, and the database refuses by itself.
    let (code, out) = cli(&db, &options, &["retention", "run"]).await;
    assert!(succeeded(code), "{out}");
    assert_eq!(counts_in_output(&out).get("audit_rows_purged"), Some(&0), "{out}");
    assert_eq!(count(pool, "SELECT count(*) FROM audit_log WHERE seq <= 4").await, 4);
    assert_refused(plain_delete(pool, 1).await, "plain DELETE before export");
    assert_refused(purge_delete_rolled_back(pool, 1).await, "purge-flagged DELETE of an unexported row");

    // Export rows older than ~13 months.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("audit-old.jsonl");
    let before = (now - Duration::days(400)).date_naive().format("%Y-%m-%d").to_string();
    let (code, out) =
        cli(&db, &options, &["audit", "export", "--before", &before, "--out", file.to_str().unwrap()]).await;
    assert!(succeeded(code), "{out}");
    assert!(out.contains("exported 3 rows (seq 1..=3)"), "{out}");
    let bytes = std::fs::read(&file).unwrap();
    let recorded: (i64, i64, i64, String) =
        sqlx::query_as("SELECT first_seq, through_seq, rows, sha256 FROM audit_exports")
            .fetch_one(pool)
            .await
            .unwrap();
    assert_eq!((recorded.0, recorded.1, recorded.2), (1, 3, 3));
    assert_eq!(
        recorded.3,
        hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&bytes)),
        "the file's SHA-256 is recorded"
    );

    // Even exported, old rows cannot be deleted without the purge setting;
    // with it, a young row cannot either.
    assert_refused(plain_delete(pool, 1).await, "plain DELETE of an exported old row");
    assert_refused(plain_delete(pool, 3).await, "plain DELETE of an exported old row");
    assert_refused(purge_delete_rolled_back(pool, 4).await, "purge-flagged DELETE of a 100-day-old row");
    assert_eq!(
        purge_delete_rolled_back(pool, 1).await.unwrap(),
        1,
        "the trigger's one exception, rolled back"
    );

    // The next run purges exactly the exported old rows and anchors the chain.
    let (code, out) = cli(&db, &options, &["retention", "run"]).await;
    assert!(succeeded(code), "{out}");
    assert_eq!(counts_in_output(&out).get("audit_rows_purged"), Some(&3), "{out}");
    assert_eq!(count(pool, "SELECT min(seq) FROM audit_log").await, 4);
    let anchor: (i64, Vec<u8>) =
        sqlx::query_as("SELECT seq, hash FROM audit_chain_anchor").fetch_one(pool).await.unwrap();
    assert_eq!(anchor, (3, row3_hash), "the anchor is the last purged row");
    let total = count(pool, "SELECT count(*) FROM audit_log").await;
    let (code, out) = cli(&db, &options, &["audit", "verify"]).await;
    assert!(succeeded(code), "{out}");
    assert!(out.contains(&format!("audit chain intact: {total} rows verified")), "{out}");
    assert_refused(plain_delete(pool, 4).await, "plain DELETE after the purge");

    // The export verifies on its own; one changed character does not.
    let (code, out) = cli(&db, &options, &["audit", "verify-export", file.to_str().unwrap()]).await;
    assert!(succeeded(code), "{out}");
    assert!(out.contains("export intact: 3 rows verified"), "{out}");
    let text = String::from_utf8(bytes).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 5, "header, three rows, trailer");
    let row2: Value = serde_json::from_str(lines[2]).unwrap();
    let hash2 = row2["hash"].as_str().unwrap().to_string();
    let flipped = format!("{}{}", if hash2.starts_with('0') { '1' } else { '0' }, &hash2[1..]);
    for (line_no, from, to) in [
        (2, "Ancient 0".to_string(), "Ancient 9".to_string()),
        (3, hash2, flipped),
        (4, "org.created".into(), "org.creatEd".into()),
    ] {
        let mut tampered: Vec<String> = lines.iter().map(|l| l.to_string()).collect();
        assert!(tampered[line_no - 1].contains(&from), "line {line_no}: {}", tampered[line_no - 1]);
        tampered[line_no - 1] = tampered[line_no - 1].replacen(&from, &to, 1);
        let bad = dir.path().join(format!("tampered-{line_no}.jsonl"));
        std::fs::write(&bad, tampered.join("\n") + "\n").unwrap();
        let (code, out) = cli(&db, &options, &["audit", "verify-export", bad.to_str().unwrap()]).await;
        assert_eq!(code, ExitCode::FAILURE, "tampered line {line_no} passed: {out}");
        assert!(out.contains("export BROKEN"), "{out}");
    }

    // Cut short: the last row dropped and the trailer rewritten to the row before it.
    let last_kept: Value = serde_json::from_str(lines[2]).unwrap();
    let mut trailer: Value = serde_json::from_str(lines[4]).unwrap();
    trailer["rows"] = 2.into();
    trailer["through_seq"] = last_kept["row"]["seq"].clone();
    trailer["through_hash"] = last_kept["hash"].clone();
    let cut = dir.path().join("cut.jsonl");
    std::fs::write(&cut, format!("{}\n{}\n{}\n{trailer}\n", lines[0], lines[1], lines[2])).unwrap();
    let (code, out) = cli(&db, &options, &["audit", "verify-export", cut.to_str().unwrap()]).await;
    assert_eq!(code, ExitCode::FAILURE, "a file cut short and re-tailed passed: {out}");

    // A run rehearsing a far-future moment purges nothing the database would refuse,
    // even when an export covers young rows.
    let file2 = dir.path().join("audit-all.jsonl");
    let tomorrow = (now + Duration::days(1)).date_naive().format("%Y-%m-%d").to_string();
    let (code, out) =
        cli(&db, &options, &["audit", "export", "--before", &tomorrow, "--out", file2.to_str().unwrap()])
            .await;
    assert!(succeeded(code), "{out}");
    let future = (now + Duration::days(3 * 365)).to_rfc3339();
    let (code, out) = cli(&db, &options, &["retention", "run", "--now", &future]).await;
    assert!(!succeeded(code), "a real run for a future moment would drop live data early: {out}");
    assert!(out.contains("--dry-run"), "{out}");
    let (code, out) = cli(&db, &options, &["retention", "run", "--dry-run", "--now", &future]).await;
    assert!(succeeded(code), "a future-dated rehearsal failed: {out}");
    assert_eq!(counts_in_output(&out).get("audit_rows_purged"), Some(&0), "{out}");
    assert_eq!(count(pool, "SELECT min(seq) FROM audit_log").await, 4, "the 100-day-old row stays");
    let (code, out) = cli(&db, &options, &["audit", "verify"]).await;
    assert!(succeeded(code), "{out}");
}

// ---------------------------------------------------------------------------
// 10. Cleanup of auth state, outbox and nonces
// ---------------------------------------------------------------------------

/// Ids of the cleanup fixtures, by what must happen to them.
struct AuthState {
    gone: BTreeSet<String>,
    kept: BTreeSet<String>,
}

/// Password resets, sessions, outbox rows and nonces around `at`; ids named `gone:*` or `kept:*`.
async fn seed_auth_state(db: &PgPool, at: DateTime<Utc>) -> AuthState {
    let user = Uuid::now_v7();
    sqlx::query(
        "INSERT INTO users (id, email, name, role, password_hash) VALUES ($1, 'cleanup@example.com', 'Clean Up', 'ADMIN', 'x')",
    )
    .bind(user)
    .execute(db)
    .await
    .unwrap();
    let (mut gone, mut kept) = (BTreeSet::new(), BTreeSet::new());
    let m = Duration::minutes;
    let h = Duration::hours;
    // (label, created, expires, used, voided)
    type Reset = (&'static str, Duration, Duration, Option<Duration>, Option<Duration>);
    let resets: &[Reset] = &[
        ("gone:reset-expired", -h(2), -h(1), None, None),
        ("gone:reset-used", -m(10), m(50), Some(-m(5)), None),
        ("gone:reset-voided", -m(10), m(50), None, Some(-m(2))),
        ("kept:reset-live", -m(10), m(50), None, None),
    ];
    for (label, created, expires, used, voided) in resets {
        let id = Uuid::now_v7();
        sqlx::query(
            "INSERT INTO password_resets (id, user_id, token_hash, created_at, expires_at, used_at, voided_at)
             VALUES ($1, $2, sha256($3::bytea), $4, $5, $6, $7)",
        )
        .bind(id)
        .bind(user)
        .bind(label.as_bytes())
        .bind(at + *created)
        .bind(at + *expires)
        .bind(used.map(|d| at + d))
        .bind(voided.map(|d| at + d))
        .execute(db)
        .await
        .unwrap();
        label_id(label, &id.to_string(), &mut gone, &mut kept);
    }
    // (label, stage, created, last seen, expires, revoked)
    type Session = (&'static str, &'static str, Duration, Duration, Duration, Option<Duration>);
    let sessions: &[Session] = &[
        ("gone:session-expired-days-ago", "full", -h(72), -h(70), -h(60), None),
        ("gone:session-revoked-days-ago", "full", -h(30), -h(29), -h(18), Some(-h(29))),
        ("kept:session-revoked-an-hour-ago", "full", -h(2), -h(1), h(10), Some(-h(1))),
        ("kept:session-expired-an-hour-ago", "full", -h(13), -h(2), -h(1), None),
        ("kept:session-live", "full", -h(1), -m(1), h(11), None),
        ("gone:mfa-pending-stale", "mfa_pending", -m(10), -m(10), -m(5), None),
        ("gone:mfa-pending-abandoned-days-ago", "mfa_pending", -h(72), -h(72), -h(72) + m(5), None),
        ("kept:mfa-pending-live", "mfa_pending", -m(1), -m(1), m(4), None),
    ];
    for (label, stage, created, seen, expires, revoked) in sessions {
        let id = Uuid::now_v7();
        sqlx::query(
            "INSERT INTO sessions (id, user_id, csrf_token, stage, created_at, last_seen_at, expires_at, revoked_at)
             VALUES ($1, $2, 'csrf', $3, $4, $5, $6, $7)",
        )
        .bind(id)
        .bind(user)
        .bind(stage)
        .bind(at + *created)
        .bind(at + *seen)
        .bind(at + *expires)
        .bind(revoked.map(|d| at + d))
        .execute(db)
        .await
        .unwrap();
        label_id(label, &id.to_string(), &mut gone, &mut kept);
    }
    // (label, created, done)
    let outbox: &[(&str, Duration, Option<Duration>)] = &[
        ("gone:outbox-done-8-days-ago", -h(24 * 8 + 1), Some(-h(24 * 8))),
        ("kept:outbox-done-6-days-ago", -h(24 * 6 + 1), Some(-h(24 * 6))),
        ("kept:outbox-pending-for-a-month", -h(24 * 30), None),
    ];
    for (label, created, done) in outbox {
        let seq: i64 = sqlx::query_scalar(
            "INSERT INTO kv_outbox (key, op, created_at, done_at) VALUES ($1, '{}', $2, $3) RETURNING seq",
        )
        .bind(label)
        .bind(at + *created)
        .bind(done.map(|d| at + d))
        .fetch_one(db)
        .await
        .unwrap();
        label_id(label, &seq.to_string(), &mut gone, &mut kept);
    }
    for (label, seen) in [("gone:nonce-an-hour-old", -h(1)), ("kept:nonce-a-minute-old", -m(1))] {
        sqlx::query("INSERT INTO signed_nonces (nonce, seen_at) VALUES ($1, $2)")
            .bind(label)
            .bind(at + seen)
            .execute(db)
            .await
            .unwrap();
        label_id(label, label, &mut gone, &mut kept);
    }
    // TOTP enrolments, one user each: (label, created, confirmed)
    let enrolments: &[(&str, Duration, Option<Duration>)] = &[
        ("gone:enrolment-abandoned-30-hours-ago", -h(30), None),
        ("kept:enrolment-started-10-minutes-ago", -m(10), None),
        ("kept:enrolment-confirmed-long-ago", -h(24 * 200), Some(-h(24 * 200))),
    ];
    for (label, created, confirmed) in enrolments {
        let id = Uuid::now_v7();
        sqlx::query("INSERT INTO users (id, email, name, role, password_hash) VALUES ($1, $2, 'Enrolling', 'ADMIN', 'x')")
            .bind(id)
            .bind(format!("{id}@example.com"))
            .execute(db)
            .await
            .unwrap();
        sqlx::query(
            "INSERT INTO mfa_totp (user_id, key_id, nonce, secret_encrypted, confirmed_at, created_at)
             VALUES ($1, 'k', '\\x00', '\\x00', $2, $3)",
        )
        .bind(id)
        .bind(confirmed.map(|d| at + d))
        .bind(at + *created)
        .execute(db)
        .await
        .unwrap();
        label_id(label, &id.to_string(), &mut gone, &mut kept);
    }
    AuthState { gone, kept }
}

fn label_id(label: &str, id: &str, gone: &mut BTreeSet<String>, kept: &mut BTreeSet<String>) {
    let entry = format!("{label}={id}");
    if label.starts_with("gone:") {
        gone.insert(entry)
    } else {
        kept.insert(entry)
    };
}

/// The fixtures still present, as `label=id`.
async fn present(db: &PgPool, state: &AuthState) -> BTreeSet<String> {
    let mut ids: BTreeSet<String> = BTreeSet::new();
    for sql in [
        "SELECT id::text FROM password_resets",
        "SELECT id::text FROM sessions",
        "SELECT seq::text FROM kv_outbox",
        "SELECT nonce FROM signed_nonces",
        "SELECT user_id::text FROM mfa_totp",
    ] {
        let v: Vec<String> = sqlx::query_scalar(sql).fetch_all(db).await.unwrap();
        ids.extend(v);
    }
    state
        .gone
        .iter()
        .chain(&state.kept)
        .filter(|e| ids.contains(e.split_once('=').unwrap().1))
        .cloned()
        .collect()
}

#[tokio::test]
async fn cleanup_deletes_dead_auth_state_and_delivered_outbox_rows_and_keeps_live_ones() {
    let db = TestDb::new().await;
    let pool = &db.pool;
    let state = seed_auth_state(pool, as_of()).await;
    assert_eq!(present(pool, &state).await.len(), state.gone.len() + state.kept.len());

    let counts = counts_of(&run_at(pool, &keyring(), as_of(), false).await);
    assert_eq!(present(pool, &state).await, state.kept, "exactly the live rows remain");
    let expected: BTreeMap<String, i64> = [
        ("reset_requests_deleted", 3),
        // Sessions still owing their second factor count as MFA-pending, however old.
        ("sessions_deleted", 2),
        ("mfa_pending_deleted", 2),
        ("kv_outbox_deleted", 1),
        ("nonces_deleted", 1),
        ("mfa_enrolments_deleted", 1),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    for (step, n) in &expected {
        assert_eq!(counts.get(step), Some(n), "{step}: {counts:?}");
    }
    // Idempotent: nothing more goes on a second run.
    let again = counts_of(&run_at(pool, &keyring(), as_of(), false).await);
    for step in expected.keys() {
        assert_eq!(again.get(step), Some(&0), "{step} on the second run: {again:?}");
    }
    assert_eq!(present(pool, &state).await, state.kept);
}

/// A session ends 30 minutes after it was last seen; "ended at least a day
/// ago" then includes sessions whose idle end lies more than a day back, not
/// only those also past their absolute end.
#[tokio::test]
async fn sessions_that_ended_idle_over_a_day_ago_are_deleted() {
    let db = TestDb::new().await;
    let pool = &db.pool;
    let at = as_of();
    let user = Uuid::now_v7();
    sqlx::query("INSERT INTO users (id, email, name, role, password_hash) VALUES ($1, 'idle@example.com', 'Idle', 'ADMIN', 'x')")
        .bind(user)
        .execute(pool)
        .await
        .unwrap();
    let h = Duration::hours;
    // (created, last seen, expires): idle-ended 28.5 h ago, before its absolute end (18 h ago);
    // idle-ended 1.5 h ago.
    let (idle_long, idle_recent) = (Uuid::now_v7(), Uuid::now_v7());
    for (id, created, seen, expires) in
        [(idle_long, -h(30), -h(29), -h(18)), (idle_recent, -h(3), -h(2), h(9))]
    {
        sqlx::query(
            "INSERT INTO sessions (id, user_id, csrf_token, stage, created_at, last_seen_at, expires_at)
             VALUES ($1, $2, 'csrf', 'full', $3, $4, $5)",
        )
        .bind(id)
        .bind(user)
        .bind(at + created)
        .bind(at + seen)
        .bind(at + expires)
        .execute(pool)
        .await
        .unwrap();
    }
    let counts = counts_of(&run_at(pool, &keyring(), at, false).await);
    let left: Vec<Uuid> =
        sqlx::query_scalar("SELECT id FROM sessions ORDER BY id").fetch_all(pool).await.unwrap();
    assert_eq!(
        left,
        vec![idle_recent],
        "a session that ended (idle) 28.5 hours ago should be deleted, one that ended 1.5 hours ago kept; counts {counts:?}"
    );
}

// ---------------------------------------------------------------------------
// 11. CLI
// ---------------------------------------------------------------------------

#[tokio::test]
async fn the_cli_refuses_bad_input_and_labels_dry_runs() {
    let db = seeded().await;
    let pool = &db.pool;
    let options = OriginOptions::default();
    let state = snapshot(pool).await;

    // An unparseable --now: a usage error naming the value, nothing run.
    let (code, out) = cli(&db, &options, &["retention", "run", "--now", "garbage"]).await;
    assert_eq!(code, ExitCode::from(2), "{out}");
    assert!(
        out.contains("garbage") && out.contains("--now"),
        "the error names the flag and the value: {out}"
    );
    assert_eq!(count(pool, "SELECT count(*) FROM job_runs").await, 0);
    let (code, out) =
        cli(&db, &options, &["audit", "export", "--before", "last tuesday", "--out", "/dev/null"]).await;
    assert_eq!(code, ExitCode::from(2), "{out}");
    assert!(out.contains("neither an RFC 3339 time nor a YYYY-MM-DD date"), "{out}");

    // A dry run says so, and changes nothing.
    let (code, out) = cli(&db, &options, &["retention", "run", "--dry-run", "--now", AS_OF]).await;
    assert!(succeeded(code), "{out}");
    assert!(out.contains("dry run"), "the output says it was a dry run: {out}");
    assert!(counts_in_output(&out).get("taps_summarised").is_some_and(|n| *n > 0), "{out}");
    assert_eq!(snapshot(pool).await, state);
    let real = cli(&db, &options, &["retention", "run", "--now", AS_OF]).await.1;
    assert!(!real.contains("dry run"), "a real run does not claim to be dry: {real}");

    // Export never overwrites a file.
    let dir = tempfile::tempdir().unwrap();
    let existing = dir.path().join("existing.jsonl");
    std::fs::write(&existing, "precious\n").unwrap();
    let audit_before = count(pool, "SELECT count(*) FROM audit_log").await;
    let (code, out) = cli(
        &db,
        &options,
        &["audit", "export", "--before", "2030-01-01", "--out", existing.to_str().unwrap()],
    )
    .await;
    assert_eq!(code, ExitCode::FAILURE, "{out}");
    assert!(out.contains("must not exist"), "{out}");
    assert_eq!(std::fs::read_to_string(&existing).unwrap(), "precious\n");
    assert_eq!(count(pool, "SELECT count(*) FROM audit_exports").await, 0);
    assert_eq!(count(pool, "SELECT count(*) FROM audit_log").await, audit_before);
    assert!(Path::new(&existing).exists());
}

/// `origin-api serve` runs the job by itself: once at start when the last
/// scheduled run was missed, then at the configured hour — and a replica
/// started after a successful run does not run it again.
#[tokio::test]
async fn serve_runs_the_job_at_start_when_a_run_was_missed_and_then_at_the_scheduled_hour() {
    use system_tests::eventually;
    use system_tests::origin::Origin;
    let db = TestDb::new().await;
    let pool = &db.pool;
    // Two seconds before 03:00 UTC, with no run ever recorded.
    let clock = Arc::new(ManualClock::new("2026-08-15T02:59:58Z".parse().unwrap()));
    let options = OriginOptions {
        extra: vec![("RETENTION_SCHEDULE", "on".into()), ("RETENTION_HOUR_UTC", "3".into())],
        ..OriginOptions::default()
    };
    let succeeded_runs = || async move {
        sqlx::query_scalar::<_, DateTime<Utc>>(
            "SELECT as_of FROM job_runs WHERE job = 'retention' AND status = 'succeeded' ORDER BY as_of",
        )
        .fetch_all(pool)
        .await
        .unwrap()
    };

    let origin = Origin::start_with_clock(&db, options.clone(), clock.clone()).await;
    // The catch-up run: yesterday's 03:00 never happened.
    let first = eventually("the catch-up run", std::time::Duration::from_secs(20), || async {
        let runs = succeeded_runs().await;
        (!runs.is_empty()).then_some(runs)
    })
    .await;
    assert_eq!(first, vec!["2026-08-15T02:59:58Z".parse::<DateTime<Utc>>().unwrap()]);
    // Then 03:00 comes: the loop sleeps the two seconds the clock says are left.
    let both = eventually("the 03:00 run", std::time::Duration::from_secs(20), || async {
        let runs = succeeded_runs().await;
        (runs.len() >= 2).then_some(runs)
    })
    .await;
    assert_eq!(both.len(), 2, "{both:?}");
    assert_eq!(count(pool, "SELECT count(*) FROM audit_log WHERE action = 'retention.run'").await, 2);
    // (The clock stands still, so this process would keep finding 03:00 two seconds away.)
    drop(origin);
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let before = succeeded_runs().await.len();

    // A replica started after those runs (and before the next 03:00) finds nothing missed.
    clock.set(as_of() - Duration::hours(1));
    let _replica = Origin::start_with_clock(&db, options, clock.clone()).await;
    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    assert_eq!(succeeded_runs().await.len(), before, "no catch-up run after a successful one");
}
