//! KV sync under failure: every committed routing change reaches the edge,
//! in order per key, through an edge outage and an origin crash.

use std::collections::HashMap;
use std::time::Duration;

use origin_api::domain::actor::Actor;
use origin_api::domain::bands::{BandPatch, BandStatus, NewBand};
use origin_api::domain::events::{EventPatch, NewEvent};
use origin_api::domain::orgs::NewOrg;
use shared::{BandId, KvOp};
use system_tests::db::TestDb;
use system_tests::eventually;
use system_tests::origin::{Origin, OriginOptions};
use system_tests::receiver::Receiver;

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
