//! The tap path in real workerd: every resolution path, every header, 404/405.

use shared::security_headers::{HSTS, SECURITY_HEADERS, STRICT_CSP};
use shared::{BandStatus, EventStatus};
use system_tests::edge::{Edge, EdgeOptions};
use system_tests::records::{band, event, put_band, put_event, window};
use system_tests::{http, unix_now};
use uuid::Uuid;

const DEFAULT: &str = "https://default.example/";
const FALLBACK: &str = "https://event-fallback.example/";
const LIVE: &str = "https://live.example/now";
const OVERRIDE: &str = "https://override.example/vip";
const GLOBAL: &str = "https://fallback.example/";

struct Routing {
    edge: Edge,
}

/// One worker seeded with an event per situation.
async fn seeded() -> Routing {
    let edge = Edge::start(EdgeOptions::default()).await;
    let org = Uuid::now_v7();
    let other_org = Uuid::now_v7();
    let now = unix_now();
    let live = Uuid::now_v7();
    let later = Uuid::now_v7();
    let inactive = Uuid::now_v7();
    let frozen = Uuid::now_v7();
    let foreign = Uuid::now_v7();
    let bare = Uuid::now_v7();
    edge.push_ok(vec![
        put_event(
            live,
            event(
                org,
                EventStatus::Active,
                Some(DEFAULT),
                Some(FALLBACK),
                vec![window(now - 600, now + 3600, LIVE)],
            ),
        ),
        put_event(
            later,
            event(
                org,
                EventStatus::Active,
                Some(DEFAULT),
                Some(FALLBACK),
                vec![window(now + 3600, now + 7200, LIVE)],
            ),
        ),
        put_event(inactive, event(org, EventStatus::Inactive, Some(DEFAULT), Some(FALLBACK), vec![])),
        put_event(frozen, event(org, EventStatus::Frozen, Some(DEFAULT), Some(FALLBACK), vec![])),
        put_event(foreign, event(other_org, EventStatus::Active, Some(DEFAULT), Some(FALLBACK), vec![])),
        put_event(bare, event(org, EventStatus::Active, None, None, vec![])),
        put_band("WINDOW01", band(live, org, BandStatus::Active, None)),
        put_band("OVERRIDE1", band(live, org, BandStatus::Active, Some(OVERRIDE))),
        put_band("DEFAULT1", band(later, org, BandStatus::Active, None)),
        put_band("DISABLED1", band(live, org, BandStatus::Disabled, Some(OVERRIDE))),
        put_band("LOST0001", band(live, org, BandStatus::Lost, None)),
        put_band("INACTIVE1", band(inactive, org, BandStatus::Active, None)),
        put_band("FROZEN01", band(frozen, org, BandStatus::Active, Some(OVERRIDE))),
        put_band("FOREIGN1", band(foreign, org, BandStatus::Active, None)),
        put_band("NOEVENT1", band(Uuid::now_v7(), org, BandStatus::Active, None)),
        put_band("BARE0001", band(bare, org, BandStatus::Active, None)),
    ])
    .await;
    Routing { edge }
}

async fn location(edge: &Edge, path: &str) -> String {
    let r = http::client().get(edge.url(path)).send().await.expect("tap");
    assert_eq!(r.status(), 302, "GET {path}");
    r.headers().get("location").expect("location").to_str().expect("ascii").to_string()
}

#[tokio::test]
async fn every_resolution_path_redirects_where_the_rules_say() {
    let Routing { edge } = seeded().await;
    let cases = [
        ("/OVERRIDE1", OVERRIDE),
        ("/WINDOW01", LIVE),
        ("/DEFAULT1", DEFAULT),
        ("/DISABLED1", FALLBACK),
        ("/LOST0001", FALLBACK),
        ("/INACTIVE1", FALLBACK),
        ("/FROZEN01", FALLBACK),
        ("/FOREIGN1", GLOBAL),
        ("/NOEVENT1", GLOBAL),
        ("/BARE0001", GLOBAL),
        ("/UNKNOWN99", GLOBAL),
        // Case rule: ids are case-insensitive.
        ("/window01", LIVE),
        ("/Override1", OVERRIDE),
        // A trailing slash (some NFC writers add one) is the same band.
        ("/WINDOW01/", LIVE),
        // Query strings are never forwarded.
        ("/WINDOW01?utm_source=x&band=../../evil", LIVE),
    ];
    for (path, want) in cases {
        assert_eq!(location(&edge, path).await, want, "{path}");
    }
}

#[tokio::test]
async fn redirect_and_error_responses_carry_every_security_header() {
    let Routing { edge } = seeded().await;
    let client = http::client();
    for (method, path, status) in [
        ("GET", "/WINDOW01", 302),
        ("HEAD", "/WINDOW01", 302),
        ("GET", "/no", 404),
        ("GET", "/", 404),
        ("POST", "/WINDOW01", 405),
        ("GET", "/healthz", 200),
    ] {
        let r = client.request(method.parse().unwrap(), edge.url(path)).send().await.unwrap();
        assert_eq!(r.status(), status, "{method} {path}");
        let h = r.headers();
        for (name, value) in SECURITY_HEADERS.iter().chain([&STRICT_CSP]) {
            assert_eq!(h.get(*name).and_then(|v| v.to_str().ok()), Some(*value), "{method} {path}: {name}");
        }
        assert_eq!(h.get("cache-control").unwrap(), "no-store", "{method} {path}");
        assert_eq!(h.get("referrer-policy").unwrap(), "no-referrer");
        assert!(h.get(HSTS.0).is_none(), "no HSTS over plain HTTP ({method} {path})");
    }
}

#[tokio::test]
async fn hsts_is_sent_when_the_request_arrived_over_https() {
    let edge = Edge::start(EdgeOptions { https_upstream: true, ..EdgeOptions::default() }).await;
    let r = http::client().get(edge.url("/UNKNOWN1")).send().await.unwrap();
    assert_eq!(r.status(), 302);
    assert_eq!(r.headers().get(HSTS.0).unwrap(), HSTS.1);
    assert_eq!(r.headers().get("location").unwrap(), GLOBAL);
}

#[tokio::test]
async fn invalid_ids_get_a_404_page_without_any_kv_read_and_other_methods_a_405() {
    let edge = Edge::start(EdgeOptions::default()).await;
    // A record stored under an invalid id: if the worker looked it up, it would redirect.
    let org = Uuid::now_v7();
    let event_id = Uuid::now_v7();
    edge.push_ok(vec![put_event(event_id, event(org, EventStatus::Active, Some(DEFAULT), None, vec![]))])
        .await;
    let record = serde_json::to_string(&band(event_id, org, BandStatus::Active, Some(OVERRIDE))).unwrap();
    edge.kv_put_raw("band:ABC", &record);
    edge.kv_put_raw("band:AB.CD", &record);
    edge.kv_put_raw("band:ABCDE", &record);
    let client = http::client();
    // Control: the valid id stored the same way is looked up and routed by its record.
    assert_eq!(location(&edge, "/ABCDE").await, OVERRIDE);
    for path in ["/ABC", "/AB.CD", "/abc", "/a/b/c/d", "/"] {
        let r = client.get(edge.url(path)).send().await.unwrap();
        assert_eq!(r.status(), 404, "{path}");
        assert!(r.headers().get("location").is_none());
        assert_eq!(r.headers().get("content-type").unwrap(), "text/html; charset=utf-8");
        assert!(r.text().await.unwrap().contains("not a SparkMotion band"));
    }
    for method in ["POST", "PUT", "DELETE", "PATCH", "OPTIONS"] {
        let r = client.request(method.parse().unwrap(), edge.url("/ABCDE")).send().await.unwrap();
        assert_eq!(r.status(), 405, "{method}");
        assert_eq!(r.headers().get("allow").unwrap(), "GET, HEAD");
    }
    let r = client.post(edge.url("/healthz")).send().await.unwrap();
    assert_eq!(r.status(), 405);
    let r = client.get(edge.url("/_internal/kv")).send().await.unwrap();
    assert_eq!(r.status(), 405);
    assert_eq!(r.headers().get("allow").unwrap(), "POST");
}

#[tokio::test]
async fn a_broken_queue_never_fails_the_redirect() {
    let edge = Edge::start(EdgeOptions { queue_producer: false, ..EdgeOptions::default() }).await;
    for _ in 0..3 {
        let r = http::client().get(edge.url("/ANYBAND1")).send().await.unwrap();
        assert_eq!(r.status(), 302);
        assert_eq!(r.headers().get("location").unwrap(), GLOBAL);
    }
    system_tests::eventually(
        "the enqueue failure to be logged",
        std::time::Duration::from_secs(10),
        || async { edge.log().contains("tap_enqueue_failed").then_some(()) },
    )
    .await;
}
