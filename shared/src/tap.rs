//! One hit on a band URL, as the edge records it and the origin stores it.
//!
//! Privacy by construction: there is no field for an IP address or a raw
//! user agent, so neither can be stored by accident.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::band_id::BandId;
use crate::resolve::Reason;

/// Who made the request, as far as a user agent tells.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AgentKind {
    /// A person's browser.
    Human,
    /// A link previewer (Slack, WhatsApp, iMessage…): redirected, kept out of tap analytics.
    Previewer,
    /// A crawler, script or monitor: redirected, kept out of tap analytics.
    Bot,
}

/// Coarse device class: enough for analytics, too coarse to identify anyone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeviceClass {
    /// iPhone, iPad, iPod.
    Ios,
    /// Android phones and tablets.
    Android,
    /// Everything else.
    Other,
}

impl DeviceClass {
    /// Stable name, as stored.
    pub fn as_str(self) -> &'static str {
        match self {
            DeviceClass::Ios => "ios",
            DeviceClass::Android => "android",
            DeviceClass::Other => "other",
        }
    }
}

impl AgentKind {
    /// Stable name, as stored.
    pub fn as_str(self) -> &'static str {
        match self {
            AgentKind::Human => "human",
            AgentKind::Previewer => "previewer",
            AgentKind::Bot => "bot",
        }
    }
}

/// One tap (or flagged hit) on a band URL.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TapEvent {
    /// UUIDv7 minted at the edge; the idempotency key end to end.
    pub id: Uuid,
    /// The band tapped.
    pub band_id: BandId,
    /// The band's event, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_id: Option<Uuid>,
    /// The band's organisation, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub org_id: Option<Uuid>,
    /// When the edge answered, Unix milliseconds.
    pub ts_ms: i64,
    /// Where the tap was routed and why.
    pub outcome: Reason,
    /// A HEAD request (never a person's tap).
    #[serde(default)]
    pub head: bool,
    /// Human, previewer or bot.
    pub agent: AgentKind,
    /// iOS, Android or other.
    pub device: DeviceClass,
    /// ISO 3166-1 alpha-2 country from the edge, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub country: Option<String>,
    /// Cloudflare data-centre code (IATA), when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub colo: Option<String>,
}

/// Earliest plausible tap time (2024-01-01T00:00:00Z), Unix milliseconds.
pub const EARLIEST_TS_MS: i64 = 1_704_067_200_000;
/// How far in the future a tap may claim to be (clock skew), milliseconds.
pub const MAX_FUTURE_SKEW_MS: i64 = 5 * 60 * 1000;

/// Why a tap is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TapError {
    /// Not a UUIDv7.
    #[error("id must be a UUIDv7")]
    IdNotV7,
    /// Outside [`EARLIEST_TS_MS`, now + [`MAX_FUTURE_SKEW_MS`]].
    #[error("ts_ms is out of range")]
    TimestampOutOfRange,
    /// Not two ASCII capital letters.
    #[error("country must be two capital letters")]
    BadCountry,
    /// Not 3–4 ASCII capital letters.
    #[error("colo must be 3-4 capital letters")]
    BadColo,
    /// Only one of event/org known.
    #[error("event_id and org_id must be both present or both absent")]
    PartialOwnership,
    /// The id's embedded time is not `ts_ms`.
    #[error("id must embed ts_ms (UUIDv7 timestamp)")]
    IdTimeMismatch,
}

/// Milliseconds embedded in a UUIDv7 (`None` for other versions).
pub fn id_time_ms(id: &Uuid) -> Option<i64> {
    let (secs, nanos) = id.get_timestamp()?.to_unix();
    i64::try_from(secs).ok()?.checked_mul(1000)?.checked_add(i64::from(nanos / 1_000_000))
}

impl TapEvent {
    /// Checks the rules serde cannot express, given the receiver's clock.
    pub fn validate(&self, now_ms: i64) -> Result<(), TapError> {
        if self.id.get_version_num() != 7 {
            return Err(TapError::IdNotV7);
        }
        // The tap's time is part of its storage key (day partitions), so it must
        // be a function of the id: then a redelivered id always hits the same key.
        if id_time_ms(&self.id) != Some(self.ts_ms) {
            return Err(TapError::IdTimeMismatch);
        }
        if self.ts_ms < EARLIEST_TS_MS || self.ts_ms > now_ms.saturating_add(MAX_FUTURE_SKEW_MS) {
            return Err(TapError::TimestampOutOfRange);
        }
        if let Some(c) = &self.country
            && !(c.len() == 2 && c.bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit()))
        {
            return Err(TapError::BadCountry);
        }
        if let Some(c) = &self.colo
            && !((3..=4).contains(&c.len()) && c.bytes().all(|b| b.is_ascii_uppercase()))
        {
            return Err(TapError::BadColo);
        }
        if self.event_id.is_some() != self.org_id.is_some() {
            return Err(TapError::PartialOwnership);
        }
        Ok(())
    }

    /// Whether this hit counts as an attendee's tap in analytics.
    pub fn is_counted(&self) -> bool {
        !self.head && self.agent == AgentKind::Human
    }
}

/// Most taps accepted in one ingest request.
pub const MAX_TAPS_PER_BATCH: usize = 1000;

/// Body of the origin's `POST /internal/v1/taps`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TapBatch {
    /// The taps, in any order; duplicates are fine.
    pub taps: Vec<TapEvent>,
}

/// Answer of `POST /internal/v1/taps`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct TapBatchResult {
    /// Taps stored by this request.
    pub accepted: u64,
    /// Taps already stored (redelivery) or repeated within the request.
    pub duplicates: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_780_000_000_000;

    /// A UUIDv7 embedding `ms` (what the edge mints).
    fn id_at(ms: i64) -> Uuid {
        let mut bytes = *Uuid::parse_str("01937a6b-4c2e-7d3f-8a1b-2c3d4e5f6a7b").unwrap().as_bytes();
        bytes[..6].copy_from_slice(&ms.to_be_bytes()[2..]);
        Uuid::from_bytes(bytes)
    }

    fn tap() -> TapEvent {
        TapEvent {
            id: id_at(NOW),
            band_id: BandId::parse("DEMO0001").unwrap(),
            event_id: Some(Uuid::from_u128(1)),
            org_id: Some(Uuid::from_u128(2)),
            ts_ms: NOW,
            outcome: Reason::Default,
            head: false,
            agent: AgentKind::Human,
            device: DeviceClass::Ios,
            country: Some("GB".into()),
            colo: Some("LHR".into()),
        }
    }

    #[test]
    fn a_good_tap_validates_and_round_trips() {
        let t = tap();
        assert_eq!(id_time_ms(&t.id), Some(NOW));
        assert_eq!(t.validate(NOW), Ok(()));
        let json = serde_json::to_string(&t).unwrap();
        assert!(!json.contains("ip") && !json.contains("user_agent"));
        assert_eq!(serde_json::from_str::<TapEvent>(&json).unwrap(), t);
    }

    #[test]
    fn each_rule_is_enforced() {
        let cases: Vec<(TapEvent, TapError)> = vec![
            (TapEvent { id: Uuid::from_u128(5), ..tap() }, TapError::IdNotV7),
            (TapEvent { ts_ms: NOW + 1, ..tap() }, TapError::IdTimeMismatch),
            (
                TapEvent {
                    id: id_at(NOW + MAX_FUTURE_SKEW_MS + 1),
                    ts_ms: NOW + MAX_FUTURE_SKEW_MS + 1,
                    ..tap()
                },
                TapError::TimestampOutOfRange,
            ),
            (
                TapEvent { id: id_at(EARLIEST_TS_MS - 1), ts_ms: EARLIEST_TS_MS - 1, ..tap() },
                TapError::TimestampOutOfRange,
            ),
            (TapEvent { country: Some("gb".into()), ..tap() }, TapError::BadCountry),
            (TapEvent { country: Some("GBR".into()), ..tap() }, TapError::BadCountry),
            (TapEvent { colo: Some("L<".into()), ..tap() }, TapError::BadColo),
            (TapEvent { org_id: None, ..tap() }, TapError::PartialOwnership),
        ];
        for (t, want) in cases {
            assert_eq!(t.validate(NOW), Err(want));
        }
    }

    #[test]
    fn only_human_gets_count() {
        assert!(tap().is_counted());
        assert!(!TapEvent { head: true, ..tap() }.is_counted());
        assert!(!TapEvent { agent: AgentKind::Previewer, ..tap() }.is_counted());
    }
}
