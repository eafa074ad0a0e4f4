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
