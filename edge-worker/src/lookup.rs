//! Band → records: the two KV reads of the tap path (the event usually from
//! the isolate cache), and the origin read-through on a KV miss.

use std::rc::Rc;

use shared::records::event_kv_key;
use shared::{BandId, BandRecord, EventRecord};
use uuid::Uuid;
use worker::kv::KvStore;
use worker::{Context, Env};

use crate::bindings;
use crate::config::EdgeConfig;
use crate::event_cache::{self, Cached};
use crate::{log, read_through};

/// What KV (or the origin) knows about a band.
pub enum Lookup {
    /// The band's record and what is known of its event.
    Found {
        /// The band.
        band: BandRecord,
        /// Its event.
        event: EventLookup,
    },
    /// No such band.
    NotFound,
    /// KV failed or held an unreadable band record.
    Failed,
}

/// What is known of the band's event.
pub enum EventLookup {
    /// Its record.
    Found(Rc<EventRecord>),
    /// No record.
    Missing,
    /// KV failed or held an unreadable record.
    Unreadable,
}

/// Looks up a band and its event.
pub async fn band(env: &Env, ctx: &Context, cfg: &EdgeConfig, band_id: &BandId, now_ms: f64) -> Lookup {
    let Some(kv) = bindings::kv(env) else {
        return Lookup::Failed;
    };
    match kv.get(&band_id.kv_key()).bytes().await {
        Ok(Some(raw)) => match BandRecord::decode(&raw) {
            Ok(band) => {
                let event = event(&kv, band.event_id, cfg, now_ms).await;
                Lookup::Found { band, event }
            }
            Err(e) => {
                log::error(
                    "band_record_unreadable",
                    &[("band_id", band_id.as_str()), ("reason", &e.to_string())],
                );
                Lookup::Failed
            }
        },
        Ok(None) => read_through::lookup(env, ctx, &kv, cfg, band_id, now_ms).await,
        Err(e) => {
            log::error("kv_read_failed", &[("key", &band_id.kv_key()), ("reason", &e.to_string())]);
            Lookup::Failed
        }
    }
}

async fn event(kv: &KvStore, id: Uuid, cfg: &EdgeConfig, now_ms: f64) -> EventLookup {
    match event_cache::get(&id, now_ms) {
        Some(Cached::Present(record)) => return EventLookup::Found(record),
        Some(Cached::Absent) => return EventLookup::Missing,
        None => {}
    }
    match kv.get(&event_kv_key(id)).bytes().await {
        Ok(Some(raw)) => match EventRecord::decode(&raw) {
            Ok(record) => {
                let record = Rc::new(record);
                event_cache::put(id, Cached::Present(Rc::clone(&record)), now_ms, cfg.event_cache_ms);
                EventLookup::Found(record)
            }
            Err(e) => {
                log::error(
                    "event_record_unreadable",
                    &[("event_id", &id.to_string()), ("reason", &e.to_string())],
                );
                EventLookup::Unreadable
            }
        },
        Ok(None) => {
            event_cache::put(id, Cached::Absent, now_ms, cfg.event_cache_ms);
            EventLookup::Missing
        }
        Err(e) => {
            log::error("kv_read_failed", &[("key", &event_kv_key(id)), ("reason", &e.to_string())]);
            EventLookup::Unreadable
        }
    }
}
