//! Audit rows leave the database only when they are older than the audit
//! retention (never under 13 months) *and* an export covers them; the
//! database's own trigger checks both again. Rows go from the start of the
//! chain, in batches, each batch moving the chain anchor in its transaction
//! so `audit verify` always has a start to walk from.

use chrono::{DateTime, Months, Utc};
use sqlx::PgPool;

use super::Policy;

/// Purges exported audit rows past retention; returns how many went (or, dry, would go).
pub async fn run(
    db: &PgPool,
    as_of: DateTime<Utc>,
    policy: Policy,
    dry_run: bool,
) -> Result<i64, sqlx::Error> {
    let months = policy.audit_months.max(super::MIN_AUDIT_MONTHS);
    // Never later than the database's own clock: its trigger decides with now().
    let db_now: DateTime<Utc> = sqlx::query_scalar("SELECT now()").fetch_one(db).await?;
    let Some(cutoff) = as_of.min(db_now).checked_sub_months(Months::new(months)) else { return Ok(0) };
    let exported: i64 =
        sqlx::query_scalar("SELECT coalesce(max(through_seq), 0) FROM audit_exports").fetch_one(db).await?;
    let anchor: i64 =
        sqlx::query_scalar("SELECT coalesce((SELECT seq FROM audit_chain_anchor), 0)").fetch_one(db).await?;
    // The chain is purged as a prefix: up to the row before the first one that must stay.
    let first_kept: Option<i64> =
        sqlx::query_scalar("SELECT min(seq) FROM audit_log WHERE seq > $1 AND NOT (at < $2 AND seq <= $3)")
            .bind(anchor)
            .bind(cutoff)
            .bind(exported)
            .fetch_one(db)
            .await?;
    let last: Option<i64> = match first_kept {
        Some(kept) => Some(kept - 1),
        None => sqlx::query_scalar("SELECT max(seq) FROM audit_log").fetch_one(db).await?,
    };
    let through = last.unwrap_or(anchor).min(exported);
    if through <= anchor {
        return Ok(0);
    }
    if dry_run {
        return Ok(through - anchor);
    }
    let mut purged = 0;
    let mut from = anchor;
    while from < through {
        let upto = (from + policy.batch.max(1)).min(through);
        let mut tx = db.begin().await?;
        sqlx::query("SELECT set_config('sparkmotion.audit_purge', 'on', true)").execute(&mut *tx).await?;
        let hash: Vec<u8> = sqlx::query_scalar("SELECT hash FROM audit_log WHERE seq = $1")
            .bind(upto)
            .fetch_one(&mut *tx)
            .await?;
        let deleted = sqlx::query("DELETE FROM audit_log WHERE seq > $1 AND seq <= $2")
            .bind(from)
            .bind(upto)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        sqlx::query(
            "INSERT INTO audit_chain_anchor (seq, hash, moved_at) VALUES ($1, $2, now())
             ON CONFLICT (singleton) DO UPDATE SET seq = EXCLUDED.seq, hash = EXCLUDED.hash, moved_at = EXCLUDED.moved_at",
        )
        .bind(upto)
        .bind(&hash)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        purged += deleted as i64;
        from = upto;
    }
    tracing::info!(event = "audit_rows_purged", through, purged, "exported audit rows past retention purged");
    Ok(purged)
}
