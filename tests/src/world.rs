//! A small world for authorization tests: two organisations with one event
//! and band each, a CUSTOMER in each, an ADMIN, and a deactivated user.

use origin_api::domain::Domain;
use origin_api::domain::actor::{Actor, Role};
use origin_api::domain::bands::{BandStatus, NewBand};
use origin_api::domain::events::{NewEvent, NewWindow};
use origin_api::domain::orgs::NewOrg;
use origin_api::domain::users::NewUser;
use shared::BandId;
use uuid::Uuid;

/// The password every world user has.
pub const PASSWORD: &str = "vivid marmalade orbit sundial";

/// Ids of everything in the world.
#[derive(Debug, Clone)]
pub struct World {
    /// Organisation A.
    pub org_a: Uuid,
    /// Organisation B.
    pub org_b: Uuid,
    /// A's event.
    pub event_a: Uuid,
    /// B's event.
    pub event_b: Uuid,
    /// A window of A's event.
    pub window_a: Uuid,
    /// A's band.
    pub band_a: String,
    /// B's band.
    pub band_b: String,
    /// CUSTOMER of A.
    pub customer_a: (Uuid, String),
    /// CUSTOMER of B.
    pub customer_b: (Uuid, String),
    /// ADMIN.
    pub admin: (Uuid, String),
    /// Deactivated CUSTOMER of A.
    pub deactivated: (Uuid, String),
}

async fn user(domain: &Domain, email: &str, role: Role, org: Option<Uuid>) -> (Uuid, String) {
    let u = domain
        .create_user(
            &Actor::cli(),
            NewUser {
                email: email.into(),
                name: "Test Person".into(),
                role,
                org_id: org,
                password: PASSWORD.to_string().into(),
            },
        )
        .await
        .expect("create user");
    (u.id, u.email)
}

/// Builds the world through the domain services.
pub async fn build(domain: &Domain) -> World {
    let cli = Actor::cli();
    let org_a = domain
        .create_org(&cli, NewOrg { name: "Org A".into(), slug: Some("org-a".into()) })
        .await
        .expect("org")
        .id;
    let org_b = domain
        .create_org(&cli, NewOrg { name: "Org B".into(), slug: Some("org-b".into()) })
        .await
        .expect("org")
        .id;
    let mut events = Vec::new();
    for org in [org_a, org_b] {
        let e = domain
            .create_event(
                &cli,
                NewEvent {
                    org_id: org,
                    name: "Fest".into(),
                    default_url: Some("https://example.com/fest".into()),
                    ..Default::default()
                },
            )
            .await
            .expect("event");
        events.push(e.id);
    }
    let now = chrono::Utc::now();
    let window_a = domain
        .add_window(
            &cli,
            events[0],
            NewWindow {
                label: "live".into(),
                url: "https://example.com/live".into(),
                starts_at: now,
                ends_at: now + chrono::Duration::hours(1),
            },
        )
        .await
        .expect("window")
        .id;
    for (event, id) in [(events[0], "WORLDA01"), (events[1], "WORLDB01")] {
        let band = NewBand {
            line: 2,
            band_id: BandId::parse(id).expect("id"),
            label: "gate".into(),
            status: BandStatus::Active,
            override_url: None,
        };
        domain.import_bands(&cli, event, vec![band], Vec::new()).await.expect("band");
    }
    let customer_a = user(domain, "customer.a@example.com", Role::Customer, Some(org_a)).await;
    let customer_b = user(domain, "customer.b@example.com", Role::Customer, Some(org_b)).await;
    let admin = user(domain, "admin@example.com", Role::Admin, None).await;
    let deactivated = user(domain, "gone.a@example.com", Role::Customer, Some(org_a)).await;
    domain.set_user_active(&cli, deactivated.0, false).await.expect("deactivate");
    World {
        org_a,
        org_b,
        event_a: events[0],
        event_b: events[1],
        window_a,
        band_a: "WORLDA01".into(),
        band_b: "WORLDB01".into(),
        customer_a,
        customer_b,
        admin,
        deactivated,
    }
}

/// The world's ADMIN, signed in with a freshly enrolled second factor (ADMINs
/// can do nothing else without one). Returns the client and the TOTP secret;
/// the secret's codes for `now` and `now + 30 s` have been used.
pub async fn admin_client(origin: &crate::origin::Origin, w: &World) -> (crate::api::ApiClient, Vec<u8>) {
    let now = crate::unix_now();
    let mut admin = crate::api::ApiClient::new(&origin.url);
    let first = admin.login(&w.admin.1, PASSWORD).await;
    assert_eq!(first.status, 200, "admin sign-in: {:?}", first.json);
    let (secret, _) = admin.enrol_mfa(now).await;
    // A fresh full session with a second-factor proof (the next step: the enrolment step is spent).
    let mut admin = crate::api::ApiClient::new(&origin.url);
    let answer = admin.login_mfa(&w.admin.1, PASSWORD, &secret, now + 30).await;
    assert_eq!(answer.status, 200, "admin MFA sign-in: {:?}", answer.json);
    (admin, secret)
}
