//! `GET|HEAD /<band-id>`: the hot path. Parse, look up, resolve, answer 302,
//! and enqueue the tap after the response (a queue failure is logged and
//! never delays or fails the redirect).

use shared::resolve::resolve_without_band;
use shared::{BandId, Reason, Resolution, TapEvent, resolve, user_agent};
use uuid::{NoContext, Timestamp, Uuid};
use web_sys::{Request, Response};
use worker::{Context, Env, Result};

use crate::config::EdgeConfig;
use crate::lookup::{self, EventLookup, Lookup};
use crate::{bindings, js_props, log, responses};

/// Answers a tap.
pub async fn handle(
    req: &Request,
    path: &str,
    env: &Env,
    ctx: &Context,
    head: bool,
    https: bool,
) -> Result<Response> {
    let segment = path.strip_prefix('/').unwrap_or(path);
    let segment = segment.strip_suffix('/').unwrap_or(segment);
    // An invalid id never costs a KV read.
    let Ok(band_id) = BandId::parse(segment) else {
        return responses::not_found(https, head);
    };
    let cfg = EdgeConfig::get(env);
    let now_ms = js_sys::Date::now() as u64;
    let found = lookup::band(env, ctx, &cfg, &band_id, now_ms as f64).await;
    let fallback = cfg.fallback_url.as_deref().unwrap_or("");
    let now_secs = (now_ms / 1000) as i64;
    let (resolution, owner): (Resolution<'_>, _) = match &found {
        Lookup::Found { band, event } => {
            let resolution = match event {
                EventLookup::Found(record) => resolve(band, Some(record), now_secs, fallback),
                EventLookup::Missing => resolve(band, None, now_secs, fallback),
                EventLookup::Unreadable => resolve_without_band(Reason::Unreadable, fallback),
            };
            (resolution, Some((band.event_id, band.org_id)))
        }
        Lookup::NotFound => (resolve_without_band(Reason::UnknownBand, fallback), None),
        Lookup::Failed => (resolve_without_band(Reason::Unreadable, fallback), None),
    };

    let user_agent = req.headers().get("user-agent").ok().flatten();
    let (agent, device) = user_agent::classify(user_agent.as_deref());
    let (country, colo) = js_props::country_and_colo(req);
    let tap = TapEvent {
        id: tap_id(now_ms),
        band_id,
        event_id: owner.map(|(e, _)| e),
        org_id: owner.map(|(_, o)| o),
        ts_ms: now_ms as i64,
        outcome: resolution.reason,
        head,
        agent,
        device,
        country,
        colo,
    };
    match serde_json::to_string(&tap) {
        Ok(message) => {
            bindings::enqueue(env, ctx, &message);
            // One line per tap: the tap as queued (no IP, no user agent by construction).
            log::info_with_json("tap", "tap", &message);
        }
        Err(e) => log::error("tap_enqueue_failed", &[("reason", &e.to_string())]),
    }

    if resolution.url.is_empty() {
        // No destination and no valid FALLBACK_URL: say so rather than redirect nowhere.
        return responses::not_found(https, head);
    }
    responses::redirect(resolution.url, https)
}

/// A UUIDv7 embedding exactly the tap's time, so the origin can key taps on
/// (id, time) and a redelivered tap always lands on the same key.
fn tap_id(now_ms: u64) -> Uuid {
    Uuid::new_v7(Timestamp::from_unix(NoContext, now_ms / 1000, ((now_ms % 1000) * 1_000_000) as u32))
}
