//! Analytics definitions on hand-checked data: taps, unique bands per hour,
//! repeats (same band within 10 s on the same UTC day), the device split and
//! hits kept out of the counts.

use chrono::{DateTime, Utc};
use origin_api::analytics::{self, Hour};
use system_tests::db::TestDb;
use uuid::Uuid;

fn t(s: &str) -> DateTime<Utc> {
    s.parse().expect("time")
}

async fn hit(db: &TestDb, event: Uuid, band: &str, at: &str, agent: &str, head: bool, device: &str) {
    sqlx::query(
        "INSERT INTO tap_logs (id, band_id, event_id, tapped_at, outcome, head, agent, device)
         VALUES ($1, $2, $3, $4, 'default', $5, $6, $7)",
    )
    .bind(Uuid::now_v7())
    .bind(band)
    .bind(event)
    .bind(t(at))
    .bind(head)
    .bind(agent)
    .bind(device)
    .execute(&db.pool)
    .await
    .expect("insert hit");
}

#[tokio::test]
async fn hourly_and_totals_follow_the_definitions() {
    let db = TestDb::new().await;
    let (event, other_event) = (Uuid::now_v7(), Uuid::now_v7());
    for (band, at, agent, head, device) in [
        ("A", "2026-06-01T10:00:00Z", "human", false, "ios"),
        ("A", "2026-06-01T10:00:05Z", "human", false, "ios"), // repeat
        ("A", "2026-06-01T10:30:00Z", "human", false, "ios"),
        ("B", "2026-06-01T10:10:00Z", "human", false, "android"),
        ("C", "2026-06-01T10:20:00Z", "bot", false, "other"), // excluded: bot
        ("A", "2026-06-01T10:40:00Z", "human", true, "ios"),  // excluded: HEAD
        ("E", "2026-06-01T10:41:00Z", "previewer", false, "other"), // excluded: previewer
        ("A", "2026-06-01T11:00:03Z", "human", false, "ios"), // 30 min after: not a repeat
        ("D", "2026-06-01T23:59:58Z", "human", false, "other"),
        ("D", "2026-06-02T00:00:02Z", "human", false, "other"), // 4 s later but the next UTC day
    ] {
        hit(&db, event, band, at, agent, head, device).await;
    }
    hit(&db, other_event, "A", "2026-06-01T10:00:01Z", "human", false, "ios").await;

    let hours = analytics::hourly(&db.pool, event, t("2026-06-01T00:00:00Z"), t("2026-06-03T00:00:00Z"))
        .await
        .expect("hourly");
    let hour = |h: &str| hours.iter().find(|x| x.hour == t(h)).cloned().unwrap_or_else(|| panic!("no {h}"));
    assert_eq!(
        hour("2026-06-01T10:00:00Z"),
        Hour {
            hour: t("2026-06-01T10:00:00Z"),
            taps: 4,
            unique_bands: 2,
            repeats: 1,
            excluded: 3,
            ios: 3,
            android: 1,
            other: 0
        }
    );
    let eleven = hour("2026-06-01T11:00:00Z");
    assert_eq!((eleven.taps, eleven.unique_bands, eleven.repeats), (1, 1, 0));
    assert_eq!(hour("2026-06-02T00:00:00Z").repeats, 0, "a repeat never crosses UTC midnight");
    assert_eq!(hours.len(), 4);

    let totals = analytics::totals(&db.pool, event, t("2026-06-01T00:00:00Z"), t("2026-06-03T00:00:00Z"))
        .await
        .expect("totals");
    assert_eq!((totals.taps, totals.unique_bands, totals.repeats), (7, 3, 1));
    assert_eq!((totals.bots, totals.previewers, totals.head), (1, 1, 1));
    assert_eq!((totals.ios, totals.android, totals.other), (4, 1, 2));
    assert_eq!(totals.taps, hours.iter().map(|h| h.taps).sum::<i64>(), "hours add up to the total");
}

/// The incrementally maintained roll-up answers exactly what the raw taps say:
/// after a refresh (stored hours), and before one (dirty hours read raw).
#[tokio::test]
async fn the_hourly_rollup_matches_the_raw_taps_before_and_after_a_refresh() {
    use origin_api::analytics::hourly_rollup;
    let db = TestDb::new().await;
    let event = Uuid::now_v7();
    let base = t("2026-06-01T09:59:52Z");
    // Dense traffic over three hours, with repeats across an hour boundary.
    for i in 0..600i64 {
        let at = base + chrono::Duration::seconds(i * 17 % 10_800);
        let band = format!("B{}", i % 37);
        let device = ["ios", "android", "other"][(i % 3) as usize];
        let agent = if i % 23 == 0 { "bot" } else { "human" };
        hit(&db, event, &band, &at.to_rfc3339(), agent, i % 31 == 0, device).await;
        if i % 5 == 0 {
            hit(&db, event, &band, &(at + chrono::Duration::seconds(3)).to_rfc3339(), "human", false, device)
                .await;
        }
    }
    let (from, to) = (t("2026-06-01T09:00:00Z"), t("2026-06-01T14:00:00Z"));
    // Hour-aligned: the roll-up's path (nothing stored yet, so every hour from raw taps).
    let raw = analytics::hourly(&db.pool, event, from, to).await.expect("hourly");
    // Not aligned: the one-pass range query. Both must agree.
    let unaligned =
        analytics::hourly(&db.pool, event, from - chrono::Duration::seconds(1), to).await.expect("range");
    assert_eq!(raw, unaligned, "the roll-up's raw path and the one-pass range query agree");

    // Mark every hour dirty (as ingest does) and refresh: the stored hours give the same answer.
    let mut hour = from;
    while hour < to {
        sqlx::query("INSERT INTO analytics_dirty_hours (event_id, hour) VALUES ($1, $2)")
            .bind(event)
            .bind(hour)
            .execute(&db.pool)
            .await
            .unwrap();
        hour += chrono::Duration::hours(1);
    }
    while hourly_rollup::refresh_some(&db.pool).await.unwrap() > 0 {}
    let stored: i64 =
        sqlx::query_scalar("SELECT count(*) FROM analytics_hourly").fetch_one(&db.pool).await.unwrap();
    assert_eq!(stored, 4, "hours with taps are stored");
    assert_eq!(analytics::hourly(&db.pool, event, from, to).await.unwrap(), raw, "stored hours are exact");

    // A late tap: until the next refresh its hour is dirty and read raw, so reads stay exact.
    hit(&db, event, "LATE", "2026-06-01T10:30:00Z", "human", false, "ios").await;
    sqlx::query("INSERT INTO analytics_dirty_hours (event_id, hour) VALUES ($1, $2)")
        .bind(event)
        .bind(t("2026-06-01T10:00:00Z"))
        .execute(&db.pool)
        .await
        .unwrap();
    let with_late = analytics::hourly(&db.pool, event, from, to).await.unwrap();
    let ten = |hours: &[Hour]| hours.iter().find(|h| h.hour == t("2026-06-01T10:00:00Z")).unwrap().clone();
    assert_eq!(ten(&with_late).taps, ten(&raw).taps + 1, "the late tap counts at once");
    hourly_rollup::refresh_some(&db.pool).await.unwrap();
    assert_eq!(
        analytics::hourly(&db.pool, event, from, to).await.unwrap(),
        with_late,
        "and after the refresh"
    );
    let dirty: i64 =
        sqlx::query_scalar("SELECT count(*) FROM analytics_dirty_hours").fetch_one(&db.pool).await.unwrap();
    assert_eq!(dirty, 0);
}

/// Ingest marks the hours it adds taps to (and the next hour for taps in an
/// hour's last seconds) in the taps' own transaction; unknown bands mark nothing.
#[tokio::test]
async fn ingest_marks_the_hours_it_touches_as_dirty() {
    use system_tests::origin::{Origin, OriginOptions};
    use system_tests::{http, keys};
    let db = TestDb::new().await;
    let origin = Origin::start(&db, OriginOptions::default()).await;
    let event = Uuid::now_v7();
    let at = |s: &str| t(s).timestamp_millis();
    let taps: Vec<serde_json::Value> = [
        (Some(event), at("2026-06-01T10:20:00Z")),
        (Some(event), at("2026-06-01T10:59:55Z")),
        (None, at("2026-06-01T12:00:00Z")),
    ]
    .into_iter()
    .map(|(event, ts)| {
        serde_json::json!({
            "id": system_tests::taps::id_at(ts), "band_id": "DIRTY001", "ts_ms": ts, "event_id": event,
            "org_id": event.map(|_| Uuid::now_v7()), "outcome": "default", "head": false, "agent": "human", "device": "ios"
        })
    })
    .collect();
    let body = serde_json::to_vec(&serde_json::json!({ "taps": taps })).unwrap();
    let signed = keys::sign_now(&origin.options.keyring(), "POST", "/internal/v1/taps", &body);
    let r = keys::apply(http::client().post(origin.url("/internal/v1/taps")), &signed)
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    let dirty: Vec<(Uuid, DateTime<Utc>)> =
        sqlx::query_as("SELECT event_id, hour FROM analytics_dirty_hours ORDER BY hour")
            .fetch_all(&db.pool)
            .await
            .unwrap();
    if dirty.is_empty() {
        // The origin's roll-up task got there first: then the hour is stored.
        let stored: i64 =
            sqlx::query_scalar("SELECT taps FROM analytics_hourly WHERE event_id = $1 AND hour = $2")
                .bind(event)
                .bind(t("2026-06-01T10:00:00Z"))
                .fetch_one(&db.pool)
                .await
                .unwrap();
        assert_eq!(stored, 2);
    } else {
        assert_eq!(dirty, vec![(event, t("2026-06-01T10:00:00Z")), (event, t("2026-06-01T11:00:00Z"))]);
    }
}
