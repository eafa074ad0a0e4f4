//! Events and their schedule windows.

use chrono::{DateTime, SubsecRound, Utc};
use serde::{Deserialize, Serialize};
use sqlx::PgConnection;
use uuid::Uuid;

use super::actor::Actor;
use super::{Domain, DomainError, validate};
use crate::audit::Entry;
use crate::kv_sync;

/// Routing status of an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, sqlx::Type)]
#[sqlx(type_name = "text", rename_all = "lowercase")]
#[serde(rename_all = "lowercase")]
pub enum EventStatus {
    /// Taps follow windows and the default URL.
    Active,
    /// Taps go to the fallback.
    Inactive,
    /// Incident freeze: every band pinned to the fallback.
    Frozen,
}

impl EventStatus {
    /// Parses `active|inactive|frozen`.
    pub fn parse(s: &str) -> Result<Self, DomainError> {
        match s.trim() {
            "active" => Ok(Self::Active),
            "inactive" => Ok(Self::Inactive),
            "frozen" => Ok(Self::Frozen),
            _ => Err(DomainError::invalid("status", "must be active, inactive or frozen")),
        }
    }

    /// The lowercase name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Inactive => "inactive",
            Self::Frozen => "frozen",
        }
    }
}

/// An event.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct Event {
    /// Id.
    pub id: Uuid,
    /// Owning organisation.
    pub org_id: Uuid,
    /// Display name.
    pub name: String,
    /// IANA time zone for display.
    pub timezone: String,
    /// Where taps go outside windows.
    pub default_url: Option<String>,
    /// Where taps go when not routed.
    pub fallback_url: Option<String>,
    /// Routing status.
    pub status: EventStatus,
    /// Start (informational).
    pub starts_at: Option<DateTime<Utc>>,
    /// End (informational).
    pub ends_at: Option<DateTime<Utc>>,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Last changed.
    pub updated_at: DateTime<Utc>,
}

/// A schedule window.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct EventWindow {
    /// Id.
    pub id: Uuid,
    /// Event.
    pub event_id: Uuid,
    /// Label (pre-show, live, recap…).
    pub label: String,
    /// Destination while active.
    pub url: String,
    /// Start (inclusive).
    pub starts_at: DateTime<Utc>,
    /// End (exclusive).
    pub ends_at: DateTime<Utc>,
}

/// Input for [`Domain::create_event`].
#[derive(Debug, Clone, Default, Deserialize)]
pub struct NewEvent {
    /// Owning organisation.
    pub org_id: Uuid,
    /// Display name.
    pub name: String,
    /// IANA time zone (default UTC).
    pub timezone: Option<String>,
    /// Default destination.
    pub default_url: Option<String>,
    /// Fallback destination.
    pub fallback_url: Option<String>,
    /// Initial status (default active).
    pub status: Option<EventStatus>,
    /// Start.
    pub starts_at: Option<DateTime<Utc>>,
    /// End.
    pub ends_at: Option<DateTime<Utc>>,
}

/// Changes for [`Domain::update_event`]; absent fields stay as they are.
/// For URLs, `Some("")` clears the value.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct EventPatch {
    /// New name.
    pub name: Option<String>,
    /// New time zone.
    pub timezone: Option<String>,
    /// New default URL.
    pub default_url: Option<String>,
    /// New fallback URL.
    pub fallback_url: Option<String>,
    /// New status.
    pub status: Option<EventStatus>,
    /// New start.
    pub starts_at: Option<DateTime<Utc>>,
    /// New end.
    pub ends_at: Option<DateTime<Utc>>,
}

/// Input for [`Domain::add_window`].
#[derive(Debug, Clone, Deserialize)]
pub struct NewWindow {
    /// Label.
    #[serde(default)]
    pub label: String,
    /// Destination.
    pub url: String,
    /// Start.
    pub starts_at: DateTime<Utc>,
    /// End.
    pub ends_at: DateTime<Utc>,
}

macro_rules! event_columns {
    () => {
        "id, org_id, name, timezone, default_url, fallback_url, status, starts_at, ends_at, created_at, updated_at"
    };
}
macro_rules! window_columns {
    () => {
        "id, event_id, label, url, starts_at, ends_at"
    };
}

fn check_span(starts_at: Option<DateTime<Utc>>, ends_at: Option<DateTime<Utc>>) -> Result<(), DomainError> {
    match (starts_at, ends_at) {
        (Some(s), Some(e)) if e <= s => Err(DomainError::invalid("ends_at", "must be after the start")),
        _ => Ok(()),
    }
}

impl Domain {
    /// Creates an event in an organisation the actor may manage.
    pub async fn create_event(&self, actor: &Actor, input: NewEvent) -> Result<Event, DomainError> {
        if !actor.org_scope().allows(input.org_id) {
            return Err(DomainError::NotFound);
        }
        let name = validate::text("name", &input.name, 200)?;
        let timezone = validate::timezone(input.timezone.as_deref().unwrap_or("UTC"))?;
        let default_url = validate::optional_destination("default_url", input.default_url.as_deref())?;
        let fallback_url = validate::optional_destination("fallback_url", input.fallback_url.as_deref())?;
        check_span(input.starts_at, input.ends_at)?;
        let mut tx = self.begin().await?;
        let org_exists: bool = sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM organizations WHERE id = $1 AND deleted_at IS NULL)",
        )
        .bind(input.org_id)
        .fetch_one(&mut *tx)
        .await?;
        if !org_exists {
            return Err(DomainError::NotFound);
        }
        let event: Event = sqlx::query_as(concat!("INSERT INTO events (id, org_id, name, timezone, default_url, fallback_url, status, starts_at, ends_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING ", event_columns!()))
        .bind(Uuid::now_v7())
        .bind(input.org_id)
        .bind(&name)
        .bind(&timezone)
        .bind(&default_url)
        .bind(&fallback_url)
        .bind(input.status.unwrap_or(EventStatus::Active))
        .bind(input.starts_at)
        .bind(input.ends_at)
        .fetch_one(&mut *tx)
        .await
        .map_err(DomainError::from_db)?;
        self.audit(
            &mut tx,
            actor,
            Entry::new("event.created", "event", event.id, Some(event.org_id)).after(&event),
        )
        .await?;
        kv_sync::outbox::enqueue_event(&mut tx, event.id).await?;
        tx.commit().await?;
        Ok(event)
    }

    /// Applies `patch` to an event the actor may manage.
    pub async fn update_event(
        &self,
        actor: &Actor,
        id: Uuid,
        patch: EventPatch,
    ) -> Result<Event, DomainError> {
        let mut tx = self.begin().await?;
        let before = lock_event(&mut tx, actor, id).await?;
        let name = patch
            .name
            .as_deref()
            .map(|n| validate::text("name", n, 200))
            .transpose()?
            .unwrap_or_else(|| before.name.clone());
        let timezone = patch
            .timezone
            .as_deref()
            .map(validate::timezone)
            .transpose()?
            .unwrap_or_else(|| before.timezone.clone());
        let default_url = match patch.default_url.as_deref() {
            Some(raw) => validate::optional_destination("default_url", Some(raw))?,
            None => before.default_url.clone(),
        };
        let fallback_url = match patch.fallback_url.as_deref() {
            Some(raw) => validate::optional_destination("fallback_url", Some(raw))?,
            None => before.fallback_url.clone(),
        };
        let starts_at = patch.starts_at.or(before.starts_at);
        let ends_at = patch.ends_at.or(before.ends_at);
        check_span(starts_at, ends_at)?;
        let after: Event = sqlx::query_as(concat!(
            "UPDATE events SET name = $2, timezone = $3, default_url = $4, fallback_url = $5, status = $6,
                    starts_at = $7, ends_at = $8, updated_at = now()
             WHERE id = $1 RETURNING ",
            event_columns!()
        ))
        .bind(id)
        .bind(&name)
        .bind(&timezone)
        .bind(&default_url)
        .bind(&fallback_url)
        .bind(patch.status.unwrap_or(before.status))
        .bind(starts_at)
        .bind(ends_at)
        .fetch_one(&mut *tx)
        .await
        .map_err(DomainError::from_db)?;
        let action = match (before.status, after.status) {
            (a, b) if a == b => "event.updated",
            (_, EventStatus::Frozen) => "event.frozen",
            (EventStatus::Frozen, _) => "event.unfrozen",
            _ => "event.status_changed",
        };
        self.audit(
            &mut tx,
            actor,
            Entry::new(action, "event", id, Some(after.org_id)).before(&before).after(&after),
        )
        .await?;
        kv_sync::outbox::enqueue_event(&mut tx, id).await?;
        tx.commit().await?;
        Ok(after)
    }

    /// One event, if visible to the actor.
    pub async fn get_event(&self, actor: &Actor, id: Uuid) -> Result<Event, DomainError> {
        sqlx::query_as(concat!(
            "SELECT ",
            event_columns!(),
            " FROM events WHERE id = $1 AND deleted_at IS NULL AND ($2::uuid IS NULL OR org_id = $2)"
        ))
        .bind(id)
        .bind(actor.org_scope().filter())
        .fetch_optional(&self.db)
        .await?
        .ok_or(DomainError::NotFound)
    }

    /// Events visible to the actor, newest first.
    pub async fn list_events(
        &self,
        actor: &Actor,
        limit: i64,
        offset: i64,
    ) -> Result<Vec<Event>, DomainError> {
        Ok(sqlx::query_as(concat!(
            "SELECT ",
            event_columns!(),
            " FROM events WHERE deleted_at IS NULL AND ($1::uuid IS NULL OR org_id = $1)
             ORDER BY created_at DESC, id LIMIT $2 OFFSET $3"
        ))
        .bind(actor.org_scope().filter())
        .bind(limit.clamp(1, 500))
        .bind(offset.max(0))
        .fetch_all(&self.db)
        .await?)
    }

    /// The schedule of an event visible to the actor, in time order.
    pub async fn list_windows(&self, actor: &Actor, event_id: Uuid) -> Result<Vec<EventWindow>, DomainError> {
        self.get_event(actor, event_id).await?;
        Ok(windows(&self.db, event_id).await?)
    }

    /// Adds a schedule window (the database refuses overlaps).
    pub async fn add_window(
        &self,
        actor: &Actor,
        event_id: Uuid,
        input: NewWindow,
    ) -> Result<EventWindow, DomainError> {
        let label = validate::optional_text("label", &input.label, 100)?;
        let url = validate::destination("url", &input.url)?;
        // The edge compares whole seconds; storing whole seconds keeps both sides identical.
        let (starts_at, ends_at) = (input.starts_at.trunc_subsecs(0), input.ends_at.trunc_subsecs(0));
        if ends_at <= starts_at {
            return Err(DomainError::invalid("ends_at", "must be after the start"));
        }
        let mut tx = self.begin().await?;
        let event = lock_event(&mut tx, actor, event_id).await?;
        let window: EventWindow = sqlx::query_as(concat!("INSERT INTO event_windows (id, event_id, label, url, starts_at, ends_at) VALUES ($1, $2, $3, $4, $5, $6)
             RETURNING ", window_columns!()))
        .bind(Uuid::now_v7())
        .bind(event_id)
        .bind(&label)
        .bind(&url)
        .bind(starts_at)
        .bind(ends_at)
        .fetch_one(&mut *tx)
        .await
        .map_err(DomainError::from_db)?;
        sqlx::query("UPDATE events SET updated_at = now() WHERE id = $1")
            .bind(event_id)
            .execute(&mut *tx)
            .await?;
        self.audit(
            &mut tx,
            actor,
            Entry::new("event.window_added", "event", event_id, Some(event.org_id)).after(&window),
        )
        .await?;
        kv_sync::outbox::enqueue_event(&mut tx, event_id).await?;
        tx.commit().await?;
        Ok(window)
    }

    /// Removes a schedule window.
    pub async fn remove_window(
        &self,
        actor: &Actor,
        event_id: Uuid,
        window_id: Uuid,
    ) -> Result<(), DomainError> {
        let mut tx = self.begin().await?;
        let event = lock_event(&mut tx, actor, event_id).await?;
        let removed: Option<EventWindow> = sqlx::query_as(concat!(
            "DELETE FROM event_windows WHERE id = $1 AND event_id = $2 RETURNING ",
            window_columns!()
        ))
        .bind(window_id)
        .bind(event_id)
        .fetch_optional(&mut *tx)
        .await?;
        let removed = removed.ok_or(DomainError::NotFound)?;
        sqlx::query("UPDATE events SET updated_at = now() WHERE id = $1")
            .bind(event_id)
            .execute(&mut *tx)
            .await?;
        self.audit(
            &mut tx,
            actor,
            Entry::new("event.window_removed", "event", event_id, Some(event.org_id)).before(&removed),
        )
        .await?;
        kv_sync::outbox::enqueue_event(&mut tx, event_id).await?;
        tx.commit().await?;
        Ok(())
    }
}

/// Locks an event row the actor may manage, for the rest of the transaction.
pub(crate) async fn lock_event(
    conn: &mut PgConnection,
    actor: &Actor,
    id: Uuid,
) -> Result<Event, DomainError> {
    sqlx::query_as(concat!(
        "SELECT ",
        event_columns!(),
        " FROM events WHERE id = $1 AND deleted_at IS NULL AND ($2::uuid IS NULL OR org_id = $2) FOR UPDATE"
    ))
    .bind(id)
    .bind(actor.org_scope().filter())
    .fetch_optional(&mut *conn)
    .await?
    .ok_or(DomainError::NotFound)
}

/// An event's windows in time order.
pub(crate) async fn windows<'c, E: sqlx::PgExecutor<'c>>(
    db: E,
    event_id: Uuid,
) -> Result<Vec<EventWindow>, sqlx::Error> {
    sqlx::query_as(concat!(
        "SELECT ",
        window_columns!(),
        " FROM event_windows WHERE event_id = $1 ORDER BY starts_at"
    ))
    .bind(event_id)
    .fetch_all(db)
    .await
}

/// Loads an event by id regardless of actor (for KV sync and the edge's read-through).
pub(crate) async fn load<'c, E: sqlx::PgExecutor<'c>>(db: E, id: Uuid) -> Result<Option<Event>, sqlx::Error> {
    sqlx::query_as(concat!("SELECT ", event_columns!(), " FROM events WHERE id = $1 AND deleted_at IS NULL"))
        .bind(id)
        .fetch_optional(db)
        .await
}
