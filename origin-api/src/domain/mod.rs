//! Domain services: organisations, events and their windows, bands.
//!
//! Every mutation takes an [`actor::Actor`], checks what it may touch, and
//! writes its audit row and its KV-sync outbox rows in the same transaction
//! as the change itself.

pub mod actor;
pub mod bands;
pub mod error;
pub mod events;
pub mod orgs;
pub mod trash;
pub mod users;
pub mod validate;

use std::sync::Arc;

use chrono::{DateTime, Utc};
use shared::Keyring;
use sqlx::{PgConnection, PgPool, Postgres, Transaction};

use crate::audit;
use crate::clock::Clock;
use actor::Actor;
pub use error::DomainError;

/// Handle to the domain services (cheap to clone).
#[derive(Clone)]
pub struct Domain {
    /// The database.
    pub db: PgPool,
    audit_keys: Keyring,
    clock: Arc<dyn Clock>,
}

impl Domain {
    /// Builds the services.
    pub fn new(db: PgPool, audit_keys: Keyring, clock: Arc<dyn Clock>) -> Self {
        Self { db, audit_keys, clock }
    }

    /// The current time (from the injected clock).
    pub fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    /// The audit keys (for `audit verify`).
    pub fn audit_keys(&self) -> &Keyring {
        &self.audit_keys
    }

    /// The injected clock (for jobs that record their own times).
    pub fn clock(&self) -> &dyn Clock {
        self.clock.as_ref()
    }

    /// Starts a transaction.
    pub async fn begin(&self) -> Result<Transaction<'static, Postgres>, DomainError> {
        Ok(self.db.begin().await?)
    }

    /// Appends an audit row inside `conn`'s transaction.
    pub async fn audit(
        &self,
        conn: &mut PgConnection,
        actor: &Actor,
        entry: audit::Entry,
    ) -> Result<(), DomainError> {
        audit::record(conn, &self.audit_keys, self.clock.as_ref(), actor, entry).await?;
        Ok(())
    }
}
