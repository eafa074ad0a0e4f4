//! Analytics definitions on hand-checked data: taps, unique bands per hour,
//! repeats (same band within 10 s on the same UTC day), the device split and
//! hits kept out of the counts. And the JSON API
//! (`GET /api/v1/events/{id}/analytics`): the dashboard's numbers, the same
//! across a retention run, only for the owning organisation and ADMINs, and a
//! clear 4xx for any bad range.

use chrono::{DateTime, Duration, NaiveDate, Utc};
use origin_api::analytics::{self, Hour};
use origin_api::clock::SystemClock;
use origin_api::domain::actor::Actor;
use origin_api::domain::events::NewEvent;
use origin_api::retention::{self, Outcome, Policy, RunOptions};
use serde_json::Value;
use sqlx::PgPool;
use system_tests::api::ApiClient;
use system_tests::db::TestDb;
use system_tests::origin::{Origin, OriginOptions};
use system_tests::world::{self, PASSWORD, World};
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

/// Hand-checked hits of one event: (band, time, agent, HEAD, device). Over 2026-06-01 and
/// 2026-06-02 they make 7 taps of 3 bands, 1 repeat, 1 bot, 1 previewer, 1 HEAD request,
/// devices 4 iOS, 1 Android, 2 other; four hours have hits.
const HAND_CHECKED: &[(&str, &str, &str, bool, &str)] = &[
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
];

async fn hand_checked_hits(db: &TestDb, event: Uuid) {
    for &(band, at, agent, head, device) in HAND_CHECKED {
        hit(db, event, band, at, agent, head, device).await;
    }
}

#[tokio::test]
async fn hourly_and_totals_follow_the_definitions() {
    let db = TestDb::new().await;
    let (event, other_event) = (Uuid::now_v7(), Uuid::now_v7());
    hand_checked_hits(&db, event).await;
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

// ---------------------------------------------------------------------------
// The JSON API: `GET /api/v1/events/{id}/analytics?from=&to=`
// ---------------------------------------------------------------------------

/// An origin with the authorization world and CUSTOMER A signed in.
async fn api_world() -> (TestDb, Origin, World, ApiClient) {
    let db = TestDb::new().await;
    let origin = Origin::start(&db, OriginOptions::default()).await;
    let w = world::build(origin.domain()).await;
    let customer_a = signed_in(&origin, &w.customer_a.1).await;
    (db, origin, w, customer_a)
}

async fn signed_in(origin: &Origin, email: &str) -> ApiClient {
    let mut client = ApiClient::new(&origin.url);
    let answer = client.login(email, PASSWORD).await;
    assert_eq!(answer.status, 200, "sign-in of {email}: {:?}", answer.json);
    client
}

fn api_path(event: Uuid, from: NaiveDate, to: NaiveDate) -> String {
    format!("/api/v1/events/{event}/analytics?from={from}&to={to}")
}

fn date(s: &str) -> NaiveDate {
    s.parse().expect("date")
}

/// Midnight UTC starting `d`.
fn midnight(d: NaiveDate) -> DateTime<Utc> {
    d.and_hms_opt(0, 0, 0).expect("midnight").and_utc()
}

/// The API's answer for whole days `from..=to`, checked against the query
/// functions over `[from 00:00, to+1 00:00)` (the same numbers, field by field).
async fn api_matches_queries(
    client: &ApiClient,
    db: &PgPool,
    event: Uuid,
    from: NaiveDate,
    to: NaiveDate,
) -> Value {
    let answer = client.get(&api_path(event, from, to)).await;
    assert_eq!(answer.status, 200, "{from}..{to}: {:?}", answer.json);
    let (start, end) = (midnight(from), midnight(to + Duration::days(1)));
    let totals = analytics::totals(db, event, start, end).await.expect("totals");
    let hours = analytics::hourly(db, event, start, end).await.expect("hourly");
    assert_eq!(answer.json["totals"], serde_json::to_value(&totals).expect("json"), "totals {from}..{to}");
    assert_eq!(answer.json["hours"], serde_json::to_value(&hours).expect("json"), "hours {from}..{to}");
    assert_eq!(
        (answer.json["from"].as_str(), answer.json["to"].as_str()),
        (Some(from.to_string().as_str()), Some(to.to_string().as_str()))
    );
    answer.json
}

#[tokio::test]
async fn the_api_answers_the_numbers_the_dashboard_shows() {
    let (db, origin, w, customer_a) = api_world().await;
    hand_checked_hits(&db, w.event_a).await;
    // Another organisation's taps, on the same days and bands, count for nothing here.
    hit(&db, w.event_b, "A", "2026-06-01T10:00:01Z", "human", false, "ios").await;
    let (from, to) = (date("2026-06-01"), date("2026-06-02"));

    let json = api_matches_queries(&customer_a, &db.pool, w.event_a, from, to).await;
    let totals = &json["totals"];
    assert_eq!(
        (totals["taps"].as_i64(), totals["unique_bands"].as_i64(), totals["repeats"].as_i64()),
        (Some(7), Some(3), Some(1))
    );
    assert_eq!(
        (totals["bots"].as_i64(), totals["previewers"].as_i64(), totals["head"].as_i64()),
        (Some(1), Some(1), Some(1)),
        "hits kept out of the counts are counted apart"
    );
    assert_eq!(
        (totals["ios"].as_i64(), totals["android"].as_i64(), totals["other"].as_i64()),
        (Some(4), Some(1), Some(2))
    );
    assert_eq!(json["event_id"], serde_json::json!(w.event_a));
    assert_eq!(json["start"], "2026-06-01T00:00:00Z");
    assert_eq!(json["end"], "2026-06-03T00:00:00Z");
    let hours = json["hours"].as_array().expect("hours");
    assert_eq!(hours.len(), 4);
    assert_eq!(hours[0]["hour"], "2026-06-01T10:00:00Z");
    assert_eq!((hours[0]["taps"].as_i64(), hours[0]["excluded"].as_i64()), (Some(4), Some(3)));

    // The dashboard, same session, same range: the same total and the same hours.
    let page = customer_a.get(&format!("/events/{}/analytics?from={from}&to={to}", w.event_a)).await;
    assert_eq!(page.status, 200);
    assert!(page.text.contains(r#"id="total-taps">7<"#), "the page's total: {}", page.text);
    let csv = customer_a.get(&format!("/events/{}/analytics.csv?from={from}&to={to}", w.event_a)).await;
    assert_eq!(csv.status, 200);
    let rows: Vec<String> = hours
        .iter()
        .map(|h| {
            let n = |k: &str| h[k].as_i64().expect(k).to_string();
            let hour = h["hour"].as_str().expect("hour");
            let fields = ["taps", "unique_bands", "repeats", "excluded", "ios", "android", "other"].map(n);
            format!("{hour},{}", fields.join(","))
        })
        .collect();
    assert_eq!(csv.text.lines().skip(1).collect::<Vec<_>>(), rows, "the CSV export's hours");

    // An ADMIN reads any organisation's event, and gets the same.
    let (admin, _) = world::admin_client(&origin, &w).await;
    let as_admin = admin.get(&api_path(w.event_a, from, to)).await;
    assert_eq!((as_admin.status.as_u16(), &as_admin.json), (200, &json));
    // No range: the last 7 days (today included), read as whole UTC days.
    let default = customer_a.get(&format!("/api/v1/events/{}/analytics", w.event_a)).await;
    assert_eq!(default.status, 200, "{:?}", default.json);
    let today = Utc::now().date_naive();
    let (d_from, d_to) =
        (date(default.json["from"].as_str().expect("from")), date(default.json["to"].as_str().expect("to")));
    assert!(
        d_to == today || d_to == today - Duration::days(1) || d_to == today + Duration::days(1),
        "{d_to}"
    );
    assert_eq!(d_to - d_from, Duration::days(6));
}

#[tokio::test]
async fn only_the_owning_organisation_and_admins_read_an_events_analytics() {
    let (db, origin, w, customer_a) = api_world().await;
    hand_checked_hits(&db, w.event_a).await;
    let customer_b = signed_in(&origin, &w.customer_b.1).await;
    let (from, to) = (date("2026-06-01"), date("2026-06-02"));

    assert_eq!(customer_a.get(&api_path(w.event_a, from, to)).await.status, 200);
    // Org B's CUSTOMER: org A's event does not exist for them, whatever the range.
    for path in [
        api_path(w.event_a, from, to),
        format!("/api/v1/events/{}/analytics", w.event_a),
        format!("/api/v1/events/{}/analytics?from=nonsense&to=2026-01-01", w.event_a),
    ] {
        let answer = customer_b.get(&path).await;
        assert_eq!((answer.status.as_u16(), answer.code()), (404, "not_found"), "{path}: {:?}", answer.json);
        assert!(!answer.text.contains("taps"), "{path}: nothing of the event leaks: {}", answer.text);
    }
    // Their own event reads fine (and is empty).
    let own = customer_b.get(&api_path(w.event_b, from, to)).await;
    assert_eq!((own.status.as_u16(), own.json["totals"]["taps"].as_i64()), (200, Some(0)));
    // Unknown, malformed and deleted events are 404s too.
    let deleted = origin
        .domain()
        .create_event(&Actor::cli(), NewEvent { org_id: w.org_a, name: "Gone".into(), ..Default::default() })
        .await
        .expect("event")
        .id;
    hit(&db, deleted, "A", "2026-06-01T10:00:00Z", "human", false, "ios").await;
    assert_eq!(customer_a.get(&api_path(deleted, from, to)).await.status, 200);
    origin.domain().delete_event(&Actor::cli(), deleted).await.expect("delete");
    for path in [
        api_path(deleted, from, to),
        api_path(Uuid::now_v7(), from, to),
        "/api/v1/events/not-a-uuid/analytics".to_string(),
    ] {
        let answer = customer_a.get(&path).await;
        assert_eq!((answer.status.as_u16(), answer.code()), (404, "not_found"), "{path}: {:?}", answer.json);
    }
    // Signed out: 401.
    let anonymous = ApiClient::new(&origin.url);
    assert_eq!(anonymous.get(&api_path(w.event_a, from, to)).await.status, 401);
}

#[tokio::test]
async fn malformed_and_hostile_ranges_get_a_clear_4xx_never_a_500() {
    let (_db, _origin, w, customer_a) = api_world().await;
    let base = format!("/api/v1/events/{}/analytics", w.event_a);
    let encode = |pairs: &[(&str, &str)]| {
        let mut q = url::form_urlencoded::Serializer::new(String::new());
        for (k, v) in pairs {
            q.append_pair(k, v);
        }
        q.finish()
    };
    let long = "9".repeat(10_000);
    for (pairs, status, code) in [
        (vec![("from", "2026-6-1")], 400, "invalid_query"),
        (vec![("from", "2026-02-30"), ("to", "2026-03-01")], 400, "invalid_query"),
        (vec![("to", "yesterday")], 400, "invalid_query"),
        (vec![("from", "2026-06-01T00:00:00Z")], 400, "invalid_query"),
        (vec![("from", "+200000-01-01"), ("to", "+200000-01-02")], 400, "invalid_query"),
        (vec![("from", "-4714-01-01")], 400, "invalid_query"),
        (vec![("from", "<script>alert(1)</script>")], 400, "invalid_query"),
        (vec![("from", "2026-06-01'; DROP TABLE tap_logs; --")], 400, "invalid_query"),
        (vec![("from", long.as_str())], 400, "invalid_query"),
        (vec![("from", "2026-06-01"), ("from", "2026-06-02")], 400, "invalid_query"),
        (vec![("from", "2026-06-02"), ("to", "2026-06-01")], 422, "invalid_range"),
        (vec![("from", "2026-01-01"), ("to", "2026-06-01")], 422, "invalid_range"),
        // 93 days: one over the cap.
        (vec![("from", "2026-03-01"), ("to", "2026-06-01")], 422, "invalid_range"),
        (vec![("from", "0000-01-01"), ("to", "9999-12-31")], 422, "invalid_range"),
    ] {
        let path = format!("{base}?{}", encode(&pairs));
        let answer = customer_a.get(&path).await;
        let what = format!("{pairs:?}");
        assert_eq!((answer.status.as_u16(), answer.code()), (status, code), "{what}: {}", answer.text);
        let message = answer.json["error"]["message"].as_str().unwrap_or_default();
        assert!(!message.is_empty(), "{what}: the error says why");
        assert!(!answer.text.contains("<script>") && !answer.text.contains("DROP"), "{what}: input echoed");
    }
    // Raw, not form-encoded: invalid percent-escapes and UTF-8.
    for query in ["from=%FF%FE", "from=%zz", "from[]=2026-06-01", "from=2026-06-01%00", "&&&=&"] {
        let answer = customer_a.get(&format!("{base}?{query}")).await;
        assert!(answer.status.is_client_error() || answer.status == 200, "{query}: {}", answer.status);
        assert_ne!(answer.status, 500, "{query}");
    }
    // At the edges of what is accepted: the longest range, and the calendar's ends.
    for (from, to) in
        [("2026-03-02", "2026-06-01"), ("9999-12-31", "9999-12-31"), ("0001-01-01", "0001-01-01")]
    {
        let answer = customer_a.get(&format!("{base}?{}", encode(&[("from", from), ("to", to)]))).await;
        assert_eq!(answer.status, 200, "{from}..{to}: {:?}", answer.json);
        assert_eq!(answer.json["totals"]["taps"], 0);
    }
}

/// Days before `as_of`, as dates.
fn days_before(as_of: DateTime<Utc>, n: i64) -> NaiveDate {
    (as_of - Duration::days(n)).date_naive()
}

#[tokio::test]
async fn api_analytics_across_the_ttl_boundary_are_unchanged_by_a_retention_run() {
    let (db, origin, w, customer_a) = api_world().await;
    // The run acts for now (the sessions signed in above stay alive through its clean-up).
    let as_of = Utc::now();
    // Days 94–86 before as_of straddle the 90-day TTL: days up to 90 are summarised by the run.
    for n in 86..=94i64 {
        let day = midnight(days_before(as_of, n));
        for (i, (band, secs, agent, head, device)) in [
            ("A", 10 * 3600, "human", false, "ios"),
            ("A", 10 * 3600 + 4, "human", false, "ios"), // repeat
            ("B", 10 * 3600 + 60, "human", false, "android"),
            ("C", 13 * 3600, "human", false, "other"),
            ("C", 13 * 3600 + 30, "human", false, "other"),
            ("D", 13 * 3600 + 40, "bot", false, "other"),
            ("E", 14 * 3600, "previewer", false, "other"),
            ("A", 14 * 3600 + 5, "human", true, "ios"),
            ("D", 23 * 3600 + 3598, "human", false, "android"),
        ]
        .into_iter()
        .enumerate()
        {
            // Fewer taps on some days, so a shifted day would show.
            if i % 3 == (n % 3) as usize && i > 0 {
                continue;
            }
            let at = (day + Duration::seconds(secs)).to_rfc3339();
            hit(&db, w.event_a, &format!("{band}{}", n % 4), &at, agent, head, device).await;
        }
        hit(&db, w.event_b, "A0", &(day + Duration::hours(10)).to_rfc3339(), "human", false, "ios").await;
    }
    // Inclusive day ranges (days before as_of): across the boundary, up to it, after it, the longest.
    let ranges = [(95, 85), (92, 88), (91, 90), (90, 89), (100, 91), (89, 80), (95, 4)];
    let mut before = Vec::new();
    for &(from, to) in &ranges {
        let (from, to) = (days_before(as_of, from), days_before(as_of, to));
        before.push(api_matches_queries(&customer_a, &db.pool, w.event_a, from, to).await);
    }
    let whole = &before[0]["totals"];
    assert!(whole["taps"].as_i64() > Some(0) && whole["repeats"].as_i64() > Some(0), "{whole}");
    assert!(whole["unique_bands"].as_i64() > Some(0) && whole["bots"].as_i64() > Some(0), "{whole}");

    let keys = system_tests::keys::keyring(&origin.options.audit_keys);
    let outcome = retention::run(
        &db.pool,
        &keys,
        &SystemClock,
        Policy::default(),
        RunOptions { as_of, dry_run: false },
    )
    .await
    .expect("retention run");
    let Outcome::Done { counts, .. } = outcome else { panic!("the run was skipped") };
    assert!(counts["days_summarised"] > 0, "{counts:?}");
    let boundary = midnight(days_before(as_of, 90) + Duration::days(1));
    let raw_left: i64 = sqlx::query_scalar("SELECT count(*) FROM tap_logs WHERE tapped_at < $1")
        .bind(boundary)
        .fetch_one(&db.pool)
        .await
        .expect("count");
    assert_eq!(raw_left, 0, "the expired raw taps are gone: summaries answer for them now");

    for (&(from, to), old) in ranges.iter().zip(&before) {
        let (from, to) = (days_before(as_of, from), days_before(as_of, to));
        let now = api_matches_queries(&customer_a, &db.pool, w.event_a, from, to).await;
        assert_eq!(now["totals"], old["totals"], "totals over {from}..{to} changed across the run");
        assert_eq!(now["hours"], old["hours"], "hours over {from}..{to} changed across the run");
    }
}
