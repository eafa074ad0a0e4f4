//! Smoke: the origin starts on a fresh database, accepts a signed batch, and
//! the CLI creates an org/event/window/bands.

use system_tests::db::TestDb;
use system_tests::origin::{Origin, OriginOptions, cli, succeeded};
use system_tests::{http, keys};

#[tokio::test]
async fn origin_ingests_a_signed_batch_and_the_cli_sets_up_an_event() {
    let db = TestDb::new().await;
    let origin = Origin::start(&db, OriginOptions::default()).await;
    let now_ms = chrono::Utc::now().timestamp_millis();
    let tap = serde_json::json!({
        "id": system_tests::taps::id_at(now_ms), "band_id": "DEMO0001", "ts_ms": now_ms,
        "outcome": "unknown_band", "head": false, "agent": "human", "device": "ios"
    });
    let body = serde_json::to_vec(&serde_json::json!({ "taps": [tap] })).unwrap();
    let signed = keys::sign_now(&origin.options.keyring(), "POST", "/internal/v1/taps", &body);
    let r = keys::apply(http::client().post(origin.url("/internal/v1/taps")), &signed)
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.json::<serde_json::Value>().await.unwrap(),
        serde_json::json!({"accepted": 1, "duplicates": 0})
    );

    let opts = &origin.options;
    let (code, out) = cli(&db, opts, &["org", "create", "--name", "Demo Org"]).await;
    assert!(succeeded(code), "{out}");
    let org = out.split('\t').next().unwrap().trim().to_string();
    let (code, out) = cli(
        &db,
        opts,
        &[
            "event",
            "create",
            "--org",
            &org,
            "--name",
            "Demo",
            "--default-url",
            "https://example.com/sparkmotion-demo",
        ],
    )
    .await;
    assert!(succeeded(code), "{out}");
    let event = out.trim().to_string();
    let (code, out) = cli(
        &db,
        opts,
        &[
            "event",
            "window",
            "add",
            &event,
            "--starts-at",
            "2026-01-01T00:00:00Z",
            "--ends-at",
            "2026-01-02T00:00:00Z",
            "--url",
            "https://example.com/live",
        ],
    )
    .await;
    assert!(succeeded(code), "{out}");
    let csv = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(csv.path(), "band_id,label\nDEMO0001,Gate A\nDEMO0002,Gate B\n").unwrap();
    let (code, out) =
        cli(&db, opts, &["bands", "import", "--event", &event, "--csv", csv.path().to_str().unwrap()]).await;
    assert!(succeeded(code), "{out}");
    assert!(out.contains("imported 2 bands"));
    let (code, out) = cli(&db, opts, &["audit", "verify"]).await;
    assert!(succeeded(code), "{out}");
    assert!(out.contains("4 rows verified"), "{out}");
    let pending: i64 = sqlx::query_scalar("SELECT count(*) FROM kv_outbox WHERE done_at IS NULL")
        .fetch_one(&db.pool)
        .await
        .unwrap();
    assert_eq!(pending, 4, "event create, window add, two bands");
}

/// `/readyz` is 200 on a migrated database, and 503 naming the reason when the
/// schema is not this binary's (here: a newer migration applied by a newer release).
#[tokio::test]
async fn readiness_follows_the_database_schema() {
    let db = TestDb::new().await;
    let origin = Origin::start(&db, OriginOptions::default()).await;
    let r = http::client().get(origin.url("/readyz")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<serde_json::Value>().await.unwrap()["status"], "ready");
    sqlx::query(
        "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time)
         VALUES (99990101000000, 'from the future', true, '\\x00', 0)",
    )
    .execute(&db.pool)
    .await
    .unwrap();
    let r = http::client().get(origin.url("/readyz")).send().await.unwrap();
    assert_eq!(r.status(), 503);
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["status"], "not_ready");
    assert!(body["reason"].as_str().unwrap().contains("99990101000000"), "{body}");
    // Liveness is not readiness: the process is still up.
    assert_eq!(http::client().get(origin.url("/healthz")).send().await.unwrap().status(), 200);
}

/// `/metrics` exists only with `METRICS_TOKEN`, answers only to it, and reports
/// requests by route (never concrete paths), ingested taps, the outbox backlog
/// and the last retention run.
#[tokio::test]
async fn metrics_are_protected_and_report_routes_taps_backlog_and_retention() {
    let db = TestDb::new().await;
    let token = "m".repeat(12) + &uuid::Uuid::new_v4().simple().to_string();
    let mut options = OriginOptions::default();
    options.extra.push(("METRICS_TOKEN", token.clone()));
    let origin = Origin::start(&db, options.clone()).await;
    let scrape = |auth: Option<String>| {
        let url = origin.url("/metrics");
        async move {
            let mut req = http::client().get(url);
            if let Some(a) = auth {
                req = req.header("authorization", a);
            }
            let r = req.send().await.unwrap();
            (r.status().as_u16(), r.text().await.unwrap())
        }
    };
    assert_eq!(scrape(None).await.0, 401);
    assert_eq!(scrape(Some(format!("Bearer {token}x"))).await.0, 401);
    assert_eq!(scrape(Some(token.clone())).await.0, 401, "the Bearer scheme is required");

    let now_ms = chrono::Utc::now().timestamp_millis();
    let body = serde_json::to_vec(&serde_json::json!({ "taps": [{
        "id": system_tests::taps::id_at(now_ms), "band_id": "METRIC01", "ts_ms": now_ms,
        "outcome": "unknown_band", "head": false, "agent": "human", "device": "ios"
    }] }))
    .unwrap();
    for _ in 0..2 {
        let signed = keys::sign_now(&origin.options.keyring(), "POST", "/internal/v1/taps", &body);
        let r = keys::apply(http::client().post(origin.url("/internal/v1/taps")), &signed)
            .body(body.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
    }
    let event = uuid::Uuid::now_v7();
    http::client().get(origin.url(&format!("/api/v1/events/{event}"))).send().await.unwrap();
    let (code, out) = cli(&db, &options, &["retention", "run"]).await;
    assert!(succeeded(code), "{out}");

    let (status, text) = scrape(Some(format!("Bearer {token}"))).await;
    assert_eq!(status, 200);
    for needle in [
        "sparkmotion_taps_ingested_total{result=\"accepted\"} 1",
        "sparkmotion_taps_ingested_total{result=\"duplicate\"} 1",
        "route=\"/internal/v1/taps\"",
        "route=\"/api/v1/events/{id}\"",
        "sparkmotion_kv_outbox_backlog 0",
        "sparkmotion_retention_last_run_success 1",
        "sparkmotion_http_request_duration_seconds_bucket",
    ] {
        assert!(text.contains(needle), "metrics lack {needle}:\n{text}");
    }
    assert!(!text.contains(&event.to_string()), "concrete paths never become labels");

    // Without a token configured there is no endpoint at all.
    let plain = Origin::start(&db, OriginOptions::default()).await;
    let r = http::client()
        .get(plain.url("/metrics"))
        .header("authorization", format!("Bearer {token}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
}

/// A signed call's `X-Request-Id` becomes the request's id (prefixed `edge-`);
/// an unsigned or badly signed caller, or a hostile id, gets a fresh one.
#[tokio::test]
async fn signed_edge_calls_carry_their_request_id_into_the_origin() {
    let db = TestDb::new().await;
    let origin = Origin::start(&db, OriginOptions::default()).await;
    let now_ms = chrono::Utc::now().timestamp_millis();
    let body = serde_json::to_vec(&serde_json::json!({ "taps": [{
        "id": system_tests::taps::id_at(now_ms), "band_id": "REQID001", "ts_ms": now_ms,
        "outcome": "unknown_band", "head": false, "agent": "human", "device": "ios"
    }] }))
    .unwrap();
    let post = |ring: shared::Keyring, id: &'static str| {
        let (url, body) = (origin.url("/internal/v1/taps"), body.clone());
        async move {
            let signed = keys::sign_now(&ring, "POST", "/internal/v1/taps", &body);
            let r = keys::apply(http::client().post(url), &signed)
                .header("x-request-id", id)
                .body(body)
                .send()
                .await
                .unwrap();
            r.headers()
                .get("x-request-id")
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
                .unwrap_or_default()
        }
    };
    assert_eq!(post(origin.options.keyring(), "batch-1f2e3d").await, "edge-batch-1f2e3d");
    let forged = keys::keyring(&keys::random_key_spec("sig1"));
    let id = post(forged, "batch-forged").await;
    assert!(
        !id.contains("forged") && uuid::Uuid::parse_str(&id).is_ok(),
        "an unsigned caller's id is not taken: {id}"
    );
    let id = post(origin.options.keyring(), "a\\u{0}b").await;
    assert!(uuid::Uuid::parse_str(&id).is_ok(), "a hostile id is not taken: {id}");
    // Outside the internal routes the header means nothing.
    let r = http::client().get(origin.url("/healthz")).header("x-request-id", "mine").send().await.unwrap();
    assert!(uuid::Uuid::parse_str(r.headers()["x-request-id"].to_str().unwrap()).is_ok());
}
