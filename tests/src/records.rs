//! Builders for KV records in tests.

use shared::records::RECORD_VERSION;
use shared::{BandId, BandRecord, BandStatus, Destination, EventRecord, EventStatus, KvOp, Window};
use uuid::Uuid;

/// A destination, panicking on invalid test input.
pub fn dest(url: &str) -> Destination {
    Destination::parse(url).expect("valid test destination")
}

/// An event record.
pub fn event(
    org: Uuid,
    status: EventStatus,
    default: Option<&str>,
    fallback: Option<&str>,
    windows: Vec<Window>,
) -> EventRecord {
    EventRecord {
        v: RECORD_VERSION,
        rev: 1,
        org_id: org,
        status,
        default_url: default.map(dest),
        fallback_url: fallback.map(dest),
        windows,
    }
}

/// A window from `start` to `end` (Unix seconds).
pub fn window(start: i64, end: i64, url: &str) -> Window {
    Window { starts_at: start, ends_at: end, url: dest(url), label: Some("live".into()) }
}

/// A band record.
pub fn band(event: Uuid, org: Uuid, status: BandStatus, override_url: Option<&str>) -> BandRecord {
    BandRecord {
        v: RECORD_VERSION,
        rev: 1,
        event_id: event,
        org_id: org,
        status,
        override_url: override_url.map(dest),
    }
}

/// `put_event` operation.
pub fn put_event(id: Uuid, record: EventRecord) -> KvOp {
    KvOp::PutEvent { event_id: id, record }
}

/// `put_band` operation.
pub fn put_band(id: &str, record: BandRecord) -> KvOp {
    KvOp::PutBand { band_id: BandId::parse(id).expect("valid test band id"), record }
}
