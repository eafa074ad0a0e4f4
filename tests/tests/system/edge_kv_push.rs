//! `POST /_internal/kv`: only fresh, correctly signed requests change routing.

use shared::signing::MAX_SKEW_SECS;
use shared::{BandStatus, EventStatus, KvBatch, KvOp};
use system_tests::edge::{Edge, EdgeOptions};
use system_tests::records::{band, event, put_band, put_event};
use system_tests::{http, keys, unix_now};
use uuid::Uuid;

const FIRST: &str = "https://first.example/";
const SECOND: &str = "https://second.example/";

fn body_of(ops: Vec<KvOp>) -> Vec<u8> {
    serde_json::to_vec(&KvBatch { ops, rev_ceiling: None }).unwrap()
}

async fn send(
    edge: &Edge,
    signed: Option<&shared::signing::SignedHeaders>,
    body: Vec<u8>,
) -> reqwest::Response {
    let mut req =
        http::client().post(edge.url("/_internal/kv")).header("content-type", "application/json").body(body);
    if let Some(s) = signed {
        req = keys::apply(req, s);
    }
    req.send().await.unwrap()
}

async fn destination(edge: &Edge, band: &str) -> String {
    let r = http::client().get(edge.url(band)).send().await.unwrap();
    r.headers().get("location").unwrap().to_str().unwrap().to_string()
}

struct Setup {
    edge: Edge,
    org: Uuid,
    ev: Uuid,
}

async fn setup(opts: EdgeOptions) -> Setup {
    let edge = Edge::start(opts).await;
    let (org, ev) = (Uuid::now_v7(), Uuid::now_v7());
    edge.push_ok(vec![
        put_event(ev, event(org, EventStatus::Active, Some(FIRST), None, vec![])),
        put_band("PUSHED01", band(ev, org, BandStatus::Active, None)),
    ])
    .await;
    assert_eq!(destination(&edge, "/PUSHED01").await, FIRST);
    Setup { edge, org, ev }
}

fn change(s: &Setup, url: &str, rev: i64) -> Vec<KvOp> {
    let mut record = event(s.org, EventStatus::Active, Some(url), None, vec![]);
    record.rev = rev;
    vec![put_event(s.ev, record)]
}

#[tokio::test]
async fn unsigned_wrong_key_expired_replayed_and_tampered_requests_are_refused() {
    let s = setup(EdgeOptions::default()).await;
    let edge = &s.edge;
    let body = body_of(change(&s, SECOND, 2));
    let target = "/_internal/kv";
    let unauthorized = |r: &reqwest::Response| r.status() == 401;

    // Unsigned, with a body far over the size limit: refused on headers alone (401, not 413).
    assert!(unauthorized(&send(edge, None, vec![b'x'; 2 << 20]).await));
    assert!(unauthorized(&send(edge, None, body.clone()).await));

    // Wrong key: same key id, different secret.
    let imposter = keys::keyring(&format!("{}:{}", edge.keys.signing_key().id(), "ab".repeat(32)));
    assert!(unauthorized(
        &send(edge, Some(&keys::sign_now(&imposter, "POST", target, &body)), body.clone()).await
    ));
    // Unknown key id.
    let stranger = keys::keyring(&keys::random_key_spec("stranger"));
    assert!(unauthorized(
        &send(edge, Some(&keys::sign_now(&stranger, "POST", target, &body)), body.clone()).await
    ));
    // Expired and from the future.
    for skew in [-(MAX_SKEW_SECS + 5), MAX_SKEW_SECS + 5] {
        let signed = keys::sign_at(&edge.keys, "POST", target, &body, unix_now() + skew);
        assert!(unauthorized(&send(edge, Some(&signed), body.clone()).await), "skew {skew}");
    }
    // Signed for another path.
    let signed = keys::sign_now(&edge.keys, "POST", "/internal/v1/taps", &body);
    assert!(unauthorized(&send(edge, Some(&signed), body.clone()).await));
    // Tampered body under a valid signature.
    let signed = keys::sign_now(&edge.keys, "POST", target, &body);
    assert!(unauthorized(&send(edge, Some(&signed), body_of(change(&s, "https://evil.example/", 3))).await));
    // Malformed signature headers.
    let mut bad = keys::sign_now(&edge.keys, "POST", target, &body);
    bad.signature = "zz".into();
    assert!(unauthorized(&send(edge, Some(&bad), body.clone()).await));

    assert_eq!(destination(edge, "/PUSHED01").await, FIRST, "nothing above changed routing");

    // A correct request applies; replaying it exactly is refused.
    let signed = keys::sign_now(&edge.keys, "POST", target, &body);
    let ok = send(edge, Some(&signed), body.clone()).await;
    assert_eq!(ok.status(), 200);
    assert_eq!(ok.json::<serde_json::Value>().await.unwrap(), serde_json::json!({"applied": 1, "stale": 0}));
    assert_eq!(destination(edge, "/PUSHED01").await, SECOND);
    let replay = send(edge, Some(&signed), body.clone()).await;
    assert_eq!(replay.status(), 401);
    let err: serde_json::Value = replay.json().await.unwrap();
    assert_eq!(err["error"]["code"], "unauthorized");
    system_tests::eventually("rejections to be logged", std::time::Duration::from_secs(10), || async {
        edge.log().contains("signature_rejected").then_some(())
    })
    .await;
}

#[tokio::test]
async fn both_keys_work_during_a_rotation() {
    let old = keys::random_key_spec("old");
    let new = keys::random_key_spec("new");
    let s = setup(EdgeOptions { signing_keys: format!("{new},{old}"), ..EdgeOptions::default() }).await;
    let body = body_of(change(&s, SECOND, 2));
    let signed = keys::sign_now(&keys::keyring(&old), "POST", "/_internal/kv", &body);
    assert_eq!(send(&s.edge, Some(&signed), body).await.status(), 200);
    assert_eq!(destination(&s.edge, "/PUSHED01").await, SECOND);
    let body = body_of(change(&s, FIRST, 3));
    let signed = keys::sign_now(&keys::keyring(&new), "POST", "/_internal/kv", &body);
    assert_eq!(send(&s.edge, Some(&signed), body).await.status(), 200);
    assert_eq!(destination(&s.edge, "/PUSHED01").await, FIRST);
}

#[tokio::test]
async fn signed_but_bad_batches_are_refused_and_older_revisions_never_win() {
    let s = setup(EdgeOptions::default()).await;
    let edge = &s.edge;
    let signed_send = |body: Vec<u8>| async move {
        let signed = keys::sign_now(&edge.keys, "POST", "/_internal/kv", &body);
        send(edge, Some(&signed), body).await
    };
    let r = signed_send(b"{not json".to_vec()).await;
    assert_eq!(r.status(), 400);
    assert_eq!(r.json::<serde_json::Value>().await.unwrap()["error"]["code"], "malformed");
    let r = signed_send(br#"{"ops":[{"put_band":{"band_id":"../etc","record":{}}}]}"#.to_vec()).await;
    assert_eq!(r.status(), 400);
    let too_many: Vec<KvOp> = (0..=shared::records::MAX_KV_OPS)
        .map(|i| KvOp::DeleteBand { band_id: shared::BandId::parse(&format!("BULK{i:04}")).unwrap() })
        .collect();
    assert_eq!(signed_send(body_of(too_many)).await.status(), 413);
    assert_eq!(signed_send(vec![b' '; (1 << 20) + 1]).await.status(), 413);

    // Newer revision applies, an older one afterwards is reported stale and ignored.
    let r = signed_send(body_of(change(&s, SECOND, 5))).await;
    assert_eq!(r.json::<serde_json::Value>().await.unwrap(), serde_json::json!({"applied": 1, "stale": 0}));
    let r = signed_send(body_of(change(&s, "https://older.example/", 4))).await;
    assert_eq!(r.json::<serde_json::Value>().await.unwrap(), serde_json::json!({"applied": 0, "stale": 1}));
    assert_eq!(destination(edge, "/PUSHED01").await, SECOND);

    // Within one batch, the last operation on a key wins.
    let ops = vec![
        put_band("PUSHED01", band(s.ev, s.org, BandStatus::Active, Some("https://a.example/"))),
        KvOp::DeleteBand { band_id: shared::BandId::parse("PUSHED01").unwrap() },
    ];
    assert_eq!(signed_send(body_of(ops)).await.status(), 200);
    assert_eq!(destination(edge, "/PUSHED01").await, "https://fallback.example/", "deleted band is unknown");
}

/// `rev_ceiling`: a record above the origin's highest revision was forged
/// (a leaked key) and is replaced; below it, `rev` order still holds.
#[tokio::test]
async fn a_revision_above_the_origins_ceiling_does_not_block_its_pushes() {
    let s = setup(EdgeOptions::default()).await;
    let edge = &s.edge;
    let push = |ops: Vec<KvOp>, rev_ceiling: Option<i64>| async move {
        let body = serde_json::to_vec(&KvBatch { ops, rev_ceiling }).unwrap();
        let signed = keys::sign_now(&edge.keys, "POST", "/_internal/kv", &body);
        send(edge, Some(&signed), body).await.json::<serde_json::Value>().await.unwrap()
    };
    assert_eq!(push(change(&s, "https://forged.example/", i64::MAX), None).await["applied"], 1);
    assert_eq!(push(change(&s, SECOND, 50), None).await["stale"], 1, "no ceiling: plain rev order");
    assert_eq!(destination(edge, "/PUSHED01").await, "https://forged.example/");
    assert_eq!(push(change(&s, SECOND, 50), Some(100)).await["applied"], 1, "the forged record is replaced");
    assert_eq!(destination(edge, "/PUSHED01").await, SECOND);
    // Within the ceiling, an older revision still never wins.
    assert_eq!(push(change(&s, "https://older.example/", 40), Some(100)).await["stale"], 1);
    assert_eq!(destination(edge, "/PUSHED01").await, SECOND);
}

/// With the isolate's event cache on (30 s), a pushed change is served at
/// once: the push drops the cached record rather than waiting out its TTL.
#[tokio::test]
async fn a_push_is_served_at_once_even_with_the_event_cache_on() {
    let s = setup(EdgeOptions { event_cache_seconds: 30, ..EdgeOptions::default() }).await;
    // The event is cached now (setup tapped once); tap again from the cache.
    assert_eq!(destination(&s.edge, "/PUSHED01").await, FIRST);
    s.edge.push_ok(change(&s, SECOND, 10)).await;
    assert_eq!(destination(&s.edge, "/PUSHED01").await, SECOND);
    s.edge.push_ok(vec![KvOp::DeleteEvent { event_id: s.ev }]).await;
    assert_eq!(
        destination(&s.edge, "/PUSHED01").await,
        "https://fallback.example/",
        "a deleted event is not served from the cache"
    );
}
