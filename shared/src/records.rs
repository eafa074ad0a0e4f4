//! The records the origin writes into Workers KV and the edge reads on every tap.
//!
//! Two levels (see DESIGN.md): `band:<id>` rarely changes; `event:<id>` holds
//! the routing of every band of the event, so one write re-routes them all.
//!
//! **Compatibility rule.** Adding an optional field or an enum variant does not
//! change `v`; readers ignore unknown fields and map unknown variants to a safe
//! `Unknown`. `v` is bumped only for a change an older reader would
//! misinterpret, and a reader that meets a newer `v` refuses the record, which
//! sends the tap to the fallback instead of to a wrong page.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::band_id::BandId;
use crate::destination::Destination;

/// KV key prefix of band records.
pub const BAND_KEY_PREFIX: &str = "band:";
/// KV key prefix of event records.
pub const EVENT_KEY_PREFIX: &str = "event:";
/// Newest record layout this build understands (and writes).
pub const RECORD_VERSION: u32 = 1;

/// The KV key of an event's record.
pub fn event_kv_key(event_id: Uuid) -> String {
    format!("{EVENT_KEY_PREFIX}{event_id}")
}

/// Lifecycle of a band.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BandStatus {
    /// Taps are routed normally.
    Active,
    /// Switched off by the organiser: taps go to the fallback.
    Disabled,
    /// Reported lost: taps go to the fallback.
    Lost,
    /// A status this build does not know; treated as not active.
    #[serde(other)]
    Unknown,
}

/// Lifecycle of an event, as far as routing is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventStatus {
    /// Taps follow windows and the default URL.
    Active,
    /// Not running (draft, ended, paused): taps go to the fallback.
    Inactive,
    /// Incident freeze: every band is pinned to the fallback, overrides included.
    Frozen,
    /// A status this build does not know; treated as not active.
    #[serde(other)]
    Unknown,
}

/// `band:<id>`: which event a band belongs to and how it is routed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BandRecord {
    /// Record layout version.
    pub v: u32,
    /// Origin revision; the edge never replaces a record with an older one.
    #[serde(default)]
    pub rev: i64,
    /// The event the band is attached to.
    pub event_id: Uuid,
    /// The organisation owning the band.
    pub org_id: Uuid,
    /// Routing status.
    pub status: BandStatus,
    /// A per-band destination that beats the event's routing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub override_url: Option<Destination>,
}

/// A scheduled destination (pre-show, live, recap…), active for `starts_at <= now < ends_at`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Window {
    /// Start, Unix seconds (inclusive).
    pub starts_at: i64,
    /// End, Unix seconds (exclusive).
    pub ends_at: i64,
    /// Destination while active.
    pub url: Destination,
    /// Organiser's label, for logs and analytics only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
}

/// `event:<id>`: routing shared by every band of an event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventRecord {
    /// Record layout version.
    pub v: u32,
    /// Origin revision; the edge never replaces a record with an older one.
    #[serde(default)]
    pub rev: i64,
    /// The organisation owning the event.
    pub org_id: Uuid,
    /// Routing status.
    pub status: EventStatus,
    /// Where taps go outside every window.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_url: Option<Destination>,
    /// Where taps go when the band or the event is not active.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fallback_url: Option<Destination>,
    /// Scheduled destinations (non-overlapping, enforced by the origin's database).
    #[serde(default)]
    pub windows: Vec<Window>,
}

/// Why a stored record cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    /// Not valid JSON for the record type (or a field broke a rule).
    #[error("malformed record: {0}")]
    Malformed(#[from] serde_json::Error),
    /// Written by a newer origin with an incompatible layout.
    #[error("record version {0} is newer than supported ({RECORD_VERSION})")]
    UnsupportedVersion(u32),
}

trait Versioned {
    fn version(&self) -> u32;
}

impl Versioned for BandRecord {
    fn version(&self) -> u32 {
        self.v
    }
}

impl Versioned for EventRecord {
    fn version(&self) -> u32 {
        self.v
    }
}

fn decode<T: Versioned + for<'de> Deserialize<'de>>(raw: &[u8]) -> Result<T, RecordError> {
    let record: T = serde_json::from_slice(raw)?;
    match record.version() {
        v if v > RECORD_VERSION => Err(RecordError::UnsupportedVersion(v)),
        _ => Ok(record),
    }
}

impl BandRecord {
    /// Decodes a `band:<id>` value, refusing layouts newer than this build.
    pub fn decode(raw: &[u8]) -> Result<Self, RecordError> {
        decode(raw)
    }
}

impl EventRecord {
    /// Decodes an `event:<id>` value, refusing layouts newer than this build.
    pub fn decode(raw: &[u8]) -> Result<Self, RecordError> {
        decode(raw)
    }
}

/// One change the origin pushes to the edge's `POST /_internal/kv`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum KvOp {
    /// Create or replace `band:<band_id>`.
    PutBand {
        /// Band.
        band_id: BandId,
        /// New record.
        record: BandRecord,
    },
    /// Remove `band:<band_id>` (deleted band).
    DeleteBand {
        /// Band.
        band_id: BandId,
    },
    /// Create or replace `event:<event_id>`.
    PutEvent {
        /// Event.
        event_id: Uuid,
        /// New record.
        record: EventRecord,
    },
    /// Remove `event:<event_id>` (deleted event).
    DeleteEvent {
        /// Event.
        event_id: Uuid,
    },
}

impl KvOp {
    /// The KV key this operation writes.
    pub fn key(&self) -> String {
        match self {
            KvOp::PutBand { band_id, .. } | KvOp::DeleteBand { band_id } => band_id.kv_key(),
            KvOp::PutEvent { event_id, .. } | KvOp::DeleteEvent { event_id } => event_kv_key(*event_id),
        }
    }
}

/// Most operations accepted in one `POST /_internal/kv`.
///
/// Each put costs the edge a KV read and a write, the nonce two more, and
/// Cloudflare allows 1000 KV operations per invocation: 400 leaves headroom.
pub const MAX_KV_OPS: usize = 400;

/// Body of `POST /_internal/kv`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KvBatch {
    /// Applied in order.
    pub ops: Vec<KvOp>,
    /// The highest revision the origin has ever issued. A KV record above it
    /// was not written by the origin (a leaked signing key), so it does not
    /// get to block the origin's put as "newer". Absent: plain `rev` order.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rev_ceiling: Option<i64>,
}

/// Answer of `POST /_internal/kv`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct KvBatchResult {
    /// Operations written.
    pub applied: u32,
    /// Puts skipped because KV already held a newer revision.
    pub stale: u32,
}

/// Answer of the origin's `GET /internal/v1/bands/<id>` (the edge's KV-miss path).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BandLookup {
    /// The band's record.
    pub band: BandRecord,
    /// Its event's record, when the event exists.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event: Option<EventRecord>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn band_json(extra: &str) -> String {
        format!(
            r#"{{"v":1,"rev":3,"event_id":"0190e0a0-0000-7000-8000-000000000001","org_id":"0190e0a0-0000-7000-8000-000000000002","status":"active"{extra}}}"#
        )
    }

    #[test]
    fn decodes_a_current_band_record() {
        let r = BandRecord::decode(band_json(r#","override_url":"https://x.example/""#).as_bytes()).unwrap();
        assert_eq!(r.status, BandStatus::Active);
        assert_eq!(r.override_url.unwrap().as_str(), "https://x.example/");
    }

    #[test]
    fn newer_additive_changes_are_tolerated() {
        let r = BandRecord::decode(band_json(r#","colour":"red","nested":{"a":[1,2]}"#).as_bytes()).unwrap();
        assert_eq!(r.rev, 3);
        let r = BandRecord::decode(band_json("").replace("active", "quarantined").as_bytes()).unwrap();
        assert_eq!(r.status, BandStatus::Unknown);
        let e = EventRecord::decode(
            br#"{"v":1,"org_id":"0190e0a0-0000-7000-8000-000000000002","status":"paused_by_robot","windows":[{"starts_at":1,"ends_at":2,"url":"https://w.example","kind":"live"}],"theme":"dark"}"#,
        )
        .unwrap();
        assert_eq!(e.status, EventStatus::Unknown);
        assert_eq!(e.windows.len(), 1);
    }

    #[test]
    fn incompatible_or_broken_records_are_refused_not_panicked_on() {
        assert!(matches!(
            BandRecord::decode(band_json("").replace("\"v\":1", "\"v\":2").as_bytes()),
            Err(RecordError::UnsupportedVersion(2))
        ));
        for bad in [&b""[..], b"null", b"{}", b"[]", b"{\"v\":\"one\"}", b"\xff\xfe"] {
            assert!(BandRecord::decode(bad).is_err());
            assert!(EventRecord::decode(bad).is_err());
        }
        // A destination that breaks the URL rules makes the whole record unusable.
        assert!(
            BandRecord::decode(band_json(r#","override_url":"http://plain.example""#).as_bytes()).is_err()
        );
    }

    #[test]
    fn kv_ops_round_trip_and_name_their_key() {
        let op: KvOp = serde_json::from_str(r#"{"delete_band":{"band_id":"demo0001"}}"#).unwrap();
        assert_eq!(op.key(), "band:DEMO0001");
        let id = Uuid::nil();
        assert_eq!(KvOp::DeleteEvent { event_id: id }.key(), format!("event:{id}"));
        assert!(serde_json::from_str::<KvOp>(r#"{"delete_band":{"band_id":"../../x"}}"#).is_err());
    }
}
