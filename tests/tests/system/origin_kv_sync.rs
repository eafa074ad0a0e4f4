//! KV sync under failure: every committed routing change reaches the edge,
//! in order per key, through an edge outage and an origin crash.

use std::collections::HashMap;
use std::time::Duration;

use origin_api::domain::actor::Actor;
use origin_api::domain::bands::{BandPatch, BandStatus, NewBand};
use origin_api::domain::events::{EventPatch, NewEvent};
use origin_api::domain::orgs::NewOrg;
use origin_api::kv_sync::pusher;
use shared::{BandId, KvOp};
use system_tests::api::ApiClient;
use system_tests::db::TestDb;
use system_tests::eventually;
use system_tests::origin::{Origin, OriginOptions};
use system_tests::receiver::Receiver;
use system_tests::world::{self, PASSWORD};
use uuid::Uuid;

async fn pending(db: &TestDb) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM kv_outbox WHERE done_at IS NULL")
        .fetch_one(&db.pool)
        .await
        .unwrap()
}

/// (key, rev, op) in the order the edge received them.
fn received(edge: &Receiver) -> Vec<(String, i64, KvOp)> {
    let mut out = Vec::new();
    for batch in edge.kv_batches() {
        for op in batch.ops {
            let rev = match &op {
                KvOp::PutBand { record, .. } => record.rev,
                KvOp::PutEvent { record, .. } => record.rev,
                KvOp::DeleteBand { .. } | KvOp::DeleteEvent { .. } => 0,
            };
            out.push((op.key(), rev, op));
        }
    }
    out
}

#[tokio::test]
async fn changes_survive_an_edge_outage_and_an_origin_crash_and_arrive_in_order_per_key() {
    let db = TestDb::new().await;
    let options = OriginOptions::default();
    let edge = Receiver::start(&options.signing_keys).await;
    edge.fail_kv_pushes(usize::MAX);
    let options = OriginOptions { edge_url: Some(edge.url.clone()), ..options };
    let origin = Origin::start(&db, options.clone()).await;

    // A burst of changes while the edge is down.
    let actor = Actor::cli();
    let domain = origin.domain().clone();
    let org = domain.create_org(&actor, NewOrg { name: "Sync Org".into(), slug: None }).await.unwrap();
    let event = domain
        .create_event(
            &actor,
            NewEvent {
                org_id: org.id,
                name: "Sync".into(),
                default_url: Some("https://v0.example/".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    for i in 1..=5 {
        let patch = EventPatch { default_url: Some(format!("https://v{i}.example/")), ..Default::default() };
        domain.update_event(&actor, event.id, patch).await.unwrap();
    }
    let bands: Vec<NewBand> = (1..=3)
        .map(|i| NewBand {
            line: i + 1,
            band_id: BandId::parse(&format!("SYNC{i:04}")).unwrap(),
            label: String::new(),
            status: BandStatus::Active,
            override_url: None,
        })
        .collect();
    domain.import_bands(&actor, event.id, bands, Vec::new()).await.unwrap();
    let band = BandId::parse("SYNC0002").unwrap();
    domain
        .update_band(&actor, &band, BandPatch { status: Some(BandStatus::Lost), ..Default::default() })
        .await
        .unwrap();
    domain
        .update_band(&actor, &band, BandPatch { status: Some(BandStatus::Disabled), ..Default::default() })
        .await
        .unwrap();
    let total: i64 = sqlx::query_scalar("SELECT count(*) FROM kv_outbox").fetch_one(&db.pool).await.unwrap();
    assert_eq!(total, 1 + 5 + 3 + 2);

    // The pusher keeps trying against the dead edge, delivering nothing.
    eventually("push attempts against the dead edge", Duration::from_secs(20), || async {
        (edge.kv_attempts() >= 2).then_some(())
    })
    .await;
    assert!(edge.kv_batches().is_empty());
    assert_eq!(pending(&db).await, total);

    // The origin crashes mid-sync; the edge recovers; the origin comes back.
    drop(origin);
    edge.fail_kv_pushes(0);
    let _origin = Origin::start(&db, options).await;
    eventually("the outbox to drain", Duration::from_secs(30), || async {
        (pending(&db).await == 0).then_some(())
    })
    .await;

    // Every change arrived: each outbox row's seq appears as a revision.
    let got = received(&edge);
    let seqs: Vec<i64> =
        sqlx::query_scalar("SELECT seq FROM kv_outbox ORDER BY seq").fetch_all(&db.pool).await.unwrap();
    let revs: Vec<i64> = got.iter().map(|(_, rev, _)| *rev).collect();
    for seq in &seqs {
        assert!(revs.contains(seq), "change {seq} never reached the edge (got {revs:?})");
    }
    // In order per key: revisions only ever increase for each key.
    let mut last: HashMap<&str, i64> = HashMap::new();
    for (key, rev, _) in &got {
        if let Some(prev) = last.insert(key, *rev) {
            assert!(*rev > prev, "{key}: revision {rev} arrived after {prev}");
        }
    }
    // The edge's final state is the database's final state.
    let final_event = got.iter().rev().find_map(|(_, _, op)| match op {
        KvOp::PutEvent { event_id, record } if *event_id == event.id => Some(record.clone()),
        _ => None,
    });
    assert_eq!(final_event.unwrap().default_url.unwrap().as_str(), "https://v5.example/");
    let final_band = got.iter().rev().find_map(|(_, _, op)| match op {
        KvOp::PutBand { band_id, record } if band_id == &band => Some(record.clone()),
        _ => None,
    });
    assert_eq!(final_band.unwrap().status, shared::BandStatus::Disabled);
    let retried: i64 = sqlx::query_scalar("SELECT count(*) FROM kv_outbox WHERE attempts > 1")
        .fetch_one(&db.pool)
        .await
        .unwrap();
    assert!(retried > 0, "rows were retried after failures");
}

#[tokio::test]
async fn a_change_is_pushed_promptly_once_committed() {
    let db = TestDb::new().await;
    let options = OriginOptions::default();
    let edge = Receiver::start(&options.signing_keys).await;
    let origin = Origin::start(&db, OriginOptions { edge_url: Some(edge.url.clone()), ..options }).await;
    let actor = Actor::cli();
    let org = origin.domain().create_org(&actor, NewOrg { name: "Prompt".into(), slug: None }).await.unwrap();
    let started = std::time::Instant::now();
    origin
        .domain()
        .create_event(
            &actor,
            NewEvent {
                org_id: org.id,
                name: "Now".into(),
                default_url: Some("https://now.example/".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    eventually("the push", Duration::from_secs(10), || async {
        (!edge.kv_batches().is_empty()).then_some(())
    })
    .await;
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "pushed on commit notification, not on a slow poll: {:?}",
        started.elapsed()
    );
    assert_eq!(pending(&db).await, 0);
}

/// Marks every pending row delivered, as the pusher does after the edge's 2xx.
async fn deliver_all(db: &TestDb) {
    sqlx::query("UPDATE kv_outbox SET done_at = now() WHERE done_at IS NULL")
        .execute(&db.pool)
        .await
        .unwrap();
}

/// The event each still-pending row was recorded for, oldest first.
async fn pending_events(db: &TestDb) -> Vec<(String, Option<Uuid>)> {
    sqlx::query_as("SELECT key, event_id FROM kv_outbox WHERE done_at IS NULL ORDER BY seq")
        .fetch_all(&db.pool)
        .await
        .unwrap()
}

/// `true` when a page's badge says the edge has every change to `event`, `false`
/// when it says the change is propagating (and polls for it); exactly one of the two.
fn badge_says_live(html: &str, event: Uuid, page: &str) -> bool {
    let live = html.contains("data-sync-state") && html.contains("Live at the edge");
    let pending = html.contains(&format!("data-sync-url=\"/events/{event}/sync\""))
        && html.contains("Propagating to the edge");
    assert!(live != pending, "{page}: exactly one sync state (live {live}, pending {pending}): {html}");
    live
}

/// The sync state of `event` as the function, the event page, its bands page and the
/// badge's poll each report it: all four agree, and `true` means live at the edge.
async fn edge_has_everything(origin: &Origin, client: &ApiClient, event: Uuid) -> bool {
    let function = pusher::pending_for_event(&origin.domain().db, event).await.unwrap() == 0;
    let page = client.get(&format!("/events/{event}")).await;
    assert_eq!(page.status, 200, "event page: {}", page.text);
    let bands = client.get(&format!("/events/{event}/bands")).await;
    assert_eq!(bands.status, 200, "bands page: {}", bands.text);
    let poll = client.get(&format!("/events/{event}/sync")).await;
    assert_eq!(poll.status, 200, "sync poll: {}", poll.text);
    let states = [
        function,
        badge_says_live(&page.text, event, "event page"),
        badge_says_live(&bands.text, event, "bands page"),
        poll.json["synced"].as_bool().unwrap(),
    ];
    assert!(
        states.iter().all(|s| *s == function),
        "function, event page, bands page and poll disagree: {states:?}"
    );
    function
}

#[tokio::test]
async fn a_queued_band_deletion_keeps_its_event_propagating_on_the_event_and_bands_pages_until_delivered() {
    let db = TestDb::new().await;
    // No edge: the pusher is off, so every row stays pending until marked delivered.
    let options = OriginOptions::default();
    let origin = Origin::start(&db, options.clone()).await;
    let domain = origin.domain().clone();
    let w = world::build(&domain).await;
    let (e, f) = (w.event_a, w.event_b);
    let mut alice = ApiClient::new(&origin.url);
    assert_eq!(alice.login(&w.customer_a.1, PASSWORD).await.status, 200);
    deliver_all(&db).await;
    assert!(edge_has_everything(&origin, &alice, e).await, "everything delivered: E is live");

    // Every kind of band change of E is counted: status, override, import.
    let band_a = BandId::parse(&w.band_a).unwrap();
    let changes = [
        BandPatch { status: Some(BandStatus::Lost), ..Default::default() },
        BandPatch { override_url: Some("https://override.example/".into()), ..Default::default() },
    ];
    for patch in changes {
        domain.update_band(&Actor::cli(), &band_a, patch.clone()).await.unwrap();
        assert!(!edge_has_everything(&origin, &alice, e).await, "{patch:?} is queued: E propagates");
        assert_eq!(pending_events(&db).await, [(format!("band:{band_a}"), Some(e))]);
        deliver_all(&db).await;
        assert!(edge_has_everything(&origin, &alice, e).await, "{patch:?} delivered: E is live");
    }
    let imported = NewBand {
        line: 2,
        band_id: BandId::parse("SYNCE002").unwrap(),
        label: String::new(),
        status: BandStatus::Active,
        override_url: None,
    };
    domain.import_bands(&Actor::cli(), e, vec![imported], Vec::new()).await.unwrap();
    assert!(!edge_has_everything(&origin, &alice, e).await, "an import is queued: E propagates");
    deliver_all(&db).await;
    assert!(edge_has_everything(&origin, &alice, e).await);

    // Another event's band deletion is that event's business only.
    let band_b = BandId::parse(&w.band_b).unwrap();
    domain.delete_band(&Actor::cli(), &band_b).await.unwrap();
    assert_eq!(pusher::pending_for_event(&domain.db, f).await.unwrap(), 1, "F's deletion is queued for F");
    assert!(edge_has_everything(&origin, &alice, e).await, "F's band deletion leaves E live");

    // E's band deleted through the dashboard: its taps now go elsewhere, and the
    // bands page it lands on, like the event page, says the edge does not have it yet.
    let deleted = alice.send_form(&format!("/bands/{band_a}/delete"), &[]).await;
    assert_eq!(deleted.status, 303, "{}", deleted.text);
    let landing = deleted.location().unwrap().to_string();
    assert_eq!(landing, format!("/events/{e}/bands?notice=band-deleted"));
    assert!(!badge_says_live(&alice.get(&landing).await.text, e, "bands page after the delete"));
    assert!(!edge_has_everything(&origin, &alice, e).await, "E's band deletion is queued: E propagates");
    assert_eq!(pusher::pending_for_event(&domain.db, e).await.unwrap(), 1);
    assert_eq!(
        pending_events(&db).await,
        [(format!("band:{band_b}"), Some(f)), (format!("band:{band_a}"), Some(e))],
        "each deletion names its band's event"
    );

    // An edge comes up and the pusher delivers both deletions: E is live again.
    drop(origin);
    let edge = Receiver::start(&options.signing_keys).await;
    let origin = Origin::start(&db, OriginOptions { edge_url: Some(edge.url.clone()), ..options }).await;
    let mut alice = ApiClient::new(&origin.url);
    assert_eq!(alice.login(&w.customer_a.1, PASSWORD).await.status, 200);
    eventually("the deletions to reach the edge", Duration::from_secs(30), || async {
        (pending(&db).await == 0).then_some(())
    })
    .await;
    let deletions: Vec<String> = received(&edge)
        .into_iter()
        .filter(|(_, _, op)| matches!(op, KvOp::DeleteBand { .. }))
        .map(|(key, _, _)| key)
        .collect();
    assert_eq!(deletions, [format!("band:{band_b}"), format!("band:{band_a}")]);
    assert!(edge_has_everything(&origin, &alice, e).await, "delivered: E is live again");
    assert_eq!(pusher::pending_for_event(&origin.domain().db, f).await.unwrap(), 0, "and so is F");
}

/// `kv resync` waits for an edit in flight and queues the state after it:
/// otherwise it could read a band before the edit commits yet take a later
/// revision, and the edge would keep the older state.
#[tokio::test]
async fn a_resync_waits_for_an_edit_in_flight_and_queues_the_state_after_it() {
    let db = TestDb::new().await;
    let origin = Origin::start(&db, OriginOptions::default()).await;
    let domain = origin.domain().clone();
    let event = event_with_band(&domain, "Race", "RACE0001").await;

    // An edit holds the band's row (as `update_band` does) and has not committed.
    let mut edit = db.pool.begin().await.unwrap();
    sqlx::query(
        "UPDATE bands SET override_url = 'https://after-the-edit.example/' WHERE band_id = 'RACE0001'",
    )
    .execute(&mut *edit)
    .await
    .unwrap();
    let pool = db.pool.clone();
    let resync = tokio::spawn(async move {
        let mut tx = pool.begin().await.unwrap();
        origin_api::kv_sync::outbox::enqueue_event_with_bands(&mut tx, event.id).await.unwrap();
        tx.commit().await.unwrap();
    });
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(!resync.is_finished(), "the resync read past an uncommitted edit");
    edit.commit().await.unwrap();
    resync.await.unwrap();

    let op: serde_json::Value =
        sqlx::query_scalar("SELECT op FROM kv_outbox WHERE key = 'band:RACE0001' ORDER BY seq DESC LIMIT 1")
            .fetch_one(&db.pool)
            .await
            .unwrap();
    let op: KvOp = serde_json::from_value(op).unwrap();
    let KvOp::PutBand { record, .. } = op else { panic!("expected a band put, got {op:?}") };
    assert_eq!(record.override_url.as_ref().map(|d| d.as_str()), Some("https://after-the-edit.example/"));
}

/// A replica still on the code from before `kv_outbox.event_id` (a rolling
/// deploy) writes rows without it; the database fills it in from the op, so
/// those changes still count as propagating on their event's pages.
#[tokio::test]
async fn rows_written_without_their_event_get_it_from_the_op() {
    let db = TestDb::new().await;
    let origin = Origin::start(&db, OriginOptions::default()).await;
    let actor = Actor::cli();
    let domain = origin.domain().clone();
    let event = event_with_band(&domain, "Old", "OLDC0001").await;
    domain.delete_band(&actor, &BandId::parse("OLDC0001").unwrap()).await.unwrap();

    // Every kind of row the current code wrote, written again as the old code would.
    let written: Vec<(String, serde_json::Value, Option<Uuid>)> =
        sqlx::query_as("SELECT key, op, event_id FROM kv_outbox ORDER BY seq")
            .fetch_all(&db.pool)
            .await
            .unwrap();
    let kinds: Vec<String> =
        written.iter().filter_map(|(_, op, _)| op.as_object()?.keys().next().cloned()).collect();
    for kind in ["put_event", "put_band", "delete_band"] {
        assert!(kinds.iter().any(|k| k == kind), "no {kind} row to copy: {kinds:?}");
    }
    for (key, op, event_id) in written {
        assert_eq!(event_id, Some(event.id), "the current code records the event: {key}");
        let filled: Option<Uuid> =
            sqlx::query_scalar("INSERT INTO kv_outbox (key, op) VALUES ($1, $2) RETURNING event_id")
                .bind(&key)
                .bind(&op)
                .fetch_one(&db.pool)
                .await
                .unwrap();
        assert_eq!(filled, Some(event.id), "an old-code row for {key} gets its event");
    }
}

/// An organisation with one event named `name` (default URL set) and one active band `band`.
async fn event_with_band(
    domain: &origin_api::domain::Domain,
    name: &str,
    band: &str,
) -> origin_api::domain::events::Event {
    let actor = Actor::cli();
    let org = domain.create_org(&actor, NewOrg { name: format!("{name} Org"), slug: None }).await.unwrap();
    let event = NewEvent {
        org_id: org.id,
        name: name.into(),
        default_url: Some(format!("https://{}.example/", name.to_lowercase())),
        ..Default::default()
    };
    let event = domain.create_event(&actor, event).await.unwrap();
    let band = NewBand {
        line: 2,
        band_id: BandId::parse(band).unwrap(),
        label: String::new(),
        status: BandStatus::Active,
        override_url: None,
    };
    domain.import_bands(&actor, event.id, vec![band], Vec::new()).await.unwrap();
    event
}
