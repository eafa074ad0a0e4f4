//! Queue consumer: delivers tap batches to the origin, signed.
//!
//! A message is acknowledged only after the origin answered 2xx (it commits
//! before answering), otherwise retried. The retry delay is the time the
//! message has already spent in the queue, clamped to
//! [`RETRY_BASE_SECONDS`, `RETRY_MAX_SECONDS`]: each wait equals the total so
//! far, so waits double — exponential backoff without a per-message counter.
//! After `max_retries` the queue moves a message to the `taps-dlq` queue.

use shared::TapEvent;
use worker::{Date, Env, MessageBatch, MessageExt, Method, QueueRetryOptionsBuilder, RawMessage};

use crate::config;
use crate::{log, signed_fetch};

/// The origin's ingest route.
const INGEST_PATH: &str = "/internal/v1/taps";
/// Deadline for one delivery.
const DELIVERY_TIMEOUT_MS: u32 = 20_000;

/// Delivers one batch; never fails (failures become retries).
pub async fn deliver(batch: &MessageBatch<String>, env: &Env) {
    let now_ms = Date::now().as_millis();
    let base = config::number(env, "RETRY_BASE_SECONDS", 5);
    let max = config::number(env, "RETRY_MAX_SECONDS", 900);
    let retry = |msg: &RawMessage| {
        let waited_secs = now_ms.saturating_sub(msg.timestamp().as_millis()) / 1000;
        let delay = waited_secs.clamp(base, max.max(base));
        msg.retry_with_options(&QueueRetryOptionsBuilder::new().with_delay_seconds(delay as u32).build());
    };

    let mut deliverable: Vec<(RawMessage, String)> = Vec::new();
    for msg in batch.raw_iter() {
        match msg.body().as_string().filter(|body| serde_json::from_str::<TapEvent>(body).is_ok()) {
            Some(body) => deliverable.push((msg, body)),
            None => {
                // Poison: kept (retried until it lands in the dead-letter queue), never silently dropped.
                log::error("tap_message_malformed", &[("message_id", &msg.id())]);
                retry(&msg);
            }
        }
    }
    if deliverable.is_empty() {
        return;
    }
    let count = deliverable.len().to_string();
    let (Some(origin), Some(keyring)) = (config::origin_url(env), config::keyring(env)) else {
        log::error(
            "tap_delivery_failed",
            &[("count", &count), ("reason", "ORIGIN_URL or SIGNING_KEYS not set")],
        );
        deliverable.iter().for_each(|(m, _)| retry(m));
        return;
    };

    let mut body = String::with_capacity(16 + deliverable.iter().map(|(_, b)| b.len() + 1).sum::<usize>());
    body.push_str("{\"taps\":[");
    for (i, (_, tap)) in deliverable.iter().enumerate() {
        if i > 0 {
            body.push(',');
        }
        body.push_str(tap);
    }
    body.push_str("]}");

    // One id per delivery attempt, in the edge's log line and the origin's.
    let request_id = format!("batch-{}", crate::nonce::fresh().unwrap_or_default());
    let outcome = signed_fetch::send(
        &keyring,
        Method::Post,
        &origin,
        INGEST_PATH,
        Some(body.as_bytes()),
        DELIVERY_TIMEOUT_MS,
        &request_id,
    )
    .await
    .map(|r| r.status_code());
    match outcome {
        Ok(status) if (200..300).contains(&status) => {
            deliverable.iter().for_each(|(m, _)| m.ack());
            log::info(
                "tap_batch_delivered",
                &[("count", &count), ("status", &status.to_string()), ("request_id", &request_id)],
            );
        }
        Ok(status) => {
            deliverable.iter().for_each(|(m, _)| retry(m));
            log::warn(
                "tap_delivery_failed",
                &[("count", &count), ("status", &status.to_string()), ("request_id", &request_id)],
            );
        }
        Err(e) => {
            deliverable.iter().for_each(|(m, _)| retry(m));
            log::warn("tap_delivery_failed", &[("count", &count), ("reason", &e.to_string())]);
        }
    }
}
