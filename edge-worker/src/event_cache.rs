//! A few seconds of event records in isolate memory.
//!
//! One event serves thousands of bands, so at a busy gate most taps find
//! their event here and pay one KV read (the band) instead of two. The TTL is
//! short because an organiser's edit must show within seconds; KV's own
//! propagation (~60 s) is the larger delay anyway.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

use shared::EventRecord;
use uuid::Uuid;

/// Entries kept before the cache is flushed (bounds memory under many events).
const MAX_ENTRIES: usize = 4096;

/// A cached lookup: the record, or `None` for "no such event".
#[derive(Clone)]
pub enum Cached {
    /// The event's record.
    Present(Rc<EventRecord>),
    /// KV had no record.
    Absent,
}

struct Entry {
    expires_at_ms: f64,
    value: Cached,
}

thread_local! {
    static EVENTS: RefCell<HashMap<Uuid, Entry>> = RefCell::new(HashMap::new());
}

/// The cached lookup for `id`, unless expired.
pub fn get(id: &Uuid, now_ms: f64) -> Option<Cached> {
    EVENTS.with(|cache| {
        let cache = cache.borrow();
        cache.get(id).filter(|e| e.expires_at_ms > now_ms).map(|e| e.value.clone())
    })
}

/// Remembers a lookup for `ttl_ms`.
pub fn put(id: Uuid, value: Cached, now_ms: f64, ttl_ms: f64) {
    if ttl_ms <= 0.0 {
        return;
    }
    EVENTS.with(|cache| {
        let mut cache = cache.borrow_mut();
        if cache.len() >= MAX_ENTRIES {
            cache.retain(|_, e| e.expires_at_ms > now_ms);
            if cache.len() >= MAX_ENTRIES {
                cache.clear();
            }
        }
        cache.insert(id, Entry { expires_at_ms: now_ms + ttl_ms, value });
    });
}

/// Forgets `id` (after this isolate wrote it to KV).
pub fn invalidate(id: &Uuid) {
    EVENTS.with(|cache| {
        cache.borrow_mut().remove(id);
    });
}
