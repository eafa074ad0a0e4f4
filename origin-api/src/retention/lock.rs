//! One retention run at a time across every replica: a session-level
//! Postgres advisory lock on a connection taken out of the pool, so that if
//! the process dies the connection closes and the lock goes with it.

use sqlx::{Connection, PgConnection, PgPool};

/// Advisory lock key of the retention job (`'retn'`).
const LOCK_KEY: i64 = 0x7265_746e;

/// Proof that this process holds the retention lock.
pub struct Guard {
    conn: PgConnection,
}

/// Takes the lock if nobody holds it.
pub async fn try_acquire(db: &PgPool) -> Result<Option<Guard>, sqlx::Error> {
    // Detached: a pooled connection would keep the lock after being returned.
    let mut conn = db.acquire().await?.detach();
    let held: bool =
        sqlx::query_scalar("SELECT pg_try_advisory_lock($1)").bind(LOCK_KEY).fetch_one(&mut conn).await?;
    Ok(held.then_some(Guard { conn }))
}

impl Guard {
    /// Releases the lock and closes its connection.
    pub async fn release(mut self) -> Result<(), sqlx::Error> {
        sqlx::query("SELECT pg_advisory_unlock($1)").bind(LOCK_KEY).execute(&mut self.conn).await?;
        self.conn.close().await
    }
}
