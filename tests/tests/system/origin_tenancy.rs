//! Tenancy and input validation at the domain layer: a CUSTOMER is confined
//! to their organisation (another org's data is "not found", never
//! "forbidden"), only platform actors create orgs and users, and bad input is
//! refused with nothing stored while hostile-looking text is kept verbatim.

use chrono::{DateTime, TimeZone, Utc};
use origin_api::domain::actor::{Actor, Principal, Role};
use origin_api::domain::bands::{BandPatch, BandStatus, ImportOutcome, NewBand};
use origin_api::domain::events::{EventPatch, NewEvent, NewWindow};
use origin_api::domain::orgs::NewOrg;
use origin_api::domain::users::NewUser;
use origin_api::domain::{Domain, DomainError};
use serde_json::Value;
use shared::BandId;
use system_tests::db::TestDb;
use system_tests::origin::{Origin, OriginOptions};
use uuid::Uuid;

// ---------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------

/// Two organisations, each with an event (one window) and a band.
struct World {
    origin: Origin,
    db: TestDb,
    org_a: Uuid,
    org_b: Uuid,
    event_a: Uuid,
    event_b: Uuid,
    window_b: Uuid,
    band_a: BandId,
    band_b: BandId,
    /// A CUSTOMER of org A.
    alice: Actor,
}

impl World {
    async fn new() -> World {
        let db = TestDb::new().await;
        let origin = Origin::start(&db, OriginOptions::default()).await;
        let domain = origin.domain();
        let cli = Actor::cli();
        let org_a = domain.create_org(&cli, NewOrg { name: "Org A".into(), slug: None }).await.unwrap().id;
        let org_b = domain.create_org(&cli, NewOrg { name: "Org B".into(), slug: None }).await.unwrap().id;
        let event_a = event(domain, &cli, org_a, "A Fest").await;
        let event_b = event(domain, &cli, org_b, "B Fest").await;
        let window_b = domain.add_window(&cli, event_b, window(10, 11)).await.unwrap().id;
        domain.add_window(&cli, event_a, window(10, 11)).await.unwrap();
        domain.import_bands(&cli, event_a, vec![band(2, "ORGA0001")], Vec::new()).await.unwrap();
        domain.import_bands(&cli, event_b, vec![band(2, "ORGB0001")], Vec::new()).await.unwrap();
        World {
            origin,
            db,
            org_a,
            org_b,
            event_a,
            event_b,
            window_b,
            band_a: BandId::parse("ORGA0001").unwrap(),
            band_b: BandId::parse("ORGB0001").unwrap(),
            alice: customer(Some(org_a)),
        }
    }

    fn domain(&self) -> &Domain {
        self.origin.domain()
    }

    /// Every table a call may touch, as JSON.
    async fn snapshot(&self) -> Value {
        snapshot(&self.db).await
    }
}

async fn snapshot(db: &TestDb) -> Value {
    let mut all = serde_json::Map::new();
    for table in [
        "organizations",
        "users",
        "events",
        "event_windows",
        "bands",
        "audit_log",
        "audit_chain_head",
        "kv_outbox",
    ] {
        let rows: Value = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
            "SELECT coalesce(jsonb_agg(to_jsonb(t) ORDER BY to_jsonb(t)::text), '[]') FROM {table} t"
        )))
        .fetch_one(&db.pool)
        .await
        .unwrap();
        all.insert(table.to_string(), rows);
    }
    Value::Object(all)
}

fn customer(org: Option<Uuid>) -> Actor {
    Actor::new(Principal::User {
        id: Uuid::now_v7(),
        role: Role::Customer,
        org_id: org,
        email: "alice@a.example".into(),
    })
}

fn admin() -> Actor {
    Actor::new(Principal::User {
        id: Uuid::now_v7(),
        role: Role::Admin,
        org_id: None,
        email: "root@platform.example".into(),
    })
}

async fn event(domain: &Domain, actor: &Actor, org: Uuid, name: &str) -> Uuid {
    domain
        .create_event(actor, NewEvent { org_id: org, name: name.into(), ..NewEvent::default() })
        .await
        .unwrap()
        .id
}

fn at(hour: u32, minute: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2027, 6, 1, hour, minute, 0).unwrap()
}

fn window(from_hour: u32, to_hour: u32) -> NewWindow {
    NewWindow {
        label: "live".into(),
        url: "https://example.com/live".into(),
        starts_at: at(from_hour, 0),
        ends_at: at(to_hour, 0),
    }
}

fn band(line: u64, id: &str) -> NewBand {
    NewBand {
        line,
        band_id: BandId::parse(id).unwrap(),
        label: String::new(),
        status: BandStatus::Active,
        override_url: None,
    }
}

fn new_user(org: Option<Uuid>) -> NewUser {
    NewUser {
        email: "new@a.example".into(),
        name: "New".into(),
        role: Role::Customer,
        org_id: org,
        password: "vivid marmalade orbit sundial".to_string().into(),
    }
}

#[track_caller]
fn assert_not_found<T: std::fmt::Debug>(what: &str, result: Result<T, DomainError>) {
    assert!(matches!(result, Err(DomainError::NotFound)), "{what}: expected NotFound, got {result:?}");
}

#[track_caller]
fn assert_forbidden<T: std::fmt::Debug>(what: &str, result: Result<T, DomainError>) {
    assert!(matches!(result, Err(DomainError::Forbidden)), "{what}: expected Forbidden, got {result:?}");
}

#[track_caller]
fn assert_invalid<T: std::fmt::Debug>(what: &str, field: &str, result: Result<T, DomainError>) {
    match result {
        Err(DomainError::Invalid { field: f, .. }) if f == field => {}
        other => panic!("{what}: expected Invalid on {field}, got {other:?}"),
    }
}

// ---------------------------------------------------------------------------
// Tenancy
// ---------------------------------------------------------------------------

/// A CUSTOMER can read and change their own org's event, windows and bands (the control for the refusals below).
#[tokio::test]
async fn a_customer_manages_their_own_org() {
    let w = World::new().await;
    let d = w.domain();
    assert_eq!(d.get_event(&w.alice, w.event_a).await.unwrap().org_id, w.org_a);
    d.update_event(
        &w.alice,
        w.event_a,
        EventPatch { name: Some("A Fest II".into()), ..EventPatch::default() },
    )
    .await
    .unwrap();
    d.add_window(&w.alice, w.event_a, window(12, 13)).await.unwrap();
    assert_eq!(d.list_windows(&w.alice, w.event_a).await.unwrap().len(), 2);
    assert_eq!(d.get_band(&w.alice, &w.band_a).await.unwrap().event_id, w.event_a);
    d.update_band(&w.alice, &w.band_a, BandPatch { status: Some(BandStatus::Lost), ..BandPatch::default() })
        .await
        .unwrap();
    let outcome = d.import_bands(&w.alice, w.event_a, vec![band(2, "ORGA0002")], Vec::new()).await.unwrap();
    assert_eq!(outcome, ImportOutcome::Imported { count: 1 });
    let new_event = event(d, &w.alice, w.org_a, "A Side Fest").await;
    assert_eq!(d.get_event(&w.alice, new_event).await.unwrap().org_id, w.org_a);
}

/// Another org's event is NotFound to a CUSTOMER for get, update, add/list/remove window, exactly like a missing one, and nothing changes.
#[tokio::test]
async fn another_orgs_event_is_not_found_for_a_customer() {
    let w = World::new().await;
    let d = w.domain();
    let before = w.snapshot().await;
    for event in [w.event_b, Uuid::now_v7()] {
        assert_not_found("get_event", d.get_event(&w.alice, event).await);
        assert_not_found(
            "update_event",
            d.update_event(
                &w.alice,
                event,
                EventPatch { name: Some("Taken".into()), ..EventPatch::default() },
            )
            .await,
        );
        assert_not_found("add_window", d.add_window(&w.alice, event, window(14, 15)).await);
        assert_not_found("list_windows", d.list_windows(&w.alice, event).await);
        assert_not_found("remove_window", d.remove_window(&w.alice, event, w.window_b).await);
    }
    // B's window addressed through A's own event.
    assert_not_found("remove_window via own event", d.remove_window(&w.alice, w.event_a, w.window_b).await);
    assert_eq!(w.snapshot().await, before, "a refused call changed something");
}

/// Another org's band is NotFound to a CUSTOMER for get and update, and stays unchanged.
#[tokio::test]
async fn another_orgs_band_is_not_found_for_a_customer() {
    let w = World::new().await;
    let d = w.domain();
    let before = w.snapshot().await;
    for id in [w.band_b.clone(), BandId::parse("NOSUCH01").unwrap()] {
        assert_not_found("get_band", d.get_band(&w.alice, &id).await);
        let patch = BandPatch {
            status: Some(BandStatus::Disabled),
            override_url: Some("https://evil.example/".into()),
            label: Some("mine now".into()),
        };
        assert_not_found("update_band", d.update_band(&w.alice, &id, patch).await);
    }
    assert_eq!(w.snapshot().await, before, "a refused call changed something");
}

/// `list_events` and `list_orgs` return only the CUSTOMER's own org; `get_org` of another org is NotFound.
#[tokio::test]
async fn a_customer_lists_only_their_own_org() {
    let w = World::new().await;
    let d = w.domain();
    let cli = Actor::cli();
    let mut own = vec![w.event_a];
    for i in 0..3 {
        own.push(event(d, &cli, w.org_a, &format!("A extra {i}")).await);
        event(d, &cli, w.org_b, &format!("B extra {i}")).await;
    }
    own.sort();
    let mut listed: Vec<Uuid> = d.list_events(&w.alice, 500, 0).await.unwrap().iter().map(|e| e.id).collect();
    listed.sort();
    assert_eq!(listed, own);
    let mut paged = Vec::new();
    for offset in 0..10 {
        paged.extend(d.list_events(&w.alice, 1, offset).await.unwrap().into_iter().map(|e| e.org_id));
    }
    assert_eq!(paged, vec![w.org_a; 4], "paging never reaches another org");

    let orgs: Vec<Uuid> = d.list_orgs(&w.alice).await.unwrap().iter().map(|o| o.id).collect();
    assert_eq!(orgs, vec![w.org_a]);
    assert_eq!(d.get_org(&w.alice, w.org_a).await.unwrap().id, w.org_a);
    assert_not_found("get_org", d.get_org(&w.alice, w.org_b).await);
}

/// A CUSTOMER cannot create an event in another org: NotFound, nothing stored.
#[tokio::test]
async fn a_customer_cannot_create_an_event_in_another_org() {
    let w = World::new().await;
    let before = w.snapshot().await;
    let result = w
        .domain()
        .create_event(
            &w.alice,
            NewEvent { org_id: w.org_b, name: "Squat Fest".into(), ..NewEvent::default() },
        )
        .await;
    assert_not_found("create_event", result);
    assert_eq!(w.snapshot().await, before);
}

/// A CUSTOMER cannot create organisations or users (not even in their own org): Forbidden, nothing stored.
#[tokio::test]
async fn a_customer_cannot_create_orgs_or_users() {
    let w = World::new().await;
    let d = w.domain();
    let before = w.snapshot().await;
    assert_forbidden("create_org", d.create_org(&w.alice, NewOrg { name: "Org C".into(), slug: None }).await);
    assert_forbidden("create_user in own org", d.create_user(&w.alice, new_user(Some(w.org_a))).await);
    assert_forbidden("create_user in other org", d.create_user(&w.alice, new_user(Some(w.org_b))).await);
    let admin_user = NewUser { role: Role::Admin, org_id: None, ..new_user(None) };
    assert_forbidden("create_user ADMIN", d.create_user(&w.alice, admin_user).await);
    assert_eq!(w.snapshot().await, before);
}

/// A CUSTOMER with no organisation sees nothing at all.
#[tokio::test]
async fn a_customer_without_an_org_sees_nothing() {
    let w = World::new().await;
    let d = w.domain();
    let orphan = customer(None);
    assert!(d.list_events(&orphan, 500, 0).await.unwrap().is_empty());
    assert!(d.list_orgs(&orphan).await.unwrap().is_empty());
    for event in [w.event_a, w.event_b] {
        assert_not_found("get_event", d.get_event(&orphan, event).await);
    }
    for band in [&w.band_a, &w.band_b] {
        assert_not_found("get_band", d.get_band(&orphan, band).await);
    }
}

/// An ADMIN sees and manages every org's events and bands.
#[tokio::test]
async fn an_admin_sees_and_manages_every_org() {
    let w = World::new().await;
    let d = w.domain();
    let root = admin();
    let mut listed: Vec<Uuid> = d.list_events(&root, 500, 0).await.unwrap().iter().map(|e| e.id).collect();
    listed.sort();
    let mut both = vec![w.event_a, w.event_b];
    both.sort();
    assert_eq!(listed, both);
    assert_eq!(d.list_orgs(&root).await.unwrap().len(), 2);
    for (event, org) in [(w.event_a, w.org_a), (w.event_b, w.org_b)] {
        assert_eq!(d.get_event(&root, event).await.unwrap().org_id, org);
        assert_eq!(d.list_windows(&root, event).await.unwrap().len(), 1);
    }
    assert_eq!(d.get_band(&root, &w.band_a).await.unwrap().org_id, w.org_a);
    assert_eq!(d.get_band(&root, &w.band_b).await.unwrap().org_id, w.org_b);
    d.update_event(
        &root,
        w.event_b,
        EventPatch { name: Some("B Fest (admin)".into()), ..EventPatch::default() },
    )
    .await
    .unwrap();
    d.update_band(&root, &w.band_b, BandPatch { status: Some(BandStatus::Disabled), ..BandPatch::default() })
        .await
        .unwrap();
    d.remove_window(&root, w.event_b, w.window_b).await.unwrap();
    let org_c = d.create_org(&root, NewOrg { name: "Org C".into(), slug: None }).await.unwrap();
    event(d, &root, org_c.id, "C Fest").await;
}

/// Importing bands into another org's event is NotFound and stores nothing, whether the ids are new or already taken.
#[tokio::test]
async fn importing_into_another_orgs_event_is_not_found_and_stores_nothing() {
    let w = World::new().await;
    let d = w.domain();
    let before = w.snapshot().await;
    assert_not_found(
        "import new ids",
        d.import_bands(&w.alice, w.event_b, vec![band(2, "SNEAK001"), band(3, "SNEAK002")], Vec::new()).await,
    );
    assert_not_found(
        "import taken ids",
        d.import_bands(&w.alice, w.event_b, vec![band(2, "ORGB0001")], Vec::new()).await,
    );
    assert_not_found(
        "import duplicates",
        d.import_bands(&w.alice, w.event_b, vec![band(2, "X0001"), band(3, "X0001")], Vec::new()).await,
    );
    assert_eq!(w.snapshot().await, before);
    let sneaked: i64 = sqlx::query_scalar("SELECT count(*) FROM bands WHERE band_id LIKE 'SNEAK%'")
        .fetch_one(&w.db.pool)
        .await
        .unwrap();
    assert_eq!(sneaked, 0);
}

// ---------------------------------------------------------------------------
// Validation
// ---------------------------------------------------------------------------

/// Windows that merely touch ([10:00,11:00) then [11:00,12:00)) are accepted; any overlap is a Conflict and is not stored.
#[tokio::test]
async fn touching_windows_are_allowed_and_overlapping_ones_refused() {
    let w = World::new().await;
    let d = w.domain();
    d.add_window(&w.alice, w.event_a, window(11, 12)).await.expect("[11:00,12:00) touches [10:00,11:00)");
    d.add_window(&w.alice, w.event_a, window(9, 10)).await.expect("[09:00,10:00) touches [10:00,11:00)");
    let before = w.snapshot().await;
    for (from, to) in [
        (at(10, 0), at(11, 0)),
        (at(10, 30), at(11, 30)),
        (at(8, 0), at(13, 0)),
        (at(11, 59), at(12, 1)),
        (at(10, 15), at(10, 45)),
    ] {
        let result = d
            .add_window(&w.alice, w.event_a, NewWindow { starts_at: from, ends_at: to, ..window(0, 1) })
            .await;
        assert!(
            matches!(result, Err(DomainError::Conflict(_))),
            "[{from}, {to}): expected Conflict, got {result:?}"
        );
    }
    assert_eq!(w.snapshot().await, before, "a refused window was stored");
    let stored: Vec<(DateTime<Utc>, DateTime<Utc>)> =
        d.list_windows(&w.alice, w.event_a).await.unwrap().iter().map(|w| (w.starts_at, w.ends_at)).collect();
    assert_eq!(stored, vec![(at(9, 0), at(10, 0)), (at(10, 0), at(11, 0)), (at(11, 0), at(12, 0))]);
    // Another event's schedule is independent.
    d.add_window(&Actor::cli(), w.event_b, window(11, 12)).await.unwrap();
    d.add_window(
        &Actor::cli(),
        w.event_b,
        NewWindow { starts_at: at(12, 30), ends_at: at(13, 0), ..window(0, 1) },
    )
    .await
    .unwrap();
}

/// A window must end after it starts (earlier or equal end is Invalid) and nothing is stored.
#[tokio::test]
async fn a_window_must_end_after_it_starts() {
    let w = World::new().await;
    let d = w.domain();
    let before = w.snapshot().await;
    for (from, to) in [(at(15, 0), at(14, 0)), (at(15, 0), at(15, 0))] {
        let result = d
            .add_window(&w.alice, w.event_a, NewWindow { starts_at: from, ends_at: to, ..window(0, 1) })
            .await;
        assert_invalid("add_window", "ends_at", result);
    }
    let result = d
        .create_event(
            &w.alice,
            NewEvent {
                org_id: w.org_a,
                name: "Backwards".into(),
                starts_at: Some(at(15, 0)),
                ends_at: Some(at(14, 0)),
                ..NewEvent::default()
            },
        )
        .await;
    assert_invalid("create_event span", "ends_at", result);
    let result = d
        .update_event(
            &w.alice,
            w.event_a,
            EventPatch { starts_at: Some(at(15, 0)), ends_at: Some(at(15, 0)), ..EventPatch::default() },
        )
        .await;
    assert_invalid("update_event span", "ends_at", result);
    assert_eq!(w.snapshot().await, before);
}

/// Destinations must be absolute https URLs without userinfo (or backslash tricks) everywhere a URL is taken; refusals store nothing.
#[tokio::test]
async fn destination_urls_must_be_https_without_userinfo() {
    let w = World::new().await;
    let d = w.domain();
    let before = w.snapshot().await;
    for bad in [
        "http://example.com/",
        "https://user@example.com/",
        "https://user:pass@example.com/",
        "https://brand.example@evil.example/",
        "https://evil.example\\@brand.example/",
        "javascript:alert(1)",
        "//example.com/",
        "https://",
        "ftp://example.com/",
    ] {
        let url = Some(bad.to_string());
        let create = |field: &str| NewEvent {
            org_id: w.org_a,
            name: "Bad URL Fest".into(),
            default_url: (field == "default_url").then(|| bad.to_string()),
            fallback_url: (field == "fallback_url").then(|| bad.to_string()),
            ..NewEvent::default()
        };
        assert_invalid(bad, "default_url", d.create_event(&w.alice, create("default_url")).await);
        assert_invalid(bad, "fallback_url", d.create_event(&w.alice, create("fallback_url")).await);
        let patch = EventPatch { default_url: url.clone(), ..EventPatch::default() };
        assert_invalid(bad, "default_url", d.update_event(&w.alice, w.event_a, patch).await);
        let patch = EventPatch { fallback_url: url.clone(), ..EventPatch::default() };
        assert_invalid(bad, "fallback_url", d.update_event(&w.alice, w.event_a, patch).await);
        let new_window = NewWindow { url: bad.to_string(), ..window(20, 21) };
        assert_invalid(bad, "url", d.add_window(&w.alice, w.event_a, new_window).await);
        let patch = BandPatch { override_url: url, ..BandPatch::default() };
        assert_invalid(bad, "override_url", d.update_band(&w.alice, &w.band_a, patch).await);
    }
    assert_eq!(w.snapshot().await, before, "a refused URL was stored");

    let event = d
        .update_event(
            &w.alice,
            w.event_a,
            EventPatch { default_url: Some(" https://Example.COM ".into()), ..EventPatch::default() },
        )
        .await
        .unwrap();
    assert_eq!(event.default_url.as_deref(), Some("https://example.com/"), "stored normalised");
}

/// Names are at most 200 characters (counted as characters, not bytes): 201 is Invalid and nothing is stored.
#[tokio::test]
async fn names_over_200_characters_are_refused() {
    let w = World::new().await;
    let d = w.domain();
    let before = w.snapshot().await;
    for long in ["x".repeat(201), "é".repeat(201), "🎉".repeat(201)] {
        let result = d
            .create_event(&w.alice, NewEvent { org_id: w.org_a, name: long.clone(), ..NewEvent::default() })
            .await;
        assert_invalid("create_event", "name", result);
        let result = d
            .update_event(
                &w.alice,
                w.event_a,
                EventPatch { name: Some(long.clone()), ..EventPatch::default() },
            )
            .await;
        assert_invalid("update_event", "name", result);
        assert_invalid(
            "create_org",
            "name",
            d.create_org(&Actor::cli(), NewOrg { name: long.clone(), slug: Some("long".into()) }).await,
        );
        let patch = BandPatch { label: Some(long), ..BandPatch::default() };
        assert_invalid("update_band", "label", d.update_band(&w.alice, &w.band_a, patch).await);
    }
    let long_label = NewWindow { label: "w".repeat(101), ..window(20, 21) };
    assert_invalid("add_window", "label", d.add_window(&w.alice, w.event_a, long_label).await);
    assert_eq!(w.snapshot().await, before);

    for (i, max) in ["x".repeat(200), "é".repeat(200), "🎉".repeat(200)].into_iter().enumerate() {
        let id = event(d, &w.alice, w.org_a, &max).await;
        assert_eq!(d.get_event(&w.alice, id).await.unwrap().name, max, "case {i}");
    }
}

/// Control characters inside names and labels are Invalid and nothing is stored.
#[tokio::test]
async fn control_characters_are_refused() {
    let w = World::new().await;
    let d = w.domain();
    let before = w.snapshot().await;
    for bad in [
        "nul\u{0}byte",
        "bell\u{7}",
        "new\nline",
        "tab\tbed",
        "car\rriage",
        "\u{1b}[31mred",
        "del\u{7f}",
        "nel\u{85}x",
    ] {
        let result = d
            .create_event(&w.alice, NewEvent { org_id: w.org_a, name: bad.into(), ..NewEvent::default() })
            .await;
        assert_invalid(bad, "name", result);
        let result = d
            .update_event(&w.alice, w.event_a, EventPatch { name: Some(bad.into()), ..EventPatch::default() })
            .await;
        assert_invalid(bad, "name", result);
        assert_invalid(
            bad,
            "name",
            d.create_org(&Actor::cli(), NewOrg { name: bad.into(), slug: Some("ctl".into()) }).await,
        );
        let new_window = NewWindow { label: bad.into(), ..window(20, 21) };
        assert_invalid(bad, "label", d.add_window(&w.alice, w.event_a, new_window).await);
        let patch = BandPatch { label: Some(bad.into()), ..BandPatch::default() };
        assert_invalid(bad, "label", d.update_band(&w.alice, &w.band_a, patch).await);
    }
    assert_eq!(w.snapshot().await, before);
}

/// SQL-injection- and XSS-looking text is stored verbatim, read back unchanged, and harms nothing.
#[tokio::test]
async fn injection_looking_names_are_stored_verbatim() {
    let w = World::new().await;
    let d = w.domain();
    let cli = Actor::cli();
    for (i, name) in [
        "'; DROP TABLE events; --",
        "<img src=x onerror=alert(1)>",
        "Robert'); DELETE FROM bands WHERE ('1'='1",
        "\"quoted\" & <b>bold</b> ${jndi:ldap://x} {{7*7}}",
        "Ünïcode 🎉 Fest",
    ]
    .into_iter()
    .enumerate()
    {
        let event_id = event(d, &w.alice, w.org_a, name).await;
        assert_eq!(d.get_event(&w.alice, event_id).await.unwrap().name, name);
        let stored: String = sqlx::query_scalar("SELECT name FROM events WHERE id = $1")
            .bind(event_id)
            .fetch_one(&w.db.pool)
            .await
            .unwrap();
        assert_eq!(stored, name);

        let org = d
            .create_org(&cli, NewOrg { name: name.into(), slug: Some(format!("hostile-{i}")) })
            .await
            .unwrap();
        assert_eq!(d.get_org(&cli, org.id).await.unwrap().name, name);

        let label = NewWindow { label: name.into(), ..window(12 + i as u32, 13 + i as u32) };
        d.add_window(&w.alice, event_id, label).await.unwrap();
        assert_eq!(d.list_windows(&w.alice, event_id).await.unwrap()[0].label, name);

        let patch = BandPatch { label: Some(name.into()), ..BandPatch::default() };
        assert_eq!(d.update_band(&w.alice, &w.band_a, patch).await.unwrap().label, name);
        assert_eq!(d.get_band(&w.alice, &w.band_a).await.unwrap().label, name);

        let audited: Value = sqlx::query_scalar(
            "SELECT after FROM audit_log WHERE action = 'event.created' AND target_id = $1",
        )
        .bind(event_id.to_string())
        .fetch_one(&w.db.pool)
        .await
        .unwrap();
        assert_eq!(audited["name"], name, "audit keeps the name verbatim");
    }
    let tables: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public' AND table_name IN ('events', 'bands')",
    )
    .fetch_one(&w.db.pool)
    .await
    .unwrap();
    assert_eq!(tables, 2);
    assert_eq!(d.list_events(&Actor::cli(), 500, 0).await.unwrap().len(), 7, "2 fixtures + 5 hostile names");
}
