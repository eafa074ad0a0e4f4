//! Demo data for local development: one organisation, one event pointing at
//! `https://example.com/sparkmotion-demo`, bands `DEMO0001`–`DEMO0100`, and
//! (given a password) a demo ADMIN and a demo organiser to sign in with.

use secrecy::SecretString;
use shared::BandId;
use uuid::Uuid;

use crate::domain::actor::Actor;
use crate::domain::actor::Role;
use crate::domain::bands::{BandStatus, ImportOutcome, NewBand};
use crate::domain::events::NewEvent;
use crate::domain::orgs::NewOrg;
use crate::domain::users::NewUser;
use crate::domain::{Domain, DomainError};

/// Slug of the demo organisation.
pub const ORG_SLUG: &str = "demo";
/// Where demo bands send taps.
pub const DESTINATION: &str = "https://example.com/sparkmotion-demo";
/// The demo ADMIN's email (must enrol MFA at first sign-in, as every ADMIN).
pub const ADMIN_EMAIL: &str = "admin@demo.sparkmotion.test";
/// The demo organiser's email (a CUSTOMER of the demo organisation).
pub const ORGANISER_EMAIL: &str = "organiser@demo.sparkmotion.test";

/// What [`seed`] produced (or found).
pub struct Seeded {
    /// The demo event.
    pub event_id: Uuid,
    /// Bands it has.
    pub bands: u64,
    /// Demo users created by this run (existing ones keep their password).
    pub created_users: Vec<&'static str>,
}

/// Creates the demo data unless it exists; with a password, also the demo users that are missing.
pub async fn seed(
    domain: &Domain,
    actor: &Actor,
    password: Option<SecretString>,
) -> Result<Seeded, DomainError> {
    let mut seeded = seed_event(domain, actor).await?;
    if let Some(password) = password {
        let org_id: Uuid = sqlx::query_scalar("SELECT org_id FROM events WHERE id = $1")
            .bind(seeded.event_id)
            .fetch_one(&domain.db)
            .await?;
        for (email, name, role, org) in [
            (ADMIN_EMAIL, "Demo Admin", Role::Admin, None),
            (ORGANISER_EMAIL, "Demo Organiser", Role::Customer, Some(org_id)),
        ] {
            let exists: bool = sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM users WHERE email = $1)")
                .bind(email)
                .fetch_one(&domain.db)
                .await?;
            if !exists {
                let user = NewUser {
                    email: email.into(),
                    name: name.into(),
                    role,
                    org_id: org,
                    password: password.clone(),
                };
                domain.create_user(actor, user).await?;
                seeded.created_users.push(email);
            }
        }
    }
    Ok(seeded)
}

/// Each step finds what an earlier (perhaps interrupted) run made before
/// making it, so a run that failed halfway is finished by the next one.
async fn seed_event(domain: &Domain, actor: &Actor) -> Result<Seeded, DomainError> {
    let org_id: Option<Uuid> = sqlx::query_scalar("SELECT id FROM organizations WHERE slug = $1")
        .bind(ORG_SLUG)
        .fetch_optional(&domain.db)
        .await?;
    let org_id = match org_id {
        Some(id) => id,
        None => {
            domain
                .create_org(actor, NewOrg { name: "Demo Organisation".into(), slug: Some(ORG_SLUG.into()) })
                .await?
                .id
        }
    };
    let event_id: Option<Uuid> =
        sqlx::query_scalar("SELECT id FROM events WHERE org_id = $1 ORDER BY created_at LIMIT 1")
            .bind(org_id)
            .fetch_optional(&domain.db)
            .await?;
    let event_id = match event_id {
        Some(id) => id,
        None => {
            let event = NewEvent {
                org_id,
                name: "Demo Festival".into(),
                timezone: Some("Europe/London".into()),
                default_url: Some(DESTINATION.into()),
                ..Default::default()
            };
            domain.create_event(actor, event).await?.id
        }
    };
    let existing: i64 = sqlx::query_scalar("SELECT count(*) FROM bands WHERE event_id = $1")
        .bind(event_id)
        .fetch_one(&domain.db)
        .await?;
    if existing > 0 {
        return Ok(Seeded { event_id, bands: existing as u64, created_users: Vec::new() });
    }
    let bands = (1..=100u64)
        .filter_map(|i| {
            Some(NewBand {
                line: i + 1,
                band_id: BandId::parse(&format!("DEMO{i:04}")).ok()?,
                label: format!("Demo band {i}"),
                status: BandStatus::Active,
                override_url: None,
            })
        })
        .collect();
    match domain.import_bands(actor, event_id, bands, Vec::new()).await? {
        ImportOutcome::Imported { count } => Ok(Seeded { event_id, bands: count, created_users: Vec::new() }),
        ImportOutcome::Rejected { errors } => Err(DomainError::Conflict(format!(
            "demo bands are taken: {}",
            errors.first().map(|e| e.reason.as_str()).unwrap_or("unknown")
        ))),
    }
}
