//! `POST /internal/v1/taps` against a real database: only fresh, correctly
//! signed requests are read; a batch is stored whole or not at all; every
//! tap counts exactly once however often it is delivered.

use std::sync::Arc;

use chrono::{DateTime, Duration, TimeZone, Utc};
use origin_api::clock::{Clock, ManualClock};
use serde_json::{Value, json};
use shared::signing::{MAX_SKEW_SECS, SignedHeaders};
use system_tests::db::TestDb;
use system_tests::origin::{Origin, OriginOptions};
use system_tests::taps::id_at;
use system_tests::{http, keys, unix_now};
use uuid::Uuid;

const TAPS: &str = "/internal/v1/taps";
const MIB: usize = 1 << 20;

// ---------------------------------------------------------------- helpers

/// A valid tap of `band` at `ts_ms`, as the edge sends it.
fn tap_at(band: &str, ts_ms: i64) -> Value {
    json!({
        "id": id_at(ts_ms), "band_id": band, "ts_ms": ts_ms,
        "outcome": "default", "head": false, "agent": "human", "device": "ios",
        "event_id": Uuid::now_v7(), "org_id": Uuid::now_v7(), "country": "GB", "colo": "LHR"
    })
}

/// A valid tap of `band`, now.
fn tap(band: &str) -> Value {
    tap_at(band, Utc::now().timestamp_millis())
}

/// `n` valid taps with distinct ids.
fn taps(n: usize) -> Vec<Value> {
    (0..n).map(|i| tap(&format!("BAND{i:04}"))).collect()
}

/// The JSON body of a batch.
fn batch(taps: &[Value]) -> Vec<u8> {
    serde_json::to_vec(&json!({ "taps": taps })).unwrap()
}

/// Posts `body` to the ingest endpoint with `signed` headers (none: unsigned).
async fn post(origin: &Origin, signed: Option<&SignedHeaders>, body: Vec<u8>) -> reqwest::Response {
    let mut req = http::client().post(origin.url(TAPS)).header("content-type", "application/json").body(body);
    if let Some(s) = signed {
        req = keys::apply(req, s);
    }
    req.send().await.unwrap()
}

/// Signs `body` now with the origin's signing key.
fn sign(origin: &Origin, body: &[u8]) -> SignedHeaders {
    keys::sign_now(&origin.options.keyring(), "POST", TAPS, body)
}

/// Posts `body`, freshly signed (a new nonce each time, as a redelivery would be).
async fn post_signed(origin: &Origin, body: Vec<u8>) -> reqwest::Response {
    let signed = sign(origin, &body);
    post(origin, Some(&signed), body).await
}

/// Asserts a 200 answering `{accepted, duplicates}`.
async fn expect_counts(r: reqwest::Response, accepted: u64, duplicates: u64) {
    let status = r.status();
    let text = r.text().await.unwrap();
    assert_eq!(status, 200, "{text}");
    let got: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(got, json!({ "accepted": accepted, "duplicates": duplicates }));
}

/// Asserts an error answer with `status` and `code`; returns its message.
async fn expect_error(r: reqwest::Response, status: u16, code: &str) -> String {
    let got = r.status();
    let text = r.text().await.unwrap();
    assert_eq!(got, status, "{text}");
    let body: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"));
    assert_eq!(body["error"]["code"], code, "{text}");
    body["error"]["message"].as_str().unwrap_or_default().to_string()
}

/// Rows in `tap_logs` (all partitions).
async fn stored(db: &TestDb) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM tap_logs").fetch_one(&db.pool).await.unwrap()
}

/// A fresh database and an origin on it with the real clock.
async fn start() -> (TestDb, Origin) {
    let db = TestDb::new().await;
    let origin = Origin::start(&db, OriginOptions::default()).await;
    (db, origin)
}

// ------------------------------------------------------------- signatures

/// A batch without any signature header is 401 and stores nothing.
#[tokio::test]
async fn unsigned_batch_is_refused() {
    let (db, origin) = start().await;
    let r = post(&origin, None, batch(&taps(3))).await;
    expect_error(r, 401, "unauthorized").await;
    assert_eq!(stored(&db).await, 0);
}

/// The right key id with the wrong secret is 401 and stores nothing.
#[tokio::test]
async fn wrong_secret_under_a_known_key_id_is_refused() {
    let (db, origin) = start().await;
    let key_id = origin.options.keyring().signing_key().id().to_string();
    let imposter = keys::keyring(&keys::random_key_spec(&key_id));
    let body = batch(&taps(3));
    let signed = keys::sign_now(&imposter, "POST", TAPS, &body);
    assert_eq!(signed.key_id, key_id);
    expect_error(post(&origin, Some(&signed), body).await, 401, "unauthorized").await;
    assert_eq!(stored(&db).await, 0);
}

/// A key id the origin does not know is 401 and stores nothing.
#[tokio::test]
async fn unknown_key_id_is_refused() {
    let (db, origin) = start().await;
    let stranger = keys::keyring(&keys::random_key_spec("stranger"));
    let body = batch(&taps(3));
    let signed = keys::sign_now(&stranger, "POST", TAPS, &body);
    expect_error(post(&origin, Some(&signed), body).await, 401, "unauthorized").await;
    assert_eq!(stored(&db).await, 0);
}

/// Signatures 301 s old or 301 s ahead of the origin's clock are 401; 300 s either way is accepted.
/// (A manual clock makes the boundary exact.)
#[tokio::test]
async fn signatures_outside_the_300_second_skew_are_refused() {
    let db = TestDb::new().await;
    let now = Utc.timestamp_opt(unix_now(), 0).unwrap();
    let clock = Arc::new(ManualClock::new(now));
    let origin =
        Origin::start_with_clock(&db, OriginOptions::default(), clock.clone() as Arc<dyn Clock>).await;
    let ring = origin.options.keyring();
    let t = now.timestamp();
    let ts_ms = now.timestamp_millis();

    for at in [t - (MAX_SKEW_SECS + 1), t + MAX_SKEW_SECS + 1] {
        let body = batch(&[tap_at("SKEW0001", ts_ms)]);
        let signed = keys::sign_at(&ring, "POST", TAPS, &body, at);
        let r = post(&origin, Some(&signed), body).await;
        expect_error(r, 401, "unauthorized").await;
        assert_eq!(stored(&db).await, 0, "signed at now{:+}", at - t);
    }
    for at in [t - MAX_SKEW_SECS, t + MAX_SKEW_SECS] {
        let body = batch(&[tap_at("SKEW0002", ts_ms)]);
        let signed = keys::sign_at(&ring, "POST", TAPS, &body, at);
        expect_counts(post(&origin, Some(&signed), body).await, 1, 0).await;
    }
    assert_eq!(stored(&db).await, 2);
}

/// With the real clock too: now−301 s and now+301 s are refused.
#[tokio::test]
async fn expired_and_future_signatures_are_refused() {
    let (db, origin) = start().await;
    let ring = origin.options.keyring();
    // +2 s of margin on the future side: the request must still be early when it arrives.
    for skew in [-(MAX_SKEW_SECS + 1), MAX_SKEW_SECS + 3] {
        let body = batch(&taps(2));
        let signed = keys::sign_at(&ring, "POST", TAPS, &body, unix_now() + skew);
        expect_error(post(&origin, Some(&signed), body).await, 401, "unauthorized").await;
    }
    assert_eq!(stored(&db).await, 0);
}

/// A signature made for another path, query, or method does not authorise this request.
#[tokio::test]
async fn signature_for_another_path_or_method_is_refused() {
    let (db, origin) = start().await;
    let ring = origin.options.keyring();
    for (method, target) in [
        ("POST", "/internal/v1/bands/DEMO0001"),
        ("POST", "/internal/v1/taps/"),
        ("POST", "/internal/v1/taps?dry_run=1"),
        ("POST", "/_internal/kv"),
        ("PUT", TAPS),
        ("GET", TAPS),
    ] {
        let body = batch(&taps(2));
        let signed = keys::sign_now(&ring, method, target, &body);
        let r = post(&origin, Some(&signed), body).await;
        expect_error(r, 401, "unauthorized").await;
        assert_eq!(stored(&db).await, 0, "signed as {method} {target}");
    }
}

/// A valid request sent twice verbatim: the second is 401 and adds nothing.
#[tokio::test]
async fn replayed_request_is_refused() {
    let (db, origin) = start().await;
    let body = batch(&taps(4));
    let signed = sign(&origin, &body);
    expect_counts(post(&origin, Some(&signed), body.clone()).await, 4, 0).await;
    assert_eq!(stored(&db).await, 4);
    expect_error(post(&origin, Some(&signed), body.clone()).await, 401, "unauthorized").await;
    assert_eq!(stored(&db).await, 4);

    // Replaying the headers with another (new) batch is refused just the same.
    let other = batch(&taps(4));
    let mut resigned = sign(&origin, &other);
    resigned.nonce = signed.nonce.clone();
    expect_error(post(&origin, Some(&resigned), other).await, 401, "unauthorized").await;
    assert_eq!(stored(&db).await, 4);
}

/// A body changed after signing is 401 (hash checked after reading), and nothing is stored.
#[tokio::test]
async fn tampered_body_is_refused() {
    let (db, origin) = start().await;
    let signed_taps = taps(2);
    let body = batch(&signed_taps);
    let signed = sign(&origin, &body);

    // Same length, one byte different.
    let mut flipped = body.clone();
    let at = flipped.iter().position(|b| *b == b'G').unwrap(); // the "GB" country
    flipped[at] = b'F';
    expect_error(post(&origin, Some(&signed), flipped).await, 401, "unauthorized").await;

    // A whole extra tap appended.
    let mut more = signed_taps.clone();
    more.push(tap("EXTRA001"));
    expect_error(post(&origin, Some(&sign(&origin, &body)), batch(&more)).await, 401, "unauthorized").await;

    // Signed content hash swapped for the tampered body's (the HMAC no longer matches).
    let mut swapped = sign(&origin, &body);
    swapped.content_sha256 = shared::signing::body_sha256_hex(&batch(&more));
    expect_error(post(&origin, Some(&swapped), batch(&more)).await, 401, "unauthorized").await;

    assert_eq!(stored(&db).await, 0);
}

/// Any missing or malformed signature header is 401 and stores nothing.
#[tokio::test]
async fn malformed_signature_headers_are_refused() {
    let (db, origin) = start().await;
    type Mangle = fn(&mut SignedHeaders);
    let cases: Vec<(&str, Mangle)> = vec![
        ("signature not hex", |s| s.signature = "zz".repeat(32)),
        ("signature too short", |s| s.signature.truncate(62)),
        ("signature empty", |s| s.signature.clear()),
        ("signature one digit off", |s| {
            let first = if s.signature.starts_with('0') { "1" } else { "0" };
            s.signature.replace_range(0..1, first);
        }),
        ("timestamp changed", |s| s.timestamp -= 1),
        ("nonce too short", |s| s.nonce = "abc".into()),
        ("nonce with spaces", |s| s.nonce = "has spaces in it, 123456".into()),
        ("content hash not hex", |s| s.content_sha256 = "zz".into()),
        ("key id empty", |s| s.key_id.clear()),
    ];
    for (what, mangle) in cases {
        let body = batch(&taps(2));
        let mut signed = sign(&origin, &body);
        mangle(&mut signed);
        expect_error(post(&origin, Some(&signed), body).await, 401, "unauthorized").await;
        assert_eq!(stored(&db).await, 0, "{what}");
    }

    // Each header missing in turn.
    for missing in 0..5 {
        let body = batch(&taps(2));
        let signed = sign(&origin, &body);
        let mut req = http::client().post(origin.url(TAPS)).body(body);
        for (i, (name, value)) in signed.pairs().into_iter().enumerate() {
            if i != missing {
                req = req.header(name, value);
            }
        }
        let r = req.send().await.unwrap();
        expect_error(r, 401, "unauthorized").await;
        assert_eq!(stored(&db).await, 0, "header #{missing} missing");
    }

    // A non-numeric timestamp (sent raw: `SignedHeaders` holds a number).
    let body = batch(&taps(2));
    let signed = sign(&origin, &body);
    let mut req = http::client().post(origin.url(TAPS)).body(body);
    for (name, value) in signed.pairs() {
        let value = if name == "x-sm-timestamp" { "soon".to_string() } else { value };
        req = req.header(name, value);
    }
    expect_error(req.send().await.unwrap(), 401, "unauthorized").await;
    assert_eq!(stored(&db).await, 0);
}

/// Authentication comes before the size check: an unsigned 2 MiB body is 401, not 413.
#[tokio::test]
async fn unsigned_oversized_body_is_refused_as_unauthorised() {
    let (db, origin) = start().await;
    let r = post(&origin, None, vec![b' '; 2 * MIB]).await;
    expect_error(r, 401, "unauthorized").await;
    assert_eq!(stored(&db).await, 0);
}

/// A signed body over 1 MiB is 413 `body_too_large`; exactly 1 MiB is read.
#[tokio::test]
async fn signed_body_over_one_mebibyte_is_413() {
    let (db, origin) = start().await;
    let pad = |n: usize| {
        let mut body = batch(&taps(3));
        body.resize(n, b' ');
        body
    };
    let r = post_signed(&origin, pad(MIB + 1)).await;
    expect_error(r, 413, "body_too_large").await;
    let r = post_signed(&origin, pad(2 * MIB)).await;
    expect_error(r, 413, "body_too_large").await;
    assert_eq!(stored(&db).await, 0);

    expect_counts(post_signed(&origin, pad(MIB)).await, 3, 0).await;
    assert_eq!(stored(&db).await, 3);
}

// --------------------------------------------------------------- rotation

/// During a rotation (`SIGNING_KEYS=new,old`) batches signed with either key are stored.
#[tokio::test]
async fn both_keys_are_accepted_during_a_rotation() {
    let db = TestDb::new().await;
    let new = keys::random_key_spec("new");
    let old = keys::random_key_spec("old");
    let origin =
        Origin::start(&db, OriginOptions { signing_keys: format!("{new},{old}"), ..Default::default() })
            .await;
    for spec in [&old, &new] {
        let body = batch(&taps(2));
        let signed = keys::sign_now(&keys::keyring(spec), "POST", TAPS, &body);
        expect_counts(post(&origin, Some(&signed), body).await, 2, 0).await;
    }
    assert_eq!(stored(&db).await, 4);

    // A key outside the ring still is not.
    let body = batch(&taps(2));
    let signed = keys::sign_now(&keys::keyring(&keys::random_key_spec("older")), "POST", TAPS, &body);
    expect_error(post(&origin, Some(&signed), body).await, 401, "unauthorized").await;
    assert_eq!(stored(&db).await, 4);
}

// ----------------------------------------------------------------- bodies

/// Bodies that are not a tap batch are 400 `malformed`.
#[tokio::test]
async fn malformed_bodies_are_400() {
    let (db, origin) = start().await;
    for body in [&b"{not json"[..], br#"{"taps": 5}"#, b"[]", b"{}", b"", br#"{"taps": [1, 2"#] {
        let r = post_signed(&origin, body.to_vec()).await;
        expect_error(r, 400, "malformed").await;
    }
    assert_eq!(stored(&db).await, 0);
}

/// 1001 taps are 413 `too_many_taps` and none is stored.
#[tokio::test]
async fn more_than_1000_taps_are_refused() {
    let (db, origin) = start().await;
    let r = post_signed(&origin, batch(&taps(1001))).await;
    let message = expect_error(r, 413, "too_many_taps").await;
    assert!(message.contains("1001"), "{message}");
    assert_eq!(stored(&db).await, 0);
}

/// Exactly 1000 taps are accepted and stored.
#[tokio::test]
async fn exactly_1000_taps_are_accepted() {
    let (db, origin) = start().await;
    expect_counts(post_signed(&origin, batch(&taps(1000))).await, 1000, 0).await;
    assert_eq!(stored(&db).await, 1000);
}

/// An empty batch is fine and stores nothing.
#[tokio::test]
async fn empty_batch_is_accepted() {
    let (db, origin) = start().await;
    expect_counts(post_signed(&origin, batch(&[])).await, 0, 0).await;
    assert_eq!(stored(&db).await, 0);
}

/// One bad tap (third of five) makes the whole batch 422 `invalid_tap`, naming `taps[2]`,
/// and nothing of the batch is stored — for every kind of bad tap.
#[tokio::test]
async fn one_invalid_tap_refuses_the_whole_batch_and_names_it() {
    let (db, origin) = start().await;
    let now_ms = Utc::now().timestamp_millis();
    type Spoil = fn(&mut Value, i64);
    let spoilers: Vec<(&str, Spoil)> = vec![
        ("band id with a path", |t, _| t["band_id"] = json!("../x")),
        ("band id too short", |t, _| t["band_id"] = json!("ab")),
        ("UUIDv4 id", |t, _| t["id"] = json!(Uuid::new_v4())),
        ("id not a UUID", |t, _| t["id"] = json!("tap-1")),
        ("ts_ms a day ahead", |t, now| {
            t["id"] = json!(id_at(now + 86_400_000));
            t["ts_ms"] = json!(now + 86_400_000);
        }),
        ("ts_ms before 2024", |t, _| {
            t["id"] = json!(id_at(shared::tap::EARLIEST_TS_MS - 1));
            t["ts_ms"] = json!(shared::tap::EARLIEST_TS_MS - 1);
        }),
        ("id time differs from ts_ms", |t, now| t["ts_ms"] = json!(now - 1)),
        ("lower-case country", |t, _| t["country"] = json!("gb")),
        ("three-letter country", |t, _| t["country"] = json!("GBR")),
        ("lower-case colo", |t, _| t["colo"] = json!("lhr")),
        ("event_id without org_id", |t, _| {
            t.as_object_mut().unwrap().remove("org_id");
        }),
        ("org_id without event_id", |t, _| {
            t.as_object_mut().unwrap().remove("event_id");
        }),
        ("unknown device", |t, _| t["device"] = json!("toaster")),
        ("missing agent", |t, _| {
            t.as_object_mut().unwrap().remove("agent");
        }),
        ("not an object", |t, _| *t = json!("tap")),
    ];
    for (what, spoil) in spoilers {
        let mut items = taps(5);
        spoil(&mut items[2], now_ms);
        let r = post_signed(&origin, batch(&items)).await;
        let message = expect_error(r, 422, "invalid_tap").await;
        assert!(message.starts_with("taps[2]:"), "{what}: {message}");
        assert_eq!(stored(&db).await, 0, "{what}: nothing of the batch may be stored");
    }

    // With several bad taps, the first one is named.
    let mut items = taps(6);
    items[4]["country"] = json!("gb");
    items[2]["id"] = json!(Uuid::new_v4());
    let message = expect_error(post_signed(&origin, batch(&items)).await, 422, "invalid_tap").await;
    assert!(message.starts_with("taps[2]:"), "{message}");
    assert_eq!(stored(&db).await, 0);
}

/// Tap times are checked against the origin's clock: from 2024-01-01T00:00:00Z up to
/// 5 minutes ahead, both ends inclusive; one millisecond outside either end is 422.
#[tokio::test]
async fn tap_time_bounds_follow_the_origin_clock() {
    let db = TestDb::new().await;
    let now = Utc.timestamp_opt(unix_now(), 0).unwrap();
    let clock = Arc::new(ManualClock::new(now));
    let origin =
        Origin::start_with_clock(&db, OriginOptions::default(), clock.clone() as Arc<dyn Clock>).await;
    let ring = origin.options.keyring();
    let send = |items: Vec<Value>| {
        let body = batch(&items);
        let signed = keys::sign_at(&ring, "POST", TAPS, &body, now.timestamp());
        let origin = &origin;
        async move { post(origin, Some(&signed), body).await }
    };
    let latest = now.timestamp_millis() + shared::tap::MAX_FUTURE_SKEW_MS;
    let earliest = shared::tap::EARLIEST_TS_MS;

    for ts in [latest + 1, earliest - 1] {
        let message = expect_error(send(vec![tap_at("TIME0001", ts)]).await, 422, "invalid_tap").await;
        assert!(message.starts_with("taps[0]:"), "{message}");
    }
    assert_eq!(stored(&db).await, 0);
    expect_counts(send(vec![tap_at("TIME0002", latest), tap_at("TIME0003", earliest)]).await, 2, 0).await;
    assert_eq!(stored(&db).await, 2);
}

// ---------------------------------------------------- exactly-once counting

/// An id repeated inside one batch is stored and counted once; the repeats are duplicates.
#[tokio::test]
async fn duplicate_ids_within_a_batch_count_once() {
    let (db, origin) = start().await;
    let (a, b, c) = (tap("DUPL0001"), tap("DUPL0002"), tap("DUPL0003"));
    let items = vec![a.clone(), b.clone(), a.clone(), c, a, b];
    expect_counts(post_signed(&origin, batch(&items)).await, 3, 3).await;
    assert_eq!(stored(&db).await, 3);
}

/// The same batch delivered three times (fresh signatures, as the queue retries) counts once.
#[tokio::test]
async fn redelivered_batch_counts_once() {
    let (db, origin) = start().await;
    let n = 57;
    let body = batch(&taps(n));
    expect_counts(post_signed(&origin, body.clone()).await, n as u64, 0).await;
    expect_counts(post_signed(&origin, body.clone()).await, 0, n as u64).await;
    expect_counts(post_signed(&origin, body).await, 0, n as u64).await;
    assert_eq!(stored(&db).await, n as i64);
}

/// Batches that overlap across requests store each tap once.
#[tokio::test]
async fn overlapping_batches_count_each_tap_once() {
    let (db, origin) = start().await;
    let all = taps(15);
    expect_counts(post_signed(&origin, batch(&all[0..10])).await, 10, 0).await;
    expect_counts(post_signed(&origin, batch(&all[5..15])).await, 5, 5).await;
    expect_counts(post_signed(&origin, batch(&all[3..13])).await, 0, 10).await;
    assert_eq!(stored(&db).await, 15);
}

/// The same batch delivered concurrently (several consumers racing) is still stored once,
/// and the `accepted` counts of the racing answers add up to the batch size.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_redeliveries_count_once() {
    let (db, origin) = start().await;
    let n = 200u64;
    let body = batch(&taps(n as usize));
    let mut racers = tokio::task::JoinSet::new();
    for _ in 0..6 {
        let (url, ring, body) = (origin.url(TAPS), origin.options.keyring(), body.clone());
        racers.spawn(async move {
            let signed = keys::sign_now(&ring, "POST", TAPS, &body);
            let r = keys::apply(http::client().post(url), &signed).body(body).send().await.unwrap();
            assert_eq!(r.status(), 200);
            r.json::<shared::TapBatchResult>().await.unwrap()
        });
    }
    let results = racers.join_all().await;
    assert_eq!(results.iter().map(|r| r.accepted).sum::<u64>(), n, "{results:?}");
    assert!(results.iter().all(|r| r.accepted + r.duplicates == n), "{results:?}");
    assert_eq!(stored(&db).await, n as i64);
}

/// Taps older than every day partition (200 days ago, after 2024-01-01) are not refused:
/// they land in `tap_logs_default`, and redelivering them still counts once.
#[tokio::test]
async fn taps_outside_the_day_partitions_land_in_the_default_partition_once() {
    let (db, origin) = start().await;
    let old = Utc::now() - Duration::days(200);
    assert!(old.timestamp_millis() > shared::tap::EARLIEST_TS_MS, "test assumes a clock after mid-2024");
    let partition = format!("tap_logs_p{}", old.format("%Y%m%d"));
    let exists: bool = sqlx::query_scalar("SELECT to_regclass($1) IS NOT NULL")
        .bind(&partition)
        .fetch_one(&db.pool)
        .await
        .unwrap();
    assert!(!exists, "{partition} should not exist in a fresh database");

    let old_taps: Vec<Value> =
        (0..3).map(|i| tap_at(&format!("OLD{i:05}"), old.timestamp_millis() + i)).collect();
    let today = tap("NEW00001");
    let mut items = old_taps.clone();
    items.push(today.clone());
    expect_counts(post_signed(&origin, batch(&items)).await, 4, 0).await;
    expect_counts(post_signed(&origin, batch(&items)).await, 0, 4).await;
    expect_counts(post_signed(&origin, batch(&old_taps)).await, 0, 3).await;
    assert_eq!(stored(&db).await, 4);

    let in_default: i64 =
        sqlx::query_scalar("SELECT count(*) FROM tap_logs_default").fetch_one(&db.pool).await.unwrap();
    assert_eq!(in_default, 3);
    let today_partition: String =
        sqlx::query_scalar("SELECT tableoid::regclass::text FROM tap_logs WHERE id = $1::text::uuid")
            .bind(today["id"].as_str().unwrap())
            .fetch_one(&db.pool)
            .await
            .unwrap();
    assert_eq!(today_partition, format!("tap_logs_p{}", Utc::now().format("%Y%m%d")));
}

// ----------------------------------------------------------- stored values

type Row = (
    Uuid,
    String,
    Option<Uuid>,
    Option<Uuid>,
    DateTime<Utc>,
    String,
    bool,
    String,
    String,
    Option<String>,
    Option<String>,
);

/// The stored columns of tap `id`.
async fn row(db: &TestDb, id: Uuid) -> Row {
    sqlx::query_as(
        "SELECT id, band_id, event_id, org_id, tapped_at, outcome, head, agent, device, country, colo
         FROM tap_logs WHERE id = $1",
    )
    .bind(id)
    .fetch_one(&db.pool)
    .await
    .unwrap()
}

/// Every field of a tap is stored as sent: canonical (upper-case) band id, ids,
/// millisecond-exact time, outcome, flags, device, country, colo; absent optionals are NULL.
#[tokio::test]
async fn stored_rows_hold_the_tap_exactly() {
    let (db, origin) = start().await;
    let ts_ms = Utc::now().timestamp_millis() / 1000 * 1000 - 60_000 + 789; // a non-zero millisecond part
    let (id, event, org) = (id_at(ts_ms), Uuid::now_v7(), Uuid::now_v7());
    let full = json!({
        "id": id, "band_id": "demo-0001_x", "event_id": event, "org_id": org, "ts_ms": ts_ms,
        "outcome": "window", "head": true, "agent": "previewer", "device": "android",
        "country": "DE", "colo": "FRA"
    });
    let bare_id = id_at(ts_ms + 1);
    let bare = json!({
        "id": bare_id, "band_id": "Bare0001", "ts_ms": ts_ms + 1,
        "outcome": "unknown_band", "agent": "bot", "device": "other"
    });
    expect_counts(post_signed(&origin, batch(&[full, bare])).await, 2, 0).await;

    let at = DateTime::from_timestamp_millis(ts_ms).unwrap();
    assert_eq!(
        row(&db, id).await,
        (
            id,
            "DEMO-0001_X".to_string(),
            Some(event),
            Some(org),
            at,
            "window".to_string(),
            true,
            "previewer".to_string(),
            "android".to_string(),
            Some("DE".to_string()),
            Some("FRA".to_string()),
        )
    );
    assert_eq!(
        row(&db, bare_id).await,
        (
            bare_id,
            "BARE0001".to_string(),
            None,
            None,
            at + Duration::milliseconds(1),
            "unknown_band".to_string(),
            false,
            "bot".to_string(),
            "other".to_string(),
            None,
            None,
        )
    );
}

/// A tap's time is bound to its id (UUIDv7), so the same id can never be
/// stored twice under two times: re-sending it with another `ts_ms` is 422.
#[tokio::test]
async fn a_tap_id_cannot_be_stored_under_two_times() {
    let (db, origin) = start().await;
    let ts = Utc::now().timestamp_millis();
    let first = tap_at("ONCE0001", ts);
    expect_counts(post_signed(&origin, batch(std::slice::from_ref(&first))).await, 1, 0).await;
    let mut moved = first.clone();
    moved["ts_ms"] = json!(ts + 1);
    let message = expect_error(post_signed(&origin, batch(&[moved])).await, 422, "invalid_tap").await;
    assert!(message.contains("embed ts_ms"), "{message}");
    assert_eq!(stored(&db).await, 1);
}
