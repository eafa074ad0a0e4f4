//! Rate limits on real Redis: one budget per user (reads and writes apart)
//! and per client IP for anonymous callers, shared by two origin instances;
//! `429` with an honest `Retry-After` and `RateLimit-*` headers; and a Redis
//! outage degrading to per-instance limits instead of failing requests.

use std::time::Duration;

use serde_json::{Value, json};
use system_tests::api::ApiClient;
use system_tests::db::TestDb;
use system_tests::origin::{Origin, OriginOptions};
use system_tests::world::{self, PASSWORD, World};
use system_tests::{http, ports};

fn redis_url() -> String {
    std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379/".into())
}

/// Options for instances sharing Redis under a prefix of this test's own.
fn shared(extra: &[(&'static str, &str)]) -> OriginOptions {
    let mut options = OriginOptions::default();
    options.extra.push(("REDIS_URL", redis_url()));
    options.extra.push(("REDIS_PREFIX", format!("sm:test:{}", uuid::Uuid::new_v4().simple())));
    options.extra.extend(extra.iter().map(|(k, v)| (*k, v.to_string())));
    options
}

fn header(a: &system_tests::api::Answer, name: &str) -> Option<String> {
    a.headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_string)
}

async fn two_instances(options: OriginOptions) -> (TestDb, Origin, Origin, World) {
    let db = TestDb::new().await;
    let one = Origin::start(&db, options.clone()).await;
    let two = Origin::start(&db, options).await;
    let w = world::build(one.domain()).await;
    (db, one, two, w)
}

fn on(client: &ApiClient, origin: &Origin) -> ApiClient {
    let mut moved = client.clone();
    moved.base = origin.url.clone();
    moved
}

#[tokio::test]
async fn a_users_budget_is_shared_by_two_instances_and_reads_and_writes_are_apart() {
    let (_db, one, two, w) =
        two_instances(shared(&[("RATE_LIMIT_READ", "5/60s"), ("RATE_LIMIT_WRITE", "2/60s")])).await;
    let mut alice = ApiClient::new(&one.url);
    assert_eq!(alice.login(&w.customer_a.1, PASSWORD).await.status, 200);
    let instances = [on(&alice, &one), on(&alice, &two)];
    for i in 0..5u32 {
        let r = instances[i as usize % 2].get("/api/v1/me").await;
        assert_eq!(r.status, 200, "read {i}");
        assert_eq!(header(&r, "ratelimit-limit").as_deref(), Some("5"));
        assert_eq!(header(&r, "ratelimit-remaining"), Some((4 - i).to_string()), "read {i}");
        assert_eq!(header(&r, "ratelimit-policy").as_deref(), Some("5;w=60"));
    }
    for client in &instances {
        let r = client.get("/api/v1/me").await;
        assert_eq!(r.status, 429, "the sixth read, on either instance");
        assert_eq!(r.code(), "rate_limited");
        let retry: u64 = header(&r, "retry-after").expect("Retry-After").parse().expect("seconds");
        assert!((1..=12).contains(&retry), "one request comes back within 60 s / 5: {retry}");
        assert_eq!(header(&r, "ratelimit-remaining").as_deref(), Some("0"));
    }
    // Writes draw from their own budget.
    let event = format!("/api/v1/events/{}", w.event_a);
    assert_eq!(instances[1].patch(&event, json!({ "name": "Still writable" })).await.status, 200);
    assert_eq!(instances[0].patch(&event, json!({ "name": "Twice" })).await.status, 200);
    assert_eq!(instances[1].patch(&event, json!({ "name": "Thrice" })).await.status, 429);
    // Someone else is not affected.
    let mut bob = ApiClient::new(&two.url);
    bob.login(&w.customer_b.1, PASSWORD).await;
    assert_eq!(bob.get("/api/v1/me").await.status, 200);
}

#[tokio::test]
async fn anonymous_callers_are_limited_per_client_ip_across_instances() {
    let mut options = shared(&[("RATE_LIMIT_ANONYMOUS", "3/60s")]);
    options.trusted_proxy = Some(("127.0.0.1/32".into(), "x-forwarded-for".into()));
    let (_db, one, two, _w) = two_instances(options).await;
    let get = |origin: &Origin, ip: &'static str| {
        let url = origin.url("/login");
        async move { http::client().get(url).header("x-forwarded-for", ip).send().await.unwrap() }
    };
    for origin in [&one, &two, &one] {
        assert_eq!(get(origin, "203.0.113.5").await.status(), 200);
    }
    let refused = get(&two, "203.0.113.5").await;
    assert_eq!(refused.status(), 429, "the fourth request from that IP");
    assert!(refused.headers().contains_key("retry-after"));
    let page = refused.text().await.unwrap();
    assert!(page.contains("Slow down"), "browsers get a page: {page}");
    assert_eq!(get(&one, "203.0.113.6").await.status(), 200, "another IP has its own budget");
    // Probes are never limited.
    for _ in 0..5 {
        let r = http::client()
            .get(one.url("/healthz"))
            .header("x-forwarded-for", "203.0.113.5")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
    }
    let ready: Value = http::client().get(two.url("/readyz")).send().await.unwrap().json().await.unwrap();
    assert_eq!(ready["redis"], "ok");
}

#[tokio::test]
async fn retry_after_says_when_a_request_fits_again() {
    let (_db, one, _two, w) = two_instances(shared(&[("RATE_LIMIT_READ", "2/2s")])).await;
    let mut alice = ApiClient::new(&one.url);
    alice.login(&w.customer_a.1, PASSWORD).await;
    assert_eq!(alice.get("/api/v1/me").await.status, 200);
    assert_eq!(alice.get("/api/v1/me").await.status, 200);
    let refused = alice.get("/api/v1/me").await;
    assert_eq!(refused.status, 429);
    let retry: u64 = header(&refused, "retry-after").unwrap().parse().unwrap();
    assert_eq!(retry, 1, "one request per second refills");
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(alice.get("/api/v1/me").await.status, 200, "after Retry-After the request fits");
    assert_eq!(alice.get("/api/v1/me").await.status, 429, "and only one");
}

#[tokio::test]
async fn a_redis_outage_degrades_to_per_instance_limits_without_failing_requests() {
    let closed = format!("redis://127.0.0.1:{}/", ports::free_port());
    let mut options = OriginOptions::default();
    options.extra.push(("REDIS_URL", closed));
    options.extra.push(("RATE_LIMIT_READ", "3/60s".into()));
    let (_db, one, two, w) = two_instances(options).await;
    let mut alice = ApiClient::new(&one.url);
    assert_eq!(alice.login(&w.customer_a.1, PASSWORD).await.status, 200, "sign-in works without Redis");
    let (a1, a2) = (on(&alice, &one), on(&alice, &two));
    for _ in 0..3 {
        assert_eq!(a1.get("/api/v1/me").await.status, 200);
    }
    assert_eq!(a1.get("/api/v1/me").await.status, 429, "still limited, by this instance");
    assert_eq!(a2.get("/api/v1/me").await.status, 200, "each instance keeps its own budget meanwhile");
    let r = http::client().get(one.url("/readyz")).send().await.unwrap();
    assert_eq!(r.status(), 200, "a Redis outage does not take the service out of rotation");
    let body: Value = r.json().await.unwrap();
    assert!(body["redis"].as_str().unwrap().starts_with("degraded"), "{body}");
}

/// Requests refused for want of a valid session spend the client IP's budget
/// too: guessing cookies or replaying a revoked token is not free.
#[tokio::test]
async fn refused_unauthenticated_requests_are_limited_per_client_ip() {
    let mut options = shared(&[("RATE_LIMIT_ANONYMOUS", "3/60s")]);
    options.trusted_proxy = Some(("127.0.0.1/32".into(), "x-forwarded-for".into()));
    let (_db, one, two, _w) = two_instances(options).await;
    let get = |origin: &Origin, path: &str, ip: &'static str, cookie: &'static str| {
        let url = origin.url(path);
        async move {
            http::client()
                .get(url)
                .header("x-forwarded-for", ip)
                .header("cookie", cookie)
                .send()
                .await
                .unwrap()
        }
    };
    let guesses = ["sm_session=guess1", "sm_session=eyJhbGciOiJIUzI1NiJ9.e30.x", "", "sm_session=guess4"];
    for cookie in &guesses[..3] {
        assert_eq!(get(&one, "/api/v1/events", "203.0.113.7", cookie).await.status(), 401);
    }
    let refused = get(&two, "/api/v1/events", "203.0.113.7", guesses[3]).await;
    assert_eq!(refused.status(), 429, "the fourth refused request from that IP, on the other instance");
    assert!(refused.headers().contains_key("retry-after"));
    assert!(refused.headers().contains_key("ratelimit-policy"));
    // Pages too: the sign-in redirect is no longer given.
    assert_eq!(get(&one, "/events", "203.0.113.7", "").await.status(), 429);
    // Another IP still gets its honest 401.
    assert_eq!(get(&one, "/api/v1/events", "203.0.113.8", "").await.status(), 401);
}
