//! Database rows → the KV records the edge reads (`shared::records`).

use shared::records::RECORD_VERSION;
use shared::{BandRecord, Destination, EventRecord, Window};

use crate::domain::bands::{Band, BandStatus};
use crate::domain::events::{Event, EventStatus, EventWindow};

fn destination(url: Option<&str>) -> Option<Destination> {
    // Stored URLs were validated on the way in; one that no longer passes is
    // left out (the edge then falls back) rather than shipped.
    url.and_then(|u| Destination::parse(u).ok())
}

/// The `event:<id>` record (revision filled in by the pusher).
pub fn event_record(event: &Event, windows: &[EventWindow]) -> EventRecord {
    EventRecord {
        v: RECORD_VERSION,
        rev: 0,
        org_id: event.org_id,
        status: match event.status {
            EventStatus::Active => shared::EventStatus::Active,
            EventStatus::Inactive => shared::EventStatus::Inactive,
            EventStatus::Frozen => shared::EventStatus::Frozen,
        },
        default_url: destination(event.default_url.as_deref()),
        fallback_url: destination(event.fallback_url.as_deref()),
        windows: windows
            .iter()
            .filter_map(|w| {
                Some(Window {
                    starts_at: w.starts_at.timestamp(),
                    ends_at: w.ends_at.timestamp(),
                    url: destination(Some(&w.url))?,
                    label: (!w.label.is_empty()).then(|| w.label.clone()),
                })
            })
            .collect(),
    }
}

/// The `band:<id>` record (revision filled in by the pusher).
pub fn band_record(band: &Band) -> BandRecord {
    BandRecord {
        v: RECORD_VERSION,
        rev: 0,
        event_id: band.event_id,
        org_id: band.org_id,
        status: match band.status {
            BandStatus::Active => shared::BandStatus::Active,
            BandStatus::Disabled => shared::BandStatus::Disabled,
            BandStatus::Lost => shared::BandStatus::Lost,
        },
        override_url: destination(band.override_url.as_deref()),
    }
}
