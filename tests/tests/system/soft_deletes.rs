//! Soft deletes of events and bands: hidden everywhere (API, dashboard, the
//! edge in real workerd), restorable for 30 days by ADMIN or the owning
//! organisation, then purged by the retention job with band ids reserved.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use origin_api::clock::{Clock, ManualClock, SystemClock};
use origin_api::domain::actor::Actor;
use origin_api::domain::bands::{BandStatus, ImportOutcome, NewBand};
use origin_api::retention::{self, Outcome, Policy, RunOptions};
use serde_json::Value;
use shared::BandId;
use system_tests::api::ApiClient;
use system_tests::db::TestDb;
use system_tests::edge::{Edge, EdgeOptions};
use system_tests::eventually;
use system_tests::origin::{Origin, OriginOptions};
use system_tests::world::{self, PASSWORD};

async fn audit_count(db: &TestDb, action: &str) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM audit_log WHERE action = $1")
        .bind(action)
        .fetch_one(&db.pool)
        .await
        .unwrap()
}

/// One retention run acting for `as_of`; its counts.
async fn retention_run(
    db: &TestDb,
    ring: &shared::Keyring,
    clock: &dyn Clock,
    as_of: chrono::DateTime<Utc>,
) -> retention::Counts {
    match retention::run(&db.pool, ring, clock, Policy::default(), RunOptions { as_of, dry_run: false })
        .await
        .unwrap()
    {
        Outcome::Done { counts, .. } => counts,
        Outcome::Skipped => panic!("the run was skipped"),
    }
}

#[tokio::test]
async fn a_deleted_event_disappears_everywhere_including_the_edge_and_comes_back_on_restore() {
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
    let origin = Origin::start_on(listener, &db, options, Arc::new(SystemClock)).await;
    let w = world::build(origin.domain()).await;
    let band = format!("/{}", w.band_a);
    eventually("the edge to route the band", Duration::from_secs(30), || async {
        (edge.location(&band).await.as_deref() == Some("https://example.com/live")).then_some(())
    })
    .await;
    let mut alice = ApiClient::new(&origin.url);
    alice.login(&w.customer_a.1, PASSWORD).await;
    let mut bob = ApiClient::new(&origin.url);
    bob.login(&w.customer_b.1, PASSWORD).await;
    let event = format!("/api/v1/events/{}", w.event_a);
    // Deleting an event is a step-up action: without a recent second factor it is refused.
    let refused = alice.delete(&event).await;
    assert_eq!((refused.status.as_u16(), refused.code()), (403, "step_up_required"));
    alice.enrol_mfa(system_tests::unix_now()).await;

    // Another organisation can neither delete nor see it.
    assert_eq!(bob.delete(&event).await.status, 404);
    assert_eq!(alice.get(&event).await.status, 200, "Bob's attempt changed nothing");

    assert_eq!(alice.delete(&event).await.status, 204);
    assert_eq!(alice.get(&event).await.status, 404);
    let listed = alice.get("/api/v1/events").await.json;
    assert!(!listed.to_string().contains(&w.event_a.to_string()), "not listed: {listed}");
    assert_eq!(alice.get(&format!("/api/v1/bands/{}", w.band_a)).await.status, 404, "its bands went with it");
    assert_eq!(alice.get(&format!("/events/{}", w.event_a)).await.status, 404, "dashboard page gone");
    eventually("the edge to forget the band", Duration::from_secs(30), || async {
        (edge.location(&band).await.as_deref() == Some("https://fallback.example/")).then_some(())
    })
    .await;
    let trash = alice.get("/api/v1/trash").await.json;
    assert!(
        trash.as_array().unwrap().iter().any(|i| i["id"] == w.event_a.to_string() && i["kind"] == "event")
    );
    assert_eq!(
        bob.get("/api/v1/trash").await.json,
        Value::Array(vec![]),
        "B's trash does not show A's event"
    );
    assert_eq!(bob.post(&format!("{event}/restore"), Value::Null).await.status, 404);

    assert_eq!(alice.post(&format!("{event}/restore"), Value::Null).await.status, 204);
    assert_eq!(alice.get(&event).await.status, 200);
    assert_eq!(alice.get(&format!("/api/v1/bands/{}", w.band_a)).await.status, 200, "its bands came back");
    eventually("the edge to route the band again", Duration::from_secs(30), || async {
        (edge.location(&band).await.as_deref() == Some("https://example.com/live")).then_some(())
    })
    .await;
    assert_eq!(audit_count(&db, "event.deleted").await, 1);
    assert_eq!(audit_count(&db, "event.restored").await, 1);
    assert_eq!(
        alice.post(&format!("{event}/restore"), Value::Null).await.status,
        404,
        "nothing left to restore"
    );
}

#[tokio::test]
async fn a_band_of_a_deleted_event_is_restored_with_its_event_not_on_its_own() {
    let db = TestDb::new().await;
    let origin = Origin::start(&db, OriginOptions::default()).await;
    let w = world::build(origin.domain()).await;
    let mut alice = ApiClient::new(&origin.url);
    alice.login(&w.customer_a.1, PASSWORD).await;
    alice.enrol_mfa(system_tests::unix_now()).await;
    let band = format!("/api/v1/bands/{}", w.band_a);
    assert_eq!(alice.delete(&band).await.status, 204);
    assert_eq!(alice.get(&band).await.status, 404);
    assert_eq!(alice.delete(&band).await.status, 404, "already deleted");
    assert_eq!(alice.post(&format!("{band}/restore"), Value::Null).await.status, 204);
    assert_eq!(alice.get(&band).await.status, 200);

    assert_eq!(alice.delete(&format!("/api/v1/events/{}", w.event_a)).await.status, 204);
    let r = alice.post(&format!("{band}/restore"), Value::Null).await;
    assert_eq!((r.status.as_u16(), r.code()), (409, "conflict"), "{:?}", r.json);
    assert!(r.json["error"]["message"].as_str().unwrap().contains("restore the event first"));
    for (bad, status) in [("/api/v1/bands/no!/restore", 404), ("/api/v1/events/not-a-uuid/restore", 404)] {
        assert_eq!(alice.post(bad, Value::Null).await.status, status, "{bad}");
    }
}

#[tokio::test]
async fn after_thirty_days_restore_is_refused_retention_purges_and_band_ids_stay_reserved() {
    let db = TestDb::new().await;
    let clock = Arc::new(ManualClock::new(Utc::now()));
    let origin = Origin::start_with_clock(&db, OriginOptions::default(), clock.clone()).await;
    let w = world::build(origin.domain()).await;
    let cli = Actor::cli();
    let domain = origin.domain();
    domain.delete_event(&cli, w.event_a).await.unwrap();

    // Day 29: still restorable, and a run purges nothing.
    clock.advance(chrono::Duration::days(29));
    let keys = origin.options.audit_keys.clone();
    let ring = system_tests::keys::keyring(&keys);
    let counts = retention_run(&db, &ring, clock.as_ref(), clock.now()).await;
    assert_eq!(counts.get("deleted_bands_purged"), Some(&0));
    let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM bands WHERE band_id = $1")
        .bind(&w.band_a)
        .fetch_one(&db.pool)
        .await
        .unwrap();
    assert_eq!(rows, 1);

    // Day 31: too late to restore; the run purges the band and the event, and audits each.
    clock.advance(chrono::Duration::days(2));
    let err = domain.restore_event(&cli, w.event_a).await.unwrap_err();
    assert!(err.to_string().contains("30 days"), "{err}");
    let counts = retention_run(&db, &ring, clock.as_ref(), clock.now()).await;
    assert_eq!(
        (counts.get("deleted_bands_purged"), counts.get("deleted_events_purged")),
        (Some(&1), Some(&1))
    );
    let left: (i64, i64, i64) = sqlx::query_as(
        "SELECT (SELECT count(*) FROM bands WHERE band_id = $1), (SELECT count(*) FROM events WHERE id = $2),
                (SELECT count(*) FROM event_windows WHERE event_id = $2)",
    )
    .bind(&w.band_a)
    .bind(w.event_a)
    .fetch_one(&db.pool)
    .await
    .unwrap();
    assert_eq!(left, (0, 0, 0), "purged for good");
    assert_eq!(audit_count(&db, "band.purged").await, 1);
    assert_eq!(audit_count(&db, "event.purged").await, 1);
    let verified = origin_api::audit::verify::verify(&db.pool, &ring).await.unwrap();
    assert_eq!(verified.first_broken, None);

    // The band id stays with organisation A.
    let band = || NewBand {
        line: 2,
        band_id: BandId::parse(&w.band_a).unwrap(),
        label: String::new(),
        status: BandStatus::Active,
        override_url: None,
    };
    match domain.import_bands(&cli, w.event_b, vec![band()], Vec::new()).await.unwrap() {
        ImportOutcome::Rejected { errors } => assert!(errors[0].reason.contains("reserved"), "{errors:?}"),
        ImportOutcome::Imported { .. } => panic!("another organisation took a purged band's id"),
    }
    let event = domain
        .create_event(
            &cli,
            origin_api::domain::events::NewEvent {
                org_id: w.org_a,
                name: "Next year".into(),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert!(
        matches!(
            domain.import_bands(&cli, event.id, vec![band()], Vec::new()).await.unwrap(),
            ImportOutcome::Imported { count: 1 }
        ),
        "its own organisation may use it again"
    );
}

#[tokio::test]
async fn a_deleted_user_is_signed_out_and_locked_out_restorable_then_purged() {
    let db = TestDb::new().await;
    let origin = Origin::start(&db, OriginOptions::default()).await;
    let w = world::build(origin.domain()).await;
    let (admin, _) = world::admin_client(&origin, &w).await;
    let mut alice = ApiClient::new(&origin.url);
    assert_eq!(alice.login(&w.customer_a.1, PASSWORD).await.status, 200);
    let user = format!("/api/v1/users/{}", w.customer_a.0);

    let mut bob = ApiClient::new(&origin.url);
    bob.login(&w.customer_b.1, PASSWORD).await;
    assert_eq!(bob.delete(&user).await.status, 403, "only ADMINs delete users");
    let me = admin.get("/api/v1/me").await.json["user"]["id"].as_str().unwrap().to_string();
    assert_eq!(admin.delete(&format!("/api/v1/users/{me}")).await.status, 422, "not yourself");

    assert_eq!(admin.delete(&user).await.status, 204);
    assert_eq!(alice.get("/api/v1/me").await.status, 401, "signed out at once");
    assert_eq!(
        ApiClient::new(&origin.url).login(&w.customer_a.1, PASSWORD).await.status,
        401,
        "and cannot sign in"
    );
    assert_eq!(admin.get(&user).await.status, 404);
    assert!(!admin.get("/api/v1/users").await.json.to_string().contains(&w.customer_a.1), "not listed");
    let trash = admin.get("/api/v1/trash").await.json;
    assert!(
        trash
            .as_array()
            .unwrap()
            .iter()
            .any(|i| i["kind"] == "user" && i["id"] == w.customer_a.0.to_string())
    );
    assert!(
        !bob.get("/api/v1/trash").await.json.to_string().contains(&w.customer_a.1),
        "CUSTOMERs see no users"
    );

    assert_eq!(admin.post(&format!("{user}/restore"), Value::Null).await.status, 204);
    assert_eq!(ApiClient::new(&origin.url).login(&w.customer_a.1, PASSWORD).await.status, 200, "back");

    assert_eq!(admin.delete(&user).await.status, 204);
    // Thirty-one days later (the deletion moved back rather than the clock forward: TOTP needs real time).
    sqlx::query("UPDATE users SET deleted_at = deleted_at - interval '31 days' WHERE id = $1")
        .bind(w.customer_a.0)
        .execute(&db.pool)
        .await
        .unwrap();
    let r = origin.domain().restore_user(&Actor::cli(), w.customer_a.0).await.unwrap_err();
    assert!(r.to_string().contains("30 days"), "{r}");
    let ring = system_tests::keys::keyring(&origin.options.audit_keys);
    let counts = retention_run(&db, &ring, &SystemClock, Utc::now()).await;
    assert_eq!(counts.get("deleted_users_purged"), Some(&1));
    let left: i64 = sqlx::query_scalar("SELECT count(*) FROM users WHERE id = $1")
        .bind(w.customer_a.0)
        .fetch_one(&db.pool)
        .await
        .unwrap();
    assert_eq!(left, 0);
    assert_eq!(audit_count(&db, "user.purged").await, 1);
    assert_eq!(audit_count(&db, "user.deleted").await, 2, "the history stays in the audit trail");
    assert_eq!(origin_api::audit::verify::verify(&db.pool, &ring).await.unwrap().first_broken, None);
}

#[tokio::test]
async fn a_deleted_organisation_takes_its_events_bands_and_users_along_and_back() {
    let db = TestDb::new().await;
    let origin = Origin::start(&db, OriginOptions::default()).await;
    let w = world::build(origin.domain()).await;
    let (admin, _) = world::admin_client(&origin, &w).await;
    let mut alice = ApiClient::new(&origin.url);
    alice.login(&w.customer_a.1, PASSWORD).await;
    let org = format!("/api/v1/orgs/{}", w.org_a);
    assert_eq!(alice.delete(&org).await.status, 403, "only ADMINs delete organisations");

    assert_eq!(admin.delete(&org).await.status, 204);
    assert_eq!(alice.get("/api/v1/me").await.status, 401, "its users are signed out");
    assert_eq!(ApiClient::new(&origin.url).login(&w.customer_a.1, PASSWORD).await.status, 401);
    assert_eq!(admin.get(&org).await.status, 404);
    assert_eq!(admin.get(&format!("/api/v1/events/{}", w.event_a)).await.status, 404);
    assert_eq!(admin.get(&format!("/api/v1/bands/{}", w.band_a)).await.status, 404);
    let removals: Vec<String> = sqlx::query_scalar("SELECT key FROM kv_outbox ORDER BY seq DESC LIMIT 2")
        .fetch_all(&db.pool)
        .await
        .unwrap();
    assert!(
        removals.contains(&format!("band:{}", w.band_a)),
        "the edge is told to forget the band: {removals:?}"
    );
    // Organisation B is untouched.
    let mut bob = ApiClient::new(&origin.url);
    assert_eq!(bob.login(&w.customer_b.1, PASSWORD).await.status, 200);
    assert_eq!(bob.get(&format!("/api/v1/events/{}", w.event_b)).await.status, 200);

    assert_eq!(admin.post(&format!("{org}/restore"), Value::Null).await.status, 204);
    assert_eq!(ApiClient::new(&origin.url).login(&w.customer_a.1, PASSWORD).await.status, 200);
    assert_eq!(admin.get(&format!("/api/v1/bands/{}", w.band_a)).await.status, 200);

    // Deleted again and left for 31 days: the retention run purges all of it.
    assert_eq!(admin.delete(&org).await.status, 204);
    for table in ["organizations", "events", "bands", "users"] {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "UPDATE {table} SET deleted_at = deleted_at - interval '31 days' WHERE deleted_at IS NOT NULL"
        )))
        .execute(&db.pool)
        .await
        .unwrap();
    }
    let ring = system_tests::keys::keyring(&origin.options.audit_keys);
    let counts = retention_run(&db, &ring, &SystemClock, Utc::now()).await;
    assert_eq!(counts.get("deleted_orgs_purged"), Some(&1), "{counts:?}");
    let left: i64 = sqlx::query_scalar("SELECT count(*) FROM organizations WHERE id = $1")
        .bind(w.org_a)
        .fetch_one(&db.pool)
        .await
        .unwrap();
    assert_eq!(left, 0);
    assert_eq!(audit_count(&db, "org.purged").await, 1);
    assert_eq!(origin_api::audit::verify::verify(&db.pool, &ring).await.unwrap().first_broken, None);
    assert_eq!(bob.get(&format!("/api/v1/events/{}", w.event_b)).await.status, 200, "B still untouched");
}
