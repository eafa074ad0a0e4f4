//! The background task that drains the outbox into the edge's KV.
//!
//! One pusher runs across all replicas (a Postgres advisory lock held on a
//! dedicated connection); it sends at most [`shared::records::MAX_KV_OPS`]
//! pending rows at a time, oldest first, and only marks them done after the
//! edge answered 2xx. On failure it backs off exponentially and tries the
//! same rows again, so nothing is skipped and nothing overtakes.

use std::time::Duration;

use rand::RngCore;
use shared::records::MAX_KV_OPS;
use shared::{Keyring, KvBatch, KvOp};
use sqlx::postgres::PgListener;
use sqlx::{Connection, PgPool};
use url::Url;

use super::outbox::CHANNEL;

/// Advisory-lock key electing the single pusher.
const LOCK_KEY: i64 = 0x534d_4b56_5055_5348; // "SMKVPUSH"
/// The edge route.
const PATH: &str = "/_internal/kv";
/// Longest wait between polls when no notification arrives.
const IDLE_POLL: Duration = Duration::from_secs(2);

/// Why a push failed.
#[derive(Debug, thiserror::Error)]
pub enum PushError {
    /// The database failed.
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    /// The edge could not be reached.
    #[error("edge unreachable: {0}")]
    Unreachable(#[from] reqwest::Error),
    /// The edge refused the batch.
    #[error("edge answered {status}: {body}")]
    Refused {
        /// HTTP status.
        status: u16,
        /// Body (truncated).
        body: String,
    },
}

/// Pushes outbox rows to one edge.
#[derive(Clone)]
pub struct Pusher {
    db: PgPool,
    edge: Url,
    keys: Keyring,
    client: reqwest::Client,
    max_backoff: Duration,
}

impl Pusher {
    /// A pusher for `edge`, signing with `keys`.
    pub fn new(db: PgPool, edge: Url, keys: Keyring, max_backoff: Duration) -> Result<Self, reqwest::Error> {
        // TLS uses ring; installing it twice is a harmless no-op.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let client = reqwest::Client::builder().timeout(Duration::from_secs(15)).build()?;
        Ok(Self { db, edge, keys, client, max_backoff })
    }

    /// Runs until the process ends: waits to be the elected pusher, then drains.
    pub async fn run(self) {
        let mut backoff = Duration::from_millis(250);
        loop {
            match self.lead().await {
                Ok(()) => backoff = Duration::from_millis(250),
                Err(e) => {
                    tracing::warn!(event = "kv_push_failed", error = %e, retry_in_ms = backoff.as_millis() as u64, "KV push failed");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(self.max_backoff);
                }
            }
        }
    }

    /// Holds the leader lock and drains the outbox until an error.
    async fn lead(&self) -> Result<(), PushError> {
        let mut lock_conn = self.db.acquire().await?.detach();
        loop {
            let leader: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock($1)")
                .bind(LOCK_KEY)
                .fetch_one(&mut lock_conn)
                .await?;
            if leader {
                break;
            }
            tokio::time::sleep(Duration::from_secs(5)).await;
        }
        let mut listener = PgListener::connect_with(&self.db).await?;
        listener.listen(CHANNEL).await?;
        let mut failures = 0u32;
        loop {
            match self.push_once().await {
                Ok(0) => {
                    failures = 0;
                    // Wait for a commit notification (or poll, in case one was missed).
                    let _ = tokio::time::timeout(IDLE_POLL, listener.try_recv()).await;
                }
                Ok(_) => failures = 0,
                Err(e) => {
                    failures += 1;
                    let wait = (Duration::from_millis(250) * 2u32.saturating_pow(failures.min(16)))
                        .min(self.max_backoff);
                    tracing::warn!(event = "kv_push_failed", error = %e, attempt = failures, retry_in_ms = wait.as_millis() as u64, "KV push failed; will retry");
                    tokio::time::sleep(wait).await;
                    // Check the lock connection is still alive; if not, re-elect.
                    if lock_conn.ping().await.is_err() {
                        return Err(e);
                    }
                }
            }
        }
    }

    /// Pushes the oldest pending rows once; returns how many were delivered.
    pub async fn push_once(&self) -> Result<usize, PushError> {
        let rows: Vec<(i64, serde_json::Value)> =
            sqlx::query_as("SELECT seq, op FROM kv_outbox WHERE done_at IS NULL ORDER BY seq LIMIT $1")
                .bind(MAX_KV_OPS as i64)
                .fetch_all(&self.db)
                .await?;
        if rows.is_empty() {
            return Ok(0);
        }
        let seqs: Vec<i64> = rows.iter().map(|(seq, _)| *seq).collect();
        let ops: Vec<KvOp> = rows
            .into_iter()
            .filter_map(|(seq, op)| {
                let mut op: KvOp = serde_json::from_value(op).ok()?;
                // The outbox sequence is the record revision: monotonic per key.
                match &mut op {
                    KvOp::PutBand { record, .. } => record.rev = seq,
                    KvOp::PutEvent { record, .. } => record.rev = seq,
                    KvOp::DeleteBand { .. } | KvOp::DeleteEvent { .. } => {}
                }
                Some(op)
            })
            .collect();
        // Read after the rows: every revision ever pushed is at most this.
        let rev_ceiling: Option<i64> =
            sqlx::query_scalar("SELECT pg_sequence_last_value('kv_outbox_seq_seq')")
                .fetch_one(&self.db)
                .await?;
        let body = serde_json::to_vec(&KvBatch { ops, rev_ceiling }).unwrap_or_default();
        match self.send(&body).await {
            Ok(()) => {
                sqlx::query(
                    "UPDATE kv_outbox SET done_at = now(), attempts = attempts + 1 WHERE seq = ANY($1)",
                )
                .bind(&seqs)
                .execute(&self.db)
                .await?;
                tracing::info!(
                    event = "kv_push_delivered",
                    count = seqs.len(),
                    last_seq = seqs.last().copied().unwrap_or(0)
                );
                Ok(seqs.len())
            }
            Err(e) => {
                sqlx::query("UPDATE kv_outbox SET attempts = attempts + 1, last_error = left($2, 500) WHERE seq = ANY($1)")
                    .bind(&seqs)
                    .bind(e.to_string())
                    .execute(&self.db)
                    .await?;
                Err(e)
            }
        }
    }

    async fn send(&self, body: &[u8]) -> Result<(), PushError> {
        let mut nonce = [0u8; 16];
        rand::rng().fill_bytes(&mut nonce);
        let signed = shared::signing::sign(
            self.keys.signing_key(),
            "POST",
            PATH,
            chrono::Utc::now().timestamp(),
            &hex::encode(nonce),
            body,
        );
        let mut url = self.edge.clone();
        url.set_path(PATH);
        let mut req = self.client.post(url).header("content-type", "application/json").body(body.to_vec());
        for (name, value) in signed.pairs() {
            req = req.header(name, value);
        }
        let resp = req.send().await?;
        let status = resp.status();
        if status.is_success() {
            return Ok(());
        }
        let text = resp.text().await.unwrap_or_default();
        Err(PushError::Refused { status: status.as_u16(), body: text.chars().take(300).collect() })
    }
}

/// Rows not yet delivered (the dashboard's "propagating" state).
pub async fn pending_count(db: &PgPool) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar("SELECT count(*) FROM kv_outbox WHERE done_at IS NULL").fetch_one(db).await
}

/// Changes to an event (its record, or any of its bands put or deleted) not yet at the edge.
pub async fn pending_for_event(db: &PgPool, event_id: uuid::Uuid) -> Result<i64, sqlx::Error> {
    // Every row concerning an event names it (`kv_outbox.event_id`): a band
    // deletion's op alone would not say which event's taps it changes.
    sqlx::query_scalar("SELECT count(*) FROM kv_outbox WHERE done_at IS NULL AND event_id = $1")
        .bind(event_id)
        .fetch_one(db)
        .await
}
