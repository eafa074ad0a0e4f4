//! Soft deletes of events and bands: hidden everywhere (API, dashboard, the
//! edge in real workerd), restorable for 30 days by ADMIN or the owning
//! organisation, then purged by the retention job with band ids reserved.
//! The dashboard's delete, trash and restore forms keep the same rules.

use std::sync::Arc;
use std::time::Duration;

use crate::auth_support::{Env, snapshot};
use chrono::Utc;
use origin_api::clock::{Clock, ManualClock, SystemClock};
use origin_api::domain::actor::Actor;
use origin_api::domain::bands::{BandStatus, ImportOutcome, NewBand};
use origin_api::domain::events::{EventPatch, NewEvent};
use origin_api::retention::{self, Outcome, Policy, RunOptions};
use serde_json::Value;
use shared::BandId;
use system_tests::api::{Answer, ApiClient};
use system_tests::db::TestDb;
use system_tests::edge::{Edge, EdgeOptions};
use system_tests::eventually;
use system_tests::origin::{Origin, OriginOptions};
use system_tests::world::{self, PASSWORD, World};

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
    // Its parts cannot come back on their own while it is deleted.
    let event_restore = admin.post(&format!("/api/v1/events/{}/restore", w.event_a), Value::Null).await;
    assert_eq!(event_restore.status, 409, "{:?}", event_restore.text);
    let user_restore = admin.post(&format!("/api/v1/users/{}/restore", w.customer_a.0), Value::Null).await;
    assert_eq!(user_restore.status, 409, "{:?}", user_restore.text);
    assert_eq!(admin.get(&format!("/api/v1/events/{}", w.event_a)).await.status, 404);
    assert_eq!(ApiClient::new(&origin.url).login(&w.customer_a.1, PASSWORD).await.status, 401);

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

// ---------------------------------------------------------------------------
// The dashboard's delete, trash and restore forms (posted as a browser does)
// ---------------------------------------------------------------------------

/// `deleted_at` of A's event and band (`None`: live).
async fn deleted_at_of(
    db: &TestDb,
    w: &World,
) -> (Option<chrono::DateTime<Utc>>, Option<chrono::DateTime<Utc>>) {
    sqlx::query_as(
        "SELECT (SELECT deleted_at FROM events WHERE id = $1), (SELECT deleted_at FROM bands WHERE band_id = $2)",
    )
    .bind(w.event_a)
    .bind(&w.band_a)
    .fetch_one(&db.pool)
    .await
    .unwrap()
}

/// A page answer that sends the browser on: its `Location`.
fn redirected_to(answer: &Answer, what: &str) -> String {
    assert_eq!(answer.status, 303, "{what}: {}", answer.text);
    answer.location().unwrap_or_default().to_string()
}

#[tokio::test]
async fn another_organisations_delete_and_restore_forms_are_not_found_and_its_trash_stays_its_own() {
    let db = TestDb::new().await;
    let origin = Origin::start(&db, OriginOptions::default()).await;
    let w = world::build(origin.domain()).await;
    let patch = EventPatch { name: Some("Alpha Secret Gala".into()), ..Default::default() };
    origin.domain().update_event(&Actor::cli(), w.event_a, patch).await.unwrap();
    let mut alice = ApiClient::new(&origin.url);
    alice.login(&w.customer_a.1, PASSWORD).await;
    alice.enrol_mfa(system_tests::unix_now()).await;
    // Bob has a fresh second factor too: only tenancy can stop him.
    let mut bob = ApiClient::new(&origin.url);
    bob.login(&w.customer_b.1, PASSWORD).await;
    bob.enrol_mfa(system_tests::unix_now()).await;
    let delete_event = format!("/events/{}/delete", w.event_a);
    let delete_band = format!("/bands/{}/delete", w.band_a);

    let before = snapshot(&db).await;
    for path in [&delete_event, &delete_band] {
        let r = bob.send_form(path, &[]).await;
        assert_eq!(r.status, 404, "Bob posting {path}: {}", r.text);
        assert!(r.text.contains("Not found") && !r.text.contains("Alpha Secret Gala"), "{path}: {}", r.text);
    }
    assert_eq!(snapshot(&db).await, before, "Bob's delete forms changed nothing");
    assert_eq!(deleted_at_of(&db, &w).await, (None, None));

    // Alice deletes her band, then her event, through the same forms.
    let to = redirected_to(&alice.send_form(&delete_band, &[]).await, "Alice deleting her band");
    assert_eq!(to, format!("/events/{}/bands?notice=band-deleted", w.event_a));
    let to = redirected_to(&alice.send_form(&delete_event, &[]).await, "Alice deleting her event");
    assert_eq!(to, "/events?notice=event-deleted");
    let (event_gone, band_gone) = deleted_at_of(&db, &w).await;
    assert!(event_gone.is_some() && band_gone.is_some(), "both in the trash");
    let listed = alice.get(&to).await.text;
    assert!(listed.contains("restore it from Trash for 30 days"), "the notice says how to undo it: {listed}");
    assert!(!listed.contains("Alpha Secret Gala"), "the deleted event is not listed");
    assert_eq!(alice.get(&format!("/events/{}/bands", w.event_b)).await.status, 404, "A sees no B");

    // Bob deletes his own band, so his trash is not empty by accident.
    let to = redirected_to(&bob.send_form(&format!("/bands/{}/delete", w.band_b), &[]).await, "Bob's band");
    assert_eq!(to, format!("/events/{}/bands?notice=band-deleted", w.event_b));

    let before = snapshot(&db).await;
    for path in [format!("/trash/events/{}/restore", w.event_a), format!("/trash/bands/{}/restore", w.band_a)]
    {
        let r = bob.send_form(&path, &[]).await;
        assert_eq!(r.status, 404, "Bob posting {path}: {}", r.text);
    }
    for path in
        [format!("/trash/users/{}/restore", w.customer_a.0), format!("/trash/orgs/{}/restore", w.org_a)]
    {
        assert_eq!(bob.send_form(&path, &[]).await.status, 403, "{path} is for ADMINs");
    }
    assert_eq!(snapshot(&db).await, before, "Bob's restore forms changed nothing");

    let bobs = bob.get("/trash").await;
    assert_eq!(bobs.status, 200);
    assert!(bobs.text.contains(&format!("data-id=\"{}\"", w.band_b)), "Bob sees his band: {}", bobs.text);
    for a in [w.band_a.as_str(), &w.event_a.to_string(), "Alpha Secret Gala", &w.customer_a.1] {
        assert!(!bobs.text.contains(a), "Bob's trash shows nothing of A ({a}): {}", bobs.text);
    }
    let alices = alice.get("/trash").await;
    for (what, needle) in [
        ("her event", format!("data-id=\"{}\"", w.event_a)),
        ("its name", "Alpha Secret Gala".to_string()),
        ("her band", format!("data-id=\"{}\"", w.band_a)),
        ("who deleted them", w.customer_a.1.clone()),
        ("her event's restore form", format!("action=\"/trash/events/{}/restore\"", w.event_a)),
    ] {
        assert!(alices.text.contains(&needle), "Alice's trash shows {what}: {}", alices.text);
    }
    assert!(!alices.text.contains(&w.band_b), "and nothing of B");
    assert!(!alices.text.contains("data-kind=\"user\""), "CUSTOMERs see no users in the trash");

    // Restoring: the band waits for its event (and says so); then both come back.
    let r = alice.send_form(&format!("/trash/bands/{}/restore", w.band_a), &[]).await;
    assert_eq!(r.status, 409, "{}", r.text);
    assert!(r.text.contains("restore the event first"), "{}", r.text);
    let to = redirected_to(
        &alice.send_form(&format!("/trash/events/{}/restore", w.event_a), &[]).await,
        "Alice restoring her event",
    );
    assert_eq!(to, "/trash?notice=event-restored");
    let to = redirected_to(
        &alice.send_form(&format!("/trash/bands/{}/restore", w.band_a), &[]).await,
        "Alice restoring her band",
    );
    assert_eq!(to, "/trash?notice=band-restored");
    assert_eq!(deleted_at_of(&db, &w).await, (None, None), "both are back");
    assert!(alice.get(&format!("/events/{}/bands", w.event_a)).await.text.contains(&w.band_a));
    assert_eq!(audit_count(&db, "band.restored").await, 1);
}

#[tokio::test]
async fn deleting_an_event_from_the_dashboard_needs_a_fresh_second_factor() {
    let (env, clock) = Env::start_manual().await;
    let w = &env.world;
    let mut alice = env.anonymous();
    alice.login(&w.customer_a.1, PASSWORD).await;
    let (secret, _) = alice.enrol_mfa(clock.now().timestamp()).await;
    // Eleven minutes after her last code: the step-up has lapsed.
    clock.advance(chrono::Duration::minutes(11));
    let delete_event = format!("/events/{}/delete", w.event_a);
    let before = env.snapshot().await;
    let to = redirected_to(&alice.send_form(&delete_event, &[]).await, "a delete without step-up");
    assert_eq!(env.snapshot().await, before, "refused: nothing changed");
    assert_eq!(deleted_at_of(&env.db, w).await, (None, None));
    let (path, fragment) = to.split_once('#').unwrap_or((&to, ""));
    assert!(path.starts_with("/account?") && fragment == "step-up", "sent to confirm: {to}");
    let account = alice.get(path).await;
    assert_eq!(account.status, 200);
    assert!(
        account.text.contains("needs a fresh code from your authenticator app"),
        "the page says why: {}",
        account.text
    );
    assert!(account.text.contains("action=\"/account/step-up\""), "with the form to do it");

    // Confirming with a code leads back to the event; deleting again works.
    let query = url::Url::parse(&format!("{}{path}", env.origin.url)).unwrap();
    let next = query.query_pairs().find(|(k, _)| k == "next").map(|(_, v)| v.into_owned()).unwrap();
    let code = system_tests::totp::code_at(&secret, clock.now().timestamp());
    let back = redirected_to(
        &alice.send_form("/account/step-up", &[("code", &code), ("next", &next)]).await,
        "the step-up",
    );
    assert_eq!(back, format!("/events/{}?notice=stepped-up", w.event_a));
    let to = redirected_to(&alice.send_form(&delete_event, &[]).await, "a delete after step-up");
    assert_eq!(to, "/events?notice=event-deleted");
    assert!(deleted_at_of(&env.db, w).await.0.is_some(), "deleted");

    // Without any second factor there is nothing to confirm: Bob is told to turn one on.
    let bob = env.customer_b().await;
    let before = env.snapshot().await;
    let to = redirected_to(
        &bob.send_form(&format!("/events/{}/delete", w.event_b), &[]).await,
        "a delete without a second factor",
    );
    assert_eq!(env.snapshot().await, before, "refused: nothing changed");
    let account = bob.get(to.split('#').next().unwrap_or_default()).await;
    assert!(account.text.contains("needs two-factor authentication"), "the page says why: {}", account.text);
}

#[tokio::test]
async fn the_dashboards_delete_and_restore_forms_need_the_csrf_token() {
    let db = TestDb::new().await;
    let origin = Origin::start(&db, OriginOptions::default()).await;
    let w = world::build(origin.domain()).await;
    let (admin, _) = world::admin_client(&origin, &w).await;
    let cli = Actor::cli();
    let domain = origin.domain();
    // Something of each kind in the trash, and a live event and band to delete.
    let spare = domain
        .create_event(&cli, NewEvent { org_id: w.org_a, name: "Spare".into(), ..Default::default() })
        .await
        .unwrap();
    // Its band is deleted on its own first, so it comes back on its own after the event.
    let band = NewBand {
        line: 2,
        band_id: BandId::parse("SPARE001").unwrap(),
        label: String::new(),
        status: BandStatus::Active,
        override_url: None,
    };
    domain.import_bands(&cli, spare.id, vec![band], Vec::new()).await.unwrap();
    domain.delete_band(&cli, &BandId::parse("SPARE001").unwrap()).await.unwrap();
    domain.delete_event(&cli, spare.id).await.unwrap();
    domain.delete_user(&cli, w.deactivated.0).await.unwrap();
    domain.delete_org(&cli, w.org_b).await.unwrap();
    // The band before its event: deleting the event first would take the band along.
    let forms = [
        format!("/bands/{}/delete", w.band_a),
        format!("/events/{}/delete", w.event_a),
        format!("/trash/events/{}/restore", spare.id),
        "/trash/bands/SPARE001/restore".to_string(),
        format!("/trash/users/{}/restore", w.deactivated.0),
        format!("/trash/orgs/{}/restore", w.org_b),
    ];

    let mut tokenless = admin.clone();
    tokenless.csrf = None;
    let mut forged = admin.clone();
    forged.csrf = Some("A".repeat(admin.csrf.as_deref().map_or(32, str::len)));
    let before = snapshot(&db).await;
    for (what, client) in [("without the token", &tokenless), ("with a forged token", &forged)] {
        for path in &forms {
            let r = client.send_form(path, &[]).await;
            assert_eq!(r.status, 403, "{path} {what}: {}", r.text);
            assert!(r.text.contains("Not allowed"), "{path} {what}: a refusal page");
        }
    }
    assert_eq!(snapshot(&db).await, before, "no form without its token changed anything");
    // Control: the same forms with the session's token (an ADMIN with a fresh second factor) all work.
    for path in &forms {
        redirected_to(&admin.send_form(path, &[]).await, path);
    }
    let (event_gone, band_gone) = deleted_at_of(&db, &w).await;
    assert!(event_gone.is_some() && band_gone.is_some(), "the control deleted both");
    let trash = admin.get("/trash").await.text;
    assert!(!trash.contains(&format!("data-id=\"{}\"", w.org_b)), "the organisation is back: {trash}");
}

#[tokio::test]
async fn an_admins_trash_lists_users_and_organisations_and_restores_them() {
    let db = TestDb::new().await;
    let origin = Origin::start(&db, OriginOptions::default()).await;
    let w = world::build(origin.domain()).await;
    let (admin, _) = world::admin_client(&origin, &w).await;
    assert_eq!(admin.delete(&format!("/api/v1/users/{}", w.customer_a.0)).await.status, 204);
    assert_eq!(admin.delete(&format!("/api/v1/orgs/{}", w.org_b)).await.status, 204);
    let trash = admin.get("/trash").await;
    assert_eq!(trash.status, 200);
    for (what, needle) in [
        ("the user", format!("data-kind=\"user\" data-id=\"{}\"", w.customer_a.0)),
        ("the organisation", format!("data-kind=\"organisation\" data-id=\"{}\"", w.org_b)),
        ("its event", format!("data-kind=\"event\" data-id=\"{}\"", w.event_b)),
        ("who deleted them", w.admin.1.clone()),
        ("the organisation's name", "Org B".to_string()),
    ] {
        assert!(trash.text.contains(&needle), "the trash shows {what}: {}", trash.text);
    }
    let to = redirected_to(
        &admin.send_form(&format!("/trash/users/{}/restore", w.customer_a.0), &[]).await,
        "restoring the user",
    );
    assert_eq!(to, "/trash?notice=user-restored");
    let to = redirected_to(
        &admin.send_form(&format!("/trash/orgs/{}/restore", w.org_b), &[]).await,
        "restoring the organisation",
    );
    assert_eq!(to, "/trash?notice=org-restored");
    for email in [&w.customer_a.1, &w.customer_b.1] {
        assert_eq!(ApiClient::new(&origin.url).login(email, PASSWORD).await.status, 200, "{email} is back");
    }
    let after = admin.get("/trash").await.text;
    assert!(
        !after.contains("data-kind=\"user\"") && !after.contains("data-kind=\"organisation\""),
        "{after}"
    );
}
