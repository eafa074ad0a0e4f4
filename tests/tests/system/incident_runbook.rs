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
use system_tests::{eventually, http, records};

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
        (edge.location(&format!("/{}", w.band_a)).await.as_deref() == Some("https://example.com/live"))
            .then_some(())
    })
    .await;

    let (code, out) = cli(&db, &options, &["event", "freeze", &w.event_a.to_string()]).await;
    assert!(succeeded(code), "{out}");
    assert!(out.contains("https://example.com/safe"), "{out}");
    eventually("the edge to pin the band to the fallback", Duration::from_secs(30), || async {
        (edge.location(&format!("/{}", w.band_a)).await.as_deref() == Some("https://example.com/safe"))
            .then_some(())
    })
    .await;
    // The other organisation's event is untouched.
    assert_eq!(edge.location(&format!("/{}", w.band_b)).await.as_deref(), Some("https://example.com/fest"));
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
        (edge.location(&format!("/{}", w.band_a)).await.as_deref() == Some("https://example.com/live"))
            .then_some(())
    })
    .await;
    let (code, out) = cli(&db, &options, &["event", "freeze", &uuid::Uuid::now_v7().to_string()]).await;
    assert!(!succeeded(code), "an unknown event is an error: {out}");
}

/// Runbook 2 (leaked signing key): whoever held the key may have written KV
/// records with a huge `rev`. The origin's next push of the key replaces
/// them (its `rev_ceiling` marks them forged), so `kv resync` undoes the
/// tampering without anyone deleting keys by hand.
#[tokio::test]
async fn a_record_forged_with_a_huge_revision_is_replaced_by_kv_resync() {
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
    let band_path = format!("/{}", w.band_a);
    eventually("the edge to route the band to the live window", Duration::from_secs(30), || async {
        (edge.location(&band_path).await.as_deref() == Some("https://example.com/live")).then_some(())
    })
    .await;

    // The attacker, signing with the leaked key, points the band at a phishing page for good.
    let mut forged =
        records::band(w.event_a, w.org_a, shared::BandStatus::Active, Some("https://phish.example/"));
    forged.rev = i64::MAX;
    edge.push_ok(vec![records::put_band(&w.band_a, forged)]).await;
    assert_eq!(edge.location(&band_path).await.as_deref(), Some("https://phish.example/"));
    // A push that does not say how far the origin's revisions go loses to it, as it should.
    let mut honest = records::band(w.event_a, w.org_a, shared::BandStatus::Active, None);
    honest.rev = 1_000;
    let r = edge.push(vec![records::put_band(&w.band_a, honest)]).await;
    assert_eq!(r.json::<serde_json::Value>().await.unwrap()["stale"], 1);

    let (code, out) = cli(&db, &options, &["kv", "resync", "--event", &w.event_a.to_string()]).await;
    assert!(succeeded(code), "{out}");
    eventually("the resync to replace the forged record", Duration::from_secs(30), || async {
        (edge.location(&band_path).await.as_deref() == Some("https://example.com/live")).then_some(())
    })
    .await;
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

/// The same browser session, presented to another origin instance.
fn at(client: &ApiClient, base: &str) -> ApiClient {
    let mut moved = client.clone();
    moved.base = base.to_string();
    moved
}

fn spec_from(out: &str, var: &str) -> String {
    out.lines()
        .find_map(|l| l.strip_prefix(&format!("{var}=")))
        .unwrap_or_else(|| panic!("no {var}= line in {out}"))
        .to_string()
}

/// `keys rotate --kind jwt`: sessions signed with the old key stay valid during
/// the overlap while new ones use the new key; `keys retire` then ends the old ones.
#[tokio::test]
async fn jwt_key_rotation_keeps_sessions_valid_during_the_overlap() {
    let db = TestDb::new().await;
    let before = OriginOptions::default();
    let old_origin = Origin::start(&db, before.clone()).await;
    let w = world::build(old_origin.domain()).await;
    let mut old_session = ApiClient::new(&old_origin.url);
    old_session.login(&w.customer_a.1, PASSWORD).await;

    let (code, out) = cli(&db, &before, &["keys", "rotate", "--kind", "jwt"]).await;
    assert!(succeeded(code), "{out}");
    let overlap = spec_from(&out, "JWT_KEYS");
    assert!(overlap.ends_with(&before.jwt_keys), "the old key stays, after the new one: {overlap}");
    let during = OriginOptions { jwt_keys: overlap.clone(), ..before.clone() };
    let rotated = Origin::start(&db, during.clone()).await;
    // The same cookie, presented to the rotated origin.
    let mut carried = ApiClient::new(&rotated.url);
    carried.cookie = old_session.cookie.clone();
    carried.csrf = old_session.csrf.clone();
    assert_eq!(carried.get("/api/v1/me").await.status, 200, "an in-flight session survives the rotation");
    let mut new_session = ApiClient::new(&rotated.url);
    new_session.login(&w.customer_b.1, PASSWORD).await;
    assert_eq!(new_session.get("/api/v1/me").await.status, 200);
    assert_eq!(
        at(&new_session, &old_origin.url).get("/api/v1/me").await.status,
        401,
        "a token signed with the new key is unknown to an origin that only has the old one"
    );

    let new_id = overlap.split(':').next().unwrap().to_string();
    let (code, out) = cli(&db, &during, &["keys", "retire", "--kind", "jwt", "--keep", &new_id]).await;
    assert!(succeeded(code), "{out}");
    let after = OriginOptions { jwt_keys: spec_from(&out, "JWT_KEYS"), ..before.clone() };
    let retired = Origin::start(&db, after).await;
    carried.base = retired.url.clone();
    assert_eq!(carried.get("/api/v1/me").await.status, 401, "after retirement the old key is gone");
    assert_eq!(at(&new_session, &retired.url).get("/api/v1/me").await.status, 200);

    for (args, why) in [
        (vec!["keys", "retire", "--kind", "jwt", "--keep", "nope"], "an unknown key"),
        (vec!["keys", "retire", "--kind", "audit", "--keep", "aud1"], "audit keys"),
        (vec!["keys", "rotate", "--kind", "bogus"], "an unknown kind"),
    ] {
        let (code, out) = cli(&db, &during, &args).await;
        assert!(!succeeded(code), "{why} must be refused: {out}");
    }
}

/// `keys rotate --kind signing`: during the overlap the origin accepts taps signed
/// with the old key (the edge may still use it); after retirement it refuses them.
#[tokio::test]
async fn signing_key_rotation_accepts_old_signatures_only_during_the_overlap() {
    let db = TestDb::new().await;
    let before = OriginOptions::default();
    let (code, out) = cli(&db, &before, &["keys", "rotate", "--kind", "signing"]).await;
    assert!(succeeded(code), "{out}");
    let overlap = spec_from(&out, "SIGNING_KEYS");
    let during = OriginOptions { signing_keys: overlap.clone(), ..before.clone() };
    let origin = Origin::start(&db, during.clone()).await;
    let post = |url: String, ring: shared::Keyring| async move {
        let now_ms = chrono::Utc::now().timestamp_millis();
        let tap = serde_json::json!({
            "id": system_tests::taps::id_at(now_ms), "band_id": "ROTATE01", "ts_ms": now_ms,
            "outcome": "unknown_band", "head": false, "agent": "human", "device": "ios"
        });
        let body = serde_json::to_vec(&serde_json::json!({ "taps": [tap] })).unwrap();
        let signed = system_tests::keys::sign_now(&ring, "POST", "/internal/v1/taps", &body);
        system_tests::keys::apply(http::client().post(format!("{url}/internal/v1/taps")), &signed)
            .body(body)
            .send()
            .await
            .unwrap()
            .status()
            .as_u16()
    };
    assert_eq!(post(origin.url.clone(), before.keyring()).await, 200, "old key accepted during the overlap");
    assert_eq!(post(origin.url.clone(), during.keyring()).await, 200, "new key accepted");
    let new_id = overlap.split(':').next().unwrap().to_string();
    let (code, out) = cli(&db, &during, &["keys", "retire", "--kind", "signing", "--keep", &new_id]).await;
    assert!(succeeded(code), "{out}");
    let after = OriginOptions { signing_keys: spec_from(&out, "SIGNING_KEYS"), ..before.clone() };
    let retired = Origin::start(&db, after.clone()).await;
    assert_eq!(post(retired.url.clone(), before.keyring()).await, 401, "old key refused after retirement");
    assert_eq!(post(retired.url.clone(), after.keyring()).await, 200);
}

/// `audit export --since`: a verifiable evidence file of recent rows that makes nothing purgeable.
#[tokio::test]
async fn audit_evidence_export_since_a_moment_verifies_and_purges_nothing() {
    let db = TestDb::new().await;
    let origin = Origin::start(&db, OriginOptions::default()).await;
    let _w = world::build(origin.domain()).await;
    let opts = &origin.options;
    let mid: (i64, chrono::DateTime<chrono::Utc>) =
        sqlx::query_as("SELECT seq, at FROM audit_log ORDER BY seq OFFSET 3 LIMIT 1")
            .fetch_one(&db.pool)
            .await
            .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("evidence.jsonl");
    let (code, out) =
        cli(&db, opts, &["audit", "export", "--since", &mid.1.to_rfc3339(), "--out", file.to_str().unwrap()])
            .await;
    assert!(succeeded(code), "{out}");
    let text = std::fs::read_to_string(&file).unwrap();
    let first: serde_json::Value = serde_json::from_str(text.lines().nth(1).unwrap()).unwrap();
    assert!(first["row"]["seq"].as_i64().unwrap() <= mid.0, "starts at the first row at or after --since");
    let (code, out) = cli(&db, opts, &["audit", "verify-export", file.to_str().unwrap()]).await;
    assert!(succeeded(code), "{out}");
    let archival: i64 =
        sqlx::query_scalar("SELECT count(*) FROM audit_exports").fetch_one(&db.pool).await.unwrap();
    assert_eq!(archival, 0, "an evidence export makes nothing purgeable");
    let audited: i64 =
        sqlx::query_scalar("SELECT count(*) FROM audit_log WHERE action = 'audit.evidence_exported'")
            .fetch_one(&db.pool)
            .await
            .unwrap();
    assert_eq!(audited, 1, "the export itself is audited");
    // Tampering with the evidence is detected.
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    let mut row: serde_json::Value = serde_json::from_str(&lines[1]).unwrap();
    row["row"]["target_id"] = "someone-else".into();
    lines[1] = row.to_string();
    std::fs::write(&file, lines.join("\n") + "\n").unwrap();
    let (code, out) = cli(&db, opts, &["audit", "verify-export", file.to_str().unwrap()]).await;
    assert!(!succeeded(code), "a tampered export must fail: {out}");
    let (code, out) =
        cli(&db, opts, &["audit", "export", "--out", dir.path().join("x").to_str().unwrap()]).await;
    assert!(!succeeded(code), "neither --since nor --before: {out}");
}
