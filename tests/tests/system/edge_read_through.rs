//! KV miss → signed origin lookup → cached in KV (negative answers too).

use std::time::Duration;

use shared::{BandLookup, BandStatus, EventStatus};
use system_tests::edge::{Edge, EdgeOptions};
use system_tests::receiver::Receiver;
use system_tests::records::{band, event};
use system_tests::{eventually, http, keys};
use uuid::Uuid;

async fn location(edge: &Edge, path: &str) -> String {
    let r = http::client().get(edge.url(path)).send().await.unwrap();
    assert_eq!(r.status(), 302);
    r.headers().get("location").unwrap().to_str().unwrap().to_string()
}

#[tokio::test]
async fn a_kv_miss_asks_the_origin_once_then_serves_from_kv() {
    let spec = keys::random_key_spec("rt1");
    let origin = Receiver::start(&spec).await;
    let edge = Edge::start(EdgeOptions {
        origin_url: origin.url.clone(),
        signing_keys: spec,
        ..EdgeOptions::default()
    })
    .await;
    let (org, ev) = (Uuid::now_v7(), Uuid::now_v7());
    origin.set_lookup(
        "LATE0001",
        BandLookup {
            band: band(ev, org, BandStatus::Active, None),
            event: Some(event(org, EventStatus::Active, Some("https://late.example/"), None, vec![])),
        },
    );
    assert_eq!(location(&edge, "/LATE0001").await, "https://late.example/");
    assert_eq!(origin.lookup_calls(), 1);
    assert_eq!(origin.rejected(), 0, "the lookup was signed");
    // The answer is written to KV after the response; then taps never reach the origin.
    eventually("the band to be cached in KV", Duration::from_secs(10), || async {
        let calls_before = origin.lookup_calls();
        let served = location(&edge, "/LATE0001").await == "https://late.example/";
        (served && origin.lookup_calls() == calls_before).then_some(())
    })
    .await;
    for _ in 0..5 {
        assert_eq!(location(&edge, "/late0001").await, "https://late.example/");
    }
    let calls = origin.lookup_calls();
    assert!(calls <= 2, "served from KV, origin asked {calls} times");

    // Unknown to the origin too: fallback, and the negative answer is cached.
    assert_eq!(location(&edge, "/GHOST001").await, "https://fallback.example/");
    let after_first = origin.lookup_calls();
    for _ in 0..5 {
        assert_eq!(location(&edge, "/GHOST001").await, "https://fallback.example/");
    }
    assert_eq!(origin.lookup_calls(), after_first, "negative answers are cached");
    // In KV too (for the other isolates and locations), not only in this isolate's memory.
    eventually("the negative answer to be cached in KV", Duration::from_secs(10), || async {
        edge.kv_get_raw("miss:GHOST001").await
    })
    .await;
    assert_eq!(edge.kv_get_raw("miss:LATE0001").await, None, "a known band is not a miss");
    assert!(edge.kv_get_raw("band:LATE0001").await.is_some_and(|v| v.contains("\"v\"")));
}

#[tokio::test]
async fn an_unreachable_origin_still_gets_the_attendee_redirected() {
    let port = system_tests::ports::free_port();
    let edge =
        Edge::start(EdgeOptions { origin_url: format!("http://127.0.0.1:{port}"), ..EdgeOptions::default() })
            .await;
    let started = std::time::Instant::now();
    assert_eq!(location(&edge, "/NOBODY01").await, "https://fallback.example/");
    assert!(started.elapsed() < Duration::from_secs(5), "bounded by the read-through timeout");
}
