//! One Postgres database per test, cloned from a migrated template so a
//! test starts in milliseconds and tests run in parallel without sharing.
//!
//! The server is `TEST_PG_URL` (default `postgres://postgres@127.0.0.1:5432`).

use std::time::Duration;

use sqlx::postgres::PgPoolOptions;
use sqlx::{Connection, Executor, PgConnection, PgPool};

/// Base URL of the test server (no database name).
pub fn server_url() -> String {
    std::env::var("TEST_PG_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".into())
        .trim_end_matches('/')
        .to_string()
}

async fn admin() -> PgConnection {
    let url = format!("{}/postgres", server_url());
    PgConnection::connect(&url).await.unwrap_or_else(|e| {
        panic!("cannot reach Postgres at {url}: {e}\nStart one (e.g. `pg_ctlcluster 15 main start`) or set TEST_PG_URL.")
    })
}

/// The template's name: changes whenever a migration changes.
fn template_name() -> String {
    let mut digest = 0u64;
    for m in origin_api::db::MIGRATOR.iter() {
        for b in m.checksum.iter().copied().chain(m.version.to_le_bytes()) {
            digest = digest.rotate_left(5) ^ u64::from(b);
            digest = digest.wrapping_mul(0x100_0000_01b3);
        }
    }
    format!("sm_template_{digest:016x}")
}

async fn ensure_template(admin: &mut PgConnection) -> String {
    let name = template_name();
    // Serialise template creation across parallel test processes.
    admin.execute("SELECT pg_advisory_lock(7300201)").await.expect("lock");
    let exists: bool = sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)")
        .bind(&name)
        .fetch_one(&mut *admin)
        .await
        .expect("query");
    if !exists {
        let building = format!("{name}_building");
        admin
            .execute(sqlx::AssertSqlSafe(format!("DROP DATABASE IF EXISTS {building}")))
            .await
            .expect("drop");
        admin
            .execute(sqlx::AssertSqlSafe(format!("CREATE DATABASE {building}")))
            .await
            .expect("create template");
        let url = format!("{}/{building}", server_url());
        let pool = PgPoolOptions::new().max_connections(1).connect(&url).await.expect("connect template");
        origin_api::db::migrate(&pool).await.expect("migrate template");
        pool.close().await;
        admin
            .execute(sqlx::AssertSqlSafe(format!("ALTER DATABASE {building} RENAME TO {name}")))
            .await
            .expect("rename");
    }
    admin.execute("SELECT pg_advisory_unlock(7300201)").await.expect("unlock");
    name
}

/// A database of its own for one test; dropped afterwards.
pub struct TestDb {
    /// Database name.
    pub name: String,
    /// Connection URL.
    pub url: String,
    /// A pool on it.
    pub pool: PgPool,
}

impl TestDb {
    /// A fresh, migrated database.
    pub async fn new() -> TestDb {
        let mut admin = admin().await;
        let template = ensure_template(&mut admin).await;
        let name = format!("sm_test_{}", uuid::Uuid::new_v4().simple());
        admin
            .execute(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name} TEMPLATE {template}")))
            .await
            .expect("create test database");
        let url = format!("{}/{name}", server_url());
        let pool = PgPoolOptions::new()
            .max_connections(8)
            .acquire_timeout(Duration::from_secs(20))
            .connect(&url)
            .await
            .expect("connect test database");
        TestDb { name, url, pool }
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let name = self.name.clone();
        // Drop runs outside async context; use a short-lived runtime on a thread.
        // No `pool.close()`: tasks of the test's runtime may still hold connections,
        // and that runtime is blocked here. `WITH (FORCE)` ends them instead.
        let _ = std::thread::spawn(move || {
            let Ok(rt) = tokio::runtime::Builder::new_current_thread().enable_all().build() else { return };
            rt.block_on(async move {
                let mut admin = admin().await;
                let _ = admin
                    .execute(sqlx::AssertSqlSafe(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")))
                    .await;
            });
        })
        .join();
    }
}
