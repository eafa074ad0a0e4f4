//! `GET /internal/v1/bands/{id}` (the edge's KV-miss read-through): signed,
//! case-insensitive, and answering the same records the KV sync would push.

use chrono::{TimeZone, Utc};
use origin_api::domain::actor::Actor;
use origin_api::domain::bands::{BandStatus, ImportOutcome, NewBand};
use origin_api::domain::events::{EventStatus, NewEvent, NewWindow};
use origin_api::domain::orgs::NewOrg;
use serde_json::Value;
use shared::signing::SignedHeaders;
use shared::{BandId, BandLookup, Destination, Window};
use system_tests::db::TestDb;
use system_tests::origin::{Origin, OriginOptions};
use system_tests::{http, keys};
use uuid::Uuid;

const DEFAULT_URL: &str = "https://example.com/show";
const FALLBACK_URL: &str = "https://example.com/fallback";
const OVERRIDE_URL: &str = "https://vip.example.com/lounge";

/// The lookup path of `id` (as sent, unescaped).
fn path(id: &str) -> String {
    format!("/internal/v1/bands/{id}")
}

/// Signs a lookup of `id` (empty body) with the origin's key.
fn sign(origin: &Origin, id: &str) -> SignedHeaders {
    keys::sign_now(&origin.options.keyring(), "GET", &path(id), b"")
}

/// Sends `GET /internal/v1/bands/{id}` with `signed` headers (none: unsigned).
async fn get(origin: &Origin, id: &str, signed: Option<&SignedHeaders>) -> reqwest::Response {
    let mut req = http::client().get(origin.url(&path(id)));
    if let Some(s) = signed {
        req = keys::apply(req, s);
    }
    req.send().await.unwrap()
}

/// A freshly signed lookup of `id`.
async fn lookup(origin: &Origin, id: &str) -> reqwest::Response {
    get(origin, id, Some(&sign(origin, id))).await
}

/// Asserts a 200 and decodes it as a [`BandLookup`].
async fn found(r: reqwest::Response) -> BandLookup {
    let status = r.status();
    let text = r.text().await.unwrap();
    assert_eq!(status, 200, "{text}");
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("not a BandLookup ({e}): {text}"))
}

/// Asserts an error answer with `status` and `code`.
async fn refused(r: reqwest::Response, status: u16, code: &str) {
    let got = r.status();
    let text = r.text().await.unwrap();
    assert_eq!(got, status, "{text}");
    let body: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"));
    assert_eq!(body["error"]["code"], code, "{text}");
}

fn dest(url: &str) -> Destination {
    Destination::parse(url).unwrap()
}

struct Fixture {
    org: Uuid,
    event: Uuid,
    windows: Vec<Window>,
}

/// An org, an active event with default and fallback URLs and two windows, and bands
/// `LOOK0001` (active) and `LOOK0002` (disabled, with an override), created through the domain.
async fn fixture(origin: &Origin) -> Fixture {
    let actor = Actor::cli();
    let domain = origin.domain();
    let org = domain.create_org(&actor, NewOrg { name: "Lookup Org".into(), slug: None }).await.unwrap();
    let event = domain
        .create_event(
            &actor,
            NewEvent {
                org_id: org.id,
                name: "Lookup Show".into(),
                default_url: Some(DEFAULT_URL.into()),
                fallback_url: Some(FALLBACK_URL.into()),
                status: Some(EventStatus::Active),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let spans = [
        ("pre-show", "https://example.com/pre", 1_800_000_000, 1_800_003_600),
        ("", "https://example.com/live", 1_800_003_600, 1_800_010_800),
    ];
    let mut windows = Vec::new();
    for (label, url, start, end) in spans {
        let input = NewWindow {
            label: label.into(),
            url: url.into(),
            starts_at: Utc.timestamp_opt(start, 0).unwrap(),
            ends_at: Utc.timestamp_opt(end, 0).unwrap(),
        };
        domain.add_window(&actor, event.id, input).await.unwrap();
        windows.push(Window {
            starts_at: start,
            ends_at: end,
            url: dest(url),
            label: (!label.is_empty()).then(|| label.to_string()),
        });
    }
    let band = |line: u64, id: &str, status: BandStatus, override_url: Option<&str>| NewBand {
        line,
        band_id: BandId::parse(id).unwrap(),
        label: format!("Gate {line}"),
        status,
        override_url: override_url.map(str::to_string),
    };
    let outcome = domain
        .import_bands(
            &actor,
            event.id,
            vec![
                band(2, "LOOK0001", BandStatus::Active, None),
                band(3, "LOOK0002", BandStatus::Disabled, Some(OVERRIDE_URL)),
            ],
            Vec::new(),
        )
        .await
        .unwrap();
    assert_eq!(outcome, ImportOutcome::Imported { count: 2 });
    Fixture { org: org.id, event: event.id, windows }
}

/// A fresh database and an origin on it.
async fn start() -> (TestDb, Origin) {
    let db = TestDb::new().await;
    let origin = Origin::start(&db, OriginOptions::default()).await;
    (db, origin)
}

/// Without a valid signature a lookup is 401 — for known, unknown and invalid ids alike
/// (no existence oracle for unauthenticated callers).
#[tokio::test]
async fn unsigned_or_wrongly_signed_lookups_are_refused() {
    let (_db, origin) = start().await;
    fixture(&origin).await;
    for id in ["LOOK0001", "NOPE0001", "ab"] {
        refused(get(&origin, id, None).await, 401, "unauthorized").await;
    }
    // Wrong secret under the right key id.
    let key_id = origin.options.keyring().signing_key().id().to_string();
    let imposter = keys::keyring(&keys::random_key_spec(&key_id));
    let signed = keys::sign_now(&imposter, "GET", &path("LOOK0001"), b"");
    refused(get(&origin, "LOOK0001", Some(&signed)).await, 401, "unauthorized").await;
    // Signed for another band: the path is part of the signature.
    refused(get(&origin, "LOOK0001", Some(&sign(&origin, "LOOK0002"))).await, 401, "unauthorized").await;
    // Signed as another method.
    let signed = keys::sign_now(&origin.options.keyring(), "POST", &path("LOOK0001"), b"");
    refused(get(&origin, "LOOK0001", Some(&signed)).await, 401, "unauthorized").await;
    // The control: the same lookup properly signed works.
    found(lookup(&origin, "LOOK0001").await).await;
}

/// A valid id that is not registered is 404 `not_found`.
#[tokio::test]
async fn unknown_band_is_404() {
    let (_db, origin) = start().await;
    fixture(&origin).await;
    refused(lookup(&origin, "NOPE0001").await, 404, "not_found").await;
}

/// A registered band answers its band record and its event's record (status, override,
/// default and fallback URLs, every window), matching what was created.
#[tokio::test]
async fn registered_band_answers_its_band_and_event_records() {
    let (_db, origin) = start().await;
    let f = fixture(&origin).await;

    for (id, status, override_url) in [
        ("LOOK0001", shared::BandStatus::Active, None),
        ("LOOK0002", shared::BandStatus::Disabled, Some(dest(OVERRIDE_URL))),
    ] {
        let answer = found(lookup(&origin, id).await).await;
        let band = &answer.band;
        assert_eq!(band.v, shared::records::RECORD_VERSION, "{id}");
        assert_eq!(band.event_id, f.event, "{id}");
        assert_eq!(band.org_id, f.org, "{id}");
        assert_eq!(band.status, status, "{id}");
        assert_eq!(band.override_url, override_url, "{id}");

        let event = answer.event.as_ref().unwrap_or_else(|| panic!("{id}: no event record"));
        assert_eq!(event.v, shared::records::RECORD_VERSION, "{id}");
        assert_eq!(event.org_id, f.org, "{id}");
        assert_eq!(event.status, shared::EventStatus::Active, "{id}");
        assert_eq!(event.default_url, Some(dest(DEFAULT_URL)), "{id}");
        assert_eq!(event.fallback_url, Some(dest(FALLBACK_URL)), "{id}");
        assert_eq!(event.windows, f.windows, "{id}");
    }
}

/// Band ids are case-insensitive: a lower-case (or mixed-case) id finds the same band.
#[tokio::test]
async fn lower_case_id_finds_the_same_band() {
    let (_db, origin) = start().await;
    fixture(&origin).await;
    let upper = found(lookup(&origin, "LOOK0002").await).await;
    for id in ["look0002", "Look0002"] {
        assert_eq!(found(lookup(&origin, id).await).await, upper, "{id}");
    }
}

/// Ids that break the band-id rules are 404 from the lookup itself (never a database
/// error or a path escape). Each path does reach the signed handler: unsigned, it is 401.
#[tokio::test]
async fn invalid_ids_are_404() {
    let (_db, origin) = start().await;
    fixture(&origin).await;
    let too_long = "A".repeat(33);
    for id in ["ab", "..%2F..", "LOOK%2F0001", "LOOK0001%00", "LOOK%200001", "LOOK.0001", too_long.as_str()] {
        refused(get(&origin, id, None).await, 401, "unauthorized").await;
        refused(lookup(&origin, id).await, 404, "not_found").await;
    }
}

/// A lookup request sent twice verbatim: the second is 401.
#[tokio::test]
async fn replayed_lookup_is_refused() {
    let (_db, origin) = start().await;
    fixture(&origin).await;
    let signed = sign(&origin, "LOOK0001");
    found(get(&origin, "LOOK0001", Some(&signed)).await).await;
    refused(get(&origin, "LOOK0001", Some(&signed)).await, 401, "unauthorized").await;
}
