//! Ingest benchmark: `POST /internal/v1/taps` (signed, batches of 100, a few
//! concurrent clients) against the release origin binary and local Postgres,
//! and, in the same run, the physical limit: `COPY` of as many rows straight
//! into `tap_logs`. Prints taps/s for both, their ratio, and the origin's RSS.
//!
//!   cargo build --release -p origin-api && cargo bench -p system-tests --bench ingest
//!   (env: INGEST_TAPS=400000 INGEST_CLIENTS=4 ORIGIN_API_BIN=target/release/origin-api)

use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use shared::{AgentKind, BandId, DeviceClass, Reason, TapBatch, TapEvent};
use system_tests::db::TestDb;
use system_tests::{http, keys, ports, repo_root};
use uuid::Uuid;

const BATCH: usize = 100;

fn env_num(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn tap(i: usize, event: Uuid, org: Uuid, now_ms: i64) -> TapEvent {
    let ts_ms = now_ms - (i % 3_600_000) as i64;
    TapEvent {
        id: system_tests::taps::id_at(ts_ms),
        band_id: BandId::parse(&format!("BENCH{:05}", i % 50_000)).expect("band id"),
        event_id: Some(event),
        org_id: Some(org),
        ts_ms,
        outcome: Reason::Default,
        head: false,
        agent: AgentKind::Human,
        device: if i.is_multiple_of(2) { DeviceClass::Ios } else { DeviceClass::Android },
        country: Some("GB".into()),
        colo: Some("LHR".into()),
    }
}

fn rss_kb(pid: u32, field: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines().find(|l| l.starts_with(field)).and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

struct Server(Child);
impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::main]
async fn main() {
    let total = env_num("INGEST_TAPS", 400_000).div_ceil(BATCH) * BATCH;
    let clients = env_num("INGEST_CLIENTS", 4);
    // ORIGIN_API_BIN benchmarks another build (say, the previous commit's) on the same machine state.
    let binary = std::env::var_os("ORIGIN_API_BIN").map(std::path::PathBuf::from).unwrap_or_else(|| {
        let target =
            std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| repo_root().join("target"), Into::into);
        target.join("release/origin-api")
    });
    assert!(binary.exists(), "build the origin first: cargo build --release -p origin-api");

    let db = TestDb::new().await;
    let spec = keys::random_key_spec("bench");
    let port = ports::free_port();
    let server = Server(
        Command::new(&binary)
            .arg("serve")
            .env("APP_ENV", "development")
            .env("DATABASE_URL", &db.url)
            .env("BIND_ADDR", format!("127.0.0.1:{port}"))
            .env("SIGNING_KEYS", &spec)
            .env("AUDIT_KEYS", keys::random_key_spec("audit"))
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start origin"),
    );
    let base = format!("http://127.0.0.1:{port}");
    let client = http::client();
    for _ in 0..100 {
        if client.get(format!("{base}/healthz")).send().await.is_ok() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let pid = server.0.id();
    let rss_idle = rss_kb(pid, "VmRSS:");

    let (event, org) = (Uuid::now_v7(), Uuid::now_v7());
    let ring = Arc::new(keys::keyring(&spec));
    let url = format!("{base}/internal/v1/taps");
    // A-B-B-A: each path runs twice, in mirrored order, after a CHECKPOINT,
    // so table growth and background writes weigh on both alike.
    let mut endpoint_secs = 0.0;
    let mut copy_secs = 0.0;
    for path in ["copy", "endpoint", "endpoint", "copy"] {
        sqlx::query("CHECKPOINT").execute(&db.pool).await.expect("checkpoint");
        let now_ms = chrono::Utc::now().timestamp_millis();
        match path {
            "endpoint" => {
                endpoint_secs +=
                    endpoint_round(&client, &url, &ring, total, clients, event, org, now_ms).await
            }
            _ => copy_secs += copy_round(&db, total, event, org, now_ms).await,
        }
    }
    let rss_peak = rss_kb(pid, "VmHWM:");
    let total = total * 2;
    let endpoint_rate = total as f64 / endpoint_secs;
    let copy_rate = total as f64 / copy_secs;
    println!(
        "\nIngest benchmark — {total} taps per path (two rounds each, A-B-B-A order), batches of {BATCH}, {clients} concurrent clients, local Postgres\n"
    );
    println!("| path | taps | seconds | taps/s |");
    println!("| --- | ---: | ---: | ---: |");
    println!("| POST /internal/v1/taps (signed) | {total} | {endpoint_secs:.2} | {endpoint_rate:.0} |");
    println!("| COPY into tap_logs | {total} | {copy_secs:.2} | {copy_rate:.0} |");
    println!("\nendpoint / COPY = {:.2}", endpoint_rate / copy_rate);
    println!(
        "origin RSS: {:.1} MiB idle, {:.1} MiB peak",
        rss_idle as f64 / 1024.0,
        rss_peak as f64 / 1024.0
    );
    println!(
        "targets: >= 50000 taps/s ({}), >= 0.5 of COPY ({})",
        if endpoint_rate >= 50_000.0 { "met" } else { "MISSED" },
        if endpoint_rate / copy_rate >= 0.5 { "met" } else { "MISSED" }
    );
}

/// Sends `total` fresh taps through the endpoint; returns the seconds taken.
#[allow(clippy::too_many_arguments)]
async fn endpoint_round(
    client: &reqwest::Client,
    url: &str,
    ring: &Arc<shared::Keyring>,
    total: usize,
    clients: usize,
    event: Uuid,
    org: Uuid,
    now_ms: i64,
) -> f64 {
    // Pre-serialised, so the timed part is the service, not the generator.
    let bodies: Arc<Vec<Vec<u8>>> = Arc::new(
        (0..total / BATCH)
            .map(|b| {
                let taps = (0..BATCH).map(|i| tap(b * BATCH + i, event, org, now_ms)).collect();
                serde_json::to_vec(&TapBatch { taps }).expect("serialise")
            })
            .collect(),
    );
    let next = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let mut handles = Vec::new();
    for _ in 0..clients {
        let (bodies, next, ring, client, url) =
            (Arc::clone(&bodies), Arc::clone(&next), Arc::clone(ring), client.clone(), url.to_string());
        handles.push(tokio::spawn(async move {
            let mut accepted = 0u64;
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed) as usize;
                let Some(body) = bodies.get(i) else { break };
                let signed = keys::sign_now(&ring, "POST", "/internal/v1/taps", body);
                let resp =
                    keys::apply(client.post(&url), &signed).body(body.clone()).send().await.expect("send");
                assert_eq!(resp.status(), 200, "ingest failed");
                let result: shared::TapBatchResult = resp.json().await.expect("result");
                accepted += result.accepted;
            }
            accepted
        }));
    }
    let mut accepted = 0;
    for h in handles {
        accepted += h.await.expect("client");
    }
    let secs = started.elapsed().as_secs_f64();
    assert_eq!(accepted as usize, total, "every tap stored once");
    secs
}

/// COPYs `total` fresh rows into `tap_logs`; returns the seconds taken.
async fn copy_round(db: &TestDb, total: usize, event: Uuid, org: Uuid, now_ms: i64) -> f64 {
    let mut csv = String::with_capacity(total * 150);
    for i in 0..total {
        let t = tap(i, event, org, now_ms);
        let ts = chrono::DateTime::from_timestamp_millis(t.ts_ms).expect("ts").to_rfc3339();
        csv.push_str(&format!(
            "{},{},{event},{org},{ts},default,f,human,{},GB,LHR\n",
            t.id,
            t.band_id,
            t.device.as_str()
        ));
    }
    let mut conn = db.pool.acquire().await.expect("conn");
    let started = Instant::now();
    let mut copy = conn
        .copy_in_raw(
            "COPY tap_logs (id, band_id, event_id, org_id, tapped_at, outcome, head, agent, device, country, colo) FROM STDIN (FORMAT csv)",
        )
        .await
        .expect("copy");
    copy.send(csv.as_bytes()).await.expect("copy send");
    let copied = copy.finish().await.expect("copy finish");
    let secs = started.elapsed().as_secs_f64();
    assert_eq!(copied as usize, total);
    secs
}
