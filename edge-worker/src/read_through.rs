//! KV miss → ask the origin (signed), then cache its answer in KV so the next
//! tap of this band never leaves the edge. Negative answers are cached too
//! (in the isolate and in KV, for a minute) so unknown ids cannot turn the
//! edge into an amplifier against the origin. Off when `ORIGIN_URL` is unset.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

use shared::records::event_kv_key;
use shared::{BandId, BandLookup};
use worker::kv::KvStore;
use worker::{Context, Env, Method};

use crate::bindings;
use crate::config::{self, EdgeConfig};
use crate::event_cache::{self, Cached};
use crate::lookup::{EventLookup, Lookup};
use crate::{log, signed_fetch};

/// How long "no such band" is remembered (KV's minimum expiration TTL).
const NEGATIVE_TTL_SECS: u64 = 60;
const MAX_REMEMBERED_MISSES: usize = 4096;

thread_local! {
    static MISSES: RefCell<HashMap<String, f64>> = RefCell::new(HashMap::new());
}

fn miss_key(band_id: &BandId) -> String {
    format!("miss:{band_id}")
}

fn recently_missed(band_id: &BandId, now_ms: f64) -> bool {
    MISSES.with(|m| m.borrow().get(band_id.as_str()).is_some_and(|until| *until > now_ms))
}

fn remember_miss(band_id: &BandId, now_ms: f64) {
    MISSES.with(|m| {
        let mut m = m.borrow_mut();
        if m.len() >= MAX_REMEMBERED_MISSES {
            m.retain(|_, until| *until > now_ms);
            if m.len() >= MAX_REMEMBERED_MISSES {
                m.clear();
            }
        }
        m.insert(band_id.as_str().to_string(), now_ms + (NEGATIVE_TTL_SECS * 1000) as f64);
    });
}

/// Resolves a KV miss through the origin, if configured.
pub async fn lookup(
    env: &Env,
    ctx: &Context,
    kv: &KvStore,
    cfg: &EdgeConfig,
    band_id: &BandId,
    now_ms: f64,
) -> Lookup {
    let Some(origin) = cfg.origin_url.as_deref() else {
        return Lookup::NotFound;
    };
    if recently_missed(band_id, now_ms) {
        return Lookup::NotFound;
    }
    if let Ok(Some(_)) = kv.get(&miss_key(band_id)).bytes().await {
        remember_miss(band_id, now_ms);
        return Lookup::NotFound;
    }
    let Some(keyring) = config::keyring(env) else {
        return Lookup::NotFound;
    };
    let target = format!("/internal/v1/bands/{band_id}");
    let mut response = match signed_fetch::send(
        &keyring,
        Method::Get,
        origin,
        &target,
        None,
        cfg.read_through_timeout_ms,
        &format!("lookup-{}", crate::nonce::fresh().unwrap_or_default()),
    )
    .await
    {
        Ok(r) => r,
        Err(e) => {
            log::warn("read_through_failed", &[("band_id", band_id.as_str()), ("reason", &e.to_string())]);
            return Lookup::NotFound;
        }
    };
    match response.status_code() {
        200 => {}
        404 => {
            remember_miss(band_id, now_ms);
            let key = miss_key(band_id);
            if let Some(kv) = bindings::kv(env) {
                ctx.wait_until(async move {
                    if let Ok(put) = kv.put(&key, "1") {
                        let _ = put.expiration_ttl(NEGATIVE_TTL_SECS).execute().await;
                    }
                });
            }
            return Lookup::NotFound;
        }
        status => {
            log::warn(
                "read_through_failed",
                &[("band_id", band_id.as_str()), ("status", &status.to_string())],
            );
            return Lookup::NotFound;
        }
    }
    let answer: BandLookup = match response.bytes().await.map(|b| serde_json::from_slice(&b)) {
        Ok(Ok(answer)) => answer,
        _ => {
            log::warn(
                "read_through_failed",
                &[("band_id", band_id.as_str()), ("reason", "malformed answer")],
            );
            return Lookup::NotFound;
        }
    };
    cache_in_kv(env, ctx, band_id, &answer);
    let event = match answer.event {
        Some(record) => {
            let record = Rc::new(record);
            event_cache::put(
                answer.band.event_id,
                Cached::Present(Rc::clone(&record)),
                now_ms,
                cfg.event_cache_ms,
            );
            EventLookup::Found(record)
        }
        None => EventLookup::Missing,
    };
    Lookup::Found { band: answer.band, event }
}

/// Stores the origin's answer after the response, each record only if KV
/// still has none: a push that landed meanwhile is newer and must win.
fn cache_in_kv(env: &Env, ctx: &Context, band_id: &BandId, answer: &BandLookup) {
    let Some(kv) = bindings::kv(env) else { return };
    let band_key = band_id.kv_key();
    let band_json = serde_json::to_string(&answer.band).ok();
    let event = answer
        .event
        .as_ref()
        .and_then(|e| Some((event_kv_key(answer.band.event_id), serde_json::to_string(e).ok()?)));
    ctx.wait_until(async move {
        if let Some(json) = band_json
            && let Ok(None) = kv.get(&band_key).bytes().await
            && let Ok(put) = kv.put(&band_key, json)
        {
            let _ = put.execute().await;
        }
        if let Some((key, json)) = event
            && let Ok(None) = kv.get(&key).bytes().await
            && let Ok(put) = kv.put(&key, json)
        {
            let _ = put.execute().await;
        }
    });
}
