//! A stand-in origin for edge-only tests: verifies every signature with the
//! shared scheme, rejects replays, records tap batches, can be told to fail,
//! and serves band lookups for the edge's KV-miss path.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::routing::{get, post};
use shared::{BandLookup, Keyring, KvBatch, TapBatch, TapEvent};

#[derive(Default)]
struct Inner {
    taps: Vec<TapEvent>,
    raw_taps: Vec<serde_json::Value>,
    nonces: HashSet<String>,
    lookups: HashMap<String, BandLookup>,
    kv_batches: Vec<KvBatch>,
}

struct Shared {
    keyring: Keyring,
    fail_remaining: AtomicUsize,
    attempts: AtomicUsize,
    rejected: AtomicUsize,
    lookup_calls: AtomicUsize,
    kv_fail_remaining: AtomicUsize,
    kv_attempts: AtomicUsize,
    inner: Mutex<Inner>,
}

/// A running receiver.
pub struct Receiver {
    /// `http://127.0.0.1:<port>`.
    pub url: String,
    state: Arc<Shared>,
    task: tokio::task::JoinHandle<()>,
}

impl Receiver {
    /// Starts on a free port, accepting signatures from `key_spec`.
    pub async fn start(key_spec: &str) -> Receiver {
        let state = Arc::new(Shared {
            keyring: crate::keys::keyring(key_spec),
            fail_remaining: AtomicUsize::new(0),
            attempts: AtomicUsize::new(0),
            rejected: AtomicUsize::new(0),
            lookup_calls: AtomicUsize::new(0),
            kv_fail_remaining: AtomicUsize::new(0),
            kv_attempts: AtomicUsize::new(0),
            inner: Mutex::new(Inner::default()),
        });
        let app = Router::new()
            .route("/internal/v1/taps", post(ingest))
            .route("/internal/v1/bands/{id}", get(lookup))
            .route("/_internal/kv", post(kv_push))
            .with_state(Arc::clone(&state));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind receiver");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Receiver { url, state, task }
    }

    /// Answer 500 to the next `n` tap deliveries (after verifying them).
    pub fn fail_next(&self, n: usize) {
        self.state.fail_remaining.store(n, Ordering::SeqCst);
    }

    /// Every tap accepted so far (duplicates included).
    pub fn taps(&self) -> Vec<TapEvent> {
        self.state.inner.lock().expect("lock").taps.clone()
    }

    /// Every accepted tap as raw JSON (to check which fields travel).
    pub fn raw_taps(&self) -> Vec<serde_json::Value> {
        self.state.inner.lock().expect("lock").raw_taps.clone()
    }

    /// Delivery attempts that passed signature checks (failed ones included).
    pub fn attempts(&self) -> usize {
        self.state.attempts.load(Ordering::SeqCst)
    }

    /// Requests refused for their signature.
    pub fn rejected(&self) -> usize {
        self.state.rejected.load(Ordering::SeqCst)
    }

    /// Band lookups served.
    pub fn lookup_calls(&self) -> usize {
        self.state.lookup_calls.load(Ordering::SeqCst)
    }

    /// Answer 503 to the next `n` KV pushes (an edge outage).
    pub fn fail_kv_pushes(&self, n: usize) {
        self.state.kv_fail_remaining.store(n, Ordering::SeqCst);
    }

    /// KV pushes accepted so far, in arrival order.
    pub fn kv_batches(&self) -> Vec<KvBatch> {
        self.state.inner.lock().expect("lock").kv_batches.clone()
    }

    /// KV push attempts that passed signature checks (failed ones included).
    pub fn kv_attempts(&self) -> usize {
        self.state.kv_attempts.load(Ordering::SeqCst)
    }

    /// Makes `GET /internal/v1/bands/<band_id>` answer `answer`.
    pub fn set_lookup(&self, band_id: &str, answer: BandLookup) {
        self.state.inner.lock().expect("lock").lookups.insert(band_id.to_string(), answer);
    }

    /// Waits until at least `n` distinct taps arrived; returns them all.
    pub async fn wait_for_distinct(&self, n: usize, timeout: Duration) -> Vec<TapEvent> {
        crate::eventually(&format!("{n} distinct taps at the receiver"), timeout, || async {
            let taps = self.taps();
            let distinct: HashSet<_> = taps.iter().map(|t| t.id).collect();
            (distinct.len() >= n).then_some(taps)
        })
        .await
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn verify(state: &Shared, method: &Method, uri: &Uri, headers: &HeaderMap, body: &[u8]) -> bool {
    let target = uri.path_and_query().map_or(uri.path(), |pq| pq.as_str());
    let verified = shared::signing::verify_headers(
        &state.keyring,
        method.as_str(),
        target,
        |name| headers.get(name).and_then(|v| v.to_str().ok()),
        crate::unix_now(),
    );
    let ok = match verified {
        Ok(v) => v.check_body(body).is_ok() && state.inner.lock().expect("lock").nonces.insert(v.nonce),
        Err(_) => false,
    };
    if !ok {
        state.rejected.fetch_add(1, Ordering::SeqCst);
    }
    ok
}

async fn ingest(
    State(state): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    if !verify(&state, &method, &uri, &headers, &body) {
        return StatusCode::UNAUTHORIZED;
    }
    state.attempts.fetch_add(1, Ordering::SeqCst);
    let failing =
        state.fail_remaining.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1)).is_ok();
    if failing {
        return StatusCode::INTERNAL_SERVER_ERROR;
    }
    let Ok(batch) = serde_json::from_slice::<TapBatch>(&body) else {
        return StatusCode::UNPROCESSABLE_ENTITY;
    };
    let raw: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
    let mut inner = state.inner.lock().expect("lock");
    inner.taps.extend(batch.taps);
    if let Some(items) = raw.get("taps").and_then(|t| t.as_array()) {
        inner.raw_taps.extend(items.iter().cloned());
    }
    StatusCode::OK
}

async fn lookup(
    State(state): State<Arc<Shared>>,
    Path(id): Path<String>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> Result<axum::Json<BandLookup>, StatusCode> {
    if !verify(&state, &method, &uri, &headers, b"") {
        return Err(StatusCode::UNAUTHORIZED);
    }
    state.lookup_calls.fetch_add(1, Ordering::SeqCst);
    let inner = state.inner.lock().expect("lock");
    inner.lookups.get(&id).cloned().map(axum::Json).ok_or(StatusCode::NOT_FOUND)
}

async fn kv_push(
    State(state): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    if !verify(&state, &method, &uri, &headers, &body) {
        return StatusCode::UNAUTHORIZED;
    }
    state.kv_attempts.fetch_add(1, Ordering::SeqCst);
    if state.kv_fail_remaining.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1)).is_ok()
    {
        return StatusCode::SERVICE_UNAVAILABLE;
    }
    let Ok(batch) = serde_json::from_slice::<KvBatch>(&body) else {
        return StatusCode::BAD_REQUEST;
    };
    state.inner.lock().expect("lock").kv_batches.push(batch);
    StatusCode::OK
}
