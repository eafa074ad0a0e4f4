//! Clearing state nobody needs any more, in bounded batches so no statement
//! holds locks for long: used or expired password-reset tokens, ended
//! sessions (expired, idle, revoked, abandoned MFA-pending), TOTP enrolments
//! abandoned unconfirmed, delivered KV outbox rows after a week, old replay nonces.

use chrono::{DateTime, Utc};
use sqlx::PgPool;

use crate::auth::session::IDLE_MINUTES;

/// One cleanup: a table and which of its rows go, given `$1` = a cutoff time.
struct Rule {
    /// Count name in the run's report.
    step: &'static str,
    /// Table.
    table: &'static str,
    /// Condition on the row, `$1` being `cutoff(as_of)`.
    condition: &'static str,
    /// The cutoff for this rule.
    cutoff: fn(DateTime<Utc>) -> DateTime<Utc>,
}

const RULES: &[Rule] = &[
    Rule {
        // Not "password_…" or "…token…": the audit log redacts keys that look like secrets.
        step: "reset_requests_deleted",
        table: "password_resets",
        condition: "expires_at < $1 OR used_at IS NOT NULL OR voided_at IS NOT NULL",
        cutoff: |t| t,
    },
    Rule {
        step: "sessions_deleted",
        // Signed-in sessions that ended (expired, revoked, idle) at least a day ago.
        table: "sessions",
        condition: "stage = 'full' AND (expires_at < $1 OR revoked_at < $1 OR last_seen_at < $1 - make_interval(mins => IDLE))",
        cutoff: |t| t - chrono::Duration::days(1),
    },
    Rule {
        // Disjoint from the rule above, so a dry run counts each session once.
        step: "mfa_pending_deleted",
        table: "sessions",
        condition: "stage = 'mfa_pending' AND created_at < $1",
        cutoff: |t| t - chrono::Duration::minutes(5),
    },
    Rule {
        step: "kv_outbox_deleted",
        table: "kv_outbox",
        condition: "done_at < $1",
        cutoff: |t| t - chrono::Duration::days(7),
    },
    Rule {
        // An enrolment never confirmed with a code: its encrypted secret was
        // never trusted and is kept no longer than needed (starting again makes a new one).
        step: "mfa_enrolments_deleted",
        table: "mfa_totp",
        condition: "confirmed_at IS NULL AND created_at < $1",
        cutoff: |t| t - chrono::Duration::days(1),
    },
    Rule {
        step: "nonces_deleted",
        table: "signed_nonces",
        condition: "seen_at < $1",
        cutoff: |t| t - chrono::Duration::minutes(15),
    },
];

/// Runs every cleanup rule for `as_of`; returns the rows deleted (or, dry, due) per rule.
pub async fn run(
    db: &PgPool,
    as_of: DateTime<Utc>,
    batch: i64,
    dry_run: bool,
) -> Result<Vec<(&'static str, i64)>, sqlx::Error> {
    let mut counts = Vec::with_capacity(RULES.len());
    for rule in RULES {
        let condition = rule.condition.replace("IDLE", &IDLE_MINUTES.to_string());
        let cutoff = (rule.cutoff)(as_of);
        let n = if dry_run {
            sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
                "SELECT count(*) FROM {} WHERE {condition}",
                rule.table
            )))
            .bind(cutoff)
            .fetch_one(db)
            .await?
        } else {
            delete_in_batches(db, rule.table, &condition, cutoff, batch).await?
        };
        counts.push((rule.step, n));
    }
    Ok(counts)
}

/// Deletes the rows of `table` matching `condition` (`$1` = `cutoff`), `batch` rows per statement.
///
/// `table` and `condition` are constants of this crate, never user input.
pub async fn delete_in_batches(
    db: &PgPool,
    table: &str,
    condition: &str,
    cutoff: DateTime<Utc>,
    batch: i64,
) -> Result<i64, sqlx::Error> {
    let sql = format!(
        "DELETE FROM {table} WHERE ctid = ANY(ARRAY(SELECT ctid FROM {table} WHERE {condition} LIMIT $2))"
    );
    let mut total = 0i64;
    loop {
        let done = sqlx::query(sqlx::AssertSqlSafe(sql.clone()))
            .bind(cutoff)
            .bind(batch.max(1))
            .execute(db)
            .await?
            .rows_affected();
        total += done as i64;
        if (done as i64) < batch.max(1) {
            return Ok(total);
        }
    }
}
