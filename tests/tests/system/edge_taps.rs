//! Taps leave the edge through the real Queue and reach an HTTP receiver,
//! signed; failed deliveries are retried until every tap has arrived.

use std::collections::HashSet;
use std::time::Duration;

use shared::{AgentKind, BandStatus, DeviceClass, EventStatus, Reason};
use system_tests::edge::{Edge, EdgeOptions};
use system_tests::receiver::Receiver;
use system_tests::records::{band, event, put_band, put_event};
use system_tests::{http, keys};
use uuid::Uuid;

const IPHONE: &str = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1";
const ANDROID: &str = "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Mobile Safari/537.36";

async fn edge_with_receiver() -> (Edge, Receiver, Uuid, Uuid) {
    let spec = keys::random_key_spec("edge1");
    let receiver = Receiver::start(&spec).await;
    let edge = Edge::start(EdgeOptions {
        origin_url: receiver.url.clone(),
        signing_keys: spec,
        ..EdgeOptions::default()
    })
    .await;
    let (org, ev) = (Uuid::now_v7(), Uuid::now_v7());
    edge.push_ok(vec![
        put_event(ev, event(org, EventStatus::Active, Some("https://show.example/"), None, vec![])),
        put_band("TAPPER01", band(ev, org, BandStatus::Active, None)),
    ])
    .await;
    (edge, receiver, org, ev)
}

#[tokio::test]
async fn each_hit_arrives_signed_with_its_flags_and_nothing_personal() {
    let (edge, receiver, org, ev) = edge_with_receiver().await;
    let client = http::client();
    let hits: [(&str, &str, &str); 6] = [
        ("GET", "/TAPPER01", IPHONE),
        ("GET", "/tapper01", ANDROID),
        ("HEAD", "/TAPPER01", IPHONE),
        ("GET", "/TAPPER01", "Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)"),
        ("GET", "/TAPPER01", "facebookexternalhit/1.1 Facebot Twitterbot/1.0"),
        ("GET", "/NOSUCH01", "curl/8.5.0"),
    ];
    for (method, path, ua) in hits {
        let r = client
            .request(method.parse().unwrap(), edge.url(path))
            .header("user-agent", ua)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 302);
    }
    let taps = receiver.wait_for_distinct(hits.len(), Duration::from_secs(30)).await;
    assert_eq!(receiver.rejected(), 0, "every delivery carried a valid signature");

    let find = |pred: &dyn Fn(&shared::TapEvent) -> bool| taps.iter().filter(|t| pred(t)).count();
    assert_eq!(find(&|t| t.agent == AgentKind::Human && !t.head && t.device == DeviceClass::Ios), 1);
    assert_eq!(find(&|t| t.agent == AgentKind::Human && t.device == DeviceClass::Android), 1);
    assert_eq!(find(&|t| t.head && t.device == DeviceClass::Ios), 1);
    assert_eq!(find(&|t| t.agent == AgentKind::Previewer), 2);
    let unknown: Vec<_> = taps.iter().filter(|t| t.band_id.as_str() == "NOSUCH01").collect();
    assert_eq!(unknown.len(), 1);
    assert_eq!(unknown[0].outcome, Reason::UnknownBand);
    assert_eq!(unknown[0].agent, AgentKind::Bot);
    assert_eq!((unknown[0].event_id, unknown[0].org_id), (None, None));
    for t in taps.iter().filter(|t| t.band_id.as_str() == "TAPPER01") {
        assert_eq!((t.event_id, t.org_id), (Some(ev), Some(org)));
        assert_eq!(t.outcome, Reason::Default);
        assert_eq!(t.id.get_version_num(), 7, "UUIDv7 ids");
        assert!(t.ts_ms > 1_700_000_000_000);
    }
    let allowed: HashSet<&str> = [
        "id", "band_id", "event_id", "org_id", "ts_ms", "outcome", "head", "agent", "device", "country",
        "colo",
    ]
    .into();
    for raw in receiver.raw_taps() {
        for key in raw.as_object().unwrap().keys() {
            assert!(allowed.contains(key.as_str()), "unexpected field {key} in {raw}");
        }
        let text = raw.to_string();
        assert!(!text.contains("Mozilla") && !text.contains("127.0.0.1"), "no UA or IP travels: {text}");
    }
}

#[tokio::test]
async fn failed_deliveries_are_retried_until_every_tap_arrives() {
    let (edge, receiver, _, _) = edge_with_receiver().await;
    receiver.fail_next(3);
    let client = http::client();
    for _ in 0..20 {
        let r = client.get(edge.url("/TAPPER01")).header("user-agent", IPHONE).send().await.unwrap();
        assert_eq!(r.status(), 302);
    }
    let taps = receiver.wait_for_distinct(20, Duration::from_secs(60)).await;
    let distinct: HashSet<_> = taps.iter().map(|t| t.id).collect();
    assert_eq!(distinct.len(), 20, "none missing");
    assert!(receiver.attempts() >= 4, "3 failed attempts then success, saw {}", receiver.attempts());
    system_tests::eventually("delivery failures to be logged", Duration::from_secs(10), || async {
        edge.log().contains("tap_delivery_failed").then_some(())
    })
    .await;
}

/// Each tap is one JSON log line at the edge (the tap as queued) and each
/// delivered batch another; neither carries the client's IP or user agent.
#[tokio::test]
async fn each_tap_and_each_delivered_batch_is_one_json_log_line_without_personal_data() {
    let (edge, receiver, _org, ev) = edge_with_receiver().await;
    let r = http::client()
        .get(edge.url("/TAPPER01"))
        .header("user-agent", IPHONE)
        .header("x-forwarded-for", "198.51.100.23")
        .header("cf-connecting-ip", "198.51.100.23")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 302);
    system_tests::eventually("the tap to be delivered", Duration::from_secs(30), || async {
        (!receiver.taps().is_empty()).then_some(())
    })
    .await;
    system_tests::eventually("the delivery to be logged", Duration::from_secs(10), || async {
        edge.log().contains("\"event\":\"tap_batch_delivered\"").then_some(())
    })
    .await;
    let log = edge.log();
    let tap_lines: Vec<serde_json::Value> = log
        .lines()
        .filter_map(|l| l.find('{').map(|i| &l[i..]))
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v["event"] == "tap")
        .collect();
    assert_eq!(tap_lines.len(), 1, "one line per tap:\n{log}");
    let tap = &tap_lines[0]["tap"];
    assert_eq!(tap["band_id"], "TAPPER01");
    assert_eq!(tap["event_id"], ev.to_string());
    assert_eq!(tap["device"], "ios");
    assert!(
        log.contains("\"request_id\":\"batch-"),
        "the delivery line names the id the origin adopts:\n{log}"
    );
    assert!(!log.contains("198.51.100.23"), "no client IP in the edge logs");
    assert!(!log.contains("iPhone OS 17_5"), "no raw user agent in the edge logs");
}
