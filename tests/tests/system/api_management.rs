//! The management JSON API from outside: events and schedule windows, bands
//! (keyset pages, search, status filter, all-or-nothing CSV import up to
//! 100 000 rows, updates), users (ADMIN only, invitations by mail), the audit
//! trail (filters, CUSTOMERs confined to their organisation), one stable
//! error shape with no internals, and hostile strings kept as inert data.

use std::collections::BTreeSet;

use crate::auth_support::{Env, Raw, assert_error_shape, assert_no_leak, raw, snapshot};
use chrono::{DateTime, Duration, SecondsFormat, Utc};
use reqwest::Method;
use serde_json::{Value, json};
use system_tests::api::ApiClient;
use system_tests::db::TestDb;
use system_tests::origin::OriginOptions;
use system_tests::smtp::SmtpServer;
use uuid::Uuid;

// ---------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------

/// Sends a request as `client` (its cookie, CSRF token and our `Origin`) with a raw body.
async fn call(client: &ApiClient, method: Method, path: &str, body: Option<(&str, Vec<u8>)>) -> Raw {
    let mut headers: Vec<(&str, &str)> = vec![("origin", &client.base)];
    if let Some(cookie) = &client.cookie {
        headers.push(("cookie", cookie));
    }
    if let Some(csrf) = &client.csrf {
        headers.push(("x-csrf-token", csrf));
    }
    raw(&client.base, method, path, &headers, body).await
}

/// `POST /api/v1/events/{id}/bands/import` with a CSV body.
async fn import(client: &ApiClient, event: Uuid, csv: impl Into<Vec<u8>>) -> Raw {
    let path = format!("/api/v1/events/{event}/bands/import");
    call(client, Method::POST, &path, Some(("text/csv", csv.into()))).await
}

/// Creates an event in `org`; returns its id.
async fn create_event(client: &ApiClient, org: Uuid, name: &str) -> Uuid {
    let r = client.post("/api/v1/events", json!({ "org_id": org, "name": name })).await;
    assert_eq!(r.status, 201, "create event: {:?}", r.json);
    r.json["id"].as_str().and_then(|s| s.parse().ok()).expect("event id")
}

fn query(pairs: &[(&str, &str)]) -> String {
    let mut s = url::form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs {
        s.append_pair(k, v);
    }
    s.finish()
}

fn ts(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Micros, true)
}

/// A CSV cell, quoted.
fn cell(text: &str) -> String {
    format!("\"{}\"", text.replace('"', "\"\""))
}

fn ids(page: &Value) -> Vec<String> {
    page["bands"]
        .as_array()
        .expect("bands")
        .iter()
        .map(|b| b["band_id"].as_str().expect("id").to_string())
        .collect()
}

async fn band_count(db: &TestDb, event: Uuid) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM bands WHERE event_id = $1")
        .bind(event)
        .fetch_one(&db.pool)
        .await
        .expect("count")
}

/// Every table is still there and still readable.
async fn tables_intact(db: &TestDb) {
    for table in ["organizations", "users", "events", "event_windows", "bands", "sessions", "audit_log"] {
        let exists: bool = sqlx::query_scalar("SELECT to_regclass($1) IS NOT NULL")
            .bind(format!("public.{table}"))
            .fetch_one(&db.pool)
            .await
            .expect("to_regclass");
        assert!(exists, "table {table} is gone");
        let _: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!("SELECT count(*) FROM {table}")))
            .fetch_one(&db.pool)
            .await
            .expect("readable");
    }
    let events: i64 = sqlx::query_scalar("SELECT count(*) FROM events").fetch_one(&db.pool).await.expect("n");
    assert!(events >= 2, "the world's events are still there");
}

/// SQL-injection and XSS strings.
const PAYLOADS: [&str; 4] = [
    "'; DROP TABLE events; --",
    "' OR '1'='1",
    "<img src=x onerror=alert(1)>",
    "\"><script>alert(1)</script>",
];

// ---------------------------------------------------------------------------
// Events and windows
// ---------------------------------------------------------------------------

/// A CUSTOMER creates, reads, lists and updates events of their own organisation; URLs and time zones are validated; another organisation's events are 404 and stay unchanged.
#[tokio::test]
async fn events_are_managed_within_the_callers_organisation() {
    let env = Env::start().await;
    let w = &env.world;
    let alice = env.customer_a().await;
    let created = alice
        .post(
            "/api/v1/events",
            json!({
                "org_id": w.org_a, "name": "Summer Stage", "timezone": "Europe/London",
                "default_url": "https://example.com/summer", "fallback_url": "https://example.com/fallback",
            }),
        )
        .await;
    assert_eq!(created.status, 201, "{:?}", created.json);
    let id = created.json["id"].as_str().expect("id").to_string();
    assert_eq!(created.json["org_id"], w.org_a.to_string());
    assert_eq!(created.json["timezone"], "Europe/London");
    assert_eq!(created.json["status"], "active");
    let read = alice.get(&format!("/api/v1/events/{id}")).await;
    assert_eq!(read.status, 200);
    assert_eq!(read.json["name"], "Summer Stage");
    let listed = alice.get("/api/v1/events").await;
    let listed_ids: Vec<&str> =
        listed.json.as_array().expect("list").iter().filter_map(|e| e["id"].as_str()).collect();
    assert!(listed_ids.contains(&id.as_str()) && listed_ids.contains(&w.event_a.to_string().as_str()));
    assert!(!listed_ids.contains(&w.event_b.to_string().as_str()), "another org's event is not listed");

    let updated = alice
        .patch(
            &format!("/api/v1/events/{id}"),
            json!({ "name": "Summer Stage II", "status": "frozen", "default_url": "" }),
        )
        .await;
    assert_eq!(updated.status, 200, "{:?}", updated.json);
    assert_eq!(updated.json["name"], "Summer Stage II");
    assert_eq!(updated.json["status"], "frozen");
    assert!(updated.json["default_url"].is_null(), "an empty URL clears it");
    for (what, patch) in [
        ("plain http", json!({ "default_url": "http://example.com/" })),
        ("javascript:", json!({ "fallback_url": "javascript:alert(1)" })),
        ("userinfo", json!({ "default_url": "https://user:pw@example.com/" })),
        ("time zone", json!({ "timezone": "Not A/Zone!" })),
        ("empty name", json!({ "name": "   " })),
        ("name too long", json!({ "name": "x".repeat(201) })),
        (
            "ends before it starts",
            json!({ "starts_at": "2030-01-02T00:00:00Z", "ends_at": "2030-01-01T00:00:00Z" }),
        ),
    ] {
        let r = alice.patch(&format!("/api/v1/events/{id}"), patch).await;
        assert_eq!(r.status, 422, "{what}: {:?}", r.json);
        assert_eq!(r.code(), "invalid", "{what}");
    }
    assert_eq!(
        alice.get(&format!("/api/v1/events/{id}")).await.json["name"],
        "Summer Stage II",
        "refused edits change nothing"
    );

    let foreign = alice.post("/api/v1/events", json!({ "org_id": w.org_b, "name": "Intruder" })).await;
    assert_eq!(foreign.status, 404, "creating in another org: {:?}", foreign.json);
    assert_eq!(alice.get(&format!("/api/v1/events/{}", w.event_b)).await.status, 404);
    let b_before = env.admin().await.get(&format!("/api/v1/events/{}", w.event_b)).await;
    assert_eq!(b_before.status, 200, "an ADMIN sees every organisation");
    assert_eq!(
        alice.patch(&format!("/api/v1/events/{}", w.event_b), json!({ "name": "Hijacked" })).await.status,
        404
    );
    let name_b: String = sqlx::query_scalar("SELECT name FROM events WHERE id = $1")
        .bind(w.event_b)
        .fetch_one(&env.db.pool)
        .await
        .expect("event b");
    assert_eq!(name_b, b_before.json["name"].as_str().expect("name"));
    let audited: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM audit_log WHERE target_id = $1 AND action IN ('event.created', 'event.frozen')",
    )
    .bind(&id)
    .fetch_one(&env.db.pool)
    .await
    .expect("audit");
    assert_eq!(audited, 2, "creation and freeze are audited");
}

/// Windows are added, listed in time order and removed; an overlapping window is a 409 conflict while an adjacent one is fine; other organisations cannot touch them.
#[tokio::test]
async fn windows_are_managed_and_overlaps_are_conflicts() {
    let env = Env::start().await;
    let w = &env.world;
    let alice = env.customer_a().await;
    let bob = env.customer_b().await;
    let event = create_event(&alice, w.org_a, "Windows").await;
    let base = DateTime::from_timestamp(Utc::now().timestamp() + 86_400, 0).expect("time");
    let window = |label: &str, from: i64, to: i64| json!({ "label": label, "url": "https://example.com/w", "starts_at": ts(base + Duration::minutes(from)), "ends_at": ts(base + Duration::minutes(to)) });
    let path = format!("/api/v1/events/{event}/windows");
    let first = alice.post(&path, window("pre-show", 0, 60)).await;
    assert_eq!(first.status, 201, "{:?}", first.json);
    let first_id = first.json["id"].as_str().expect("id").to_string();
    for (what, body) in [
        ("overlapping", window("x", 30, 120)),
        ("inside", window("x", 10, 20)),
        ("covering", window("x", -10, 70)),
    ] {
        let r = alice.post(&path, body).await;
        assert_eq!(r.status, 409, "{what}: {:?}", r.json);
        assert_eq!(r.code(), "conflict");
    }
    let adjacent = alice.post(&path, window("live", 60, 120)).await;
    assert_eq!(adjacent.status, 201, "a window starting where another ends: {:?}", adjacent.json);
    let earlier = alice.post(&path, window("doors", -60, -30)).await;
    assert_eq!(earlier.status, 201);
    for (what, body) in [
        ("ends before it starts", window("x", 300, 200)),
        ("empty", window("x", 300, 300)),
        (
            "plain http",
            json!({ "url": "http://example.com", "starts_at": ts(base + Duration::hours(9)), "ends_at": ts(base + Duration::hours(10)) }),
        ),
        ("label too long", window(&"l".repeat(101), 400, 500)),
    ] {
        let r = alice.post(&path, body).await;
        assert_eq!(r.status, 422, "{what}: {:?}", r.json);
    }
    let list = alice.get(&path).await;
    let labels: Vec<&str> =
        list.json.as_array().expect("list").iter().filter_map(|x| x["label"].as_str()).collect();
    assert_eq!(labels, ["doors", "pre-show", "live"], "in time order");

    assert_eq!(bob.get(&path).await.status, 404, "another org cannot list");
    assert_eq!(bob.post(&path, window("x", 600, 700)).await.status, 404, "nor add");
    assert_eq!(bob.delete(&format!("{path}/{first_id}")).await.status, 404, "nor remove");
    let wrong_event = format!("/api/v1/events/{}/windows/{first_id}", w.event_a);
    assert_eq!(alice.delete(&wrong_event).await.status, 404, "a window under another event");

    assert_eq!(alice.delete(&format!("{path}/{first_id}")).await.status, 204);
    assert_eq!(alice.delete(&format!("{path}/{first_id}")).await.status, 404, "already gone");
    assert_eq!(alice.get(&path).await.json.as_array().expect("list").len(), 2);
    let refill = alice.post(&path, window("pre-show again", 0, 60)).await;
    assert_eq!(refill.status, 201, "the freed slot can be used: {:?}", refill.json);
}

// ---------------------------------------------------------------------------
// Bands
// ---------------------------------------------------------------------------

fn paging_label(i: usize) -> String {
    match i {
        1 => "50%off".into(),
        2 => "50 percent off".into(),
        3 => "snake_case".into(),
        4 => "snakeXcase".into(),
        5 => "back\\slash".into(),
        6 => "backXslash".into(),
        _ => ["VIP", "Gate North", "gate south"][i % 3].into(),
    }
}

fn paging_status(i: usize) -> &'static str {
    if i.is_multiple_of(10) {
        "lost"
    } else if i.is_multiple_of(7) {
        "disabled"
    } else {
        "active"
    }
}

/// 250 bands of a fresh event, imported through the API.
async fn paging_event(env: &Env, alice: &ApiClient) -> Uuid {
    let event = create_event(alice, env.world.org_a, "Paging").await;
    let mut csv = String::from("band_id,label,status\n");
    for i in 1..=250 {
        csv.push_str(&format!("PG{i:06},{},{}\n", cell(&paging_label(i)), paging_status(i)));
    }
    let r = import(alice, event, csv).await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.json, json!({ "result": "imported", "count": 250 }));
    event
}

/// Band lists come in keyset pages by id (`limit`, `after`, `next`, `total`): no gaps, no repeats, stable while bands are added.
#[tokio::test]
async fn bands_are_listed_in_stable_keyset_pages() {
    let env = Env::start().await;
    let alice = env.customer_a().await;
    let event = paging_event(&env, &alice).await;
    let base = format!("/api/v1/events/{event}/bands");
    let expected: Vec<String> = (1..=250).map(|i| format!("PG{i:06}")).collect();

    let mut seen = Vec::new();
    let mut after: Option<String> = None;
    let mut sizes = Vec::new();
    let mut second_page = Vec::new();
    loop {
        let q = match &after {
            Some(a) => format!("{base}?limit=100&after={a}"),
            None => format!("{base}?limit=100"),
        };
        let page = alice.get(&q).await;
        assert_eq!(page.status, 200, "{:?}", page.json);
        assert_eq!(page.json["total"], 250, "total counts every match, not the page");
        let page_ids = ids(&page.json);
        sizes.push(page_ids.len());
        if sizes.len() == 2 {
            second_page = page_ids.clone();
        }
        seen.extend(page_ids.clone());
        match page.json["next"].as_str() {
            Some(next) => {
                assert_eq!(
                    Some(next),
                    page_ids.last().map(String::as_str),
                    "next is the last id of the page"
                );
                after = Some(next.to_string());
            }
            None => {
                assert!(page.json["next"].is_null(), "no next on the last page");
                break;
            }
        }
    }
    assert_eq!(sizes, [100, 100, 50]);
    assert_eq!(seen, expected, "every band once, in id order");

    let default = alice.get(&base).await;
    assert_eq!(ids(&default.json).len(), 100, "default page size is 100");
    let lower = alice.get(&format!("{base}?limit=100&after=pg000100")).await;
    assert_eq!(ids(&lower.json), second_page, "after is case-insensitive like band ids");
    assert_eq!(ids(&alice.get(&format!("{base}?limit=0")).await.json).len(), 1, "limit is at least 1");
    assert_eq!(ids(&alice.get(&format!("{base}?limit=-5")).await.json).len(), 1);

    // Bands added before and after the cursor do not shift the next page.
    let r = import(&alice, event, "band_id\nAA000001\nPG000000\nPG000150X\n").await;
    assert_eq!(r.status, 201, "{}", r.text);
    let again = alice.get(&format!("{base}?limit=100&after=PG000100")).await;
    let again_ids = ids(&again.json);
    assert_eq!(again.json["total"], 253);
    let mut want = second_page.clone();
    let at = want.iter().position(|id| id == "PG000150").expect("PG000150 on page 2") + 1;
    want.insert(at, "PG000150X".to_string());
    want.truncate(100);
    assert_eq!(
        again_ids, want,
        "bands before the cursor do not shift the page; one after it appears in order"
    );

    let bob = env.customer_b().await;
    assert_eq!(bob.get(&base).await.status, 404, "another org cannot list");
}

/// `q` matches ids and labels case-insensitively as a literal substring: `%`, `_` and `\` are not wildcards.
#[tokio::test]
async fn band_search_is_case_insensitive_and_literal() {
    let env = Env::start().await;
    let alice = env.customer_a().await;
    let event = paging_event(&env, &alice).await;
    let model = |q: &str| -> Vec<String> {
        let q = q.trim().to_lowercase();
        (1..=250)
            .filter(|i| {
                let id = format!("PG{i:06}").to_lowercase();
                id.contains(&q) || paging_label(*i).to_lowercase().contains(&q)
            })
            .map(|i| format!("PG{i:06}"))
            .collect()
    };
    for q in [
        "gate",
        "GATE",
        "GaTe NoRtH",
        "south",
        "pg00001",
        "PG0002",
        "%",
        "50%off",
        "50%",
        "%off",
        "_",
        "snake_case",
        "e_c",
        "\\",
        "back\\slash",
        "k\\s",
        "x",
        "vip",
        "%%",
        "__",
        "nothing-like-this",
        "'",
    ] {
        let r = alice.get(&format!("/api/v1/events/{event}/bands?limit=500&{}", query(&[("q", q)]))).await;
        assert_eq!(r.status, 200, "q={q}: {:?}", r.json);
        let want = model(q);
        assert_eq!(r.json["total"], want.len(), "total for q={q:?}");
        assert_eq!(ids(&r.json), want, "matches for q={q:?}");
    }
    assert_eq!(model("50%off").len(), 1, "the model treats % literally too");
    assert_eq!(model("_").len(), 1);
    let blank = alice.get(&format!("/api/v1/events/{event}/bands?limit=500&q=%20%20")).await;
    assert_eq!(blank.json["total"], 250, "a blank search is no filter");
}

/// `status` filters by routing status, alone and with a search, with a matching total.
#[tokio::test]
async fn bands_filter_by_status() {
    let env = Env::start().await;
    let alice = env.customer_a().await;
    let event = paging_event(&env, &alice).await;
    for status in ["active", "disabled", "lost"] {
        let want: Vec<String> =
            (1..=250).filter(|i| paging_status(*i) == status).map(|i| format!("PG{i:06}")).collect();
        let r = alice.get(&format!("/api/v1/events/{event}/bands?limit=500&status={status}")).await;
        assert_eq!(r.status, 200);
        assert_eq!(r.json["total"], want.len(), "{status}");
        assert_eq!(ids(&r.json), want, "{status}");
        assert!(r.json["bands"].as_array().expect("bands").iter().all(|b| b["status"] == status));
    }
    let want: Vec<String> = (1..=250)
        .filter(|i| paging_status(*i) == "lost" && paging_label(*i).to_lowercase().contains("gate"))
        .map(|i| format!("PG{i:06}"))
        .collect();
    let r = alice.get(&format!("/api/v1/events/{event}/bands?limit=500&status=lost&q=GATE")).await;
    assert_eq!(r.json["total"], want.len());
    assert_eq!(ids(&r.json), want);
}

/// A CSV import with bad rows is refused (422) with one error per bad line, and nothing is stored; file-level problems and other organisations' events are refused too.
#[tokio::test]
async fn a_csv_import_with_bad_rows_reports_each_line_and_stores_nothing() {
    let env = Env::start().await;
    let w = &env.world;
    let alice = env.customer_a().await;
    let event = create_event(&alice, w.org_a, "Import").await;
    let before = env.snapshot().await;
    let csv = "band_id,label,status,override_url\n\
               GOOD0001,ok,,\n\
               ab,too short,,\n\
               GOOD0002,x,broken,\n\
               GOOD0003,x,,http://plain.example\n\
               GOOD0001,dup,,\n\
               WORLDB01,taken elsewhere,,\n\
               GOOD0004,fine,lost,https://example.com/ok\n";
    let r = import(&alice, event, csv).await;
    assert_eq!(r.status, 422, "{}", r.text);
    assert_eq!(r.json["result"], "rejected");
    let errors = r.json["errors"].as_array().expect("errors");
    let lines: Vec<u64> = errors.iter().filter_map(|e| e["line"].as_u64()).collect();
    assert_eq!(lines, [3, 4, 5, 6, 7], "{errors:?}");
    for (e, needle) in
        errors.iter().zip(["invalid band id", "status", "https", "duplicate of line 2", "already registered"])
    {
        assert!(e["reason"].as_str().is_some_and(|r| r.contains(needle)), "line {}: {e}", e["line"]);
    }
    assert_eq!(errors[0]["band_id"], "ab");
    assert_no_leak("import errors", &r.text);
    assert_eq!(band_count(&env.db, event).await, 0, "nothing stored");
    assert_eq!(alice.get("/api/v1/bands/GOOD0001").await.status, 404);
    assert_eq!(env.snapshot().await, before, "no band, audit or outbox change");

    for (what, body) in [
        ("empty file", ""),
        ("no header", "GOOD0001\n"),
        ("unknown column", "band_id,colour\nGOOD0001,red\n"),
        ("header only", "band_id\n"),
    ] {
        let r = import(&alice, event, body).await;
        assert_eq!(r.status, 422, "{what}: {}", r.text);
        assert_eq!(r.json["result"], "rejected", "{what}");
        assert!(r.json["errors"][0]["reason"].is_string(), "{what}");
    }
    let foreign = import(&alice, w.event_b, "band_id\nSNEAK001\n").await;
    assert_eq!(foreign.status, 404, "another org's event: {}", foreign.text);
    assert_eq!(env.snapshot().await, before);

    let ok = import(&alice, event, "band_id,label\nGOOD0001,ok\n").await;
    assert_eq!(ok.status, 201, "a clean file: {}", ok.text);
    assert_eq!(ok.json["count"], 1);
}

/// A 100 000-band import is stored in one go and paged at most 500 at a time; 100 001 rows are refused with nothing stored.
#[tokio::test]
async fn a_hundred_thousand_band_import_works_and_one_more_row_is_refused() {
    let env = Env::start().await;
    let alice = env.customer_a().await;
    let event = create_event(&alice, env.world.org_a, "Big").await;
    let mut too_many = String::from("band_id\n");
    for i in 1..=100_001 {
        too_many.push_str(&format!("BX{i:06}\n"));
    }
    let r = import(&alice, event, too_many).await;
    assert_eq!(r.status, 422, "{}", &r.text[..r.text.len().min(500)]);
    assert_eq!(band_count(&env.db, event).await, 0, "nothing stored");

    let mut csv = String::from("band_id,label\n");
    for i in 1..=100_000 {
        csv.push_str(&format!("BK{i:06},gate {}\n", i % 40));
    }
    let started = std::time::Instant::now();
    let r = import(&alice, event, csv).await;
    assert_eq!(r.status, 201, "{}", &r.text[..r.text.len().min(500)]);
    assert_eq!(r.json["count"], 100_000);
    assert!(started.elapsed() < std::time::Duration::from_secs(60), "took {:?}", started.elapsed());
    assert_eq!(band_count(&env.db, event).await, 100_000);
    let page = alice.get(&format!("/api/v1/events/{event}/bands?limit=100000")).await;
    assert_eq!(page.json["total"], 100_000);
    assert_eq!(ids(&page.json).len(), 500, "pages are capped at 500");
    assert_eq!(page.json["next"], "BK000500");
    assert_eq!(alice.get("/api/v1/bands/bk100000").await.status, 200);
}

/// A band's status, label and override URL are updated (URL validated and normalised, `""` clears it); other organisations and unknown ids are 404.
#[tokio::test]
async fn band_updates_validate_status_and_override_url() {
    let env = Env::start().await;
    let alice = env.customer_a().await;
    let bob = env.customer_b().await;
    let path = "/api/v1/bands/WORLDA01";
    let r = alice.patch(path, json!({ "status": "lost" })).await;
    assert_eq!(r.status, 200, "{:?}", r.json);
    assert_eq!(r.json["status"], "lost");
    assert_eq!(alice.get(path).await.json["status"], "lost");
    let r = alice
        .patch(
            "/api/v1/bands/worlda01",
            json!({ "override_url": " https://Example.com/VIP ", "label": "Gate 7" }),
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", r.json);
    assert_eq!(r.json["override_url"], "https://example.com/VIP");
    assert_eq!(r.json["label"], "Gate 7");
    assert_eq!(r.json["status"], "lost", "absent fields stay");
    for bad in [
        "http://example.com/",
        "javascript:alert(1)",
        "data:text/html,<script>alert(1)</script>",
        "https://user:pw@example.com/",
        "ftp://example.com/",
        "//example.com/x",
        "not a url",
        &format!("https://example.com/{}", "a".repeat(3000)),
    ] {
        let r = alice.patch(path, json!({ "override_url": bad })).await;
        assert_eq!(r.status, 422, "{bad}: {:?}", r.json);
        assert_eq!(r.code(), "invalid");
    }
    let bogus = alice.patch(path, json!({ "status": "exploded" })).await;
    assert!(matches!(bogus.status.as_u16(), 400 | 422), "{:?}", bogus.json);
    let now = alice.get(path).await.json;
    assert_eq!(
        (now["status"].as_str(), now["override_url"].as_str()),
        (Some("lost"), Some("https://example.com/VIP"))
    );
    let cleared = alice.patch(path, json!({ "override_url": "", "status": "active" })).await;
    assert!(cleared.json["override_url"].is_null());
    assert_eq!(cleared.json["status"], "active");

    assert_eq!(bob.patch(path, json!({ "status": "disabled" })).await.status, 404, "another org's band");
    assert_eq!(bob.get(path).await.status, 404);
    assert_eq!(alice.get(path).await.json["status"], "active", "unchanged by the other org");
    assert_eq!(alice.patch("/api/v1/bands/NOPE0000", json!({ "status": "lost" })).await.status, 404);
    assert_eq!(alice.patch("/api/v1/bands/x", json!({ "status": "lost" })).await.status, 404);
    let audited: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM audit_log WHERE action = 'band.updated' AND target_id = 'WORLDA01'",
    )
    .fetch_one(&env.db.pool)
    .await
    .expect("audit");
    assert_eq!(audited, 3, "each accepted update is audited");
}

// ---------------------------------------------------------------------------
// Users
// ---------------------------------------------------------------------------

/// The reset token in an invitation or reset mail.
fn token_in(mail: &str, origin: &str) -> String {
    let marker = format!("{origin}/reset-password?token=");
    let start =
        mail.find(&marker).unwrap_or_else(|| panic!("no reset link to {origin} in: {mail}")) + marker.len();
    mail[start..].chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_').collect()
}

/// An ADMIN invites a user: the account exists at once, an invitation with a working reset link arrives by SMTP, and the invitee signs in with the password they chose.
#[tokio::test]
async fn an_admin_invites_a_user_who_sets_a_password_from_the_mailed_link() {
    let smtp = SmtpServer::start().await;
    let env =
        Env::start_with(OriginOptions { smtp_url: Some(smtp.url.clone()), ..OriginOptions::default() }, None)
            .await;
    let w = &env.world;
    let admin = env.admin().await;
    let email = "new.person@example.com";
    let r = admin
        .post(
            "/api/v1/users",
            json!({ "email": email, "name": "New Person", "role": "CUSTOMER", "org_id": w.org_a }),
        )
        .await;
    assert_eq!(r.status, 201, "{:?}", r.json);
    assert_eq!(r.json["email"], email);
    assert_eq!(r.json["role"], "CUSTOMER");
    assert_eq!(r.json["org_id"], w.org_a.to_string());
    let keys: Vec<&String> = r.json.as_object().expect("user").keys().collect();
    assert!(!keys.iter().any(|k| k.contains("password") || k.contains("hash")), "{keys:?}");
    let id = r.json["id"].as_str().expect("id").to_string();

    let mail = smtp.wait_for(email, 1).await;
    let token = token_in(&mail.text(), &env.origin.url);
    assert!(token.len() >= 40, "a 256-bit token: {token}");
    let mut invitee = env.anonymous();
    let chosen = "quartz lantern drifts over seven quiet harbours";
    let done = invitee
        .post("/api/v1/auth/password-reset/complete", json!({ "token": token, "password": chosen }))
        .await;
    assert_eq!(done.status, 204, "{:?}", done.json);
    assert_eq!(invitee.login(email, chosen).await.status, 200);
    let me = invitee.get("/api/v1/me").await;
    assert_eq!(me.json["user"]["org_id"], w.org_a.to_string());
    assert_eq!(me.json["user"]["role"], "CUSTOMER");

    let dup = admin.post("/api/v1/users", json!({ "email": "NEW.Person@Example.com", "name": "Again", "role": "CUSTOMER", "org_id": w.org_a })).await;
    assert_eq!(dup.status, 409, "emails are unique case-insensitively: {:?}", dup.json);
    for (what, body, status) in [
        ("CUSTOMER without org", json!({ "email": "a1@example.com", "name": "A", "role": "CUSTOMER" }), 422),
        (
            "bad email",
            json!({ "email": "not-an-email", "name": "A", "role": "CUSTOMER", "org_id": w.org_a }),
            422,
        ),
        (
            "unknown org",
            json!({ "email": "a2@example.com", "name": "A", "role": "CUSTOMER", "org_id": Uuid::new_v4() }),
            404,
        ),
        (
            "unknown role",
            json!({ "email": "a3@example.com", "name": "A", "role": "ROOT", "org_id": w.org_a }),
            400,
        ),
    ] {
        let r = admin.post("/api/v1/users", body).await;
        assert_eq!(r.status, status, "{what}: {:?}", r.json);
    }
    assert_eq!(smtp.mails_to(email).len(), 1, "a refused invitation sends nothing");
    let list = admin.get("/api/v1/users").await;
    let emails: Vec<&str> =
        list.json.as_array().expect("users").iter().filter_map(|u| u["email"].as_str()).collect();
    assert!(emails.contains(&email));
    assert!(!emails.iter().any(|e| e.starts_with("a1@") || e.starts_with("a2@") || e.starts_with("a3@")));
    assert_eq!(admin.get(&format!("/api/v1/users/{id}")).await.json["email"], email);
}

/// An ADMIN changes roles, names and organisations, deactivates and reactivates users (never themselves), and each change is audited.
#[tokio::test]
async fn an_admin_changes_roles_and_deactivates_and_reactivates_users() {
    let env = Env::start().await;
    let w = &env.world;
    let admin = env.admin().await;
    let bob = w.customer_b.0;
    let r = admin.patch(&format!("/api/v1/users/{bob}"), json!({ "role": "ADMIN" })).await;
    assert_eq!(r.status, 200, "{:?}", r.json);
    assert_eq!(admin.get(&format!("/api/v1/users/{bob}")).await.json["role"], "ADMIN");
    let r =
        admin.patch(&format!("/api/v1/users/{bob}"), json!({ "role": "CUSTOMER", "name": "Robert" })).await;
    assert_eq!((r.json["role"].as_str(), r.json["name"].as_str()), (Some("CUSTOMER"), Some("Robert")));
    assert_eq!(r.json["org_id"], w.org_b.to_string(), "organisation kept");
    let own = admin
        .patch(&format!("/api/v1/users/{}", w.admin.0), json!({ "role": "CUSTOMER", "org_id": w.org_a }))
        .await;
    assert_eq!(own.status, 422, "an ADMIN cannot change their own role: {:?}", own.json);

    let off = admin.post(&format!("/api/v1/users/{bob}/deactivate"), Value::Null).await;
    assert_eq!(off.status, 200);
    assert!(off.json["deactivated_at"].is_string());
    let on = admin.post(&format!("/api/v1/users/{bob}/reactivate"), Value::Null).await;
    assert_eq!(on.status, 200);
    assert!(on.json["deactivated_at"].is_null());
    let me = admin.post(&format!("/api/v1/users/{}/deactivate", w.admin.0), Value::Null).await;
    assert_eq!(me.status, 422, "an ADMIN cannot deactivate themselves: {:?}", me.json);
    for path in
        [format!("/api/v1/users/{}", Uuid::new_v4()), format!("/api/v1/users/{}/deactivate", Uuid::new_v4())]
    {
        let r = if path.ends_with("deactivate") {
            admin.post(&path, Value::Null).await
        } else {
            admin.patch(&path, json!({ "name": "Nobody" })).await
        };
        assert_eq!(r.status, 404, "{path}");
    }
    let actions: Vec<String> =
        sqlx::query_scalar("SELECT action FROM audit_log WHERE target_id = $1 ORDER BY seq")
            .bind(bob.to_string())
            .fetch_all(&env.db.pool)
            .await
            .expect("audit");
    for action in ["user.role_changed", "user.deactivated", "user.reactivated"] {
        assert!(actions.iter().any(|a| a == action), "{action} audited: {actions:?}");
    }
}

/// A CUSTOMER gets 403 from every users route (and from creating organisations), and nothing changes.
#[tokio::test]
async fn customers_cannot_use_the_users_api() {
    let env = Env::start().await;
    let w = &env.world;
    let alice = env.customer_a().await;
    let before = env.snapshot().await;
    let target = w.customer_a.0;
    let attempts = [
        (Method::GET, "/api/v1/users".to_string(), Value::Null),
        (
            Method::POST,
            "/api/v1/users".into(),
            json!({ "email": "x@example.com", "name": "X", "role": "ADMIN" }),
        ),
        (Method::GET, format!("/api/v1/users/{target}"), Value::Null),
        (Method::PATCH, format!("/api/v1/users/{target}"), json!({ "role": "ADMIN" })),
        (Method::POST, format!("/api/v1/users/{}/deactivate", w.customer_b.0), Value::Null),
        (Method::POST, format!("/api/v1/users/{}/reactivate", w.deactivated.0), Value::Null),
        (Method::POST, "/api/v1/orgs".into(), json!({ "name": "Mine" })),
    ];
    for (method, path, body) in attempts {
        let r = alice.send(method.clone(), &path, body).await;
        assert_eq!(r.status, 403, "{method} {path}: {:?}", r.json);
        assert_eq!(r.code(), "forbidden");
    }
    assert_eq!(env.snapshot().await, before, "nothing changed");
}

// ---------------------------------------------------------------------------
// Audit
// ---------------------------------------------------------------------------

fn entries(answer: &Value) -> &Vec<Value> {
    answer.as_array().expect("audit entries")
}

/// The audit API filters by action (exact, or a `prefix.` with LIKE characters literal), actor, target, time range, `before` and `limit`, newest first.
#[tokio::test]
async fn audit_entries_filter_by_action_actor_target_time_and_page() {
    let env = Env::start().await;
    let w = &env.world;
    let admin = env.admin().await;
    let alice = env.customer_a().await;
    let bob = env.customer_b().await;
    let t0 = Utc::now();
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    for name in ["A1", "A2"] {
        assert_eq!(
            alice.patch(&format!("/api/v1/events/{}", w.event_a), json!({ "name": name })).await.status,
            200
        );
    }
    assert_eq!(
        bob.patch(&format!("/api/v1/events/{}", w.event_b), json!({ "name": "B1" })).await.status,
        200
    );
    assert_eq!(alice.patch("/api/v1/bands/WORLDA01", json!({ "label": "L" })).await.status, 200);
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    let t1 = Utc::now();
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    assert_eq!(
        alice.patch(&format!("/api/v1/events/{}", w.event_a), json!({ "name": "A3" })).await.status,
        200
    );

    let get = |q: String| {
        let admin = admin.clone();
        async move {
            let r = admin.get(&format!("/api/v1/audit?{q}")).await;
            assert_eq!(r.status, 200, "{q}: {:?}", r.json);
            r.json
        }
    };
    let all = get("limit=500".into()).await;
    let seqs: Vec<i64> = entries(&all).iter().filter_map(|e| e["seq"].as_i64()).collect();
    assert!(seqs.windows(2).all(|p| p[0] > p[1]), "newest first");

    let updated = get(query(&[("action", "event.updated")])).await;
    assert_eq!(entries(&updated).len(), 4);
    assert!(entries(&updated).iter().all(|e| e["action"] == "event.updated"));
    let auth = get(query(&[("action", "auth."), ("limit", "500")])).await;
    assert!(entries(&auth).iter().all(|e| e["action"].as_str().is_some_and(|a| a.starts_with("auth."))));
    let logins = entries(&auth).iter().filter(|e| e["action"] == "auth.login_succeeded").count();
    assert!(logins >= 3, "three sign-ins: {logins}");
    for literal in ["auth", "%.", "_uth.", "auth%", "a%."] {
        let r = get(query(&[("action", literal)])).await;
        assert!(entries(&r).is_empty(), "action={literal:?} is exact or a literal prefix: {r}");
    }
    let on_event =
        get(query(&[("target_type", "event"), ("target_id", &w.event_a.to_string()), ("limit", "500")]))
            .await;
    assert!(entries(&on_event).len() >= 3);
    assert!(
        entries(&on_event)
            .iter()
            .all(|e| e["target_type"] == "event" && e["target_id"] == w.event_a.to_string())
    );
    let by_alice = get(query(&[("actor_id", &w.customer_a.0.to_string()), ("limit", "500")])).await;
    assert!(entries(&by_alice).iter().all(|e| e["actor_id"] == w.customer_a.0.to_string()));
    assert!(entries(&by_alice).iter().any(|e| e["action"] == "band.updated"));
    let window = get(query(&[("action", "event.updated"), ("from", &ts(t0)), ("to", &ts(t1))])).await;
    let names: BTreeSet<&str> = entries(&window).iter().filter_map(|e| e["after"]["name"].as_str()).collect();
    assert_eq!(names, BTreeSet::from(["A1", "A2", "B1"]), "from is inclusive, to exclusive: {window}");
    let since = get(query(&[("action", "event.updated"), ("from", &ts(t1))])).await;
    assert_eq!(entries(&since).len(), 1);
    assert_eq!(entries(&since)[0]["after"]["name"], "A3");

    let top = seqs[0];
    let two = get("limit=2".into()).await;
    assert_eq!(entries(&two).iter().filter_map(|e| e["seq"].as_i64()).collect::<Vec<_>>(), seqs[..2]);
    let before = get(format!("before={top}&limit=500")).await;
    assert!(entries(&before).iter().all(|e| e["seq"].as_i64().is_some_and(|s| s < top)));
    assert_eq!(entries(&before).len(), seqs.len() - 1);
    assert_eq!(entries(&get("limit=0".into()).await).len(), 1, "limit is at least 1");
    assert!(entries(&get("limit=100000".into()).await).len() <= 500);
}

/// A CUSTOMER sees only their own organisation's audit entries, whatever the filter, never another organisation's or platform-level ones.
#[tokio::test]
async fn a_customer_sees_only_their_organisations_audit_entries() {
    let env = Env::start().await;
    let w = &env.world;
    let admin = env.admin().await;
    let alice = env.customer_a().await;
    let bob = env.customer_b().await;
    assert_eq!(
        alice.patch(&format!("/api/v1/events/{}", w.event_a), json!({ "name": "A!" })).await.status,
        200
    );
    assert_eq!(
        bob.patch(&format!("/api/v1/events/{}", w.event_b), json!({ "name": "B!" })).await.status,
        200
    );
    assert_eq!(admin.post("/api/v1/orgs", json!({ "name": "Org C" })).await.status, 201);

    let everything = admin.get("/api/v1/audit?limit=500").await.json;
    let orgs: BTreeSet<String> = entries(&everything).iter().map(|e| e["org_id"].to_string()).collect();
    assert!(orgs.contains(&format!("\"{}\"", w.org_b)), "the ADMIN sees org B's entries");
    for q in [
        "limit=500".to_string(),
        query(&[("action", "auth.")]),
        query(&[("action", "event.updated")]),
        query(&[("target_type", "event"), ("target_id", &w.event_b.to_string())]),
        query(&[("actor_id", &w.customer_b.0.to_string())]),
        query(&[("actor_id", &w.admin.0.to_string())]),
        query(&[("target_type", "org")]),
        format!("before={}", i64::MAX),
    ] {
        let r = alice.get(&format!("/api/v1/audit?{q}")).await;
        assert_eq!(r.status, 200, "{q}");
        for e in entries(&r.json) {
            assert_eq!(e["org_id"], w.org_a.to_string(), "{q}: a CUSTOMER of A saw {e}");
        }
    }
    let own = alice.get(&format!("/api/v1/audit?{}", query(&[("action", "event.updated")]))).await;
    assert_eq!(entries(&own.json).len(), 1, "their own organisation's entry is visible");
    let foreign =
        alice.get(&format!("/api/v1/audit?{}", query(&[("target_id", &w.event_b.to_string())]))).await;
    assert!(entries(&foreign.json).is_empty());
    let bob_view = bob.get("/api/v1/audit?limit=500").await;
    assert!(entries(&bob_view.json).iter().all(|e| e["org_id"] == w.org_b.to_string()));
    assert!(entries(&bob_view.json).iter().any(|e| e["action"] == "event.updated"));
}

// ---------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------

/// What was sent, by whom, and the status and code expected.
type ErrorCase<'a> = (&'a str, &'a ApiClient, Method, String, Option<(&'a str, Vec<u8>)>, u16, &'a str);

/// Malformed JSON (400), a wrong content type, unknown routes (404), wrong methods (405), missing sessions (401) and refusals (403) all answer `{error:{code,message}}` in JSON, with no internals.
#[tokio::test]
async fn errors_have_one_stable_shape() {
    let env = Env::start().await;
    let alice = env.customer_a().await;
    let anon = env.anonymous();
    let event = format!("/api/v1/events/{}", env.world.event_a);
    let json_body = |s: &str| Some(("application/json", s.as_bytes().to_vec()));

    let cases: Vec<ErrorCase> = vec![
        (
            "malformed JSON",
            &alice,
            Method::POST,
            "/api/v1/events".into(),
            json_body("{not json"),
            400,
            "malformed",
        ),
        (
            "truncated JSON",
            &alice,
            Method::PATCH,
            event.clone(),
            json_body("{\"name\": \"x"),
            400,
            "malformed",
        ),
        (
            "JSON of the wrong type",
            &alice,
            Method::PATCH,
            event.clone(),
            json_body("[1,2]"),
            400,
            "malformed",
        ),
        (
            "wrong field type",
            &alice,
            Method::PATCH,
            event.clone(),
            json_body("{\"name\": 5}"),
            400,
            "malformed",
        ),
        (
            "wrong content type",
            &alice,
            Method::PATCH,
            event.clone(),
            Some(("text/plain", b"{\"name\":\"x\"}".to_vec())),
            400,
            "unsupported_media_type",
        ),
        (
            "form instead of JSON",
            &alice,
            Method::PATCH,
            event.clone(),
            Some(("application/x-www-form-urlencoded", b"name=x".to_vec())),
            400,
            "unsupported_media_type",
        ),
        ("no body", &alice, Method::PATCH, event.clone(), None, 400, "unsupported_media_type"),
        ("unknown API route", &alice, Method::GET, "/api/v1/nope".into(), None, 404, "not_found"),
        ("unknown sub-route", &alice, Method::GET, format!("{event}/nope"), None, 404, "not_found"),
        ("unknown route, anonymous", &anon, Method::GET, "/api/v1/nope".into(), None, 404, "not_found"),
        ("wrong method", &alice, Method::DELETE, "/api/v1/events".into(), None, 405, "method_not_allowed"),
        (
            "PUT instead of PATCH",
            &alice,
            Method::PUT,
            event.clone(),
            json_body("{}"),
            405,
            "method_not_allowed",
        ),
        ("POST to a read", &alice, Method::POST, "/api/v1/me".into(), None, 405, "method_not_allowed"),
        (
            "wrong method, anonymous",
            &anon,
            Method::DELETE,
            "/api/v1/events".into(),
            None,
            405,
            "method_not_allowed",
        ),
        ("no session", &anon, Method::GET, "/api/v1/events".into(), None, 401, "unauthorized"),
        ("CUSTOMER on an ADMIN route", &alice, Method::GET, "/api/v1/users".into(), None, 403, "forbidden"),
        (
            "bad credentials",
            &anon,
            Method::POST,
            "/api/v1/auth/login".into(),
            json_body("{\"email\":\"nobody@example.com\",\"password\":\"x\"}"),
            401,
            "invalid_credentials",
        ),
    ];
    for (what, client, method, path, body, status, code) in cases {
        let r = call(client, method, &path, body).await;
        assert_eq!(r.status, status, "{what}: {}", r.text);
        assert_error_shape(what, &r);
        assert_eq!(r.code(), code, "{what}: {}", r.text);
    }
    let unchanged: String = sqlx::query_scalar("SELECT name FROM events WHERE id = $1")
        .bind(env.world.event_a)
        .fetch_one(&env.db.pool)
        .await
        .expect("name");
    assert_eq!(unchanged, "Fest", "no refused request changed the event");
}

/// Outside `/api/` a wrong address is a browser's mistake: it gets the dashboard's HTML 404 page, which echoes nothing it was sent.
#[tokio::test]
async fn unknown_page_paths_get_an_html_not_found_page() {
    let env = Env::start().await;
    let anon = ApiClient::new(&env.origin.url);
    for path in ["/wp-login.php", "/%3Cscript%3Ealert(1)%3C%2Fscript%3E"] {
        let r = call(&anon, Method::GET, path, None).await;
        assert_eq!(r.status, 404, "{path}: {}", r.text);
        let content_type = r.headers.get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("");
        assert!(content_type.starts_with("text/html"), "{path}: {content_type:?}");
        assert!(!r.text.contains("<script>alert"), "{path} is not reflected: {}", r.text);
        assert!(r.headers.contains_key("content-security-policy"), "{path}: CSP on error pages too");
    }
}

/// Malformed path ids, query parameters and oversized bodies also answer the stable JSON error shape (not a framework's plain-text rejection).
#[tokio::test]
async fn malformed_ids_query_parameters_and_oversized_bodies_get_the_stable_error_shape() {
    let env = Env::start().await;
    let alice = env.customer_a().await;
    let bands = format!("/api/v1/events/{}/bands", env.world.event_a);
    let cases = [
        ("event id that is not a UUID", Method::GET, "/api/v1/events/not-a-uuid".to_string()),
        ("session id that is not a UUID", Method::DELETE, "/api/v1/sessions/42".into()),
        ("band status filter", Method::GET, format!("{bands}?status=exploded")),
        ("band page size", Method::GET, format!("{bands}?limit=many")),
        ("event page size", Method::GET, "/api/v1/events?limit=abc".into()),
        ("audit time", Method::GET, "/api/v1/audit?from=yesterday".into()),
        ("audit actor", Method::GET, "/api/v1/audit?actor_id=someone".into()),
        ("audit cursor", Method::GET, "/api/v1/audit?before=latest".into()),
        // Postgres text cannot hold NUL: the caller's input, never a 500.
        ("band search with NUL", Method::GET, format!("{bands}?q=x%00y")),
        ("audit action with NUL", Method::GET, "/api/v1/audit?action=x%00y".into()),
        ("audit target with NUL", Method::GET, "/api/v1/audit?target_id=x%00y".into()),
    ];
    let mut failures = Vec::new();
    for (what, method, path) in cases {
        let r = call(&alice, method, &path, None).await;
        assert!(matches!(r.status, 400 | 404 | 422), "{what}: status {} {}", r.status, r.text);
        assert_no_leak(what, &r.text);
        if r.json["error"]["code"].as_str().is_none() {
            failures.push(format!("{what} ({path}): {} {:?}", r.status, r.text));
        }
    }
    let big = vec![b'a'; 21 * 1024 * 1024];
    let r = import(&alice, env.world.event_a, big).await;
    assert!(
        matches!(r.status, 413 | 422),
        "an oversized import: {} {}",
        r.status,
        &r.text[..r.text.len().min(300)]
    );
    if r.json["error"]["code"].as_str().is_none() && r.json["errors"].as_array().is_none() {
        failures.push(format!("oversized import: {} {:?}", r.status, r.text));
    }
    let big_json = format!("{{\"name\": \"{}\"}}", "x".repeat(3 * 1024 * 1024));
    let r = call(
        &alice,
        Method::PATCH,
        &format!("/api/v1/events/{}", env.world.event_a),
        Some(("application/json", big_json.into_bytes())),
    )
    .await;
    assert!(r.status >= 400 && r.status < 500, "an oversized JSON body: {}", r.status);
    if r.json["error"]["code"].as_str().is_none() {
        failures.push(format!("oversized JSON: {} {:?}", r.status, r.text));
    }
    assert!(
        failures.is_empty(),
        "answers without the {{error:{{code,message}}}} shape:\n{}",
        failures.join("\n")
    );
}

// ---------------------------------------------------------------------------
// Hostile strings
// ---------------------------------------------------------------------------

fn assert_not_500(what: &str, r: &Raw) {
    assert!(r.status < 500, "{what}: {} {}", r.status, r.text);
    if r.status >= 400 {
        assert_error_shape(what, r);
    }
}

/// SQL-injection and XSS strings in event names, time zones, window labels and band labels (API and CSV) are stored and returned verbatim or refused as invalid, never a 500; JSON is served as non-sniffable JSON; every table survives.
#[tokio::test]
async fn hostile_strings_in_event_window_and_band_fields_are_inert() {
    let env = Env::start().await;
    let w = &env.world;
    let alice = env.customer_a().await;
    let mut events = Vec::new();
    for p in PAYLOADS {
        let r = call(
            &alice,
            Method::POST,
            "/api/v1/events",
            Some(("application/json", json!({ "org_id": w.org_a, "name": p }).to_string().into_bytes())),
        )
        .await;
        assert_not_500(p, &r);
        assert_eq!(r.status, 201, "{p}: {}", r.text);
        assert_eq!(r.json["name"], p);
        let content_type = r.headers.get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("");
        assert!(content_type.starts_with("application/json"), "{content_type}");
        assert_eq!(r.headers.get("x-content-type-options").and_then(|v| v.to_str().ok()), Some("nosniff"));
        assert!(
            r.headers
                .get("content-security-policy")
                .and_then(|v| v.to_str().ok())
                .is_some_and(|c| c.contains("default-src 'none'"))
        );
        let id: Uuid = r.json["id"].as_str().and_then(|s| s.parse().ok()).expect("id");
        assert_eq!(alice.get(&format!("/api/v1/events/{id}")).await.json["name"], p);
        events.push(id);
        let patched = alice.patch(&format!("/api/v1/events/{}", w.event_a), json!({ "name": p })).await;
        assert_eq!(patched.json["name"], p);
        for body in [json!({ "org_id": w.org_a, "name": "tz", "timezone": p }), json!({ "timezone": p })] {
            let r = if body.get("org_id").is_some() {
                call(
                    &alice,
                    Method::POST,
                    "/api/v1/events",
                    Some(("application/json", body.to_string().into_bytes())),
                )
                .await
            } else {
                call(
                    &alice,
                    Method::PATCH,
                    &format!("/api/v1/events/{}", w.event_a),
                    Some(("application/json", body.to_string().into_bytes())),
                )
                .await
            };
            assert_not_500(&format!("timezone {p}"), &r);
            assert_eq!(r.status, 422, "timezone {p}: {}", r.text);
        }
    }
    let listed = alice.get("/api/v1/events?limit=500").await;
    let names: BTreeSet<&str> =
        listed.json.as_array().expect("events").iter().filter_map(|e| e["name"].as_str()).collect();
    assert!(PAYLOADS.iter().all(|p| names.contains(p)), "{names:?}");

    let base = DateTime::from_timestamp(Utc::now().timestamp() + 86_400, 0).expect("time");
    for (i, p) in PAYLOADS.iter().enumerate() {
        let body = json!({ "label": p, "url": "https://example.com/w", "starts_at": ts(base + Duration::hours(i as i64)), "ends_at": ts(base + Duration::hours(i as i64 + 1)) });
        let r = alice.post(&format!("/api/v1/events/{}/windows", events[0]), body).await;
        assert_eq!(r.status, 201, "{p}: {:?}", r.json);
        assert_eq!(r.json["label"], *p);
    }
    let windows = alice.get(&format!("/api/v1/events/{}/windows", events[0])).await;
    let labels: Vec<&str> =
        windows.json.as_array().expect("windows").iter().filter_map(|x| x["label"].as_str()).collect();
    assert_eq!(labels, PAYLOADS);

    for p in PAYLOADS {
        let r = alice.patch("/api/v1/bands/WORLDA01", json!({ "label": p })).await;
        assert_eq!(r.status, 200, "{p}: {:?}", r.json);
        assert_eq!(alice.get("/api/v1/bands/WORLDA01").await.json["label"], p);
    }
    let mut csv = String::from("band_id,label\n");
    for (i, p) in PAYLOADS.iter().enumerate() {
        csv.push_str(&format!("INJ0000{i},{}\n", cell(p)));
    }
    let r = import(&alice, events[1], csv).await;
    assert_eq!(r.status, 201, "{}", r.text);
    for (i, p) in PAYLOADS.iter().enumerate() {
        assert_eq!(alice.get(&format!("/api/v1/bands/INJ0000{i}")).await.json["label"], *p);
        let found = alice.get(&format!("/api/v1/events/{}/bands?{}", events[1], query(&[("q", p)]))).await;
        assert_eq!(found.status, 200);
        assert_eq!(found.json["total"], 1, "searching for {p:?} finds exactly its band");
        assert_eq!(found.json["bands"][0]["label"], *p);
    }
    let id_payloads = import(&alice, events[1], format!("band_id\n{}\n", cell(PAYLOADS[0]))).await;
    assert_eq!(id_payloads.status, 422, "a hostile band id is an invalid row: {}", id_payloads.text);
    assert_no_leak("band id payload", &id_payloads.text);
    tables_intact(&env.db).await;
    assert_eq!(alice.get(&format!("/api/v1/events/{}", w.event_a)).await.status, 200);
}

/// SQL-injection and XSS strings in organisation names, user names, emails and sign-in fields are stored verbatim or refused, never a 500 and never a sign-in; every table survives.
#[tokio::test]
async fn hostile_strings_in_org_user_email_and_sign_in_fields_are_inert() {
    let env = Env::start().await;
    let w = &env.world;
    let admin = env.admin().await;
    for p in PAYLOADS {
        let r = call(
            &admin,
            Method::POST,
            "/api/v1/orgs",
            Some(("application/json", json!({ "name": p }).to_string().into_bytes())),
        )
        .await;
        assert_not_500(p, &r);
        assert_eq!(r.status, 201, "org {p}: {}", r.text);
        assert_eq!(r.json["name"], p);
        let id = r.json["id"].as_str().expect("id");
        assert_eq!(admin.get(&format!("/api/v1/orgs/{id}")).await.json["name"], p);
        let slug = call(
            &admin,
            Method::POST,
            "/api/v1/orgs",
            Some(("application/json", json!({ "name": "S", "slug": p }).to_string().into_bytes())),
        )
        .await;
        assert_not_500(&format!("slug {p}"), &slug);
        assert_eq!(slug.status, 422, "slug {p}");
    }
    for (i, p) in PAYLOADS.iter().enumerate() {
        let body = json!({ "email": format!("inj{i}@example.com"), "name": p, "role": "CUSTOMER", "org_id": w.org_a });
        let r = admin.post("/api/v1/users", body).await;
        assert_eq!(r.status, 201, "user name {p}: {:?}", r.json);
        assert_eq!(r.json["name"], *p);
        let id = r.json["id"].as_str().expect("id").to_string();
        let renamed = admin.patch(&format!("/api/v1/users/{id}"), json!({ "name": format!("{p}{p}") })).await;
        assert_eq!(renamed.json["name"], format!("{p}{p}"));
        let bad = call(
            &admin,
            Method::POST,
            "/api/v1/users",
            Some((
                "application/json",
                json!({ "email": p, "name": "E", "role": "CUSTOMER", "org_id": w.org_a })
                    .to_string()
                    .into_bytes(),
            )),
        )
        .await;
        assert_not_500(&format!("email {p}"), &bad);
        assert_eq!(bad.status, 422, "email {p}");
    }
    let odd = "x'OR'1'='1@example.com";
    let r = admin
        .post("/api/v1/users", json!({ "email": odd, "name": "Odd", "role": "CUSTOMER", "org_id": w.org_a }))
        .await;
    assert_eq!(r.status, 201, "{:?}", r.json);
    assert_eq!(r.json["email"], odd);

    for email in
        PAYLOADS.iter().map(|p| p.to_string()).chain(["admin@example.com' --".into(), "' OR 1=1 --".into()])
    {
        let r = call(
            &env.anonymous(),
            Method::POST,
            "/api/v1/auth/login",
            Some((
                "application/json",
                json!({ "email": email, "password": "' OR '1'='1" }).to_string().into_bytes(),
            )),
        )
        .await;
        assert_not_500(&email, &r);
        assert_eq!(r.status, 401, "sign-in with email {email:?}: {}", r.text);
        assert!(r.session_cookies().is_empty());
    }
    for p in PAYLOADS {
        let r = call(
            &env.anonymous(),
            Method::POST,
            "/api/v1/auth/login",
            Some((
                "application/json",
                json!({ "email": w.customer_b.1, "password": p }).to_string().into_bytes(),
            )),
        )
        .await;
        assert_eq!(r.status, 401, "password {p:?}: {}", r.text);
    }
    tables_intact(&env.db).await;
    let users: i64 =
        sqlx::query_scalar("SELECT count(*) FROM users").fetch_one(&env.db.pool).await.expect("n");
    assert_eq!(users, 4 + PAYLOADS.len() as i64 + 1, "the world's users plus the invited ones");
    assert_eq!(admin.get("/api/v1/me").await.status, 200);
}

/// SQL-injection and XSS strings in the band search and every audit filter are plain values: empty results or a 400, never a 500; every table survives.
#[tokio::test]
async fn hostile_strings_in_search_and_audit_filters_are_inert() {
    let env = Env::start().await;
    let w = &env.world;
    let alice = env.customer_a().await;
    let admin = env.admin().await;
    for p in PAYLOADS {
        let r = call(
            &alice,
            Method::GET,
            &format!("/api/v1/events/{}/bands?{}", w.event_a, query(&[("q", p)])),
            None,
        )
        .await;
        assert_not_500(p, &r);
        assert_eq!(r.json["total"], 0, "q={p}: {}", r.text);
        for client in [&alice, &admin] {
            for key in ["action", "target_type", "target_id"] {
                for value in [p.to_string(), format!("{p}.")] {
                    let r = call(
                        client,
                        Method::GET,
                        &format!("/api/v1/audit?{}", query(&[(key, &value)])),
                        None,
                    )
                    .await;
                    assert_not_500(&format!("{key}={value}"), &r);
                    assert_eq!(r.status, 200, "{key}={value}");
                    assert_eq!(r.json, json!([]), "{key}={value}");
                }
            }
            for key in ["actor_id", "from", "to", "before", "limit"] {
                let r =
                    call(client, Method::GET, &format!("/api/v1/audit?{}", query(&[(key, p)])), None).await;
                assert!(r.status == 400, "{key}={p}: {} {}", r.status, r.text);
                assert_no_leak(key, &r.text);
            }
        }
    }
    tables_intact(&env.db).await;
    assert_eq!(
        alice.get(&format!("/api/v1/events/{}/bands", w.event_a)).await.json["total"],
        1,
        "A's band is still there"
    );
    let _ = snapshot(&env.db).await;
}
