//! Database connection and migrations (embedded in the binary).

use std::time::Duration;

use sqlx::PgPool;
use sqlx::migrate::Migrator;
use sqlx::postgres::PgPoolOptions;

use crate::config::Config;

/// The schema migrations, compiled in from `migrations/`.
pub static MIGRATOR: Migrator = sqlx::migrate!("../migrations");

/// Connects a pool.
pub async fn connect(config: &Config) -> Result<PgPool, sqlx::Error> {
    PgPoolOptions::new()
        .max_connections(config.database_max_connections)
        .acquire_timeout(Duration::from_secs(10))
        .connect(config.database_url())
        .await
}

/// Creates the database named in `DATABASE_URL` if it does not exist yet
/// (first run on a developer machine).
pub async fn create_if_missing(config: &Config) -> Result<(), sqlx::Error> {
    use sqlx::migrate::MigrateDatabase;
    if !sqlx::Postgres::database_exists(config.database_url()).await? {
        sqlx::Postgres::create_database(config.database_url()).await?;
    }
    Ok(())
}

/// Applies pending migrations (idempotent).
pub async fn migrate(db: &PgPool) -> Result<(), sqlx::migrate::MigrateError> {
    MIGRATOR.run(db).await
}

/// Why the service is not ready to take traffic.
#[derive(Debug, thiserror::Error)]
pub enum NotReady {
    /// Postgres does not answer.
    #[error("database unreachable")]
    Database(#[from] sqlx::Error),
    /// The schema is behind (or ahead of) this binary.
    #[error("schema at migration {applied:?}, this binary expects {expected:?}")]
    Migrations {
        /// Latest applied migration version.
        applied: Option<i64>,
        /// Latest migration compiled in.
        expected: Option<i64>,
    },
}

/// Checks the database answers and carries exactly this binary's migrations.
pub async fn check_ready(db: &PgPool) -> Result<(), NotReady> {
    let applied: Option<i64> =
        sqlx::query_scalar("SELECT max(version) FROM _sqlx_migrations WHERE success").fetch_one(db).await?;
    let expected = MIGRATOR.iter().map(|m| m.version).max();
    if applied != expected {
        return Err(NotReady::Migrations { applied, expected });
    }
    Ok(())
}
