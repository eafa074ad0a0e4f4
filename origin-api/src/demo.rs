//! Demo data for local development: one organisation, one event pointing at
//! `https://example.com/sparkmotion-demo`, bands `DEMO0001`–`DEMO0100`.

use shared::BandId;
use uuid::Uuid;

use crate::domain::actor::Actor;
use crate::domain::bands::{BandStatus, ImportOutcome, NewBand};
use crate::domain::events::NewEvent;
use crate::domain::orgs::NewOrg;
use crate::domain::{Domain, DomainError};

/// Slug of the demo organisation.
pub const ORG_SLUG: &str = "demo";
/// Where demo bands send taps.
pub const DESTINATION: &str = "https://example.com/sparkmotion-demo";

/// What [`seed`] produced (or found).
pub struct Seeded {
    /// The demo event.
    pub event_id: Uuid,
    /// Bands it has.
    pub bands: u64,
}

/// Creates the demo data unless it exists.
pub async fn seed(domain: &Domain, actor: &Actor) -> Result<Seeded, DomainError> {
    let existing: Option<Uuid> = sqlx::query_scalar(
        "SELECT e.id FROM events e JOIN organizations o ON o.id = e.org_id WHERE o.slug = $1 ORDER BY e.created_at LIMIT 1",
    )
    .bind(ORG_SLUG)
    .fetch_optional(&domain.db)
    .await?;
    if let Some(event_id) = existing {
        let bands: i64 = sqlx::query_scalar("SELECT count(*) FROM bands WHERE event_id = $1")
            .bind(event_id)
            .fetch_one(&domain.db)
            .await?;
        return Ok(Seeded { event_id, bands: bands as u64 });
    }
    let org = domain
        .create_org(actor, NewOrg { name: "Demo Organisation".into(), slug: Some(ORG_SLUG.into()) })
        .await?;
    let event = domain
        .create_event(
            actor,
            NewEvent {
                org_id: org.id,
                name: "Demo Festival".into(),
                timezone: Some("Europe/London".into()),
                default_url: Some(DESTINATION.into()),
                ..Default::default()
            },
        )
        .await?;
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
    match domain.import_bands(actor, event.id, bands, Vec::new()).await? {
        ImportOutcome::Imported { count } => Ok(Seeded { event_id: event.id, bands: count }),
        ImportOutcome::Rejected { errors } => Err(DomainError::Conflict(format!(
            "demo bands are taken: {}",
            errors.first().map(|e| e.reason.as_str()).unwrap_or("unknown")
        ))),
    }
}
