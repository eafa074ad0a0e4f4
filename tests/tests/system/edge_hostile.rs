//! Hostile input: every request gets a clean 3xx/4xx, never a 5xx or a hang.

use std::time::Duration;

use system_tests::edge::{Edge, EdgeOptions};
use system_tests::http;

fn clean(status: u16) -> bool {
    (300..500).contains(&status)
}

#[tokio::test]
async fn hostile_paths_queries_headers_and_bodies_get_clean_answers() {
    let edge = Edge::start(EdgeOptions::default()).await;
    let client = http::client();
    let long_query = format!("/DEMO0001?{}", "q=".repeat(5_000));
    let long_path = format!("/{}", "A".repeat(10_000));
    let paths = [
        long_path.as_str(),
        "/../../etc/passwd",
        "/..%2F..%2Fetc%2Fpasswd",
        "/DEMO%2F0001",
        "/DEMO%2f0001",
        "/%2e%2e/DEMO0001",
        "/DEMO0001%00",
        "/%00",
        "/DÉMO0001",
        "/%E2%80%AEDEMO0001",
        "/ＤＥＭＯ０００１",
        "/DEMO0001;jsessionid=1",
        "/DEMO0001%0d%0aSet-Cookie:%20x=1",
        "/DEMO0001#frag",
        "//evil.example/DEMO0001",
        "/_internal/kv/../DEMO0001",
        long_query.as_str(),
    ];
    for path in paths {
        let r = client.get(edge.url(path)).send().await.unwrap_or_else(|e| panic!("{path}: {e}"));
        let status = r.status().as_u16();
        assert!(clean(status), "{path} -> {status}");
        if let Some(loc) = r.headers().get("location") {
            let loc = loc.to_str().unwrap();
            assert!(
                loc.starts_with("https://") && !loc.contains('\n') && !loc.contains("evil"),
                "{path} -> {loc}"
            );
            assert!(!loc.contains('?'), "query never forwarded: {loc}");
        }
        assert!(r.headers().get("set-cookie").is_none(), "{path}");
    }
    // Huge header, many headers, body on GET, odd content types.
    let r =
        client.get(edge.url("/DEMO0001")).header("user-agent", "x".repeat(16 * 1024)).send().await.unwrap();
    assert!(clean(r.status().as_u16()), "huge UA -> {}", r.status());
    let mut req = client.get(edge.url("/DEMO0001"));
    for i in 0..90 {
        req = req.header(format!("x-junk-{i}"), "y".repeat(100));
    }
    let r = req.send().await.unwrap();
    assert!(clean(r.status().as_u16()), "many headers -> {}", r.status());
    let r = client.get(edge.url("/DEMO0001")).body(vec![0u8; 256 * 1024]).send().await.unwrap();
    assert!(clean(r.status().as_u16()), "body on GET -> {}", r.status());
    let r = client.post(edge.url("/_internal/kv")).body(vec![0xffu8; 64 * 1024]).send().await.unwrap();
    assert_eq!(r.status(), 401);
    // The worker is still healthy afterwards (no isolate crash).
    let r = client.get(edge.url("/healthz")).timeout(Duration::from_secs(5)).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(!edge.log().contains("panicked"), "no panic in the worker log");
}
