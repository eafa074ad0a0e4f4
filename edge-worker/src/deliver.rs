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
        let delay = retry_delay_secs(now_ms, msg.timestamp().as_millis(), base, max);
        msg.retry_with_options(&QueueRetryOptionsBuilder::new().with_delay_seconds(delay).build());
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

/// The wait before the next attempt: the time the message has spent in the
/// queue so far, within `[base, max]` (so waits double until `max`).
fn retry_delay_secs(now_ms: u64, enqueued_ms: u64, base: u64, max: u64) -> u32 {
    let waited_secs = now_ms.saturating_sub(enqueued_ms) / 1000;
    u32::try_from(waited_secs.clamp(base, max.max(base))).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    use super::retry_delay_secs;

    #[test]
    fn waits_double_from_the_base_up_to_the_cap() {
        // A message that fails every time: each attempt happens when the previous wait ends.
        let (base, max) = (5, 900);
        let mut now_ms = 0u64;
        let mut waits = Vec::new();
        for _ in 0..10 {
            let wait = retry_delay_secs(now_ms, 0, base, max);
            waits.push(wait);
            now_ms += u64::from(wait) * 1000;
        }
        assert_eq!(waits, [5, 5, 10, 20, 40, 80, 160, 320, 640, 900]);
    }

    #[test]
    fn odd_inputs_stay_in_bounds() {
        assert_eq!(retry_delay_secs(0, 10_000, 5, 900), 5, "a timestamp in the future");
        assert_eq!(retry_delay_secs(u64::MAX, 0, 5, 900), 900);
        assert_eq!(retry_delay_secs(60_000, 0, 30, 10), 30, "a cap below the base: the base wins");
    }
}
