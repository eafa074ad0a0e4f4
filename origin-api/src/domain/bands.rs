//! Bands: registration (bulk import), routing status and override URL.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use shared::BandId;
use uuid::Uuid;

use super::actor::Actor;
use super::events::lock_event;
use super::{Domain, DomainError, validate};
use crate::audit::Entry;
use crate::kv_sync;

/// Routing status of a band.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, sqlx::Type)]
#[sqlx(type_name = "text", rename_all = "lowercase")]
#[serde(rename_all = "lowercase")]
pub enum BandStatus {
    /// Routed normally.
    Active,
    /// Switched off: fallback.
    Disabled,
    /// Reported lost: fallback.
    Lost,
}

impl BandStatus {
    /// Parses `active|disabled|lost` (case-insensitive).
    pub fn parse(s: &str) -> Result<Self, DomainError> {
        match s.trim().to_ascii_lowercase().as_str() {
            "" | "active" => Ok(Self::Active),
            "disabled" => Ok(Self::Disabled),
            "lost" => Ok(Self::Lost),
            _ => Err(DomainError::invalid("status", "must be active, disabled or lost")),
        }
    }

    /// The lowercase name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Disabled => "disabled",
            Self::Lost => "lost",
        }
    }
}

/// A band.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct Band {
    /// Canonical id.
    pub band_id: String,
    /// Event.
    pub event_id: Uuid,
    /// Organisation.
    pub org_id: Uuid,
    /// Routing status.
    pub status: BandStatus,
    /// Per-band destination.
    pub override_url: Option<String>,
    /// Organiser's label.
    pub label: String,
    /// Registered.
    pub created_at: DateTime<Utc>,
    /// Last changed.
    pub updated_at: DateTime<Utc>,
}

/// One band to register.
#[derive(Debug, Clone)]
pub struct NewBand {
    /// Where it came from (CSV line number), for error reports.
    pub line: u64,
    /// The id.
    pub band_id: BandId,
    /// Label.
    pub label: String,
    /// Initial status.
    pub status: BandStatus,
    /// Override URL (already validated).
    pub override_url: Option<String>,
}

/// A rejected import row.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RowError {
    /// Line in the source file (1-based, header included).
    pub line: u64,
    /// The id as given, when there was one.
    pub band_id: Option<String>,
    /// Why.
    pub reason: String,
}

/// Result of an import: all rows stored, or none.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "result", rename_all = "lowercase")]
pub enum ImportOutcome {
    /// Every row stored.
    Imported {
        /// Rows stored.
        count: u64,
    },
    /// Nothing stored; these rows are the reason.
    Rejected {
        /// Per-row errors, in line order.
        errors: Vec<RowError>,
    },
}

/// Changes for [`Domain::update_band`]; absent fields stay. `override_url: Some("")` clears it.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct BandPatch {
    /// New status.
    pub status: Option<BandStatus>,
    /// New override URL.
    pub override_url: Option<String>,
    /// New label.
    pub label: Option<String>,
}

/// Most bands in one import.
pub const MAX_IMPORT: usize = 100_000;
macro_rules! band_columns {
    () => {
        "band_id, event_id, org_id, status, override_url, label, created_at, updated_at"
    };
}

impl Domain {
    /// Registers `bands` to an event, all or nothing: rows already found bad
    /// (`errors`, e.g. while parsing a file), duplicates in the input and ids
    /// already registered anywhere (even deleted: ids stay reserved) reject
    /// the whole import, with a reason per row.
    pub async fn import_bands(
        &self,
        actor: &Actor,
        event_id: Uuid,
        bands: Vec<NewBand>,
        mut errors: Vec<RowError>,
    ) -> Result<ImportOutcome, DomainError> {
        if bands.is_empty() && errors.is_empty() {
            return Err(DomainError::invalid("bands", "no bands to import"));
        }
        if bands.len() > MAX_IMPORT {
            return Err(DomainError::invalid("bands", format!("at most {MAX_IMPORT} bands per import")));
        }
        let mut first_seen: HashMap<&str, u64> = HashMap::with_capacity(bands.len());
        for b in &bands {
            if let Some(first) = first_seen.insert(b.band_id.as_str(), b.line) {
                first_seen.insert(b.band_id.as_str(), first);
                errors.push(RowError {
                    line: b.line,
                    band_id: Some(b.band_id.to_string()),
                    reason: format!("duplicate of line {first}"),
                });
            }
        }
        let mut tx = self.begin().await?;
        let event = lock_event(&mut tx, actor, event_id).await?;
        let ids: Vec<String> = bands.iter().map(|b| b.band_id.to_string()).collect();
        let taken: Vec<String> = sqlx::query_scalar("SELECT band_id FROM bands WHERE band_id = ANY($1)")
            .bind(&ids)
            .fetch_all(&mut *tx)
            .await?;
        if !taken.is_empty() {
            let taken: std::collections::HashSet<&str> = taken.iter().map(String::as_str).collect();
            for b in bands.iter().filter(|b| taken.contains(b.band_id.as_str())) {
                errors.push(RowError {
                    line: b.line,
                    band_id: Some(b.band_id.to_string()),
                    reason: "band id is already registered".into(),
                });
            }
        }
        // Ids of purged bands stay with the organisation that had them.
        let reserved: Vec<String> = sqlx::query_scalar(
            "SELECT band_id FROM reserved_band_ids WHERE band_id = ANY($1) AND org_id <> $2",
        )
        .bind(&ids)
        .bind(event.org_id)
        .fetch_all(&mut *tx)
        .await?;
        for b in bands.iter().filter(|b| reserved.iter().any(|r| r == b.band_id.as_str())) {
            errors.push(RowError {
                line: b.line,
                band_id: Some(b.band_id.to_string()),
                reason: "band id is reserved: it belonged to another organisation".into(),
            });
        }
        if !errors.is_empty() {
            errors.sort_by_key(|e| e.line);
            return Ok(ImportOutcome::Rejected { errors });
        }
        let labels: Vec<&str> = bands.iter().map(|b| b.label.as_str()).collect();
        let statuses: Vec<BandStatus> = bands.iter().map(|b| b.status).collect();
        let overrides: Vec<Option<&str>> = bands.iter().map(|b| b.override_url.as_deref()).collect();
        sqlx::query(
            "INSERT INTO bands (band_id, event_id, org_id, label, status, override_url)
             SELECT id, $2, $3, label, status, override_url
             FROM UNNEST($1::text[], $4::text[], $5::text[], $6::text[]) AS t(id, label, status, override_url)",
        )
        .bind(&ids)
        .bind(event_id)
        .bind(event.org_id)
        .bind(&labels)
        .bind(&statuses)
        .bind(&overrides)
        .execute(&mut *tx)
        .await
        .map_err(DomainError::from_db)?;
        let count = bands.len() as u64;
        let summary = serde_json::json!({
            "count": count,
            "first": ids.first(),
            "last": ids.last(),
        });
        self.audit(
            &mut tx,
            actor,
            Entry::new("bands.imported", "event", event_id, Some(event.org_id)).after(summary),
        )
        .await?;
        kv_sync::outbox::enqueue_bands(&mut tx, &ids).await?;
        tx.commit().await?;
        Ok(ImportOutcome::Imported { count })
    }

    /// Changes a band's status, override URL or label.
    pub async fn update_band(
        &self,
        actor: &Actor,
        band_id: &BandId,
        patch: BandPatch,
    ) -> Result<Band, DomainError> {
        let mut tx = self.begin().await?;
        let before: Band = sqlx::query_as(concat!("SELECT ", band_columns!(), " FROM bands WHERE band_id = $1 AND deleted_at IS NULL AND ($2::uuid IS NULL OR org_id = $2) FOR UPDATE"))
        .bind(band_id.as_str())
        .bind(actor.org_scope().filter())
        .fetch_optional(&mut *tx)
        .await?
        .ok_or(DomainError::NotFound)?;
        let override_url = match patch.override_url.as_deref() {
            Some(raw) => validate::optional_destination("override_url", Some(raw))?,
            None => before.override_url.clone(),
        };
        let label = match patch.label.as_deref() {
            Some(raw) => validate::optional_text("label", raw, 200)?,
            None => before.label.clone(),
        };
        let after: Band = sqlx::query_as(concat!("UPDATE bands SET status = $2, override_url = $3, label = $4, updated_at = now() WHERE band_id = $1 RETURNING ", band_columns!()))
        .bind(band_id.as_str())
        .bind(patch.status.unwrap_or(before.status))
        .bind(&override_url)
        .bind(&label)
        .fetch_one(&mut *tx)
        .await
        .map_err(DomainError::from_db)?;
        self.audit(
            &mut tx,
            actor,
            Entry::new("band.updated", "band", band_id, Some(after.org_id)).before(&before).after(&after),
        )
        .await?;
        kv_sync::outbox::enqueue_bands(&mut tx, &[band_id.to_string()]).await?;
        tx.commit().await?;
        Ok(after)
    }

    /// One band, if visible to the actor.
    pub async fn get_band(&self, actor: &Actor, band_id: &BandId) -> Result<Band, DomainError> {
        sqlx::query_as(concat!(
            "SELECT ",
            band_columns!(),
            " FROM bands WHERE band_id = $1 AND deleted_at IS NULL AND ($2::uuid IS NULL OR org_id = $2)"
        ))
        .bind(band_id.as_str())
        .bind(actor.org_scope().filter())
        .fetch_optional(&self.db)
        .await?
        .ok_or(DomainError::NotFound)
    }
}

/// Loads bands by id regardless of actor (for KV sync and the edge's read-through).
pub(crate) async fn load<'c, E: sqlx::PgExecutor<'c>>(
    db: E,
    ids: &[String],
) -> Result<Vec<Band>, sqlx::Error> {
    sqlx::query_as(concat!(
        "SELECT ",
        band_columns!(),
        " FROM bands WHERE band_id = ANY($1) AND deleted_at IS NULL"
    ))
    .bind(ids)
    .fetch_all(db)
    .await
}

/// Filters for [`Domain::list_bands`].
#[derive(Debug, Clone, Default, Deserialize)]
pub struct BandQuery {
    /// Case-insensitive substring of the id or label.
    pub q: Option<String>,
    /// Only this status.
    pub status: Option<BandStatus>,
    /// Keyset pagination: ids after this one.
    pub after: Option<String>,
    /// Page size (1–500, default 100).
    pub limit: Option<i64>,
}

/// A page of bands.
#[derive(Debug, Clone, Serialize)]
pub struct BandPage {
    /// The bands, by id.
    pub bands: Vec<Band>,
    /// Pass as `after` for the next page; absent on the last.
    pub next: Option<String>,
    /// Bands matching the filters in total.
    pub total: i64,
}

impl Domain {
    /// An event's bands, filtered and paginated by id (keyset, so pages are stable while bands are added).
    pub async fn list_bands(
        &self,
        actor: &Actor,
        event_id: Uuid,
        query: BandQuery,
    ) -> Result<BandPage, DomainError> {
        self.get_event(actor, event_id).await?;
        let limit = query.limit.unwrap_or(100).clamp(1, 500);
        // LIKE metacharacters in the search are data, not patterns.
        let pattern = query.q.as_deref().map(str::trim).filter(|q| !q.is_empty()).map(|q| {
            let escaped = q.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_");
            format!("%{escaped}%")
        });
        let filter = "event_id = $1 AND deleted_at IS NULL AND ($2::text IS NULL OR band_id ILIKE $2 OR label ILIKE $2)
                      AND ($3::text IS NULL OR status = $3)";
        let mut bands: Vec<Band> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {} FROM bands WHERE {filter} AND ($4::text IS NULL OR band_id > $4) ORDER BY band_id LIMIT $5",
            band_columns!()
        )))
        .bind(event_id)
        .bind(&pattern)
        .bind(query.status)
        .bind(query.after.as_deref().map(str::to_ascii_uppercase))
        .bind(limit + 1)
        .fetch_all(&self.db)
        .await?;
        let total: i64 =
            sqlx::query_scalar(sqlx::AssertSqlSafe(format!("SELECT count(*) FROM bands WHERE {filter}")))
                .bind(event_id)
                .bind(&pattern)
                .bind(query.status)
                .fetch_one(&self.db)
                .await?;
        let next = (bands.len() as i64 > limit).then(|| {
            bands.truncate(limit as usize);
            bands.last().map(|b| b.band_id.clone())
        });
        Ok(BandPage { bands, next: next.flatten(), total })
    }
}
