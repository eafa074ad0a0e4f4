//! The incident-response runbook's commands, on real components: freezing an
//! event reaches the edge (real workerd) and pins every band to the
//! fallback; revoking sessions signs people out at once.

use std::sync::Arc;
use std::time::Duration;

use origin_api::clock::SystemClock;
use system_tests::api::ApiClient;
use system_tests::db::TestDb;
use system_tests::edge::{Edge, EdgeOptions};
use system_tests::origin::{Origin, OriginOptions, cli, succeeded};
use system_tests::world::{self, PASSWORD};
use system_tests::{eventually, http};

async fn location(edge: &Edge, path: &str) -> Option<String> {
    let r = http::client().get(edge.url(path)).send().await.ok()?;
    r.headers().get("location").and_then(|l| l.to_str().ok()).map(str::to_string)
}

#[tokio::test]
async fn event_freeze_pins_every_band_to_the_fallback_at_the_edge_and_unfreeze_restores_it() {
    let db = TestDb::new().await;
    let listener = Origin::bind().await;
    let options = OriginOptions::default();
    let edge = Edge::start(EdgeOptions {
        origin_url: format!("http://{}", listener.local_addr().unwrap()),
        signing_keys: options.signing_keys.clone(),
        ..EdgeOptions::default()
    })
    .await;
    let options = OriginOptions { edge_url: Some(edge.base_url.clone()), ..options };
    let origin = Origin::start_on(listener, &db, options.clone(), Arc::new(SystemClock)).await;
    let w = world::build(origin.domain()).await;
    origin
        .domain()
        .update_event(
            &origin_api::domain::actor::Actor::cli(),
            w.event_a,
            origin_api::domain::events::EventPatch {
                fallback_url: Some("https://example.com/safe".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    // World's event A has a live window: that is where taps go before the freeze.
    eventually("the edge to route the band to the live window", Duration::from_secs(30), || async {
        (location(&edge, &format!("/{}", w.band_a)).await.as_deref() == Some("https://example.com/live"))
            .then_some(())
    })
    .await;

    let (code, out) = cli(&db, &options, &["event", "freeze", &w.event_a.to_string()]).await;
    assert!(succeeded(code), "{out}");
    assert!(out.contains("https://example.com/safe"), "{out}");
    eventually("the edge to pin the band to the fallback", Duration::from_secs(30), || async {
        (location(&edge, &format!("/{}", w.band_a)).await.as_deref() == Some("https://example.com/safe"))
            .then_some(())
    })
    .await;
    // The other organisation's event is untouched.
    assert_eq!(location(&edge, &format!("/{}", w.band_b)).await.as_deref(), Some("https://example.com/fest"));
    let audited: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM audit_log WHERE action = 'event.frozen' AND target_id = $1 AND after->>'status' = 'frozen'",
    )
    .bind(w.event_a.to_string())
    .fetch_one(&db.pool)
    .await
    .unwrap();
    assert_eq!(audited, 1, "the freeze is in the audit log");

    let (code, out) = cli(&db, &options, &["event", "unfreeze", &w.event_a.to_string()]).await;
    assert!(succeeded(code), "{out}");
    eventually("the edge to route normally again", Duration::from_secs(30), || async {
        (location(&edge, &format!("/{}", w.band_a)).await.as_deref() == Some("https://example.com/live"))
            .then_some(())
    })
    .await;
    let (code, out) = cli(&db, &options, &["event", "freeze", &uuid::Uuid::now_v7().to_string()]).await;
    assert!(!succeeded(code), "an unknown event is an error: {out}");
}

#[tokio::test]
async fn sessions_revoke_signs_one_user_or_everyone_out_at_once() {
    let db = TestDb::new().await;
    let origin = Origin::start(&db, OriginOptions::default()).await;
    let w = world::build(origin.domain()).await;
    let mut alice = ApiClient::new(&origin.url);
    alice.login(&w.customer_a.1, PASSWORD).await;
    let mut alice_phone = ApiClient::new(&origin.url);
    alice_phone.login(&w.customer_a.1, PASSWORD).await;
    let mut bob = ApiClient::new(&origin.url);
    bob.login(&w.customer_b.1, PASSWORD).await;
    for c in [&alice, &alice_phone, &bob] {
        assert_eq!(c.get("/api/v1/me").await.status, 200);
    }

    let opts = &origin.options;
    let (code, out) = cli(&db, opts, &["sessions", "revoke", "--user", &w.customer_a.1.to_uppercase()]).await;
    assert!(succeeded(code), "{out}");
    assert!(out.contains("revoked 2 "), "{out}");
    assert_eq!(alice.get("/api/v1/me").await.status, 401);
    assert_eq!(alice_phone.get("/api/v1/me").await.status, 401);
    assert_eq!(bob.get("/api/v1/me").await.status, 200, "others stay signed in");

    let (code, out) = cli(&db, opts, &["sessions", "revoke", "--all"]).await;
    assert!(succeeded(code), "{out}");
    assert_eq!(bob.get("/api/v1/me").await.status, 401);
    // Signing in again works: revocation ends sessions, not accounts.
    let mut again = ApiClient::new(&origin.url);
    assert_eq!(again.login(&w.customer_a.1, PASSWORD).await.status, 200);

    let audited: Vec<(String, serde_json::Value)> = sqlx::query_as(
        "SELECT target_id, after FROM audit_log WHERE action = 'sessions.revoked_by_operator' ORDER BY seq",
    )
    .fetch_all(&db.pool)
    .await
    .unwrap();
    assert_eq!(audited.len(), 2);
    assert_eq!(audited[0].0, w.customer_a.0.to_string());
    assert_eq!(audited[0].1["revoked"], 2);
    assert_eq!(audited[1].0, "all");

    for (args, why) in [
        (vec!["sessions", "revoke"], "neither --all nor --user"),
        (vec!["sessions", "revoke", "--all", "--user", "x@example.com"], "both"),
        (vec!["sessions", "revoke", "--user", "nobody@example.com"], "an unknown user"),
    ] {
        let (code, out) = cli(&db, opts, &args).await;
        assert!(!succeeded(code), "{why} must fail: {out}");
    }
}
