//! Where a tap goes: the single routing rule, evaluated at the edge with the current time.
//!
//! Precedence: band override > the schedule window active at `now` > event
//! default > fallback. A band that is not active, or an event that is not
//! active, goes to the fallback (the event's, else the deployment's). Frozen
//! events pin every band to the fallback, overrides included, because a freeze
//! is the incident response to a malicious destination change.

use serde::{Deserialize, Serialize};

use crate::records::{BandRecord, BandStatus, EventRecord, EventStatus};

/// Why a tap went where it went (also the tap's recorded outcome).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Reason {
    /// The band's own override URL.
    Override,
    /// The schedule window active at tap time.
    Window,
    /// The event's default URL.
    Default,
    /// Active band and event, but no destination configured.
    NoDestination,
    /// Band disabled by its organiser.
    BandDisabled,
    /// Band reported lost.
    BandLost,
    /// Band status unknown to this build.
    BandStatusUnknown,
    /// Event not running.
    EventInactive,
    /// Event frozen by incident response.
    EventFrozen,
    /// The band's event record is missing.
    EventMissing,
    /// Band and event belong to different organisations (never routed across tenants).
    OrgMismatch,
    /// No record for this band.
    UnknownBand,
    /// A record could not be read (corrupt, or from a newer origin).
    Unreadable,
    /// A reason this build does not know (from a newer edge).
    #[serde(other)]
    Other,
}

impl Reason {
    /// Whether the tap reached a destination the organiser chose for it (not a fallback).
    pub fn is_routed(self) -> bool {
        matches!(self, Reason::Override | Reason::Window | Reason::Default)
    }

    /// Stable snake_case name, as stored and logged.
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::Override => "override",
            Reason::Window => "window",
            Reason::Default => "default",
            Reason::NoDestination => "no_destination",
            Reason::BandDisabled => "band_disabled",
            Reason::BandLost => "band_lost",
            Reason::BandStatusUnknown => "band_status_unknown",
            Reason::EventInactive => "event_inactive",
            Reason::EventFrozen => "event_frozen",
            Reason::EventMissing => "event_missing",
            Reason::OrgMismatch => "org_mismatch",
            Reason::UnknownBand => "unknown_band",
            Reason::Unreadable => "unreadable",
            Reason::Other => "other",
        }
    }
}

/// The outcome of routing one tap.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Resolution<'a> {
    /// Where to redirect.
    pub url: &'a str,
    /// Why.
    pub reason: Reason,
}

/// Routes a tap of a known band at `now` (Unix seconds).
///
/// `event` is the record of `band.event_id` if one exists; `global_fallback`
/// is the deployment's last resort.
pub fn resolve<'a>(
    band: &'a BandRecord,
    event: Option<&'a EventRecord>,
    now: i64,
    global_fallback: &'a str,
) -> Resolution<'a> {
    let Some(event) = event else {
        let reason = band_inactive_reason(band.status).unwrap_or(Reason::EventMissing);
        return Resolution { url: global_fallback, reason };
    };
    if event.org_id != band.org_id {
        return Resolution { url: global_fallback, reason: Reason::OrgMismatch };
    }
    let fallback = || event.fallback_url.as_ref().map_or(global_fallback, |u| u.as_str());
    if let Some(reason) = band_inactive_reason(band.status) {
        return Resolution { url: fallback(), reason };
    }
    match event.status {
        EventStatus::Active => {}
        EventStatus::Frozen => return Resolution { url: fallback(), reason: Reason::EventFrozen },
        EventStatus::Inactive | EventStatus::Unknown => {
            return Resolution { url: fallback(), reason: Reason::EventInactive };
        }
    }
    if let Some(url) = &band.override_url {
        return Resolution { url: url.as_str(), reason: Reason::Override };
    }
    if let Some(window) = active_window(event, now) {
        return Resolution { url: window.url.as_str(), reason: Reason::Window };
    }
    match &event.default_url {
        Some(url) => Resolution { url: url.as_str(), reason: Reason::Default },
        None => Resolution { url: fallback(), reason: Reason::NoDestination },
    }
}

/// Routing for a band with no usable record.
pub fn resolve_without_band(reason: Reason, global_fallback: &str) -> Resolution<'_> {
    Resolution { url: global_fallback, reason }
}

/// The window active at `now`; if (against the origin's constraint) several
/// are, the one that started last wins, so the answer never depends on order.
pub fn active_window(event: &EventRecord, now: i64) -> Option<&crate::records::Window> {
    event.windows.iter().filter(|w| w.starts_at <= now && now < w.ends_at).max_by_key(|w| w.starts_at)
}

fn band_inactive_reason(status: BandStatus) -> Option<Reason> {
    match status {
        BandStatus::Active => None,
        BandStatus::Disabled => Some(Reason::BandDisabled),
        BandStatus::Lost => Some(Reason::BandLost),
        BandStatus::Unknown => Some(Reason::BandStatusUnknown),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::destination::Destination;
    use crate::records::{RECORD_VERSION, Window};
    use proptest::prelude::*;
    use uuid::Uuid;

    const GLOBAL: &str = "https://fallback.example/";
    const ORG: Uuid = Uuid::from_u128(1);
    const OTHER_ORG: Uuid = Uuid::from_u128(2);

    fn dest(s: &str) -> Destination {
        Destination::parse(s).unwrap()
    }

    fn band(status: BandStatus, override_url: Option<&str>) -> BandRecord {
        BandRecord {
            v: RECORD_VERSION,
            rev: 1,
            event_id: Uuid::from_u128(9),
            org_id: ORG,
            status,
            override_url: override_url.map(dest),
        }
    }

    fn event(
        status: EventStatus,
        default: Option<&str>,
        fallback: Option<&str>,
        windows: Vec<Window>,
    ) -> EventRecord {
        EventRecord {
            v: RECORD_VERSION,
            rev: 1,
            org_id: ORG,
            status,
            default_url: default.map(dest),
            fallback_url: fallback.map(dest),
            windows,
        }
    }

    fn window(start: i64, end: i64, url: &str) -> Window {
        Window { starts_at: start, ends_at: end, url: dest(url), label: None }
    }

    const DEF: &str = "https://default.example/";
    const FB: &str = "https://event-fallback.example/";
    const OVR: &str = "https://override.example/";
    const LIVE: &str = "https://live.example/";

    fn full_event(status: EventStatus) -> EventRecord {
        event(status, Some(DEF), Some(FB), vec![window(100, 200, LIVE)])
    }

    #[test]
    fn precedence_override_window_default_fallback() {
        let e = full_event(EventStatus::Active);
        assert_eq!(
            resolve(&band(BandStatus::Active, Some(OVR)), Some(&e), 150, GLOBAL),
            Resolution { url: OVR, reason: Reason::Override }
        );
        let b = band(BandStatus::Active, None);
        assert_eq!(resolve(&b, Some(&e), 150, GLOBAL), Resolution { url: LIVE, reason: Reason::Window });
        assert_eq!(resolve(&b, Some(&e), 99, GLOBAL), Resolution { url: DEF, reason: Reason::Default });
        let bare = event(EventStatus::Active, None, Some(FB), vec![]);
        assert_eq!(
            resolve(&b, Some(&bare), 150, GLOBAL),
            Resolution { url: FB, reason: Reason::NoDestination }
        );
        let nothing = event(EventStatus::Active, None, None, vec![]);
        assert_eq!(
            resolve(&b, Some(&nothing), 150, GLOBAL),
            Resolution { url: GLOBAL, reason: Reason::NoDestination }
        );
    }

    #[test]
    fn window_bounds_are_start_inclusive_end_exclusive() {
        let e = full_event(EventStatus::Active);
        let b = band(BandStatus::Active, None);
        assert_eq!(resolve(&b, Some(&e), 100, GLOBAL).reason, Reason::Window);
        assert_eq!(resolve(&b, Some(&e), 199, GLOBAL).reason, Reason::Window);
        assert_eq!(resolve(&b, Some(&e), 200, GLOBAL).reason, Reason::Default);
    }

    #[test]
    fn inactive_band_or_event_goes_to_the_fallback_even_with_override() {
        let e = full_event(EventStatus::Active);
        for (status, reason) in [
            (BandStatus::Disabled, Reason::BandDisabled),
            (BandStatus::Lost, Reason::BandLost),
            (BandStatus::Unknown, Reason::BandStatusUnknown),
        ] {
            assert_eq!(
                resolve(&band(status, Some(OVR)), Some(&e), 150, GLOBAL),
                Resolution { url: FB, reason }
            );
        }
        let b = band(BandStatus::Active, Some(OVR));
        for (status, reason) in [
            (EventStatus::Inactive, Reason::EventInactive),
            (EventStatus::Unknown, Reason::EventInactive),
            (EventStatus::Frozen, Reason::EventFrozen),
        ] {
            assert_eq!(resolve(&b, Some(&full_event(status)), 150, GLOBAL), Resolution { url: FB, reason });
        }
    }

    #[test]
    fn missing_event_and_cross_tenant_event_use_the_global_fallback() {
        let b = band(BandStatus::Active, Some(OVR));
        assert_eq!(resolve(&b, None, 150, GLOBAL), Resolution { url: GLOBAL, reason: Reason::EventMissing });
        assert_eq!(resolve(&band(BandStatus::Lost, None), None, 150, GLOBAL).reason, Reason::BandLost);
        let mut foreign = full_event(EventStatus::Active);
        foreign.org_id = OTHER_ORG;
        assert_eq!(
            resolve(&b, Some(&foreign), 150, GLOBAL),
            Resolution { url: GLOBAL, reason: Reason::OrgMismatch }
        );
    }

    #[test]
    fn overlapping_windows_pick_the_latest_start() {
        let e = event(
            EventStatus::Active,
            Some(DEF),
            None,
            vec![window(0, 1000, "https://a.example/"), window(50, 60, "https://b.example/")],
        );
        let b = band(BandStatus::Active, None);
        assert_eq!(resolve(&b, Some(&e), 55, GLOBAL).url, "https://b.example/");
        assert_eq!(resolve(&b, Some(&e), 70, GLOBAL).url, "https://a.example/");
    }

    #[test]
    fn reason_names_are_stable() {
        for r in [Reason::Override, Reason::Window, Reason::UnknownBand, Reason::OrgMismatch] {
            assert_eq!(serde_json::to_string(&r).unwrap(), format!("\"{}\"", r.as_str()));
        }
        assert_eq!(serde_json::from_str::<Reason>("\"from_the_future\"").unwrap(), Reason::Other);
    }

    fn arb_band() -> impl Strategy<Value = BandRecord> {
        (
            prop_oneof![
                Just(BandStatus::Active),
                Just(BandStatus::Disabled),
                Just(BandStatus::Lost),
                Just(BandStatus::Unknown)
            ],
            any::<bool>(),
            any::<bool>(),
        )
            .prop_map(|(status, has_override, same_org)| BandRecord {
                org_id: if same_org { ORG } else { OTHER_ORG },
                ..band(status, has_override.then_some(OVR))
            })
    }

    fn arb_event() -> impl Strategy<Value = EventRecord> {
        let windows = proptest::collection::vec((0i64..1000, 1i64..300), 0..5).prop_map(|ws| {
            ws.into_iter()
                .enumerate()
                .map(|(i, (s, len))| window(s, s + len, &format!("https://w{i}.example/")))
                .collect()
        });
        (
            prop_oneof![
                Just(EventStatus::Active),
                Just(EventStatus::Inactive),
                Just(EventStatus::Frozen),
                Just(EventStatus::Unknown)
            ],
            any::<bool>(),
            any::<bool>(),
            windows,
        )
            .prop_map(|(status, d, f, ws)| event(status, d.then_some(DEF), f.then_some(FB), ws))
    }

    proptest! {
        /// The precedence rule, stated independently of the implementation.
        #[test]
        fn matches_the_specification(b in arb_band(), e in proptest::option::of(arb_event()), now in -10i64..1400) {
            let got = resolve(&b, e.as_ref(), now, GLOBAL);
            let expected_url: String = match &e {
                None => GLOBAL.into(),
                Some(e) if e.org_id != b.org_id => GLOBAL.into(),
                Some(e) => {
                    let fb = e.fallback_url.as_ref().map_or(GLOBAL.to_string(), |u| u.to_string());
                    if b.status != BandStatus::Active || e.status != EventStatus::Active {
                        fb
                    } else if let Some(o) = &b.override_url {
                        o.to_string()
                    } else if let Some(w) = e.windows.iter().filter(|w| w.starts_at <= now && now < w.ends_at).max_by_key(|w| w.starts_at) {
                        w.url.to_string()
                    } else if let Some(d) = &e.default_url {
                        d.to_string()
                    } else {
                        fb
                    }
                }
            };
            prop_assert_eq!(got.url, expected_url.as_str());
            // A routed reason only ever happens for an active band of an active, same-org event.
            if got.reason.is_routed() {
                let e = e.as_ref().unwrap();
                prop_assert!(b.status == BandStatus::Active && e.status == EventStatus::Active && e.org_id == b.org_id);
            }
        }

        /// A band never lands on a destination of another organisation's event.
        #[test]
        fn never_routes_across_tenants(b in arb_band(), mut e in arb_event(), now in 0i64..1400) {
            e.org_id = OTHER_ORG;
            let b = BandRecord { org_id: ORG, ..b };
            prop_assert_eq!(resolve(&b, Some(&e), now, GLOBAL).url, GLOBAL);
        }
    }
}
