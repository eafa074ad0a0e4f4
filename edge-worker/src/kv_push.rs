//! `POST /_internal/kv`: the origin pushes band and event changes.
//!
//! Authentication comes first and uses headers only: an unsigned, stale,
//! wrong-key or replayed request is refused (401) before a body byte is read.
//! Within a batch the last operation per key wins (the origin sends them in
//! commit order); a put never replaces a record with a newer `rev`, unless
//! that `rev` is above the highest the origin ever issued (the batch's
//! `rev_ceiling`): such a record was forged with a leaked key, and must not
//! outlive the key's rotation.

use serde::de::DeserializeOwned;
use shared::records::{MAX_KV_OPS, event_kv_key};
use shared::{BandRecord, EventRecord, KvBatch, KvBatchResult, KvOp};
use worker::kv::{KvError, KvStore};
use worker::{Env, Request, Result};

use crate::bindings;
use crate::config;
use crate::{event_cache, log, nonce, responses};

/// The route.
pub const PATH: &str = "/_internal/kv";
/// Largest accepted body.
const MAX_BODY_BYTES: usize = 1 << 20;

/// Handles one push.
pub async fn handle(req: web_sys::Request, env: &Env, https: bool) -> Result<web_sys::Response> {
    let Some(keyring) = config::keyring(env) else {
        return responses::json_error(503, "not_configured", "signing keys are not configured", https);
    };
    let unauthorized = || responses::json_error(401, "unauthorized", "missing or invalid signature", https);
    let target = crate::route::target_of(&req.url()).to_string();
    let now_secs = (js_sys::Date::now() / 1000.0) as i64;
    let headers: Vec<(&'static str, String)> = SIGNATURE_HEADERS
        .iter()
        .filter_map(|name| req.headers().get(name).ok().flatten().map(|v| (*name, v)))
        .collect();
    let header = |name: &str| headers.iter().find(|(n, _)| *n == name).map(|(_, v)| v.as_str());
    let verified = match shared::signing::verify_headers(&keyring, "POST", &target, header, now_secs) {
        Ok(v) => v,
        Err(e) => {
            log::warn("signature_rejected", &[("path", PATH), ("reason", &e.to_string())]);
            return unauthorized();
        }
    };
    let Some(kv) = bindings::kv(env) else {
        return responses::json_error(503, "not_configured", "KV binding missing", https);
    };
    match nonce::first_use(&kv, &verified.nonce).await {
        Ok(true) => {}
        Ok(false) => {
            log::warn(
                "signature_rejected",
                &[("path", PATH), ("reason", "replayed nonce"), ("key_id", &verified.key_id)],
            );
            return unauthorized();
        }
        Err(e) => {
            log::error("kv_write_failed", &[("reason", &e.to_string())]);
            return responses::json_error(503, "unavailable", "replay store unavailable", https);
        }
    }
    let declared_len =
        req.headers().get("content-length").ok().flatten().and_then(|v| v.parse::<usize>().ok());
    if declared_len.is_some_and(|len| len > MAX_BODY_BYTES) {
        return responses::json_error(413, "too_large", "body exceeds 1 MiB", https);
    }
    let body = Request::from(req).bytes().await?;
    if body.len() > MAX_BODY_BYTES {
        return responses::json_error(413, "too_large", "body exceeds 1 MiB", https);
    }
    if verified.check_body(&body).is_err() {
        log::warn("signature_rejected", &[("path", PATH), ("reason", "body hash mismatch")]);
        return unauthorized();
    }
    let batch: KvBatch = match serde_json::from_slice(&body) {
        Ok(b) => b,
        Err(e) => return responses::json_error(400, "malformed", &format!("invalid batch: {e}"), https),
    };
    if batch.ops.len() > MAX_KV_OPS {
        return responses::json_error(
            413,
            "too_many_ops",
            &format!("at most {MAX_KV_OPS} operations"),
            https,
        );
    }
    match apply(&kv, batch.ops, batch.rev_ceiling).await {
        Ok(result) => {
            log::info(
                "kv_push_applied",
                &[("applied", &result.applied.to_string()), ("stale", &result.stale.to_string())],
            );
            responses::json(200, &serde_json::json!(result), https)
        }
        Err(e) => {
            log::error("kv_write_failed", &[("reason", &e.to_string())]);
            responses::json_error(503, "unavailable", "KV write failed; retry", https)
        }
    }
}

const SIGNATURE_HEADERS: [&str; 5] = [
    shared::signing::header::KEY_ID,
    shared::signing::header::TIMESTAMP,
    shared::signing::header::NONCE,
    shared::signing::header::CONTENT_SHA256,
    shared::signing::header::SIGNATURE,
];

enum Outcome {
    Applied,
    Stale,
}

async fn apply(
    kv: &KvStore,
    ops: Vec<KvOp>,
    rev_ceiling: Option<i64>,
) -> std::result::Result<KvBatchResult, KvError> {
    // Only each key's last operation matters: a later operation on the same key replaces an earlier one.
    let mut last: Vec<(String, KvOp)> = Vec::with_capacity(ops.len());
    for op in ops {
        let key = op.key();
        match last.iter_mut().find(|(k, _)| *k == key) {
            Some(slot) => slot.1 = op,
            None => last.push((key, op)),
        }
    }
    let mut result = KvBatchResult { applied: 0, stale: 0 };
    for (key, op) in last {
        match apply_one(kv, key, op, rev_ceiling).await? {
            Outcome::Applied => result.applied += 1,
            Outcome::Stale => result.stale += 1,
        }
    }
    Ok(result)
}

async fn apply_one(
    kv: &KvStore,
    key: String,
    op: KvOp,
    rev_ceiling: Option<i64>,
) -> std::result::Result<Outcome, KvError> {
    match op {
        KvOp::PutBand { record, .. } => {
            put_if_newer::<BandRecord>(kv, &key, record.rev, rev_ceiling, &record).await
        }
        KvOp::PutEvent { event_id, record } => {
            let outcome = put_if_newer::<EventRecord>(kv, &key, record.rev, rev_ceiling, &record).await;
            event_cache::invalidate(&event_id);
            outcome
        }
        KvOp::DeleteBand { .. } => {
            kv.delete(&key).await?;
            Ok(Outcome::Applied)
        }
        KvOp::DeleteEvent { event_id } => {
            kv.delete(&event_kv_key(event_id)).await?;
            event_cache::invalidate(&event_id);
            Ok(Outcome::Applied)
        }
    }
}

trait Revisioned {
    fn rev(&self) -> i64;
}
impl Revisioned for BandRecord {
    fn rev(&self) -> i64 {
        self.rev
    }
}
impl Revisioned for EventRecord {
    fn rev(&self) -> i64 {
        self.rev
    }
}

async fn put_if_newer<T: Revisioned + DeserializeOwned>(
    kv: &KvStore,
    key: &str,
    rev: i64,
    rev_ceiling: Option<i64>,
    record: &impl serde::Serialize,
) -> std::result::Result<Outcome, KvError> {
    if let Some(current) = kv.get(key).bytes().await? {
        // An unreadable current record is replaced: the origin's copy is authoritative.
        if let Ok(current) = serde_json::from_slice::<T>(&current) {
            let forged = rev_ceiling.is_some_and(|ceiling| current.rev() > ceiling);
            if forged {
                log::warn("kv_forged_rev_replaced", &[("key", key), ("rev", &current.rev().to_string())]);
            } else if current.rev() > rev {
                return Ok(Outcome::Stale);
            }
        }
    }
    kv.put(key, serde_json::to_string(record)?)?.execute().await?;
    Ok(Outcome::Applied)
}
