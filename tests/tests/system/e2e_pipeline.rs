//! The whole tap pipeline on real components: CLI → Postgres → outbox → the
//! edge's KV (real workerd) → tap → 302 → queue → signed ingest → exactly one
//! `tap_logs` row; then an edit at the origin that the edge follows.

use std::sync::Arc;
use std::time::Duration;

use origin_api::clock::SystemClock;
use system_tests::db::TestDb;
use system_tests::edge::{Edge, EdgeOptions};
use system_tests::origin::{Origin, OriginOptions, cli, succeeded};
use system_tests::{eventually, http, unix_now};

const IPHONE: &str = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1";

async fn location(edge: &Edge, path: &str) -> Option<String> {
    let r = http::client().get(edge.url(path)).header("user-agent", IPHONE).send().await.ok()?;
    r.headers().get("location").and_then(|l| l.to_str().ok()).map(str::to_string)
}

async fn run_ok(db: &TestDb, opts: &OriginOptions, args: &[&str]) -> String {
    let (code, out) = cli(db, opts, args).await;
    assert!(succeeded(code), "origin-api {args:?} failed: {out}");
    out
}

#[tokio::test]
async fn an_event_created_at_the_origin_routes_taps_at_the_edge_and_every_tap_lands_once() {
    let db = TestDb::new().await;
    let listener = Origin::bind().await;
    let origin_url = format!("http://{}", listener.local_addr().unwrap());
    let options = OriginOptions::default();
    let edge = Edge::start(EdgeOptions {
        origin_url: origin_url.clone(),
        signing_keys: options.signing_keys.clone(),
        ..EdgeOptions::default()
    })
    .await;
    let options = OriginOptions { edge_url: Some(edge.base_url.clone()), ..options };
    let _origin = Origin::start_on(listener, &db, options.clone(), Arc::new(SystemClock)).await;

    // Set up through the CLI, as an operator would.
    let org = run_ok(&db, &options, &["org", "create", "--name", "Pipeline Festival"]).await;
    let org_id = org.split('\t').next().unwrap().trim().to_string();
    let event_id = run_ok(
        &db,
        &options,
        &[
            "event",
            "create",
            "--org",
            &org_id,
            "--name",
            "Main stage",
            "--default-url",
            "https://example.com/default",
            "--fallback-url",
            "https://example.com/fallback",
        ],
    )
    .await
    .trim()
    .to_string();
    let now = unix_now();
    let starts = chrono::DateTime::from_timestamp(now - 3600, 0).unwrap().to_rfc3339();
    let ends = chrono::DateTime::from_timestamp(now + 3600, 0).unwrap().to_rfc3339();
    let window_id = run_ok(
        &db,
        &options,
        &[
            "event",
            "window",
            "add",
            &event_id,
            "--starts-at",
            &starts,
            "--ends-at",
            &ends,
            "--url",
            "https://example.com/live",
            "--label",
            "live",
        ],
    )
    .await;
    let csv = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(csv.path(), "band_id,label\nPIPE0001,Gate A\nPIPE0002,Gate B\n").unwrap();
    run_ok(&db, &options, &["bands", "import", "--event", &event_id, "--csv", csv.path().to_str().unwrap()])
        .await;

    // The edge learns the routing through the outbox and KV.
    eventually("the edge to route PIPE0001 to the live window", Duration::from_secs(30), || async {
        (location(&edge, "/PIPE0001").await.as_deref() == Some("https://example.com/live")).then_some(())
    })
    .await;
    let taps_before: i64 = sqlx::query_scalar("SELECT count(*) FROM tap_logs WHERE band_id = 'PIPE0002'")
        .fetch_one(&db.pool)
        .await
        .unwrap();
    assert_eq!(taps_before, 0);

    // One tap → one row, with the right event and organisation.
    assert_eq!(location(&edge, "/pipe0002").await.as_deref(), Some("https://example.com/live"));
    let row: (String, String, String, String, bool, String) = eventually("the tap to reach Postgres", Duration::from_secs(30), || async {
        sqlx::query_as(
            "SELECT event_id::text, org_id::text, outcome, device, head, agent FROM tap_logs WHERE band_id = 'PIPE0002'",
        )
        .fetch_optional(&db.pool)
        .await
        .unwrap()
    })
    .await;
    assert_eq!(row, (event_id.clone(), org_id.clone(), "window".into(), "ios".into(), false, "human".into()));
    tokio::time::sleep(Duration::from_secs(3)).await;
    let count: i64 = sqlx::query_scalar("SELECT count(*) FROM tap_logs WHERE band_id = 'PIPE0002'")
        .fetch_one(&db.pool)
        .await
        .unwrap();
    assert_eq!(count, 1, "exactly one row per tap");

    // URL edits at the origin: the edge follows each after sync.
    let window_id = window_id.trim().to_string();
    run_ok(&db, &options, &["event", "window", "remove", &event_id, &window_id]).await;
    eventually("the edge to fall back to the default URL", Duration::from_secs(30), || async {
        (location(&edge, "/PIPE0001").await.as_deref() == Some("https://example.com/default")).then_some(())
    })
    .await;
    run_ok(&db, &options, &["event", "update", &event_id, "--default-url", "https://example.com/changed"])
        .await;
    eventually("the edge to follow the new default URL", Duration::from_secs(30), || async {
        (location(&edge, "/PIPE0001").await.as_deref() == Some("https://example.com/changed")).then_some(())
    })
    .await;
    // A status edit: the event goes inactive and taps go to its fallback.
    run_ok(&db, &options, &["event", "update", &event_id, "--status", "inactive"]).await;
    eventually("the edge to follow the edit", Duration::from_secs(30), || async {
        (location(&edge, "/PIPE0001").await.as_deref() == Some("https://example.com/fallback")).then_some(())
    })
    .await;
}
